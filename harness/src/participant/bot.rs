//! A raw XMPP bot: joins a Jitsi conference the way lib-jitsi-meet does, minus media, and keeps a live
//! roster of every occupant's affiliation and role.
//!
//! Join protocol (as lib-jitsi-meet's `xmpp/xmpp.js` and `xmpp/moderator.js` do it): WebSocket with
//! `?room=ROOM&token=JWT`, SASL ANONYMOUS, bind; the focus `<conference/>` request with `machine-uid`
//! (and the JWT as `token` where the release's client sends it), retried on lib-jitsi-meet's schedule
//! ([`focus_retry_delay`]) while the focus answers `ready='false'`; MUC join with lib-jitsi-meet's nick
//! (the first 8 characters of the login's local part, [`nick::from_login`]) unless the scenario names
//! one, and the display name as XEP-0172 `<nick/>` in presence. Afterwards a background task answers disco#info, answers the focus's
//! Jingle `session-initiate` (and any other IQ set from the focus) with a result — never an error, which
//! would make jicofo tear the session down — and applies every presence to the roster.
//!
//! Lobby and wait-for-host (jitsi-meet `mod_muc_lobby_rooms.lua`, `mod_muc_wait_for_host.lua`; lib-jitsi-meet
//! `modules/xmpp/Lobby.ts`): a join refused with `registration-required` that names a `<lobbyroom/>` is a
//! knock: the bot joins that lobby room and waits ([`Phase::Waiting`]); an invite from the main room
//! (admitted) or the lobby room's destruction pointing at the main room (lobby off, host arrived) makes it
//! join the main room; a kick from the lobby room (denied) or its destruction without a new room puts it
//! out ([`Phase::Kicked`]). As a moderator it switches the lobby (`muc#roomconfig_membersonly`), admits
//! (a mediated invite) and denies (a kick in the lobby room, which it joins first).
//!
//! There is no hidden reconnect: if the connection drops, the bot's phase becomes
//! [`Phase::Failed`] and the runner sees it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use minidom::Element;
use tokio::sync::{mpsc, oneshot, watch};
use xmpp_parsers::disco::{DiscoInfoResult, Identity};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, FullJid, Jid};
use xmpp_parsers::muc::Muc;
use xmpp_parsers::presence::{Presence, Type as PresenceType};

use super::SeatChange;
use crate::participant::Waiting;
use crate::redact::redact_url;
use crate::token::Token;
use crate::xmpp::muc::{error_condition, occupant_event_wire, Interner, OccupantEvent, Roster};
use crate::xmpp::stanza::from_wire;
use crate::xmpp::transcript::{Direction, Transcript};
use crate::xmpp::websocket::{parse_frame, Incoming, Timeouts, XmppError, XmppWebSocket};
use crate::xmpp::{nick, ns};
use crate::xmpp::{Conference, MucAdmin};

/// Deadlines of one bot.
#[derive(Clone, Copy, Debug)]
pub struct BotTimeouts {
    /// Connect, open, SASL, bind (each step).
    pub connect: Timeouts,
    /// Total time to get `ready='true'` from the focus, retries included.
    pub focus: Duration,
    /// From the MUC join presence to our own presence (or an error).
    pub join: Duration,
    /// From the unavailable presence to the room's confirmation.
    pub leave: Duration,
    /// A muc#admin request's answer.
    pub request: Duration,
    /// Keepalive: a WebSocket ping every this often; no pong for twice this is a dead connection.
    pub keepalive: Duration,
}

impl Default for BotTimeouts {
    fn default() -> Self {
        BotTimeouts {
            connect: Timeouts::default(),
            // lib-jitsi-meet retries ready=false forever (`focus_retry_delay`); a bot gives up here, a
            // deliberate bound: a stack whose focus is not ready after 10 s fails the step.
            focus: Duration::from_secs(10),
            join: Duration::from_secs(10),
            leave: Duration::from_secs(5),
            request: Duration::from_secs(5),
            keepalive: Duration::from_secs(5),
        }
    }
}

/// Where and how a bot connects.
#[derive(Clone, Debug)]
pub struct BotConfig {
    /// WebSocket URL without query, e.g. `ws://127.0.0.1:5280/xmpp-websocket`.
    pub websocket: String,
    /// The XMPP domain to log in on (the token domain, or the guest domain).
    pub domain: String,
    /// The MUC domain rooms live on (e.g. `muc.meet.jitsi`).
    pub muc_domain: String,
    /// Where the conference request goes (`focus.DOMAIN`).
    pub focus_domain: String,
    /// Accept any TLS certificate (self-signed test deployments).
    pub insecure_tls: bool,
    /// How long each step may take.
    pub timeouts: BotTimeouts,
    /// Skip the focus request (plain Prosody, and the benchmark's baseline comparison).
    pub skip_focus: bool,
    /// Send the JWT as `token` on the focus request, as the release's client does
    /// ([`crate::stack::ClientFacts::focus_iq_token`]).
    pub focus_token: bool,
}

/// Who joins which room.
#[derive(Clone, Debug)]
pub struct BotJoin {
    /// Room name (the node of `room@muc`).
    pub room: String,
    /// The MUC nick; `None`: lib-jitsi-meet's, derived from the login ([`nick::from_login`]).
    pub nick: Option<String>,
    /// The JWT for the URL; `None` for guests and `JWT_ALLOW_EMPTY` logins.
    pub token: Option<Token>,
    /// lib-jitsi-meet's per-browser id; jicofo requires it with authentication on.
    pub machine_uid: String,
    /// Display name sent as XEP-0172 nick (what Jitsi's UI shows).
    pub display_name: Option<String>,
    /// Where to record the XMPP traffic, if anywhere.
    pub transcript: Option<Transcript>,
    /// The `session-id` the focus gave this user's previous connection, sent again on a page reload as
    /// lib-jitsi-meet does (it keeps the id in its settings and sends it with `machine-uid` in every
    /// conference request: jitsi/lib-jitsi-meet `modules/xmpp/moderator.js`); `None` for a first visit.
    pub session_id: Option<String>,
    /// A registered account's login (`AUTH_TYPE=internal`); `None`: SASL ANONYMOUS (token, guest).
    pub credentials: Option<crate::xmpp::websocket::Credentials>,
}

/// Why a bot could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    #[error(
        "nick `{nick}` is invalid: Jitsi (muc_resource_validate) accepts {}",
        nick::RULE
    )]
    /// The nick breaks Jitsi's nick rule.
    InvalidNick {
        /// The nick as given.
        nick: String,
    },
    #[error("room name `{room}` is invalid: {reason}")]
    /// The room name is not one Jitsi accepts ([`check_room`]).
    InvalidRoom {
        /// The room name as given.
        room: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The XMPP connection failed (connect, login, stream).
    #[error("{0}")]
    Xmpp(#[from] XmppError),
    #[error("the focus never answered ready='true' ({attempts} requests in {} ms)", waited.as_millis())]
    /// The focus kept answering `ready='false'` until the deadline.
    FocusNotReady {
        /// How many conference requests were sent.
        attempts: u32,
        /// How long the bot waited in all.
        waited: Duration,
    },
    #[error("the focus refused the conference request: {condition}{}", text.as_deref().map(|t| format!(" ({t})")).unwrap_or_default())]
    /// The focus answered the conference request with an error.
    FocusRefused {
        /// The XMPP error condition the focus answered (e.g. `not-authorized`).
        condition: String,
        /// The error's text, when the focus sent one.
        text: Option<String>,
    },
    #[error("the room refused the join: {condition}{}", text.as_deref().map(|t| format!(" ({t})")).unwrap_or_default())]
    /// The MUC refused the join presence.
    JoinRefused {
        /// The MUC condition the server answered (e.g. `not-allowed`).
        condition: String,
        /// The error's text, when the server sent one.
        text: Option<String>,
    },
    #[error("{what} failed: {condition}{}", text.as_deref().map(|t| format!(" ({t})")).unwrap_or_default())]
    /// A request (grant, kick, …) was answered with an error.
    RequestFailed {
        /// Which request failed.
        what: String,
        /// The XMPP error condition the server answered.
        condition: String,
        /// The error's text, when the server sent one.
        text: Option<String>,
    },
    #[error("no answer to {what} within {} ms", deadline.as_millis())]
    /// No answer came in time.
    Timeout {
        /// What the bot was waiting for.
        what: String,
        /// How long it waited.
        deadline: Duration,
    },
    #[error("the bot is no longer connected{}", reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    /// The connection is gone; nothing more can be sent.
    Gone {
        /// Why the connection ended, when known.
        reason: Option<String>,
    },
}

impl BotError {
    /// The join was refused by the deployment (bad token, room mismatch, guest may not create): an
    /// observation for the timeline, not a harness failure.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            BotError::Xmpp(XmppError::AuthRefused { .. })
                | BotError::FocusRefused { .. }
                | BotError::JoinRefused { .. }
        )
    }
}

