//! Why each owner/moderator change happened, from evidence (issue 15 item 2).
//!
//! Every change an observer saw ([`crate::timeline::RoleChange`]) gets a [`Cause`] from what the run can
//! point at, never from the variant alone:
//!
//! * the presence's `<actor/>` (XEP-0045 §9.3; Prosody's `muc.lib.lua` names the occupant whose
//!   muc#admin request made the change, and names none when a module changes an affiliation as the
//!   room itself): the focus, a participant, or nobody;
//! * for the focus, its role manager: on the fixture the focus's own structured log line
//!   ([`crate::standin::focus::GRANT_EVIDENCE`]: role manager class and reason), on Jitsi stacks jicofo's
//!   REST `GET /debug/conference/<room>` `chat_room_role_manager.class` (jitsi/jicofo
//!   `ChatRoomRoleManager.kt` `debugState` @ `stable/jitsi-meet_11146`);
//! * for a participant, the actor's name (and the scenario's own `grant` step, when it is one);
//! * with no actor, a Prosody module that changes affiliations (`token_affiliation`, `wait_for_host`)
//!   when the variant configures one, else `unknown`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::standin::focus::parse_grant_evidence;
use crate::timeline::{RoleChange, StepRecord};

/// Why an affiliation or role changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Cause {
    /// The focus's (jicofo's) role manager.
    RoleManager {
        /// jicofo's class name: `AuthenticationRoleManager`, `AutoOwnerRoleManager`.
        manager: String,
        /// The reason the focus logged, when it logs one (the fixture's focus does; jicofo does not).
        reason: Option<String>,
        /// What shows it: the log line or the REST field, and the presence's actor.
        evidence: String,
    },
    /// A participant's muc#admin request.
    Participant {
        /// The participant's scenario name.
        by: String,
        /// What shows it.
        evidence: String,
    },
    /// A Prosody module acting as the room (no actor in the presence).
    Module {
        /// The module as the variant names it (`token_affiliation`, `wait_for_host`).
        module: String,
        /// What shows it.
        evidence: String,
    },
    /// Nothing shows why.
    Unknown {
        /// What was looked at.
        evidence: String,
    },
}

impl Cause {
    /// The evidence, in words.
    pub fn evidence(&self) -> &str {
        match self {
            Cause::RoleManager { evidence, .. }
            | Cause::Participant { evidence, .. }
            | Cause::Module { evidence, .. }
            | Cause::Unknown { evidence } => evidence,
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::RoleManager {
                manager, reason, ..
            } => {
                let what = match manager.as_str() {
                    "AuthenticationRoleManager" => "jicofo authentication",
                    "AutoOwnerRoleManager" => "auto-owner",
                    _ => "jicofo",
                };
                write!(f, "{what} ({manager}")?;
                if let Some(r) = reason {
                    write!(f, ": {r}")?;
                }
                f.write_str(")")
            }
            Cause::Participant { by, .. } => write!(f, "{by}'s grant (muc#admin)"),
            Cause::Module { module, .. } => write!(f, "Prosody module {module}"),
            Cause::Unknown { .. } => f.write_str("unknown"),
        }
    }
}

/// One grant the focus logged ([`crate::standin::focus::grant_evidence`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FocusGrant {
    /// The bare JID granted (or revoked).
    pub jid: String,
    /// The affiliation set.
    pub affiliation: String,
    /// The role manager's class.
    pub manager: String,
    /// The reason in words.
    pub reason: String,
    /// The line as logged.
    pub line: String,
}

/// What a run can point at.
#[derive(Clone, Debug, Default)]
pub struct Evidence {
    /// The focus's grants in this run's room, oldest first.
    pub focus_grants: Vec<FocusGrant>,
    /// jicofo's `chat_room_role_manager.class` for the room, when its REST API answered.
    pub jicofo_manager: Option<String>,
    /// Bare real JID → scenario name, of everyone the run's participants saw.
    pub names_by_jid: BTreeMap<String, String>,
    /// The participants' scenario names.
    pub participants: Vec<String>,
    /// Prosody modules the variant configures that change affiliations as the room.
    pub modules: Vec<String>,
}

