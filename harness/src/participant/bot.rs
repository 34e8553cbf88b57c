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
}

enum Command {
    Leave(oneshot::Sender<Result<(), BotError>>),
    Close(oneshot::Sender<Result<(), BotError>>),
    Abort,
    Admin {
        query: MucAdmin,
        what: String,
        reply: oneshot::Sender<Result<(), BotError>>,
    },
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
        if !config.skip_focus {
            roster.focus_jid = Some(ask_focus(&mut ws, config, &room, &join).await?);
        }

        let mut presence = Presence::new(PresenceType::None)
            .with_to(occupant.clone())
            .with_payload(Muc::new());
        if let Some(name) = &join.display_name {
            presence
                .payloads
                .push(xmpp_parsers::nick::Nick(name.clone()).into());
        }
        ws.send(presence.into()).await?;

        // Until our own presence: apply others' presences, answer IQs, catch a join error.
        let interner = Interner::for_room(&room);
        let join_deadline = Instant::now() + t.join;
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
            match classify(&frame, &room, &interner) {
                Classified::Occupant(OccupantEvent::Error {
                    nick,
                    condition,
                    text,
                }) if nick == own_nick => {
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
            &format!("joined as {own_nick} in {} ms", joined_in.as_millis()),
        );

        let shared = Arc::new(Mutex::new(Shared {
            phase: Phase::Joined,
            roster,
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
        })
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

/// Sends the conference request until `ready='true'`; returns the focus's JID.
async fn ask_focus(
    ws: &mut XmppWebSocket,
    config: &BotConfig,
    room: &BareJid,
    join: &BotJoin,
) -> Result<String, BotError> {
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
                    return Ok(conference
                        .focusjid
                        .unwrap_or_else(|| config.focus_domain.clone()));
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
            Ok(mut s) => s.roster.apply(event),
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
                    Some(Command::Admin { query, what, reply }) => self.send_admin(query, what, reply).await,
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
        match classify(frame, &self.room, &self.interner) {
            Classified::Occupant(event) => {
                let own_exit = match &event {
                    OccupantEvent::Unavailable {
                        is_self: true,
                        kicked,
                        ..
                    } => Some(*kicked),
                    _ => None,
                };
                self.apply(event);
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

    async fn send_admin(
        &mut self,
        query: MucAdmin,
        what: String,
        reply: oneshot::Sender<Result<(), BotError>>,
    ) {
        self.next_id += 1;
        let id = format!("admin{}", self.next_id);
        let mut iq = Iq::from_set(id.clone(), query);
        *iq.to_mut() = Some(Jid::from(self.room.clone()));
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
