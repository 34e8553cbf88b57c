//! jicofo's REST view of a conference: a second observer of who is owner, next to the bots' presence.
//!
//! In: jicofo's REST base URL (`Endpoints::jicofo_rest`, docker `JICOFO_ENABLE_REST=1`, port 8888) and a
//! room JID. Out: a [`JicofoView`] from `GET /debug/conference/<room@muc>` — which role manager jicofo
//! picked, the owner it tracks (AutoOwnerRoleManager only) and each member's role as jicofo sees it.
//!
//! The JSON shape (research/jitsi-moderator.md §1.6; jitsi/jicofo@7ebb13dc
//! `JitsiMeetConferenceImpl.getDebugState`, `ChatRoomImpl.debugState`, `ChatRoomMemberImpl.debugState`,
//! `ChatRoomRoleManager.debugState`): `chat_room_role_manager.class`, `chat_room_role_manager.owner` (real
//! JID, the string `"null"` when none), `chat_room.members.<nick>.role` (`OWNER`, `MODERATOR`,
//! `PARTICIPANT`, `VISITOR`) and `.jid`; an unknown room answers `{}`. The endpoint exists since jicofo
//! 2248f7c46 (2022-01); older or newer field sets are read leniently: missing fields are `None`, unknown
//! fields are ignored.
//!
//! Also home of the tiny HTTP/1.1 GET the stack backends use for readiness and reachability checks (plain
//! HTTP only, `Connection: close`, one deadline for the whole exchange): a handful of GETs does not need a
//! client stack.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long one REST call may take by default. jicofo answers from memory; a second is plenty, five
/// leave room for a loaded CI machine.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest response body read (a busy conference's debug state is a few kB; a cap bounds a runaway).
const MAX_RESPONSE: usize = 8 * 1024 * 1024;

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

/// One member of the room as jicofo sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct JicofoMember {
    /// jicofo's `MemberRole`: `OWNER`, `MODERATOR`, `PARTICIPANT` or `VISITOR`.
    pub role: Option<String>,
    /// The member's real JID.
    pub jid: Option<String>,
}

impl JicofoMember {
    /// Owner or moderator rights (jicofo's `hasModeratorRights`).
    pub fn is_moderator(&self) -> bool {
        matches!(self.role.as_deref(), Some("OWNER" | "MODERATOR"))
    }
}

/// Why jicofo's view could not be read.
#[derive(Debug, thiserror::Error)]
pub enum JicofoError {
    /// The base URL is not `http://host:port`.
    #[error("invalid jicofo REST URL `{url}`: {reason}")]
    BadUrl { url: String, reason: String },
    /// No HTTP answer (refused, timed out, garbled).
    #[error("GET {url} failed: {source}")]
    Http {
        url: String,
        #[source]
        source: HttpError,
    },
    /// An answer other than 200 (e.g. REST or debug disabled); `body` is its start.
    #[error("GET {url} answered HTTP {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    /// The body is not JSON.
    #[error("GET {url} did not answer JSON: {source}")]
    Json {
        url: String,
        #[source]
        source: serde_json::Error,
    },
}

/// A client for one jicofo's REST API.
#[derive(Clone, Debug)]
pub struct JicofoClient {
    host: String,
    port: u16,
    timeout: Duration,
}

impl JicofoClient {
    /// `base` is like `http://127.0.0.1:32768` (plain HTTP, as jicofo serves it).
    pub fn new(base: &str) -> Result<Self, JicofoError> {
        let url = parse_url(base).map_err(|reason| JicofoError::BadUrl {
            url: base.to_owned(),
            reason,
        })?;
        if url.scheme != "http" {
            return Err(JicofoError::BadUrl {
                url: base.to_owned(),
                reason: "jicofo's REST API is plain http://".into(),
            });
        }
        Ok(JicofoClient {
            host: url.host,
            port: url.port,
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
        let path = format!("/debug/conference/{}", encode_path_segment(room));
        let url = format!("http://{}:{}{path}", self.host, self.port);
        let response = http_get(&self.host, self.port, &path, self.timeout)
            .await
            .map_err(|source| JicofoError::Http {
                url: url.clone(),
                source,
            })?;
        if response.status != 200 {
            return Err(JicofoError::Status {
                url,
                status: response.status,
                body: String::from_utf8_lossy(&response.body)
                    .chars()
                    .take(200)
                    .collect(),
            });
        }
        parse_conference(&response.body).map_err(|source| JicofoError::Json { url, source })
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
                            role: text(member.get("role")),
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

/// The parts of an absolute URL the stack backends need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UrlParts {
    pub scheme: String,
    pub host: String,
    pub port: u16,
    /// Path and query, `/` when empty.
    pub path: String,
}

/// Splits `scheme://host[:port][/path]` (schemes http, https, ws, wss; default ports 80/443).
pub(crate) fn parse_url(url: &str) -> Result<UrlParts, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| "expected scheme://host[:port]/path".to_owned())?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" | "ws" => 80,
        "https" | "wss" => 443,
        other => return Err(format!("unsupported scheme `{other}`")),
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err("credentials in the URL are not supported".into());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| "unclosed `[` in the host".to_owned())?;
        match after.strip_prefix(':') {
            Some(p) => (h.to_owned(), Some(p)),
            None if after.is_empty() => (h.to_owned(), None),
            None => return Err("junk after the IPv6 host".into()),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (authority.to_owned(), None),
        }
    };
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("invalid port `{p}`"))?,
        None => default_port,
    };
    let path = if path.is_empty() {
        "/".to_owned()
    } else if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    Ok(UrlParts {
        scheme,
        host,
        port,
        path,
    })
}

