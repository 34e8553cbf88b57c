//! `jitsi-harness bisect`: the first docker-jitsi-meet release whose timeline of one scenario × variant
//! differs from a good release's. The search is `harness::bisect::search` over the releases from `--good`
//! to `--bad` (the versions table's, plus newer ones from the `releases` cache); each probe is one
//! `run_matrix` of that scenario on one `jitsi:` stack, started, run and closed before the next starts.
//! Probe lines and the result on stdout, stack progress on stderr.
//!
//! Exit codes: 0 the first differing release was found; 2 bad input (tags, scenario, variant), and a
//! scenario whose timeline is the same on both ends (nothing to bisect); 3 a probe's stack or participant
//! failed; 130 interrupted (every container removed).

use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::bisect::{self, BisectError, Probed, Verdict};
use harness::participant::browser::leftovers;
use harness::releases::{ReleaseList, ReleaseSource};
use harness::report::compare;
use harness::report::progress;
use harness::runner::cancel::{self, Interrupt};
use harness::runner::events::{Reporter, RunEvent};
use harness::runner::matrix::{run_matrix, MatrixOptions};
use harness::runner::outcome::ScenarioResult;
use harness::stack::{docker, jitsi, Family, StackTarget};
use harness::versions::Release;

use crate::args::{BisectArgs, Cli};
use crate::exit::{self, Exit};

use super::{load_scenarios, load_variants, scenarios_dir};

/// How long a cancelled bisect may take to close its stack before everything is removed at once.
const GRACE: Duration = Duration::from_secs(20);

/// What one probe observed: the run's result (with its timeline) and how long the probe took.
#[derive(Debug)]
struct Observed {
    result: ScenarioResult,
    took: Duration,
}

