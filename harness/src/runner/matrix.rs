//! Many scenarios on many stacks: one stack per (target, variant), started once and shared by every
//! scenario that needs it (each in its own room, run concurrently), then each timeline compared with its
//! golden snapshot. A stack per (target, variant) rather than per scenario keeps a full matrix within a
//! few stack starts; every version of a family shares one golden timeline (see `snapshot`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::outcome::{DifferingRun, Outcome, ScenarioResult, UnmetExpectation, Verdict};
use super::{run_scenario, Reporter, RunEvent, RunOptions};
use crate::scenario::Scenario;
use crate::snapshot::{self, Comparison};
use crate::stack::{Stack, StackTarget, StartOptions, Variants};
use crate::timeline::Timeline;

/// What to run.
#[derive(Clone)]
pub struct MatrixOptions {
    /// The stacks to run on (local Docker images, remote deployments).
    pub targets: Vec<StackTarget>,
    /// The scenarios to run.
    pub scenarios: Vec<Scenario>,
    /// The stack variants the scenarios may name.
    pub variants: Variants,
    /// Root of the golden snapshots (`snapshots/`).
    pub snapshots: PathBuf,
    /// This run's artifacts folder.
    pub artifacts: PathBuf,
    /// Leave the stacks running after the run (`--keep`).
    pub keep: bool,
    /// Keep each scenario's last participants connected until the run is cancelled (`--hold`).
    pub hold: bool,
    /// How long a stack may take to answer.
    pub startup_timeout: Duration,
    /// How long the room must stay unchanged before a step counts as settled.
    pub settle: Duration,
    /// Write changed/new timelines as the golden snapshots.
    pub accept: bool,
    /// Write `.snap.new` files for review (insta does not in CI).
    pub write_pending: bool,
    /// How many stacks run at once.
    pub parallel_stacks: usize,
    /// `jitsi:` stacks: registry prefix of the images (`--registry`).
    pub registry: Option<String>,
    /// How many times each scenario runs (`--repeat`); differing runs make it [`Verdict::Flaky`].
    pub repeat: usize,
    /// Cancelled on a signal: the run stops and closes its stacks.
    pub cancel: CancellationToken,
    /// Who hears of the run's progress.
    pub reporter: Option<Reporter>,
}

impl std::fmt::Debug for MatrixOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatrixOptions")
            .field("targets", &self.targets)
            .field("scenarios", &self.scenarios.len())
            .field("snapshots", &self.snapshots)
            .field("artifacts", &self.artifacts)
            .field("keep", &self.keep)
            .field("startup_timeout", &self.startup_timeout)
            .field("settle", &self.settle)
            .field("accept", &self.accept)
            .field("write_pending", &self.write_pending)
            .field("parallel_stacks", &self.parallel_stacks)
            .field("registry", &self.registry)
            .field("repeat", &self.repeat)
            .field("reporter", &self.reporter.is_some())
            .finish_non_exhaustive()
    }
}

fn dir_name(target: &StackTarget) -> String {
    target.to_string().replace([':', '/'], "-")
}

