//! The validated scenario: plain values, no spans, no I/O. Everything here has passed
//! `validate`, so the runner can trust names, order and expectations.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;
use crate::token::TokenOverrides;

/// Convergence deadline of a step when neither the step nor the scenario sets `timeout`.
///
/// Ten seconds: jitsi-meet's own tests give a moderator hand-over 3 s; jicofo's owner grant goes
/// through the focus and Prosody, and CI machines are slow, so three times that plus margin.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One scenario file, checked: who takes part and what happens, step by step, with the expected
/// moderators after each step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    /// The file stem (`auto_owner_hands_over`); names snapshots and test trials.
    pub name: String,
    /// The file as given to [`load`](super::load) (relative to the working directory).
    pub path: PathBuf,
    /// What the scenario checks, in the words of its bug report.
    pub description: String,
    /// The bug report or document the scenario comes from.
    pub source: Option<String>,
    /// Variant names from `scenarios/variants.toml`, at least one.
    pub variants: Vec<String>,
    /// Per-step convergence deadline (`timeout`, default [`DEFAULT_TIMEOUT`]).
    #[serde(serialize_with = "duration::serialize")]
    pub timeout: Duration,
    /// The participants, in file order.
    pub participants: Vec<ParticipantSpec>,
    /// The steps, in file order.
    pub steps: Vec<Step>,
    /// `explain = true`: the snapshot lines carry the cause of each owner/moderator change.
    pub explain: bool,
    /// Features the scenario needs from a stack (`requires = ["lobby"]`): a stack that cannot provide
    /// one reports the scenario as skipped with the reason, never as passed.
    pub requires: Vec<String>,
}

/// A participant as declared under `[participants]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParticipantSpec {
    /// The scenario name (`alice`); timelines and snapshots speak these names.
    pub name: String,
    /// The MUC nick (resource of the occupant JID) of a browser on the fixture page, or of a bot that
    /// names one ([`Self::nick_explicit`]); defaults to `name`.
    pub nick: String,
    /// Whether the scenario names the nick (`nick = "…"`). Bots without one join with lib-jitsi-meet's
    /// nick (derived from their login) and present `name` as their display name.
    pub nick_explicit: bool,
    /// What drives the participant.
    pub transport: Transport,
    /// How the participant logs in.
    pub login: Login,
    /// How its token differs from a valid one (only meaningful with [`Login::Token`]).
    pub token: TokenOverrides,
}

#[cfg(test)]
impl ParticipantSpec {
    /// A bot with a valid token: the participant most unit tests need.
    pub(crate) fn test_bot(name: &str, nick: &str) -> Self {
        ParticipantSpec {
            name: name.into(),
            nick: nick.into(),
            nick_explicit: name != nick,
            transport: Transport::Bot,
            login: Login::Token,
            token: TokenOverrides::default(),
        }
    }
}

/// What drives a participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// A raw XMPP bot over WebSocket (fast, the default).
    #[default]
    Bot,
    /// Jitsi Meet in a real browser (fantoccini).
    Browser,
}

/// How a participant logs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Login {
    /// On the main domain with a JWT (the default), shaped by `token` overrides.
    #[default]
    Token,
    /// Anonymously on the guest domain (`ENABLE_GUESTS`), without a token.
    Guest,
    /// On the main domain without a token (`JWT_ALLOW_EMPTY`).
    None,
    /// On the main domain as a registered account with its password (variants with `internal_auth`: the
    /// stack registers an account named like the participant).
    Password,
}

/// One `[[step]]`: an action, then what must hold once the room has settled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// Position in the scenario, 0-based (messages say "step {index + 1}").
    pub index: usize,
    /// 1-based line of the step's `[[step]]` header, for `file:line` in messages.
    pub line: usize,
    /// What happens.
    pub action: Action,
    /// What must hold after it.
    pub expect: Expect,
    /// Overrides the scenario's `timeout` for this step.
    #[serde(serialize_with = "duration::serialize_option")]
    pub timeout: Option<Duration>,
    /// Free text shown in reports.
    pub note: Option<String>,
    /// Per-variant expectations (`moderators = { jwt-auto-owner = ["alice"], … }`): for a variant named
    /// here, the whole expectation that applies under it ([`Scenario::for_variant`]).
    pub per_variant: std::collections::BTreeMap<String, Expect>,
}

