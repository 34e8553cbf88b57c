//! Cross-stack comparison: with several stacks of one family (`fixture:0.12,fixture:13`,
//! `jitsi:stable-A,jitsi:stable-B`), per scenario × variant, the first stack whose timeline differs from
//! its predecessor in the order given, and the differing steps side by side — whose role or affiliation
//! changed, from what to what. Computed from the results' timelines only, so every report (text, JSON,
//! JUnit, HTML) shows the same comparison.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::runner::outcome::ScenarioResult;
use crate::stack::StackTarget;
use crate::timeline::{Seat, StepRecord, Timeline};
use crate::xmpp::{Affiliation, Role};

/// What one participant was after one step, as the reports draw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    /// In the room, with the role and (where the observers see it) the affiliation.
    Present {
        /// The MUC role.
        role: Role,
        /// The affiliation, unknown to the web app.
        affiliation: Option<Affiliation>,
    },
    /// Not in the room.
    Absent,
    /// The deployment refused this participant's join in this step.
    Refused,
    /// Joined, but waiting outside the room (a lobby, or for the host).
    Waiting,
    /// Observers disagree on this participant: each observer's cell.
    Disagree(BTreeMap<String, String>),
    /// The timeline has no such step (the run ended earlier).
    NotRun,
}

impl Cell {
    fn of_seat(seat: Option<&Seat>) -> Cell {
        match seat {
            Some(s) => Cell::Present {
                role: s.role,
                affiliation: s.affiliation,
            },
            None => Cell::Absent,
        }
    }

    /// One word for the colour of the cell: `owner`, `moderator`, `participant`, `visitor`, `absent`,
    /// `refused`, `waiting`, `disagree` or `notrun`.
    pub fn kind(&self) -> &'static str {
        match self {
            Cell::Present { role, affiliation } => match (role, affiliation) {
                (Role::Moderator, Some(Affiliation::Owner)) => "owner",
                (Role::Moderator, _) => "moderator",
                (Role::Visitor, _) => "visitor",
                (Role::None, _) => "absent",
                _ => "participant",
            },
            Cell::Absent => "absent",
            Cell::Refused => "refused",
            Cell::Waiting => "waiting",
            Cell::Disagree(_) => "disagree",
            Cell::NotRun => "notrun",
        }
    }
}

impl fmt::Display for Cell {
    /// The snapshot notation: `owner/moderator`, `none/participant`, `moderator` (affiliation unknown),
    /// `absent`, `refused`, `disagree (alice: …; bob: …)`, `not run`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Present {
                role,
                affiliation: Some(a),
            } => write!(f, "{}/{}", a.as_str(), role.as_str()),
            Cell::Present {
                role,
                affiliation: None,
            } => f.write_str(role.as_str()),
            Cell::Absent => f.write_str("absent"),
            Cell::Refused => f.write_str("refused"),
            Cell::Waiting => f.write_str("waiting"),
            Cell::Disagree(seen) => {
                let seen: Vec<String> = seen.iter().map(|(o, c)| format!("{o}: {c}")).collect();
                write!(f, "observers disagree ({})", seen.join("; "))
            }
            Cell::NotRun => f.write_str("not run"),
        }
    }
}

/// Every participant's cell after one step, by scenario name.
pub fn cells(step: &StepRecord, participants: &[String]) -> BTreeMap<String, Cell> {
    let consensus = step.consensus();
    participants
        .iter()
        .map(|name| {
            let cell = if step.rejected.contains_key(name) {
                Cell::Refused
            } else if step.waiting.contains_key(name) {
                Cell::Waiting
            } else if step.views.is_empty() {
                Cell::Absent
            } else if let Some(view) = &consensus {
                Cell::of_seat(view.occupants.get(name))
            } else {
                let seen: BTreeMap<String, String> = step
                    .views
                    .iter()
                    .map(|(o, v)| (o.clone(), Cell::of_seat(v.occupants.get(name)).to_string()))
                    .collect();
                let distinct: BTreeSet<&String> = seen.values().collect();
                if distinct.len() == 1 {
                    // Everyone agrees on this participant; the disagreement is about someone else.
                    let first = step.views.values().next();
                    Cell::of_seat(first.and_then(|v| v.occupants.get(name)))
                } else {
                    Cell::Disagree(seen)
                }
            };
            (name.clone(), cell)
        })
        .collect()
}

/// Everyone who appears in the timelines (present or refused), in order of first appearance.
pub fn participants<'a>(timelines: impl IntoIterator<Item = &'a Timeline>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in timelines {
        for step in &t.steps {
            let names = step
                .views
                .values()
                .flat_map(|v| v.occupants.keys())
                .chain(step.rejected.keys())
                .collect::<BTreeSet<_>>();
            for name in names {
                if !out.contains(name) {
                    out.push(name.clone());
                }
            }
        }
    }
    out
}

