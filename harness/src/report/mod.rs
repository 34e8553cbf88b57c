//! Consumers of a run: the progress lines while it runs, and the verdict at the end — a matrix of
//! scenario × stack for humans, or one JSON document for machines. Everything here renders text; only the
//! binary writes it to the terminal.

pub mod compare;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod merge;
pub mod progress;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;

use crate::runner::outcome::{DifferingRun, Outcome, ScenarioResult, Verdict};
use crate::stack::StackTarget;
use crate::timeline::Timeline;

use self::compare::Comparison;

/// `{"stacks":[…],"results":[…],"comparisons":[…]}`: the `--format json` document.
#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    /// The stacks in the order given (the order comparisons follow).
    pub stacks: Vec<String>,
    /// One entry per scenario × variant × stack, sorted.
    pub results: Vec<JsonResult<'a>>,
    /// Per scenario × variant run on two stacks or more of one family: the first stack whose timeline
    /// differs from its predecessor, and the differing steps.
    pub comparisons: Vec<Comparison>,
}

/// One cell of the verdict matrix in the JSON document.
#[derive(Debug, Serialize)]
pub struct JsonResult<'a> {
    /// The scenario's name.
    pub scenario: &'a str,
    /// The variant it ran under.
    pub variant: &'a str,
    /// The stack it ran on (`fixture:13`).
    pub stack: String,
    /// `same`, `changed`, `new`, `unmet`, `failed` or `flaky`.
    pub verdict: Verdict,
    /// How many times it ran and the runs that differ from the first, when the verdict is `flaky`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flaky: Option<JsonFlaky<'a>>,
    /// Every step observed (empty when the scenario failed before its first step).
    pub steps: Vec<JsonStep>,
    /// The unmet expectations (`step 2 `leave alice` (file:line): …`), when the verdict is `unmet`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmet: Vec<String>,
    /// What failed, when the verdict is `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    /// Why it was not run, when the verdict is `skipped`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<&'a str>,
    /// The differing step lines against the golden snapshot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<&'a str>,
    /// Whether the infrastructure failed rather than Jitsi, when the verdict is `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub infrastructure: Option<bool>,
    /// The scenario file.
    pub path: String,
    /// The golden snapshot file.
    pub snapshot: String,
    /// This run's logs and transcripts.
    pub artifacts: String,
    /// The whole timeline (every observer's view per step), from which `report merge` rebuilds the
    /// comparisons and reports of sharded runs.
    pub timeline: Option<&'a Timeline>,
}

/// The repetitions of a flaky result.
#[derive(Debug, Serialize)]
pub struct JsonFlaky<'a> {
    /// How many times the scenario ran.
    pub repeat: usize,
    /// The runs that differ from the first, with the differing lines.
    pub differing: &'a [DifferingRun],
}

/// One step of a timeline in the JSON document.
#[derive(Debug, Serialize)]
pub struct JsonStep {
    /// The step's label (`leave alice`).
    pub step: String,
    /// The agreed moderators (real names), or `null` when observers disagree.
    pub moderators: Option<Vec<String>>,
    /// Whether every observer saw the same room.
    pub observers_agree: bool,
    /// Each observer's moderators, when they disagree.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub seen_by: BTreeMap<String, Vec<String>>,
    /// Participants whose join was refused, with the reason.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub rejected: BTreeMap<String, String>,
    /// Participants waiting outside the room (lobby, wait-for-host), with what holds them.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub waiting: BTreeMap<String, crate::timeline::Waiting>,
    /// This step's expectations that were not met.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmet: Vec<String>,
    /// Whether the room settled before the step's deadline.
    pub converged: bool,
}

/// Builds the JSON document; `stacks` is the order given on the command line.
pub fn json<'a>(results: &'a [ScenarioResult], stacks: &[StackTarget]) -> JsonReport<'a> {
    JsonReport {
        stacks: stacks.iter().map(ToString::to_string).collect(),
        comparisons: compare::comparisons(results, stacks),
        results: results
            .iter()
            .map(|r| JsonResult {
                scenario: &r.scenario,
                variant: &r.variant,
                stack: r.target.to_string(),
                verdict: r.verdict(),
                flaky: match &r.outcome {
                    Outcome::Flaky { repeat, differing } => Some(JsonFlaky {
                        repeat: *repeat,
                        differing,
                    }),
                    _ => None,
                },
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
                            waiting: s.waiting.clone(),
                            unmet: s.unmet.clone(),
                            converged: s.converged,
                        }
                    })
                    .collect(),
                unmet: r.outcome.unmet().iter().map(|u| u.to_string()).collect(),
                error: r.outcome.error(),
                skipped: r.outcome.skip_reason(),
                diff: r.outcome.diff(),
                infrastructure: r.outcome.error().map(|_| r.outcome.is_infrastructure()),
                path: r.path.display().to_string(),
                snapshot: r.snapshot.display().to_string(),
                artifacts: r.artifacts.display().to_string(),
                timeline: r.timeline.as_ref(),
            })
            .collect(),
    }
}

