//! `--junit PATH`: the run as JUnit XML through quick-junit (cargo-nextest's own writer). One test suite
//! per stack, one test case per scenario × variant on it (`scenario@variant`): `same` passes; `changed`
//! and `unmet` are failures whose description is the step diff or the unmet expectations (and, for a
//! stack that differs from the one before it, the differing seats); `failed` is an error; `new` (no
//! golden snapshot to judge against) is skipped with that reason.

use std::path::Path;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::runner::outcome::{Outcome, ScenarioResult};
use crate::stack::StackTarget;

use super::compare::{self, Comparison};

/// The report's name in the XML.
pub const NAME: &str = "jitsi-harness";

/// The seats of `result`'s stack that differ from the previous stack's, as text, if any.
fn across(result: &ScenarioResult, comparisons: &[Comparison]) -> Option<String> {
    let stack = result.target.to_string();
    let change = comparisons
        .iter()
        .filter(|c| c.scenario == result.scenario && c.variant == result.variant)
        .flat_map(|c| &c.changes)
        .find(|ch| ch.stack == stack)?;
    let mut out = format!("differs from {}:\n", change.previous);
    for step in &change.steps {
        out.push_str(&format!("step {} `{}`:\n", step.step, step.label));
        for s in &step.seats {
            out.push_str(&format!(
                "  {}: {} -> {}\n",
                s.participant, s.before, s.after
            ));
        }
    }
    Some(out)
}

fn case(result: &ScenarioResult, comparisons: &[Comparison]) -> TestCase {
    let across = across(result, comparisons);
    let with_across = |mut text: String| {
        if let Some(a) = &across {
            text.push_str("\nacross stacks: ");
            text.push_str(a);
        }
        text
    };
    let status = match &result.outcome {
        Outcome::Same => TestCaseStatus::success(),
        Outcome::Changed { diff } => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(format!(
                "timeline changed against {}",
                result.snapshot.display()
            ))
            .set_type("changed")
            .set_description(with_across(diff.clone()));
            s
        }
        Outcome::Unmet { expectations, diff } => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let mut text: String = expectations.iter().map(|u| format!("{u}\n")).collect();
            if let Some(d) = diff {
                text.push_str(&format!(
                    "golden {} vs this run:\n{d}",
                    result.snapshot.display()
                ));
            }
            s.set_message(format!(
                "{} expectation(s) of {} not met",
                expectations.len(),
                result.path.display()
            ))
            .set_type("unmet")
            .set_description(with_across(text));
            s
        }
        Outcome::Flaky { repeat, differing } => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let text: String = differing.iter().map(|d| format!("{d}\n")).collect();
            s.set_message(format!(
                "flaky: {} of {repeat} runs differ from the first",
                differing.len()
            ))
            .set_type("flaky")
            .set_description(with_across(text));
            s
        }
        Outcome::Skipped { reason } => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(format!("skipped: {reason}"))
                .set_type("skipped");
            s
        }
        Outcome::New => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(format!(
                "no golden snapshot yet ({}); review the pending one with `cargo insta review` or rerun with --accept",
                result.snapshot.display()
            ))
            .set_type("new");
            s
        }
        Outcome::Failed {
            error,
            infrastructure,
        } => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            let first = error.lines().next().unwrap_or_default().to_owned();
            s.set_message(first)
                .set_type(if *infrastructure {
                    "infrastructure"
                } else {
                    "participant"
                })
                .set_description(error.clone());
            s
        }
    };
    let mut case = TestCase::new(format!("{}@{}", result.scenario, result.variant), status);
    case.set_classname(format!("{}.{}", result.target, result.scenario))
        .set_time(result.took)
        .add_property(Property::new(
            "artifacts",
            result.artifacts.display().to_string(),
        ))
        .add_property(Property::new(
            "scenario_file",
            result.path.display().to_string(),
        ));
    case
}

/// The JUnit report: one suite per stack in the order given (`stacks`), then any other stack.
pub fn report(results: &[ScenarioResult], stacks: &[StackTarget]) -> Report {
    let comparisons = compare::comparisons(results, stacks);
    let mut order: Vec<StackTarget> = stacks.to_vec();
    for r in results {
        if !order.contains(&r.target) {
            order.push(r.target.clone());
        }
    }
    let mut report = Report::new(NAME);
    for target in &order {
        let cases: Vec<TestCase> = results
            .iter()
            .filter(|r| &r.target == target)
            .map(|r| case(r, &comparisons))
            .collect();
        if cases.is_empty() {
            continue;
        }
        let mut suite = TestSuite::new(target.to_string());
        suite.add_test_cases(cases);
        report.add_test_suite(suite);
    }
    report
}

/// Writes the JUnit XML to `path`.
pub fn write(
    path: &Path,
    results: &[ScenarioResult],
    stacks: &[StackTarget],
) -> std::io::Result<()> {
    let xml = report(results, stacks)
        .to_string()
        .map_err(|e| std::io::Error::other(format!("cannot serialise the JUnit report: {e}")))?;
    std::fs::write(path, xml)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::compare::tests::result;
    use crate::runner::outcome::UnmetExpectation;

    #[test]
    fn each_verdict_maps_to_its_junit_status_with_the_diff_or_reason() {
        let owner = ("owner", "moderator");
        let none = ("none", "participant");
        let mut new = result("fixture:0.12", owner, Outcome::New);
        new.variant = "jwt-guests".into();
        let mut failed = result(
            "fixture:13",
            none,
            Outcome::Failed {
                error: "docker: cannot start\nis Docker running?".into(),
                infrastructure: true,
            },
        );
        failed.variant = "jwt-guests".into();
        failed.timeline = None;
        let mut unmet = result(
            "fixture:0.12",
            owner,
            Outcome::Unmet {
                expectations: vec![UnmetExpectation {
                    step: 3,
                    label: "leave alice".into(),
                    location: "scenarios/handover.toml:12".into(),
                    expectation: "moderator count: expected 1, saw 0 (nobody)".into(),
                }],
                diff: None,
            },
        );
        unmet.variant = "jwt-no-auto-owner".into();
        let results = [
            result("fixture:0.12", owner, Outcome::Same),
            result(
                "fixture:13",
                none,
                Outcome::Changed {
                    diff: "-  - \"3. a\"\n+  - \"3. b\"\n".into(),
                },
            ),
            new,
            failed,
            unmet,
        ];
        let stacks: Vec<StackTarget> = ["fixture:0.12", "fixture:13"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let xml = report(&results, &stacks).to_string().unwrap();
        assert!(
            xml.contains(
                r#"<testsuites name="jitsi-harness" tests="5" skipped="1" failures="2" errors="1">"#
            ),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<testsuite name="fixture:0.12" tests="3""#),
            "{xml}"
        );
        assert!(xml.contains(r#"<failure message="timeline changed against snapshots/fixture/handover@jwt-auto-owner.snap" type="changed">-  - &quot;3. a&quot;"#), "{xml}");
        assert!(xml.contains("across stacks: differs from fixture:0.12:\nstep 3 `leave alice`:\n  bob: owner/moderator -&gt; none/participant"), "{xml}");
        assert!(
            xml.contains(r#"<error message="docker: cannot start" type="infrastructure">"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<skipped message="no golden snapshot yet"#),
            "{xml}"
        );
        assert!(xml.contains("step 3 `leave alice` (scenarios/handover.toml:12): moderator count: expected 1, saw 0 (nobody)"), "{xml}");
    }
}