/// Runs every scenario on every target; returns one result per (scenario, variant, target), sorted.
pub async fn run_matrix(options: &MatrixOptions) -> Vec<ScenarioResult> {
    // A scenario that breaks a service (`restart`, `stop`, `pause`) gets a stack of its own: its fault
    // would otherwise break the scenarios that share the stack, and be reported as theirs.
    // A scenario with a fault step also gets a stack of its own for each repetition (a stopped focus
    // stays stopped); the other scenarios repeat one after the other on their shared stack.
    let repeat = options.repeat.max(1);
    let mut groups: BTreeMap<Group<'_>, Vec<&Scenario>> = BTreeMap::new();
    let mut results = Vec::new();
    for target in &options.targets {
        for scenario in &options.scenarios {
            let own = scenario
                .steps
                .iter()
                .any(|s| s.action.service().is_some())
                .then_some(scenario.name.as_str());
            for variant in &scenario.variants {
                // An external deployment is configured one way: the scenarios of the variants its file
                // does not declare are skipped with the reason, never started and failed. A feature the
                // scenario requires and the stack cannot provide: skipped too, before any stack starts.
                let reason =
                    external_skip(target, variant).or_else(|| {
                        options.variants.get(variant).ok().and_then(|v| {
                            crate::stack::features::lacks(target, v, &scenario.requires)
                        })
                    });
                if let Some(reason) = reason {
                    let result = skipped(options, scenario, variant, target, reason);
                    report(options, RunEvent::ScenarioFinished { result: &result });
                    results.push(result);
                    continue;
                }
                let repetitions = if own.is_some() { repeat } else { 1 };
                for repetition in 0..repetitions {
                    groups
                        .entry(Group {
                            target: target.clone(),
                            variant: variant.clone(),
                            own,
                            repetition,
                        })
                        .or_default()
                        .push(scenario);
                }
            }
        }
    }
    let runs = groups.into_iter().map(|(group, scenarios)| {
        // Runs on this stack: every repetition, unless each has a stack of its own.
        let here = if group.own.is_some() { 1 } else { repeat };
        run_group(options, group, here, scenarios)
    });
    let mut parts: BTreeMap<(String, String, StackTarget), Vec<Ran>> = BTreeMap::new();
    let mut groups = futures::stream::iter(runs).buffer_unordered(options.parallel_stacks.max(1));
    while let Some(cells) = groups.next().await {
        for ran in cells {
            let key = (
                ran.scenario.name.clone(),
                ran.variant.clone(),
                ran.target.clone(),
            );
            let part = parts.entry(key.clone()).or_default();
            part.push(ran);
            if part.len() >= repeat {
                let mut all = parts.remove(&key).unwrap_or_default();
                all.sort_by_key(|r| r.repetition);
                let mut runs = all.into_iter();
                if let Some(first) = runs.next() {
                    let result = combine(options, first, runs.collect());
                    report(options, RunEvent::ScenarioFinished { result: &result });
                    results.push(result);
                }
            }
        }
    }
    results.sort_by(|a, b| {
        (&a.scenario, &a.variant, &a.target).cmp(&(&b.scenario, &b.variant, &b.target))
    });
    results
}

/// One stack's worth of work: a (target, variant), and for a scenario with a fault step, that scenario
/// and one repetition of it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Group<'a> {
    target: StackTarget,
    variant: String,
    own: Option<&'a str>,
    repetition: usize,
}

/// One run of one scenario, not judged yet.
struct Ran<'a> {
    scenario: &'a Scenario,
    variant: String,
    target: StackTarget,
    /// 0-based.
    repetition: usize,
    artifacts: PathBuf,
    run: Result<Timeline, Failure>,
    took: Duration,
}

/// Why a run did not reach its end, as its result reports it.
struct Failure {
    error: String,
    /// The infrastructure failed rather than Jitsi (not an interruption).
    infrastructure: bool,
}

/// What a run observed, for comparing repetitions: the snapshot body and the unmet expectations, or
/// the failure's first line.
fn fingerprint(scenario: &Scenario, run: &Result<Timeline, Failure>) -> String {
    match run {
        Ok(timeline) => {
            let mut text = snapshot::render(timeline, scenario);
            for unmet in UnmetExpectation::of(timeline) {
                text.push_str(&format!("unmet: {unmet}\n"));
            }
            text
        }
        Err(e) => format!("failed: {}\n", e.error.lines().next().unwrap_or_default()),
    }
}

/// Judges the repetitions of one scenario: when they all observed the same, the first is judged as
/// usual; otherwise the scenario is flaky, with the differing runs, and no snapshot is written.
fn combine<'a>(options: &MatrixOptions, first: Ran<'a>, rest: Vec<Ran<'a>>) -> ScenarioResult {
    let repeat = rest.len() + 1;
    let took = first.took + rest.iter().map(|r| r.took).sum::<Duration>();
    let runs = rest.into_iter();
    let reference = fingerprint(first.scenario, &first.run);
    let differing: Vec<DifferingRun> = runs
        .enumerate()
        .filter_map(|(i, ran)| {
            let other = fingerprint(ran.scenario, &ran.run);
            (other != reference).then(|| DifferingRun {
                run: i + 2,
                diff: snapshot::diff_lines(&reference, &other),
            })
        })
        .collect();
    let write = differing.is_empty();
    let mut result = judge(
        options,
        first.scenario,
        &first.variant,
        &first.target,
        &first.artifacts,
        first.run,
        write,
    );
    if !write {
        result.outcome = Outcome::Flaky { repeat, differing };
    }
    result.took = took;
    result
}

