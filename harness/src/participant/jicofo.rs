//! jicofo's REST view of a conference: one more observer of who is owner, next to the participants'
//! presence. It reports the same [`Observation`] they do, so the runner maps and records it the same way.
//!
//! In: jicofo's REST base URL (`Endpoints::jicofo_rest`, docker `JICOFO_ENABLE_REST=1`, port 8888) and a
//! room JID. Out: a [`JicofoView`] from `GET /debug/conference/<room@muc>` — which role manager jicofo
//! picked, the owner it tracks (AutoOwnerRoleManager only) and each member's role as jicofo sees it.
//!
//! The JSON shape (jitsi/jicofo@7ebb13dc `JitsiMeetConferenceImpl.getDebugState`,
//! `ChatRoomImpl.debugState`, `ChatRoomMemberImpl.debugState`, `ChatRoomRoleManager.debugState`):
//! `chat_room_role_manager.class`, `chat_room_role_manager.owner` (real JID, the string `"null"` when
//! none), `chat_room.members.<nick>.role` (`OWNER`, `MODERATOR`, `PARTICIPANT`, `VISITOR`) and `.jid`; an
//! unknown room answers `{}`. The endpoint exists since jicofo 2248f7c46 (2022-01); older or newer field
//! sets are read leniently: missing fields are `None`, unknown fields are ignored.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::{Observation, Seen};
use crate::http::{Http, HttpError};
use crate::xmpp::{Affiliation, Role};

/// How long one REST call may take by default. jicofo answers from memory; a second is plenty, five
/// leave room for a loaded CI machine.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// What jicofo's debug endpoint says about one conference.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct JicofoView {
    /// Whether jicofo knows the conference (an unknown room answers `{}`).
    pub found: bool,
    /// `AutoOwnerRoleManager`, `AuthenticationRoleManager`, or `None` (no role manager, or not reported).
    pub role_manager: Option<String>,
    /// The real JID of the owner AutoOwnerRoleManager tracks.
    pub owner: Option<String>,
    /// Members by MUC nickname (jicofo itself is never a member).
    pub members: BTreeMap<String, JicofoMember>,
}

/// jicofo's `MemberRole` (jitsi/jicofo@7ebb13dc `MemberRole.kt`), ordered from most to least rights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum MemberRole {
    /// Owner of the room.
    Owner,
    /// Moderator rights without ownership (admin affiliation, or the moderator role only).
    Moderator,
    /// An ordinary member.
    Participant,
    /// A visitor.
    Visitor,
}

impl MemberRole {
    /// From jicofo's JSON (`OWNER`, …); `None` for a name this harness does not know.
    pub fn parse(name: &str) -> Option<MemberRole> {
        match name {
            "OWNER" => Some(MemberRole::Owner),
            "MODERATOR" => Some(MemberRole::Moderator),
            "PARTICIPANT" => Some(MemberRole::Participant),
            "VISITOR" => Some(MemberRole::Visitor),
            _ => None,
        }
    }
}

/// One member of the room as jicofo sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct JicofoMember {
    /// jicofo's role for the member; `None` when missing or unknown.
    pub role: Option<MemberRole>,
    /// The member's real JID.
    pub jid: Option<String>,
}

impl JicofoMember {
    /// Owner or moderator rights (jicofo's `hasModeratorRights`).
    pub fn is_moderator(&self) -> bool {
        matches!(self.role, Some(MemberRole::Owner | MemberRole::Moderator))
    }

    /// The member in the participants' terms: OWNER is an owner moderator, MODERATOR a moderator (admin or
    /// role only: the affiliation is not known), PARTICIPANT and VISITOR as named, anything else a
    /// participant (jicofo `MemberRole.kt` @7ebb13dc).
    pub fn seen(&self, nick: String) -> Seen {
        let (role, affiliation) = match self.role {
            Some(MemberRole::Owner) => (Role::Moderator, Some(Affiliation::Owner)),
            Some(MemberRole::Moderator) => (Role::Moderator, None),
            Some(MemberRole::Visitor) => (Role::Visitor, None),
            Some(MemberRole::Participant) | None => (Role::Participant, None),
        };
        Seen {
            nick,
            name: None,
            role,
            affiliation,
        }
    }
}

