//! Secrets and tokens never appear in logs, snapshots or reports (ARCHITECTURE.md, "Invariants").
//!
//! [`Secret`] wraps a secret string so that `Debug` and `Display` never show it; [`short_token`] and
//! [`redact_url`] shorten JWTs wherever one must be mentioned. That is redaction at the source. Other crates
//! log what they are given (bollard prints a container's whole create request, env included, at `debug`), so
//! the log output also goes through [`scrub`]: every secret value the process has created ([`remember`]) and
//! every JWT-shaped string is replaced before a line is written ([`ScrubbingStderr`]).

use std::borrow::Cow;
use std::fmt;
use std::io::Write;
use std::sync::{OnceLock, RwLock};

/// A secret value (JWT app secret, RS256 private key, component password). Prints as `[redacted]`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`; the value is also remembered for [`scrub`].
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        remember(&value);
        Secret(value)
    }

    /// The secret itself: only for signing, or for handing to a container's env.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A fresh random secret of `bytes` random bytes, hex encoded.
    pub fn random(bytes: usize) -> Self {
        use rand::RngCore;
        let mut buf = vec![0u8; bytes];
        rand::rng().fill_bytes(&mut buf);
        Secret::new(hex::encode(buf))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}

/// A JWT shortened for humans: its first 6 characters and its length, e.g. `eyJhbG…(412 bytes)`.
/// The first characters of a JWT are the base64 of `{"alg":…` and reveal nothing.
pub fn short_token(token: &str) -> String {
    let head: String = token.chars().take(6).collect();
    format!("{head}…({} bytes)", token.len())
}

/// Replaces the value of every `token=` / `jwt=` query parameter in `url` (or in any text) with
/// [`short_token`] of it.
pub fn redact_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    loop {
        let next = ["token=", "jwt="]
            .iter()
            .filter_map(|key| rest.find(key).map(|i| (i, key.len())))
            .min();
        let Some((at, key_len)) = next else {
            out.push_str(rest);
            return out;
        };
        // Only a parameter name: preceded by start, `?`, `&`, `#` or whitespace/quote.
        let boundary = at == 0
            || matches!(
                rest.as_bytes()[at - 1],
                b'?' | b'&' | b'#' | b' ' | b'"' | b'\''
            );
        out.push_str(&rest[..at + key_len]);
        rest = &rest[at + key_len..];
        if !boundary {
            continue;
        }
        // A quoted value (an XML attribute `token='…'`) keeps its quote.
        if let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') {
            out.push(quote);
            rest = &rest[1..];
        }
        let end = rest
            .find(|c: char| {
                matches!(c, '&' | '#' | ' ' | '"' | '\'' | '<' | '>') || c.is_whitespace()
            })
            .unwrap_or(rest.len());
        if end > 0 {
            out.push_str(&short_token(&rest[..end]));
        }
        rest = &rest[end..];
    }
}

/// Values shorter than this are not remembered: they cannot be told from ordinary words (the plan's
/// `placeholder`), and a real secret of the harness is 64 hex characters.
const MIN_REMEMBERED: usize = 12;

fn remembered() -> &'static RwLock<Vec<String>> {
    static KNOWN: OnceLock<RwLock<Vec<String>>> = OnceLock::new();
    KNOWN.get_or_init(|| RwLock::new(Vec::new()))
}

/// Remembers a secret value (or a full token) so that [`scrub`] removes it from any text, whichever crate
/// writes it. [`Secret::new`] calls this; call it for any other secret string the process handles.
pub fn remember(value: &str) {
    if value.len() < MIN_REMEMBERED {
        return;
    }
    if let Ok(mut known) = remembered().write() {
        if !known.iter().any(|k| k == value) {
            known.push(value.to_owned());
        }
    }
}

/// `text` with every remembered secret replaced by `[redacted]`, every JWT-shaped string (three base64url
/// segments starting `eyJ`) shortened with [`short_token`], and every `token=`/`jwt=` parameter shortened.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    if let Ok(known) = remembered().read() {
        for secret in known.iter() {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), "[redacted]"));
            }
        }
    }
    if out.contains("eyJ") {
        out = Cow::Owned(shorten_jwts(&out));
    }
    if out.contains("token=") || out.contains("jwt=") {
        out = Cow::Owned(redact_url(&out));
    }
    out
}

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Replaces `eyJ….….…` (header.payload.signature; the signature may be empty for `alg: none`).
fn shorten_jwts(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while let Some(found) = text[i..].find("eyJ") {
        let start = i + found;
        let starts_word = start == 0 || !is_b64url(bytes[start - 1]);
        let mut end = start;
        let mut dots = 0;
        while end < bytes.len() && (is_b64url(bytes[end]) || (bytes[end] == b'.' && dots < 2)) {
            if bytes[end] == b'.' {
                dots += 1;
            }
            end += 1;
        }
        if starts_word && dots == 2 {
            out.push_str(&text[copied..start]);
            out.push_str(&short_token(&text[start..end]));
            copied = end;
        }
        i = end.max(start + 3);
    }
    out.push_str(&text[copied..]);
    out
}

/// A `tracing_subscriber` writer to stderr that [`scrub`]s every line first. The binary logs through it, so
/// `RUST_LOG=trace` shows no secret and no full token, whatever a dependency prints.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScrubbingStderr;

