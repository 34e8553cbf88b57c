//! One file per command, and what they share: finding the scenarios folder and loading its files.

pub mod bisect;
pub mod check;
pub mod clean;
pub mod explain;
pub mod list;
pub mod plan;
pub mod releases;
pub mod report;
pub mod run;
pub mod sweep;
pub mod token;

use std::path::{Path, PathBuf};

use miette::IntoDiagnostic;

use harness::scenario::{self, Scenario};
use harness::stack::Variants;

use crate::args::Cli;
use crate::exit::{self, report, Exit};

/// The scenarios folder: `--scenarios`, else `./scenarios`, else the nearest parent's `scenarios/`.
pub fn scenarios_dir(cli: &Cli) -> Result<PathBuf, Exit> {
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

/// `variants.toml` of the scenarios folder.
pub fn load_variants(dir: &Path) -> Result<Variants, Exit> {
    Variants::load(&dir.join("variants.toml"))
        .into_diagnostic()
        .map_err(|e| report(e, exit::BAD_INPUT))
}

/// Every scenario file of `dir` (whose name matches `glob`), each problem of each file reported.
pub fn load_scenarios(
    dir: &Path,
    variants: &Variants,
    glob: Option<&str>,
) -> Result<Vec<Scenario>, Exit> {
    let paths = scenario::discover(dir, glob).map_err(|e| report(e.into(), exit::BAD_INPUT))?;
    load_files(&paths, variants)
}

/// The given scenario files, each problem of each file reported.
pub fn load_files(paths: &[PathBuf], variants: &Variants) -> Result<Vec<Scenario>, Exit> {
    let mut scenarios = Vec::new();
    let mut bad = false;
    for path in paths {
        match scenario::load(path, variants) {
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

/// `text` on one line: runs of whitespace (the TOML files wrap descriptions) become one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
