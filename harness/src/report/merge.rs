//! `jitsi-harness report merge FILE...`: the JSON documents of sharded runs (`run --partition K/N
//! --format json`) read back into results, so every report — verdicts, comparisons across stacks, JUnit,
//! Markdown, HTML — is built exactly as for one unsharded run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::runner::outcome::{Outcome, ScenarioResult, UnmetExpectation};
use crate::stack::StackTarget;
use crate::timeline::Timeline;

/// Why the shards' documents cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file is not a `run --format json` document.
    #[error("{path} is not a `jitsi-harness run --format json` document: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, where.
        reason: String,
    },
    /// Two shards ran the same cell: the files are not shards of one run.
    #[error("{scenario} {variant} on {stack} is in more than one file; merge the shards of one run (each K of the same N once)")]
    Duplicate {
        /// The scenario.
        scenario: String,
        /// The variant.
        variant: String,
        /// The stack.
        stack: String,
    },
}

#[derive(Deserialize)]
struct Doc {
    #[serde(default)]
    stacks: Vec<String>,
    results: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    scenario: String,
    variant: String,
    stack: String,
    verdict: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    skipped: Option<String>,
    #[serde(default)]
    diff: Option<String>,
    #[serde(default)]
    infrastructure: Option<bool>,
    #[serde(default)]
    path: String,
    snapshot: String,
    artifacts: String,
    #[serde(default)]
    timeline: Option<Timeline>,
}

impl Entry {
    fn into_result(self) -> Result<ScenarioResult, String> {
        let target: StackTarget = self
            .stack
            .parse()
            .map_err(|e| format!("stack `{}`: {e}", self.stack))?;
        let outcome = match self.verdict.as_str() {
            "same" => Outcome::Same,
            "new" => Outcome::New,
            "changed" => Outcome::Changed {
                diff: self.diff.unwrap_or_default(),
            },
            "unmet" => Outcome::Unmet {
                expectations: self
                    .timeline
                    .as_ref()
                    .map(UnmetExpectation::of)
                    .unwrap_or_default(),
                diff: self.diff,
            },
            "failed" => Outcome::Failed {
                error: self.error.unwrap_or_default(),
                infrastructure: self.infrastructure.unwrap_or(true),
            },
            "skipped" => Outcome::Skipped {
                reason: self.skipped.unwrap_or_default(),
            },
            other => return Err(format!("unknown verdict `{other}`")),
        };
        Ok(ScenarioResult {
            scenario: self.scenario,
            path: self.path.into(),
            variant: self.variant,
            target,
            outcome,
            timeline: self.timeline,
            body: None,
            snapshot: self.snapshot.into(),
            written: None,
            withheld: false,
            artifacts: self.artifacts.into(),
            took: Duration::ZERO,
        })
    }
}

/// One shard's document: its stacks in the order given, and its results.
pub fn parse(
    text: &str,
    path: &Path,
) -> Result<(Vec<StackTarget>, Vec<ScenarioResult>), MergeError> {
    let bad = |reason: String| MergeError::Parse {
        path: path.to_path_buf(),
        reason,
    };
    let doc: Doc = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let stacks = doc
        .stacks
        .iter()
        .map(|s| s.parse().map_err(|e| bad(format!("stack `{s}`: {e}"))))
        .collect::<Result<Vec<StackTarget>, _>>()?;
    let results = doc
        .results
        .into_iter()
        .map(|e| e.into_result().map_err(bad))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((stacks, results))
}

/// The shards' documents as one run: stacks in the order given (first file first), results sorted as
/// `run` sorts them.
pub fn merge(files: &[PathBuf]) -> Result<(Vec<StackTarget>, Vec<ScenarioResult>), MergeError> {
    let mut stacks: Vec<StackTarget> = Vec::new();
    let mut results: Vec<ScenarioResult> = Vec::new();
    let mut seen = BTreeSet::new();
    for path in files {
        let text = std::fs::read_to_string(path).map_err(|source| MergeError::Read {
            path: path.clone(),
            source,
        })?;
        let (s, r) = parse(&text, path)?;
        for t in s {
            if !stacks.contains(&t) {
                stacks.push(t);
            }
        }
        for r in r {
            if !seen.insert((r.scenario.clone(), r.variant.clone(), r.target.clone())) {
                return Err(MergeError::Duplicate {
                    scenario: r.scenario,
                    variant: r.variant,
                    stack: r.target.to_string(),
                });
            }
            results.push(r);
        }
    }
    results.sort_by(|a, b| {
        (&a.scenario, &a.variant, &a.target).cmp(&(&b.scenario, &b.variant, &b.target))
    });
    Ok((stacks, results))
}