impl Evidence {
    /// Reads the focus's grant lines for `room_jid` (`room@muc.domain`) from its log lines.
    pub fn grants_from_log<'a>(
        lines: impl IntoIterator<Item = &'a String>,
        room_jid: &str,
    ) -> Vec<FocusGrant> {
        lines
            .into_iter()
            .filter_map(|line| {
                let (room, jid, affiliation, manager, reason) = parse_grant_evidence(line)?;
                (room == room_jid).then(|| FocusGrant {
                    jid: jid.to_owned(),
                    affiliation: affiliation.to_owned(),
                    manager: manager.to_owned(),
                    reason: reason.to_owned(),
                    line: line
                        .find(crate::standin::focus::GRANT_EVIDENCE)
                        .map(|i| line[i..].to_owned())
                        .unwrap_or_else(|| line.clone()),
                })
            })
            .collect()
    }
}

/// Gives every role change in `steps` its cause.
pub fn attribute(steps: &mut [StepRecord], evidence: &Evidence) {
    // The n-th change of (observer, who, affiliation) is the n-th focus grant of that JID and affiliation.
    let mut nth: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for step in steps.iter_mut() {
        let label = step.label.clone();
        let index = step.index;
        for change in &mut step.changes {
            let affiliation = change
                .to
                .affiliation
                .map(|a| a.as_str().to_owned())
                .unwrap_or_default();
            let key = (
                change.observer.clone(),
                change.who.clone(),
                affiliation.clone(),
            );
            let n = *nth.entry(key.clone()).or_insert(0);
            let cause = cause_of(change, evidence, n, &affiliation, index, &label);
            if matches!(cause, Cause::RoleManager { .. }) {
                nth.insert(key, n + 1);
            }
            change.cause = Some(cause);
        }
    }
}

fn cause_of(
    change: &RoleChange,
    evidence: &Evidence,
    n: usize,
    affiliation: &str,
    step_index: usize,
    step_label: &str,
) -> Cause {
    let seen = format!("seen by {} at +{} ms", change.observer, change.at_ms);
    match change.actor.as_deref() {
        Some("focus") => {
            let grant = evidence
                .focus_grants
                .iter()
                .filter(|g| {
                    g.affiliation == affiliation
                        && evidence.names_by_jid.get(&g.jid) == Some(&change.who)
                })
                .nth(n);
            if let Some(g) = grant {
                return Cause::RoleManager {
                    manager: g.manager.clone(),
                    reason: Some(g.reason.clone()),
                    evidence: format!(
                        "presence <actor nick='focus'/> {seen}; focus log: `{}`",
                        g.line
                    ),
                };
            }
            if let Some(class) = &evidence.jicofo_manager {
                return Cause::RoleManager {
                    manager: class.clone(),
                    reason: None,
                    evidence: format!(
                        "presence <actor nick='focus'/> {seen}; jicofo REST /debug/conference: \
                         chat_room_role_manager.class = {class}"
                    ),
                };
            }
            Cause::Unknown {
                evidence: format!(
                    "presence <actor nick='focus'/> {seen}, but neither the focus's log nor jicofo's \
                     REST view names a role manager"
                ),
            }
        }
        Some(actor) if evidence.participants.iter().any(|p| p == actor) => {
            let own = format!("grant {} by {actor}", change.who);
            let step = if step_label == own {
                format!("; the scenario's step {} `{own}`", step_index + 1)
            } else {
                String::new()
            };
            Cause::Participant {
                by: actor.to_owned(),
                evidence: format!("presence <actor/> names {actor}, {seen}{step}"),
            }
        }
        Some(actor) => Cause::Unknown {
            evidence: format!(
                "presence <actor/> names {actor}, who is not a participant of the scenario ({seen})"
            ),
        },
        None if !evidence.modules.is_empty() => Cause::Module {
            module: evidence.modules.join(", "),
            evidence: format!(
                "the presence names no actor (a module acts as the room itself), {seen}; the variant \
                 configures {}",
                evidence.modules.join(", ")
            ),
        },
        None => Cause::Unknown {
            evidence: format!(
                "the presence names no actor and the variant configures no Prosody module that \
                 changes affiliations ({seen})"
            ),
        },
    }
}