/// One log record being written (tracing writes a formatted record, then drops the writer).
#[derive(Debug, Default)]
pub struct ScrubbingLine(Vec<u8>);

impl Write for ScrubbingLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for ScrubbingLine {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        // Nothing sensible to do if stderr is gone.
        let _ = std::io::stderr().lock().write_all(scrub(&text).as_bytes());
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for ScrubbingStderr {
    type Writer = ScrubbingLine;
    fn make_writer(&'a self) -> Self::Writer {
        ScrubbingLine::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_remembered_secrets_tokens_and_token_parameters() {
        let secret = Secret::random(32);
        let line = format!(
            r#"{{"Env":["JWT_APP_SECRET={}","JWT_APP_ID=jitsi-harness"]}} auth eyJhbGciOiJIUzI1NiJ9.eyJyb29tIjoiciJ9.c2lnbmF0dXJl done"#,
            secret.expose()
        );
        let clean = scrub(&line);
        assert!(!clean.contains(secret.expose()), "{clean}");
        assert!(clean.contains("JWT_APP_SECRET=[redacted]"), "{clean}");
        assert!(!clean.contains("c2lnbmF0dXJl"), "{clean}");
        assert!(clean.contains("eyJhbG…(50 bytes) done"), "{clean}");
        // alg none: an empty signature is still a token.
        assert_eq!(
            scrub("t=eyJhbGciOiJub25lIn0.eyJ4IjoxfQ."),
            "t=eyJhbG…(31 bytes)"
        );
        // Not a token: left alone.
        assert_eq!(scrub("keyJ.a.b eyJonly"), "keyJ.a.b eyJonly");
        // Short values are not remembered (they would hide ordinary words).
        let _ = Secret::new("placeholder");
        assert_eq!(scrub("placeholder"), "placeholder");
    }

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "[redacted] [redacted]");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"[redacted]\"");
        assert_eq!(s.expose(), "hunter2");
    }

    /// Every type that carries a secret or a token prints it redacted in `Debug` (and in JSON where it
    /// serializes): the signing key, the stack's endpoints, both participants' joins.
    #[test]
    fn secret_carrying_types_print_redacted() {
        use crate::participant::{BotJoin, BrowserJoin};
        use crate::stack::Endpoints;
        use crate::token::{SigningKey, Token};
        // Not remembered for `scrub` (no `Secret::new`): what is checked is the types' own printing.
        let secret = "0123456789abcdef-app-secret";
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJyb29tIjoicjEifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
        let key = SigningKey::Hs256(Secret(secret.to_owned()));
        let endpoints = Endpoints {
            websocket: "ws://127.0.0.1:1/xmpp-websocket".into(),
            bosh: "http://127.0.0.1:1/http-bind".into(),
            domain: "meet.jitsi".into(),
            muc_domain: "muc.meet.jitsi".into(),
            focus_domain: "focus.meet.jitsi".into(),
            guest_domain: None,
            app_id: "harness".into(),
            signing: key.clone(),
            web: None,
            jicofo_rest: None,
            insecure_tls: false,
            client: crate::stack::ClientFacts::newest(),
        };
        let bot = BotJoin {
            room: "r1".into(),
            nick: Some("alice".into()),
            token: Some(Token::new(jwt)),
            machine_uid: "m".into(),
            display_name: None,
            transcript: None,
            session_id: None,
            credentials: None,
        };
        let browser = BrowserJoin {
            room: "r1".into(),
            nick: "alice".into(),
            display_name: None,
            token: Some(Token::new(jwt)),
            machine_uid: "m".into(),
        };
        let printed = [
            format!("{key:?}"),
            format!("{endpoints:?}"),
            format!("{endpoints:#?}"),
            serde_json::to_string(&endpoints).unwrap_or_default(),
            format!("{bot:?}"),
            format!("{browser:?}"),
        ];
        for p in &printed {
            assert!(!p.contains(secret), "{p}");
            assert!(!p.contains("eyJyb29tIjoicjEifQ"), "{p}");
            assert!(!p.contains("c2lnbmF0dXJl"), "{p}");
        }
        assert!(printed[1].contains("[redacted]"), "{}", printed[1]);
        assert!(printed[4].contains(&short_token(jwt)), "{}", printed[4]);
    }

    #[test]
    fn urls_lose_their_tokens() {
        let url =
            "ws://127.0.0.1:5280/xmpp-websocket?room=r1&token=eyJhbGciOiJIUzI1NiJ9.eyJ.sig&x=1";
        let r = redact_url(url);
        assert!(!r.contains("eyJhbGciOiJIUzI1NiJ9.eyJ.sig"), "{r}");
        assert!(r.contains("token=eyJhbG…(28 bytes)&x=1"), "{r}");
        assert_eq!(
            redact_url("https://h/room?jwt=abcdefgh"),
            "https://h/room?jwt=abcdef…(8 bytes)"
        );
        // An XML attribute keeps its quotes.
        assert_eq!(
            redact_url("<conference token='abcdefghij' room='r'/>"),
            "<conference token='abcdef…(10 bytes)' room='r'/>"
        );
        // Not a parameter: left alone.
        assert_eq!(redact_url("mytoken=1"), "mytoken=1");
    }
}
