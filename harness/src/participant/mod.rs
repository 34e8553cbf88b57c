//! Participants: what joins a room and observes it. [`bot`] speaks raw XMPP; `browser` drives a headless
//! Chromium; [`jicofo`] is one more observer (jicofo's REST view, no seat in the room). All report what
//! they see as an [`Observation`]; the runner maps it onto scenario names by display name (bots read the
//! XEP-0172 `<nick/>` of each presence, the web app shows names), by nick for participants with a nick of
//! their own, and — for jicofo, which knows no display names — by real JID ([`names_by_jid`]). Bots join
//! with lib-jitsi-meet's nick (the first 8 characters of their login), as the web client does. [`setup`] builds participants from a stack's
//! `Endpoints`, for the runner, the tests and the benchmark alike; a [`Participant`] is one of either kind
//! once joined.

pub mod bot;
pub mod browser;
pub mod jicofo;
pub mod refusal;
pub mod setup;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

pub use bot::{Bot, BotConfig, BotError, BotJoin, BotTimeouts, BotView, Phase, PresenceChange};
pub use browser::{
    Browser, BrowserConfig, BrowserError, BrowserJoin, BrowserTimeouts, Driver, DriverOptions,
    PageKind, PagePhase, PageState,
};
pub use setup::{Prepared, Setup, SetupError};

use crate::xmpp::muc::Roster;
use crate::xmpp::{Affiliation, Role};

/// A participant's failure, whichever transport it uses.
#[derive(Debug, thiserror::Error)]
pub enum ParticipantError {
    /// A protocol bot's failure.
    #[error(transparent)]
    Bot(#[from] BotError),
    /// A browser participant's failure.
    #[error(transparent)]
    Browser(#[from] browser::BrowserError),
    /// The participant's transport cannot do this.
    #[error("{what}")]
    Unsupported {
        /// What cannot be done, and by whom.
        what: String,
    },
}

impl ParticipantError {
    /// The deployment refused the join (an observation, not a harness failure).
    pub fn is_refusal(&self) -> bool {
        match self {
            ParticipantError::Bot(e) => e.is_refusal(),
            ParticipantError::Browser(e) => e.is_refusal(),
            ParticipantError::Unsupported { .. } => false,
        }
    }

    /// The deployment's answer when it refused a request (grant, kick): an observation for the timeline.
    /// `None` for any other failure.
    pub fn refused_request(&self) -> Option<String> {
        match self {
            ParticipantError::Bot(BotError::RequestFailed {
                condition, text, ..
            }) => Some(format!(
                "{condition}{}",
                text.as_ref().map(|t| format!(" ({t})")).unwrap_or_default()
            )),
            ParticipantError::Browser(BrowserError::RequestFailed { reason, .. }) => {
                Some(reason.clone())
            }
            _ => None,
        }
    }
}

/// One occupant as an observer sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Seen {
    /// MUC nick (the jitsi-meet web app's participant id is the nick too).
    pub nick: String,
    /// Display name, when the observer knows it (from presence `<nick/>`, the page, or the real JID).
    pub name: Option<String>,
    /// The occupant's MUC role.
    pub role: Role,
    /// The occupant's affiliation; `None` when the observer cannot see it (the web app).
    pub affiliation: Option<Affiliation>,
}

impl Seen {
    /// Role `moderator`.
    pub fn is_moderator(&self) -> bool {
        self.role == Role::Moderator
    }
}

/// What one observer sees at one moment: every participant (the focus excluded), itself included.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Observation {
    /// The observer is in the room and its connection is alive.
    pub present: bool,
    /// Occupants by nick.
    pub occupants: BTreeMap<String, Seen>,
    /// The observer's own nick.
    pub own: Option<String>,
}

impl Observation {
    /// From a bot's roster (the focus is left out).
    pub fn from_roster(present: bool, roster: &Roster) -> Self {
        Observation {
            present,
            own: roster.own_nick.clone(),
            occupants: roster
                .participants()
                .map(|o| {
                    (
                        o.nick.to_string(),
                        Seen {
                            nick: o.nick.to_string(),
                            name: o.display_name.as_deref().map(str::to_owned),
                            role: o.role,
                            affiliation: Some(o.affiliation),
                        },
                    )
                })
                .collect(),
        }
    }
}