/// Room names as Jitsi uses them: the lower-case node of a JID (mod_token_verification compares the
/// lower-cased room with the token's `room` claim).
pub fn check_room(room: &str) -> Result<(), BotError> {
    let bad = |reason| {
        Err(BotError::InvalidRoom {
            room: room.to_owned(),
            reason,
        })
    };
    if room.is_empty() {
        return bad("it is empty");
    }
    if room.len() > 256 {
        return bad("it is longer than 256 bytes");
    }
    if room != room.to_lowercase() {
        return bad("Jitsi room names are lower case");
    }
    if room
        .chars()
        .any(|c| c.is_whitespace() || "\"&'/:<>@?#%".contains(c))
    {
        return bad("it contains a character not allowed in a JID node or a URL path");
    }
    Ok(())
}

/// Where the bot stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// In the room.
    Joined,
    /// Joined, but held outside the room: knocking in its lobby, or waiting for the host.
    Waiting(Waiting),
    /// Left cleanly.
    Left,
    /// Kicked by a moderator (status 307).
    Kicked,
    /// The connection died (server stopped, network gone, dropped on purpose).
    Failed(String),
}

/// What the bot sees, as of now.
#[derive(Clone, Debug)]
pub struct BotView {
    /// Where the bot stands.
    pub phase: Phase,
    /// Who is in the room, as the bot has seen it.
    pub roster: Roster,
}

struct Shared {
    phase: Phase,
    roster: Roster,
    /// Seat changes since the last [`Bot::take_seat_changes`], oldest first, at most
    /// [`MAX_SEAT_CHANGES`].
    seat_changes: Vec<SeatChange>,
    /// While waiting: the bot's occupant JID in the lobby room (`room@lobby.DOMAIN/nick`).
    lobby: Option<FullJid>,
}

/// How many undrained seat changes a bot keeps; beyond, the oldest go (a bench bot nobody drains).
const MAX_SEAT_CHANGES: usize = 1024;

enum Command {
    Leave(oneshot::Sender<Result<(), BotError>>),
    Close(oneshot::Sender<Result<(), BotError>>),
    Abort,
    Admin {
        query: MucAdmin,
        what: String,
        reply: oneshot::Sender<Result<(), BotError>>,
    },
    /// Send a stanza that expects no answer (a presence update).
    Send {
        stanza: minidom::Element,
        reply: oneshot::Sender<Result<(), BotError>>,
    },
    /// muc#owner: the members-only switch (the lobby).
    MembersOnly {
        enabled: bool,
        reply: oneshot::Sender<Result<(), BotError>>,
    },
    /// A mediated invite of this real JID into the main room.
    Invite {
        invitee: FullJid,
        reply: oneshot::Sender<Result<(), BotError>>,
    },
    /// A kick of this occupant of a lobby room (joined first if need be).
    LobbyKick {
        occupant: FullJid,
        reply: oneshot::Sender<Result<(), BotError>>,
    },
}

/// A change of what a participant's presence says, as a user's click in the web app makes it: mute, raise
/// a hand, rename. Unset fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PresenceChange {
    /// Audio and video muted, or unmuted.
    pub muted: Option<bool>,
    /// Hand raised, or lowered.
    pub raise_hand: Option<bool>,
    /// A new display name (XEP-0172 `<nick/>`).
    pub display_name: Option<String>,
}

/// What the bot's presence says besides the join. lib-jitsi-meet sends its whole presence map on every
/// change (`ChatRoom.sendPresence`, jitsi/lib-jitsi-meet `modules/xmpp/ChatRoom.js`): a MUC presence
/// replaces the previous one wholesale, so the display name rides along on every update.
#[derive(Clone, Debug, Default)]
struct OwnPresence {
    display_name: Option<String>,
    muted: bool,
    /// Epoch milliseconds of the raise, as jitsi-meet's `jitsi_participant_raisedHand` carries it.
    raised_hand: Option<u128>,
}

impl OwnPresence {
    fn apply(&mut self, change: &PresenceChange) {
        if let Some(m) = change.muted {
            self.muted = m;
        }
        match change.raise_hand {
            Some(true) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis())
                    .unwrap_or_default();
                self.raised_hand = Some(now);
            }
            Some(false) => self.raised_hand = None,
            None => {}
        }
        if let Some(name) = &change.display_name {
            self.display_name = Some(name.clone());
        }
    }

    /// The presence to the bot's occupant JID: no MUC `<x/>` (that is for the join only, XEP-0045 §7.2),
    /// the display name, `audiomuted`/`videomuted` and, while raised, the hand (elements in
    /// `jabber:client`, as jitsi-meet's presence extensions are).
    fn stanza(&self, to: FullJid) -> Presence {
        let mut presence = Presence::new(PresenceType::None).with_to(to);
        if let Some(name) = &self.display_name {
            presence
                .payloads
                .push(xmpp_parsers::nick::Nick(name.clone()).into());
        }
        let muted = self.muted.to_string();
        for element in ["audiomuted", "videomuted"] {
            presence.payloads.push(
                Element::builder(element, ns::JABBER_CLIENT)
                    .append(muted.as_str())
                    .build(),
            );
        }
        if let Some(at) = self.raised_hand {
            presence.payloads.push(
                Element::builder("jitsi_participant_raisedHand", ns::JABBER_CLIENT)
                    .append(at.to_string())
                    .build(),
            );
        }
        presence
    }
}

/// A joined bot. Dropping it drops its connection.
pub struct Bot {
    nick: String,
    jid: FullJid,
    room: BareJid,
    shared: Arc<Mutex<Shared>>,
    changes: watch::Receiver<u64>,
    commands: mpsc::Sender<Command>,
    /// Connect → own presence (role known).
    joined_in: Duration,
    timeouts: BotTimeouts,
    /// What the bot's presence says (display name, mute, hand).
    own_presence: Mutex<OwnPresence>,
    /// The `session-id` the focus answered (authentication on), kept for a reload.
    session_id: Option<String>,
}

impl std::fmt::Debug for Bot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bot")
            .field("nick", &self.nick)
            .field("jid", &self.jid)
            .finish_non_exhaustive()
    }
}

fn note(transcript: &Option<Transcript>, text: &str) {
    if let Some(t) = transcript {
        t.record(Direction::Note, text);
    }
}

