//! `jitsi-harness run`: scenarios on stacks, each timeline judged against its golden snapshot and the
//! scenario's expectations; progress on stderr, the verdict (text or JSON) on stdout.

use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::participant::browser::leftovers;
use harness::report;
use harness::runner::cancel::{self, Interrupt};
use harness::runner::events::RunEvent;
use harness::runner::matrix::{run_matrix, MatrixOptions};
use harness::runner::outcome::ScenarioResult;
use harness::scenario::Scenario;
use harness::stack::{docker, jitsi, Family, StackTarget};

use crate::args::{Cli, Format, ReportPaths, RunArgs};
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
    check_report_paths(&args.reports)?;
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
    check_fixture_images(&targets).await?;
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
    let mut snapshots = args.snapshots.clone().unwrap_or_else(|| {
        dir.parent()
            .map(|p| p.join("snapshots"))
            .unwrap_or_else(|| "snapshots".into())
    });
    // Results of the Jitsi-shaped local images are theirs, not Jitsi's: never snapshots/jitsi/.
    if jitsi::is_local_images(args.registry.as_deref()) {
        snapshots = snapshots.join(jitsi::LOCAL_IMAGES_SNAPSHOTS);
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let artifacts = args
        .artifacts
        .join(format!("run-{stamp}-{}", docker::run_id()));
    // What killed runs left of their browsers goes first (containers are swept at the first stack start).
    leftovers::sweep_once();
    // One matrix per stack when sharded (a shard's cells are no product of stacks × scenarios).
    let shards: Vec<(Vec<StackTarget>, Vec<Scenario>)> = match args.partition {
        None => vec![(targets.clone(), scenarios)],
        Some((k, n)) => targets
            .iter()
            .map(|t| (vec![t.clone()], shard(&scenarios, &targets, t, k, n)))
            .filter(|(_, s)| !s.is_empty())
            .collect(),
    };
    let total: usize = shards
        .iter()
        .map(|(t, s)| s.iter().map(|s| s.variants.len()).sum::<usize>() * t.len())
        .sum();
    let (reporter, bar) = crate::progress::reporter(total as u64, args.verbose);
    let on_signal = reporter.clone();
    let cancel = cancel::install(GRACE, move |interrupt| match interrupt {
        Interrupt::Cancelling => on_signal(&RunEvent::Cancelling),
        Interrupt::Forced { .. } => {
            leftovers::kill_this_run();
            sweep_this_run();
            std::process::exit(i32::from(exit::INTERRUPTED));
        }
    });
    let mut results = Vec::new();
    for (shard_targets, scenarios) in shards {
        if cancel.is_cancelled() {
            break;
        }
        let options = MatrixOptions {
            targets: shard_targets,
            scenarios,
            variants: variants.clone(),
            snapshots: snapshots.clone(),
            artifacts: artifacts.clone(),
            keep: args.keep_stack,
            hold: args.hold,
            startup_timeout: Duration::from_secs(args.startup_timeout),
            settle,
            accept: args.accept,
            write_pending: std::env::var("CI")
                .map(|v| v.is_empty() || v == "0" || v == "false")
                .unwrap_or(true),
            parallel_stacks: args.parallel,
            registry: args.registry.clone(),
            repeat: usize::from(args.repeat),
            cancel: cancel.clone(),
            reporter: Some(reporter.clone()),
        };
        results.extend(run_matrix(&options).await);
    }
    results.sort_by(|a, b| {
        (&a.scenario, &a.variant, &a.target).cmp(&(&b.scenario, &b.variant, &b.target))
    });
    bar.finish_and_clear();
    if !args.keep_stack {
        // Safety net: anything of this run that lost its owner (a start cut short) goes now.
        sweep_this_run();
    }
    if cancel.is_cancelled() {
        // No Chromium may outlive the exit (one still shutting down after its session closed).
        leftovers::kill_this_run();
        eprintln!("interrupted; artifacts in {}", artifacts.display());
        return Ok(exit::INTERRUPTED);
    }
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&harness::report::json(&results, &targets))
                .unwrap_or_default()
        ),
        Format::Text => print!("{}", harness::report::text(&results, &targets)),
    }
    if let Some(line) = cpu_per_unmet_step(&results, own_cpu()) {
        eprintln!("{line}");
    }
    let mut code = exit::of(&results);
    if let Err(e) = write_reports(&args.reports, &results, &targets) {
        eprintln!("jitsi-harness: {e}");
        code = code.max(exit::INFRASTRUCTURE);
    }
    if code == exit::SAME && !args.keep_stack && args.reports.html.is_none() {
        // (An HTML report links to the artifacts, so they stay when one was asked for.)
        // Nothing to look at: keep the artifacts root tidy.
        let _ = std::fs::remove_dir_all(&artifacts);
    } else if args.format == Format::Text {
        println!("artifacts: {}", artifacts.display());
    }
    Ok(code)
}