/// An HTTP response: status and body (chunked encoding undone).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code, e.g. 200.
    pub status: u16,
    /// The body, at most 8 MiB.
    pub body: Vec<u8>,
}

/// Why a GET failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The deadline passed.
    #[error("no answer from {addr} within {} ms", waited.as_millis())]
    Timeout { addr: String, waited: Duration },
    /// Connecting, writing or reading failed.
    #[error("{addr}: {source}")]
    Io {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// What came back is not an HTTP/1.x response.
    #[error("{addr} sent no valid HTTP response: {reason}")]
    Malformed { addr: String, reason: String },
}

/// `GET path` on `host:port` over plain HTTP/1.1, the whole exchange bounded by `deadline`.
pub async fn http_get(
    host: &str,
    port: u16,
    path: &str,
    deadline: Duration,
) -> Result<HttpResponse, HttpError> {
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let exchange = async {
        let io = |source| HttpError::Io {
            addr: addr.clone(),
            source,
        };
        let mut stream = tokio::net::TcpStream::connect(&addr).await.map_err(io)?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: */*\r\nUser-Agent: jitsi-harness\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.map_err(io)?;
        let mut raw = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = stream.read(&mut buf).await.map_err(io)?;
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
            if raw.len() > MAX_RESPONSE {
                return Err(HttpError::Malformed {
                    addr: addr.clone(),
                    reason: format!("response larger than {MAX_RESPONSE} bytes"),
                });
            }
            // Stop early once a complete Content-Length body is in: some servers keep the socket open.
            if let Ok(Some(done)) = parse_response(&raw) {
                return Ok(done);
            }
        }
        parse_response_at_eof(&raw)
            .map_err(|reason| HttpError::Malformed {
                addr: addr.clone(),
                reason,
            })?
            .ok_or_else(|| HttpError::Malformed {
                addr: addr.clone(),
                reason: if raw.is_empty() {
                    "connection closed without a response".into()
                } else {
                    "connection closed in the middle of the response".into()
                },
            })
    };
    match tokio::time::timeout(deadline, exchange).await {
        Ok(result) => result,
        Err(_) => Err(HttpError::Timeout {
            addr,
            waited: deadline,
        }),
    }
}

/// `Ok(None)`: incomplete so far. Complete means: headers and the whole body (Content-Length or chunked).
/// A response with neither is complete only at end of stream, which the caller decides.
fn parse_response(raw: &[u8]) -> Result<Option<HttpResponse>, String> {
    let Some(head_end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("status line `{status_line}`"));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("status line `{status_line}`"))?;
    let mut content_length = None;
    let mut chunked = false;
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "content-length" {
                content_length = v.parse::<usize>().ok();
            } else if k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked") {
                chunked = true;
            }
        }
    }
    let body = &raw[head_end + 4..];
    if chunked {
        return Ok(dechunk(body).map(|body| HttpResponse { status, body }));
    }
    match content_length {
        Some(n) if body.len() >= n => Ok(Some(HttpResponse {
            status,
            body: body[..n].to_vec(),
        })),
        // Incomplete, or no length: then the body runs to the end of the stream (see `parse_response_at_eof`).
        _ => Ok(None),
    }
}

/// Undoes chunked transfer encoding; `None` while the last chunk has not arrived.
fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if body.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

/// Parses a response that ended with the stream (no Content-Length, not chunked).
fn parse_response_at_eof(raw: &[u8]) -> Result<Option<HttpResponse>, String> {
    if let Some(done) = parse_response(raw)? {
        return Ok(Some(done));
    }
    let Some(head_end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    if head.contains("content-length:") || head.contains("chunked") {
        return Ok(None);
    }
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| "status line".to_owned())?;
    Ok(Some(HttpResponse {
        status,
        body: raw[head_end + 4..].to_vec(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reconstructed from research/jitsi-moderator.md §1.6 and the jicofo source it cites (field names of
    /// `getDebugState`), not captured from a running jicofo. Trimmed to the fields that matter plus a few
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
    fn urls_split_into_parts() {
        let u = parse_url("http://127.0.0.1:32768").unwrap();
        assert_eq!(
            (u.scheme.as_str(), u.host.as_str(), u.port, u.path.as_str()),
            ("http", "127.0.0.1", 32768, "/")
        );
        let u = parse_url("wss://meet.example.org/xmpp-websocket?room=x").unwrap();
        assert_eq!((u.port, u.path.as_str()), (443, "/xmpp-websocket?room=x"));
        let u = parse_url("ws://[::1]:5280/xmpp-websocket").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 5280));
        for bad in [
            "meet.example.org",
            "ftp://x",
            "http://",
            "http://h:0",
            "http://h:99999",
            "http://u@h",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        assert!(JicofoClient::new("https://127.0.0.1:1").is_err());
        assert_eq!(
            encode_path_segment("r 1@muc.meet.jitsi"),
            "r%201@muc.meet.jitsi"
        );
    }

    #[test]
    fn responses_parse_with_length_chunks_or_eof() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            .unwrap()
            .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}").unwrap(),
            None
        );
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.body, b"{}");
        let r = parse_response_at_eof(b"HTTP/1.0 404 Not Found\r\n\r\nnope")
            .unwrap()
            .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (404, &b"nope"[..]));
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
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
        server.abort();
    }
}