/// One affiliation or role change an observer saw, as it arrived (issue 13 item 5: role changes between
/// steps, kept in the result). Only changes of a seat are recorded, plus arrivals already above the
/// default seat (a join as owner); plain joins and leaves are not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeatChange {
    /// When the presence arrived.
    pub at: std::time::Instant,
    /// The occupant's nick.
    pub nick: String,
    /// The occupant's display name, when it sends one.
    pub name: Option<String>,
    /// The seat before; `None` when the occupant arrived in this seat.
    pub from: Option<(Affiliation, Role)>,
    /// The seat after.
    pub to: (Affiliation, Role),
    /// Who made the change, from the presence's `<actor/>`: the actor's display name when the observer
    /// sees one, else its nick (or real JID).
    pub actor: Option<String>,
    /// Whether the actor is the focus (jicofo) rather than a participant.
    pub actor_is_focus: bool,
}

impl SeatChange {
    /// The change `event` makes to `roster`, read before the event is applied; `None` when it changes no
    /// seat or concerns the focus.
    pub fn of(roster: &Roster, event: &crate::xmpp::muc::OccupantEvent) -> Option<SeatChange> {
        let crate::xmpp::muc::OccupantEvent::Available {
            occupant, actor, ..
        } = event
        else {
            return None;
        };
        if roster.is_focus(occupant) {
            return None;
        }
        let to = (occupant.affiliation, occupant.role);
        let from = roster
            .occupants
            .get(&occupant.nick)
            .map(|o| (o.affiliation, o.role));
        match from {
            Some(from) if from == to => return None,
            None if to.1 != Role::Moderator && to.0 != Affiliation::Owner => return None,
            _ => {}
        }
        let actor_occupant = actor.as_deref().and_then(|a| {
            roster.occupants.get(a).or_else(|| {
                roster
                    .occupants
                    .values()
                    .find(|o| o.jid.as_deref().is_some_and(|j| j == a))
            })
        });
        let actor_is_focus = match (actor_occupant, actor.as_deref()) {
            (Some(o), _) => roster.is_focus(o),
            (None, Some(a)) => a == "focus",
            (None, None) => false,
        };
        let actor = actor.as_ref().map(|a| {
            actor_occupant
                .and_then(|o| o.display_name.as_deref())
                .map(str::to_owned)
                .unwrap_or_else(|| a.clone())
        });
        Some(SeatChange {
            at: std::time::Instant::now(),
            nick: occupant.nick.to_string(),
            name: occupant.display_name.as_deref().map(str::to_owned),
            from,
            to,
            actor,
            actor_is_focus,
        })
    }
}

/// Bare real JID → display name of every occupant the bots among `live` see (rooms are
/// `whois=anyone`), and each bot's own login under its scenario name: how jicofo's view, which has JIDs
/// but no display names, is named ([`jicofo::JicofoView::observation_named`]).
pub fn names_by_jid<'a>(
    live: impl IntoIterator<Item = (&'a String, &'a Participant)>,
) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for (name, participant) in live {
        let Participant::Bot(bot) = participant else {
            continue;
        };
        bot.with_roster(|_, roster| {
            for o in roster.occupants.values() {
                if let (Some(jid), Some(shown)) = (&o.jid, &o.display_name) {
                    let bare = jid.split('/').next().unwrap_or(jid);
                    names
                        .entry(bare.to_owned())
                        .or_insert_with(|| shown.to_string());
                }
            }
        });
        names.insert(bot.jid().to_bare().to_string(), name.clone());
    }
    names
}

/// What holds a participant outside the room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Waiting {
    /// Knocking in the room's lobby until a moderator admits or denies it.
    Lobby,
    /// Held in the lobby that jitsi-meet's `muc_wait_for_host` opens until a host (a token holder) joins.
    WaitForHost,
}

impl Waiting {
    /// `lobby` or `wait-for-host`, as snapshots and reports write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Waiting::Lobby => "lobby",
            Waiting::WaitForHost => "wait-for-host",
        }
    }
}