impl JicofoView {
    /// What jicofo sees, as an [`Observation`] like every participant's (jicofo is not in it, and has no
    /// own nick); `present` is whether jicofo knows the conference.
    pub fn observation(&self) -> Observation {
        self.observation_named(&BTreeMap::new())
    }

    /// [`Self::observation`], each member named by its real JID: jicofo's members carry `jid` but no
    /// display name (jicofo `ChatRoomMemberImpl.debugState`), so `names` (bare JID → display name, see
    /// [`super::names_by_jid`]) gives each the name the participants know it by.
    pub fn observation_named(&self, names: &BTreeMap<String, String>) -> Observation {
        Observation {
            present: self.found,
            own: None,
            occupants: self
                .members
                .iter()
                .map(|(nick, member)| {
                    let mut seen = member.seen(nick.clone());
                    seen.name = member
                        .jid
                        .as_deref()
                        .and_then(|jid| names.get(bare(jid)))
                        .cloned();
                    (nick.clone(), seen)
                })
                .collect(),
        }
    }
}

/// The bare part of a JID string.
fn bare(jid: &str) -> &str {
    jid.split('/').next().unwrap_or(jid)
}

/// Why jicofo's view could not be read.
#[derive(Debug, thiserror::Error)]
pub enum JicofoError {
    /// The base URL is not `http://host:port`.
    #[error("invalid jicofo REST URL `{url}`: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No HTTP answer (refused, timed out), or the client could not be set up.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// An answer other than 200 (e.g. REST or debug disabled); `body` is its start.
    #[error("GET {url} answered HTTP {status}: {body}")]
    Status {
        /// The URL asked.
        url: String,
        /// The HTTP status answered.
        status: u16,
        /// The start of the answer's body.
        body: String,
    },
    /// The body is not JSON.
    #[error("GET {url} did not answer JSON: {source}")]
    Json {
        /// The URL asked.
        url: String,
        /// Why parsing failed.
        #[source]
        source: serde_json::Error,
    },
}

/// A client for one jicofo's REST API.
#[derive(Clone, Debug)]
pub struct JicofoClient {
    /// `http://host:port`, without a trailing `/`.
    base: String,
    timeout: Duration,
}