impl Bot {
    /// Connects, logs in, asks the focus, joins the room; returns once the bot's own presence (and so its
    /// role) is known. A refusal at any stage is an error naming the cause.
    pub async fn join(config: &BotConfig, join: BotJoin) -> Result<Bot, BotError> {
        if let Some(explicit) = &join.nick {
            if !nick::is_valid(explicit) {
                return Err(BotError::InvalidNick {
                    nick: explicit.clone(),
                });
            }
        }
        check_room(&join.room)?;
        let room = BareJid::new(&format!("{}@{}", join.room, config.muc_domain)).map_err(|_| {
            BotError::InvalidRoom {
                room: join.room.clone(),
                reason: "it does not form a valid JID with the MUC domain",
            }
        })?;
        let mut url = format!("{}?room={}", config.websocket, join.room);
        if let Some(token) = &join.token {
            url.push_str("&token=");
            url.push_str(token.expose());
        }
        let started = Instant::now();
        let t = config.timeouts;
        let mut ws = XmppWebSocket::connect(
            &url,
            config.insecure_tls,
            t.connect,
            join.transcript.clone(),
        )
        .await?;
        let jid = ws
            .login_as(&config.domain, t.connect, join.credentials.as_ref())
            .await?;
        let own_nick = match &join.nick {
            Some(explicit) => explicit.clone(),
            None => nick::from_login(jid.node().map(|n| n.as_str()).unwrap_or_default()),
        };
        let occupant = room
            .with_resource_str(&own_nick)
            .map_err(|_| BotError::InvalidNick {
                nick: own_nick.clone(),
            })?;
        tracing::debug!(nick = %own_nick, %jid, url = %redact_url(&url), "logged in");

        let mut roster = Roster::default();
        let mut session_id = None;
        if !config.skip_focus {
            let (focus_jid, session) = ask_focus(&mut ws, config, &room, &join).await?;
            roster.focus_jid = Some(focus_jid);
            session_id = session;
        }

        ws.send(join_presence(&occupant, join.display_name.as_deref()))
            .await?;

        // Until our own presence: apply others' presences, answer IQs, catch a join error. A refusal that
        // names a lobby room is a knock: join the lobby and wait there (our presence in it ends the join).
        let interner = Interner::for_room(&room);
        let join_deadline = Instant::now() + t.join;
        let mut knocking: Option<(FullJid, Waiting)> = None;
        loop {
            let remaining = join_deadline.saturating_duration_since(Instant::now());
            let frame = ws
                .recv_frame(remaining, "own presence after the MUC join")
                .await
                .map_err(|e| match e {
                    XmppError::Timeout { deadline, .. } => BotError::Timeout {
                        what: "the MUC join (no self-presence)".into(),
                        deadline,
                    },
                    other => other.into(),
                })?;
            if let Some((lobby, _)) = &knocking {
                match lobby_event(frame.as_str(), &lobby.to_bare(), &own_nick) {
                    Some(LobbyEvent::SelfJoined) => break,
                    Some(LobbyEvent::Error { condition, text }) => {
                        ws.close().await;
                        return Err(BotError::JoinRefused { condition, text });
                    }
                    _ => {}
                }
            }
            match classify(&frame, &room, &interner) {
                Classified::Occupant(OccupantEvent::Error {
                    nick,
                    condition,
                    text,
                }) if nick == own_nick => {
                    if let (true, Some((lobby_room, why))) = (
                        condition == "registration-required" && knocking.is_none(),
                        lobby_of(frame.as_str()),
                    ) {
                        let lobby = lobby_room.with_resource_str(&own_nick).map_err(|_| {
                            BotError::InvalidNick {
                                nick: own_nick.clone(),
                            }
                        })?;
                        note(
                            &join.transcript,
                            &format!("knocking: waiting in {lobby_room} ({why})"),
                        );
                        ws.send(join_presence(&lobby, join.display_name.as_deref()))
                            .await?;
                        knocking = Some((lobby, why));
                        continue;
                    }
                    ws.close().await;
                    return Err(BotError::JoinRefused { condition, text });
                }
                Classified::Occupant(event) => {
                    let is_self = matches!(&event, OccupantEvent::Available { is_self: true, .. });
                    roster.apply(event);
                    if is_self {
                        break;
                    }
                }
                Classified::Iq(iq) => answer_iq(&mut ws, *iq, roster.focus_jid.as_deref()).await?,
                Classified::Other => {}
            }
        }
        let joined_in = started.elapsed();
        note(
            &join.transcript,
            &format!(
                "{} as {own_nick} in {} ms",
                if knocking.is_some() {
                    "waiting"
                } else {
                    "joined"
                },
                joined_in.as_millis()
            ),
        );

        let shared = Arc::new(Mutex::new(Shared {
            phase: match &knocking {
                Some((_, why)) => Phase::Waiting(*why),
                None => Phase::Joined,
            },
            roster,
            seat_changes: Vec::new(),
            lobby: knocking.as_ref().map(|(lobby, _)| lobby.clone()),
        }));
        let (changes_tx, changes) = watch::channel(0u64);
        let (commands, commands_rx) = mpsc::channel(8);
        let task = Session {
            ws: Some(ws),
            room: room.clone(),
            shared: shared.clone(),
            changes: changes_tx,
            commands: commands_rx,
            pending: HashMap::new(),
            next_id: 0,
            timeouts: t,
            transcript: join.transcript,
            leaving: None,
            interner,
            nick: own_nick.clone(),
            display_name: join.display_name.clone(),
            waiting: knocking.is_some(),
            lobby: knocking.map(|(lobby, _)| lobby),
            moderator_lobby: None,
        };
        tokio::spawn(task.run());
        Ok(Bot {
            nick: own_nick,
            jid,
            room,
            shared,
            changes,
            commands,
            joined_in,
            timeouts: t,
            own_presence: Mutex::new(OwnPresence {
                display_name: join.display_name,
                ..OwnPresence::default()
            }),
            session_id,
        })
    }

    /// The `session-id` the focus gave this connection (authentication on), for a reload.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// The MUC nick the bot joined with.
    pub fn nick(&self) -> &str {
        &self.nick
    }

    /// The JID the server assigned at login.
    pub fn jid(&self) -> &FullJid {
        &self.jid
    }

    /// Connect → own presence (role known).
    pub fn joined_in(&self) -> Duration {
        self.joined_in
    }

    /// A copy of what the bot sees now.
    pub fn view(&self) -> BotView {
        match self.shared.lock() {
            Ok(s) => BotView {
                phase: s.phase.clone(),
                roster: s.roster.clone(),
            },
            Err(_) => BotView {
                phase: Phase::Failed("internal state poisoned".into()),
                roster: Roster::default(),
            },
        }
    }

    /// While the bot waits outside the room: its occupant JID in the lobby room.
    pub fn lobby_occupant(&self) -> Option<FullJid> {
        self.shared.lock().ok().and_then(|s| s.lobby.clone())
    }

    /// Reads the roster without copying it.
    pub fn with_roster<R>(&self, f: impl FnOnce(&Phase, &Roster) -> R) -> R {
        match self.shared.lock() {
            Ok(s) => f(&s.phase, &s.roster),
            Err(_) => f(
                &Phase::Failed("internal state poisoned".into()),
                &Roster::default(),
            ),
        }
    }

    /// The affiliation and role changes this bot saw since the last call, oldest first.
    pub fn take_seat_changes(&self) -> Vec<SeatChange> {
        match self.shared.lock() {
            Ok(mut s) => std::mem::take(&mut s.seat_changes),
            Err(_) => Vec::new(),
        }
    }

    /// A receiver of every change of the roster or phase from now on (await `changed()` on it). Keep
    /// it across waits and read the bot after `borrow_and_update()`: a fresh receiver per wait, or one
    /// never marked seen, makes `changed()` return at once and the wait spin.
    pub fn changes(&self) -> watch::Receiver<u64> {
        let mut r = self.changes.clone();
        r.mark_unchanged();
        r
    }

