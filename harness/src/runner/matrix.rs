//! Many scenarios on many stacks: one stack per (target, variant), started once and shared by every
//! scenario that needs it (each in its own room, run concurrently), then each timeline compared with its
//! golden snapshot. A stack per (target, variant) rather than per scenario keeps a full matrix within a
//! few stack starts; every version of a family shares one golden timeline (see `snapshot`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::outcome::{Outcome, ScenarioResult, UnmetExpectation, Verdict};
use super::{run_scenario, Reporter, RunError, RunEvent, RunOptions};
use crate::scenario::Scenario;
use crate::snapshot::{self, Comparison};
use crate::stack::{Stack, StackTarget, StartOptions, Variants};
use crate::timeline::Timeline;

/// What to run.
#[derive(Clone)]
pub struct MatrixOptions {
    pub targets: Vec<StackTarget>,
    pub scenarios: Vec<Scenario>,
    pub variants: Variants,
    /// Root of the golden snapshots (`snapshots/`).
    pub snapshots: PathBuf,
    /// This run's artifacts folder.
    pub artifacts: PathBuf,
    pub keep: bool,
    pub startup_timeout: Duration,
    pub settle: Duration,
    /// Write changed/new timelines as the golden snapshots.
    pub accept: bool,
    /// Write `.snap.new` files for review (insta does not in CI).
    pub write_pending: bool,
    pub parallel_stacks: usize,
    pub cancel: CancellationToken,
    pub reporter: Option<Reporter>,
}

fn dir_name(target: &StackTarget) -> String {
    target.to_string().replace([':', '/'], "-")
}

/// Runs every scenario on every target; returns one result per (scenario, variant, target), sorted.
pub async fn run_matrix(options: &MatrixOptions) -> Vec<ScenarioResult> {
    // A scenario that breaks a service (`restart`, `stop`, `pause`) gets a stack of its own: its fault
    // would otherwise break the scenarios that share the stack, and be reported as theirs.
    let mut groups: BTreeMap<(StackTarget, String, Option<&str>), Vec<&Scenario>> =
        BTreeMap::new();
    for target in &options.targets {
        for scenario in &options.scenarios {
            let own = scenario
                .steps
                .iter()
                .any(|s| s.action.service().is_some())
                .then_some(scenario.name.as_str());
            for variant in &scenario.variants {
                groups
                    .entry((target.clone(), variant.clone(), own))
                    .or_default()
                    .push(scenario);
            }
        }
    }
    let runs = groups
        .into_iter()
        .map(|((target, variant, own), scenarios)| {
            run_group(options, target, variant, own, scenarios)
        });
    let mut results: Vec<ScenarioResult> = futures::stream::iter(runs)
        .buffer_unordered(options.parallel_stacks.max(1))
        .flat_map(futures::stream::iter)
        .collect()
        .await;
    results.sort_by(|a, b| {
        (&a.scenario, &a.variant, &a.target).cmp(&(&b.scenario, &b.variant, &b.target))
    });
    results
}

fn report(options: &MatrixOptions, event: RunEvent<'_>) {
    if let Some(r) = &options.reporter {
        r(&event);
    }
}

async fn run_group(
    options: &MatrixOptions,
    target: StackTarget,
    variant_name: String,
    own: Option<&str>,
    scenarios: Vec<&Scenario>,
) -> Vec<ScenarioResult> {
    // A scenario's own stack keeps its container logs apart from the shared one's.
    let stack_dir = options
        .artifacts
        .join(dir_name(&target))
        .join(match own {
            Some(scenario) => format!("{variant_name}@{scenario}"),
            None => variant_name.clone(),
        });
    let failed_all = |error: String, infrastructure: bool| -> Vec<ScenarioResult> {
        scenarios
            .iter()
            .map(|s| {
                failed(
                    options,
                    s,
                    &variant_name,
                    &target,
                    &stack_dir,
                    error.clone(),
                    infrastructure,
                )
            })
            .collect()
    };
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
            report(
                options,
                RunEvent::ScenarioStarted {
                    scenario: &scenario.name,
                    variant: &variant.name,
                    target: stack.target(),
                },
            );
            let artifacts = stack_dir.join(&scenario.name);
            let mut run = RunOptions::new(&artifacts);
            run.settle = options.settle;
            run.cancel = options.cancel.clone();
            run.reporter = options.reporter.clone();
            let t0 = Instant::now();
            let ran = run_scenario(scenario, variant, stack, &run).await;
            let mut result = judge(
                options,
                scenario,
                &variant.name,
                stack.target(),
                &artifacts,
                ran,
            );
            result.took = t0.elapsed();
            report(options, RunEvent::ScenarioFinished { result: &result });
            result
        }
    });
    let results = futures::future::join_all(runs).await;
    if let Err(e) = stack.close().await {
        tracing::warn!("closing {target} {variant_name}: {e}");
    }
    results
}

fn failed(
    options: &MatrixOptions,
    scenario: &Scenario,
    variant: &str,
    target: &StackTarget,
    artifacts: &Path,
    error: String,
    infrastructure: bool,
) -> ScenarioResult {
    let result = ScenarioResult {
        scenario: scenario.name.clone(),
        path: scenario.path.clone(),
        variant: variant.to_owned(),
        target: target.clone(),
        outcome: Outcome::Failed {
            error,
            infrastructure,
        },
        timeline: None,
        body: None,
        snapshot: snapshot::path(&options.snapshots, target.family, &scenario.name, variant),
        written: None,
        withheld: false,
        artifacts: artifacts.to_owned(),
        took: Duration::ZERO,
    };
    report(options, RunEvent::ScenarioFinished { result: &result });
    result
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
    run: Result<Timeline, RunError>,
) -> ScenarioResult {
    let snapshot_path = snapshot::path(&options.snapshots, target.family, &scenario.name, variant);
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
                error: e.to_string(),
                infrastructure: e.is_infrastructure(),
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
    if due && (options.accept || options.write_pending) {
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