/// What a step does. Verbs are the bug reports' verbs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// First join of one or several participants, at the same time.
    Join(Vec<String>),
    /// Clean leave: unavailable presence, then close.
    Leave(String),
    /// Abrupt: the socket is dropped without an unavailable presence.
    Disconnect(String),
    /// Joins again after a leave, disconnect or kick, with a fresh login.
    Rejoin(String),
    /// Nothing happens for this long.
    Wait(#[serde(serialize_with = "duration::serialize")] Duration),
    /// `by` makes `to` owner through muc#admin.
    Grant {
        /// Who grants (normally a moderator).
        by: String,
        /// Who is made owner.
        to: String,
    },
    /// `by` kicks `who` (role none through muc#admin).
    Kick {
        /// Who kicks (normally a moderator).
        by: String,
        /// Who is kicked.
        who: String,
    },
    /// `by`, a moderator, turns the lobby on (the room becomes members-only; newcomers knock).
    EnableLobby {
        /// Who turns it on.
        by: String,
    },
    /// `by`, a moderator, turns the lobby off (whoever waits in it joins the room).
    DisableLobby {
        /// Who turns it off.
        by: String,
    },
    /// `by`, a moderator, lets `who` in from the lobby.
    Admit {
        /// Who admits (a moderator).
        by: String,
        /// Who waits in the lobby.
        who: String,
    },
    /// `by`, a moderator, turns `who` away from the lobby.
    Deny {
        /// Who denies (a moderator).
        by: String,
        /// Who waits in the lobby.
        who: String,
    },
    /// A service of the stack is stopped and started again (`restart = "prosody"`): torture's restart
    /// tests as a timeline. A Prosody restart ends every participant's session.
    Restart(String),
    /// A service of the stack is stopped for the rest of the run (`stop = "focus"`).
    Stop(String),
    /// A service of the stack is frozen for a while, then thawed (`pause = { service, for }`).
    Pause {
        /// The service (`prosody`).
        service: String,
        /// How long it stays frozen.
        #[serde(rename = "for", serialize_with = "duration::serialize")]
        duration: Duration,
    },
    /// A step on "whoever is moderator now" (`leave = { moderator = true }`, `kick = { by = { moderator =
    /// true }, who = "bob" }`): after an arbitrary hand-over only the role names the person. Resolved when
    /// the step runs; exactly one moderator must be in the room then.
    Moderator(ModeratorAction),
    /// A page reload (`reload = "alice"`): the connection drops as a closing tab's does, and the same
    /// user joins again at once with the same `machine-uid` and the `session-id` the focus gave it, as
    /// lib-jitsi-meet does after a reload (jicofo#760: owner restored for authenticated users).
    Reload(String),
    /// A presence update as the client sends it when its user mutes, raises a hand or renames itself
    /// (`presence = { who, muted, raise_hand, nick }`).
    Presence(PresenceUpdate),
}

/// What "whoever is moderator now" does, or has done to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModeratorAction {
    /// `leave = { moderator = true }`.
    Leave,
    /// `disconnect = { moderator = true }`.
    Disconnect,
    /// `kick = { by = { moderator = true }, who = "bob" }`: the moderator kicks `who`.
    Kicks {
        /// Who is kicked.
        who: String,
    },
    /// `kick = { by = "alice", who = { moderator = true } }`: `by` kicks the moderator.
    KickedBy {
        /// Who kicks.
        by: String,
    },
    /// `grant = { by = { moderator = true }, to = "bob" }`: the moderator makes `to` owner.
    Grants {
        /// Who is made owner.
        to: String,
    },
}

/// `presence = { who = "alice", muted = true, raise_hand = true, nick = "Alice B." }`: jitsi-meet's
/// presence extensions (`audiomuted`/`videomuted`, `jitsi_participant_raisedHand`, the XEP-0172 nick).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PresenceUpdate {
    /// Who sends it.
    pub who: String,
    /// Audio and video muted (`true`) or unmuted (`false`); unset: unchanged.
    pub muted: Option<bool>,
    /// Hand raised or lowered; unset: unchanged.
    pub raise_hand: Option<bool>,
    /// A new display name; unset: unchanged.
    pub nick: Option<String>,
}

/// What must hold after a step. Unset parts are not checked; the timeline records them anyway.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Expect {
    /// Exactly this set is moderator.
    pub moderators: Option<Vec<String>>,
    /// Exactly one moderator, and it is one of these (jicofo's successor choice is arbitrary).
    pub moderators_one_of: Option<Vec<String>>,
    /// This many moderators, whoever they are.
    pub moderator_count: Option<usize>,
    /// These participants of this step's join (or rejoin) must be refused.
    pub rejected: Vec<String>,
    /// No occupant's seat may go A -> B -> A while the step settles, as any observer saw it
    /// (jitsi-meet#14192: moderator, then none).
    pub no_flaps: bool,
    /// Exactly this set waits (in a lobby, or for the host); `None`: not checked.
    pub waiting: Option<Vec<String>>,
    /// These participants hold exactly these affiliations (`affiliations = { alice = "owner", bob =
    /// "member" }`): where owner and member differ although both roles look alike, e.g. moderator
    /// claims honoured by Prosody's `token_affiliation`.
    pub affiliations: std::collections::BTreeMap<String, crate::xmpp::Affiliation>,
}

impl Expect {
    /// Whether the step checks nothing.
    pub fn is_empty(&self) -> bool {
        self == &Expect::default()
    }
}