/// The changes of a timeline's step that matter to moderation (a seat that gains or loses moderator or
/// owner), one per occupant and new seat: the first observer's.
pub fn moderation_changes(step: &StepRecord) -> Vec<&RoleChange> {
    let mut out: Vec<&RoleChange> = Vec::new();
    for c in &step.changes {
        let owner =
            |s: &crate::timeline::Seat| s.affiliation == Some(crate::xmpp::Affiliation::Owner);
        let matters = match &c.from {
            None => true,
            Some(from) => from.is_moderator() != c.to.is_moderator() || owner(from) != owner(&c.to),
        };
        let dup = out
            .iter()
            .any(|o| o.who == c.who && o.to == c.to && o.observer != c.observer);
        if matters && !dup {
            out.push(c);
        }
    }
    out
}

/// The timeline as text with a cause per moderation change: one line per step, then one indented line
/// per change with its cause and evidence.
pub fn render_text(steps: &[StepRecord]) -> String {
    let mut out = String::new();
    for step in steps {
        let moderators = step
            .moderators()
            .map(|m| {
                if m.is_empty() {
                    "nobody".to_owned()
                } else {
                    m.into_iter().collect::<Vec<_>>().join(", ")
                }
            })
            .unwrap_or_else(|| "observers disagree".into());
        out.push_str(&format!(
            "{}. {} -> moderators: {moderators}\n",
            step.index + 1,
            step.label
        ));
        for c in moderation_changes(step) {
            let cause = c
                .cause
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_else(|| "unexplained".into());
            out.push_str(&format!("   +{} ms {}: {cause}\n", c.at_ms, c.describe()));
            if let Some(cause) = &c.cause {
                out.push_str(&format!("      evidence: {}\n", cause.evidence()));
            }
        }
    }
    out
}

