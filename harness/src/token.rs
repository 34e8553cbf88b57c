//! Jitsi JWTs (HS256 with the app secret; RS256 with a `kid`, ASAP style). Tokens and keys never print.
//!
//! Box in the data flow: a participant's [`TokenOverrides`] (from the scenario) and the stack's [`SigningKey`] come
//! in; a [`Token`] for the bot's WebSocket URL (`?room=…&token=…`) or the browser's `?jwt=` goes out.
//!
//! Tokens travel in the URL because Prosody's token auth reads them from the BOSH/WebSocket query, never over
//! plain c2s (research/jitsi-moderator.md §4, jitsi-meet `mod_auth_token.lua`). A [`Token`] prints as
//! [`short_token`] everywhere (`Debug`, `Display`, `Serialize`); [`describe`] gives a safe one-line summary of
//! its header and claims for logs and transcripts.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::redact::{short_token, Secret};

/// The key tokens are signed with.
#[derive(Clone, Debug, Serialize)]
pub enum SigningKey {
    /// HS256 with the app secret (docker-jitsi-meet `JWT_APP_SECRET`).
    Hs256(Secret),
    /// RS256 with a PEM private key; `kid` names the public key Prosody fetches from its key server.
    Rs256 { private_pem: Secret, kid: String },
}

/// How a scenario bends a participant's token away from a valid one (`[participants.NAME.token]`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenOverrides {
    /// Claims to set, by dotted path (`"context.user.moderator" = "true"`), with the type as written:
    /// a TOML string stays a JSON string, so wrong types can be tested.
    #[serde(default)]
    pub claims: BTreeMap<String, serde_json::Value>,
    /// Claims to remove, by dotted path (`["exp", "context.user"]`).
    #[serde(default)]
    pub remove: Vec<String>,
    /// `exp` an hour in the past.
    #[serde(default)]
    pub expired: bool,
    /// `nbf` an hour in the future.
    #[serde(default)]
    pub not_yet_valid: bool,
    /// The `room` claim (default: the scenario's room; `"*"` for any room).
    #[serde(default)]
    pub room: Option<String>,
    /// How the token is signed.
    #[serde(default)]
    pub signature: Signature,
}

/// How a token is signed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Signature {
    /// With the stack's key.
    #[default]
    Valid,
    /// With a random secret the stack does not know.
    WrongSecret,
    /// `alg: none` and an empty signature.
    None,
}

/// A signed (or deliberately unsigned) JWT. Prints only as [`short_token`] (`eyJhbG…(412 bytes)`) in `Debug`,
/// `Display` and `Serialize`; [`Token::expose`] gives the raw string, for the URL and nothing else.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a JWT minted elsewhere (e.g. given to an external stack), so it prints redacted from here on.
    pub fn new(jwt: impl Into<String>) -> Self {
        Token(jwt.into())
    }

    /// The raw JWT: only for the `token=` / `jwt=` URL parameter. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The raw JWT, as [`Token::expose`]: only for the URL. Never log it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({})", short_token(&self.0))
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&short_token(&self.0))
    }
}

impl Serialize for Token {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&short_token(&self.0))
    }
}

/// Why a token could not be minted or read. Messages name what failed and never contain a token or a key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// A dotted claim path from [`TokenOverrides`] is empty or walks through something that is not an object.
    #[error("invalid claim path `{path}`: {reason}")]
    InvalidPath {
        /// The path as written in the scenario.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The RS256 private key could not be read. The key itself is never part of the message.
    #[error("the RS256 signing key (kid `{kid}`) is not a valid RSA PEM private key")]
    InvalidKey {
        /// The key's `kid` (public: it names the public key on the key server).
        kid: String,
        /// What jsonwebtoken reported (it does not echo the key).
        #[source]
        source: jsonwebtoken::errors::Error,
    },
    /// jsonwebtoken could not sign the claims.
    #[error("could not sign the token with {alg}")]
    Sign {
        /// The algorithm, e.g. `HS256`.
        alg: &'static str,
        /// What jsonwebtoken reported.
        #[source]
        source: jsonwebtoken::errors::Error,
    },
    /// The header or claims of an unsigned (`alg: none`) token could not be serialised.
    #[error("could not serialise the token {part}")]
    Serialize {
        /// `header` or `claims`.
        part: &'static str,
        /// What serde_json reported.
        #[source]
        source: serde_json::Error,
    },
    /// A string given to [`decode_unverified`] is not a JWT; the reason names the part, not its content.
    #[error("cannot decode the token: {reason}")]
    Decode {
        /// What is wrong, e.g. "the claims part is not base64url".
        reason: String,
    },
}

/// Reads the header and claims of a JWT **without checking its signature**: for tests, and for transcripts that
/// describe a token without revealing it. The signature part may be empty (`alg: none` tokens).
pub fn decode_unverified(
    token: &str,
) -> Result<(serde_json::Value, serde_json::Value), TokenError> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, claims, _signature] = parts.as_slice() else {
        return Err(TokenError::Decode {
            reason: format!("expected 3 dot-separated parts, found {}", parts.len()),
        });
    };
    Ok((
        decode_part(header, "header")?,
        decode_part(claims, "claims")?,
    ))
}

