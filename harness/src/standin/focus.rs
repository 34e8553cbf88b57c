//! The focus: a small jicofo, as a pure state machine ([`Focus`]: stanza in, stanzas out) plus the fixture
//! stack's runner ([`run`]), an XEP-0114 component `focus.DOMAIN` on the fixture Prosody.
//!
//! It answers the focus `<conference/>` request (with or without the `token` attribute lib-jitsi-meet adds
//! since 1d19d5e7: accepted and not read — jicofo reads it only for visitor redirects and
//! `context.group`, `ConferenceIqHandler.kt` @ stable/jitsi-meet_10314 and _10431), joins and so owns the rooms, tracks occupants from
//! presence, and grants owner with muc#admin IQs the way jicofo's role managers do ([`super::roles`]):
//!
//! * authentication mode (`JICOFO_ENABLE_AUTH`): every occupant whose full JID sent a conference request
//!   from the login domain (with `machine-uid`) is made owner; guests never are, and a guest may not create
//!   a room (`not-authorized`) — AuthenticationRoleManager, `XMPPDomainAuthAuthority.java`,
//!   `ConferenceIqHandler.kt` (jitsi/jicofo @7ebb13dc);
//! * auto-owner mode (`ENABLE_AUTO_OWNER`, default on, only without authentication): exactly one owner at a
//!   time; an existing owner is adopted first; when the owner leaves or is kicked a successor is chosen in
//!   **hash order, not join order**, as jicofo iterates a ConcurrentHashMap (AutoOwnerRoleManager,
//!   `ChatRoomRoleManager.kt` @7ebb13dc); the order here is a seeded hash of the occupant's display name
//!   (its nick when it sends none): clients join with nicks derived from random login ids, so only the
//!   name keeps the order the same for a seed from run to run;
//! * neither: nobody is granted anything.
//!
//! The same state machine serves the jicofo stand-in ([`super::jicofo`]), which logs in as a client and
//! receives requests through Prosody's `client_proxy` ([`Identity::Client`]).
//!
//! Fault knobs of the fixture: `FOCUS_GRANT_DELAY_MS` delays every grant, `FOCUS_NOT_READY_TIMES` answers
//! `ready='false'` to the first N requests per room, `FOCUS_EVERY_JOINER_OWNER` grants owner to every
//! member that joins whatever the role manager (a regression as a release could bring it, to test that
//! the harness reports it as a change). It exists to exercise the harness; it never stands
//! in for Jitsi in a claim.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use minidom::Element;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, FullJid, Jid};
use xmpp_parsers::muc::Muc;
use xmpp_parsers::presence::{Presence, Type as PresenceType};
use xmpp_parsers::stanza::Stanza;
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};

use super::log::Logger;
use super::roles::{self, Candidate, Election, RoleManager};
use crate::xmpp::muc::{occupant_event, OccupantEvent};
use crate::xmpp::{Affiliation, Conference, MucAdmin, Role};

/// The focus's nick in every room (jicofo's default XMPP username, reference.conf).
pub const FOCUS_NICK: &str = "focus";

/// The word that starts the structured line the focus logs with every owner grant its role manager
/// makes: `role-grant room=ROOM jid=BARE affiliation=owner manager=CLASS reason=WORDS` (see
/// [`grant_evidence`]); `explain` reads it from the container log as the grant's evidence.
pub const GRANT_EVIDENCE: &str = "role-grant";

/// The structured grant line ([`GRANT_EVIDENCE`]); `reason` comes last and may contain spaces.
pub fn grant_evidence(
    room: &str,
    jid: &str,
    affiliation: &str,
    manager: &str,
    reason: &str,
) -> String {
    format!(
        "{GRANT_EVIDENCE} room={room} jid={jid} affiliation={affiliation} manager={manager} reason={reason}"
    )
}

/// A structured grant line read back: `(room, jid, affiliation, manager, reason)`.
pub fn parse_grant_evidence(line: &str) -> Option<(&str, &str, &str, &str, &str)> {
    let rest = &line[line.find(GRANT_EVIDENCE)? + GRANT_EVIDENCE.len()..];
    let rest = rest.strip_prefix(" room=")?;
    let (room, rest) = rest.split_once(" jid=")?;
    let (jid, rest) = rest.split_once(" affiliation=")?;
    let (affiliation, rest) = rest.split_once(" manager=")?;
    let (manager, reason) = rest.split_once(" reason=")?;
    Some((room, jid, affiliation, manager, reason.trim_end()))
}

/// The line the focus prints once it is connected; the fixture stack waits for it.
pub const READY_LINE: &str = "jitsi-harness-focus: connected";

/// How the focus behaves; read from env by [`FocusConfig::from_env`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FocusConfig {
    /// The login (token) domain, `XMPP_DOMAIN`: its users count as authenticated.
    pub login_domain: String,
    /// `XMPP_MUC_DOMAIN`.
    pub muc_domain: String,
    /// The component's domain, `focus.XMPP_DOMAIN` (also the `client_proxy` address jicofo is reached at).
    pub focus_domain: String,
    /// How the focus is addressed on the wire.
    pub identity: Identity,
    /// Where and how it logs.
    pub log: Logger,
    /// `JICOFO_ENABLE_AUTH`.
    pub authentication: bool,
    /// `ENABLE_AUTO_OWNER` (only without authentication).
    pub auto_owner: bool,
    /// `FOCUS_GRANT_DELAY_MS`.
    pub grant_delay: Duration,
    /// `FOCUS_NOT_READY_TIMES`.
    pub not_ready_times: u32,
    /// `FOCUS_EVERY_JOINER_OWNER` (a fault): every member that joins is granted owner, whatever the role
    /// manager.
    pub every_joiner_owner: bool,
    /// `FOCUS_SEED`: the hash order of successors.
    pub seed: u64,
    /// `FOCUS_FLAP_MS` (test-only fault): after each grant, revoke owner this long later and grant it
    /// again as long after that — the A -> B -> A flap of jitsi-meet#14192. Zero: off.
    pub flap: Duration,
}

/// How the focus is addressed: the fixture's component, or jicofo's client login behind `client_proxy`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// The XEP-0114 component `focus.DOMAIN`: it stamps `from` itself; its JID is `focus@focus.DOMAIN`.
    Component,
    /// jicofo's client session `focus@AUTH/focus` (docker-jitsi-meet
    /// `jicofo/rootfs/defaults/jicofo.conf@stable-11146`: `xmpp.client.username = "focus"`, `domain =
    /// XMPP_AUTH_DOMAIN`, `client-proxy = "focus.XMPP_DOMAIN"`). Prosody stamps `from`; requests arrive
    /// from `focus.DOMAIN/<the sender's full JID>` (jitsi-meet
    /// `resources/prosody-plugins/mod_client_proxy.lua`) and the answer goes back to that address, as
    /// jicofo's `ConferenceIqHandler.kt` (`parseJidFromClientProxyJid`, `to = originalFrom`) does.
    Client {
        /// `focus@XMPP_AUTH_DOMAIN`, answered as `focusjid`.
        jid: BareJid,
        /// The authentication authority's `isExternal` (JWT: true, XMPP: false), answered as the
        /// `externalAuth` property when authentication is on.
        external_auth: bool,
    },
}

/// Why the focus could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum FocusError {
    /// An environment variable has a value the focus cannot use.
    #[error("{var}={value:?} is invalid: {reason}")]
    Env {
        /// The variable's name.
        var: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A required environment variable is unset.
    #[error("{var} must be set")]
    MissingEnv {
        /// The variable's name.
        var: &'static str,
    },
    #[error("could not connect to Prosody's component port at {server} as {domain} within {} s: {reason}", waited.as_secs())]
    /// The component connection to Prosody could not be made in time.
    Connect {
        /// Prosody's component address (`host:port`).
        server: String,
        /// The component domain the focus logs in as.
        domain: String,
        /// How long the focus kept trying.
        waited: Duration,
        /// The last attempt's error.
        reason: String,
    },
    /// Prosody closed the component connection.
    #[error("the component connection to Prosody ended")]
    Disconnected,
}

