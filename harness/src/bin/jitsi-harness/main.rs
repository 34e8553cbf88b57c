//! `jitsi-harness`: the command line. Parses arguments, installs the signal handler, runs, prints the
//! verdict and exits with a documented code (see `exit.rs`). The only place that writes to the terminal.

mod args;
mod exit;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use miette::IntoDiagnostic;

use args::{Cli, Command, Format, RunArgs};
use harness::runner::matrix::{run_matrix, MatrixOptions, Verdict};
use harness::scenario::{self, Scenario};
use harness::stack::{docker, StackTarget, Variants};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::BAD_INPUT
            } else {
                exit::SAME
            });
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("jitsi-harness: cannot start the async runtime: {e}");
            return ExitCode::from(exit::INFRASTRUCTURE);
        }
    };
    let code = runtime.block_on(dispatch(cli));
    // Dropping the runtime here, not in an async context, lets pending cleanups finish first.
    drop(runtime);
    ExitCode::from(code)
}

/// A failure already explained to the user, with its exit code.
struct Exit(u8);

fn report(e: miette::Report, code: u8) -> Exit {
    eprintln!("{e:?}");
    Exit(code)
}

async fn dispatch(cli: Cli) -> u8 {
    let result = match cli.command {
        Command::Run(ref args) => run(&cli, args).await,
        Command::List { format } => list(&cli, format),
        Command::Check { ref files } => check(&cli, files),
        Command::Plan {
            ref stack,
            ref variant,
            format,
        } => plan(&cli, stack, variant, format),
        Command::Clean { kept } => clean(kept).await,
    };
    match result {
        Ok(code) | Err(Exit(code)) => code,
    }
}

/// The scenarios folder: `--scenarios`, else `./scenarios`, else the nearest parent's `scenarios/`.
fn scenarios_dir(cli: &Cli) -> Result<PathBuf, Exit> {
    if let Some(dir) = &cli.scenarios {
        return Ok(dir.clone());
    }
    let cwd = std::env::current_dir().map_err(|e| {
        eprintln!("jitsi-harness: cannot read the working directory: {e}");
        Exit(exit::INFRASTRUCTURE)
    })?;
    for dir in cwd.ancestors() {
        let candidate = dir.join("scenarios");
        if candidate.join("variants.toml").is_file() {
            return Ok(pathdiff(&candidate, &cwd));
        }
    }
    eprintln!(
        "jitsi-harness: no scenarios/variants.toml here or in a parent folder; run from the repository or pass --scenarios DIR"
    );
    Err(Exit(exit::BAD_INPUT))
}

