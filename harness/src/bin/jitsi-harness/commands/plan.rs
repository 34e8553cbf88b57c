//! `jitsi-harness plan`: what a stack would start (containers, images, env, ports, waits), without
//! Docker; secrets print redacted.

use harness::stack::{fixture, jitsi, Family, StackTarget};

use crate::args::{Cli, Format};
use crate::exit::{self, Exit};

use super::{load_variants, scenarios_dir};

/// Prints the plan of `stack` under `variant`.
pub fn plan(
    cli: &Cli,
    stack: &str,
    variant: &str,
    registry: Option<&str>,
    format: Format,
) -> Result<u8, Exit> {
    let dir = scenarios_dir(cli)?;
    let variants = load_variants(&dir)?;
    let bad_input = |e: &dyn std::fmt::Display| {
        eprintln!("jitsi-harness: {e}");
        Exit(exit::BAD_INPUT)
    };
    let target: StackTarget = stack.parse().map_err(|e| bad_input(&e))?;
    let variant = variants.get(variant).map_err(|e| bad_input(&e))?;
    let (text, json) = match target.family {
        Family::Fixture => {
            let plan = fixture::plan(&target, variant).map_err(|e| bad_input(&e))?;
            (plan.render_text(), plan.to_json())
        }
        _ => {
            let plan = jitsi::plan_from(&target, variant, registry).map_err(|e| bad_input(&e))?;
            (plan.render_text(), plan.to_json())
        }
    };
    match format {
        Format::Text => print!("{text}"),
        Format::Json => println!("{json}"),
    }
    Ok(exit::SAME)
}