fn decode_part(part: &str, name: &str) -> Result<serde_json::Value, TokenError> {
    let bytes = base64url::decode(part).ok_or_else(|| TokenError::Decode {
        reason: format!("the {name} part is not base64url"),
    })?;
    // serde_json's syntax errors name a line and column, never the input.
    serde_json::from_slice(&bytes).map_err(|e| TokenError::Decode {
        reason: format!("the {name} part is not JSON ({e})"),
    })
}

/// Base64url without padding (RFC 4648 §5, as JWTs use it; RFC 7515 §2). jsonwebtoken keeps its codec private,
/// and an unsigned token must be assembled by hand, so the few lines live here instead of a new dependency.
mod base64url {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    pub fn encode(input: &[u8]) -> String {
        let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
        for chunk in input.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            // 1 byte → 2 characters, 2 → 3, 3 → 4.
            for i in 0..=chunk.len() {
                let sextet = (n >> (18 - 6 * i)) & 0x3f;
                out.push(char::from(ALPHABET[sextet as usize]));
            }
        }
        out
    }

    /// `None` for a character outside the alphabet (including `=` padding) or an impossible length.
    pub fn decode(input: &str) -> Option<Vec<u8>> {
        let bytes = input.as_bytes();
        if bytes.len() % 4 == 1 {
            return None;
        }
        let mut out = Vec::with_capacity(bytes.len() / 4 * 3 + 2);
        for chunk in bytes.chunks(4) {
            let mut n = 0u32;
            for (i, &c) in chunk.iter().enumerate() {
                n |= u32::from(sextet(c)?) << (18 - 6 * i);
            }
            // 2 characters → 1 byte, 3 → 2, 4 → 3.
            for i in 0..chunk.len() - 1 {
                out.push((n >> (16 - 8 * i)) as u8);
            }
        }
        Some(out)
    }

    fn sextet(c: u8) -> Option<u8> {
        match c {
            b'A'..=b'Z' => Some(c - b'A'),
            b'a'..=b'z' => Some(c - b'a' + 26),
            b'0'..=b'9' => Some(c - b'0' + 52),
            b'-' => Some(62),
            b'_' => Some(63),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_rfc4648_vectors() {
        // RFC 4648 §10 test vectors, without padding; the last two use the url-safe characters.
        let vectors: &[(&[u8], &str)] = &[
            (b"", ""),
            (b"f", "Zg"),
            (b"fo", "Zm8"),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg"),
            (b"fooba", "Zm9vYmE"),
            (b"foobar", "Zm9vYmFy"),
            (&[0xfb, 0xff], "-_8"),
            (&[0xff, 0xff, 0xfe], "___-"),
        ];
        for (raw, encoded) in vectors {
            assert_eq!(base64url::encode(raw), *encoded);
            assert_eq!(
                base64url::decode(encoded).as_deref(),
                Some(*raw),
                "{encoded}"
            );
        }
        assert_eq!(
            base64url::decode("Zm9v="),
            None,
            "padding is not base64url in a JWT"
        );
        assert_eq!(base64url::decode("Zm+v"), None, "standard alphabet");
        assert_eq!(base64url::decode("Zm9vY"), None, "impossible length");
    }

    #[test]
    fn decode_unverified_names_the_broken_part() {
        let err = |t: &str| decode_unverified(t).unwrap_err().to_string();
        assert_eq!(
            err("abc"),
            "cannot decode the token: expected 3 dot-separated parts, found 1"
        );
        assert_eq!(
            err("a.b.c.d"),
            "cannot decode the token: expected 3 dot-separated parts, found 4"
        );
        assert_eq!(
            err("e30.!!.x"),
            "cannot decode the token: the claims part is not base64url"
        );
        let e = err("Zm9v.e30.");
        assert!(
            e.starts_with("cannot decode the token: the header part is not JSON"),
            "{e}"
        );
        assert!(!e.contains("foo"), "{e}");
        let (header, claims) = decode_unverified("e30.eyJhIjoxfQ.").unwrap();
        assert_eq!(header, serde_json::json!({}));
        assert_eq!(claims, serde_json::json!({"a": 1}));
    }

    #[test]
    fn token_prints_only_its_short_form() {
        let raw = "eyJhbGciOiJIUzI1NiJ9.eyJyb29tIjoicjEifQ.c2lnbmF0dXJl";
        let token = Token::new(raw);
        assert_eq!(format!("{token}"), "eyJhbG…(52 bytes)");
        assert_eq!(format!("{token:?}"), "Token(eyJhbG…(52 bytes))");
        assert_eq!(
            serde_json::to_string(&token).unwrap(),
            "\"eyJhbG…(52 bytes)\""
        );
        assert_eq!(token.expose(), raw);
        assert_eq!(token.as_str(), raw);
    }
}