/// `path` relative to `base` when it is inside it (scenario errors then show short paths).
fn pathdiff(path: &Path, base: &Path) -> PathBuf {
    path.strip_prefix(base)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

fn load_variants(dir: &Path) -> Result<Variants, Exit> {
    Variants::load(&dir.join("variants.toml"))
        .into_diagnostic()
        .map_err(|e| report(e, exit::BAD_INPUT))
}

fn load_scenarios(
    dir: &Path,
    variants: &Variants,
    glob: Option<&str>,
) -> Result<Vec<Scenario>, Exit> {
    let paths = scenario::discover(dir, glob).map_err(|e| report(e.into(), exit::BAD_INPUT))?;
    let mut scenarios = Vec::new();
    let mut bad = false;
    for path in paths {
        match scenario::load(&path, variants) {
            Ok(s) => scenarios.push(s),
            Err(e) => {
                eprintln!("{:?}", miette::Report::new(e));
                bad = true;
            }
        }
    }
    if bad {
        return Err(Exit(exit::BAD_INPUT));
    }
    Ok(scenarios)
}

fn list(cli: &Cli, format: Format) -> Result<u8, Exit> {
    let dir = scenarios_dir(cli)?;
    let variants = load_variants(&dir)?;
    let scenarios = load_scenarios(&dir, &variants, None)?;
    match format {
        Format::Json => {
            let doc: Vec<_> = scenarios
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "scenario": s.name, "path": s.path, "variants": s.variants,
                        "description": s.description, "source": s.source, "steps": s.steps.len(),
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({ "scenarios": doc }))
                    .unwrap_or_default()
            );
        }
        Format::Text => {
            for s in &scenarios {
                println!(
                    "{}  [{}]  {} steps",
                    s.name,
                    s.variants.join(", "),
                    s.steps.len()
                );
                println!(
                    "    {}",
                    s.description
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
            println!("\nvariants:");
            for (name, v) in &variants.by_name {
                println!(
                    "  {name}: {}",
                    v.description
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
        }
    }
    Ok(exit::SAME)
}

fn check(cli: &Cli, files: &[PathBuf]) -> Result<u8, Exit> {
    let dir = scenarios_dir(cli)?;
    let variants = load_variants(&dir)?;
    let scenarios = if files.is_empty() {
        load_scenarios(&dir, &variants, None)?
    } else {
        let mut ok = Vec::new();
        let mut bad = false;
        for f in files {
            match scenario::load(f, &variants) {
                Ok(s) => ok.push(s),
                Err(e) => {
                    eprintln!("{:?}", miette::Report::new(e));
                    bad = true;
                }
            }
        }
        if bad {
            return Err(Exit(exit::BAD_INPUT));
        }
        ok
    };
    for s in &scenarios {
        println!(
            "ok  {}  ({} steps, variants: {})",
            s.path.display(),
            s.steps.len(),
            s.variants.join(", ")
        );
    }
    Ok(exit::SAME)
}

fn plan(cli: &Cli, stack: &str, variant: &str, format: Format) -> Result<u8, Exit> {
    let dir = scenarios_dir(cli)?;
    let variants = load_variants(&dir)?;
    let target: StackTarget = stack.parse().map_err(|e| {
        eprintln!("jitsi-harness: {e}");
        Exit(exit::BAD_INPUT)
    })?;
    let variant = variants.get(variant).map_err(|e| {
        eprintln!("jitsi-harness: {e}");
        Exit(exit::BAD_INPUT)
    })?;
    if target.family == harness::stack::Family::Fixture {
        let secret = harness::redact::Secret::new("");
        let spec = harness::stack::fixture::FixtureSpec::new(&target, variant, &secret, &secret)
            .map_err(|e| {
                eprintln!("jitsi-harness: {e}");
                Exit(exit::BAD_INPUT)
            })?;
        match format {
            Format::Json => println!(
                "{}",
                serde_json::to_string_pretty(&spec).unwrap_or_default()
            ),
            Format::Text => {
                println!(
                    "{target} {}: network jitsi-harness-RUN-*, ports on 127.0.0.1",
                    variant.name
                );
                for (name, env, cmd) in [
                    ("prosody", &spec.prosody_env, "fixture-prosody"),
                    ("focus", &spec.focus_env, "jitsi-harness-focus"),
                ] {
                    println!("  {name}: image {} ({cmd})", spec.image);
                    for (k, v) in env {
                        println!("    {k}={v}");
                    }
                }
                println!(
                    "  ready: GET /xmpp-websocket answers 200; focus logs `{}`",
                    harness::stack::focus::READY_LINE
                );
            }
        }
        return Ok(exit::SAME);
    }
    let plan = harness::stack::plan::plan(&target, variant).map_err(|e| {
        eprintln!("jitsi-harness: {e}");
        Exit(exit::BAD_INPUT)
    })?;
    match format {
        Format::Text => print!("{}", plan.render_text()),
        Format::Json => println!("{}", plan.to_json()),
    }
    Ok(exit::SAME)
}

async fn clean(kept: bool) -> Result<u8, Exit> {
    let d = docker::connect()
        .await
        .into_diagnostic()
        .map_err(|e| report(e, exit::INFRASTRUCTURE))?;
    let mut sweep = docker::sweep_leftovers(&d)
        .await
        .into_diagnostic()
        .map_err(|e| report(e, exit::INFRASTRUCTURE))?;
    if kept {
        let k = docker::remove_kept(&d)
            .await
            .into_diagnostic()
            .map_err(|e| report(e, exit::INFRASTRUCTURE))?;
        sweep.containers.extend(k.containers);
        sweep.networks.extend(k.networks);
    }
    println!(
        "removed {} container(s) and {} network(s){}",
        sweep.containers.len(),
        sweep.networks.len(),
        if sweep.containers.is_empty() {
            String::new()
        } else {
            format!(": {}", sweep.containers.join(", "))
        }
    );
    Ok(exit::SAME)
}

async fn run(cli: &Cli, args: &RunArgs) -> Result<u8, Exit> {
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
    let (reporter, bar) = harness::report::progress::reporter(total as u64, args.verbose);
    let cancel = harness::runner::cancel::install(Duration::from_secs(20));
    let options = MatrixOptions {
        targets,
        scenarios,
        variants,
        snapshots,
        artifacts: artifacts.clone(),
        keep: args.keep_stack,
        startup_timeout: Duration::from_secs(args.startup_timeout),
        settle: Duration::from_millis(args.settle_ms),
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
        harness::runner::cancel::emergency_cleanup();
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
    let any = |v: Verdict| results.iter().any(|r| r.verdict == v);
    let code = if any(Verdict::Failed) {
        exit::INFRASTRUCTURE
    } else if any(Verdict::Changed) || any(Verdict::New) {
        exit::CHANGED
    } else {
        exit::SAME
    };
    if code == exit::SAME && !args.keep_stack {
        // Nothing to look at: keep the artifacts root tidy.
        let _ = std::fs::remove_dir_all(&artifacts);
    } else if args.format == Format::Text {
        println!("artifacts: {}", artifacts.display());
    }
    Ok(code)
}
