//! `jitsi-harness check`: validates scenario files (all of them by default) without Docker.

use std::path::PathBuf;

use crate::args::Cli;
use crate::exit::{self, Exit};

use super::{load_files, load_scenarios, load_variants, scenarios_dir};

/// Loads `files` (or every scenario) and prints one `ok` line each; every problem is reported (exit 2).
pub fn check(cli: &Cli, files: &[PathBuf]) -> Result<u8, Exit> {
    let dir = scenarios_dir(cli)?;
    let variants = load_variants(&dir)?;
    let scenarios = if files.is_empty() {
        load_scenarios(&dir, &variants, None)?
    } else {
        load_files(files, &variants)?
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
