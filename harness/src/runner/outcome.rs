//! How one scenario ended on one stack: the [`Outcome`] the matrix judges, the events carry and every
//! report renders. A timeline that differs from its golden snapshot is an outcome, not an error; so is an
//! expectation the scenario file states and Jitsi did not meet — and that one always fails the scenario,
//! whatever the snapshot says (a golden snapshot never overrules the scenario file).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::stack::StackTarget;
use crate::timeline::Timeline;

/// One expectation of the scenario file that a step did not meet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnmetExpectation {
    /// The step's number in the scenario, from 1.
    pub step: usize,
    /// The step as the timeline names it (`leave alice`).
    pub label: String,
    /// Where the step is written (`scenarios/x.toml:14`).
    pub location: String,
    /// What was expected and what happened instead.
    pub expectation: String,
}

impl fmt::Display for UnmetExpectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "step {} `{}` ({}): {}",
            self.step, self.label, self.location, self.expectation
        )
    }
}

impl UnmetExpectation {
    /// Every unmet expectation of a timeline, in step order.
    pub fn of(timeline: &Timeline) -> Vec<UnmetExpectation> {
        timeline
            .unmet()
            .flat_map(|step| {
                step.unmet.iter().map(|u| UnmetExpectation {
                    step: step.index + 1,
                    label: step.label.clone(),
                    location: step.location.clone(),
                    expectation: u.clone(),
                })
            })
            .collect()
    }
}

/// How a scenario ended on one stack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "lowercase")]
pub enum Outcome {
    /// The timeline equals the golden snapshot and every expectation held.
    Same,
    /// The timeline differs from the golden snapshot: Jitsi's behaviour changed.
    Changed {
        /// The differing step lines (golden `-`, this run `+`).
        diff: String,
    },
    /// No golden snapshot yet.
    New,
    /// An expectation of the scenario file was not met: the scenario fails whatever the snapshot says.
    Unmet {
        /// The expectations not met, in step order (never empty).
        expectations: Vec<UnmetExpectation>,
        /// The snapshot diff, when the timeline also differs from its golden snapshot.
        diff: Option<String>,
    },
    /// The scenario could not be run to its end.
    Failed {
        /// What failed, where, and what to do.
        error: String,
        /// Whether the infrastructure (Docker, a stack start, the snapshot files) failed rather than Jitsi.
        infrastructure: bool,
    },
    /// Run several times (`run --repeat N`), the timeline was not the same every time: neither it nor a
    /// snapshot of it can be trusted until the cause is found.
    Flaky {
        /// How many times it ran.
        repeat: usize,
        /// The runs that differ from the first, each with its difference.
        differing: Vec<DifferingRun>,
    },
    /// Not run, never counted as passed or failed: the scenario `requires` a feature the stack cannot
    /// provide, or the stack does not apply to its variant (an `external:` deployment configured as other
    /// variants).
    Skipped {
        /// Why, in words: which stack lacks which feature, or which variants the deployment declares.
        reason: String,
    },
}

/// One run of a repeated scenario that differs from the first run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DifferingRun {
    /// The run's number, from 1 (the first run is the reference, so this is 2 or more).
    pub run: usize,
    /// The differing lines: the first run's `-`, this run's `+` (step lines, unmet expectations, or the
    /// failure's first line).
    pub diff: String,
}

