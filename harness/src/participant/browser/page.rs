//! The two pages a browser can open, as two types behind one small trait ([`Page`]): the URL to open,
//! the script that reads the page's state and its parser, the leave script, the admin scripts (grant
//! owner, kick). No I/O here: [`super::Browser`] runs what a page describes.
//!
//! * [`PageKind::JitsiMeet`] opens the real jitsi-meet web app at `WEB/ROOM?jwt=TOKEN` with URL-hash
//!   config overrides (prejoin off, P2P off, muted, no deep linking), as Jitsi's own WebdriverIO tests
//!   do (jitsi/jitsi-meet `tests/helpers/Participant.ts`, `joinConference`). Joined is
//!   `APP.conference.isJoined()` (there: `isInMuc`); roles come from the Redux state
//!   `APP.store.getState()['features/base/participants']` (there: `isModerator`; `local`, and `remote`,
//!   a `Map` that the page serialises, `react/features/base/participants/reducer.ts`). Hang-up is
//!   `APP.conference.hangup()`, grant and kick are `APP.conference._room.grantOwner(id)` /
//!   `kickParticipant(id)` (`tests/specs/2way/grantModerator.spec.ts`, `tests/specs/2way/kick.spec.ts`).
//!   The web app knows roles, not affiliations, so its [`Seen::affiliation`] is `None`; its occupants
//!   are keyed by endpoint id (= MUC nick), named by display name.
//! * [`PageKind::Fixture`] opens the fixture stack's own page (`room.html`, served by Prosody at
//!   `/harness/`): Strophe.js over the same WebSocket the bots use, with the token as
//!   `?room=…&token=…`, SASL ANONYMOUS, the focus `<conference/>` request, the MUC join. It exposes
//!   `window.harness` (state, occupants with role *and* affiliation, `leave()`, `grant(nick)`,
//!   `kick(nick)`).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{BrowserConfig, BrowserJoin};
use crate::participant::{Observation, Seen};

/// Which page a browser opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PageKind {
    /// The jitsi-meet web app of a docker-jitsi-meet (or external) deployment.
    JitsiMeet,
    /// The fixture stack's page (`room.html` under `/harness/`).
    Fixture,
}

impl PageKind {
    /// `jitsi-meet` or `fixture`.
    pub fn as_str(self) -> &'static str {
        match self {
            PageKind::JitsiMeet => "jitsi-meet",
            PageKind::Fixture => "fixture",
        }
    }

    /// The page's behaviour.
    pub(super) fn page(self) -> &'static dyn Page {
        match self {
            PageKind::JitsiMeet => &JitsiMeetPage,
            PageKind::Fixture => &FixturePage,
        }
    }
}

impl fmt::Display for PageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A script for [`super::Browser`] to run on the page.
#[derive(Debug)]
pub(super) struct Script {
    /// What it does, for errors (`leaving the room`); an admin request is named by its caller, who
    /// knows the occupant (`kicking bob`).
    pub what: &'static str,
    pub js: &'static str,
    pub args: Vec<Value>,
    /// Asynchronous (`execute_async`: its last argument is the callback) rather than synchronous.
    pub callback: bool,
}

/// How to tell that the loaded document is the page asked for.
pub(super) struct LandingCheck {
    /// Answers `true` on this page.
    pub script: Script,
    /// What to say, given the document's title, when it is another one.
    pub not_ours: fn(&str) -> String,
}

/// A moderator's request to the room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AdminAction {
    /// Make the occupant owner.
    GrantOwner,
    /// Remove the occupant.
    Kick,
}

