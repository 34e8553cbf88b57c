//! The moderator timeline: after each step of a scenario, who held moderator (and owner) as every
//! observer saw it, plus joins the deployment refused. Observers that disagree are recorded as such,
//! never averaged.
//!
//! Everything here speaks scenario names (alice, bob); nicks, JIDs and room names stay in transcripts.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::participant::Observation;
pub use crate::participant::Waiting;
use crate::scenario::{Expect, ParticipantSpec, Step};
use crate::stack::StackTarget;
use crate::xmpp::{Affiliation, Role};

/// What one observer saw of one participant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seat {
    /// The MUC role.
    pub role: Role,
    /// The affiliation; unknown to the jitsi-meet web app.
    pub affiliation: Option<Affiliation>,
}

impl Seat {
    /// Role `moderator`.
    pub fn is_moderator(&self) -> bool {
        self.role == Role::Moderator
    }

    /// Same role, and the same affiliation where both observers can see it.
    fn agrees_with(&self, other: &Seat) -> bool {
        self.role == other.role
            && match (&self.affiliation, &other.affiliation) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// The room as one observer saw it, in scenario names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    /// Who is in the room, by scenario name, and in which seat.
    pub occupants: BTreeMap<String, Seat>,
}

impl View {
    /// Maps an observation onto scenario names: a participant is recognised by its display name (bots
    /// present their scenario name as XEP-0172 `<nick/>` and join with lib-jitsi-meet's nick; the web
    /// app shows names; jicofo's members are named by real JID), or by its nick (a nick of the
    /// scenario's own, the fixture page's nick); anyone else keeps its nick, marked `?nick`.
    pub fn from_observation(observation: &Observation, participants: &[ParticipantSpec]) -> View {
        let occupants = observation
            .occupants
            .values()
            .map(|seen| {
                let name = seen
                    .name
                    .as_ref()
                    .and_then(|n| participants.iter().find(|p| &p.name == n))
                    .or_else(|| participants.iter().find(|p| p.nick == seen.nick))
                    .map(|p| p.name.clone())
                    .unwrap_or_else(|| format!("?{}", seen.nick));
                (
                    name,
                    Seat {
                        role: seen.role,
                        affiliation: seen.affiliation,
                    },
                )
            })
            .collect();
        View { occupants }
    }

    /// The names of the occupants who are moderators.
    pub fn moderators(&self) -> BTreeSet<String> {
        self.occupants
            .iter()
            .filter(|(_, s)| s.is_moderator())
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// The names of all occupants.
    pub fn names(&self) -> BTreeSet<String> {
        self.occupants.keys().cloned().collect()
    }

    /// Same people with agreeing seats.
    pub fn agrees_with(&self, other: &View) -> bool {
        self.occupants.len() == other.occupants.len()
            && self.occupants.iter().all(|(n, s)| {
                other
                    .occupants
                    .get(n)
                    .map(|o| s.agrees_with(o))
                    .unwrap_or(false)
            })
    }

    /// Merges views that agree: affiliations filled in from whoever sees them.
    fn merged<'a>(views: impl Iterator<Item = &'a View>) -> View {
        let mut out = View::default();
        for v in views {
            for (name, seat) in &v.occupants {
                let entry = out
                    .occupants
                    .entry(name.clone())
                    .or_insert_with(|| seat.clone());
                if entry.affiliation.is_none() {
                    entry.affiliation = seat.affiliation;
                }
            }
        }
        out
    }
}

/// One step of a timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// 0-based.
    pub index: usize,
    /// `join alice`, `leave bob`, … (from the scenario).
    pub label: String,
    /// `scenarios/x.toml:14`.
    pub location: String,
    /// Each observer present after the step, by scenario name.
    pub views: BTreeMap<String, View>,
    /// jicofo's own view (REST `/debug/conference`), when the stack exposes it.
    pub jicofo: Option<View>,
    /// Joins the deployment refused in this step, with the cause.
    pub rejected: BTreeMap<String, String>,
    /// Actions (grant, kick) the deployment refused, with the cause.
    pub refused: Vec<String>,
    /// Participants that joined but wait outside the room after the step (knocking in a lobby, or held
    /// until the host arrives), with what holds them ([`Waiting`]). They observe nothing meanwhile.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub waiting: BTreeMap<String, Waiting>,
    /// Whether the observers converged (agreed, saw everyone, met the expectations) before the deadline.
    pub converged: bool,
    /// Expectations of the scenario this step did not meet.
    pub unmet: Vec<String>,
    /// Time from the step's start to convergence (or the deadline). Not part of snapshots.
    #[serde(skip)]
    pub took: Duration,
    /// Every affiliation/role change each observer saw since the previous step settled, in order of
    /// arrival. Not part of snapshots.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<RoleChange>,
}