/// What `--keep-stack` prints for each scenario: its room on the kept stack, where to reach it, and the
/// command that mints a token for it (the token itself is printed only by that command).
fn kept_room_line(stack: &Stack, variant: &str, scenario: &str, room: &str) -> String {
    let endpoints = stack.endpoints();
    let websocket = crate::redact::redact_url(&format!("{}?room={room}", endpoints.websocket));
    let web = endpoints
        .web
        .as_ref()
        .map(|w| format!("{}/{room}", w.trim_end_matches('/')))
        .unwrap_or_else(|| "(no web page)".into());
    format!(
        "kept {scenario} ({variant}) on {}: room {room}; WebSocket {websocket}; web {web}; a token: jitsi-harness token --stack {} --variant {variant} --room {room} --name NAME [--moderator]",
        stack.target(),
        stack.target()
    )
}

/// The result of a scenario a stack cannot run for want of a feature it `requires`.
fn skipped(
    options: &MatrixOptions,
    scenario: &Scenario,
    variant: &str,
    target: &StackTarget,
    reason: String,
) -> ScenarioResult {
    let snapshot = snapshot::path(&options.snapshots, target.family, &scenario.name, variant)
        .unwrap_or_else(|_| options.snapshots.clone());
    ScenarioResult {
        scenario: scenario.name.clone(),
        path: scenario.path.clone(),
        variant: variant.to_owned(),
        target: target.clone(),
        outcome: Outcome::Skipped { reason },
        timeline: None,
        body: None,
        snapshot,
        written: None,
        withheld: false,
        artifacts: options.artifacts.clone(),
        took: Duration::ZERO,
    }
}

fn report(options: &MatrixOptions, event: RunEvent<'_>) {
    if let Some(r) = &options.reporter {
        r(&event);
    }
}