/// What differs between the pages a browser can open. The answer to a script run is `null` (done) or
/// a string saying why not.
pub(super) trait Page: Send + Sync {
    /// Which page this is.
    fn kind(&self) -> PageKind;
    /// How long a join may take, page load to joined.
    fn join_timeout(&self) -> Duration;
    /// Refuses what this page cannot join with, before any browser starts.
    fn check_join(&self, _join: &BrowserJoin) -> Result<(), String> {
        Ok(())
    }
    /// The URL to open (it holds the token: show it only through [`crate::redact::redact_url`]).
    fn url(&self, config: &BrowserConfig, join: &BrowserJoin) -> String;
    /// How to tell that the loaded document is this page; `None` when any document will do.
    fn landing_check(&self) -> Option<LandingCheck> {
        None
    }
    /// Reads the page's state in one `execute`.
    fn state_script(&self) -> Script;
    /// Parses what [`Page::state_script`] returned. `hung_up`: the browser asked the page to leave.
    fn parse_state(&self, value: &Value, hung_up: bool) -> Result<PageState, String>;
    /// What the state script stands for when, after a hang-up, the page is between documents and a
    /// script cannot run; `None`: such an error is an error.
    fn state_between_documents(&self) -> Option<Value> {
        None
    }
    /// Leaves the room.
    fn leave_script(&self) -> Script;
    /// Asks the room to do `action` to the occupant `nick`.
    fn admin_script(&self, action: AdminAction, nick: &str) -> Script;
}

// ------------------------------------------------------------------------------------------------------
// Page state
// ------------------------------------------------------------------------------------------------------

/// Why the page says it was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// `login`, `focus` or `room`.
    pub stage: String,
    /// The XMPP condition (`not-allowed`, `not-authorized`, …) or lib-jitsi-meet's error name.
    pub condition: String,
    /// The server's text, when it gave one (`token has expired`).
    pub text: Option<String>,
}

/// Where the page stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum PagePhase {
    /// The page (or its app) has not started yet.
    Loading,
    /// Logging in, asking the focus, or joining the MUC.
    Connecting,
    /// In the room: its own presence (status 110) arrived, or `APP.conference.isJoined()`.
    Joined,
    /// The deployment said no.
    Refused(Refusal),
    /// Left the room.
    Left {
        /// A moderator removed it (status 307).
        kicked: bool,
    },
    /// The page gave up (connection lost, focus never ready, conference failed).
    Failed(String),
}

/// One read of the page: its phase and what it sees.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PageState {
    /// Where the page stands.
    pub phase: PagePhase,
    /// What it sees; `present` only when joined.
    pub observation: Observation,
}

impl PageState {
    /// One line for a timeout's "last seen".
    pub(super) fn describe(&self) -> String {
        let occupants: Vec<String> = self
            .observation
            .occupants
            .values()
            .map(|s| format!("{}={}", s.nick, s.role))
            .collect();
        format!("{:?}, occupants [{}]", self.phase, occupants.join(", "))
    }
}

// ------------------------------------------------------------------------------------------------------
// URLs
// ------------------------------------------------------------------------------------------------------