/// Shard `k` of `n` (from 1) of the matrix, for the stack `target`: every scenario × variant × stack cell
/// sorted by (scenario, variant, stack as written), dealt round-robin; the scenarios keep only the
/// variants of their cells on `target`.
fn shard(
    scenarios: &[Scenario],
    targets: &[StackTarget],
    target: &StackTarget,
    k: usize,
    n: usize,
) -> Vec<Scenario> {
    let mut cells: Vec<(&str, &str, String)> = scenarios
        .iter()
        .flat_map(|s| {
            s.variants.iter().flat_map(move |v| {
                targets
                    .iter()
                    .map(move |t| (s.name.as_str(), v.as_str(), t.to_string()))
            })
        })
        .collect();
    cells.sort();
    cells.dedup();
    let mine: Vec<&(&str, &str, String)> = cells
        .iter()
        .enumerate()
        .filter(|(i, _)| i % n == k - 1)
        .map(|(_, c)| c)
        .collect();
    let stack = target.to_string();
    scenarios
        .iter()
        .filter_map(|s| {
            let mut s = s.clone();
            s.variants.retain(|v| {
                mine.iter()
                    .any(|c| c.0 == s.name && c.1 == v && c.2 == stack)
            });
            (!s.variants.is_empty()).then_some(s)
        })
        .collect()
}

/// Fails (exit 2) before any stack starts when a report path cannot be written: its folder is created
/// and a scratch file written and removed there.
pub fn check_report_paths(args: &ReportPaths) -> Result<(), Exit> {
    let files = [("--junit", &args.junit), ("--markdown", &args.markdown)];
    let mut checks: Vec<(&str, PathBuf, Option<&Path>)> = files
        .iter()
        .filter_map(|(flag, p)| {
            let p = p.as_deref()?;
            let parent = match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
            Some((*flag, parent, Some(p)))
        })
        .collect();
    if let Some(dir) = &args.html {
        checks.push(("--html", dir.clone(), None));
    }
    for (flag, dir, file) in checks {
        let problem = if file.is_some_and(Path::is_dir) {
            Some("it is a folder; give a file path".to_owned())
        } else {
            std::fs::create_dir_all(&dir)
                .and_then(|()| tempfile::NamedTempFile::new_in(&dir).map(drop))
                .err()
                .map(|e| format!("cannot write in {}: {e}", dir.display()))
        };
        if let Some(problem) = problem {
            eprintln!(
                "jitsi-harness: {flag} {}: {problem}; choose a writable path",
                file.unwrap_or(&dir).display()
            );
            return Err(Exit(exit::BAD_INPUT));
        }
    }
    Ok(())
}

/// Writes the reports asked for (`--junit`, `--markdown`, `--html`), saying where.
pub fn write_reports(
    args: &ReportPaths,
    results: &[ScenarioResult],
    targets: &[StackTarget],
) -> Result<(), String> {
    if let Some(path) = &args.junit {
        report::junit::write(path, results, targets)
            .map_err(|e| format!("cannot write the JUnit report {}: {e}", path.display()))?;
        eprintln!("JUnit report: {}", path.display());
    }
    if let Some(path) = &args.markdown {
        report::markdown::write(path, results, targets)
            .map_err(|e| format!("cannot write the Markdown summary {}: {e}", path.display()))?;
        eprintln!("Markdown summary: {}", path.display());
    }
    if let Some(dir) = &args.html {
        let path = report::html::write(dir, results, targets)
            .map_err(|e| format!("cannot write the HTML report in {}: {e}", dir.display()))?;
        eprintln!("HTML report: {}", path.display());
    }
    Ok(())
}

/// Removes every container and network of this run, saying so when there was any.
pub fn sweep_this_run() {
    match cancel::emergency_cleanup() {
        Ok(s) if !s.containers.is_empty() || !s.networks.is_empty() => {
            eprintln!("{}", cancel::removed(&s))
        }
        Ok(_) => {}
        Err(e) => eprintln!("cleanup failed: {e}"),
    }
}

