//! Consumers of a run: the progress display while it runs, and the verdict at the end — a matrix of
//! scenario × stack for humans, or one JSON document for machines.

pub mod progress;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;

use crate::runner::matrix::{ScenarioResult, Verdict};

/// `{"results":[…]}`: the `--format json` document.
#[derive(Serialize)]
pub struct JsonReport<'a> {
    pub results: Vec<JsonResult<'a>>,
}

#[derive(Serialize)]
pub struct JsonResult<'a> {
    pub scenario: &'a str,
    pub variant: &'a str,
    pub stack: String,
    pub verdict: Verdict,
    pub steps: Vec<JsonStep>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<&'a str>,
    pub snapshot: String,
    pub artifacts: String,
}

#[derive(Serialize)]
pub struct JsonStep {
    pub step: String,
    /// The agreed moderators (real names), or `null` when observers disagree.
    pub moderators: Option<Vec<String>>,
    pub observers_agree: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub seen_by: BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub rejected: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmet: Vec<String>,
    pub converged: bool,
}

/// Builds the JSON document.
pub fn json(results: &[ScenarioResult]) -> JsonReport<'_> {
    JsonReport {
        results: results
            .iter()
            .map(|r| JsonResult {
                scenario: &r.scenario,
                variant: &r.variant,
                stack: r.target.to_string(),
                verdict: r.verdict,
                steps: r
                    .timeline
                    .iter()
                    .flat_map(|t| t.steps.iter())
                    .map(|s| {
                        let agree = s.observers_agree();
                        JsonStep {
                            step: s.label.clone(),
                            moderators: s.moderators().map(|m| m.into_iter().collect()),
                            observers_agree: agree,
                            seen_by: if agree {
                                BTreeMap::new()
                            } else {
                                s.views
                                    .iter()
                                    .map(|(o, v)| (o.clone(), v.moderators().into_iter().collect()))
                                    .collect()
                            },
                            rejected: s.rejected.clone(),
                            unmet: s.unmet.clone(),
                            converged: s.converged,
                        }
                    })
                    .collect(),
                error: r.error.as_deref(),
                diff: r.diff.as_deref(),
                snapshot: r.snapshot.display().to_string(),
                artifacts: r.artifacts.display().to_string(),
            })
            .collect(),
    }
}

fn cell(r: &ScenarioResult) -> String {
    let mut s = r.verdict.as_str().to_owned();
    if r.unmet > 0 {
        let _ = write!(s, " ({} unmet)", r.unmet);
    }
    s
}

/// The verdict matrix and, below it, what a reader needs for every result that is not `same`.
pub fn text(results: &[ScenarioResult]) -> String {
    let targets: BTreeSet<String> = results.iter().map(|r| r.target.to_string()).collect();
    let rows: BTreeSet<(&str, &str)> = results
        .iter()
        .map(|r| (r.scenario.as_str(), r.variant.as_str()))
        .collect();
    let by_cell: BTreeMap<(&str, &str, String), &ScenarioResult> = results
        .iter()
        .map(|r| {
            (
                (
                    r.scenario.as_str(),
                    r.variant.as_str(),
                    r.target.to_string(),
                ),
                r,
            )
        })
        .collect();
    let w_scenario = rows.iter().map(|r| r.0.len()).max().unwrap_or(8).max(8);
    let w_variant = rows.iter().map(|r| r.1.len()).max().unwrap_or(7).max(7);
    let w_cell = targets
        .iter()
        .map(|t| t.len())
        .chain(results.iter().map(|r| cell(r).len()))
        .max()
        .unwrap_or(7);
    let mut out = String::new();
    let _ = write!(out, "{:w_scenario$}  {:w_variant$}", "scenario", "variant");
    for t in &targets {
        let _ = write!(out, "  {t:w_cell$}");
    }
    out.push('\n');
    for (scenario, variant) in &rows {
        let _ = write!(out, "{scenario:w_scenario$}  {variant:w_variant$}");
        for t in &targets {
            let c = by_cell
                .get(&(*scenario, *variant, t.clone()))
                .map(|r| cell(r))
                .unwrap_or_else(|| "-".into());
            let _ = write!(out, "  {c:w_cell$}");
        }
        out.push('\n');
    }
    for r in results
        .iter()
        .filter(|r| r.verdict != Verdict::Same || r.unmet > 0)
    {
        let _ = writeln!(
            out,
            "\n{} {} on {}: {} ({})",
            r.scenario,
            r.variant,
            r.target,
            cell(r),
            r.path.display()
        );
        if let Some(e) = &r.error {
            for line in e.lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
        if let Some(d) = &r.diff {
            let _ = writeln!(out, "  golden {} vs this run:", r.snapshot.display());
            for line in d.lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
        if r.verdict == Verdict::New {
            if let Some(body) = &r.body {
                for line in body.lines() {
                    let _ = writeln!(out, "  {line}");
                }
            }
        }
        if r.verdict == Verdict::Same {
            for step in r.timeline.iter().flat_map(|t| t.unmet()) {
                for u in &step.unmet {
                    let _ = writeln!(
                        out,
                        "  step {} `{}` ({}): {u}",
                        step.index + 1,
                        step.label,
                        step.location
                    );
                }
            }
        }
        if let Some(w) = &r.written {
            let _ = writeln!(out, "  wrote {}", w.display());
        }
        let _ = writeln!(out, "  artifacts: {}", r.artifacts.display());
    }
    let count = |v: Verdict| results.iter().filter(|r| r.verdict == v).count();
    let _ = writeln!(
        out,
        "\n{} same, {} changed, {} new, {} failed",
        count(Verdict::Same),
        count(Verdict::Changed),
        count(Verdict::New),
        count(Verdict::Failed)
    );
    if count(Verdict::Changed) + count(Verdict::New) > 0 {
        let _ = writeln!(
            out,
            "review pending snapshots with `just review` (cargo insta review), or rerun with --accept"
        );
    }
    out
}
