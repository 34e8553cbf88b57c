//! Secrets and tokens never appear in logs, snapshots or reports (ARCHITECTURE.md, "Invariants").
//!
//! [`Secret`] wraps a secret string so that `Debug` and `Display` never show it; [`short_token`] and
//! [`redact_url`] shorten JWTs wherever one must be mentioned.

use std::fmt;

/// A secret value (JWT app secret, RS256 private key, component password). Prints as `[redacted]`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
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
        Secret(hex::encode(buf))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "[redacted] [redacted]");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"[redacted]\"");
        assert_eq!(s.expose(), "hunter2");
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
