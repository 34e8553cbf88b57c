//! `--markdown PATH`: a compact summary for `$GITHUB_STEP_SUMMARY` — the verdict matrix with ✓/✗, the
//! comparison across stacks, the changed steps as `diff` blocks and the artifact folder names. GitHub
//! accepts at most 1 MiB per step summary (docs.github.com, "Adding a job summary"); when the details
//! would pass [`LIMIT`], they are cut with a note — the matrix is always kept whole.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use crate::runner::outcome::{ScenarioResult, Verdict};
use crate::stack::StackTarget;

use super::compare;

/// The size the summary is kept under: GitHub's 1 MiB step-summary limit, less room for a note.
pub const LIMIT: usize = 1024 * 1024 - 4096;

fn mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Same => "✓ same",
        Verdict::New => "? new",
        Verdict::Changed => "✗ changed",
        Verdict::Unmet => "✗ unmet",
        Verdict::Flaky => "✗ flaky",
        Verdict::Failed => "✗ failed",
        Verdict::Skipped => "– skipped",
    }
}

/// The longest run of backticks in `text`, plus one (a fence that `text` cannot close).
fn fence(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

/// A run's artifacts folder as the uploaded artifact names it: from the `run-…` folder on
/// (`run-1795954678-f8ab0a1a/fixture-13/jwt-auto-owner/handover`), else the whole path.
fn folder(artifacts: &Path) -> String {
    let parts: Vec<String> = artifacts
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    match parts.iter().rposition(|p| p.starts_with("run-")) {
        Some(i) => parts[i..].join("/"),
        None => artifacts.display().to_string(),
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The summary, at most `limit` bytes unless the matrix alone is longer.
pub fn render(results: &[ScenarioResult], stacks: &[StackTarget], limit: usize) -> String {
    let mut order: Vec<StackTarget> = stacks.to_vec();
    for r in results {
        if !order.contains(&r.target) {
            order.push(r.target.clone());
        }
    }
    let comparisons = compare::comparisons(results, stacks);
    let cases: BTreeSet<(&str, &str)> = results
        .iter()
        .map(|r| (r.scenario.as_str(), r.variant.as_str()))
        .collect();
    let mut out = String::from("## jitsi-harness\n\n");
    let count = |v: Verdict| results.iter().filter(|r| r.verdict() == v).count();
    let _ = writeln!(
        out,
        "{} same, {} changed, {} new, {} unmet, {} failed\n",
        count(Verdict::Same),
        count(Verdict::Changed),
        count(Verdict::New),
        count(Verdict::Unmet),
        count(Verdict::Failed)
    );
    out.push_str("| scenario | variant |");
    for t in &order {
        let _ = write!(out, " {} |", cell(&t.to_string()));
    }
    out.push_str(" across stacks |\n|---|---|");
    for _ in &order {
        out.push_str("---|");
    }
    out.push_str("---|\n");
    for (s, v) in &cases {
        let _ = write!(out, "| {} | {} |", cell(s), cell(v));
        for t in &order {
            let c = results
                .iter()
                .find(|r| r.scenario == *s && r.variant == *v && &r.target == t)
                .map(|r| mark(r.verdict()))
                .unwrap_or("–");
            let _ = write!(out, " {c} |");
        }
        let across = comparisons
            .iter()
            .find(|c| c.scenario == *s && c.variant == *v)
            .map(|c| match &c.first_differing {
                Some(first) => format!("first differs on {}", cell(first)),
                None => "same".into(),
            })
            .unwrap_or_default();
        let _ = writeln!(out, " {across} |");
    }
    // The details, each whole or not at all.
    let mut details: Vec<String> = Vec::new();
    for c in comparisons.iter().filter(|c| c.first_differing.is_some()) {
        let mut d = format!("\n### {} · {} across stacks\n\n", c.scenario, c.variant);
        let mut body = String::new();
        for change in &c.changes {
            let _ = writeln!(body, "{} vs {}:", change.stack, change.previous);
            for step in &change.steps {
                for seat in &step.seats {
                    let _ = writeln!(
                        body,
                        "  step {} `{}` {}: {} -> {}",
                        step.step, step.label, seat.participant, seat.before, seat.after
                    );
                }
            }
        }
        let f = fence(&body);
        let _ = write!(d, "{f}\n{body}{f}\n");
        details.push(d);
    }
    for r in results.iter().filter(|r| r.verdict() != Verdict::Same) {
        let mut d = format!(
            "\n### {} · {} on {}: {}\n\n",
            r.scenario,
            r.variant,
            r.target,
            mark(r.verdict())
        );
        for u in r.outcome.unmet() {
            let _ = writeln!(d, "- {u}");
        }
        if let Some(e) = r.outcome.error() {
            let f = fence(e);
            let _ = write!(d, "{f}\n{e}\n{f}\n");
        }
        if let Some(diff) = r.outcome.diff() {
            let f = fence(diff);
            if !d.ends_with("\n\n") {
                d.push('\n');
            }
            let _ = write!(d, "{f}diff\n{diff}{f}\n");
        }
        let _ = writeln!(d, "\nartifacts: `{}`", folder(&r.artifacts));
        details.push(d);
    }
    let total = details.len();
    for (i, d) in details.into_iter().enumerate() {
        if out.len() + d.len() > limit {
            let _ = write!(
                out,
                "\n> {} of {total} details left out to stay under GitHub's 1 MiB step-summary limit; \
the JSON report (`--format json`) and the artifacts have them all.\n",
                total - i
            );
            break;
        }
        out.push_str(&d);
    }
    out
}

/// Writes the summary to `path`, kept under [`LIMIT`].
pub fn write(
    path: &Path,
    results: &[ScenarioResult],
    stacks: &[StackTarget],
) -> std::io::Result<()> {
    std::fs::write(path, render(results, stacks, LIMIT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::compare::tests::result;
    use crate::runner::outcome::Outcome;

    fn run() -> Vec<ScenarioResult> {
        vec![
            result("fixture:0.12", ("owner", "moderator"), Outcome::Same),
            result(
                "fixture:13",
                ("none", "participant"),
                Outcome::Changed {
                    diff: "-  - \"3. a\"\n+  - \"3. b\"\n".into(),
                },
            ),
        ]
    }

    #[test]
    fn the_summary_has_the_matrix_the_diff_and_the_artifact_folder() {
        let stacks: Vec<StackTarget> = ["fixture:0.12", "fixture:13"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let md = render(&run(), &stacks, LIMIT);
        assert!(
            md.contains("| scenario | variant | fixture:0.12 | fixture:13 | across stacks |\n"),
            "{md}"
        );
        assert!(md.contains("| handover | jwt-auto-owner | ✓ same | ✗ changed | first differs on fixture:13 |\n"), "{md}");
        assert!(
            md.contains("```diff\n-  - \"3. a\"\n+  - \"3. b\"\n```\n"),
            "{md}"
        );
        assert!(
            md.contains("step 3 `leave alice` bob: owner/moderator -> none/participant"),
            "{md}"
        );
        assert!(md.contains("artifacts: `run-1/fixture-13`"), "{md}");
    }

    #[test]
    fn details_are_cut_with_a_note_but_the_matrix_is_kept() {
        let mut many = Vec::new();
        for i in 0..200 {
            for mut r in run() {
                r.scenario = format!("scenario_{i:03}");
                many.push(r);
            }
        }
        let md = render(&many, &[], 20_000);
        assert!(md.len() <= 20_000 + 300, "{}", md.len());
        assert!(
            md.contains("| scenario_199 | jwt-auto-owner |"),
            "the matrix is whole"
        );
        assert!(
            md.contains("details left out to stay under GitHub's 1 MiB"),
            "{md}"
        );
    }
}