    async fn command<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, BotError>>) -> Command,
        deadline: Duration,
        what: &str,
    ) -> Result<T, BotError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| BotError::Gone {
                reason: self.failure(),
            })?;
        match tokio::time::timeout(deadline, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(BotError::Gone {
                reason: self.failure(),
            }),
            Err(_) => Err(BotError::Timeout {
                what: what.to_owned(),
                deadline,
            }),
        }
    }

    fn failure(&self) -> Option<String> {
        match self.view().phase {
            Phase::Failed(reason) => Some(reason),
            _ => None,
        }
    }

    /// Leaves cleanly: unavailable presence, waits for the room's confirmation, closes the stream.
    pub async fn leave(self) -> Result<(), BotError> {
        let deadline = self.timeouts.leave + Duration::from_secs(2);
        self.command(Command::Leave, deadline, "leaving the room")
            .await
    }

    /// Ends the XMPP stream politely (`<close/>`, WebSocket close) without leaving the room first; the
    /// server removes the occupant when the session ends. What a client closing its tab does.
    pub async fn close(self) -> Result<(), BotError> {
        let deadline = self.timeouts.leave;
        self.command(Command::Close, deadline, "closing the stream")
            .await
    }

    /// Drops the connection with no goodbye (an abrupt disconnect).
    pub async fn disconnect(self) {
        let _ = self.commands.send(Command::Abort).await;
    }

    /// As a moderator, makes the user with `jid` owner (muc#admin, as Jitsi's UI "grant moderator" does).
    pub async fn grant_owner(&self, jid: &BareJid) -> Result<(), BotError> {
        let what = format!("granting owner to {jid} in {}", self.room);
        self.command(
            |reply| Command::Admin {
                query: MucAdmin::grant_owner(jid),
                what: what.clone(),
                reply,
            },
            self.timeouts.request,
            &what,
        )
        .await
    }

    /// Sends a presence update as the web app does when its user mutes, raises a hand or renames itself;
    /// returns once it is on the wire (the room's echo is the runner's to wait for).
    pub async fn update_presence(&self, change: &PresenceChange) -> Result<(), BotError> {
        let to = self
            .room
            .with_resource_str(&self.nick)
            .map_err(|_| BotError::InvalidNick {
                nick: self.nick.clone(),
            })?;
        let stanza = match self.own_presence.lock() {
            Ok(mut own) => {
                own.apply(change);
                own.stanza(to)
            }
            Err(_) => {
                return Err(BotError::Gone {
                    reason: Some("internal state poisoned".into()),
                })
            }
        };
        let what = format!("a presence update in {}", self.room);
        self.command(
            |reply| Command::Send {
                stanza: stanza.into(),
                reply,
            },
            self.timeouts.request,
            &what,
        )
        .await
    }

    /// As a moderator, turns the room's lobby on or off: muc#owner `muc#roomconfig_membersonly`, as
    /// lib-jitsi-meet's `ChatRoom.setMembersOnly` submits it.
    pub async fn set_members_only(&self, enabled: bool) -> Result<(), BotError> {
        let what = format!(
            "turning the lobby {} in {}",
            if enabled { "on" } else { "off" },
            self.room
        );
        self.command(
            |reply| Command::MembersOnly { enabled, reply },
            self.timeouts.request,
            &what,
        )
        .await
    }

    /// As a moderator, invites the user `invitee` (its real JID) into the room: how lib-jitsi-meet
    /// admits from the lobby (`Lobby.approveAccess`); Prosody makes the invitee a member.
    pub async fn admit(&self, invitee: &FullJid) -> Result<(), BotError> {
        let what = format!("admitting {invitee} into {}", self.room);
        let invitee = invitee.clone();
        self.command(
            |reply| Command::Invite { invitee, reply },
            self.timeouts.request,
            &what,
        )
        .await
    }

    /// As a moderator, kicks `occupant` from a lobby room (lib-jitsi-meet's `Lobby.denyAccess`), joining
    /// that lobby room first if the bot is not in it yet.
    pub async fn deny(&self, occupant: &FullJid) -> Result<(), BotError> {
        let what = format!("denying {occupant}");
        let occupant = occupant.clone();
        self.command(
            |reply| Command::LobbyKick { occupant, reply },
            self.timeouts.request,
            &what,
        )
        .await
    }

    /// As a moderator, kicks the occupant `nick`.
    pub async fn kick(&self, nick: &str) -> Result<(), BotError> {
        let what = format!("kicking {nick} from {}", self.room);
        self.command(
            |reply| Command::Admin {
                query: MucAdmin::kick(nick),
                what: what.clone(),
                reply,
            },
            self.timeouts.request,
            &what,
        )
        .await
    }
}

/// How long lib-jitsi-meet waits before asking the focus again after the `n`th `ready='false'` (1-based):
/// 1 s, doubling, capped at 120 s (`createExpBackoffTimer(1000)` in jitsi/lib-jitsi-meet
/// `modules/xmpp/moderator.js`). lib-jitsi-meet retries forever; a bot stops at its focus deadline.
pub fn focus_retry_delay(n: u32) -> Duration {
    const FIRST_MS: u64 = 1000;
    const CAP_MS: u64 = 120_000;
    let doublings = n.saturating_sub(1).min(16);
    Duration::from_millis((FIRST_MS << doublings).min(CAP_MS))
}

/// Sends the conference request until `ready='true'`; returns the focus's JID and the `session-id` it
/// answered, if any.
async fn ask_focus(
    ws: &mut XmppWebSocket,
    config: &BotConfig,
    room: &BareJid,
    join: &BotJoin,
) -> Result<(String, Option<String>), BotError> {
    let started = Instant::now();
    let deadline = started + config.timeouts.focus;
    let mut attempts = 0u32;
    let focus: Jid = config
        .focus_domain
        .parse()
        .map_err(|_| BotError::FocusRefused {
            condition: "bad-request".into(),
            text: Some(format!("`{}` is not a JID", config.focus_domain)),
        })?;
    loop {
        attempts += 1;
        let id = format!("focus{attempts}");
        let mut request = Conference::request(room.to_string(), join.machine_uid.clone());
        request.session_id = join.session_id.clone();
        if config.focus_token {
            if let Some(token) = &join.token {
                request = request.with_token(token.expose());
            }
        }
        let mut iq = Iq::from_set(id.clone(), request);
        *iq.to_mut() = Some(focus.clone());
        ws.send(iq.into()).await?;
        let answer = loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(BotError::FocusNotReady {
                    attempts,
                    waited: started.elapsed(),
                });
            }
            let element = match ws.recv(remaining, "the focus's answer").await {
                Ok(e) => e,
                Err(XmppError::Timeout { .. }) => {
                    return Err(BotError::FocusNotReady {
                        attempts,
                        waited: started.elapsed(),
                    })
                }
                Err(e) => return Err(e.into()),
            };
            if element.name() == "iq" && element.attr("id") == Some(id.as_str()) {
                break element;
            }
        };
        match answer.attr("type") {
            Some("result") => {
                let conference = answer
                    .get_child("conference", ns::FOCUS)
                    .and_then(|c| Conference::try_from(c.clone()).ok())
                    .ok_or_else(|| BotError::FocusRefused {
                        condition: "bad answer".into(),
                        text: Some("the result carries no <conference/>".into()),
                    })?;
                if conference.is_ready() {
                    let session = conference.session_id.clone();
                    return Ok((
                        conference
                            .focusjid
                            .unwrap_or_else(|| config.focus_domain.clone()),
                        session,
                    ));
                }
            }
            _ => {
                let (condition, text) = answer
                    .get_child("error", ns::JABBER_CLIENT)
                    .map(error_condition)
                    .unwrap_or_else(|| ("unknown".into(), None));
                return Err(BotError::FocusRefused { condition, text });
            }
        }
        let backoff = focus_retry_delay(attempts);
        note(
            &join.transcript,
            &format!(
                "focus answered ready=false, asking again in {} ms",
                backoff.as_millis()
            ),
        );
        if Instant::now() + backoff >= deadline {
            return Err(BotError::FocusNotReady {
                attempts,
                waited: started.elapsed(),
            });
        }
        tokio::time::sleep(backoff).await;
    }
}