fn cell(r: &ScenarioResult) -> String {
    let mut s = r.verdict().as_str().to_owned();
    let unmet = r.outcome.unmet().len();
    if unmet > 0 {
        let _ = write!(s, " ({unmet})");
    }
    if let Outcome::Flaky { repeat, differing } = &r.outcome {
        let _ = write!(s, " ({} of {repeat} differ)", differing.len());
    }
    s
}

/// The verdict matrix, below it what a reader needs for every result that is not `same`, and the
/// comparison across stacks of one family (`stacks` is the order given on the command line).
pub fn text(results: &[ScenarioResult], stacks: &[StackTarget]) -> String {
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
    for r in results.iter().filter(|r| r.verdict() != Verdict::Same) {
        let _ = writeln!(
            out,
            "\n{} {} on {}: {} ({})",
            r.scenario,
            r.variant,
            r.target,
            cell(r),
            r.path.display()
        );
        if let Some(e) = r.outcome.error() {
            for line in e.lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
        if let Some(reason) = r.outcome.skip_reason() {
            let _ = writeln!(out, "  skipped: {reason}");
        }
        for u in r.outcome.unmet() {
            let _ = writeln!(out, "  {u}");
        }
        for run in r.outcome.differing() {
            for line in run.to_string().lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
        if let Some(d) = r.outcome.diff() {
            let _ = writeln!(out, "  golden {} vs this run:", r.snapshot.display());
            for line in d.lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
        if r.verdict() == Verdict::New {
            if let Some(body) = &r.body {
                for line in body.lines() {
                    let _ = writeln!(out, "  {line}");
                }
            }
        }
        if let Some(w) = &r.written {
            let _ = writeln!(out, "  wrote {}", w.display());
        }
        if r.withheld {
            let _ = writeln!(
                out,
                "  no snapshot written: a timeline with unmet expectations is never a golden snapshot; \
change the scenario file ({}) first if Jitsi's behaviour is meant to change",
                r.path.display()
            );
        }
        let _ = writeln!(out, "  artifacts: {}", r.artifacts.display());
    }
    out.push_str(&compare::text(&compare::comparisons(results, stacks)));
    let count = |v: Verdict| results.iter().filter(|r| r.verdict() == v).count();
    let unmet = match count(Verdict::Unmet) {
        0 => String::new(),
        n => format!(", {n} unmet"),
    };
    let flaky = match count(Verdict::Flaky) {
        0 => String::new(),
        n => format!(", {n} flaky"),
    };
    let flaky = match count(Verdict::Skipped) {
        0 => flaky,
        n => format!("{flaky}, {n} skipped"),
    };
    let _ = writeln!(
        out,
        "\n{} same, {} changed, {} new{unmet}, {} failed{flaky}",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::outcome::{Outcome, UnmetExpectation};
    use std::time::Duration;

    fn result(outcome: Outcome, withheld: bool) -> ScenarioResult {
        ScenarioResult {
            scenario: "handover".into(),
            path: "scenarios/handover.toml".into(),
            variant: "jwt-auto-owner".into(),
            target: "fixture:13".parse().unwrap(),
            outcome,
            timeline: None,
            body: None,
            snapshot: "snapshots/fixture/handover@jwt-auto-owner.snap".into(),
            written: None,
            withheld,
            artifacts: "artifacts/run".into(),
            took: Duration::ZERO,
        }
    }

    fn unmet(diff: Option<&str>) -> Outcome {
        Outcome::Unmet {
            expectations: vec![UnmetExpectation {
                step: 2,
                label: "leave alice".into(),
                location: "scenarios/handover.toml:12".into(),
                expectation: "moderator count: expected 1, saw 0 (nobody)".into(),
            }],
            diff: diff.map(str::to_owned),
        }
    }

    /// A skipped result says why in every report, and is never shown as passed.
    #[test]
    fn a_skipped_result_says_why_in_every_report_and_never_passes() {
        let why = "jitsi:stable-9364 cannot provide `token_affiliation`: no module";
        let r = result(Outcome::Skipped { reason: why.into() }, false);
        let results = [r];
        let stacks = ["fixture:13".parse().unwrap()];
        let text = text(&results, &stacks);
        assert!(text.contains("skipped") && text.contains(why), "{text}");
        assert!(
            text.contains("0 same") && text.contains(", 1 skipped"),
            "{text}"
        );
        let junit = junit::report(&results, &stacks)
            .to_string()
            .unwrap_or_default();
        assert!(
            junit.contains("<skipped") && junit.contains("token_affiliation"),
            "{junit}"
        );
        let md = markdown::render(&results, &stacks, markdown::LIMIT);
        assert!(md.contains("– skipped") && !md.contains("✓"), "{md}");
        let merged = serde_json::to_string(&json(&results, &stacks)).unwrap_or_default();
        assert!(
            merged.contains("\"verdict\":\"skipped\"")
                && merged.contains("\"skipped\":\"jitsi:stable-9364"),
            "{merged}"
        );
    }

    #[test]
    fn an_unmet_result_is_its_own_verdict_with_its_expectations_listed() {
        let mut same = result(Outcome::Same, false);
        same.variant = "jwt-guests".into();
        let text = text(&[result(unmet(None), false), same], &[]);
        assert!(text.contains("  unmet (1)"), "{text}");
        assert!(
            text.contains("\n  step 2 `leave alice` (scenarios/handover.toml:12): moderator count: expected 1, saw 0 (nobody)\n"),
            "{text}"
        );
        assert!(!text.contains("vs this run"), "{text}");
        assert!(
            text.contains("\n1 same, 0 changed, 0 new, 1 unmet, 0 failed\n"),
            "{text}"
        );
    }

    #[test]
    fn an_unmet_result_still_shows_its_diff_and_why_nothing_was_written() {
        let text = text(
            &[result(unmet(Some("-  - \"2. a\"\n+  - \"2. b\"\n")), true)],
            &[],
        );
        assert!(
            text.contains("golden snapshots/fixture/handover@jwt-auto-owner.snap vs this run:\n  -  - \"2. a\"\n  +  - \"2. b\"\n"),
            "{text}"
        );
        assert!(text.contains("no snapshot written"), "{text}");
        let doc =
            serde_json::to_value(json(&[result(unmet(Some("-a\n+b\n")), true)], &[])).unwrap();
        assert_eq!(doc["results"][0]["verdict"], "unmet");
        assert_eq!(
            doc["results"][0]["unmet"][0],
            "step 2 `leave alice` (scenarios/handover.toml:12): moderator count: expected 1, saw 0 (nobody)"
        );
        assert_eq!(doc["results"][0]["diff"], "-a\n+b\n");
    }

    #[test]
    fn a_flaky_result_is_its_own_verdict_with_its_differing_runs_in_text_and_json() {
        let flaky = Outcome::Flaky {
            repeat: 3,
            differing: vec![DifferingRun {
                run: 2,
                diff: "-  - \"3. leave alice -> moderators: bob\"\n+  - \"3. leave alice -> moderators: carol\"\n"
                    .into(),
            }],
        };
        let text = text(&[result(flaky.clone(), false)], &[]);
        assert!(text.contains("  flaky (1 of 3 differ)"), "{text}");
        assert!(
            text.contains("\n  run 2 differs from run 1:\n    -  - \"3. leave alice -> moderators: bob\"\n    +  - \"3. leave alice -> moderators: carol\"\n"),
            "{text}"
        );
        assert!(
            text.contains("\n0 same, 0 changed, 0 new, 0 failed, 1 flaky\n"),
            "{text}"
        );
        let doc = serde_json::to_value(json(&[result(flaky, false)], &[])).unwrap();
        assert_eq!(doc["results"][0]["verdict"], "flaky");
        assert_eq!(doc["results"][0]["flaky"]["repeat"], 3);
        assert_eq!(doc["results"][0]["flaky"]["differing"][0]["run"], 2);
        assert!(doc["results"][0]["flaky"]["differing"][0]["diff"]
            .as_str()
            .is_some_and(|d| d.contains("+  - \"3. leave alice -> moderators: carol\"")));
    }

    #[test]
    fn a_run_without_unmet_results_keeps_its_summary_line() {
        let text = text(&[result(Outcome::Same, false)], &[]);
        assert!(
            text.ends_with("\n1 same, 0 changed, 0 new, 0 failed\n"),
            "{text}"
        );
    }

    #[test]
    fn the_json_document_carries_the_stacks_in_order_and_the_comparisons() {
        use compare::tests::result as run;
        let results = [
            run("fixture:0.12", ("owner", "moderator"), Outcome::Same),
            run("fixture:13", ("none", "participant"), Outcome::Same),
        ];
        let stacks: Vec<StackTarget> = ["fixture:13", "fixture:0.12"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let doc = serde_json::to_value(json(&results, &stacks)).unwrap();
        assert_eq!(
            doc["stacks"],
            serde_json::json!(["fixture:13", "fixture:0.12"])
        );
        let c = &doc["comparisons"][0];
        assert_eq!(c["first_differing"], "fixture:0.12");
        assert_eq!(
            c["changes"][0]["steps"][0],
            serde_json::json!({"step": 3, "label": "leave alice",
                "seats": [{"participant": "bob", "before": "none/participant", "after": "owner/moderator"}]})
        );
        let text = text(&results, &stacks);
        assert!(text.contains("first differs on fixture:0.12"), "{text}");
    }
}