/// The fixture images the run needs are on this machine and were built from this tree's inputs
/// (`harness::stack::fixture::image`, which says why a stale image stops the run rather than being
/// rebuilt): otherwise one message per image with the command that builds it, and exit 3, before any
/// stack starts or artifacts folder exists.
async fn check_fixture_images(targets: &[StackTarget]) -> Result<(), Exit> {
    use harness::stack::fixture::image;
    let versions: Vec<String> = targets
        .iter()
        .filter(|t| t.family == Family::Fixture)
        .map(|t| t.version.clone())
        .collect();
    if versions.is_empty() {
        return Ok(());
    }
    let checks = match docker::connect().await {
        Ok(d) => image::check(&d, &versions).await,
        Err(e) => Err(e),
    };
    let checks = checks.map_err(|e| {
        eprintln!("jitsi-harness: checking the fixture images: {e}");
        Exit(exit::INFRASTRUCTURE)
    })?;
    let allow = image::allow_stale();
    let mut stop = false;
    for c in &checks {
        let Some(problem) = c.problem() else { continue };
        if c.stops(allow) {
            eprintln!("jitsi-harness: {problem}");
            stop = true;
        } else if matches!(c.state, image::ImageState::Stale { .. }) {
            eprintln!(
                "jitsi-harness: warning ({}=1, running anyway): {problem}",
                image::ALLOW_STALE_ENV
            );
        } else {
            eprintln!("jitsi-harness: warning: {problem}");
        }
    }
    if stop {
        return Err(Exit(exit::INFRASTRUCTURE));
    }
    Ok(())
}

/// This process's CPU time so far (user + system, `/proc/self/stat`); zero when unreadable.
fn own_cpu() -> Duration {
    harness::process::process_info(std::process::id())
        .map(|p| {
            let ticks = p.user_ticks + p.system_ticks;
            Duration::from_secs_f64(ticks as f64 / procfs::ticks_per_second().max(1) as f64)
        })
        .unwrap_or_default()
}

/// The client's CPU per step that waited for an unmet expectation: such a step waits out its whole
/// deadline, and a wait that spins instead of sleeping on events costs a core for it (and starves the
/// stack on a small machine). `cpu` is the whole run's, so the figure per step is an upper bound: it also
/// holds stack starts, joins and every scenario that ran meanwhile. `None` when no step was unmet.
fn cpu_per_unmet_step(results: &[ScenarioResult], cpu: Duration) -> Option<String> {
    let unmet: Vec<&harness::timeline::StepRecord> = results
        .iter()
        .filter_map(|r| r.timeline.as_ref())
        .flat_map(|t| t.unmet())
        .collect();
    let n = u32::try_from(unmet.len()).ok().filter(|n| *n > 0)?;
    let waited: Duration = unmet.iter().map(|s| s.took).sum();
    Some(format!(
        "client CPU: {:.2} s for the whole run; {n} unmet step{} waited {:.1} s in all: at most {:.3} s \
         of CPU per unmet step",
        cpu.as_secs_f64(),
        if n == 1 { "" } else { "s" },
        waited.as_secs_f64(),
        (cpu / n).as_secs_f64()
    ))
}

/// Creates `root` if needed and writes (and removes) a probe file in it.
fn probe_writable(root: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(root)?;
    tempfile::Builder::new()
        .prefix(".jitsi-harness-probe-")
        .tempfile_in(root)
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn scenarios() -> Vec<Scenario> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let variants = harness::stack::Variants::load(&root.join("variants.toml")).unwrap();
        let paths = harness::scenario::discover(&root, None).unwrap();
        paths
            .iter()
            .map(|p| harness::scenario::load(p, &variants).unwrap())
            .collect()
    }

    fn cells(scenarios: &[Scenario], target: &StackTarget) -> BTreeSet<(String, String, String)> {
        scenarios
            .iter()
            .flat_map(|s| {
                s.variants
                    .iter()
                    .map(|v| (s.name.clone(), v.clone(), target.to_string()))
            })
            .collect()
    }

    #[test]
    fn shards_1_2_and_2_2_cover_the_matrix_exactly_once() {
        let all = scenarios();
        let targets: Vec<StackTarget> = ["fixture:13", "fixture:0.12"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let full: BTreeSet<_> = targets.iter().flat_map(|t| cells(&all, t)).collect();
        let shard_cells = |k| -> BTreeSet<_> {
            targets
                .iter()
                .flat_map(|t| cells(&shard(&all, &targets, t, k, 2), t))
                .collect()
        };
        let (one, two) = (shard_cells(1), shard_cells(2));
        assert!(one.is_disjoint(&two));
        assert_eq!(&one | &two, full);
        assert!(
            one.len().abs_diff(two.len()) <= 1,
            "{} vs {}",
            one.len(),
            two.len()
        );
        // Deterministic: the order stacks are given in does not move a cell to another shard.
        let reversed: Vec<StackTarget> = targets.iter().rev().cloned().collect();
        let again: BTreeSet<_> = reversed
            .iter()
            .flat_map(|t| cells(&shard(&all, &reversed, t, 1, 2), t))
            .collect();
        assert_eq!(again, one);
    }
}