enum Classified {
    Occupant(OccupantEvent),
    Iq(Box<Iq>),
    Other,
}

/// Sorts a frame: presences are parsed straight from their bytes (the hot path), IQs typed.
fn classify(frame: &str, room: &BareJid, interner: &Interner) -> Classified {
    let head = frame.trim_start();
    if head.starts_with("<presence") {
        return occupant_event_wire(head, room, interner)
            .map(Classified::Occupant)
            .unwrap_or(Classified::Other);
    }
    if head.starts_with("<iq") {
        return parse_frame(head)
            .ok()
            .and_then(|e| Iq::try_from(from_wire(e)).ok())
            .map(|iq| Classified::Iq(Box::new(iq)))
            .unwrap_or(Classified::Other);
    }
    Classified::Other
}

/// Answers IQs addressed to the bot: disco#info and ping get a result; every IQ set from the focus
/// (Jingle session-initiate, source-add, …) gets a result — jicofo treats an error as a failed invite
/// and tears the session down (JingleSession.kt @7ebb13dc); anything else gets service-unavailable.
async fn answer_iq(ws: &mut XmppWebSocket, iq: Iq, focus: Option<&str>) -> Result<(), XmppError> {
    let (from, id, payload, is_set) = match iq {
        Iq::Get {
            from, id, payload, ..
        } => (from, id, payload, false),
        Iq::Set {
            from, id, payload, ..
        } => (from, id, payload, true),
        _ => return Ok(()),
    };
    let from_focus = match (&from, focus) {
        (Some(f), Some(focus)) => {
            f.to_bare().as_str() == focus
                || f.resource().map(|r| r.as_str() == "focus").unwrap_or(false)
        }
        _ => false,
    };
    let reply: Iq = if !is_set && payload.is("query", ns::DISCO_INFO) {
        let info = DiscoInfoResult {
            node: payload.attr("node").map(str::to_owned),
            identities: vec![Identity::new("client", "bot", "en", "jitsi-harness")],
            features: [ns::DISCO_INFO, ns::JINGLE, ns::PING]
                .into_iter()
                .map(str::to_owned)
                .collect(),
            extensions: Vec::new(),
        };
        Iq::from_result(id, Some(info))
    } else if (!is_set && payload.is("ping", ns::PING))
        || (is_set && (from_focus || payload.ns() == ns::JINGLE))
    {
        Iq::Result {
            from: None,
            to: None,
            id,
            payload: None,
        }
    } else {
        Iq::from_error(
            id,
            xmpp_parsers::stanza_error::StanzaError::new(
                xmpp_parsers::stanza_error::ErrorType::Cancel,
                xmpp_parsers::stanza_error::DefinedCondition::ServiceUnavailable,
                "en",
                "a harness bot",
            ),
        )
    };
    let mut reply = reply;
    *reply.to_mut() = from;
    ws.send(reply.into()).await
}

/// The background half of a bot: owns the connection after the join.
struct Session {
    ws: Option<XmppWebSocket>,
    room: BareJid,
    shared: Arc<Mutex<Shared>>,
    changes: watch::Sender<u64>,
    commands: mpsc::Receiver<Command>,
    pending: HashMap<String, (String, oneshot::Sender<Result<(), BotError>>)>,
    next_id: u64,
    timeouts: BotTimeouts,
    transcript: Option<Transcript>,
    leaving: Option<(Instant, oneshot::Sender<Result<(), BotError>>)>,
    interner: Interner,
    /// The nick and display name the bot joins with (again, once admitted).
    nick: String,
    display_name: Option<String>,
    /// While waiting: the bot's occupant JID in the lobby room, until it leaves that room.
    lobby: Option<FullJid>,
    /// A moderator's seat in a lobby room, taken for `deny`.
    moderator_lobby: Option<ModeratorLobby>,
    /// Whether the bot waits outside the room ([`Phase::Waiting`]), kept here for the hot path.
    waiting: bool,
}

/// A moderator's seat in a lobby room: denials queue until its own presence there arrives.
struct ModeratorLobby {
    room: BareJid,
    joined: bool,
    queued: Vec<(String, oneshot::Sender<Result<(), BotError>>)>,
}

impl Session {
    fn set_phase(&self, phase: Phase) {
        if let Ok(mut s) = self.shared.lock() {
            s.phase = phase;
        }
        self.changes.send_modify(|v| *v += 1);
    }

    fn apply(&self, event: OccupantEvent) {
        let changed = match self.shared.lock() {
            Ok(mut s) => {
                let change = SeatChange::of(&s.roster, &event);
                let changed = s.roster.apply(event);
                if let Some(change) = change {
                    if s.seat_changes.len() == MAX_SEAT_CHANGES {
                        s.seat_changes.remove(0);
                    }
                    s.seat_changes.push(change);
                }
                changed
            }
            Err(_) => false,
        };
        if changed {
            self.changes.send_modify(|v| *v += 1);
        }
    }

    async fn run(mut self) {
        let mut keepalive = tokio::time::interval(self.timeouts.keepalive);
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        keepalive.tick().await;
        // Anything received proves the connection alive; pings go out only when it has been quiet
        // for a whole interval (a busy room's presence flood needs none, and hundreds of bots pinging
        // a Prosody busy fanning out presences slowed the fan-out down by half in `just bench`).
        let mut last_rx = Instant::now();
        loop {
            let Some(ws) = self.ws.as_mut() else { return };
            let leave_deadline = self.leaving.as_ref().map(|(d, _)| *d);
            tokio::select! {
                incoming = ws.recv_event() => match incoming {
                    Ok(Incoming::Pong) => last_rx = Instant::now(),
                    Ok(Incoming::Frame(frame)) => {
                        last_rx = Instant::now();
                        if self.on_frame(&frame).await {
                            return;
                        }
                    }
                    Err(e) => {
                        self.fail(format!("{e}"));
                        return;
                    }
                },
                command = self.commands.recv() => match command {
                    Some(Command::Leave(reply)) => self.start_leave(reply).await,
                    Some(Command::Close(reply)) => {
                        self.finish_leave().await;
                        let _ = reply.send(Ok(()));
                        return;
                    }
                    Some(Command::Admin { query, what, reply }) => {
                        let to = self.room.clone();
                        self.send_iq(to, query.into(), what, reply).await
                    }
                    Some(Command::MembersOnly { enabled, reply }) => {
                        let to = self.room.clone();
                        let what = format!("turning the lobby {} in {to}", if enabled { "on" } else { "off" });
                        self.send_iq(to, members_only_form(enabled), what, reply).await
                    }
                    Some(Command::Invite { invitee, reply }) => {
                        let result = match self.ws.as_mut() {
                            Some(ws) => ws.send(invite(&self.room, &invitee)).await.map_err(BotError::from),
                            None => Err(BotError::Gone { reason: None }),
                        };
                        let _ = reply.send(result);
                    }
                    Some(Command::LobbyKick { occupant, reply }) => self.lobby_kick(occupant, reply).await,
                    Some(Command::Send { stanza, reply }) => {
                        let sent = match self.ws.as_mut() {
                            Some(ws) => ws.send(stanza).await.map_err(BotError::from),
                            None => Err(BotError::Gone { reason: None }),
                        };
                        let _ = reply.send(sent);
                    }
                    Some(Command::Abort) | None => {
                        if let Some(ws) = self.ws.take() {
                            ws.abort();
                        }
                        self.set_phase(Phase::Failed("disconnected on purpose".into()));
                        return;
                    }
                },
                _ = keepalive.tick() => {
                    let quiet = last_rx.elapsed();
                    if quiet > self.timeouts.keepalive * 2 + Duration::from_secs(1) {
                        self.fail(format!(
                            "no answer to keepalive pings for {} s",
                            quiet.as_secs()
                        ));
                        return;
                    }
                    if quiet >= self.timeouts.keepalive {
                        if let Err(e) = ws.ping().await {
                            self.fail(format!("{e}"));
                            return;
                        }
                    }
                },
                _ = sleep_until_opt(leave_deadline) => {
                    if let Some((_, reply)) = self.leaving.take() {
                        let _ = reply.send(Err(BotError::Timeout {
                            what: "the room's confirmation of our leave".into(),
                            deadline: self.timeouts.leave,
                        }));
                    }
                    self.finish_leave().await;
                    return;
                }
            }
        }
    }

