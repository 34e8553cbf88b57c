//! `jitsi-harness list`: the scenarios and the variants they run under, as text or JSON.

use crate::args::{Cli, Format};
use crate::exit::{self, Exit};

use super::{load_scenarios, load_variants, one_line, scenarios_dir};

/// Prints every scenario (name, variants, step count, description) and every variant.
pub fn list(cli: &Cli, format: Format) -> Result<u8, Exit> {
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
                println!("    {}", one_line(&s.description));
            }
            println!("\nvariants:");
            for (name, v) in &variants.by_name {
                println!("  {name}: {}", one_line(&v.description));
            }
        }
    }
    Ok(exit::SAME)
}
