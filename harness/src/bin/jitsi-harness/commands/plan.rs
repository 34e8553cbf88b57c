//! `jitsi-harness plan`: what a stack would start (containers, images, env, ports, waits), without
//! Docker; secrets print redacted.

use harness::stack::StackTarget;

use crate::args::{Cli, Format};
use crate::exit::{self, Exit};

use super::{load_variants, scenarios_dir};

/// Prints the plan of `stack` under `variant`.
pub fn plan(cli: &Cli, stack: &str, variant: &str, format: Format) -> Result<u8, Exit> {
    let dir = scenarios_dir(cli)?;
    let variants = load_variants(&dir)?;
    let bad_input = |e: &dyn std::fmt::Display| {
        eprintln!("jitsi-harness: {e}");
        Exit(exit::BAD_INPUT)
    };
    let target: StackTarget = stack.parse().map_err(|e| bad_input(&e))?;
    let variant = variants.get(variant).map_err(|e| bad_input(&e))?;
    if target.family == harness::stack::Family::Fixture {
        let secret = harness::redact::Secret::new("");
        let spec = harness::stack::fixture::FixtureSpec::new(&target, variant, &secret, &secret)
            .map_err(|e| bad_input(&e))?;
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
    let plan = harness::stack::plan::plan(&target, variant).map_err(|e| bad_input(&e))?;
    match format {
        Format::Text => print!("{}", plan.render_text()),
        Format::Json => println!("{}", plan.to_json()),
    }
    Ok(exit::SAME)
}