/// The fixture's booleans: 1/true/yes/on, 0/false/no/off/empty; unset gives `default`. Stricter than
/// docker-jitsi-meet's `toBool` ([`super::env::to_bool`]) on purpose: a typo in a fixture knob fails.
fn parse_bool(var: &'static str, value: Option<String>, default: bool) -> Result<bool, FocusError> {
    match value {
        None => Ok(default),
        Some(v) => match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" | "" => Ok(false),
            _ => Err(FocusError::Env {
                var,
                value: v,
                reason: "not a boolean (use 1/0, true/false)",
            }),
        },
    }
}

fn parse_number<T: std::str::FromStr>(
    var: &'static str,
    value: Option<String>,
    default: T,
) -> Result<T, FocusError> {
    match value {
        None => Ok(default),
        Some(v) if v.trim().is_empty() => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| FocusError::Env {
            var,
            value: v,
            reason: "not a non-negative integer",
        }),
    }
}

fn env_bool(var: &'static str, default: bool) -> Result<bool, FocusError> {
    parse_bool(var, std::env::var(var).ok(), default)
}

fn env_number<T: std::str::FromStr>(var: &'static str, default: T) -> Result<T, FocusError> {
    parse_number(var, std::env::var(var).ok(), default)
}

impl FocusConfig {
    /// Reads docker-jitsi-meet's env names (plus the fixture's fault knobs).
    pub fn from_env() -> Result<Self, FocusError> {
        let login_domain = std::env::var("XMPP_DOMAIN").unwrap_or_else(|_| "meet.jitsi".into());
        let muc_domain =
            std::env::var("XMPP_MUC_DOMAIN").unwrap_or_else(|_| format!("muc.{login_domain}"));
        // jicofo: JICOFO_ENABLE_AUTH defaults to ENABLE_AUTH (docker-jitsi-meet jicofo.conf).
        let enable_auth = env_bool("ENABLE_AUTH", false)?;
        let authentication = env_bool("JICOFO_ENABLE_AUTH", enable_auth)?;
        let auto_owner = env_bool("ENABLE_AUTO_OWNER", true)?;
        let seed = match std::env::var("FOCUS_SEED") {
            Ok(_) => env_number("FOCUS_SEED", 0u64)?,
            Err(_) => rand::random(),
        };
        Ok(FocusConfig {
            focus_domain: format!("focus.{login_domain}"),
            identity: Identity::Component,
            log: Logger::Plain("focus"),
            login_domain,
            muc_domain,
            authentication,
            auto_owner,
            grant_delay: Duration::from_millis(env_number("FOCUS_GRANT_DELAY_MS", 0u64)?),
            not_ready_times: env_number("FOCUS_NOT_READY_TIMES", 0u32)?,
            every_joiner_owner: env_bool("FOCUS_EVERY_JOINER_OWNER", false)?,
            seed,
            flap: Duration::from_millis(env_number("FOCUS_FLAP_MS", 0u64)?),
        })
    }

    /// The focus's real JID, answered as `focusjid`.
    pub fn focus_bare(&self) -> String {
        match &self.identity {
            Identity::Component => format!("focus@{}", self.focus_domain),
            Identity::Client { jid, .. } => jid.to_string(),
        }
    }

    /// The role manager every conference gets.
    pub fn role_manager(&self) -> RoleManager {
        RoleManager::select(self.authentication, self.auto_owner)
    }

    fn mode(&self) -> &'static str {
        self.role_manager().mode()
    }

    /// The `from` of the focus's own stanzas (none for a client: the server stamps it).
    fn own_full(&self) -> Option<Jid> {
        match self.identity {
            Identity::Component => format!("{}/{FOCUS_NICK}", self.focus_bare()).parse().ok(),
            Identity::Client { .. } => None,
        }
    }

    /// The `from` of answers to conference requests.
    fn answer_from(&self) -> Option<Jid> {
        match self.identity {
            Identity::Component => self.focus_domain.parse().ok(),
            Identity::Client { .. } => None,
        }
    }

    /// The real sender of a request: behind `client_proxy`, the JID in the resource of
    /// `focus.DOMAIN/<full JID>`.
    pub fn requester(&self, from: &Jid) -> Jid {
        if let Identity::Client { .. } = self.identity {
            if from.domain().as_str() == self.focus_domain {
                if let Some(original) = from.resource().and_then(|r| r.as_str().parse::<Jid>().ok())
                {
                    return original;
                }
            }
        }
        from.clone()
    }
}

/// A stanza to send, maybe later (grants honour `FOCUS_GRANT_DELAY_MS`).
#[derive(Debug)]
pub struct Outgoing {
    /// The stanza, in xmpp-parsers' namespace.
    pub stanza: Stanza,
    /// How long to wait before sending it (zero: now).
    pub delay: Duration,
}

#[derive(Debug, Clone)]
struct Member {
    jid: Option<FullJid>,
    affiliation: Affiliation,
    role: Role,
    /// XEP-0172 display name from its presence.
    display_name: Option<String>,
}

/// A conference request answered once the focus is in the room.
#[derive(Debug)]
struct Waiting {
    id: String,
    /// Where the answer goes (the request's `from`).
    reply_to: Jid,
    /// The real sender (differs from `reply_to` behind `client_proxy`).
    sender: Jid,
}

#[derive(Debug, Default)]
struct Room {
    joined: bool,
    /// Conference requests waiting for the focus's own join.
    waiting: Vec<Waiting>,
    members: HashMap<String, Member>,
    /// AutoOwnerRoleManager's single remembered owner (nick).
    owner: Option<String>,
    not_ready_served: u32,
}

/// The focus state machine.
#[derive(Debug)]
pub struct Focus {
    config: FocusConfig,
    rooms: HashMap<BareJid, Room>,
    /// Full JIDs with an authentication session (authentication mode).
    sessions: HashSet<String>,
    /// Session ids the focus answered, with the `machine-uid` of the request that got each: a later
    /// request (a page reload) may present one again.
    issued: HashMap<String, String>,
    next_id: u64,
}

fn error_iq(
    id: String,
    to: Option<Jid>,
    from: Option<Jid>,
    condition: DefinedCondition,
    text: &str,
) -> Stanza {
    let error = StanzaError::new(
        match condition {
            DefinedCondition::NotAuthorized => ErrorType::Auth,
            DefinedCondition::BadRequest | DefinedCondition::NotAcceptable => ErrorType::Modify,
            _ => ErrorType::Cancel,
        },
        condition,
        "en",
        text,
    );
    let mut iq = Iq::from_error(id, error);
    *iq.to_mut() = to;
    *iq.from_mut() = from;
    iq.into()
}

