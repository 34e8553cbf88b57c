//! `jitsi-harness sweep`: one scenario under every combination of variant knobs each stack's release can
//! express; the grouping, the deciding knobs and the satisfying settings on stdout (text or JSON), an HTML
//! table with `--html`.

use std::time::Duration;

use harness::runner::cancel::{self, Interrupt};
use harness::runner::events::RunEvent;
use harness::runner::matrix::{run_matrix, MatrixOptions};
use harness::scenario::Scenario;
use harness::stack::{docker, Family, StackTarget, Variants};
use harness::sweep::{self, CellStatus, SweepReport};

use crate::args::{Cli, Format, StackOptions, SweepArgs};
use crate::exit::{self, Exit};

use super::{load_scenarios, load_variants, scenarios_dir};

/// How long a cancelled sweep may take to close its stacks.
const GRACE: Duration = Duration::from_secs(20);

/// Runs the sweep, prints it and returns its exit code: 0 when some combination satisfies the scenario,
/// 1 when none does, 3 when a combination could not run, 130 when interrupted.
pub async fn sweep(cli: &Cli, args: &SweepArgs) -> Result<u8, Exit> {
    if let Err(e) = sweep::check_knobs(&args.knobs) {
        eprintln!("jitsi-harness: --knobs: {e}");
        return Err(Exit(exit::BAD_INPUT));
    }
    let dir = scenarios_dir(cli)?;
    let variants = load_variants(&dir)?;
    let targets = parse_targets(&args.stack)?;
    let scenario = one_scenario(&dir, &variants, &args.scenario)?;
    check_settle(&scenario, args.options.settle_ms)?;
    let base_name = args
        .variant
        .clone()
        .unwrap_or_else(|| scenario.variants[0].clone());
    let base = match variants.get(&base_name) {
        Ok(v) => v.clone(),
        Err(e) => {
            eprintln!("jitsi-harness: --variant: {e}");
            return Err(Exit(exit::BAD_INPUT));
        }
    };
    let session = Session::start(&args.options, &targets).await?;
    let mut reports = Vec::new();
    for target in &targets {
        if session.cancel.is_cancelled() {
            break;
        }
        let combinations = sweep::combinations(&base, &args.knobs);
        let mut skipped = std::collections::BTreeMap::new();
        let mut swept = Variants {
            path: variants.path.clone(),
            by_name: Default::default(),
        };
        for c in &combinations {
            match sweep::expressible(target, &c.variant) {
                Ok(()) => {
                    swept.by_name.insert(c.name.clone(), c.variant.clone());
                }
                Err(reason) => {
                    skipped.insert(c.name.clone(), reason);
                }
            }
        }
        let mut swept_scenario = scenario.clone();
        swept_scenario.variants = swept.by_name.keys().cloned().collect();
        let results = if swept_scenario.variants.is_empty() {
            Vec::new()
        } else {
            run_matrix(&session.matrix(&args.options, target, swept_scenario, swept)).await
        };
        reports.push(SweepReport::build(
            &scenario.name,
            target,
            &base.name,
            &args.knobs,
            combinations,
            &skipped,
            &results,
        ));
    }
    session.bar.finish_and_clear();
    docker_cleanup(&session);
    if session.cancel.is_cancelled() {
        eprintln!("interrupted; artifacts in {}", session.artifacts.display());
        return Ok(exit::INTERRUPTED);
    }
    match args.options.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "sweeps": reports }))
                .unwrap_or_default()
        ),
        Format::Text => {
            for r in &reports {
                println!("{}", r.render_text());
            }
        }
    }
    let failed = reports
        .iter()
        .flat_map(|r| &r.cells)
        .any(|c| matches!(c.status, CellStatus::Failed { .. }));
    let satisfied = reports.iter().all(|r| r.groups.iter().any(|g| g.satisfies));
    let mut code = if failed {
        exit::INFRASTRUCTURE
    } else if satisfied {
        exit::SAME
    } else {
        exit::CHANGED
    };
    if let Some(dir) = &args.options.html {
        match write_html(dir, &SweepReport::render_html(&reports)) {
            Ok(path) => eprintln!("HTML report: {}", path.display()),
            Err(e) => {
                eprintln!("jitsi-harness: {e}");
                code = code.max(exit::INFRASTRUCTURE);
            }
        }
    }
    session.finish(code);
    Ok(code)
}

/// `--stack` values as targets.
pub fn parse_targets(stacks: &[String]) -> Result<Vec<StackTarget>, Exit> {
    stacks
        .iter()
        .map(|s| {
            s.parse::<StackTarget>().map_err(|e| {
                eprintln!("jitsi-harness: {e}");
                Exit(exit::BAD_INPUT)
            })
        })
        .collect()
}