impl Action {
    /// Every participant the action names, in the order written.
    pub fn participants(&self) -> Vec<&str> {
        match self {
            Action::Join(names) => names.iter().map(String::as_str).collect(),
            Action::Leave(who) | Action::Disconnect(who) | Action::Rejoin(who) => vec![who],
            Action::Wait(_) => Vec::new(),
            Action::Grant { by, to } => vec![by, to],
            Action::Kick { by, who } => vec![by, who],
            Action::Restart(_) | Action::Stop(_) | Action::Pause { .. } => Vec::new(),
            Action::Moderator(m) => match m {
                ModeratorAction::Leave | ModeratorAction::Disconnect => Vec::new(),
                ModeratorAction::Kicks { who } => vec![who],
                ModeratorAction::KickedBy { by } => vec![by],
                ModeratorAction::Grants { to } => vec![to],
            },
            Action::Presence(p) => vec![&p.who],
            Action::Reload(who) => vec![who],
            Action::EnableLobby { by } | Action::DisableLobby { by } => vec![by],
            Action::Admit { by, who } | Action::Deny { by, who } => vec![by, who],
        }
    }

    /// The stack service a fault step breaks (`restart`, `stop`, `pause`), if the action is one.
    pub fn service(&self) -> Option<&str> {
        match self {
            Action::Restart(s) | Action::Stop(s) | Action::Pause { service: s, .. } => Some(s),
            _ => None,
        }
    }
}

impl Step {
    /// A short, stable description used as a snapshot key: `join alice`, `join bob, carol`,
    /// `leave alice`, `disconnect bob`, `rejoin alice`, `wait 2s`, `grant alice by carol`,
    /// `kick alice by carol`, `restart prosody`, `stop focus`, `pause prosody for 2s`, `enable lobby by
    /// alice`, `disable lobby by alice`, `admit bob by alice`, `deny bob by alice`.
    pub fn label(&self) -> String {
        match &self.action {
            Action::Join(names) => format!("join {}", names.join(", ")),
            Action::Leave(who) => format!("leave {who}"),
            Action::Disconnect(who) => format!("disconnect {who}"),
            Action::Rejoin(who) => format!("rejoin {who}"),
            Action::Wait(d) => format!("wait {}", duration::format_duration(*d)),
            Action::Grant { by, to } => format!("grant {to} by {by}"),
            Action::Kick { by, who } => format!("kick {who} by {by}"),
            Action::Restart(service) => format!("restart {service}"),
            Action::Stop(service) => format!("stop {service}"),
            Action::Pause { service, duration } => {
                format!(
                    "pause {service} for {}",
                    duration::format_duration(*duration)
                )
            }
            Action::Moderator(m) => match m {
                ModeratorAction::Leave => "leave the moderator".into(),
                ModeratorAction::Disconnect => "disconnect the moderator".into(),
                ModeratorAction::Kicks { who } => format!("kick {who} by the moderator"),
                ModeratorAction::KickedBy { by } => format!("kick the moderator by {by}"),
                ModeratorAction::Grants { to } => format!("grant {to} by the moderator"),
            },
            Action::Reload(who) => format!("reload {who}"),
            Action::Presence(p) => {
                let mut what = Vec::new();
                if let Some(m) = p.muted {
                    what.push(if m { "muted" } else { "unmuted" }.to_owned());
                }
                if let Some(h) = p.raise_hand {
                    what.push(if h { "hand raised" } else { "hand lowered" }.to_owned());
                }
                if let Some(n) = &p.nick {
                    what.push(format!("nick {n:?}"));
                }
                format!("presence {}: {}", p.who, what.join(", "))
            }
            Action::EnableLobby { by } => format!("enable lobby by {by}"),
            Action::DisableLobby { by } => format!("disable lobby by {by}"),
            Action::Admit { by, who } => format!("admit {who} by {by}"),
            Action::Deny { by, who } => format!("deny {who} by {by}"),
        }
    }

    /// The expectations that hold under `variant`: the per-variant ones where the step has them.
    pub fn expect_for(&self, variant: &str) -> &Expect {
        self.per_variant.get(variant).unwrap_or(&self.expect)
    }
}

impl Scenario {
    /// The participant called `name`.
    pub fn participant(&self, name: &str) -> Option<&ParticipantSpec> {
        self.participants.iter().find(|p| p.name == name)
    }

    /// `path:line` of a step's `[[step]]` header, e.g. `scenarios/seed.toml:14`.
    pub fn location(&self, step: &Step) -> String {
        format!("{}:{}", self.path.display(), step.line)
    }

    /// The deadline that applies to `step`: its own `timeout`, else the scenario's.
    pub fn timeout_of(&self, step: &Step) -> Duration {
        step.timeout.unwrap_or(self.timeout)
    }

    /// The scenario as it runs under `variant`: every step's expectations are the ones that hold under it
    /// ([`Step::expect_for`]), so the runner, the timeline and the snapshot read `step.expect` alone.
    pub fn for_variant(&self, variant: &str) -> Scenario {
        let mut s = self.clone();
        for step in &mut s.steps {
            if let Some(expect) = step.per_variant.get(variant) {
                step.expect = expect.clone();
            }
        }
        s
    }
}
