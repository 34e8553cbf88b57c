//! `jitsi-harness run`: scenarios on stacks, each timeline judged against its golden snapshot and the
//! scenario's expectations; progress on stderr, the verdict (text or JSON) on stdout.

use std::time::Duration;

use harness::runner::cancel::{self, Interrupt};
use harness::runner::events::RunEvent;
use harness::runner::matrix::{run_matrix, MatrixOptions};
use harness::stack::{docker, Family, StackTarget};

use crate::args::{Cli, Format, RunArgs};
use crate::exit::{self, Exit};

use super::{load_scenarios, load_variants, scenarios_dir};

/// How long a cancelled run may take to close its stacks before everything is removed at once.
const GRACE: Duration = Duration::from_secs(20);

/// Runs the matrix, prints the verdict and returns its exit code.
pub async fn run(cli: &Cli, args: &RunArgs) -> Result<u8, Exit> {
    let dir = scenarios_dir(cli)?;
    let variants = load_variants(&dir)?;
    let mut targets = Vec::new();
    for s in &args.stack {
        match s.parse::<StackTarget>() {
            Ok(t) => targets.push(t),
            Err(e) => {
                eprintln!("jitsi-harness: {e}");
                return Err(Exit(exit::BAD_INPUT));
            }
        }
    }
    let scenarios = load_scenarios(&dir, &variants, args.scenario.as_deref())?;
    if scenarios.is_empty() {
        eprintln!(
            "jitsi-harness: no scenario in {} matches {}",
            dir.display(),
            args.scenario.as_deref().unwrap_or("*")
        );
        return Err(Exit(exit::BAD_INPUT));
    }
    let settle = Duration::from_millis(args.settle_ms);
    for scenario in &scenarios {
        for (n, step) in scenario.steps.iter().enumerate() {
            let deadline = scenario.timeout_of(step);
            if settle >= deadline {
                eprintln!(
                    "jitsi-harness: --settle-ms {} is not shorter than the {} ms deadline of step {} of {} ({}); \
                     a step could never settle. Pass a smaller --settle-ms, or raise `timeout` in the scenario",
                    args.settle_ms,
                    deadline.as_millis(),
                    n + 1,
                    scenario.name,
                    scenario.path.display(),
                );
                return Err(Exit(exit::BAD_INPUT));
            }
        }
    }
    // One engine check for the whole run: an unreachable engine is one message and exit 3, before any
    // artifacts folder exists (not one failure per stack and scenario).
    if targets.iter().any(|t| t.family != Family::External) {
        if let Err(e) = docker::connect().await {
            eprintln!("jitsi-harness: {e}");
            return Err(Exit(exit::INFRASTRUCTURE));
        }
    }
    // The artifacts root must be writable before any stack starts.
    if let Err(e) = probe_writable(&args.artifacts) {
        eprintln!(
            "jitsi-harness: cannot write artifacts under {}: {e}; pass --artifacts DIR with a folder you can write",
            args.artifacts.display()
        );
        return Err(Exit(exit::BAD_INPUT));
    }
    for t in targets.iter().filter(|t| t.family == Family::External) {
        if let Err(e) = harness::stack::external::check_exists(&t.version) {
            eprintln!("jitsi-harness: {e}");
            return Err(Exit(exit::BAD_INPUT));
        }
    }
    let snapshots = args.snapshots.clone().unwrap_or_else(|| {
        dir.parent()
            .map(|p| p.join("snapshots"))
            .unwrap_or_else(|| "snapshots".into())
    });
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let artifacts = args
        .artifacts
        .join(format!("run-{stamp}-{}", docker::run_id()));
    let total: usize = scenarios.iter().map(|s| s.variants.len()).sum::<usize>() * targets.len();
    let (reporter, bar) = crate::progress::reporter(total as u64, args.verbose);
    let on_signal = reporter.clone();
    let cancel = cancel::install(GRACE, move |interrupt| match interrupt {
        Interrupt::Cancelling => on_signal(&RunEvent::Cancelling),
        Interrupt::Forced { .. } => {
            sweep_this_run();
            std::process::exit(i32::from(exit::INTERRUPTED));
        }
    });
    let options = MatrixOptions {
        targets,
        scenarios,
        variants,
        snapshots,
        artifacts: artifacts.clone(),
        keep: args.keep_stack,
        startup_timeout: Duration::from_secs(args.startup_timeout),
        settle,
        accept: args.accept,
        write_pending: std::env::var("CI")
            .map(|v| v.is_empty() || v == "0" || v == "false")
            .unwrap_or(true),
        parallel_stacks: args.parallel,
        cancel: cancel.clone(),
        reporter: Some(reporter),
    };
    let results = run_matrix(&options).await;
    bar.finish_and_clear();
    if !args.keep_stack {
        // Safety net: anything of this run that lost its owner (a start cut short) goes now.
        sweep_this_run();
    }
    if cancel.is_cancelled() {
        eprintln!("interrupted; artifacts in {}", artifacts.display());
        return Ok(exit::INTERRUPTED);
    }
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&harness::report::json(&results)).unwrap_or_default()
        ),
        Format::Text => print!("{}", harness::report::text(&results)),
    }
    let code = exit::of(&results);
    if code == exit::SAME && !args.keep_stack {
        // Nothing to look at: keep the artifacts root tidy.
        let _ = std::fs::remove_dir_all(&artifacts);
    } else if args.format == Format::Text {
        println!("artifacts: {}", artifacts.display());
    }
    Ok(code)
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

/// Creates `root` if needed and writes (and removes) a probe file in it.
fn probe_writable(root: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(root)?;
    tempfile::Builder::new()
        .prefix(".jitsi-harness-probe-")
        .tempfile_in(root)
        .map(drop)
}
