//! `jitsi-harness explain`: one scenario on one stack, its timeline printed with the cause of every
//! owner/moderator change and the evidence for it (text or JSON); `--html` writes the run's HTML report,
//! which carries the same causes.

use harness::explain;
use harness::stack::Variants;

use crate::args::{Cli, ExplainArgs, Format};
use crate::exit::{self, Exit};

use super::sweep::{check_settle, docker_cleanup, one_scenario, parse_targets, Session};
use super::{load_variants, scenarios_dir};

/// Runs the scenario, prints each change with its cause, and returns the exit code: 0 when the run met
/// the scenario's expectations, 1 when not, 3 when it could not run, 130 when interrupted.
pub async fn explain(cli: &Cli, args: &ExplainArgs) -> Result<u8, Exit> {
    let dir = scenarios_dir(cli)?;
    let variants = load_variants(&dir)?;
    let targets = parse_targets(std::slice::from_ref(&args.stack))?;
    let mut scenario = one_scenario(&dir, &variants, &args.scenario)?;
    check_settle(&scenario, args.options.settle_ms)?;
    if let Some(v) = &args.variant {
        if let Err(e) = variants.get(v) {
            eprintln!("jitsi-harness: --variant: {e}");
            return Err(Exit(exit::BAD_INPUT));
        }
        scenario.variants = vec![v.clone()];
    }
    let chosen = Variants {
        path: variants.path.clone(),
        by_name: variants
            .by_name
            .iter()
            .filter(|(name, _)| scenario.variants.contains(name))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect(),
    };
    let session = Session::start(&args.options, &targets).await?;
    let results = harness::runner::matrix::run_matrix(&session.matrix(
        &args.options,
        &targets[0],
        scenario.clone(),
        chosen,
    ))
    .await;
    session.bar.finish_and_clear();
    docker_cleanup(&session);
    if session.cancel.is_cancelled() {
        eprintln!("interrupted; artifacts in {}", session.artifacts.display());
        return Ok(exit::INTERRUPTED);
    }
    match args.options.format {
        Format::Json => {
            let runs: Vec<serde_json::Value> = results
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "scenario": r.scenario,
                        "variant": r.variant,
                        "target": r.target,
                        "verdict": r.verdict(),
                        "unmet": r.outcome.unmet(),
                        "error": r.outcome.error(),
                        "timeline": r.timeline,
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({ "explain": runs }))
                    .unwrap_or_default()
            );
        }
        Format::Text => {
            for r in &results {
                println!("{} under {} on {}:", r.scenario, r.variant, r.target);
                match &r.timeline {
                    Some(t) => print!("{}", explain::render_text(&t.steps)),
                    None => println!(
                        "  could not run: {}",
                        r.outcome.error().unwrap_or("no timeline")
                    ),
                }
                for u in r.outcome.unmet() {
                    println!("  unmet: {u}");
                }
            }
        }
    }
    let mut code = if results
        .iter()
        .any(|r| r.outcome.is_infrastructure() || r.timeline.is_none())
    {
        exit::INFRASTRUCTURE
    } else if results.iter().any(|r| !r.outcome.unmet().is_empty()) {
        exit::CHANGED
    } else {
        exit::SAME
    };
    if let Some(dir) = &args.options.html {
        match harness::report::html::write(dir, &results, &targets) {
            Ok(path) => eprintln!("HTML report: {}", path.display()),
            Err(e) => {
                eprintln!(
                    "jitsi-harness: cannot write the HTML report in {}: {e}",
                    dir.display()
                );
                code = code.max(exit::INFRASTRUCTURE);
            }
        }
    }
    session.finish(code);
    Ok(code)
}