impl std::fmt::Display for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a participant stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// In the room, seeing this.
    InRoom(Observation),
    /// Joined, but waiting outside the room (it observes nothing meanwhile).
    Waiting(Waiting),
    /// Kicked out by a moderator.
    Kicked,
    /// Out of the room for any other reason (connection died, page gone), with the reason.
    Failed(String),
}

/// A joined participant of either kind.
pub enum Participant {
    /// A raw XMPP bot.
    Bot(Bot),
    /// A headless browser running the web app.
    Browser(Browser),
}

impl std::fmt::Debug for Participant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Participant::Bot(b) => f.debug_tuple("Bot").field(b).finish(),
            Participant::Browser(_) => f.write_str("Browser"),
        }
    }
}

impl Participant {
    /// Where the participant stands now, with what it sees when in the room.
    pub async fn status(&self) -> Status {
        match self {
            Participant::Bot(b) => b.with_roster(|phase, roster| match phase {
                Phase::Joined => Status::InRoom(Observation::from_roster(true, roster)),
                Phase::Waiting(why) => Status::Waiting(*why),
                Phase::Kicked => Status::Kicked,
                Phase::Left => Status::Failed("left the room unexpectedly".into()),
                Phase::Failed(reason) => Status::Failed(reason.clone()),
            }),
            Participant::Browser(b) => match b.page_state().await {
                Ok(state) => match state.phase {
                    PagePhase::Joined => Status::InRoom(state.observation),
                    PagePhase::Left { kicked: true } => Status::Kicked,
                    other => {
                        Status::Failed(format!("the page is no longer in the room: {other:?}"))
                    }
                },
                Err(e) => Status::Failed(e.to_string()),
            },
        }
    }

    /// The affiliation and role changes seen since the last call (bots; a browser page shows no history,
    /// so browsers return none).
    pub fn take_seat_changes(&self) -> Vec<SeatChange> {
        match self {
            Participant::Bot(b) => b.take_seat_changes(),
            Participant::Browser(_) => Vec::new(),
        }
    }

    /// A receiver of every change from now on, for participants that announce them (bots); browsers
    /// must be polled (`None`). See [`Bot::changes`] for how to wait on it without spinning.
    pub fn changes(&self) -> Option<watch::Receiver<u64>> {
        match self {
            Participant::Bot(b) => Some(b.changes()),
            Participant::Browser(_) => None,
        }
    }

    /// Leaves the room cleanly.
    pub async fn leave(self) -> Result<(), ParticipantError> {
        match self {
            Participant::Bot(b) => Ok(b.leave().await?),
            Participant::Browser(b) => Ok(b.leave().await?),
        }
    }

    /// Drops the connection with no goodbye.
    pub async fn disconnect(self) {
        match self {
            Participant::Bot(b) => b.disconnect().await,
            Participant::Browser(b) => {
                let _ = b.disconnect().await;
            }
        }
    }

    /// The nick of the occupant a scenario calls `who` (its nick, or its display name: bots join with
    /// lib-jitsi-meet's nick and show their scenario name), as this participant sees the room; `who`
    /// itself when it sees no such occupant (the request then fails the way the deployment answers it).
    pub async fn nick_of(&self, who: &str) -> String {
        match self {
            Participant::Bot(b) => b.with_roster(|_, roster| {
                roster
                    .find(who)
                    .map(|o| o.nick.to_string())
                    .unwrap_or_else(|| who.to_owned())
            }),
            Participant::Browser(b) => match b.page_state().await {
                Ok(state) if !state.observation.occupants.contains_key(who) => state
                    .observation
                    .occupants
                    .values()
                    .find(|s| s.name.as_deref() == Some(who))
                    .map(|s| s.nick.clone())
                    .unwrap_or_else(|| who.to_owned()),
                _ => who.to_owned(),
            },
        }
    }

    /// As a moderator, kicks the occupant a scenario calls `who` (nick or display name).
    pub async fn kick(&self, who: &str) -> Result<(), ParticipantError> {
        let nick = self.nick_of(who).await;
        match self {
            Participant::Bot(b) => Ok(b.kick(&nick).await?),
            Participant::Browser(b) => Ok(b.kick(&nick).await?),
        }
    }