impl JicofoClient {
    /// `base` is like `http://127.0.0.1:32768` (plain HTTP, as jicofo serves it).
    pub fn new(base: &str) -> Result<Self, JicofoError> {
        let bad = |reason: &str| JicofoError::BadUrl {
            url: base.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = base
            .strip_prefix("http://")
            .ok_or_else(|| bad("jicofo's REST API is plain http://host:port"))?;
        if rest.trim_end_matches('/').is_empty() {
            return Err(bad("the host is empty"));
        }
        Ok(JicofoClient {
            base: base.trim_end_matches('/').to_owned(),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Deadline for each call.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `GET /debug/conference/<room>`; `room` is the room's bare JID, e.g. `r1@muc.meet.jitsi`.
    pub async fn conference(&self, room: &str) -> Result<JicofoView, JicofoError> {
        let url = format!(
            "{}/debug/conference/{}",
            self.base,
            encode_path_segment(room)
        );
        let response = Http::with_timeout(self.timeout)?.get(&url).await?;
        if response.status != 200 {
            return Err(JicofoError::Status {
                url,
                status: response.status,
                body: response.text().chars().take(200).collect(),
            });
        }
        parse_conference(&response.body).map_err(|source| JicofoError::Json { url, source })
    }

    /// What jicofo sees of the room `room` (a bare JID), as an observer.
    pub async fn observe(&self, room: &str) -> Result<Observation, JicofoError> {
        Ok(self.conference(room).await?.observation())
    }

    /// [`Self::observe`] with members named by real JID ([`JicofoView::observation_named`]).
    pub async fn observe_named(
        &self,
        room: &str,
        names: &BTreeMap<String, String>,
    ) -> Result<Observation, JicofoError> {
        Ok(self.conference(room).await?.observation_named(names))
    }
}

/// Parses the body of `/debug/conference/<room>` (lenient: see the module docs).
pub fn parse_conference(body: &[u8]) -> Result<JicofoView, serde_json::Error> {
    let root: Value = serde_json::from_slice(body)?;
    let text = |v: Option<&Value>| -> Option<String> {
        match v? {
            // jicofo writes absent JIDs as the string "null".
            Value::String(s) if s.is_empty() || s == "null" => None,
            Value::String(s) => Some(s.clone()),
            _ => None,
        }
    };
    let found = root.as_object().is_some_and(|o| !o.is_empty());
    let manager = root.get("chat_room_role_manager");
    let members = root
        .get("chat_room")
        .and_then(|c| c.get("members"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(nick, member)| {
                    (
                        nick.clone(),
                        JicofoMember {
                            role: text(member.get("role")).and_then(|r| MemberRole::parse(&r)),
                            jid: text(member.get("jid")),
                        },
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(JicofoView {
        found,
        role_manager: text(manager.and_then(|m| m.get("class"))),
        owner: text(manager.and_then(|m| m.get("owner"))),
        members,
    })
}

/// Percent-encodes everything but unreserved characters and `@` (room JIDs are `name@muc.domain`).
fn encode_path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Reconstructed from the jicofo source (jitsi/jicofo@7ebb13dc, field names of `getDebugState`), not
    /// captured from a running jicofo. Trimmed to the fields that matter plus a few
    /// that must be ignored.
    const AUTO_OWNER: &str = r#"{
      "name": "r1@muc.meet.jitsi",
      "meeting_id": "5f0c1e7a-0000-4000-8000-000000000000",
      "config": {},
      "chat_room": {
        "room_jid": "r1@muc.meet.jitsi",
        "my_occupant_jid": "r1@muc.meet.jitsi/focus",
        "members": {
          "alice001": {
            "region": "null",
            "occupant_jid": "r1@muc.meet.jitsi/alice001",
            "jid": "3bc4a1f0-aaaa@meet.jitsi/res1",
            "is_jibri": false,
            "is_jigasi": false,
            "is_transcriber": false,
            "role": "OWNER",
            "video_codecs": []
          },
          "bob00002": {
            "occupant_jid": "r1@muc.meet.jitsi/bob00002",
            "jid": "7d2e9b10-bbbb@meet.jitsi/res2",
            "role": "PARTICIPANT"
          }
        },
        "audio_senders_count": 0,
        "moderators": []
      },
      "participants": {},
      "chat_room_role_manager": {
        "class": "AutoOwnerRoleManager",
        "owner": "3bc4a1f0-aaaa@meet.jitsi/res1"
      },
      "started": true
    }"#;

    #[test]
    fn parses_an_auto_owner_conference() {
        let v = parse_conference(AUTO_OWNER.as_bytes()).unwrap();
        assert!(v.found);
        assert_eq!(v.role_manager.as_deref(), Some("AutoOwnerRoleManager"));
        assert_eq!(v.owner.as_deref(), Some("3bc4a1f0-aaaa@meet.jitsi/res1"));
        assert_eq!(v.members.len(), 2);
        assert!(v.members["alice001"].is_moderator());
        assert!(!v.members["bob00002"].is_moderator());
        assert_eq!(
            v.members["bob00002"].jid.as_deref(),
            Some("7d2e9b10-bbbb@meet.jitsi/res2")
        );
    }

    #[test]
    fn parses_leniently() {
        // Unknown room.
        assert_eq!(parse_conference(b"{}").unwrap(), JicofoView::default());
        // AuthenticationRoleManager has no owner; "null" strings and missing fields are None.
        let v = parse_conference(
            br#"{"chat_room": {"members": {"x": {"jid": "null"}}},
                 "chat_room_role_manager": {"class": "AuthenticationRoleManager", "owner": "null"},
                 "something_new": [1, 2]}"#,
        )
        .unwrap();
        assert_eq!(v.role_manager.as_deref(), Some("AuthenticationRoleManager"));
        assert_eq!(v.owner, None);
        assert_eq!(v.members["x"], JicofoMember::default());
        // No role manager (auto-owner off): jicofo writes null.
        let v =
            parse_conference(br#"{"chat_room": null, "chat_room_role_manager": null}"#).unwrap();
        assert!(v.found && v.role_manager.is_none() && v.members.is_empty());
        assert!(parse_conference(b"not json").is_err());
    }

    #[test]
    fn roles_map_onto_what_the_other_observers_see() {
        let v = parse_conference(AUTO_OWNER.as_bytes()).unwrap();
        let o = v.observation();
        assert!(o.present && o.own.is_none());
        let alice = &o.occupants["alice001"];
        assert_eq!(
            (alice.role, alice.affiliation, alice.name.as_deref()),
            (Role::Moderator, Some(Affiliation::Owner), None)
        );
        let bob = &o.occupants["bob00002"];
        assert_eq!((bob.role, bob.affiliation), (Role::Participant, None));
        let seat = |role: Option<MemberRole>| JicofoMember { role, jid: None }.seen("x".into());
        assert_eq!(
            (
                seat(Some(MemberRole::Moderator)).role,
                seat(Some(MemberRole::Moderator)).affiliation
            ),
            (Role::Moderator, None)
        );
        assert_eq!(seat(Some(MemberRole::Visitor)).role, Role::Visitor);
        assert_eq!(seat(None).role, Role::Participant);
        assert!(!parse_conference(b"{}").unwrap().observation().present);
    }

    #[test]
    fn members_are_named_by_their_real_jid() {
        let v = parse_conference(AUTO_OWNER.as_bytes()).unwrap();
        let names = BTreeMap::from([("3bc4a1f0-aaaa@meet.jitsi".to_owned(), "alice".to_owned())]);
        let o = v.observation_named(&names);
        assert_eq!(o.occupants["alice001"].name.as_deref(), Some("alice"));
        assert_eq!(
            o.occupants["bob00002"].name, None,
            "an unknown JID stays unnamed"
        );
    }

    #[test]
    fn only_plain_http_urls_are_accepted() {
        assert!(JicofoClient::new("https://127.0.0.1:1").is_err());
        assert!(JicofoClient::new("127.0.0.1:1").is_err());
        assert!(JicofoClient::new("http://127.0.0.1:1/").is_ok());
        assert_eq!(
            encode_path_segment("r 1@muc.meet.jitsi"),
            "r%201@muc.meet.jitsi"
        );
    }

    #[tokio::test]
    async fn get_against_a_local_server_and_a_deadline() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            // First connection: a chunked JSON answer. Second: accepted, never answered.
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).await.unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let body = AUTO_OWNER.as_bytes();
            let head = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n", body.len());
            s.write_all(head.as_bytes()).await.unwrap();
            s.write_all(body).await.unwrap();
            s.write_all(b"\r\n0\r\n\r\n").await.unwrap();
            drop(s);
            let (silent, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(silent);
            req
        });
        let client = JicofoClient::new(&format!("http://127.0.0.1:{port}")).unwrap();
        let view = client.conference("r1@muc.meet.jitsi").await.unwrap();
        assert_eq!(view.owner.as_deref(), Some("3bc4a1f0-aaaa@meet.jitsi/res1"));
        let started = std::time::Instant::now();
        let err = client
            .with_timeout(Duration::from_millis(300))
            .conference("r1@muc.meet.jitsi")
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(err.to_string().contains("no answer"), "{err}");
        assert!(
            matches!(err, JicofoError::Http(ref e) if e.is_unreachable()),
            "{err}"
        );
        server.abort();
    }
}