impl fmt::Display for DifferingRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "run {} differs from run 1:", self.run)?;
        for line in self.diff.lines() {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

impl Outcome {
    /// The verdict this outcome is counted under.
    pub fn verdict(&self) -> Verdict {
        match self {
            Outcome::Same => Verdict::Same,
            Outcome::Changed { .. } => Verdict::Changed,
            Outcome::New => Verdict::New,
            Outcome::Unmet { .. } => Verdict::Unmet,
            Outcome::Failed { .. } => Verdict::Failed,
            Outcome::Flaky { .. } => Verdict::Flaky,
            Outcome::Skipped { .. } => Verdict::Skipped,
        }
    }

    /// The snapshot diff, if the timeline differs from its golden snapshot.
    pub fn diff(&self) -> Option<&str> {
        match self {
            Outcome::Changed { diff } => Some(diff),
            Outcome::Unmet { diff, .. } => diff.as_deref(),
            _ => None,
        }
    }

    /// The failure, for a scenario that could not be run to its end.
    pub fn error(&self) -> Option<&str> {
        match self {
            Outcome::Failed { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Why the scenario was not run, for a skipped one.
    pub fn skip_reason(&self) -> Option<&str> {
        match self {
            Outcome::Skipped { reason } => Some(reason),
            _ => None,
        }
    }

    /// The expectations not met (empty unless the outcome is [`Outcome::Unmet`]).
    pub fn unmet(&self) -> &[UnmetExpectation] {
        match self {
            Outcome::Unmet { expectations, .. } => expectations,
            _ => &[],
        }
    }

    /// The runs that differ from the first (empty unless the outcome is [`Outcome::Flaky`]).
    pub fn differing(&self) -> &[DifferingRun] {
        match self {
            Outcome::Flaky { differing, .. } => differing,
            _ => &[],
        }
    }

    /// Whether the infrastructure failed (Docker, a stack start, the snapshot files) rather than Jitsi.
    pub fn is_infrastructure(&self) -> bool {
        matches!(
            self,
            Outcome::Failed {
                infrastructure: true,
                ..
            }
        )
    }
}

/// The name an outcome is counted and shown under: one word per [`Outcome`] variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The timeline equals the golden snapshot.
    Same,
    /// The timeline differs from the golden snapshot: Jitsi's behaviour changed.
    Changed,
    /// No golden snapshot yet (a pending one was written for review).
    New,
    /// An expectation of the scenario file was not met.
    Unmet,
    /// The scenario could not be run to its end (stack, participant or harness failure).
    Failed,
    /// Repeated with `--repeat N`, the runs did not all observe the same timeline.
    Flaky,
    /// Not run: the stack cannot provide a feature the scenario requires, or does not apply to its
    /// variant.
    Skipped,
}

impl Verdict {
    /// The verdict as the reports spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Same => "same",
            Verdict::Changed => "changed",
            Verdict::New => "new",
            Verdict::Unmet => "unmet",
            Verdict::Failed => "failed",
            Verdict::Flaky => "flaky",
            Verdict::Skipped => "skipped",
        }
    }
}

/// One cell of the verdict matrix: a scenario under one variant on one stack, and how it ended.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioResult {
    /// The scenario's name (its file stem).
    pub scenario: String,
    /// The scenario file, relative to the working directory.
    pub path: PathBuf,
    /// The variant it ran under.
    pub variant: String,
    /// The stack it ran on.
    pub target: StackTarget,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// What was observed, when the scenario ran to its end.
    pub timeline: Option<Timeline>,
    /// The rendered snapshot text of this run.
    pub body: Option<String>,
    /// The golden snapshot file.
    pub snapshot: PathBuf,
    /// A `.snap.new` written for review, or the golden written by `--accept`.
    pub written: Option<PathBuf>,
    /// A snapshot (golden or pending) was due but not written, because expectations are unmet.
    pub withheld: bool,
    /// This run's logs and transcripts.
    pub artifacts: PathBuf,
    /// How long the scenario ran.
    #[serde(skip)]
    pub took: Duration,
}

impl ScenarioResult {
    /// The verdict this result is counted under.
    pub fn verdict(&self) -> Verdict {
        self.outcome.verdict()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_has_its_own_verdict() {
        let unmet = Outcome::Unmet {
            expectations: vec![UnmetExpectation {
                step: 2,
                label: "leave alice".into(),
                location: "s.toml:9".into(),
                expectation: "expected moderators bob, saw nobody".into(),
            }],
            diff: Some("-a\n+b\n".into()),
        };
        assert_eq!(unmet.verdict(), Verdict::Unmet);
        assert_eq!(unmet.diff(), Some("-a\n+b\n"));
        assert_eq!(
            unmet.unmet()[0].to_string(),
            "step 2 `leave alice` (s.toml:9): expected moderators bob, saw nobody"
        );
        let failed = Outcome::Failed {
            error: "docker".into(),
            infrastructure: true,
        };
        assert!(failed.is_infrastructure());
        assert_eq!(failed.error(), Some("docker"));
        let flaky = Outcome::Flaky {
            repeat: 3,
            differing: vec![DifferingRun {
                run: 3,
                diff: "-  - \"2. leave alice -> moderators: bob\"\n+  - \"2. leave alice -> moderators: carol\"\n".into(),
            }],
        };
        assert_eq!(flaky.verdict(), Verdict::Flaky);
        assert_eq!(flaky.verdict().as_str(), "flaky");
        assert_eq!(flaky.differing().len(), 1);
        assert!(flaky.differing()[0]
            .to_string()
            .starts_with("run 3 differs from run 1:\n  -  - \"2."));
        assert_eq!(Outcome::Same.verdict().as_str(), "same");
        assert_eq!(Outcome::New.verdict().as_str(), "new");
        assert_eq!(
            serde_json::to_value(Verdict::Unmet).ok(),
            Some(serde_json::json!("unmet"))
        );
    }
}