impl Focus {
    /// A focus in no room yet.
    pub fn new(config: FocusConfig) -> Self {
        Focus {
            config,
            rooms: HashMap::new(),
            sessions: HashSet::new(),
            issued: HashMap::new(),
            next_id: 0,
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &FocusConfig {
        &self.config
    }

    fn occupant_jid(&self, room: &BareJid) -> Option<FullJid> {
        room.with_resource_str(FOCUS_NICK).ok()
    }

    fn focus_full(&self) -> Option<Jid> {
        self.config.own_full()
    }

    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{}", self.next_id)
    }

    /// Hash position of an occupant ([`roles::hash_rank`], seeded by `FOCUS_SEED`).
    fn hash_rank(&self, room: &BareJid, nick: &str) -> u64 {
        roles::hash_rank(self.config.seed, room.as_str(), nick)
    }

    /// Handles one stanza from Prosody; returns what to send.
    pub fn handle(&mut self, stanza: Stanza) -> Vec<Outgoing> {
        match stanza {
            Stanza::Iq(iq) => self.on_iq(iq),
            Stanza::Presence(p) => self.on_presence(p),
            Stanza::Message(_) => Vec::new(),
        }
    }

    fn now(stanza: impl Into<Stanza>) -> Outgoing {
        Outgoing {
            stanza: stanza.into(),
            delay: Duration::ZERO,
        }
    }

    fn on_iq(&mut self, iq: Iq) -> Vec<Outgoing> {
        match iq {
            Iq::Set {
                from,
                to,
                id,
                payload,
            } => {
                if payload.is("conference", crate::xmpp::ns::FOCUS) {
                    return self.on_conference(id, from, to, payload);
                }
                vec![Self::now(error_iq(
                    id,
                    from,
                    to,
                    DefinedCondition::ServiceUnavailable,
                    "the focus stand-in only answers conference requests",
                ))]
            }
            Iq::Get {
                from,
                to,
                id,
                payload,
            } => {
                if payload.is("ping", crate::xmpp::ns::PING) {
                    let result = Iq::Result {
                        from: to,
                        to: from,
                        id,
                        payload: None,
                    };
                    return vec![Self::now(result)];
                }
                vec![Self::now(error_iq(
                    id,
                    from,
                    to,
                    DefinedCondition::ServiceUnavailable,
                    "not implemented by the focus stand-in",
                ))]
            }
            Iq::Result { from, id, .. } => {
                tracing::debug!("result {id} from {from:?}");
                Vec::new()
            }
            Iq::Error {
                from, id, error, ..
            } => {
                // jicofo only logs failed grants; so does the stand-in (ChatRoomImpl.kt grantOwnership).
                self.config.log.warn(
                    "ChatRoomImpl.grantOwnership",
                    &format!(
                        "request {id} to {} failed: {:?} {:?}",
                        from.map(|f| f.to_string()).unwrap_or_default(),
                        error.defined_condition,
                        error.texts.values().next()
                    ),
                );
                Vec::new()
            }
        }
    }

    fn on_conference(
        &mut self,
        id: String,
        from: Option<Jid>,
        to: Option<Jid>,
        payload: Element,
    ) -> Vec<Outgoing> {
        let reply_error = |cond, text: &str| {
            vec![Self::now(error_iq(
                id.clone(),
                from.clone(),
                to.clone(),
                cond,
                text,
            ))]
        };
        let Ok(request) = Conference::try_from(payload) else {
            return reply_error(DefinedCondition::BadRequest, "malformed conference request");
        };
        let Some(reply_to) = from.clone() else {
            return reply_error(DefinedCondition::BadRequest, "no sender");
        };
        let sender = self.config.requester(&reply_to);
        let Ok(room) = BareJid::new(&request.room) else {
            return reply_error(DefinedCondition::BadRequest, "room is not a JID");
        };
        if room.domain().as_str() != self.config.muc_domain {
            return reply_error(
                DefinedCondition::BadRequest,
                "room is not on the MUC domain",
            );
        }
        let on_login_domain = sender.domain().as_str() == self.config.login_domain;
        let mut authenticated = false;
        if self.config.authentication && on_login_domain {
            // ConferenceIqHandler.kt: a session needs machine-uid.
            if request.machine_uid.as_deref().unwrap_or("").is_empty() {
                return reply_error(
                    DefinedCondition::NotAcceptable,
                    "Missing mandatory attribute 'machine-uid'",
                );
            }
            // A `session-id` from an earlier connection (lib-jitsi-meet sends it again after a page
            // reload): jicofo accepts one it issued to the same machine, answers an unknown one with
            // not-acceptable plus `<session-invalid/>`, and one issued to another machine with
            // not-acceptable (jitsi/jicofo `auth/AbstractAuthAuthority.java` `verifySession`, and
            // `XMPPDomainAuthAuthorityTest` cases 5 and 6). Accepted, the new connection is authenticated
            // with that session: owner again (jicofo#760).
            if let Some(presented) = request.session_id.as_deref().filter(|s| !s.is_empty()) {
                let uid = request.machine_uid.as_deref().unwrap_or("");
                match self.issued.get(presented) {
                    None => {
                        let mut error = StanzaError::new(
                            ErrorType::Modify,
                            DefinedCondition::NotAcceptable,
                            "en",
                            "invalid session",
                        );
                        error.other = Some(
                            Element::builder("session-invalid", crate::xmpp::ns::FOCUS).build(),
                        );
                        let mut iq = Iq::from_error(id.clone(), error);
                        *iq.to_mut() = from.clone();
                        *iq.from_mut() = to.clone();
                        return vec![Self::now(iq)];
                    }
                    Some(owner) if owner != uid => {
                        return reply_error(
                            DefinedCondition::NotAcceptable,
                            "session-id of another machine",
                        );
                    }
                    Some(_) => self.config.log.info(
                        "AbstractAuthAuthority.processAuthentication",
                        &format!("{sender} resumes session {presented}"),
                    ),
                }
            }
            authenticated = true;
            let session = format!("{:016x}", self.hash_rank(&room, sender.as_str()));
            if let Some(uid) = request.machine_uid.clone() {
                self.issued.insert(session, uid);
            }
            if self.sessions.insert(sender.to_string()) {
                self.config.log.info(
                    "XMPPDomainAuthAuthority.createNewSession",
                    &format!("authentication session for {sender}"),
                );
            }
        }
        let exists = self.rooms.get(&room).map(|r| r.joined).unwrap_or(false);
        if self.config.authentication && !authenticated && !exists {
            // jicofo: "not authorized user domain" — guests cannot create rooms.
            return reply_error(
                DefinedCondition::NotAuthorized,
                "not authorized user domain: a guest cannot create the room",
            );
        }
        let mut out = Vec::new();
        // A session created while the user is already in the room is granted now.
        if authenticated {
            out.extend(self.grant_authenticated_in(&room, &sender));
        }
        let not_ready_times = self.config.not_ready_times;
        let focus_bare = self.config.focus_bare();
        let room_state = self.rooms.entry(room.clone()).or_default();
        if room_state.not_ready_served < not_ready_times {
            room_state.not_ready_served += 1;
            let served = room_state.not_ready_served;
            self.config.log.info(
                "ConferenceIqHandler.handleConferenceIq",
                &format!("{room}: answering ready=false ({served}/{not_ready_times}, fault knob)"),
            );
            out.push(self.conference_answer(id, reply_to, &sender, &room, false, authenticated));
            return out;
        }
        if room_state.joined {
            out.push(self.conference_answer(id, reply_to, &sender, &room, true, authenticated));
            return out;
        }
        let first_waiter = room_state.waiting.is_empty();
        room_state.waiting.push(Waiting {
            id,
            reply_to,
            sender,
        });
        if first_waiter {
            if let Some(occupant) = self.occupant_jid(&room) {
                self.config.log.info(
                    "JitsiMeetConferenceImpl.joinTheRoom",
                    &format!("Joining {room} as {FOCUS_NICK} ({focus_bare})"),
                );
                let mut join = Presence::new(PresenceType::None)
                    .with_to(occupant)
                    .with_payload(Muc::new());
                join.from = self.focus_full();
                out.push(Self::now(join));
            }
        }
        out
    }

    fn conference_answer(
        &self,
        id: String,
        to: Jid,
        sender: &Jid,
        room: &BareJid,
        ready: bool,
        authenticated: bool,
    ) -> Outgoing {
        let answer = Conference::answer(room.to_string(), ready, self.config.focus_bare())
            .with_property("authentication", &self.config.authentication.to_string());
        let mut answer = match self.config.identity {
            // jicofo (ConferenceIqHandler.kt @ stable/jitsi-meet_11146): `externalAuth` only with an
            // authentication authority, and it says whether that authority is external (JWT).
            Identity::Client { external_auth, .. } if self.config.authentication => {
                answer.with_property("externalAuth", &external_auth.to_string())
            }
            Identity::Client { .. } => answer,
            Identity::Component => answer.with_property(
                "externalAuth",
                &(self.config.authentication && authenticated).to_string(),
            ),
        };
        if authenticated {
            answer.session_id = Some(format!("{:016x}", self.hash_rank(room, sender.as_str())));
            answer.identity = Some(sender.to_bare().to_string());
        }
        let mut iq = Iq::from_result(id, Some(answer));
        *iq.to_mut() = Some(to);
        *iq.from_mut() = self.config.answer_from();
        Self::now(iq)
    }

    /// The muc#admin owner grant of `jid` in `room` by the room's role manager, `why` in words. Logs the
    /// grant and one structured line for `explain` ([`GRANT_EVIDENCE`]: the role manager and the reason).
    /// With the flap fault, the grant is followed by a revoke and a second grant.
    fn grant(&mut self, room: &BareJid, jid: &FullJid, why: &str) -> Vec<Outgoing> {
        self.config.log.info(
            "ChatRoomImpl.grantOwnership",
            &format!("{room}: granting owner to {} ({why})", jid.to_bare()),
        );
        self.config.log.info(
            "ChatRoomRoleManager.grantOwner",
            &grant_evidence(
                room.as_str(),
                jid.to_bare().as_str(),
                "owner",
                self.config.role_manager().class().unwrap_or("none"),
                why,
            ),
        );
        let mut out = vec![self.admin(
            room,
            MucAdmin::grant_owner(&jid.to_bare()),
            self.config.grant_delay,
        )];
        if !self.config.flap.is_zero() {
            let flap = self.config.flap;
            self.config.log.warn(
                "ChatRoomRoleManager.grantOwner",
                &grant_evidence(
                    room.as_str(),
                    jid.to_bare().as_str(),
                    "none",
                    self.config.role_manager().class().unwrap_or("none"),
                    &format!(
                        "fault FOCUS_FLAP_MS={}: revoke, then grant again",
                        flap.as_millis()
                    ),
                ),
            );
            self.config.log.warn(
                "ChatRoomRoleManager.grantOwner",
                &grant_evidence(
                    room.as_str(),
                    jid.to_bare().as_str(),
                    "owner",
                    self.config.role_manager().class().unwrap_or("none"),
                    &format!("fault FOCUS_FLAP_MS={}: granted again", flap.as_millis()),
                ),
            );
            let revoke = MucAdmin {
                items: vec![crate::xmpp::muc::AdminItem {
                    affiliation: Some(Affiliation::None.as_str().into()),
                    role: None,
                    jid: Some(jid.to_bare().to_string()),
                    nick: None,
                }],
            };
            out.push(self.admin(room, revoke, self.config.grant_delay + flap));
            out.push(self.admin(
                room,
                MucAdmin::grant_owner(&jid.to_bare()),
                self.config.grant_delay + flap * 2,
            ));
        }
        out
    }

    fn admin(&mut self, room: &BareJid, query: MucAdmin, delay: Duration) -> Outgoing {
        let id = self.id("grant");
        let mut iq = Iq::from_set(id, query);
        *iq.to_mut() = Some(Jid::from(room.clone()));
        *iq.from_mut() = self.focus_full();
        Outgoing {
            stanza: iq.into(),
            delay,
        }
    }

    fn grant_authenticated_in(&mut self, room: &BareJid, sender: &Jid) -> Vec<Outgoing> {
        let Some(state) = self.rooms.get(room) else {
            return Vec::new();
        };
        let targets: Vec<FullJid> = state
            .members
            .values()
            .filter(|m| m.affiliation != Affiliation::Owner)
            .filter_map(|m| m.jid.clone())
            .filter(|j| j.as_str() == sender.as_str())
            .collect();
        targets
            .iter()
            .flat_map(|j| self.grant(room, j, "authenticated while in the room"))
            .collect()
    }

    fn on_presence(&mut self, presence: Presence) -> Vec<Outgoing> {
        let Some(room) = presence.from.as_ref().map(|f| f.to_bare()) else {
            return Vec::new();
        };
        if !self.rooms.contains_key(&room) {
            return Vec::new();
        }
        let Some(event) = occupant_event(&presence, &room) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        match event {
            OccupantEvent::Error {
                nick,
                condition,
                text,
            } if nick == FOCUS_NICK => {
                self.config.log.severe(
                    "ChatRoomImpl.join",
                    &format!("{room}: could not join: {condition} {text:?}"),
                );
                if let Some(state) = self.rooms.remove(&room) {
                    for w in state.waiting {
                        out.push(Self::now(error_iq(
                            w.id,
                            Some(w.reply_to),
                            self.config.answer_from(),
                            DefinedCondition::ServiceUnavailable,
                            &format!("the focus could not join the room: {condition}"),
                        )));
                    }
                }
            }
            OccupantEvent::Error { .. } => {}
            OccupantEvent::Available {
                occupant, is_self, ..
            } if is_self || &*occupant.nick == FOCUS_NICK => {
                let waiting = match self.rooms.get_mut(&room) {
                    Some(state) if !state.joined => {
                        state.joined = true;
                        std::mem::take(&mut state.waiting)
                    }
                    _ => Vec::new(),
                };
                if !waiting.is_empty() {
                    self.config.log.info(
                        "ChatRoomImpl.join",
                        &format!(
                            "{room}: joined as {:?}/{:?}",
                            occupant.affiliation, occupant.role
                        ),
                    );
                }
                for w in waiting {
                    let authenticated = self.sessions.contains(w.sender.as_str());
                    out.push(self.conference_answer(
                        w.id,
                        w.reply_to,
                        &w.sender,
                        &room,
                        true,
                        authenticated,
                    ));
                }
            }
            OccupantEvent::Available { occupant, .. } => {
                let nick = occupant.nick.to_string();
                let member = Member {
                    jid: occupant.jid.as_deref().and_then(|j| FullJid::new(j).ok()),
                    affiliation: occupant.affiliation,
                    role: occupant.role,
                    display_name: occupant.display_name.as_deref().map(str::to_owned),
                };
                let Some(state) = self.rooms.get_mut(&room) else {
                    return out;
                };
                let is_new = state.members.insert(nick.clone(), member.clone()).is_none();
                if is_new {
                    self.config.log.info(
                        "ChatRoomImpl.processOtherPresence",
                        &format!(
                            "{room}: {nick} joined ({})",
                            member
                                .jid
                                .as_ref()
                                .map(|j| j.as_str())
                                .unwrap_or("real JID hidden")
                        ),
                    );
                    if self.config.every_joiner_owner {
                        // The fault knob: owner for everyone, as no role manager of jicofo grants it.
                        if let Some(jid) = &member.jid {
                            if member.affiliation != Affiliation::Owner {
                                out.extend(self.grant(
                                    &room,
                                    jid,
                                    "every joiner owner, fault knob",
                                ));
                            }
                        }
                    } else if self.config.authentication {
                        // AuthenticationRoleManager: owner for every member with a session.
                        if let Some(jid) = &member.jid {
                            if self.sessions.contains(jid.as_str())
                                && member.affiliation != Affiliation::Owner
                            {
                                out.extend(self.grant(&room, jid, "authenticated user"));
                            }
                        }
                    } else if self.config.auto_owner {
                        out.extend(self.elect(&room));
                    }
                }
            }
            OccupantEvent::Unavailable { nick, is_self, .. } => {
                if is_self || nick == FOCUS_NICK {
                    self.rooms.remove(&room);
                    return out;
                }
                let Some(state) = self.rooms.get_mut(&room) else {
                    return out;
                };
                state.members.remove(&nick);
                self.config
                    .log
                    .info("ChatRoomImpl.removeMember", &format!("{room}: {nick} left"));
                if state.owner.as_deref() == Some(nick.as_str()) {
                    state.owner = None;
                }
                if state.members.is_empty() {
                    // jicofo stops a conference when its last participant leaves; the room goes away.
                    self.config.log.info(
                        "JitsiMeetConferenceImpl.stop",
                        &format!("{room}: empty, leaving"),
                    );
                    self.rooms.remove(&room);
                    if let Some(occupant) = self.occupant_jid(&room) {
                        let mut leave = Presence::new(PresenceType::Unavailable).with_to(occupant);
                        leave.from = self.focus_full();
                        out.push(Self::now(leave));
                    }
                } else if !self.config.authentication
                    && self.config.auto_owner
                    && !self.config.every_joiner_owner
                {
                    out.extend(self.elect(&room));
                }
            }
        }
        out
    }

    /// AutoOwnerRoleManager's election ([`roles::elect`]).
    fn elect(&mut self, room: &BareJid) -> Vec<Outgoing> {
        let Some(state) = self.rooms.get(room) else {
            return Vec::new();
        };
        let candidates = state
            .members
            .iter()
            .map(|(nick, m)| Candidate {
                nick: nick.clone(),
                rank: self.hash_rank(room, m.display_name.as_deref().unwrap_or(nick)),
                owner: m.affiliation == Affiliation::Owner,
                visitor: m.role == Role::Visitor,
            })
            .collect();
        match roles::elect(state.owner.as_deref(), candidates) {
            Election::Keep | Election::Nobody => Vec::new(),
            Election::Adopt(nick) => {
                self.config.log.info(
                    "AutoOwnerRoleManager.electNewOwner",
                    &format!("{room}: adopting existing owner {nick}"),
                );
                if let Some(state) = self.rooms.get_mut(room) {
                    state.owner = Some(nick);
                }
                Vec::new()
            }
            Election::Grant(nick) => {
                let Some(jid) = state.members.get(&nick).and_then(|m| m.jid.clone()) else {
                    self.config.log.warn(
                        "AutoOwnerRoleManager.electNewOwner",
                        &format!("{room}: cannot grant owner to {nick}: real JID hidden"),
                    );
                    return Vec::new();
                };
                if let Some(state) = self.rooms.get_mut(room) {
                    state.owner = Some(nick);
                }
                self.grant(room, &jid, "auto-owner election")
            }
        }
    }

    /// jicofo's `GET /debug/conference/<room>` for `room` (a bare JID); `{}` when the focus is not in it.
    ///
    /// The shape of `JitsiMeetConferenceImpl.getDebugState` (jitsi/jicofo `stable/jitsi-meet_11146`): `name`,
    /// `chat_room` (`ChatRoomImpl.debugState`: `room_jid`, `my_occupant_jid`, `members` by nick with
    /// `ChatRoomMemberImpl.debugState`'s `role`, `jid`, `occupant_jid`), and `chat_room_role_manager`
    /// (`ChatRoomRoleManager.debugState`: `class`, plus `owner` for AutoOwnerRoleManager, `"null"` when
    /// none). Only the fields the stand-in knows are present.
    pub fn debug_state(&self, room: &str) -> serde_json::Value {
        use serde_json::{json, Value};
        let Ok(jid) = BareJid::new(room) else {
            return json!({});
        };
        let Some(state) = self.rooms.get(&jid).filter(|s| s.joined) else {
            return json!({});
        };
        let members: BTreeMap<&str, Value> = state
            .members
            .iter()
            .map(|(nick, m)| {
                (
                    nick.as_str(),
                    json!({
                        "occupant_jid": format!("{jid}/{nick}"),
                        "jid": m.jid.as_ref().map(|j| j.to_string()).unwrap_or_else(|| "null".into()),
                        "role": roles::member_role(&m.affiliation, &m.role),
                    }),
                )
            })
            .collect();
        let manager = self.config.role_manager();
        let role_manager = match manager.class() {
            None => Value::Null,
            Some(class) if manager == RoleManager::AutoOwner => {
                let owner = state
                    .owner
                    .as_ref()
                    .and_then(|nick| state.members.get(nick))
                    .and_then(|m| m.jid.as_ref())
                    .map(|j| j.to_string())
                    .unwrap_or_else(|| "null".into());
                json!({ "class": class, "owner": owner })
            }
            Some(class) => json!({ "class": class }),
        };
        json!({
            "name": jid.to_string(),
            "chat_room": {
                "room_jid": jid.to_string(),
                "my_occupant_jid": format!("{jid}/{FOCUS_NICK}"),
                "members": members,
            },
            "chat_room_role_manager": role_manager,
        })
    }
}

/// The component's TCP connection with Nagle's algorithm off. tokio-xmpp's plain TCP connector leaves it
/// on, and the focus's small answers then wait for delayed ACKs: ~40 ms per conference request.
#[derive(Clone, Debug)]
struct NoDelayTcp(std::net::SocketAddr);

impl tokio_xmpp::connect::ServerConnector for NoDelayTcp {
    type Stream = tokio::io::BufStream<tokio::net::TcpStream>;