    fn fail(&mut self, reason: String) {
        note(&self.transcript, &format!("failed: {reason}"));
        for (_, (what, reply)) in self.pending.drain() {
            let _ = reply.send(Err(BotError::Gone {
                reason: Some(format!("{reason} (while {what})")),
            }));
        }
        if let Some((_, reply)) = self.leaving.take() {
            let _ = reply.send(Err(BotError::Gone {
                reason: Some(reason.clone()),
            }));
        }
        self.set_phase(Phase::Failed(reason));
    }

    /// Returns true when the session is over.
    async fn on_frame(&mut self, frame: &str) -> bool {
        let head = frame.trim_start();
        if self.lobby.is_some() || self.is_waiting() {
            if head.starts_with("<message") {
                if is_invite(head, &self.room) {
                    note(&self.transcript, "admitted: joining the room");
                    return self.join_room().await;
                }
                return false;
            }
            if let Some(lobby) = self.lobby.clone() {
                if let Some(event) = lobby_event(head, &lobby.to_bare(), &self.nick) {
                    return self.on_lobby(event).await;
                }
            }
        }
        if let Some(room) = self.moderator_lobby.as_ref().map(|m| m.room.clone()) {
            if let Some(event) = lobby_event(head, &room, &self.nick) {
                self.on_moderator_lobby(event).await;
                return false;
            }
        }
        match classify(frame, &self.room, &self.interner) {
            Classified::Occupant(OccupantEvent::Error {
                nick,
                condition,
                text,
            }) if nick == self.nick && self.is_waiting() => {
                self.fail(format!(
                    "the room refused the join after the lobby: {condition}{}",
                    text.map(|t| format!(" ({t})")).unwrap_or_default()
                ));
                true
            }
            Classified::Occupant(event) => {
                let admitted = self.is_waiting()
                    && matches!(&event, OccupantEvent::Available { is_self: true, .. });
                let own_exit = match &event {
                    OccupantEvent::Unavailable {
                        is_self: true,
                        kicked,
                        ..
                    } => Some(*kicked),
                    _ => None,
                };
                self.apply(event);
                if admitted {
                    self.admitted().await;
                    return false;
                }
                if let Some(kicked) = own_exit {
                    if kicked && self.leaving.is_none() {
                        note(&self.transcript, "kicked from the room");
                        self.set_phase(Phase::Kicked);
                        if let Some(ws) = self.ws.take() {
                            ws.close().await;
                        }
                        return true;
                    }
                    if let Some((_, reply)) = self.leaving.take() {
                        let _ = reply.send(Ok(()));
                    }
                    self.finish_leave().await;
                    return true;
                }
                false
            }
            Classified::Iq(iq) => {
                match *iq {
                    Iq::Result { id, .. } => {
                        if let Some((_, reply)) = self.pending.remove(&id) {
                            let _ = reply.send(Ok(()));
                        }
                    }
                    Iq::Error { id, error, .. } => {
                        if let Some((what, reply)) = self.pending.remove(&id) {
                            let (condition, text) = error_condition(&Element::from(error));
                            let _ = reply.send(Err(BotError::RequestFailed {
                                what,
                                condition,
                                text,
                            }));
                        }
                    }
                    other => {
                        let focus = self
                            .shared
                            .lock()
                            .ok()
                            .and_then(|s| s.roster.focus_jid.clone());
                        if let Some(ws) = self.ws.as_mut() {
                            if let Err(e) = answer_iq(ws, other, focus.as_deref()).await {
                                self.fail(e.to_string());
                                return true;
                            }
                        }
                    }
                }
                false
            }
            Classified::Other => false,
        }
    }

    async fn start_leave(&mut self, reply: oneshot::Sender<Result<(), BotError>>) {
        let own = self
            .shared
            .lock()
            .ok()
            .and_then(|s| s.roster.own_nick.clone());
        if let (None, Some(lobby)) = (&own, self.lobby.clone()) {
            // Waiting: leave the lobby room; its answer ends the session.
            let presence = Presence::new(PresenceType::Unavailable).with_to(lobby);
            if let Some(ws) = self.ws.as_mut() {
                if let Err(e) = ws.send(presence.into()).await {
                    let _ = reply.send(Err(e.into()));
                    return;
                }
            }
            self.leaving = Some((Instant::now() + self.timeouts.leave, reply));
            return;
        }
        let Some(nick) = own else {
            let _ = reply.send(Ok(()));
            return;
        };
        let Ok(occupant) = self.room.with_resource_str(&nick) else {
            let _ = reply.send(Ok(()));
            return;
        };
        let presence = Presence::new(PresenceType::Unavailable).with_to(occupant);
        if let Some(ws) = self.ws.as_mut() {
            if let Err(e) = ws.send(presence.into()).await {
                let _ = reply.send(Err(e.into()));
                return;
            }
        }
        self.leaving = Some((Instant::now() + self.timeouts.leave, reply));
    }

    async fn finish_leave(&mut self) {
        if let Some(ws) = self.ws.take() {
            ws.close().await;
        }
        self.set_phase(Phase::Left);
    }

    fn is_waiting(&self) -> bool {
        self.waiting
    }

    /// Joins the main room (admitted, or the lobby closed towards it); our own presence there makes the
    /// bot [`Phase::Joined`]. Returns true when the session is over.
    async fn join_room(&mut self) -> bool {
        let Ok(occupant) = self.room.with_resource_str(&self.nick) else {
            self.fail(format!("`{}` cannot form an occupant JID", self.nick));
            return true;
        };
        let presence = join_presence(&occupant, self.display_name.as_deref());
        if let Some(ws) = self.ws.as_mut() {
            if let Err(e) = ws.send(presence).await {
                self.fail(e.to_string());
                return true;
            }
        }
        false
    }

    /// Our own presence arrived in the main room after waiting: in the room now; the lobby room is left
    /// (lib-jitsi-meet leaves it on MUC_JOINED).
    async fn admitted(&mut self) {
        if let Some(lobby) = self.lobby.take() {
            let presence = Presence::new(PresenceType::Unavailable).with_to(lobby);
            if let Some(ws) = self.ws.as_mut() {
                let _ = ws.send(presence.into()).await;
            }
        }
        if let Ok(mut s) = self.shared.lock() {
            s.lobby = None;
        }
        self.waiting = false;
        note(&self.transcript, "in the room after waiting");
        self.set_phase(Phase::Joined);
    }