/// One affiliation/role change as one observer saw it, in scenario names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoleChange {
    /// Milliseconds from the start of the scenario's run to the presence's arrival.
    pub at_ms: u64,
    /// The observer (a participant's scenario name).
    pub observer: String,
    /// Whose seat changed (scenario name, or `?nick` for someone the scenario does not know).
    pub who: String,
    /// The seat before; `None` when the occupant arrived in this seat.
    pub from: Option<Seat>,
    /// The seat after.
    pub to: Seat,
    /// The presence's `<actor/>`: a participant's scenario name, `focus` for jicofo or the focus
    /// stand-in, or the actor's nick; `None` when the presence names no actor.
    pub actor: Option<String>,
    /// Why the change happened, from evidence ([`crate::explain`]); `None` until explained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<crate::explain::Cause>,
}

impl Seat {
    /// `affiliation/role`, `?` for an affiliation the observer cannot see.
    pub fn short(&self) -> String {
        format!(
            "{}/{}",
            self.affiliation.map(|a| a.as_str()).unwrap_or("?"),
            self.role.as_str()
        )
    }
}

impl RoleChange {
    /// `bob none/participant -> owner/moderator by focus`, without the time.
    pub fn describe(&self) -> String {
        format!(
            "{} {} -> {}{}",
            self.who,
            self.from
                .as_ref()
                .map(Seat::short)
                .unwrap_or_else(|| "(arrived)".into()),
            self.to.short(),
            self.actor
                .as_ref()
                .map(|a| format!(" by {a}"))
                .unwrap_or_default()
        )
    }
}

/// Role flaps in `changes` (jitsi-meet#14192: moderator, then none): an occupant whose seat, as one
/// observer saw it, went A -> B -> A. One message per flap, naming the occupant, the seats, the observer
/// and the times.
pub fn flaps(changes: &[RoleChange]) -> Vec<String> {
    let mut seen: BTreeMap<(&str, &str), Vec<(&Seat, u64)>> = BTreeMap::new();
    for c in changes {
        let entry = seen.entry((&c.observer, &c.who)).or_default();
        if entry.is_empty() {
            if let Some(from) = &c.from {
                entry.push((from, c.at_ms));
            }
        }
        entry.push((&c.to, c.at_ms));
    }
    let mut out = Vec::new();
    for ((observer, who), seats) in seen {
        'found: for (i, (a, _)) in seats.iter().enumerate() {
            for (j, (b, _)) in seats.iter().enumerate().skip(i + 1) {
                if b == a {
                    continue;
                }
                if let Some((_, back)) = seats.iter().skip(j + 1).find(|(c, _)| c == a) {
                    out.push(format!(
                        "no_flaps: {who} went {} -> {} -> {} (seen by {observer} at +{} ms and +{} ms)",
                        a.short(),
                        b.short(),
                        a.short(),
                        seats[j].1,
                        back
                    ));
                    break 'found;
                }
            }
        }
    }
    out
}

impl StepRecord {
    /// Whether every observer saw the same thing.
    pub fn observers_agree(&self) -> bool {
        let mut views = self.views.values();
        match views.next() {
            None => true,
            Some(first) => views.all(|v| v.agrees_with(first)),
        }
    }

    /// The agreed view, if the observers agree (and there is at least one observer).
    pub fn consensus(&self) -> Option<View> {
        if self.views.is_empty() || !self.observers_agree() {
            return None;
        }
        Some(View::merged(self.views.values()))
    }

    /// The agreed moderators; empty when nobody observes.
    pub fn moderators(&self) -> Option<BTreeSet<String>> {
        if self.views.is_empty() {
            return Some(BTreeSet::new());
        }
        self.consensus().map(|v| v.moderators())
    }
}