/// One participant whose cell differs between two stacks after one step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SeatChange {
    /// The participant's scenario name.
    pub participant: String,
    /// The cell on the previous stack (`owner/moderator`).
    pub before: String,
    /// The cell on this stack.
    pub after: String,
}

/// One step whose cells differ between two stacks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StepChange {
    /// The step's number in the scenario, from 1.
    pub step: usize,
    /// The step's label (`leave alice`).
    pub label: String,
    /// The differing participants, in order of first appearance.
    pub seats: Vec<SeatChange>,
}

/// How one stack's timeline differs from the previous stack's (the previous one that ran to its end).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StackChange {
    /// This stack (`fixture:13`).
    pub stack: String,
    /// The stack it is compared with.
    pub previous: String,
    /// The differing steps, in step order (never empty).
    pub steps: Vec<StepChange>,
}

/// One scenario × variant across the stacks of one family, in the order given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// The scenario's name.
    pub scenario: String,
    /// The variant.
    pub variant: String,
    /// The stacks compared, in the order given (those whose run reached its end).
    pub stacks: Vec<String>,
    /// Stacks of the family left out because their run has no timeline (it failed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_compared: Vec<String>,
    /// The first stack whose timeline differs from its predecessor, if any.
    pub first_differing: Option<String>,
    /// Every stack that differs from its predecessor, in order.
    pub changes: Vec<StackChange>,
}

/// The differing steps of `after` against `before`.
pub fn step_changes(before: &Timeline, after: &Timeline) -> Vec<StepChange> {
    let people = participants([before, after]);
    let n = before.steps.len().max(after.steps.len());
    let mut out = Vec::new();
    for i in 0..n {
        let (b, a) = (before.steps.get(i), after.steps.get(i));
        let row = |s: Option<&StepRecord>| match s {
            Some(s) => cells(s, &people),
            None => people.iter().map(|p| (p.clone(), Cell::NotRun)).collect(),
        };
        let (cb, ca) = (row(b), row(a));
        let seats: Vec<SeatChange> = people
            .iter()
            .filter(|p| cb.get(*p) != ca.get(*p))
            .map(|p| SeatChange {
                participant: p.clone(),
                before: cb.get(p).map(Cell::to_string).unwrap_or_default(),
                after: ca.get(p).map(Cell::to_string).unwrap_or_default(),
            })
            .collect();
        if !seats.is_empty() {
            let label = a.or(b).map(|s| s.label.clone()).unwrap_or_default();
            out.push(StepChange {
                step: i + 1,
                label,
                seats,
            });
        }
    }
    out
}

/// The comparisons of a run: one per scenario × variant that ran on two stacks or more of one family.
/// `stacks` is the order given on the command line; stacks of other families are compared separately.
pub fn comparisons(results: &[ScenarioResult], stacks: &[StackTarget]) -> Vec<Comparison> {
    let mut cases: BTreeMap<(&str, &str), Vec<&ScenarioResult>> = BTreeMap::new();
    for r in results {
        cases
            .entry((r.scenario.as_str(), r.variant.as_str()))
            .or_default()
            .push(r);
    }
    let mut out = Vec::new();
    for ((scenario, variant), runs) in cases {
        let families: BTreeSet<_> = runs.iter().map(|r| r.target.family).collect();
        for family in families {
            let ordered: Vec<&ScenarioResult> = order(stacks, &runs)
                .into_iter()
                .filter(|r| r.target.family == family)
                .collect();
            if ordered.len() < 2 {
                continue;
            }
            let mut cmp = Comparison {
                scenario: scenario.to_owned(),
                variant: variant.to_owned(),
                stacks: Vec::new(),
                not_compared: Vec::new(),
                first_differing: None,
                changes: Vec::new(),
            };
            let mut previous: Option<(&StackTarget, &Timeline, Option<Vec<&str>>)> = None;
            for r in ordered {
                let Some(timeline) = &r.timeline else {
                    cmp.not_compared.push(r.target.to_string());
                    continue;
                };
                cmp.stacks.push(r.target.to_string());
                let lines = step_lines(r);
                if let Some((prev, before, before_lines)) = previous {
                    let mut steps = step_changes(before, timeline);
                    // Where both runs have their snapshot text, a step differs only if its normalised line
                    // does: an arbitrary choice jicofo may make either way (`one-of(bob|carol)`) is no change.
                    if let (Some(b), Some(a)) = (&before_lines, &lines) {
                        steps.retain(|c| b.get(c.step - 1) != a.get(c.step - 1));
                    }
                    if !steps.is_empty() {
                        cmp.first_differing
                            .get_or_insert_with(|| r.target.to_string());
                        cmp.changes.push(StackChange {
                            stack: r.target.to_string(),
                            previous: prev.to_string(),
                            steps,
                        });
                    }
                }
                previous = Some((&r.target, timeline, lines));
            }
            out.push(cmp);
        }
    }
    out
}