/// Runs the bisection, prints each probe and the result, and returns the exit code.
pub async fn bisect(cli: &Cli, args: &BisectArgs) -> Result<u8, Exit> {
    let bad_input = |message: String| {
        eprintln!("jitsi-harness: {message}");
        Exit(exit::BAD_INPUT)
    };
    let parse = |flag: &str, tag: &str| {
        tag.parse::<Release>()
            .map_err(|e| bad_input(format!("{flag}: {e}")))
    };
    let good = parse("--good", &args.good)?;
    let bad = parse("--bad", &args.bad)?;
    let releases = bisect::releases_between(&good, &bad, &published())
        .map_err(|e| bad_input(e.to_string()))?;

    let dir = scenarios_dir(cli)?;
    let variants = load_variants(&dir)?;
    let mut scenario = load_scenarios(&dir, &variants, Some(args.scenario.as_str()))?
        .into_iter()
        .find(|s| s.name == args.scenario)
        .ok_or_else(|| {
            bad_input(format!(
                "no scenario named `{}` in {}; `jitsi-harness list` shows them",
                args.scenario,
                dir.display()
            ))
        })?;
    let variant = match (&args.variant, scenario.variants.as_slice()) {
        (Some(v), names) if names.contains(v) => v.clone(),
        (Some(v), names) => {
            return Err(bad_input(format!(
                "scenario {} does not run under variant `{v}`; its variants: {}",
                scenario.name,
                names.join(", ")
            )))
        }
        (None, [only]) => only.clone(),
        (None, names) => {
            return Err(bad_input(format!(
                "scenario {} runs under several variants ({}); pick one with --variant",
                scenario.name,
                names.join(", ")
            )))
        }
    };
    scenario.variants = vec![variant.clone()];
    let settle = Duration::from_millis(args.settle_ms);
    for (n, step) in scenario.steps.iter().enumerate() {
        if settle >= scenario.timeout_of(step) {
            return Err(bad_input(format!(
                "--settle-ms {} is not shorter than the {} ms deadline of step {} of {}; pass a smaller \
                 --settle-ms, or raise `timeout` in the scenario",
                args.settle_ms,
                scenario.timeout_of(step).as_millis(),
                n + 1,
                scenario.name
            )));
        }
    }

    if let Err(e) = docker::connect().await {
        eprintln!("jitsi-harness: {e}");
        return Err(Exit(exit::INFRASTRUCTURE));
    }
    if let Err(e) = std::fs::create_dir_all(&args.artifacts).and_then(|()| {
        tempfile::Builder::new()
            .prefix(".jitsi-harness-probe-")
            .tempfile_in(&args.artifacts)
            .map(drop)
    }) {
        return Err(bad_input(format!(
            "cannot write artifacts under {}: {e}; pass --artifacts DIR with a folder you can write",
            args.artifacts.display()
        )));
    }
    let mut snapshots = dir
        .parent()
        .map(|p| p.join("snapshots"))
        .unwrap_or_else(|| "snapshots".into());
    if jitsi::is_local_images(args.registry.as_deref()) {
        snapshots = snapshots.join(jitsi::LOCAL_IMAGES_SNAPSHOTS);
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let artifacts = args
        .artifacts
        .join(format!("bisect-{stamp}-{}", docker::run_id()));
    leftovers::sweep_once();

    let verbose = args.verbose;
    let reporter: Reporter = Arc::new(move |event: &RunEvent<'_>| {
        if let Some(line) = progress::line(event, verbose) {
            eprintln!("{line}");
        }
    });
    let on_signal = reporter.clone();
    let cancel = cancel::install(GRACE, move |interrupt| match interrupt {
        Interrupt::Cancelling => on_signal(&RunEvent::Cancelling),
        Interrupt::Forced { .. } => {
            leftovers::kill_this_run();
            sweep_this_run();
            std::process::exit(i32::from(exit::INTERRUPTED));
        }
    });

    let targets: Vec<StackTarget> = releases
        .iter()
        .map(|r| StackTarget {
            family: Family::Jitsi,
            version: r.tag(),
        })
        .collect();
    let base = MatrixOptions {
        targets: Vec::new(),
        scenarios: vec![scenario.clone()],
        variants: variants.clone(),
        snapshots,
        artifacts: artifacts.clone(),
        keep: false,
        startup_timeout: Duration::from_secs(args.startup_timeout),
        settle,
        accept: false,
        // Bisect compares releases with each other; it never writes a snapshot.
        write_pending: false,
        parallel_stacks: 1,
        registry: args.registry.clone(),
        repeat: 1,
        hold: false,
        cancel: cancel.clone(),
        reporter: Some(reporter),
    };
    let n = releases.len();
    println!(
        "bisecting {} {variant} over {n} releases, {} (good) to {} (bad): at most {} probes",
        scenario.name,
        good,
        bad,
        bisect::max_probes(n)
    );
    let probe = |i: usize| {
        let mut options = base.clone();
        options.targets = vec![targets[i].clone()];
        async move {
            let t0 = Instant::now();
            let result = run_matrix(&options).await.into_iter().next();
            let took = t0.elapsed();
            match result {
                Some(result) if result.timeline.is_some() => Ok(Observed { result, took }),
                Some(result) => Err(result
                    .outcome
                    .error()
                    .unwrap_or("the run ended without a timeline")
                    .to_owned()),
                None => Err("the run produced no result".to_owned()),
            }
        }
    };
    let differs = |good: &Observed, seen: &Observed| !changes(good, seen).is_empty();
    let on_probe = |p: &Probed<'_, Observed>| {
        let verdict = match p.verdict {
            Verdict::Reference => Verdict::Reference.as_str().to_owned(),
            v => format!("{} vs {good}", v.as_str()),
        };
        println!(
            "probe {}: {}: {verdict} ({:.1} s; golden: {})",
            p.number,
            releases[p.index],
            p.seen.took.as_secs_f64(),
            p.seen.result.verdict().as_str()
        );
    };
    let searched = bisect::search(n, probe, differs, on_probe).await;
    // Safety net: anything of this run that lost its owner (a start cut short) goes now.
    sweep_this_run();
    if cancel.is_cancelled() {
        leftovers::kill_this_run();
        eprintln!("interrupted; artifacts in {}", artifacts.display());
        return Ok(exit::INTERRUPTED);
    }
    let found = match searched {
        Ok(found) => found,
        Err(BisectError::NothingToBisect { probes, .. }) => {
            eprintln!(
                "jitsi-harness: nothing to bisect: the timeline of {} {variant} on {bad} is the same as on \
                 {good} (after {} probes); pick a --bad release where it differs (`jitsi-harness run --stack \
                 jitsi:{good},jitsi:{bad}` compares the two)",
                scenario.name,
                probes.len()
            );
            return Ok(exit::BAD_INPUT);
        }
        Err(BisectError::TooFew { n }) => {
            return Err(bad_input(format!(
                "{n} release(s) from {good} to {bad}: nothing to search between"
            )))
        }
        Err(BisectError::Probe { index, error, .. }) => {
            eprintln!(
                "jitsi-harness: the probe of {} failed, so bisect cannot tell whether its timeline differs: \
                 {error}\nartifacts: {}",
                releases[index],
                artifacts.display()
            );
            return Ok(exit::INFRASTRUCTURE);
        }
    };
    let (last_same, first_differing) =
        (&releases[found.last_same], &releases[found.first_differing]);
    println!(
        "first differing release: {first_differing} (last the same as {good}: {last_same}), after {} probes",
        found.probes.len()
    );
    let steps = changes(&found.last_same_seen, &found.first_differing_seen);
    println!("differing steps ({last_same} -> {first_differing}):");
    for step in &steps {
        println!("  step {} `{}`:", step.step, step.label);
        for s in &step.seats {
            println!("    {}: {} -> {}", s.participant, s.before, s.after);
        }
    }
    println!(
        "compare: {}",
        bisect::compare_url(last_same, first_differing)
    );
    println!("artifacts: {}", artifacts.display());
    Ok(exit::SAME)
}

/// The steps whose (normalised) timeline lines differ between two probes: `report::compare`'s rule, so
/// bisect and a two-stack `run` agree on what a difference is.
fn changes(before: &Observed, after: &Observed) -> Vec<compare::StepChange> {
    let results = [before.result.clone(), after.result.clone()];
    let stacks = [before.result.target.clone(), after.result.target.clone()];
    compare::comparisons(&results, &stacks)
        .into_iter()
        .flat_map(|c| c.changes)
        .flat_map(|c| c.steps)
        .collect()
}

/// Releases published after the versions table was written, from the `releases` cache whatever its age
/// (never the network: bisect works offline); none without a readable cache.
fn published() -> Vec<Release> {
    let Some(path) = ReleaseSource::from_env().cache else {
        return Vec::new();
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Vec::new();
    };
    match serde_json::from_str::<ReleaseList>(&text) {
        Ok(list) => list
            .releases
            .iter()
            .filter_map(|r| r.tag.parse().ok())
            .collect(),
        Err(e) => {
            tracing::debug!("ignoring the releases cache {}: {e}", path.display());
            Vec::new()
        }
    }
}

/// Removes every container and network of this run, saying so when there was any.
fn sweep_this_run() {
    match cancel::emergency_cleanup() {
        Ok(s) if !s.containers.is_empty() || !s.networks.is_empty() => {
            eprintln!("{}", cancel::removed(&s))
        }
        Ok(_) => {}
        Err(e) => eprintln!("cleanup failed: {e}"),
    }
}