    /// What happened to the bot's seat in the lobby room. Returns true when the session is over.
    async fn on_lobby(&mut self, event: LobbyEvent) -> bool {
        match event {
            LobbyEvent::Destroyed { to: Some(_) } => {
                // The lobby closed towards the main room (lobby off, or the host arrived).
                self.lobby = None;
                note(&self.transcript, "the lobby closed: joining the room");
                self.join_room().await
            }
            LobbyEvent::Destroyed { to: None } | LobbyEvent::Kicked => {
                let why = if matches!(event, LobbyEvent::Kicked) {
                    "denied: kicked from the lobby"
                } else {
                    "the lobby closed with its room"
                };
                note(&self.transcript, why);
                self.lobby = None;
                self.waiting = false;
                if let Ok(mut s) = self.shared.lock() {
                    s.lobby = None;
                }
                self.set_phase(Phase::Kicked);
                if let Some(ws) = self.ws.take() {
                    ws.close().await;
                }
                true
            }
            LobbyEvent::Left => {
                if let Some((_, reply)) = self.leaving.take() {
                    let _ = reply.send(Ok(()));
                    self.finish_leave().await;
                    return true;
                }
                false
            }
            LobbyEvent::SelfJoined | LobbyEvent::Error { .. } | LobbyEvent::Other => false,
        }
    }

    /// Denies queue until the moderator's own presence in the lobby room arrives.
    async fn lobby_kick(
        &mut self,
        occupant: FullJid,
        reply: oneshot::Sender<Result<(), BotError>>,
    ) {
        let room = occupant.to_bare();
        let nick = occupant.resource().as_str().to_owned();
        match &mut self.moderator_lobby {
            Some(seat) if seat.room == room && seat.joined => {
                let what = format!("denying {nick} in {room}");
                self.send_iq(room, MucAdmin::kick(&nick).into(), what, reply)
                    .await;
            }
            Some(seat) if seat.room == room => seat.queued.push((nick, reply)),
            _ => {
                let Ok(own) = room.with_resource_str(&self.nick) else {
                    let _ = reply.send(Err(BotError::InvalidNick {
                        nick: self.nick.clone(),
                    }));
                    return;
                };
                let presence = join_presence(&own, self.display_name.as_deref());
                if let Some(ws) = self.ws.as_mut() {
                    if let Err(e) = ws.send(presence).await {
                        let _ = reply.send(Err(e.into()));
                        return;
                    }
                }
                self.moderator_lobby = Some(ModeratorLobby {
                    room,
                    joined: false,
                    queued: vec![(nick, reply)],
                });
            }
        }
    }

    async fn on_moderator_lobby(&mut self, event: LobbyEvent) {
        let Some(seat) = self.moderator_lobby.as_mut() else {
            return;
        };
        match event {
            LobbyEvent::SelfJoined if !seat.joined => {
                seat.joined = true;
                let room = seat.room.clone();
                for (nick, reply) in std::mem::take(&mut seat.queued) {
                    let what = format!("denying {nick} in {room}");
                    self.send_iq(room.clone(), MucAdmin::kick(&nick).into(), what, reply)
                        .await;
                }
            }
            LobbyEvent::Error { condition, text } => {
                let room = seat.room.clone();
                for (_, reply) in std::mem::take(&mut seat.queued) {
                    let _ = reply.send(Err(BotError::RequestFailed {
                        what: format!("joining the lobby room {room}"),
                        condition: condition.clone(),
                        text: text.clone(),
                    }));
                }
                self.moderator_lobby = None;
            }
            LobbyEvent::Destroyed { .. } | LobbyEvent::Kicked | LobbyEvent::Left => {
                self.moderator_lobby = None;
            }
            _ => {}
        }
    }

    async fn send_iq(
        &mut self,
        to: BareJid,
        payload: Element,
        what: String,
        reply: oneshot::Sender<Result<(), BotError>>,
    ) {
        self.next_id += 1;
        let id = format!("admin{}", self.next_id);
        let iq = Iq::Set {
            from: None,
            to: Some(Jid::from(to)),
            id: id.clone(),
            payload,
        };
        let Some(ws) = self.ws.as_mut() else {
            let _ = reply.send(Err(BotError::Gone { reason: None }));
            return;
        };
        match ws.send(iq.into()).await {
            Ok(()) => {
                self.pending.insert(id, (what, reply));
            }
            Err(e) => {
                let _ = reply.send(Err(e.into()));
            }
        }
    }
}

/// A MUC join presence for `occupant`, with the display name as XEP-0172 `<nick/>`.
fn join_presence(occupant: &FullJid, display_name: Option<&str>) -> Element {
    let mut presence = Presence::new(PresenceType::None)
        .with_to(occupant.clone())
        .with_payload(Muc::new());
    if let Some(name) = display_name {
        presence
            .payloads
            .push(xmpp_parsers::nick::Nick(name.to_owned()).into());
    }
    presence.into()
}

/// The lobby room a join refusal names, and what holds the joiner there: jitsi-meet's
/// `<lobbyroom xmlns='http://jitsi.org/jitmeet'>` inside the `registration-required` error
/// (`mod_muc_lobby_rooms.lua`), with `<waiting-for-host/>` when `mod_muc_wait_for_host` opened the lobby.
fn lobby_of(frame: &str) -> Option<(BareJid, Waiting)> {
    let presence = parse_frame(frame.trim_start()).ok()?;
    let error = presence.children().find(|c| c.name() == "error")?;
    let room = error
        .children()
        .find(|c| c.name() == "lobbyroom" && c.ns() == ns::JITMEET)?
        .text();
    let room = BareJid::new(room.trim()).ok()?;
    let why = if error
        .children()
        .any(|c| c.name() == "waiting-for-host" && c.ns() == ns::JITMEET)
    {
        Waiting::WaitForHost
    } else {
        Waiting::Lobby
    };
    Some((room, why))
}

/// A presence from a lobby room, as the bot's seat there sees it.
#[derive(Debug, PartialEq, Eq)]
enum LobbyEvent {
    /// Our own presence: we are in the lobby room.
    SelfJoined,
    /// The lobby room refused our join.
    Error {
        condition: String,
        text: Option<String>,
    },
    /// We were kicked (status 307): denied.
    Kicked,
    /// The lobby room was destroyed, pointing at `to` (the main room) or nowhere.
    Destroyed { to: Option<String> },
    /// We left it.
    Left,
    /// Someone else's presence.
    Other,
}

/// Reads a presence frame from `lobby` (`None`: not a presence from that room).
fn lobby_event(frame: &str, lobby: &BareJid, own_nick: &str) -> Option<LobbyEvent> {
    let head = frame.trim_start();
    if !head.starts_with("<presence") {
        return None;
    }
    let presence = parse_frame(head).ok()?;
    let from = presence.attr("from")?;
    let nick = from.strip_prefix(lobby.as_str())?.strip_prefix('/')?;
    let x = presence
        .children()
        .find(|c| c.name() == "x" && c.ns() == ns::MUC_USER);
    let status = |code: &str| {
        x.map(|x| {
            x.children()
                .any(|c| c.name() == "status" && c.attr("code") == Some(code))
        })
        .unwrap_or(false)
    };
    let own = nick == own_nick || status("110");
    match presence.attr("type") {
        Some("error") if own => {
            let (condition, text) = presence
                .children()
                .find(|c| c.name() == "error")
                .map(error_condition)
                .unwrap_or_default();
            Some(LobbyEvent::Error { condition, text })
        }
        Some("unavailable") if own => {
            let destroy = x.and_then(|x| x.children().find(|c| c.name() == "destroy"));
            Some(match destroy {
                Some(d) => LobbyEvent::Destroyed {
                    to: d.attr("jid").map(str::to_owned),
                },
                None if status("307") => LobbyEvent::Kicked,
                None => LobbyEvent::Left,
            })
        }
        None if own => Some(LobbyEvent::SelfJoined),
        _ => Some(LobbyEvent::Other),
    }
}