    async fn connect(
        &self,
        jid: &Jid,
        ns: &'static str,
        timeouts: tokio_xmpp::xmlstream::Timeouts,
    ) -> Result<
        (
            tokio_xmpp::xmlstream::PendingFeaturesRecv<Self::Stream>,
            sasl::common::ChannelBinding,
        ),
        tokio_xmpp::Error,
    > {
        let tcp = tokio::net::TcpStream::connect(self.0).await?;
        tcp.set_nodelay(true)?;
        let header = tokio_xmpp::xmlstream::StreamHeader {
            to: Some(std::borrow::Cow::Borrowed(jid.domain().as_str())),
            from: None,
            id: None,
        };
        let pending = tokio_xmpp::xmlstream::initiate_stream(
            tokio::io::BufStream::new(tcp),
            ns,
            header,
            timeouts,
        )
        .await?;
        Ok((pending, sasl::common::ChannelBinding::None))
    }
}

/// Connects to Prosody's component port and runs the focus until the connection ends.
///
/// Env: `XMPP_SERVER` (host:port of the component listener, default `xmpp.meet.jitsi:5347`),
/// `JICOFO_COMPONENT_SECRET`, plus [`FocusConfig::from_env`]'s.
pub async fn run_from_env() -> Result<(), FocusError> {
    let config = FocusConfig::from_env()?;
    let server = std::env::var("XMPP_SERVER").unwrap_or_else(|_| "xmpp.meet.jitsi:5347".into());
    let secret = std::env::var("JICOFO_COMPONENT_SECRET").map_err(|_| FocusError::MissingEnv {
        var: "JICOFO_COMPONENT_SECRET",
    })?;
    run(config, &server, &secret).await
}

/// Connects (retrying while Prosody starts, up to 30 s) and serves.
pub async fn run(config: FocusConfig, server: &str, secret: &str) -> Result<(), FocusError> {
    use tokio_xmpp::xmlstream::Timeouts;
    use tokio_xmpp::Component;

    // Prosody needs well under a second to listen; 30 s covers a slow, loaded machine.
    const CONNECT_WINDOW: Duration = Duration::from_secs(30);
    let started = std::time::Instant::now();
    let mut component = loop {
        // tokio-xmpp's `DnsConfig::addr` takes an IP:port; the server is a container name on the stack's
        // network, resolved here (without tokio-xmpp's `dns` feature and its resolver).
        let attempt = match tokio::net::lookup_host(server).await.map(|mut a| a.next()) {
            Ok(Some(addr)) => Component::new_with_connector(
                &config.focus_domain,
                secret,
                NoDelayTcp(addr),
                Timeouts::tight(),
            )
            .await
            .map_err(|e| e.to_string()),
            Ok(None) => Err(format!("{server} resolves to no address")),
            Err(e) => Err(format!("cannot resolve {server}: {e}")),
        };
        match attempt {
            Ok(c) => break c,
            Err(reason) if started.elapsed() < CONNECT_WINDOW => {
                tracing::debug!("component connect failed, retrying: {reason}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(reason) => {
                return Err(FocusError::Connect {
                    server: server.to_owned(),
                    domain: config.focus_domain.clone(),
                    waited: started.elapsed(),
                    reason,
                })
            }
        }
    };
    println!(
        "{READY_LINE} as {} (mode {}, grant delay {} ms, not-ready {}, every joiner owner {}, seed {})",
        config.focus_domain,
        config.mode(),
        config.grant_delay.as_millis(),
        config.not_ready_times,
        config.every_joiner_owner,
        config.seed
    );
    let (delayed_tx, mut delayed_rx) = tokio::sync::mpsc::unbounded_channel::<Stanza>();
    let mut focus = Focus::new(config);
    loop {
        let outgoing = tokio::select! {
            incoming = component.next() => match incoming {
                Some(stanza) => focus.handle(stanza),
                None => return Err(FocusError::Disconnected),
            },
            Some(stanza) = delayed_rx.recv() => vec![Focus::now(stanza)],
        };
        for out in outgoing {
            if out.delay.is_zero() {
                if component.send(out.stanza).await.is_err() {
                    return Err(FocusError::Disconnected);
                }
            } else {
                let tx = delayed_tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(out.delay).await;
                    let _ = tx.send(out.stanza);
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(authentication: bool, auto_owner: bool) -> FocusConfig {
        FocusConfig {
            login_domain: "meet.jitsi".into(),
            muc_domain: "muc.meet.jitsi".into(),
            focus_domain: "focus.meet.jitsi".into(),
            identity: Identity::Component,
            log: Logger::Plain("focus"),
            authentication,
            auto_owner,
            grant_delay: Duration::ZERO,
            not_ready_times: 0,
            every_joiner_owner: false,
            seed: 7,
            flap: Duration::ZERO,
        }
    }

    fn el(xml: &str) -> Stanza {
        let element = crate::xmpp::stanza::from_wire(xml.parse::<Element>().unwrap());
        Stanza::try_from(element).unwrap()
    }

    fn request(from: &str, room: &str, machine_uid: Option<&str>) -> Stanza {
        let uid = machine_uid
            .map(|m| format!(" machine-uid='{m}'"))
            .unwrap_or_default();
        el(&format!(
            "<iq xmlns='jabber:client' type='set' id='c1' from='{from}' to='focus.meet.jitsi'>\
             <conference xmlns='http://jitsi.org/protocol/focus' room='{room}@muc.meet.jitsi'{uid}/></iq>"
        ))
    }

    fn occupant(room: &str, nick: &str, jid: &str, affiliation: &str, role: &str) -> Stanza {
        el(&format!(
            "<presence xmlns='jabber:client' from='{room}@muc.meet.jitsi/{nick}' to='focus@focus.meet.jitsi/focus'>\
             <x xmlns='http://jabber.org/protocol/muc#user'><item jid='{jid}' affiliation='{affiliation}' role='{role}'/></x></presence>"
        ))
    }

    fn left(room: &str, nick: &str) -> Stanza {
        el(&format!(
            "<presence xmlns='jabber:client' type='unavailable' from='{room}@muc.meet.jitsi/{nick}'>\
             <x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/></x></presence>"
        ))
    }

    fn focus_joined(room: &str) -> Stanza {
        el(&format!(
            "<presence xmlns='jabber:client' from='{room}@muc.meet.jitsi/focus' to='focus@focus.meet.jitsi/focus'>\
             <x xmlns='http://jabber.org/protocol/muc#user'><status code='201'/>\
             <item jid='focus@focus.meet.jitsi/focus' affiliation='owner' role='moderator'/><status code='110'/></x></presence>"
        ))
    }

    /// Bare JIDs granted owner in `out`.
    fn grants(out: &[Outgoing]) -> Vec<String> {
        out.iter()
            .filter_map(|o| match &o.stanza {
                Stanza::Iq(Iq::Set { payload, .. }) => MucAdmin::try_from(payload.clone()).ok(),
                _ => None,
            })
            .flat_map(|q| q.items.into_iter().filter_map(|i| i.jid))
            .collect()
    }

    fn answers(out: &[Outgoing]) -> Vec<Result<Conference, String>> {
        out.iter()
            .filter_map(|o| match &o.stanza {
                Stanza::Iq(Iq::Result {
                    payload: Some(p), ..
                }) => Some(Ok(Conference::try_from(p.clone()).unwrap())),
                Stanza::Iq(Iq::Error { error, .. }) => Some(Err(format!(
                    "{:?}: {}",
                    error.defined_condition,
                    error.texts.values().next().cloned().unwrap_or_default()
                ))),
                _ => None,
            })
            .collect()
    }

    /// Runs a conference request and the focus's own join; returns the answers.
    fn create(focus: &mut Focus, from: &str, room: &str) -> Vec<Result<Conference, String>> {
        let out = focus.handle(request(from, room, Some("m1")));
        assert!(answers(&out).is_empty(), "answered before joining");
        answers(&focus.handle(focus_joined(room)))
    }

    #[test]
    fn answers_ready_only_once_in_the_room() {
        let mut focus = Focus::new(config(false, true));
        let a = create(&mut focus, "a@meet.jitsi/r", "r1");
        let answer = a[0].as_ref().unwrap();
        assert!(answer.is_ready());
        assert_eq!(answer.focusjid.as_deref(), Some("focus@focus.meet.jitsi"));
        // The room exists now: a second request is answered at once.
        let b = answers(&focus.handle(request("b@meet.jitsi/r", "r1", Some("m2"))));
        assert!(b[0].as_ref().unwrap().is_ready());
    }

    #[test]
    fn auto_owner_grants_the_first_joiner_then_one_successor_in_hash_order() {
        // Literal expectations, one per seed, covering every candidate: the successor of a fixed join
        // order (bob, carol, dave) under the stand-in's seeded hash of the nick (`roles::hash_rank`, std's
        // `DefaultHasher`). A change of the hash or of the tie-break shows up here as a different name.
        for (seed, expected) in [
            (0, "b@meet.jitsi"),
            (1, "d@meet.jitsi"),
            (2, "c@meet.jitsi"),
            (7, "d@meet.jitsi"),
        ] {
            let mut focus = Focus::new(FocusConfig {
                seed,
                ..config(false, true)
            });
            create(&mut focus, "a@meet.jitsi/r", "r1");
            let out = focus.handle(occupant(
                "r1",
                "alice",
                "a@meet.jitsi/r",
                "none",
                "participant",
            ));
            assert_eq!(grants(&out), ["a@meet.jitsi"], "seed {seed}");
            focus.handle(occupant(
                "r1",
                "alice",
                "a@meet.jitsi/r",
                "owner",
                "moderator",
            ));
            for (nick, jid) in [
                ("bob", "b@meet.jitsi/r"),
                ("carol", "c@meet.jitsi/r"),
                ("dave", "d@meet.jitsi/r"),
            ] {
                assert!(
                    grants(&focus.handle(occupant("r1", nick, jid, "none", "participant")))
                        .is_empty(),
                    "seed {seed}: {nick} granted while alice owns the room"
                );
            }
            let granted = grants(&focus.handle(left("r1", "alice")));
            assert_eq!(granted, [expected], "seed {seed}: exactly one successor");
        }
    }

    fn named(room: &str, nick: &str, name: &str, jid: &str, affiliation: &str) -> Stanza {
        let role = if affiliation == "owner" {
            "moderator"
        } else {
            "participant"
        };
        el(&format!(
            "<presence xmlns='jabber:client' from='{room}@muc.meet.jitsi/{nick}' to='focus@focus.meet.jitsi/focus'>\
             <nick xmlns='http://jabber.org/protocol/nick'>{name}</nick>\
             <x xmlns='http://jabber.org/protocol/muc#user'><item jid='{jid}' affiliation='{affiliation}' role='{role}'/></x></presence>"
        ))
    }

    #[test]
    fn successor_order_follows_display_names_whatever_the_nicks() {
        // Clients join with nicks from random login ids (lib-jitsi-meet): with the same seed and names,
        // every run elects the same successor.
        let successor = |nicks: [&str; 4]| {
            let mut focus = Focus::new(config(false, true));
            create(&mut focus, "a@meet.jitsi/r", "r1");
            focus.handle(named("r1", nicks[0], "alice", "a@meet.jitsi/r", "none"));
            focus.handle(named("r1", nicks[0], "alice", "a@meet.jitsi/r", "owner"));
            for (nick, (name, jid)) in nicks[1..].iter().zip([
                ("bob", "b@meet.jitsi/r"),
                ("carol", "c@meet.jitsi/r"),
                ("dave", "d@meet.jitsi/r"),
            ]) {
                focus.handle(named("r1", nick, name, jid, "none"));
            }
            grants(&focus.handle(left("r1", nicks[0])))
        };
        let first = successor(["1a2b3c4d", "5e6f7a8b", "9c0d1e2f", "3a4b5c6d"]);
        assert_eq!(first.len(), 1, "{first:?}");
        for nicks in [
            ["aaaaaaaa", "bbbbbbbb", "cccccccc", "dddddddd"],
            ["dddddddd", "cccccccc", "bbbbbbbb", "aaaaaaaa"],
            ["0f0f0f0f", "e1e1e1e1", "7777aaaa", "12345678"],
        ] {
            assert_eq!(successor(nicks), first, "nicks {nicks:?}");
        }
    }

    #[test]
    fn a_request_carrying_the_token_is_answered() {
        // lib-jitsi-meet's request since 1d19d5e7 carries the JWT as `token`.
        let mut focus = Focus::new(config(false, true));
        create(&mut focus, "a@meet.jitsi/r", "r1");
        let stanza = el("<iq xmlns='jabber:client' type='set' id='c2' from='b@meet.jitsi/r' to='focus.meet.jitsi'>\
             <conference xmlns='http://jitsi.org/protocol/focus' room='r1@muc.meet.jitsi' machine-uid='m2' \
             token='eyJhbGciOiJIUzI1NiJ9.e30.c2ln'/></iq>");
        let b = answers(&focus.handle(stanza));
        assert!(b[0].as_ref().unwrap().is_ready(), "{b:?}");
    }

    #[test]
    fn successor_order_is_not_join_order_for_some_seed() {
        // With a fixed join order, different seeds elect different successors: the stand-in does not
        // silently fall back to join order (jicofo's is a hash map's order).
        let mut successors = HashSet::new();
        for seed in 0..32 {
            let mut focus = Focus::new(FocusConfig {
                seed,
                ..config(false, true)
            });
            create(&mut focus, "a@meet.jitsi/r", "r1");
            focus.handle(occupant(
                "r1",
                "alice",
                "a@meet.jitsi/r",
                "none",
                "participant",
            ));
            focus.handle(occupant(
                "r1",
                "alice",
                "a@meet.jitsi/r",
                "owner",
                "moderator",
            ));
            for (nick, jid) in [
                ("bob", "b@meet.jitsi/r"),
                ("carol", "c@meet.jitsi/r"),
                ("dave", "d@meet.jitsi/r"),
            ] {
                focus.handle(occupant("r1", nick, jid, "none", "participant"));
            }
            successors.extend(grants(&focus.handle(left("r1", "alice"))));
        }
        assert!(successors.len() >= 2, "{successors:?}");
    }

    #[test]
    fn auto_owner_adopts_an_existing_owner_instead_of_granting() {
        let mut focus = Focus::new(config(false, true));
        create(&mut focus, "a@meet.jitsi/r", "r1");
        focus.handle(occupant(
            "r1",
            "alice",
            "a@meet.jitsi/r",
            "none",
            "participant",
        ));
        focus.handle(occupant(
            "r1",
            "alice",
            "a@meet.jitsi/r",
            "owner",
            "moderator",
        ));
        // bob was made owner by alice (a moderator's grant) and stays when alice leaves.
        focus.handle(occupant(
            "r1",
            "bob",
            "b@meet.jitsi/r",
            "owner",
            "moderator",
        ));
        focus.handle(occupant(
            "r1",
            "carol",
            "c@meet.jitsi/r",
            "none",
            "participant",
        ));
        assert!(grants(&focus.handle(left("r1", "alice"))).is_empty());
    }

    #[test]
    fn authentication_mode_grants_every_token_user_and_never_a_guest() {
        let mut focus = Focus::new(config(true, true));
        create(&mut focus, "a@meet.jitsi/r", "r1");
        assert_eq!(
            grants(&focus.handle(occupant(
                "r1",
                "alice",
                "a@meet.jitsi/r",
                "none",
                "participant"
            ))),
            ["a@meet.jitsi"]
        );
        answers(&focus.handle(request("b@meet.jitsi/r", "r1", Some("m2"))));
        assert_eq!(
            grants(&focus.handle(occupant(
                "r1",
                "bob",
                "b@meet.jitsi/r",
                "none",
                "participant"
            ))),
            ["b@meet.jitsi"]
        );
        let guest = answers(&focus.handle(request("g@guest.meet.jitsi/r", "r1", Some("m3"))));
        assert!(
            guest[0].as_ref().unwrap().is_ready(),
            "guests may join an existing room"
        );
        assert!(grants(&focus.handle(occupant(
            "r1",
            "guest",
            "g@guest.meet.jitsi/r",
            "none",
            "participant"
        )))
        .is_empty());
        // Nobody is elected when the owners leave: auto-owner is off under authentication.
        focus.handle(left("r1", "alice"));
        assert!(grants(&focus.handle(left("r1", "bob"))).is_empty());
    }

    #[test]
    fn authentication_mode_refuses_guest_room_creation_and_missing_machine_uid() {
        let mut focus = Focus::new(config(true, true));
        let guest = answers(&focus.handle(request("g@guest.meet.jitsi/r", "r9", Some("m"))));
        assert!(
            guest[0].as_ref().unwrap_err().starts_with("NotAuthorized"),
            "{guest:?}"
        );
        let no_uid = answers(&focus.handle(request("a@meet.jitsi/r", "r9", None)));
        assert!(
            no_uid[0].as_ref().unwrap_err().contains("machine-uid"),
            "{no_uid:?}"
        );
    }

    /// A reload presents the session id the focus gave: accepted from the same machine (owner again),
    /// refused with `<session-invalid/>` when unknown, and refused when another machine presents it.
    #[test]
    fn a_reload_resumes_its_session_and_a_foreign_or_unknown_one_is_refused() {
        let mut focus = Focus::new(config(true, true));
        let first = create(&mut focus, "a@meet.jitsi/r1", "r1");
        let session = first[0].as_ref().unwrap().session_id.clone().unwrap();
        let with_session = |from: &str, uid: &str, sid: &str| {
            el(&format!(
                "<iq xmlns='jabber:client' type='set' id='q' from='{from}' to='focus.meet.jitsi'>\
                 <conference xmlns='http://jitsi.org/protocol/focus' room='r1@muc.meet.jitsi' \
                 machine-uid='{uid}' session-id='{sid}'/></iq>"
            ))
        };
        let again = answers(&focus.handle(with_session("a@meet.jitsi/r2", "m1", &session)));
        assert!(again[0].is_ok(), "{again:?}");
        let unknown = focus.handle(with_session("a@meet.jitsi/r3", "m1", "0000"));
        let Stanza::Iq(Iq::Error { error, .. }) = &unknown[0].stanza else {
            panic!("{unknown:?}");
        };
        assert_eq!(error.defined_condition, DefinedCondition::NotAcceptable);
        assert!(error
            .other
            .as_ref()
            .is_some_and(|e| e.is("session-invalid", crate::xmpp::ns::FOCUS)));
        let foreign = answers(&focus.handle(with_session("b@meet.jitsi/r4", "m-b", &session)));
        assert!(
            foreign[0].as_ref().unwrap_err().contains("another machine"),
            "{foreign:?}"
        );
    }

    #[test]
    fn no_role_manager_grants_nothing() {
        let mut focus = Focus::new(config(false, false));
        create(&mut focus, "a@meet.jitsi/r", "r1");
        assert!(grants(&focus.handle(occupant(
            "r1",
            "alice",
            "a@meet.jitsi/r",
            "none",
            "participant"
        )))
        .is_empty());
    }

    #[test]
    fn not_ready_knob_and_grant_delay() {
        let mut focus = Focus::new(FocusConfig {
            not_ready_times: 2,
            grant_delay: Duration::from_millis(300),
            ..config(false, true)
        });
        for _ in 0..2 {
            let a = answers(&focus.handle(request("a@meet.jitsi/r", "r1", Some("m"))));
            assert!(!a[0].as_ref().unwrap().is_ready());
        }
        assert!(create(&mut focus, "a@meet.jitsi/r", "r1")[0]
            .as_ref()
            .unwrap()
            .is_ready());
        let out = focus.handle(occupant(
            "r1",
            "alice",
            "a@meet.jitsi/r",
            "none",
            "participant",
        ));
        assert_eq!(out[0].delay, Duration::from_millis(300));
    }

    #[test]
    fn the_flap_fault_grants_revokes_and_grants_again_and_every_grant_names_its_manager() {
        let mut focus = Focus::new(FocusConfig {
            flap: Duration::from_millis(100),
            ..config(false, true)
        });
        create(&mut focus, "a@meet.jitsi/r", "r1");
        let out = focus.handle(occupant(
            "r1",
            "alice",
            "a@meet.jitsi/r",
            "none",
            "participant",
        ));
        let affiliations: Vec<(Option<String>, Duration)> = out
            .iter()
            .filter_map(|o| match &o.stanza {
                Stanza::Iq(Iq::Set { payload, .. }) => MucAdmin::try_from(payload.clone())
                    .ok()
                    .map(|q| (q.items[0].affiliation.clone(), o.delay)),
                _ => None,
            })
            .collect();
        assert_eq!(
            affiliations,
            [
                (Some("owner".into()), Duration::ZERO),
                (Some("none".into()), Duration::from_millis(100)),
                (Some("owner".into()), Duration::from_millis(200)),
            ]
        );
        let line = format!(
            "focus: {}",
            grant_evidence(
                "r1@muc.meet.jitsi",
                "a@meet.jitsi",
                "owner",
                "AutoOwnerRoleManager",
                "auto-owner election"
            )
        );
        assert_eq!(
            parse_grant_evidence(&line),
            Some((
                "r1@muc.meet.jitsi",
                "a@meet.jitsi",
                "owner",
                "AutoOwnerRoleManager",
                "auto-owner election"
            ))
        );
        assert_eq!(parse_grant_evidence("focus: r1: alice left"), None);
    }

    #[test]
    fn every_joiner_owner_knob_grants_every_member_in_every_mode() {
        for (authentication, auto_owner) in [(false, true), (false, false), (true, true)] {
            let mut focus = Focus::new(FocusConfig {
                every_joiner_owner: true,
                ..config(authentication, auto_owner)
            });
            create(&mut focus, "a@meet.jitsi/r", "r1");
            let mut granted = Vec::new();
            for (nick, jid) in [("alice", "a@meet.jitsi/r"), ("bob", "b@guest.meet.jitsi/r")] {
                granted.extend(grants(&focus.handle(occupant(
                    "r1",
                    nick,
                    jid,
                    "none",
                    "participant",
                ))));
            }
            assert_eq!(
                granted,
                ["a@meet.jitsi", "b@guest.meet.jitsi"],
                "authentication {authentication}, auto-owner {auto_owner}"
            );
            // Someone already owner is not granted again, and a leaving owner elects nobody.
            let again = focus.handle(occupant(
                "r1",
                "carol",
                "c@meet.jitsi/r",
                "owner",
                "moderator",
            ));
            assert!(grants(&again).is_empty());
            assert!(grants(&focus.handle(left("r1", "alice"))).is_empty());
        }
        assert!(
            parse_bool("FOCUS_EVERY_JOINER_OWNER", None, false).is_ok_and(|b| !b),
            "off unless set"
        );
    }

    #[test]
    fn leaves_an_emptied_room_so_it_can_be_created_again() {
        let mut focus = Focus::new(config(false, true));
        create(&mut focus, "a@meet.jitsi/r", "r1");
        focus.handle(occupant(
            "r1",
            "alice",
            "a@meet.jitsi/r",
            "none",
            "participant",
        ));
        let out = focus.handle(left("r1", "alice"));
        assert!(out.iter().any(
            |o| matches!(&o.stanza, Stanza::Presence(p) if p.type_ == PresenceType::Unavailable)
        ));
        // A new request joins again.
        let out = focus.handle(request("b@meet.jitsi/r", "r1", Some("m")));
        assert!(out
            .iter()
            .any(|o| matches!(&o.stanza, Stanza::Presence(p) if p.type_ == PresenceType::None)));
    }

    #[test]
    fn env_knobs_are_validated() {
        assert!(parse_bool("ENABLE_AUTO_OWNER", Some("On".into()), false).unwrap());
        assert!(!parse_bool("ENABLE_AUTO_OWNER", Some("0".into()), true).unwrap());
        assert!(parse_bool("ENABLE_AUTO_OWNER", None, true).unwrap());
        let e = parse_bool("ENABLE_AUTO_OWNER", Some("maybe".into()), true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "ENABLE_AUTO_OWNER=\"maybe\" is invalid: not a boolean (use 1/0, true/false)"
        );
        assert_eq!(
            parse_number("FOCUS_NOT_READY_TIMES", Some(" 3".into()), 0u32).unwrap(),
            3
        );
        assert!(
            parse_number("FOCUS_GRANT_DELAY_MS", Some("-1".into()), 0u64)
                .unwrap_err()
                .to_string()
                .contains("FOCUS_GRANT_DELAY_MS")
        );
    }

    fn client_config() -> FocusConfig {
        FocusConfig {
            identity: Identity::Client {
                jid: BareJid::new("focus@auth.meet.jitsi").unwrap(),
                external_auth: false,
            },
            ..config(false, true)
        }
    }

    #[test]
    fn behind_client_proxy_the_sender_is_the_resource_and_the_answer_goes_back_to_the_proxy() {
        let mut focus = Focus::new(client_config());
        let proxied = "focus.meet.jitsi/a@meet.jitsi/r";
        let out = focus.handle(el(&format!(
            "<iq xmlns='jabber:client' type='set' id='c1' from='{proxied}' to='focus@auth.meet.jitsi/focus'>\
             <conference xmlns='http://jitsi.org/protocol/focus' room='r1@muc.meet.jitsi' machine-uid='m'/></iq>"
        )));
        // The join carries no `from`: the server stamps the client's own JID.
        let join = out
            .iter()
            .find_map(|o| match &o.stanza {
                Stanza::Presence(p) => Some(p.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(join.from, None);
        assert_eq!(
            join.to.as_ref().map(|j| j.to_string()).as_deref(),
            Some("r1@muc.meet.jitsi/focus")
        );
        let joined = focus.handle(focus_joined("r1"));
        let answer = joined
            .iter()
            .find_map(|o| match &o.stanza {
                Stanza::Iq(iq @ Iq::Result { .. }) => Some(iq.clone()),
                _ => None,
            })
            .unwrap();
        let Iq::Result {
            to, from, payload, ..
        } = answer
        else {
            unreachable!()
        };
        assert_eq!(to.map(|j| j.to_string()).as_deref(), Some(proxied));
        assert_eq!(from, None);
        let conference = Conference::try_from(payload.unwrap()).unwrap();
        assert_eq!(
            conference.focusjid.as_deref(),
            Some("focus@auth.meet.jitsi")
        );
        // jicofo answers externalAuth only with an authentication authority.
        assert_eq!(conference.property("authentication"), Some("false"));
        assert_eq!(conference.property("externalAuth"), None);
        // The real sender, not the proxy address, is elected.
        let out = focus.handle(occupant(
            "r1",
            "alice",
            "a@meet.jitsi/r",
            "none",
            "participant",
        ));
        assert_eq!(grants(&out), ["a@meet.jitsi"]);
        assert_eq!(
            focus
                .config()
                .requester(&"a@meet.jitsi/r".parse().unwrap())
                .to_string(),
            "a@meet.jitsi/r"
        );
    }

    #[test]
    fn debug_state_has_jicofos_shape() {
        let mut focus = Focus::new(config(false, true));
        assert_eq!(
            focus.debug_state("r1@muc.meet.jitsi"),
            serde_json::json!({})
        );
        create(&mut focus, "a@meet.jitsi/r", "r1");
        focus.handle(occupant(
            "r1",
            "alice",
            "a@meet.jitsi/r",
            "none",
            "participant",
        ));
        focus.handle(occupant(
            "r1",
            "alice",
            "a@meet.jitsi/r",
            "owner",
            "moderator",
        ));
        focus.handle(occupant(
            "r1",
            "bob",
            "b@meet.jitsi/r",
            "none",
            "participant",
        ));
        let state = focus.debug_state("r1@muc.meet.jitsi");
        assert_eq!(
            state["chat_room_role_manager"]["class"],
            "AutoOwnerRoleManager"
        );
        assert_eq!(state["chat_room_role_manager"]["owner"], "a@meet.jitsi/r");
        assert_eq!(state["chat_room"]["members"]["alice"]["role"], "OWNER");
        assert_eq!(state["chat_room"]["members"]["bob"]["role"], "PARTICIPANT");
        assert_eq!(
            state["chat_room"]["members"]["bob"]["jid"],
            "b@meet.jitsi/r"
        );
        // The harness's reader understands it.
        let view =
            crate::participant::jicofo::parse_conference(state.to_string().as_bytes()).unwrap();
        assert!(view.found);
        assert_eq!(view.owner.as_deref(), Some("a@meet.jitsi/r"));
        assert!(view.members["alice"].is_moderator());
        assert!(!view.members["bob"].is_moderator());

        let mut auth = Focus::new(config(true, true));
        create(&mut auth, "a@meet.jitsi/r", "r1");
        let state = auth.debug_state("r1@muc.meet.jitsi");
        assert_eq!(
            state["chat_room_role_manager"],
            serde_json::json!({"class": "AuthenticationRoleManager"})
        );
        let mut none = Focus::new(config(false, false));
        create(&mut none, "a@meet.jitsi/r", "r1");
        assert!(none.debug_state("r1@muc.meet.jitsi")["chat_room_role_manager"].is_null());
    }
}