/// Checks a step's expectations against what was seen; returns what is unmet, in words.
pub fn check(expect: &Expect, record: &StepRecord) -> Vec<String> {
    let mut unmet = Vec::new();
    let list = |s: &BTreeSet<String>| {
        if s.is_empty() {
            "nobody".to_owned()
        } else {
            s.iter().cloned().collect::<Vec<_>>().join(", ")
        }
    };
    let wants_moderators = expect.moderators.is_some()
        || expect.moderators_one_of.is_some()
        || expect.moderator_count.is_some();
    match record.moderators() {
        None if wants_moderators => unmet.push("observers disagree on who is moderator".into()),
        None => {}
        Some(moderators) => {
            if let Some(want) = &expect.moderators {
                let want: BTreeSet<String> = want.iter().cloned().collect();
                if want != moderators {
                    unmet.push(format!(
                        "moderators: expected {}, saw {}",
                        list(&want),
                        list(&moderators)
                    ));
                }
            }
            if let Some(one_of) = &expect.moderators_one_of {
                let ok = moderators.len() == 1
                    && moderators.iter().all(|m| one_of.iter().any(|o| o == m));
                if !ok {
                    unmet.push(format!(
                        "moderators: expected exactly one of {}, saw {}",
                        one_of.join(", "),
                        list(&moderators)
                    ));
                }
            }
            if let Some(count) = expect.moderator_count {
                if moderators.len() != count {
                    unmet.push(format!(
                        "moderator count: expected {count}, saw {} ({})",
                        moderators.len(),
                        list(&moderators)
                    ));
                }
            }
        }
    }
    if !expect.affiliations.is_empty() {
        match record.consensus() {
            None => unmet.push("observers disagree on affiliations".into()),
            Some(view) => {
                for (name, want) in &expect.affiliations {
                    match view.occupants.get(name).map(|s| s.affiliation) {
                        None => unmet.push(format!(
                            "affiliation of {name}: expected {}, but {name} is not in the room",
                            want.as_str()
                        )),
                        Some(None) => unmet.push(format!(
                            "affiliation of {name}: expected {}, but no observer sees affiliations",
                            want.as_str()
                        )),
                        Some(Some(saw)) if saw != *want => unmet.push(format!(
                            "affiliation of {name}: expected {}, saw {}",
                            want.as_str(),
                            saw.as_str()
                        )),
                        Some(Some(_)) => {}
                    }
                }
            }
        }
    }
    for name in &expect.rejected {
        if !record.rejected.contains_key(name) {
            unmet.push(format!("{name} should have been refused but joined"));
        }
    }
    if let Some(want) = &expect.waiting {
        let want: BTreeSet<String> = want.iter().cloned().collect();
        let seen: BTreeSet<String> = record.waiting.keys().cloned().collect();
        if want != seen {
            unmet.push(format!(
                "waiting: expected {}, saw {}",
                list(&want),
                list(&seen)
            ));
        }
    }
    unmet
}

/// Joins the deployment refused although the scenario did not say `rejected`, each in words with its
/// refusal category (a refusal is final: waiting longer cannot change it, so this is kept apart from
/// [`check`], which convergence waits on).
pub fn unexpected_refusals(expect: &Expect, record: &StepRecord) -> Vec<String> {
    record
        .rejected
        .iter()
        .filter(|(name, _)| !expect.rejected.contains(name))
        .map(|(name, why)| {
            format!(
                "{name} was refused ({}) but the scenario did not say `rejected`",
                crate::participant::refusal::Refusal::of(why)
            )
        })
        .collect()
}

/// The moderator timeline of one scenario under one variant on one stack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// The scenario's name.
    pub scenario: String,
    /// The stack variant's name.
    pub variant: String,
    /// The stack it ran on.
    pub stack: StackTarget,
    /// The room the scenario ran in (transcripts name it; snapshots do not).
    #[serde(skip)]
    pub room: String,
    /// One record per step, in order.
    pub steps: Vec<StepRecord>,
}

impl Timeline {
    /// Steps whose expectations were not met.
    pub fn unmet(&self) -> impl Iterator<Item = &StepRecord> {
        self.steps.iter().filter(|s| !s.unmet.is_empty())
    }
}