/// The URL a browser opens (it holds the token: show it only through
/// [`crate::redact::redact_url`]).
pub fn page_url(config: &BrowserConfig, join: &BrowserJoin) -> String {
    config.page.page().url(config, join)
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn with_slash(base: &str) -> String {
    if base.ends_with('/') {
        base.to_owned()
    } else {
        format!("{base}/")
    }
}

fn display_name(join: &BrowserJoin) -> &str {
    join.display_name.as_deref().unwrap_or(&join.nick)
}

// ------------------------------------------------------------------------------------------------------
// The fixture page
// ------------------------------------------------------------------------------------------------------

/// The fixture stack's Strophe.js page.
struct FixturePage;

/// Reads the fixture page (one `execute`).
const FIXTURE_STATE_JS: &str =
    "return (window.harness && typeof window.harness.snapshot === 'function') \
     ? window.harness.snapshot() : null;";

impl Page for FixturePage {
    fn kind(&self) -> PageKind {
        PageKind::Fixture
    }

    fn join_timeout(&self) -> Duration {
        Duration::from_secs(20)
    }

    fn check_join(&self, join: &BrowserJoin) -> Result<(), String> {
        if crate::xmpp::nick::is_valid(&join.nick) {
            Ok(())
        } else {
            Err(format!(
                "nick `{}` is invalid: Jitsi (muc_resource_validate) accepts ^[a-zA-Z0-9][a-zA-Z0-9_]*$",
                join.nick
            ))
        }
    }

    fn url(&self, config: &BrowserConfig, join: &BrowserJoin) -> String {
        let focus = if config.skip_focus {
            ""
        } else {
            config.focus_domain.as_str()
        };
        let mut params = vec![
            ("ws", config.websocket.as_str()),
            ("domain", config.domain.as_str()),
            ("muc", config.muc_domain.as_str()),
            ("focus", focus),
            ("room", join.room.as_str()),
            ("nick", join.nick.as_str()),
            ("name", display_name(join)),
            ("uid", join.machine_uid.as_str()),
        ];
        if let Some(token) = &join.token {
            params.push(("token", token.expose()));
        }
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        format!("{}room.html?{}", with_slash(&config.web), query.join("&"))
    }

    // The fixture page defines window.harness in a script that has run once the load is complete:
    // without it this is some other page (a 404 from a fixture image built without the page).
    fn landing_check(&self) -> Option<LandingCheck> {
        let script = Script {
            what: "checking for window.harness",
            js: "return typeof window.harness === 'object' && window.harness !== null;",
            args: vec![],
            callback: false,
        };
        let not_ours = |title: &str| {
            format!(
                "it is not the harness page (title `{title}`); is the fixture image current? \
                 rebuild it with `bash docker/fixture/build.sh`"
            )
        };
        Some(LandingCheck { script, not_ours })
    }

    fn state_script(&self) -> Script {
        Script {
            what: "reading window.harness",
            js: FIXTURE_STATE_JS,
            args: vec![],
            callback: false,
        }
    }

    fn parse_state(&self, value: &Value, _hung_up: bool) -> Result<PageState, String> {
        parse_fixture_state(value)
    }

    fn leave_script(&self) -> Script {
        Script {
            what: "leaving the room",
            js: "const done = arguments[arguments.length - 1]; \
                 if (!window.harness) { done('no window.harness'); return; } \
                 window.harness.leave().then(s => done(String(s)), e => done('error: ' + e));",
            args: vec![],
            callback: true,
        }
    }

    fn admin_script(&self, action: AdminAction, nick: &str) -> Script {
        let method = match action {
            AdminAction::GrantOwner => "grant",
            AdminAction::Kick => "kick",
        };
        Script {
            what: "asking the room",
            js: "const [action, nick, done] = arguments; \
                 if (!window.harness) { done('no window.harness on the page'); return; } \
                 window.harness[action](nick).then(() => done(null), e => done(String(e && e.message || e)));",
            args: vec![json!(method), json!(nick)],
            callback: true,
        }
    }
}

#[derive(Deserialize)]
struct FixtureSnapshot {
    state: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    refusal: Option<FixtureRefusal>,
    #[serde(default)]
    kicked: bool,
    #[serde(default)]
    me: Option<String>,
    #[serde(default)]
    occupants: Vec<FixtureOccupant>,
}

#[derive(Deserialize)]
struct FixtureRefusal {
    stage: String,
    condition: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct FixtureOccupant {
    nick: String,
    #[serde(default)]
    name: Option<String>,
    role: String,
    #[serde(default)]
    affiliation: Option<String>,
}

/// Parses what the fixture page's state script returns (`null` while the page loads).
pub fn parse_fixture_state(value: &Value) -> Result<PageState, String> {
    if value.is_null() {
        return Ok(PageState {
            phase: PagePhase::Loading,
            observation: Observation::default(),
        });
    }
    let snap: FixtureSnapshot = serde_json::from_value(value.clone())
        .map_err(|e| format!("window.harness.snapshot(): {e}"))?;
    let phase = match snap.state.as_str() {
        "connecting" => PagePhase::Connecting,
        "joined" => PagePhase::Joined,
        "left" => PagePhase::Left {
            kicked: snap.kicked,
        },
        "refused" => PagePhase::Refused(match snap.refusal {
            Some(r) => Refusal {
                stage: r.stage,
                condition: r.condition,
                text: r.text,
            },
            None => Refusal {
                stage: "unknown".into(),
                condition: snap.error.clone().unwrap_or_else(|| "unknown".into()),
                text: None,
            },
        }),
        "failed" => PagePhase::Failed(snap.error.unwrap_or_else(|| "no reason given".into())),
        other => return Err(format!("window.harness.state is `{other}`")),
    };
    let present = phase == PagePhase::Joined;
    let occupants = snap
        .occupants
        .into_iter()
        .map(|o| {
            (
                o.nick.clone(),
                Seen {
                    nick: o.nick,
                    name: o.name.filter(|n| !n.is_empty()),
                    role: o.role.parse().unwrap_or(crate::xmpp::Role::None),
                    affiliation: o.affiliation.and_then(|a| a.parse().ok()),
                },
            )
        })
        .collect();
    Ok(PageState {
        phase,
        observation: Observation {
            present,
            occupants,
            own: snap.me,
        },
    })
}

// ------------------------------------------------------------------------------------------------------
// The jitsi-meet web app
// ------------------------------------------------------------------------------------------------------

/// The jitsi-meet web app.
struct JitsiMeetPage;

/// The jitsi-meet hash overrides: no prejoin screen (both spellings), no P2P, muted, no app download
/// page, no display-name prompt; each is on jitsi-meet's URL whitelist
/// (jitsi/jitsi-meet `react/features/base/config/configWhitelist.ts`).
const JITSI_MEET_HASH: &str = "config.prejoinConfig.enabled=false&config.prejoinPageEnabled=false\
     &config.p2p.enabled=false&config.disableDeepLinking=true&config.startWithAudioMuted=true\
     &config.startWithVideoMuted=true&config.requireDisplayName=false";

/// Reads the jitsi-meet web app (one `execute`): joined, own id, participants from Redux (the `remote`
/// Map serialised here), and connection/conference errors. Fake participants (shared videos) are left
/// out.
const JITSI_STATE_JS: &str = r#"
if (typeof APP === 'undefined' || !APP.store || !APP.conference) { return { loaded: false }; }
const state = APP.store.getState();
const parts = state['features/base/participants'] || {};
const connection = state['features/base/connection'] || {};
const conference = state['features/base/conference'] || {};
const error = e => e ? { name: String(e.name || e.message || e), message: e.message ? String(e.message) : null } : null;
const person = p => ({ id: String(p.id), name: p.name == null ? null : String(p.name), role: p.role == null ? null : String(p.role), fake: !!p.fakeParticipant });
const remote = parts.remote instanceof Map ? Array.from(parts.remote.values()) : Object.values(parts.remote || {});
return {
  loaded: true,
  joined: !!APP.conference.isJoined(),
  myId: typeof APP.conference.getMyUserId === 'function' ? (APP.conference.getMyUserId() || null) : null,
  local: parts.local ? person(parts.local) : null,
  remote: remote.map(person),
  connectionError: error(connection.error),
  conferenceError: error(conference.error),
  authRequired: !!conference.authRequired
};
"#;

impl Page for JitsiMeetPage {
    fn kind(&self) -> PageKind {
        PageKind::JitsiMeet
    }

    // The web app loads megabytes of script and waits for media, so it gets longer than the fixture
    // page (Jitsi's own tests allow 30 s for the page load and 10 s more for `isJoined` on a warm
    // deployment: jitsi/jitsi-meet `tests/helpers/Participant.ts`).
    fn join_timeout(&self) -> Duration {
        Duration::from_secs(45)
    }

    fn url(&self, config: &BrowserConfig, join: &BrowserJoin) -> String {
        let mut url = format!("{}{}", with_slash(&config.web), encode(&join.room));
        if let Some(token) = &join.token {
            url.push_str("?jwt=");
            url.push_str(&encode(token.expose()));
        }
        // Hash values are JSON (jitsi-meet parseURLParams): a display name is a quoted string.
        let name_json = serde_json::to_string(display_name(join)).unwrap_or_else(|_| "\"\"".into());
        format!(
            "{url}#{JITSI_MEET_HASH}&userInfo.displayName={}",
            encode(&name_json)
        )
    }

    fn state_script(&self) -> Script {
        Script {
            what: "reading the jitsi-meet state",
            js: JITSI_STATE_JS,
            args: vec![],
            callback: false,
        }
    }

    fn parse_state(&self, value: &Value, hung_up: bool) -> Result<PageState, String> {
        parse_jitsi_state(value, hung_up)
    }

    // After a hang-up jitsi-meet navigates away; a page between documents has no state.
    fn state_between_documents(&self) -> Option<Value> {
        Some(json!({ "loaded": false }))
    }

    // hangup() sends the unavailable presence, then jitsi-meet navigates away.
    fn leave_script(&self) -> Script {
        Script {
            what: "hanging up",
            js: "if (typeof APP === 'undefined' || !APP.conference) { return false; } \
                 Promise.resolve(APP.conference.hangup(false)).catch(e => console.error('hangup: ' + e)); \
                 return true;",
            args: vec![],
            callback: false,
        }
    }

    fn admin_script(&self, action: AdminAction, nick: &str) -> Script {
        let method = match action {
            AdminAction::GrantOwner => "grantOwner",
            AdminAction::Kick => "kickParticipant",
        };
        Script {
            what: "asking the room",
            js: "const [method, id] = arguments; \
                 const room = (typeof APP !== 'undefined' && APP.conference) ? APP.conference._room : null; \
                 if (!room || typeof room[method] !== 'function') { return 'APP.conference._room.' + method + ' is not available'; } \
                 room[method](id); return null;",
            args: vec![json!(method), json!(nick)],
            callback: false,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JitsiSnapshot {
    loaded: bool,
    #[serde(default)]
    joined: bool,
    #[serde(default)]
    my_id: Option<String>,
    #[serde(default)]
    local: Option<JitsiParticipant>,
    #[serde(default)]
    remote: Vec<JitsiParticipant>,
    #[serde(default)]
    connection_error: Option<JitsiError>,
    #[serde(default)]
    conference_error: Option<JitsiError>,
    #[serde(default)]
    auth_required: bool,
}

#[derive(Deserialize)]
struct JitsiParticipant {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    fake: bool,
}

#[derive(Deserialize)]
struct JitsiError {
    name: String,
    #[serde(default)]
    message: Option<String>,
}

impl fmt::Display for JitsiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        match &self.message {
            Some(m) => write!(f, " ({m})"),
            None => Ok(()),
        }
    }
}

/// lib-jitsi-meet conference errors that mean "the deployment said no" (JitsiConferenceErrors):
/// authentication required, members only (lobby), not allowed, access denied, password, full room,
/// reservation refused.
const JITSI_REFUSALS: &[&str] = &[
    "conference.authenticationRequired",
    "conference.connectionError.membersOnly",
    "conference.connectionError.notAllowed",
    "conference.connectionError.accessDenied",
    "conference.passwordRequired",
    "conference.max_users",
    "conference.reservationError",
];

/// Parses what the jitsi-meet state script returns. `hung_up`: we called `APP.conference.hangup()`.
pub fn parse_jitsi_state(value: &Value, hung_up: bool) -> Result<PageState, String> {
    let snap: JitsiSnapshot =
        serde_json::from_value(value.clone()).map_err(|e| format!("jitsi-meet state: {e}"))?;
    let refusal = |stage: &str, e: &JitsiError| {
        PagePhase::Refused(Refusal {
            stage: stage.into(),
            condition: e.name.clone(),
            text: e.message.clone().filter(|m| m != &e.name),
        })
    };
    let phase = if !snap.loaded {
        if hung_up {
            PagePhase::Left { kicked: false }
        } else {
            PagePhase::Loading
        }
    } else if hung_up && !snap.joined {
        PagePhase::Left { kicked: false }
    } else if let Some(e) = &snap.connection_error {
        // A token the server rejects fails SASL; lib-jitsi-meet reports it as passwordRequired.
        if e.name == "connection.passwordRequired" {
            refusal("login", e)
        } else {
            PagePhase::Failed(e.to_string())
        }
    } else if let Some(e) = &snap.conference_error {
        if e.name == "conference.authenticationRequired" {
            refusal("focus", e)
        } else if JITSI_REFUSALS.contains(&e.name.as_str()) {
            refusal("room", e)
        } else {
            PagePhase::Failed(e.to_string())
        }
    } else if snap.auth_required {
        PagePhase::Refused(Refusal {
            stage: "focus".into(),
            condition: "conference.authenticationRequired".into(),
            text: Some("the focus wants an authenticated user to create the room".into()),
        })
    } else if snap.joined {
        PagePhase::Joined
    } else {
        PagePhase::Connecting
    };
    let present = phase == PagePhase::Joined;
    let mut occupants = BTreeMap::new();
    let mut own = None;
    if present {
        if let Some(local) = &snap.local {
            let id = snap.my_id.clone().unwrap_or_else(|| local.id.clone());
            own = Some(id.clone());
            occupants.insert(id.clone(), jitsi_seen(id, local));
        }
        for p in snap.remote.iter().filter(|p| !p.fake) {
            occupants.insert(p.id.clone(), jitsi_seen(p.id.clone(), p));
        }
    }
    Ok(PageState {
        phase,
        observation: Observation {
            present,
            occupants,
            own,
        },
    })
}

fn jitsi_seen(id: String, p: &JitsiParticipant) -> Seen {
    Seen {
        nick: id,
        name: p.name.clone().filter(|n| !n.is_empty()),
        role: p
            .role
            .as_deref()
            .and_then(|r| r.parse().ok())
            .unwrap_or(crate::xmpp::Role::None),
        affiliation: None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{BrowserTimeouts, Driver};
    use super::*;
    use crate::redact::redact_url;
    use crate::token::Token;

    fn config(page: PageKind) -> BrowserConfig {
        BrowserConfig {
            driver: Driver::unchecked("http://127.0.0.1:9"),
            page,
            web: match page {
                PageKind::JitsiMeet => "https://meet.example:8443".into(),
                PageKind::Fixture => "http://127.0.0.1:32768/harness/".into(),
            },
            websocket: "ws://127.0.0.1:32768/xmpp-websocket".into(),
            domain: "meet.jitsi".into(),
            muc_domain: "muc.meet.jitsi".into(),
            focus_domain: "focus.meet.jitsi".into(),
            skip_focus: false,
            insecure_tls: true,
            timeouts: BrowserTimeouts::for_page(page),
            artifacts: None,
        }
    }

    fn join(token: Option<&str>) -> BrowserJoin {
        BrowserJoin {
            room: "seed-1a2b".into(),
            nick: "alice".into(),
            display_name: Some("Alice \"A\" Ä".into()),
            token: token.map(Token::new),
            machine_uid: "machine-alice".into(),
        }
    }

    const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJyb29tIjoiKiJ9.c2lnbmF0dXJl";

    #[test]
    fn each_kind_is_its_own_page() {
        for kind in [PageKind::Fixture, PageKind::JitsiMeet] {
            assert_eq!(kind.page().kind(), kind);
        }
        assert_eq!(PageKind::JitsiMeet.to_string(), "jitsi-meet");
        assert_eq!(
            BrowserTimeouts::for_page(PageKind::JitsiMeet).join,
            Duration::from_secs(45)
        );
        assert_eq!(
            BrowserTimeouts::for_page(PageKind::Fixture).join,
            Duration::from_secs(20)
        );
        let mut bad = join(None);
        bad.nick = "al ice".into();
        assert!(FixturePage.check_join(&bad).is_err());
        assert!(JitsiMeetPage.check_join(&bad).is_ok());
    }

    #[test]
    fn admin_scripts_name_the_page_method() {
        let s = FixturePage.admin_script(AdminAction::Kick, "bob");
        assert!(s.callback);
        assert_eq!(s.args, [json!("kick"), json!("bob")]);
        let s = JitsiMeetPage.admin_script(AdminAction::GrantOwner, "f00dbabe");
        assert!(!s.callback);
        assert_eq!(s.args, [json!("grantOwner"), json!("f00dbabe")]);
        assert!(FixturePage.leave_script().callback && !JitsiMeetPage.leave_script().callback);
    }

    #[test]
    fn jitsi_meet_url_has_jwt_query_and_hash_overrides() {
        let url = page_url(&config(PageKind::JitsiMeet), &join(Some(JWT)));
        assert_eq!(
            url,
            format!(
                "https://meet.example:8443/seed-1a2b?jwt={JWT}#config.prejoinConfig.enabled=false\
                 &config.prejoinPageEnabled=false&config.p2p.enabled=false&config.disableDeepLinking=true\
                 &config.startWithAudioMuted=true&config.startWithVideoMuted=true\
                 &config.requireDisplayName=false\
                 &userInfo.displayName=%22Alice%20%5C%22A%5C%22%20%C3%84%22"
            )
        );
        let shown = redact_url(&url);
        assert!(
            !shown.contains(JWT) && shown.contains("jwt=eyJhbG…("),
            "{shown}"
        );
        // No token: no query at all.
        let url = page_url(&config(PageKind::JitsiMeet), &join(None));
        assert!(
            url.starts_with("https://meet.example:8443/seed-1a2b#config."),
            "{url}"
        );
    }

    #[test]
    fn fixture_url_carries_every_parameter_encoded() {
        let url = page_url(&config(PageKind::Fixture), &join(Some(JWT)));
        assert_eq!(
            url,
            format!(
                "http://127.0.0.1:32768/harness/room.html?ws=ws%3A%2F%2F127.0.0.1%3A32768%2Fxmpp-websocket\
                 &domain=meet.jitsi&muc=muc.meet.jitsi&focus=focus.meet.jitsi&room=seed-1a2b&nick=alice\
                 &name=Alice%20%22A%22%20%C3%84&uid=machine-alice&token={JWT}"
            )
        );
        assert!(!redact_url(&url).contains(JWT));
        let mut c = config(PageKind::Fixture);
        c.skip_focus = true;
        c.web = "http://127.0.0.1:1/harness".into();
        let url = page_url(&c, &join(None));
        assert!(
            url.starts_with("http://127.0.0.1:1/harness/room.html?"),
            "{url}"
        );
        assert!(url.contains("&focus=&") && !url.contains("token="), "{url}");
    }

    #[test]
    fn fixture_state_becomes_an_observation() {
        let value = json!({
            "state": "joined", "error": null, "refusal": null, "kicked": false, "me": "alice",
            "occupants": [
                {"nick": "alice", "name": "Alice", "role": "moderator", "affiliation": "owner"},
                {"nick": "bob", "name": null, "role": "participant", "affiliation": "none"}
            ],
            "focus": "focus@focus.meet.jitsi", "timings": {"joined": 120}
        });
        let state = parse_fixture_state(&value).unwrap();
        assert_eq!(state.phase, PagePhase::Joined);
        let o = state.observation;
        assert!(o.present);
        assert_eq!(o.own.as_deref(), Some("alice"));
        assert_eq!(
            o.occupants["alice"],
            Seen {
                nick: "alice".into(),
                name: Some("Alice".into()),
                role: crate::xmpp::Role::Moderator,
                affiliation: Some(crate::xmpp::Affiliation::Owner)
            }
        );
        assert!(!o.occupants["bob"].is_moderator());
        assert_eq!(
            parse_fixture_state(&Value::Null).unwrap().phase,
            PagePhase::Loading
        );
    }

    #[test]
    fn fixture_refusals_and_failures_are_told_apart() {
        let refused = json!({
            "state": "refused", "error": "login refused: not-allowed (token has expired)",
            "refusal": {"stage": "login", "condition": "not-allowed", "text": "token has expired"},
            "kicked": false, "me": null, "occupants": []
        });
        assert_eq!(
            parse_fixture_state(&refused).unwrap().phase,
            PagePhase::Refused(Refusal {
                stage: "login".into(),
                condition: "not-allowed".into(),
                text: Some("token has expired".into())
            })
        );
        let failed = json!({"state": "failed", "error": "connection failed", "occupants": []});
        let state = parse_fixture_state(&failed).unwrap();
        assert_eq!(state.phase, PagePhase::Failed("connection failed".into()));
        assert!(!state.observation.present);
        let kicked = json!({"state": "left", "kicked": true, "occupants": []});
        assert_eq!(
            parse_fixture_state(&kicked).unwrap().phase,
            PagePhase::Left { kicked: true }
        );
        assert!(parse_fixture_state(&json!({"state": "dancing"})).is_err());
    }

    /// Shaped like `JITSI_STATE_JS` returns it from a joined jitsi-meet page.
    fn jitsi_joined() -> Value {
        json!({
            "loaded": true, "joined": true, "myId": "8a1b2c3d",
            "local": {"id": "8a1b2c3d", "name": "alice", "role": "moderator", "fake": false},
            "remote": [
                {"id": "f00dbabe", "name": "bob", "role": "participant", "fake": false},
                {"id": "0c0ffee0", "name": null, "role": "moderator", "fake": false},
                {"id": "youtube-1", "name": "Shared video", "role": null, "fake": true}
            ],
            "connectionError": null, "conferenceError": null, "authRequired": false
        })
    }

    #[test]
    fn jitsi_state_becomes_an_observation_keyed_by_endpoint_id() {
        let state = parse_jitsi_state(&jitsi_joined(), false).unwrap();
        assert_eq!(state.phase, PagePhase::Joined);
        let o = state.observation;
        assert!(o.present);
        assert_eq!(o.own.as_deref(), Some("8a1b2c3d"));
        assert_eq!(
            o.occupants.keys().collect::<Vec<_>>(),
            ["0c0ffee0", "8a1b2c3d", "f00dbabe"]
        );
        let me = &o.occupants["8a1b2c3d"];
        assert_eq!(me.name.as_deref(), Some("alice"));
        assert!(me.is_moderator());
        assert_eq!(me.affiliation, None);
        assert_eq!(o.occupants["f00dbabe"].role, crate::xmpp::Role::Participant);
        assert_eq!(o.occupants["0c0ffee0"].name, None);
    }

    #[test]
    fn jitsi_phases() {
        let loading = parse_jitsi_state(&json!({"loaded": false}), false).unwrap();
        assert_eq!(loading.phase, PagePhase::Loading);
        let mut v = jitsi_joined();
        v["joined"] = json!(false);
        assert_eq!(
            parse_jitsi_state(&v, false).unwrap().phase,
            PagePhase::Connecting
        );
        assert!(parse_jitsi_state(&v, false)
            .unwrap()
            .observation
            .occupants
            .is_empty());
        assert_eq!(
            parse_jitsi_state(&v, true).unwrap().phase,
            PagePhase::Left { kicked: false }
        );
        // Between documents after a hang-up, the page stands for "not loaded": left.
        let between = JitsiMeetPage.state_between_documents().unwrap();
        assert_eq!(
            JitsiMeetPage.parse_state(&between, true).unwrap().phase,
            PagePhase::Left { kicked: false }
        );
        assert!(FixturePage.state_between_documents().is_none());

        v["connectionError"] = json!({"name": "connection.passwordRequired", "message": null});
        assert_eq!(
            parse_jitsi_state(&v, false).unwrap().phase,
            PagePhase::Refused(Refusal {
                stage: "login".into(),
                condition: "connection.passwordRequired".into(),
                text: None
            })
        );
        v["connectionError"] = json!({"name": "connection.droppedError", "message": "gone"});
        assert_eq!(
            parse_jitsi_state(&v, false).unwrap().phase,
            PagePhase::Failed("connection.droppedError (gone)".into())
        );
        v["connectionError"] = Value::Null;
        v["conferenceError"] = json!({"name": "conference.connectionError.membersOnly"});
        assert!(matches!(
            parse_jitsi_state(&v, false).unwrap().phase,
            PagePhase::Refused(Refusal { ref stage, .. }) if stage == "room"
        ));
        v["conferenceError"] = json!({"name": "conference.authenticationRequired"});
        assert!(matches!(
            parse_jitsi_state(&v, false).unwrap().phase,
            PagePhase::Refused(Refusal { ref stage, .. }) if stage == "focus"
        ));
        v["conferenceError"] = json!({"name": "conference.focusLeft"});
        assert!(matches!(
            parse_jitsi_state(&v, false).unwrap().phase,
            PagePhase::Failed(_)
        ));
        assert!(parse_jitsi_state(&json!({"joined": true}), false).is_err());
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved() {
        assert_eq!(encode("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(encode("a b/c?d&e=f+g"), "a%20b%2Fc%3Fd%26e%3Df%2Bg");
        assert_eq!(encode("é"), "%C3%A9");
    }
}