/// The scenario named exactly `name`.
pub fn one_scenario(
    dir: &std::path::Path,
    variants: &Variants,
    name: &str,
) -> Result<Scenario, Exit> {
    let all = load_scenarios(dir, variants, None)?;
    let known: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
    match all.iter().find(|s| s.name == name) {
        Some(s) => Ok(s.clone()),
        None => {
            eprintln!(
                "jitsi-harness: no scenario `{name}` in {} (known: {})",
                dir.display(),
                known.join(", ")
            );
            Err(Exit(exit::BAD_INPUT))
        }
    }
}

/// A settle time not shorter than a step's deadline could never settle: exit 2, saying which step.
pub fn check_settle(scenario: &Scenario, settle_ms: u64) -> Result<(), Exit> {
    let settle = Duration::from_millis(settle_ms);
    for (n, step) in scenario.steps.iter().enumerate() {
        let deadline = scenario.timeout_of(step);
        if settle >= deadline {
            eprintln!(
                "jitsi-harness: --settle-ms {settle_ms} is not shorter than the {} ms deadline of step {} of {} ({}); \
                 pass a smaller --settle-ms, or raise `timeout` in the scenario",
                deadline.as_millis(),
                n + 1,
                scenario.name,
                scenario.path.display(),
            );
            return Err(Exit(exit::BAD_INPUT));
        }
    }
    Ok(())
}

/// Writes `html` as `dir/index.html`.
pub fn write_html(dir: &std::path::Path, html: &str) -> Result<std::path::PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| {
        format!(
            "cannot create the HTML report folder {}: {e}",
            dir.display()
        )
    })?;
    let path = dir.join("index.html");
    std::fs::write(&path, html)
        .map_err(|e| format!("cannot write the HTML report {}: {e}", path.display()))?;
    Ok(path)
}

/// What a sweep or an explain run shares: the artifacts folder, cancellation, progress.
pub struct Session {
    /// This run's artifacts folder.
    pub artifacts: std::path::PathBuf,
    /// Cancelled on Ctrl-C / SIGTERM.
    pub cancel: tokio_util::sync::CancellationToken,
    /// Progress lines.
    pub reporter: harness::runner::Reporter,
    /// The progress bar.
    pub bar: indicatif::ProgressBar,
    keep_artifacts: bool,
}

impl Session {
    /// Checks the engine and the artifacts root, installs the signal handler.
    pub async fn start(options: &StackOptions, targets: &[StackTarget]) -> Result<Session, Exit> {
        if targets.iter().any(|t| t.family != Family::External) {
            if let Err(e) = docker::connect().await {
                eprintln!("jitsi-harness: {e}");
                return Err(Exit(exit::INFRASTRUCTURE));
            }
        }
        if let Err(e) = std::fs::create_dir_all(&options.artifacts) {
            eprintln!(
                "jitsi-harness: cannot write artifacts under {}: {e}; pass --artifacts DIR with a folder you can write",
                options.artifacts.display()
            );
            return Err(Exit(exit::BAD_INPUT));
        }
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let artifacts = options
            .artifacts
            .join(format!("run-{stamp}-{}", docker::run_id()));
        let (reporter, bar) = crate::progress::reporter(0, false);
        let on_signal = reporter.clone();
        let cancel = cancel::install(GRACE, move |interrupt| match interrupt {
            Interrupt::Cancelling => on_signal(&RunEvent::Cancelling),
            Interrupt::Forced { .. } => {
                super::run::sweep_this_run();
                std::process::exit(i32::from(exit::INTERRUPTED));
            }
        });
        Ok(Session {
            artifacts,
            cancel,
            reporter,
            bar,
            keep_artifacts: options.html.is_some(),
        })
    }

    /// The matrix of one scenario on one target under `variants` (every variant the scenario names),
    /// compared with no golden (`New` is the verdict of a run that met its expectations).
    pub fn matrix(
        &self,
        options: &StackOptions,
        target: &StackTarget,
        scenario: Scenario,
        variants: Variants,
    ) -> MatrixOptions {
        MatrixOptions {
            targets: vec![target.clone()],
            scenarios: vec![scenario],
            variants,
            snapshots: self.artifacts.join("no-goldens"),
            artifacts: self.artifacts.clone(),
            keep: false,
            startup_timeout: Duration::from_secs(options.startup_timeout),
            settle: Duration::from_millis(options.settle_ms),
            accept: false,
            write_pending: false,
            parallel_stacks: options.parallel.max(1),
            registry: options.registry.clone(),
            repeat: 1,
            hold: false,
            cancel: self.cancel.clone(),
            reporter: Some(self.reporter.clone()),
        }
    }

    /// Removes the artifacts of a run that needs no look (exit 0, no HTML report), else names them.
    pub fn finish(&self, code: u8) {
        if code == exit::SAME && !self.keep_artifacts {
            let _ = std::fs::remove_dir_all(&self.artifacts);
        } else {
            eprintln!("artifacts: {}", self.artifacts.display());
        }
    }
}

/// Anything of this run that lost its owner goes.
pub fn docker_cleanup(_session: &Session) {
    super::run::sweep_this_run();
}