/// The role changes of a timeline as an HTML `<details>` table (step, time, observer, change, cause with
/// its evidence as a tooltip); empty when nothing changed.
pub fn render_html(stack: &str, timeline: &crate::timeline::Timeline) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let count: usize = timeline.steps.iter().map(|s| s.changes.len()).sum();
    if count == 0 {
        return String::new();
    }
    let mut out = format!(
        "<details class=\"changes\" data-stack=\"{0}\"><summary>{0}: role changes ({count})</summary>\
         <table class=\"changes\"><thead><tr><th>step</th><th>time</th><th>observer</th><th>change</th>\
         <th>cause</th></tr></thead><tbody>\n",
        esc(stack)
    );
    for step in &timeline.steps {
        for c in &step.changes {
            let (cause, evidence) = c
                .cause
                .as_ref()
                .map(|k| (k.to_string(), k.evidence().to_owned()))
                .unwrap_or_else(|| ("unexplained".into(), String::new()));
            out.push_str(&format!(
                "<tr><td>{}. {}</td><td>+{} ms</td><td>{}</td><td>{}</td><td title=\"{}\">{}</td></tr>\n",
                step.index + 1,
                esc(&step.label),
                c.at_ms,
                esc(&c.observer),
                esc(&c.describe()),
                esc(&evidence),
                esc(&cause)
            ));
        }
    }
    out.push_str("</tbody></table></details>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::Seat;

    fn seat(role: &str, aff: &str) -> Seat {
        Seat {
            role: role.parse().unwrap(),
            affiliation: Some(aff.parse().unwrap()),
        }
    }

    fn change(observer: &str, who: &str, actor: Option<&str>) -> RoleChange {
        RoleChange {
            at_ms: 40,
            observer: observer.into(),
            who: who.into(),
            from: Some(seat("participant", "none")),
            to: seat("moderator", "owner"),
            actor: actor.map(Into::into),
            cause: None,
        }
    }

    fn step(label: &str, changes: Vec<RoleChange>) -> StepRecord {
        let mut r = crate::timeline::record_for(
            &crate::scenario::Step {
                index: 0,
                line: 1,
                action: crate::scenario::Action::Wait(std::time::Duration::ZERO),
                expect: Default::default(),
                per_variant: Default::default(),
                timeout: None,
                note: None,
            },
            "x.toml:1".into(),
        );
        r.label = label.into();
        r.changes = changes;
        r
    }

    fn evidence() -> Evidence {
        let lines = [
            "focus: r1@muc.meet.jitsi: bob joined".to_owned(),
            format!(
                "focus: {}",
                crate::standin::focus::grant_evidence(
                    "r1@muc.meet.jitsi",
                    "b@meet.jitsi",
                    "owner",
                    "AuthenticationRoleManager",
                    "authenticated user"
                )
            ),
            format!(
                "focus: {}",
                crate::standin::focus::grant_evidence(
                    "other@muc.meet.jitsi",
                    "c@meet.jitsi",
                    "owner",
                    "AutoOwnerRoleManager",
                    "auto-owner election"
                )
            ),
        ];
        Evidence {
            focus_grants: Evidence::grants_from_log(&lines, "r1@muc.meet.jitsi"),
            jicofo_manager: None,
            names_by_jid: [("b@meet.jitsi".to_owned(), "bob".to_owned())].into(),
            participants: vec!["alice".into(), "bob".into(), "carol".into()],
            modules: vec![],
        }
    }

    #[test]
    fn each_change_is_attributed_from_its_evidence() {
        let mut steps = vec![step(
            "grant carol by alice",
            vec![
                change("alice", "bob", Some("focus")),
                change("alice", "carol", Some("alice")),
                change("alice", "dave", None),
            ],
        )];
        let ev = evidence();
        assert_eq!(ev.focus_grants.len(), 1, "only this room's grants");
        attribute(&mut steps, &ev);
        let causes: Vec<String> = steps[0]
            .changes
            .iter()
            .map(|c| c.cause.as_ref().unwrap().to_string())
            .collect();
        assert_eq!(
            causes,
            [
                "jicofo authentication (AuthenticationRoleManager: authenticated user)",
                "alice's grant (muc#admin)",
                "unknown"
            ]
        );
        let evidence = steps[0].changes[0].cause.as_ref().unwrap().evidence();
        assert!(
            evidence.contains("role-grant room=r1@muc.meet.jitsi jid=b@meet.jitsi"),
            "{evidence}"
        );
        assert!(steps[0].changes[1]
            .cause
            .as_ref()
            .unwrap()
            .evidence()
            .contains("step 1 `grant carol by alice`"));
    }

    #[test]
    fn without_a_log_line_jicofo_rest_or_a_module_is_the_evidence() {
        let mut ev = evidence();
        ev.focus_grants.clear();
        ev.jicofo_manager = Some("AutoOwnerRoleManager".into());
        ev.modules = vec!["token_affiliation".into()];
        let mut steps = vec![step(
            "join bob",
            vec![
                change("bob", "bob", Some("focus")),
                change("bob", "carol", None),
            ],
        )];
        attribute(&mut steps, &ev);
        let c = &steps[0].changes;
        assert_eq!(
            c[0].cause.as_ref().unwrap().to_string(),
            "auto-owner (AutoOwnerRoleManager)"
        );
        assert!(c[0]
            .cause
            .as_ref()
            .unwrap()
            .evidence()
            .contains("chat_room_role_manager.class"));
        assert_eq!(
            c[1].cause.as_ref().unwrap().to_string(),
            "Prosody module token_affiliation"
        );
        let text = render_text(&steps);
        assert!(
            text.contains("+40 ms bob none/participant -> owner/moderator by focus: auto-owner"),
            "{text}"
        );
    }
}