/// A blank record for `step`.
pub fn record_for(step: &Step, location: String) -> StepRecord {
    StepRecord {
        index: step.index,
        label: step.label(),
        location,
        views: BTreeMap::new(),
        jicofo: None,
        rejected: BTreeMap::new(),
        refused: Vec::new(),
        waiting: BTreeMap::new(),
        converged: false,
        unmet: Vec::new(),
        took: Duration::ZERO,
        changes: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat(role: &str, aff: Option<&str>) -> Seat {
        Seat {
            role: role.parse().unwrap(),
            affiliation: aff.map(|a| a.parse().unwrap()),
        }
    }

    fn view(entries: &[(&str, &str, Option<&str>)]) -> View {
        View {
            occupants: entries
                .iter()
                .map(|(n, r, a)| (n.to_string(), seat(r, *a)))
                .collect(),
        }
    }

    fn record(views: &[(&str, View)]) -> StepRecord {
        StepRecord {
            index: 0,
            label: "join alice".into(),
            location: "x.toml:1".into(),
            views: views
                .iter()
                .map(|(n, v)| (n.to_string(), v.clone()))
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

    #[test]
    fn waiting_is_checked_as_an_exact_set() {
        let mut r = record(&[("alice", view(&[("alice", "moderator", Some("owner"))]))]);
        r.waiting.insert("bob".into(), Waiting::Lobby);
        let expect = |w: &[&str]| Expect {
            waiting: Some(w.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        };
        assert!(check(&expect(&["bob"]), &r).is_empty());
        assert_eq!(
            check(&expect(&[]), &r),
            ["waiting: expected nobody, saw bob"]
        );
        r.waiting.clear();
        assert_eq!(
            check(&expect(&["bob"]), &r),
            ["waiting: expected bob, saw nobody"]
        );
        // Unchecked when the step does not say.
        assert!(check(&Expect::default(), &r).is_empty());
        assert_eq!(Waiting::WaitForHost.to_string(), "wait-for-host");
    }

    #[test]
    fn a_browser_without_affiliations_agrees_with_a_bot() {
        let bot = view(&[
            ("alice", "moderator", Some("owner")),
            ("bob", "participant", Some("none")),
        ]);
        let browser = view(&[("alice", "moderator", None), ("bob", "participant", None)]);
        let r = record(&[("alice", browser), ("bob", bot)]);
        assert!(r.observers_agree());
        let c = r.consensus().unwrap();
        assert_eq!(c.occupants["alice"].affiliation, Some(Affiliation::Owner));
        assert_eq!(
            r.moderators().unwrap(),
            BTreeSet::from(["alice".to_owned()])
        );
    }

    #[test]
    fn disagreeing_observers_are_not_averaged() {
        let a = view(&[
            ("bob", "moderator", Some("owner")),
            ("carol", "participant", Some("none")),
        ]);
        let b = view(&[
            ("bob", "participant", Some("none")),
            ("carol", "participant", Some("none")),
        ]);
        let r = record(&[("bob", a), ("carol", b)]);
        assert!(!r.observers_agree());
        assert_eq!(r.moderators(), None);
        let expect = Expect {
            moderator_count: Some(1),
            ..Default::default()
        };
        assert_eq!(
            check(&expect, &r),
            ["observers disagree on who is moderator"]
        );
    }

    #[test]
    fn expectations_are_checked_in_words() {
        let v = view(&[
            ("bob", "moderator", Some("owner")),
            ("carol", "participant", Some("none")),
        ]);
        let mut r = record(&[("bob", v.clone()), ("carol", v)]);
        let ok = Expect {
            moderators_one_of: Some(vec!["bob".into(), "carol".into()]),
            moderator_count: Some(1),
            ..Default::default()
        };
        assert!(check(&ok, &r).is_empty());
        let bad = Expect {
            moderators: Some(vec!["carol".into()]),
            rejected: vec!["mallory".into()],
            ..Default::default()
        };
        assert_eq!(
            check(&bad, &r),
            [
                "moderators: expected carol, saw bob",
                "mallory should have been refused but joined"
            ]
        );
        r.rejected
            .insert("mallory".into(), "token has expired".into());
        assert_eq!(check(&bad, &r).len(), 1);
    }

    #[test]
    fn affiliations_are_checked_where_owner_and_member_differ() {
        let bot = view(&[
            ("alice", "moderator", Some("owner")),
            ("bob", "participant", Some("member")),
        ]);
        let r = record(&[("alice", bot.clone()), ("bob", bot)]);
        let want = |pairs: &[(&str, Affiliation)]| Expect {
            affiliations: pairs.iter().map(|(n, a)| (n.to_string(), *a)).collect(),
            ..Default::default()
        };
        assert!(check(
            &want(&[("alice", Affiliation::Owner), ("bob", Affiliation::Member)]),
            &r
        )
        .is_empty());
        assert_eq!(
            check(
                &want(&[("bob", Affiliation::None), ("carol", Affiliation::Member)]),
                &r
            ),
            [
                "affiliation of bob: expected none, saw member",
                "affiliation of carol: expected member, but carol is not in the room"
            ]
        );
        // A browser alone sees roles, not affiliations: the expectation cannot hold, and says why.
        let browser = view(&[("alice", "moderator", None), ("bob", "participant", None)]);
        let r = record(&[("alice", browser)]);
        assert_eq!(
            check(&want(&[("alice", Affiliation::Owner)]), &r),
            ["affiliation of alice: expected owner, but no observer sees affiliations"]
        );
        // Observers that disagree on bob's affiliation give no answer.
        let a = view(&[("bob", "participant", Some("member"))]);
        let b = view(&[("bob", "participant", Some("none"))]);
        let r = record(&[("alice", a), ("bob", b)]);
        assert_eq!(
            check(&want(&[("bob", Affiliation::Member)]), &r),
            ["observers disagree on affiliations"]
        );
    }

    #[test]
    fn a_refusal_the_scenario_did_not_expect_fails_the_step() {
        // With the focus down every join is refused, and `moderator_count = 0` holds in the empty room.
        let mut r = record(&[]);
        r.rejected.insert(
            "alice".into(),
            "the focus refused the conference request: service-unavailable".into(),
        );
        let expect = Expect {
            moderator_count: Some(0),
            ..Default::default()
        };
        assert!(check(&expect, &r).is_empty());
        assert_eq!(
            unexpected_refusals(&expect, &r),
            ["alice was refused (focus-refused) but the scenario did not say `rejected`"]
        );
        let expected = Expect {
            rejected: vec!["alice".into()],
            ..Default::default()
        };
        assert!(unexpected_refusals(&expected, &r).is_empty());
    }

    fn change(at_ms: u64, who: &str, from: Option<(&str, &str)>, to: (&str, &str)) -> RoleChange {
        RoleChange {
            at_ms,
            observer: "carol".into(),
            who: who.into(),
            from: from.map(|(a, r)| seat(r, Some(a))),
            to: seat(to.1, Some(to.0)),
            actor: Some("focus".into()),
            cause: None,
        }
    }

    #[test]
    fn a_seat_that_goes_there_and_back_is_a_flap() {
        let flap = [
            change(
                10,
                "bob",
                Some(("none", "participant")),
                ("owner", "moderator"),
            ),
            change(
                60,
                "bob",
                Some(("owner", "moderator")),
                ("none", "participant"),
            ),
            change(
                110,
                "bob",
                Some(("none", "participant")),
                ("owner", "moderator"),
            ),
        ];
        assert_eq!(
            flaps(&flap),
            [
                "no_flaps: bob went none/participant -> owner/moderator -> none/participant \
              (seen by carol at +10 ms and +60 ms)"
            ]
        );
        // One grant, and a grant then a hand-over to someone else, are no flaps.
        assert!(flaps(&flap[..1]).is_empty());
        let handover = [
            change(
                10,
                "bob",
                Some(("none", "participant")),
                ("owner", "moderator"),
            ),
            change(
                20,
                "alice",
                Some(("owner", "moderator")),
                ("none", "participant"),
            ),
        ];
        assert!(flaps(&handover).is_empty());
        assert_eq!(
            flap[0].describe(),
            "bob none/participant -> owner/moderator by focus"
        );
    }

    #[test]
    fn an_empty_room_has_no_moderator() {
        let r = record(&[]);
        let expect = Expect {
            moderator_count: Some(0),
            ..Default::default()
        };
        assert!(check(&expect, &r).is_empty());
    }

    #[test]
    fn observations_map_to_scenario_names_by_nick_or_display_name() {
        use crate::participant::Seen;
        let spec = ParticipantSpec::test_bot;
        let participants = [spec("alice", "alice"), spec("bob", "bob_2")];
        let mut obs = Observation::default();
        for (nick, name) in [("bob_2", None), ("1a2b3c4d", Some("alice")), ("zed", None)] {
            obs.occupants.insert(
                nick.into(),
                Seen {
                    nick: nick.into(),
                    name: name.map(str::to_owned),
                    role: Role::Participant,
                    affiliation: None,
                },
            );
        }
        let v = View::from_observation(&obs, &participants);
        assert_eq!(
            v.names().into_iter().collect::<Vec<_>>(),
            ["?zed", "alice", "bob"]
        );
    }
}