/// The step lines of a result's snapshot text (`N. label -> …`, choices normalised), when it has one.
fn step_lines(r: &ScenarioResult) -> Option<Vec<&str>> {
    let body = r.body.as_deref()?;
    Some(
        body.lines()
            .map(str::trim_start)
            .filter_map(|l| l.strip_prefix("- \""))
            .collect(),
    )
}

/// `runs` in the order of `stacks`; runs on stacks not listed come last, sorted.
fn order<'a>(stacks: &[StackTarget], runs: &[&'a ScenarioResult]) -> Vec<&'a ScenarioResult> {
    let mut sorted = runs.to_vec();
    sorted.sort_by_key(|r| {
        (
            stacks
                .iter()
                .position(|s| *s == r.target)
                .unwrap_or(usize::MAX),
            r.target.clone(),
        )
    });
    sorted
}

/// The comparisons as text: one paragraph per scenario × variant whose timeline differs between stacks,
/// and one line for those that agree.
pub fn text(comparisons: &[Comparison]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if comparisons.is_empty() {
        return out;
    }
    let _ = writeln!(out, "\nacross stacks (each against the one before it):");
    for c in comparisons {
        match &c.first_differing {
            None => {
                let _ = writeln!(
                    out,
                    "{} {}: same timeline on {}",
                    c.scenario,
                    c.variant,
                    c.stacks.join(", ")
                );
            }
            Some(first) => {
                let _ = writeln!(
                    out,
                    "{} {}: first differs on {first}",
                    c.scenario, c.variant
                );
                for change in &c.changes {
                    let _ = writeln!(out, "  {} vs {}:", change.stack, change.previous);
                    for step in &change.steps {
                        let _ = writeln!(out, "    step {} `{}`:", step.step, step.label);
                        for s in &step.seats {
                            let _ = writeln!(
                                out,
                                "      {}: {} -> {}",
                                s.participant, s.before, s.after
                            );
                        }
                    }
                }
            }
        }
        if !c.not_compared.is_empty() {
            let _ = writeln!(
                out,
                "  not compared (no timeline): {}",
                c.not_compared.join(", ")
            );
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::runner::outcome::Outcome;
    use crate::timeline::View;
    use std::time::Duration;

    /// A step where everyone named is seen by everyone named, with `aff/role` seats.
    pub fn step(index: usize, label: &str, seats: &[(&str, &str, &str)]) -> StepRecord {
        let view = View {
            occupants: seats
                .iter()
                .map(|(n, a, r)| {
                    (
                        n.to_string(),
                        Seat {
                            role: r.parse().unwrap(),
                            affiliation: Some(a.parse().unwrap()),
                        },
                    )
                })
                .collect(),
        };
        StepRecord {
            index,
            label: label.into(),
            location: format!("scenarios/handover.toml:{}", 10 + index),
            views: seats
                .iter()
                .map(|(n, _, _)| (n.to_string(), view.clone()))
                .collect(),
            jicofo: None,
            rejected: BTreeMap::new(),
            refused: Vec::new(),
            waiting: BTreeMap::new(),
            converged: true,
            unmet: Vec::new(),
            took: Duration::ZERO,
            changes: Vec::new(),
        }
    }

    /// `handover` under `jwt-auto-owner` on `stack`: alice joins, bob joins, alice leaves; after the last
    /// step bob is `bob_after`.
    pub fn result(stack: &str, bob_after: (&str, &str), outcome: Outcome) -> ScenarioResult {
        let target: StackTarget = stack.parse().unwrap();
        let timeline = Timeline {
            scenario: "handover".into(),
            variant: "jwt-auto-owner".into(),
            stack: target.clone(),
            room: "r".into(),
            steps: vec![
                step(0, "join alice", &[("alice", "owner", "moderator")]),
                step(
                    1,
                    "join bob",
                    &[
                        ("alice", "owner", "moderator"),
                        ("bob", "none", "participant"),
                    ],
                ),
                step(2, "leave alice", &[("bob", bob_after.0, bob_after.1)]),
            ],
        };
        ScenarioResult {
            scenario: "handover".into(),
            path: "scenarios/handover.toml".into(),
            variant: "jwt-auto-owner".into(),
            target: target.clone(),
            outcome,
            timeline: Some(timeline),
            body: None,
            snapshot: "snapshots/fixture/handover@jwt-auto-owner.snap".into(),
            written: None,
            withheld: false,
            artifacts: format!("artifacts/run-1/{}", stack.replace(':', "-")).into(),
            took: Duration::ZERO,
        }
    }

    fn targets(s: &[&str]) -> Vec<StackTarget> {
        s.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn a_waiting_participant_is_its_own_cell() {
        let mut s = step(0, "join bob", &[("alice", "owner", "moderator")]);
        s.waiting
            .insert("bob".into(), crate::timeline::Waiting::Lobby);
        let cells = cells(
            &s,
            &["alice".to_owned(), "bob".to_owned(), "carol".to_owned()],
        );
        assert_eq!(cells["bob"], Cell::Waiting);
        assert_eq!(cells["bob"].kind(), "waiting");
        assert_eq!(cells["bob"].to_string(), "waiting");
        assert_eq!(cells["carol"], Cell::Absent);
    }

    #[test]
    fn the_first_stack_that_differs_from_its_predecessor_is_named_with_its_steps() {
        let owner = ("owner", "moderator");
        let none = ("none", "participant");
        let results = [
            result("fixture:0.12", owner, Outcome::Same),
            result("fixture:13", none, Outcome::Same),
        ];
        let c = comparisons(&results, &targets(&["fixture:0.12", "fixture:13"]));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].first_differing.as_deref(), Some("fixture:13"));
        assert_eq!(c[0].changes[0].previous, "fixture:0.12");
        assert_eq!(
            c[0].changes[0].steps,
            [StepChange {
                step: 3,
                label: "leave alice".into(),
                seats: vec![SeatChange {
                    participant: "bob".into(),
                    before: "owner/moderator".into(),
                    after: "none/participant".into(),
                }],
            }]
        );
        let text = text(&c);
        assert!(text.contains("handover jwt-auto-owner: first differs on fixture:13\n  fixture:13 vs fixture:0.12:\n    step 3 `leave alice`:\n      bob: owner/moderator -> none/participant\n"), "{text}");
        // The order given decides who is the predecessor.
        let c = comparisons(&results, &targets(&["fixture:13", "fixture:0.12"]));
        assert_eq!(c[0].first_differing.as_deref(), Some("fixture:0.12"));
        assert_eq!(c[0].changes[0].steps[0].seats[0].before, "none/participant");
    }

    #[test]
    fn an_arbitrary_choice_normalised_in_the_snapshot_is_no_difference() {
        // jicofo picked another successor on the second stack: the raw seats differ, the snapshot lines
        // (`one-of(…)`) do not.
        let body = "steps:\n  - \"1. join alice -> …\"\n  - \"2. join bob -> …\"\n  - \"3. leave alice -> moderators: one-of(bob) | …\"\n";
        let mut a = result("fixture:0.12", ("owner", "moderator"), Outcome::Same);
        let mut b = result("fixture:13", ("none", "participant"), Outcome::Same);
        a.body = Some(body.into());
        b.body = Some(body.into());
        let c = comparisons(
            &[a.clone(), b.clone()],
            &targets(&["fixture:0.12", "fixture:13"]),
        );
        assert_eq!(c[0].first_differing, None, "{c:?}");
        // Without the snapshot text the raw seats are compared.
        a.body = None;
        let c = comparisons(&[a, b], &targets(&["fixture:0.12", "fixture:13"]));
        assert_eq!(c[0].first_differing.as_deref(), Some("fixture:13"));
    }

    #[test]
    fn equal_timelines_and_single_stacks_name_no_differing_stack() {
        let owner = ("owner", "moderator");
        let results = [
            result("fixture:0.12", owner, Outcome::Same),
            result("fixture:13", owner, Outcome::Same),
            result("external:x", ("none", "participant"), Outcome::Same),
        ];
        let c = comparisons(&results, &[]);
        assert_eq!(c.len(), 1, "the external stack is alone in its family");
        assert_eq!(c[0].first_differing, None);
        assert!(text(&c).contains("same timeline on fixture:0.12, fixture:13"));
    }

    #[test]
    fn a_failed_stack_is_left_out_and_the_next_compares_with_the_last_that_ran() {
        let owner = ("owner", "moderator");
        let mut failed = result("fixture:13", owner, Outcome::Same);
        failed.timeline = None;
        let results = [
            result("jitsi:stable-1", owner, Outcome::Same),
            result("jitsi:stable-2", ("none", "participant"), Outcome::Same),
            result("jitsi:stable-3", ("none", "participant"), Outcome::Same),
        ];
        let c = comparisons(
            &results,
            &targets(&["jitsi:stable-1", "jitsi:stable-2", "jitsi:stable-3"]),
        );
        assert_eq!(c[0].first_differing.as_deref(), Some("jitsi:stable-2"));
        assert_eq!(c[0].changes.len(), 1);
        let with_failed = [result("fixture:0.12", owner, Outcome::Same), failed];
        let c = comparisons(&with_failed, &[]);
        assert_eq!(c[0].not_compared, ["fixture:13"]);
        assert_eq!(c[0].first_differing, None);
    }
}