async fn run_group<'a>(
    options: &MatrixOptions,
    group: Group<'a>,
    repeat: usize,
    scenarios: Vec<&'a Scenario>,
) -> Vec<Ran<'a>> {
    let Group {
        target,
        variant: variant_name,
        own,
        repetition,
    } = group;
    // A scenario's own stack keeps its container logs apart from the shared one's. Every name was
    // checked where it was read; `paths::join` is the last guard against leaving the artifacts root.
    let stack_name = match (own, repetition) {
        (Some(scenario), 0) => format!("{variant_name}@{scenario}"),
        (Some(scenario), n) => format!("{variant_name}@{scenario}-run{}", n + 1),
        (None, _) => variant_name.clone(),
    };
    let (stack_dir, bad_path) =
        match crate::paths::join(&options.artifacts, &[&dir_name(&target), &stack_name]) {
            Ok(dir) => (dir, None),
            Err(e) => (options.artifacts.clone(), Some(e.to_string())),
        };
    let failed_all = |error: String, infrastructure: bool| -> Vec<Ran<'a>> {
        scenarios
            .iter()
            .flat_map(|s| {
                let (error, target, variant, stack_dir) =
                    (&error, &target, &variant_name, &stack_dir);
                (0..repeat).map(move |k| Ran {
                    scenario: s,
                    variant: variant.clone(),
                    target: target.clone(),
                    repetition: repetition + k,
                    artifacts: stack_dir.clone(),
                    run: Err(Failure {
                        error: error.clone(),
                        infrastructure,
                    }),
                    took: Duration::ZERO,
                })
            })
            .collect()
    };
    if let Some(error) = bad_path {
        return failed_all(error, false);
    }
    if options.cancel.is_cancelled() {
        return failed_all("interrupted before its stack started".into(), false);
    }
    let variant = match options.variants.get(&variant_name) {
        Ok(v) => v.clone(),
        Err(e) => return failed_all(e.to_string(), false),
    };
    report(
        options,
        RunEvent::StackStarting {
            target: &target,
            variant: &variant_name,
        },
    );
    let mut start = StartOptions::new(&stack_dir);
    start.startup_timeout = options.startup_timeout;
    start.keep = options.keep;
    start.registry = options.registry.clone();
    if let Some(r) = options.reporter.clone() {
        start.progress = Some(std::sync::Arc::new(move |line: &str| {
            r(&RunEvent::StackProgress { line })
        }));
    }
    let t0 = Instant::now();
    // Not raced against the cancellation: a container start interrupted half-way would have no owner to
    // remove it. The start is bounded by its own deadline; the binary's final sweep and the second
    // Ctrl-C remove whatever carries this run's labels.
    let stack = Stack::start(&target, &variant, &start).await;
    if options.cancel.is_cancelled() {
        if let Ok(stack) = stack {
            if let Err(e) = stack.close().await {
                tracing::warn!("closing {target} {variant_name}: {e}");
            }
        }
        return failed_all("interrupted while its stack started".into(), false);
    }
    let stack = match stack {
        Ok(s) => s,
        Err(e) => {
            let error = e.to_string();
            report(
                options,
                RunEvent::StackFailed {
                    target: &target,
                    variant: &variant_name,
                    error: &error,
                },
            );
            return failed_all(
                format!("{error}\n(stack logs in {})", stack_dir.display()),
                true,
            );
        }
    };
    report(
        options,
        RunEvent::StackReady {
            target: &target,
            variant: &variant_name,
            took: t0.elapsed(),
        },
    );
    let runs = scenarios.iter().map(|scenario| {
        let stack = &stack;
        let variant = &variant;
        let stack_dir = &stack_dir;
        async move {
            let mut ran = Vec::new();
            // Repetitions on a shared stack run one after the other, each in a room of its own.
            for k in 0..repeat {
                report(
                    options,
                    RunEvent::ScenarioStarted {
                        scenario: &scenario.name,
                        variant: &variant.name,
                        target: stack.target(),
                    },
                );
                let name = match k {
                    0 => scenario.name.clone(),
                    k => format!("{}-run{}", scenario.name, k + 1),
                };
                let (artifacts, bad_path) = match crate::paths::join(stack_dir, &[&name]) {
                    Ok(dir) => (dir, None),
                    Err(e) => (stack_dir.clone(), Some(e.to_string())),
                };
                if let Some(error) = bad_path {
                    ran.push(Ran {
                        scenario,
                        variant: variant.name.clone(),
                        target: stack.target().clone(),
                        repetition: repetition + k,
                        artifacts,
                        run: Err(Failure {
                            error,
                            infrastructure: false,
                        }),
                        took: Duration::ZERO,
                    });
                    continue;
                }
                let mut run = RunOptions::new(&artifacts);
                run.settle = options.settle;
                run.hold = options.hold;
                run.cancel = options.cancel.clone();
                run.reporter = options.reporter.clone();
                let t0 = Instant::now();
                let result = run_scenario(scenario, variant, stack, &run).await;
                if options.keep {
                    if let Ok(timeline) = &result {
                        let line =
                            kept_room_line(stack, &variant.name, &scenario.name, &timeline.room);
                        report(options, RunEvent::StackProgress { line: &line });
                    }
                }
                ran.push(Ran {
                    scenario,
                    variant: variant.name.clone(),
                    target: stack.target().clone(),
                    repetition: repetition + k,
                    artifacts,
                    run: result.map_err(|e| Failure {
                        error: e.to_string(),
                        infrastructure: e.is_infrastructure(),
                    }),
                    took: t0.elapsed(),
                });
            }
            ran
        }
    });
    let results = futures::future::join_all(runs).await;
    if let Err(e) = stack.close().await {
        tracing::warn!("closing {target} {variant_name}: {e}");
    }
    results.into_iter().flatten().collect()
}