    /// As a moderator, makes the occupant a scenario calls `who` (nick or display name) owner.
    pub async fn grant(&self, who: &str) -> Result<(), ParticipantError> {
        let nick = self.nick_of(who).await;
        let nick = nick.as_str();
        match self {
            Participant::Browser(b) => Ok(b.grant_owner(nick).await?),
            Participant::Bot(b) => {
                // muc#admin grants by real JID (jicofo's grantOwnership does the same); rooms are
                // whois=anyone, so the granter sees it.
                let jid = b.with_roster(|_, roster| roster.bare_jid(nick));
                match jid {
                    Some(jid) => Ok(b.grant_owner(&jid).await?),
                    None => Err(BotError::RequestFailed {
                        what: format!("granting owner to {nick}"),
                        condition: "jid-hidden".into(),
                        text: Some(format!("the granter cannot see {nick}'s real JID")),
                    }
                    .into()),
                }
            }
        }
    }

    /// The `session-id` the focus gave a bot's connection (authentication on); `None` for browsers,
    /// whose page keeps its own.
    pub fn session_id(&self) -> Option<String> {
        match self {
            Participant::Bot(b) => b.session_id().map(str::to_owned),
            Participant::Browser(_) => None,
        }
    }

    /// Sends a presence update (mute, hand, display name) as the web app does. Bots only: `Ok(false)` for a
    /// browser, whose page the harness does not click through (the runner says so).
    pub async fn update_presence(&self, change: &PresenceChange) -> Result<bool, ParticipantError> {
        match self {
            Participant::Bot(b) => Ok(b.update_presence(change).await.map(|()| true)?),
            Participant::Browser(_) => Ok(false),
        }
    }

    /// As a moderator, turns the lobby on or off (the room's members-only switch).
    pub async fn set_lobby(&self, enabled: bool) -> Result<(), ParticipantError> {
        match self {
            Participant::Bot(b) => Ok(b.set_members_only(enabled).await?),
            Participant::Browser(_) => Err(browsers_cannot("switch the lobby")),
        }
    }

    /// As a moderator, admits `who` from the lobby: an invite to its real JID, as lib-jitsi-meet's
    /// `Lobby.approveAccess` sends it (the client reads the JID from the lobby room's presence; the
    /// harness knows it from the bot that waits).
    pub async fn admit(&self, who: &Participant) -> Result<(), ParticipantError> {
        let Participant::Bot(waiting) = who else {
            return Err(browsers_cannot("wait in the lobby"));
        };
        match self {
            Participant::Bot(b) => Ok(b.admit(waiting.jid()).await?),
            Participant::Browser(_) => Err(browsers_cannot("admit from the lobby")),
        }
    }

    /// As a moderator, turns `who` away from the lobby: a kick from the lobby room (lib-jitsi-meet's
    /// `Lobby.denyAccess`), which the moderator joins first as lib-jitsi-meet's moderators do.
    pub async fn deny(&self, who: &Participant) -> Result<(), ParticipantError> {
        let Participant::Bot(waiting) = who else {
            return Err(browsers_cannot("wait in the lobby"));
        };
        let Some(occupant) = waiting.lobby_occupant() else {
            return Err(BotError::RequestFailed {
                what: "denying a participant".into(),
                condition: "item-not-found".into(),
                text: Some("it is not waiting in a lobby".into()),
            }
            .into());
        };
        match self {
            Participant::Bot(b) => Ok(b.deny(&occupant).await?),
            Participant::Browser(_) => Err(browsers_cannot("deny from the lobby")),
        }
    }

    /// A browser's screenshot, console log and page source into `folder` (bots have none).
    pub async fn capture(&self, folder: &Path, name: &str) -> Result<(), ParticipantError> {
        match self {
            Participant::Bot(_) => Ok(()),
            Participant::Browser(b) => Ok(b.capture(folder, name).await.map(|_| ())?),
        }
    }
}

fn browsers_cannot(what: &str) -> ParticipantError {
    ParticipantError::Unsupported {
        what: format!("a browser participant cannot {what} yet (lobby steps are for bots)"),
    }
}
