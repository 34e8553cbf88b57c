//! Scenario files: the first box of the data flow. TOML comes in, a validated [`Scenario`] goes
//! out (or a [`ScenarioError`] that lists every problem in the file, each pointing at its
//! `file:line:col`).
//!
//! ```text
//! scenarios/NAME.toml ─► parse (toml, spans kept) ─► validate (names, order, expectations) ─► Scenario
//!                                  └──────────── problems ───────────┘─► ScenarioError (miette)
//! ```
//!
//! # The format
//!
//! One file per scenario under `scenarios/` or a subfolder; the file stem is the scenario's name
//! (`^[a-z0-9][a-z0-9_-]*$`). Scenarios read like the bug reports they come from
//! (e.g. jitsi/docker-jitsi-meet#1465, jitsi/jicofo#15):
//!
//! ```toml
//! description = """When the moderator leaves, exactly one of the others becomes moderator."""
//! source = "https://github.com/jitsi/docker-jitsi-meet/issues/1465"   # optional
//! variants = ["jwt-guests"]        # at least one, from scenarios/variants.toml
//! timeout = "10s"                  # optional per-step deadline (default 10s)
//!
//! [participants]
//! alice = {}                                   # transport = "bot", login = "token"
//! bob = { transport = "browser" }
//! guest1 = { login = "guest" }                 # anonymous, guest domain, no token
//! anon = { login = "none" }                    # main domain without a token
//! eve = { token = { claims = { "context.user.moderator" = "true" } } }
//! carol = { nick = "carol_2" }                 # MUC nick, default: the name
//!
//! [[step]]
//! join = ["alice"]                  # or several at once
//! moderators = ["alice"]            # exactly this set is moderator
//!
//! [[step]]
//! join = ["bob", "carol"]
//! moderator_count = 1
//!
//! [[step]]
//! leave = "alice"                   # clean leave; `disconnect` drops the socket
//! moderators_one_of = ["bob", "carol"]
//! ```
//!
//! A step has exactly one action: `join = [..]`, `leave`, `disconnect`, `rejoin` (one name
//! each), `wait = "2s"`, `grant = { by, to }`, `kick = { by, who }`, `presence = { who, muted,
//! raise_hand, nick }` (a presence update as the web app sends it). Where the focus chose someone,
//! `leave`, `disconnect`, `kick`'s `by` or `who` and `grant`'s `by` may name "whoever is moderator
//! now": `leave = { moderator = true }`. Expectations, all optional:
//! `moderators` (exact set), `moderators_one_of` (exactly one of ≥ 2 names), `moderator_count`,
//! `rejected` (participants of this step's join that must be refused). The list expectations may
//! differ per variant: `moderators = { jwt-jicofo-auth = ["alice", "bob"], jwt-auto-owner = ["alice"] }`.
//! `note` and `timeout` are per step. Unknown keys are errors: a typo would otherwise silently test
//! nothing.
//!
//! `requires = ["lobby"]` (top level) names features a stack must provide
//! ([`crate::stack::FEATURES`]); on a stack that cannot, the scenario is skipped with the reason.
//! Scenario files may sit in subfolders of `scenarios/`; names (file stems) stay unique across them.
//!
//! Steps are numbered from 1 in messages; [`Step::index`] is 0-based.

mod diagnostic;
mod duration;
mod model;
mod parse;
mod validate;

#[cfg(test)]
mod language_tests;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use diagnostic::{InvalidScenario, Problem, ScenarioError};
pub use model::{
    Action, Expect, Login, ModeratorAction, ParticipantSpec, PresenceUpdate, Scenario, Step,
    Transport, DEFAULT_TIMEOUT,
};
pub use validate::{MAX_DURATION, MAX_NICK_BYTES, MAX_TOKEN_OVERRIDE_BYTES};

use crate::stack::variant::Variants;

/// The variants file that lives next to the scenarios and is not one.
const VARIANTS_FILE: &str = "variants.toml";

/// Reads, parses and checks one scenario file. `path` is used as given in messages, so pass it
/// relative to the working directory.
pub fn load(path: &Path, variants: &Variants) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text, variants)
}

/// Parses and checks the text of a scenario file; `path` names the scenario (its stem) and the
/// file in messages.
pub fn parse(path: &Path, text: &str, variants: &Variants) -> Result<Scenario, ScenarioError> {
    let name = scenario_name(path)?;
    let mut problems = Vec::new();
    let scenario = parse::read(text, &mut problems).and_then(|raw| {
        validate::validate(raw, name, path.to_owned(), text, variants, &mut problems)
    });
    match scenario {
        Some(scenario) if problems.is_empty() => Ok(scenario),
        _ => Err(ScenarioError::Invalid(Box::new(InvalidScenario::new(
            path.to_owned(),
            text,
            problems,
        )))),
    }
}

/// The scenario files under `dir` and its subfolders (`*.toml` except `variants.toml`), sorted by path.
/// `glob` keeps those whose scenario name (file stem) matches, e.g. `auto_owner_*`. Names stay unique
/// across folders: two files with one stem are [`ScenarioError::DuplicateName`], naming both (snapshots
/// are named by the stem alone). Folders whose name starts with `.` are not searched.
pub fn discover(dir: &Path, glob: Option<&str>) -> Result<Vec<PathBuf>, ScenarioError> {
    let matcher = glob
        .map(|g| {
            globset::Glob::new(g)
                .map(|g| g.compile_matcher())
                .map_err(|source| ScenarioError::Glob {
                    glob: g.to_owned(),
                    source,
                })
        })
        .transpose()?;
    let mut all = Vec::new();
    walk(dir, &mut all)?;
    all.sort();
    let mut by_name: std::collections::BTreeMap<String, PathBuf> = Default::default();
    let mut found = Vec::new();
    for path in all {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(first) = by_name.get(&stem) {
            return Err(ScenarioError::DuplicateName {
                name: stem,
                first: first.clone(),
                second: path,
            });
        }
        by_name.insert(stem.clone(), path.clone());
        if matcher.as_ref().is_some_and(|m| !m.is_match(&stem)) {
            continue;
        }
        found.push(path);
    }
    Ok(found)
}

/// Every `*.toml` file under `dir` except `variants.toml`, depth first.
fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), ScenarioError> {
    let list_error = |source| ScenarioError::ListDir {
        dir: dir.to_owned(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(list_error)? {
        let path = entry.map_err(list_error)?.path();
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if path.is_dir() {
            if !hidden {
                walk(&path, found)?;
            }
            continue;
        }
        let is_toml = path.extension().is_some_and(|e| e == "toml");
        let is_variants = path.file_name().is_some_and(|n| n == VARIANTS_FILE);
        if is_toml && !is_variants && path.is_file() {
            found.push(path);
        }
    }
    Ok(())
}

/// The scenario name of a file: its stem, which must match `^[a-z0-9][a-z0-9_-]*$` (it names
/// snapshots, test trials and report rows).
fn scenario_name(path: &Path) -> Result<String, ScenarioError> {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut chars = stem.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        // The one rule for names that become paths (length included) holds for scenario names too.
        && crate::paths::check_name(&stem).is_ok();
    if valid {
        Ok(stem)
    } else {
        Err(ScenarioError::Name {
            path: path.to_owned(),
            stem,
        })
    }
}