/// Why `variant` is not run on `target`: an `external:` deployment whose file does not declare it.
fn external_skip(target: &StackTarget, variant: &str) -> Option<String> {
    if target.family != crate::stack::Family::External {
        return None;
    }
    crate::stack::external::skip_reason(target, variant)
}

/// Judges a run: a failure, else the snapshot comparison — unless an expectation was unmet, which fails
/// the scenario whatever the snapshot says. Writes the golden (`--accept`) or a pending snapshot for a
/// changed or new timeline, never for one with unmet expectations (the scenario file must change first).
fn judge(
    options: &MatrixOptions,
    scenario: &Scenario,
    variant: &str,
    target: &StackTarget,
    artifacts: &Path,
    run: Result<Timeline, Failure>,
    write: bool,
) -> ScenarioResult {
    let snapshot_path = snapshot::path(&options.snapshots, target.family, &scenario.name, variant);
    let (snapshot_path, bad_path) = match snapshot_path {
        Ok(p) => (p, None),
        Err(e) => (PathBuf::new(), Some(e.to_string())),
    };
    let run = match bad_path {
        Some(error) => Err(Failure {
            error,
            infrastructure: false,
        }),
        None => run,
    };
    let mut result = ScenarioResult {
        scenario: scenario.name.clone(),
        path: scenario.path.clone(),
        variant: variant.to_owned(),
        target: target.clone(),
        outcome: Outcome::Same,
        timeline: None,
        body: None,
        snapshot: snapshot_path.clone(),
        written: None,
        withheld: false,
        artifacts: artifacts.to_owned(),
        took: Duration::ZERO,
    };
    let timeline = match run {
        Ok(t) => t,
        Err(e) => {
            result.outcome = Outcome::Failed {
                error: e.error,
                infrastructure: e.infrastructure,
            };
            return result;
        }
    };
    let body = snapshot::render(&timeline, scenario);
    let expectations = UnmetExpectation::of(&timeline);
    let comparison = snapshot::compare(&snapshot_path, &body);
    let due = matches!(comparison, Ok(Comparison::Changed { .. } | Comparison::New));
    result.outcome = match comparison {
        Err(e) => Outcome::Failed {
            error: format!("cannot read {}: {e}", snapshot_path.display()),
            infrastructure: true,
        },
        Ok(comparison) if !expectations.is_empty() => Outcome::Unmet {
            expectations,
            diff: match comparison {
                Comparison::Changed { diff } => Some(diff),
                Comparison::Same | Comparison::New => None,
            },
        },
        Ok(Comparison::Same) => Outcome::Same,
        Ok(Comparison::Changed { diff }) => Outcome::Changed { diff },
        Ok(Comparison::New) => Outcome::New,
    };
    if write && due && (options.accept || options.write_pending) {
        if result.outcome.verdict() == Verdict::Unmet {
            result.withheld = true;
        } else {
            let written = if options.accept {
                snapshot::write_golden(&snapshot_path, &body, scenario)
                    .map(|()| snapshot_path.clone())
            } else {
                snapshot::write_pending(&snapshot_path, &body, scenario)
            };
            match written {
                Ok(p) => result.written = Some(p),
                Err(e) => tracing::warn!("writing the snapshot {}: {e}", snapshot_path.display()),
            }
        }
    }
    result.timeline = Some(timeline);
    result.body = Some(body);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::Variants;

    fn options() -> MatrixOptions {
        let variants = Variants::parse(
            Path::new("variants.toml"),
            "[jwt-auto-owner]\ndescription = \"\"\njwt = true\njicofo_auth = false\nauto_owner = true\n",
        )
        .unwrap();
        let scenario = crate::scenario::parse(
            Path::new("scenarios/x.toml"),
            "description = \"x\"\nvariants = [\"jwt-auto-owner\"]\n[participants]\nalice = {}\n[[step]]\njoin = [\"alice\"]\n",
            &variants,
        )
        .unwrap();
        MatrixOptions {
            targets: vec!["fixture:13".parse().unwrap()],
            scenarios: vec![scenario],
            variants,
            snapshots: "snapshots-that-do-not-exist".into(),
            artifacts: "artifacts".into(),
            keep: false,
            hold: false,
            startup_timeout: Duration::from_secs(1),
            settle: Duration::from_millis(1),
            accept: false,
            write_pending: false,
            parallel_stacks: 1,
            registry: None,
            repeat: 3,
            cancel: CancellationToken::new(),
            reporter: None,
        }
    }

    fn ran<'a>(options: &'a MatrixOptions, repetition: usize, error: &str) -> Ran<'a> {
        Ran {
            scenario: &options.scenarios[0],
            variant: "jwt-auto-owner".into(),
            target: options.targets[0].clone(),
            repetition,
            artifacts: "artifacts".into(),
            run: Err(Failure {
                error: error.into(),
                infrastructure: true,
            }),
            took: Duration::from_millis(10),
        }
    }

    /// A scenario that requires a feature the stack cannot provide is skipped with the stack's reason,
    /// before any stack starts (no Docker is asked), and never counted as same; the others run.
    #[tokio::test]
    async fn a_required_feature_the_stack_lacks_skips_the_scenario_with_the_reason() {
        let mut options = options();
        options.repeat = 1;
        options.targets = vec!["jitsi:stable-9364".parse().unwrap()];
        options.scenarios[0].requires = vec!["token_affiliation".into()];
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let tx = std::sync::Mutex::new(tx);
        options.reporter = Some(std::sync::Arc::new(move |e: &RunEvent<'_>| {
            let line = match e {
                RunEvent::StackStarting { .. } => "starting".to_owned(),
                RunEvent::ScenarioFinished { result } => result.verdict().as_str().to_owned(),
                _ => return,
            };
            if let Ok(tx) = tx.lock() {
                let _ = tx.send(line);
            }
        }));
        let results = run_matrix(&options).await;
        assert_eq!(results.len(), 1);
        let r = &results[0];
        assert_eq!(r.verdict(), Verdict::Skipped);
        let why = r.outcome.skip_reason().unwrap_or_default();
        assert!(
            why.contains("jitsi:stable-9364") && why.contains("token_affiliation"),
            "{why}"
        );
        assert!(r.timeline.is_none() && r.written.is_none());
        let events: Vec<String> = rx.try_iter().collect();
        assert_eq!(
            events,
            ["skipped"],
            "no stack may start for a skipped scenario"
        );
        // In the text matrix and its summary, and in the JSON, with the reason.
        let text = crate::report::text(&results, &options.targets);
        assert!(text.contains("skipped") && text.contains(why), "{text}");
        assert!(text.contains(", 1 skipped"), "{text}");
        let json = serde_json::to_value(crate::report::json(&results, &options.targets)).unwrap();
        assert_eq!(json["results"][0]["verdict"], "skipped");
        assert_eq!(json["results"][0]["skipped"], why);
    }

    #[test]
    fn repetitions_that_differ_are_flaky_with_the_differing_runs() {
        let options = options();
        let result = combine(
            &options,
            ran(&options, 0, "step 1: refused\ndetail"),
            vec![
                ran(&options, 1, "step 1: refused\nother detail"),
                ran(&options, 2, "step 1: timed out"),
            ],
        );
        assert_eq!(result.verdict(), Verdict::Flaky);
        let Outcome::Flaky { repeat, differing } = &result.outcome else {
            panic!("{:?}", result.outcome);
        };
        assert_eq!(*repeat, 3);
        assert_eq!(differing.len(), 1, "{differing:?}");
        assert_eq!(differing[0].run, 3);
        assert_eq!(
            differing[0].diff,
            "-failed: step 1: refused\n+failed: step 1: timed out\n"
        );
        assert_eq!(result.took, Duration::from_millis(30));
        // The same every time: judged as one run.
        let same = combine(
            &options,
            ran(&options, 0, "step 1: refused"),
            vec![ran(&options, 1, "step 1: refused")],
        );
        assert_eq!(same.verdict(), Verdict::Failed);
    }
}