/// Whether a message frame is an invite from `room` (muc#user `<invite/>`): the admission.
fn is_invite(frame: &str, room: &BareJid) -> bool {
    let Ok(message) = parse_frame(frame.trim_start()) else {
        return false;
    };
    message.attr("from") == Some(room.as_str())
        && message.children().any(|x| {
            x.name() == "x" && x.ns() == ns::MUC_USER && x.children().any(|c| c.name() == "invite")
        })
}

/// A mediated invite of `invitee` into `room` (XEP-0045 §7.8.2), as lib-jitsi-meet's
/// `Lobby.approveAccess` sends it.
fn invite(room: &BareJid, invitee: &FullJid) -> Element {
    Element::builder("message", ns::JABBER_CLIENT)
        .attr(minidom::rxml::xml_ncname!("to").into(), room.as_str())
        .append(
            Element::builder("x", ns::MUC_USER).append(
                Element::builder("invite", ns::MUC_USER)
                    .attr(minidom::rxml::xml_ncname!("to").into(), invitee.as_str()),
            ),
        )
        .build()
}

/// The muc#owner form that turns members-only on or off, as lib-jitsi-meet's `ChatRoom.setMembersOnly`
/// submits it.
fn members_only_form(enabled: bool) -> Element {
    let field = |var: &str, value: &str| {
        Element::builder("field", ns::DATA_FORMS)
            .attr(minidom::rxml::xml_ncname!("var").into(), var)
            .append(Element::builder("value", ns::DATA_FORMS).append(value))
    };
    Element::builder("query", ns::MUC_OWNER)
        .append(
            Element::builder("x", ns::DATA_FORMS)
                .attr(minidom::rxml::xml_ncname!("type").into(), "submit")
                .append(field(
                    "FORM_TYPE",
                    "http://jabber.org/protocol/muc#roomconfig",
                ))
                .append(field(
                    "muc#roomconfig_membersonly",
                    if enabled { "true" } else { "false" },
                )),
        )
        .build()
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lobby_refusal_names_the_lobby_room_and_what_holds_the_joiner() {
        // As jitsi-meet's mod_muc_lobby_rooms.lua builds it: <lobbyroom/> inside the error, the extra
        // reason of mod_muc_wait_for_host next to it.
        let knock = "<presence xmlns='jabber:client' type='error' from='r1@muc.meet.jitsi/abcd1234' \
            to='abcd1234@meet.jitsi/x'><error type='auth' code='407'><registration-required \
            xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><lobbyroom xmlns='http://jitsi.org/jitmeet'>\
            r1@lobby.meet.jitsi</lobbyroom></error><x xmlns='http://jabber.org/protocol/muc'/></presence>";
        let (room, why) = lobby_of(knock).unwrap();
        assert_eq!(room.as_str(), "r1@lobby.meet.jitsi");
        assert_eq!(why, Waiting::Lobby);
        let held = knock.replace(
            "<lobbyroom",
            "<waiting-for-host xmlns='http://jitsi.org/jitmeet'/><lobbyroom",
        );
        assert_eq!(lobby_of(&held).unwrap().1, Waiting::WaitForHost);
        // A members-only refusal without a lobby is a plain refusal.
        let plain =
            "<presence xmlns='jabber:client' type='error' from='r1@muc.meet.jitsi/abcd1234'>\
            <error type='auth'><registration-required xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
            </error></presence>";
        assert_eq!(lobby_of(plain), None);
    }

    #[test]
    fn lobby_presences_invites_and_forms_read_as_lib_jitsi_meet_reads_them() {
        let lobby = BareJid::new("r1@lobby.meet.jitsi").unwrap();
        let presence = |attrs: &str, x: &str| {
            format!(
                "<presence xmlns='jabber:client' from='r1@lobby.meet.jitsi/abcd1234' {attrs}>\
                 <x xmlns='http://jabber.org/protocol/muc#user'>{x}</x></presence>"
            )
        };
        let ev = |frame: &str| lobby_event(frame, &lobby, "abcd1234");
        assert_eq!(
            ev(&presence(
                "",
                "<item affiliation='none' role='participant'/><status code='110'/>"
            )),
            Some(LobbyEvent::SelfJoined)
        );
        assert_eq!(
            ev(&presence(
                "type='unavailable'",
                "<item role='none'/><status code='307'/><status code='110'/>"
            )),
            Some(LobbyEvent::Kicked)
        );
        assert_eq!(
            ev(&presence(
                "type='unavailable'",
                "<item role='none'/><destroy jid='r1@muc.meet.jitsi'><reason>Host arrived.</reason></destroy>"
            )),
            Some(LobbyEvent::Destroyed {
                to: Some("r1@muc.meet.jitsi".into())
            })
        );
        assert_eq!(
            ev(&presence(
                "type='unavailable'",
                "<item role='none'/><destroy/>"
            )),
            Some(LobbyEvent::Destroyed { to: None })
        );
        let other = presence("", "<item role='participant'/>").replace("abcd1234", "efgh5678");
        assert_eq!(ev(&other), Some(LobbyEvent::Other));
        // Presences of the main room are not the lobby's.
        let main = presence("", "<status code='110'/>").replace("lobby.", "muc.");
        assert_eq!(ev(&main), None);

        let room = BareJid::new("r1@muc.meet.jitsi").unwrap();
        let invitee: FullJid = "abcd1234@meet.jitsi/res".parse().unwrap();
        let sent = String::from(&invite(&room, &invitee));
        assert!(
            sent.contains("to='r1@muc.meet.jitsi'") || sent.contains("to=\"r1@muc.meet.jitsi\""),
            "{sent}"
        );
        assert!(
            sent.contains("invite") && sent.contains("abcd1234@meet.jitsi/res"),
            "{sent}"
        );
        let received = "<message xmlns='jabber:client' from='r1@muc.meet.jitsi' to='abcd1234@meet.jitsi/res'>\
            <x xmlns='http://jabber.org/protocol/muc#user'><invite from='r1@muc.meet.jitsi/alice'/></x></message>";
        assert!(is_invite(received, &room));
        assert!(!is_invite(
            &received.replace("muc.meet", "lobby.meet"),
            &room
        ));
        let form = String::from(&members_only_form(true));
        assert!(
            form.contains("muc#roomconfig_membersonly") && form.contains("<value>true</value>"),
            "{form}"
        );
    }

    #[test]
    fn room_names_are_checked_before_connecting() {
        assert!(check_room("seed-auto-owner-1a2b").is_ok());
        for (bad, why) in [
            ("", "empty"),
            ("Room", "lower case"),
            ("a b", "character"),
            ("a@b", "character"),
            ("a/b", "character"),
        ] {
            let e = check_room(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn focus_retries_follow_lib_jitsi_meet_schedule() {
        let secs: Vec<u64> = (1..=10).map(|n| focus_retry_delay(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 120, 120, 120]);
        assert_eq!(focus_retry_delay(0), Duration::from_secs(1));
        assert_eq!(focus_retry_delay(u32::MAX), Duration::from_secs(120));
    }

    #[test]
    fn refusals_are_told_apart_from_failures() {
        assert!(BotError::JoinRefused {
            condition: "not-allowed".into(),
            text: None
        }
        .is_refusal());
        assert!(BotError::Xmpp(XmppError::AuthRefused {
            condition: "not-allowed".into(),
            text: Some("token has expired".into())
        })
        .is_refusal());
        assert!(!BotError::Timeout {
            what: "x".into(),
            deadline: Duration::from_secs(1)
        }
        .is_refusal());
    }
}
