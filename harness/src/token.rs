//! Jitsi JWTs (HS256 with the app secret; RS256 with a `kid`, ASAP style). Tokens and keys never print.
//!
//! Box in the data flow: a participant's [`TokenOverrides`] (from the scenario) and the stack's [`SigningKey`] come
//! in; a [`Token`] for the bot's WebSocket URL (`?room=…&token=…`) or the browser's `?jwt=` goes out.
//!
//! Tokens travel in the URL because Prosody's token auth reads them from the BOSH/WebSocket query, never over
//! plain c2s (jitsi/jitsi-meet `resources/prosody-plugins/mod_auth_token.lua`). A [`Token`] prints as
//! [`short_token`] everywhere (`Debug`, `Display`, `Serialize`); [`describe`] gives a safe one-line summary of
//! its header and claims for logs and transcripts.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::redact::{short_token, Secret};

/// The key tokens are signed with.
#[derive(Clone, Debug, Serialize)]
pub enum SigningKey {
    /// HS256 with the app secret (docker-jitsi-meet `JWT_APP_SECRET`).
    Hs256(Secret),
    /// RS256 with a PEM private key; `kid` names the public key Prosody fetches from its key server.
    Rs256 {
        /// The RSA private key, PEM (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`).
        private_pem: Secret,
        /// The header `kid`; Prosody fetches `<asap_key_server>/<sha256hex(kid)>.pem` (jitsi/jitsi-meet `resources/prosody-plugins/token/util.lib.lua`).
        kid: String,
    },
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

/// The `aud` claim Jitsi's own token tools put in (`jitsi`). Prosody accepts any audience unless
/// `asap_accepted_audiences` is set (default `*`, jitsi/jitsi-meet `resources/prosody-plugins/token/util.lib.lua`).
pub const DEFAULT_AUDIENCE: &str = "jitsi";

/// Default token lifetime: an hour outlasts any scenario, so a valid token never expires mid-run.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// `nbf` is set this many seconds before `now`: Prosody rejects a token while `now < nbf` (jitsi/jitsi-meet `resources/prosody-plugins/luajwtjitsi.lib.lua`), and the
/// container's clock may lag the harness's a little.
pub const CLOCK_SKEW_SECS: u64 = 10;

/// How far [`TokenOverrides::expired`] and [`TokenOverrides::not_yet_valid`] move `exp` / `nbf` from `now`: far
/// beyond any clock skew or validator leeway, so the token is unambiguously out of its validity window.
pub const OVERRIDE_SHIFT_SECS: u64 = 3600;

/// The participant the token speaks for: `context.user` in the claims.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// `context.user.id`; jicofo reads it (with `context.group`) only to choose main room or visitor node.
    pub id: String,
    /// `context.user.name`, the display name.
    pub name: String,
    /// `context.user.email`, left out when `None`.
    pub email: Option<String>,
}

impl UserInfo {
    /// A user without an email.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        UserInfo {
            id: id.into(),
            name: name.into(),
            email: None,
        }
    }

    /// With `context.user.email`.
    pub fn with_email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }
}

/// What a valid token for one participant says, before a scenario's [`TokenOverrides`] bend it.
///
/// ```
/// use harness::token::{TokenRequest, UserInfo};
/// let request = TokenRequest::new("harness", "meet.jitsi", "r1", UserInfo::new("alice", "Alice"))
///     .with_group("g1")
///     .with_now(1_700_000_000);
/// assert_eq!(request.audience, "jitsi");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
#[must_use]
pub struct TokenRequest {
    /// `iss`: the app id (docker-jitsi-meet `JWT_APP_ID`); Prosody accepts only issuers in
    /// `asap_accepted_issuers`, by default just `app_id`.
    pub app_id: String,
    /// `aud`, [`DEFAULT_AUDIENCE`] unless changed.
    pub audience: String,
    /// `sub`: the XMPP domain (e.g. `meet.jitsi`); Prosody checks it only with `enable_domain_verification`.
    pub sub: String,
    /// `room`: the room the participant joins; mod_token_verification compares it, lower-cased, with the room
    /// node at MUC join (or accepts `*`).
    pub room: String,
    /// `context.user`.
    pub user: UserInfo,
    /// `context.group`, left out when `None`.
    pub group: Option<String>,
    /// `context.features` (e.g. `{"recording": true}`), inserted as given; left out when `None`.
    pub features: Option<serde_json::Value>,
    /// `exp` − `iat`; [`DEFAULT_LIFETIME`] unless changed. Whole seconds count.
    pub lifetime: Duration,
    /// The time the token is minted at, in unix seconds; `None` = now
    /// ([`jsonwebtoken::get_current_timestamp`]). Tests fix it for determinism.
    pub now: Option<u64>,
}

impl TokenRequest {
    /// A request with the default audience and lifetime, no group, no features, minted at the current time.
    pub fn new(
        app_id: impl Into<String>,
        sub: impl Into<String>,
        room: impl Into<String>,
        user: UserInfo,
    ) -> Self {
        TokenRequest {
            app_id: app_id.into(),
            audience: DEFAULT_AUDIENCE.to_owned(),
            sub: sub.into(),
            room: room.into(),
            user,
            group: None,
            features: None,
            lifetime: DEFAULT_LIFETIME,
            now: None,
        }
    }

    /// With another `aud`.
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }

    /// With `context.group`.
    pub fn with_group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// With `context.features`.
    pub fn with_features(mut self, features: serde_json::Value) -> Self {
        self.features = Some(features);
        self
    }

    /// With another lifetime.
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Minted at `now` (unix seconds) instead of the current time.
    pub fn with_now(mut self, now: u64) -> Self {
        self.now = Some(now);
        self
    }
}

/// The claims [`mint`] signs: those of `request`, bent by `overrides` (everything but the signature).
///
/// Built: `iss`, `aud`, `sub`, `room`, `iat` = now, `nbf` = now − [`CLOCK_SKEW_SECS`], `exp` = now + lifetime,
/// `context.user` {`id`, `name`, `email` if any}, `context.group` and `context.features` if any.
/// `context.user.moderator` is never set by default: only a scenario sets it, because only prosody's
/// mod_token_affiliation honours it and jicofo never does (jitsi/jicofo `ConferenceIqHandler.kt@stable/jitsi-meet_11146` reads only `context.user.id`/`group`).
///
/// Then the overrides, in this order: `room`; `expired` (`exp` = now − [`OVERRIDE_SHIFT_SECS`]);
/// `not_yet_valid` (`nbf` = now + [`OVERRIDE_SHIFT_SECS`]); every `claims` entry by dotted path, creating
/// missing objects and inserting the JSON value as given (`"true"` stays a string); every `remove` path
/// (removing something absent is not an error). A path that is empty, has an empty segment, or walks through
/// a non-object (`room.x` while `room` is a string) is [`TokenError::InvalidPath`].
pub fn claims(
    request: &TokenRequest,
    overrides: &TokenOverrides,
) -> Result<serde_json::Value, TokenError> {
    use serde_json::{json, Map, Value};

    let now = request
        .now
        .unwrap_or_else(jsonwebtoken::get_current_timestamp);
    let mut user = Map::new();
    user.insert("id".into(), json!(request.user.id));
    user.insert("name".into(), json!(request.user.name));
    if let Some(email) = &request.user.email {
        user.insert("email".into(), json!(email));
    }
    let mut context = Map::new();
    context.insert("user".into(), Value::Object(user));
    if let Some(group) = &request.group {
        context.insert("group".into(), json!(group));
    }
    if let Some(features) = &request.features {
        context.insert("features".into(), features.clone());
    }
    let mut claims = json!({
        "iss": request.app_id,
        "aud": request.audience,
        "sub": request.sub,
        "room": request.room,
        "iat": now,
        "nbf": now.saturating_sub(CLOCK_SKEW_SECS),
        "exp": now.saturating_add(request.lifetime.as_secs()),
        "context": context,
    });

    if let Some(room) = &overrides.room {
        set_path(&mut claims, "room", json!(room))?;
    }
    if overrides.expired {
        set_path(
            &mut claims,
            "exp",
            json!(now.saturating_sub(OVERRIDE_SHIFT_SECS)),
        )?;
    }
    if overrides.not_yet_valid {
        set_path(
            &mut claims,
            "nbf",
            json!(now.saturating_add(OVERRIDE_SHIFT_SECS)),
        )?;
    }
    for (path, value) in &overrides.claims {
        set_path(&mut claims, path, value.clone())?;
    }
    for path in &overrides.remove {
        remove_path(&mut claims, path)?;
    }
    Ok(claims)
}

/// Splits a dotted path into its segments, refusing empty ones (`""`, `"a..b"`, `".a"`).
fn segments(path: &str) -> Result<Vec<&str>, TokenError> {
    let segments: Vec<&str> = path.split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(TokenError::InvalidPath {
            path: path.to_owned(),
            reason: "empty segment".to_owned(),
        });
    }
    Ok(segments)
}

/// The last segment and its parents.
fn split_last<'a>(
    path: &str,
    segments: &'a [&'a str],
) -> Result<(&'a str, &'a [&'a str]), TokenError> {
    segments
        .split_last()
        .map(|(last, parents)| (*last, parents))
        .ok_or_else(|| TokenError::InvalidPath {
            path: path.to_owned(),
            reason: "empty path".to_owned(),
        })
}

/// The error for a path whose prefix `walked` is not an object.
fn not_an_object(path: &str, walked: &[&str], found: &serde_json::Value) -> TokenError {
    let kind = match found {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    };
    TokenError::InvalidPath {
        path: path.to_owned(),
        reason: format!("`{}` is {kind}, not an object", walked.join(".")),
    }
}

/// Sets `path` in `root` to `value`, creating missing intermediate objects.
fn set_path(
    root: &mut serde_json::Value,
    path: &str,
    value: serde_json::Value,
) -> Result<(), TokenError> {
    let segments = segments(path)?;
    let (last, parents) = split_last(path, &segments)?;
    let mut node = root;
    for (depth, segment) in parents.iter().enumerate() {
        let serde_json::Value::Object(map) = node else {
            return Err(not_an_object(path, &segments[..depth], node));
        };
        node = map
            .entry(*segment)
            .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
    }
    let serde_json::Value::Object(map) = node else {
        return Err(not_an_object(path, parents, node));
    };
    map.insert(last.to_owned(), value);
    Ok(())
}

/// Removes `path` from `root`; a path that is already absent is left alone.
fn remove_path(root: &mut serde_json::Value, path: &str) -> Result<(), TokenError> {
    let segments = segments(path)?;
    let (last, parents) = split_last(path, &segments)?;
    let mut node = root;
    for (depth, segment) in parents.iter().enumerate() {
        let serde_json::Value::Object(map) = node else {
            return Err(not_an_object(path, &segments[..depth], node));
        };
        match map.get_mut(*segment) {
            Some(child) => node = child,
            None => return Ok(()),
        }
    }
    let serde_json::Value::Object(map) = node else {
        return Err(not_an_object(path, parents, node));
    };
    map.remove(last);
    Ok(())
}

/// Mints the token for one participant: [`claims`] of `request` bent by `overrides`, signed as
/// `overrides.signature` says. This is the only place a token is made.
///
/// * [`Signature::Valid`]: [`SigningKey::Hs256`] signs HS256 with the app secret (Prosody's `app_secret`);
///   [`SigningKey::Rs256`] signs RS256 with header `kid`, which Prosody turns into
///   `<asap_key_server>/<sha256hex(kid)>.pem` to fetch the public key (jitsi/jitsi-meet `resources/prosody-plugins/token/util.lib.lua`). Header `typ` is `JWT`
///   either way (newer luajwtjitsi requires it).
/// * [`Signature::WrongSecret`]: HS256 with a fresh [`Secret::random`] of 32 bytes, whatever the stack's key
///   kind; an RS256 stack's `kid` is kept in the header, so only the signature (and `alg`) is wrong. The
///   random secret is dropped right away.
/// * [`Signature::None`]: header `{"alg":"none","typ":"JWT"}` and an empty signature (`header.claims.`),
///   assembled here because jsonwebtoken refuses `none`. Prosody must reject it (jitsi/jitsi-meet `resources/prosody-plugins/luajwtjitsi.lib.lua`).
///
/// Errors: [`TokenError::InvalidPath`] from the overrides; [`TokenError::InvalidKey`] when the RS256 PEM is not
/// an RSA private key (checked only when it signs, i.e. for [`Signature::Valid`]); [`TokenError::Sign`].
pub fn mint(
    key: &SigningKey,
    request: &TokenRequest,
    overrides: &TokenOverrides,
) -> Result<Token, TokenError> {
    let claims = claims(request, overrides)?;
    let jwt = match overrides.signature {
        Signature::Valid => match key {
            SigningKey::Hs256(secret) => sign_hs256(secret, None, &claims)?,
            SigningKey::Rs256 { private_pem, kid } => sign_rs256(private_pem, kid, &claims)?,
        },
        Signature::WrongSecret => {
            let kid = match key {
                SigningKey::Hs256(_) => None,
                SigningKey::Rs256 { kid, .. } => Some(kid.clone()),
            };
            sign_hs256(&Secret::random(32), kid, &claims)?
        }
        Signature::None => unsigned(&claims)?,
    };
    Ok(Token(jwt))
}

fn sign_hs256(
    secret: &Secret,
    kid: Option<String>,
    claims: &serde_json::Value,
) -> Result<String, TokenError> {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid;
    // Prosody uses the app secret's bytes as the HMAC key, as given (not base64-decoded).
    let key = EncodingKey::from_secret(secret.expose().as_bytes());
    jsonwebtoken::encode(&header, claims, &key).map_err(|source| TokenError::Sign {
        alg: "HS256",
        source,
    })
}

fn sign_rs256(
    private_pem: &Secret,
    kid: &str,
    claims: &serde_json::Value,
) -> Result<String, TokenError> {
    use jsonwebtoken::errors::ErrorKind;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let invalid_key = |source| TokenError::InvalidKey {
        kid: kid.to_owned(),
        source,
    };
    // PEM framing is checked here; whether the DER inside is an RSA *private* key only when signing.
    let key = EncodingKey::from_rsa_pem(private_pem.expose().as_bytes()).map_err(invalid_key)?;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key).map_err(|source| match source.kind() {
        ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat
        | ErrorKind::RsaFailedSigning
        | ErrorKind::Signing(_) => invalid_key(source),
        _ => TokenError::Sign {
            alg: "RS256",
            source,
        },
    })
}

/// `header.claims.` with `alg: none`: what an attacker would send; Prosody refuses `none` and an empty `alg`.
fn unsigned(claims: &serde_json::Value) -> Result<String, TokenError> {
    let header = serde_json::json!({"alg": "none", "typ": "JWT"});
    let header = serde_json::to_vec(&header).map_err(|source| TokenError::Serialize {
        part: "header",
        source,
    })?;
    let claims = serde_json::to_vec(claims).map_err(|source| TokenError::Serialize {
        part: "claims",
        source,
    })?;
    Ok(format!(
        "{}.{}.",
        base64url::encode(&header),
        base64url::encode(&claims)
    ))
}

/// A one-line summary of a token that is safe for logs and transcripts: the header's `alg` (and `kid`), then
/// `iss`, `aud`, `sub`, `room`, `exp` and `nbf` relative to `iat`, `context.user.id`, and `moderator`,
/// `affiliation` and `group` when present, e.g.
/// `HS256 iss=app aud=jitsi sub=meet.jitsi room=r1 exp=+3600s nbf=-10s user=alice`.
///
/// Never the signature, the raw token or a key. Absent claims show as `(absent)`; a string that could be read
/// as another JSON type (or is empty or has spaces) is quoted, so `moderator="true"` and `moderator=true` differ.
/// A token that cannot be decoded is described by its [`short_token`] and the reason.
pub fn describe(token: &Token) -> String {
    use std::fmt::Write;

    let (header, claims) = match decode_unverified(token.expose()) {
        Ok(parts) => parts,
        Err(e) => return format!("undecodable token {token} ({e})"),
    };
    let mut out = show(header.get("alg"));
    if let Some(kid) = header.get("kid") {
        let _ = write!(out, " kid={}", show(Some(kid)));
    }
    for name in ["iss", "aud", "sub", "room"] {
        let _ = write!(out, " {name}={}", show(claims.get(name)));
    }
    let iat = claims.get("iat").and_then(serde_json::Value::as_i64);
    for name in ["exp", "nbf"] {
        let value = claims.get(name);
        match (value.and_then(serde_json::Value::as_i64), iat) {
            (Some(at), Some(iat)) => {
                let _ = write!(out, " {name}={:+}s", at.saturating_sub(iat));
            }
            _ => {
                let _ = write!(out, " {name}={}", show(value));
            }
        }
    }
    let user = claims.get("context").and_then(|c| c.get("user"));
    let _ = write!(out, " user={}", show(user.and_then(|u| u.get("id"))));
    for name in ["moderator", "affiliation"] {
        if let Some(value) = user.and_then(|u| u.get(name)) {
            let _ = write!(out, " {name}={}", show(Some(value)));
        }
    }
    if let Some(group) = claims.get("context").and_then(|c| c.get("group")) {
        let _ = write!(out, " group={}", show(Some(group)));
    }
    out
}

/// A claim value for [`describe`]: plain strings bare, anything else as compact JSON.
fn show(value: Option<&serde_json::Value>) -> String {
    match value {
        None => "(absent)".to_owned(),
        Some(serde_json::Value::String(s))
            if !s.is_empty()
                && !s.contains(|c: char| c.is_whitespace() || c == '"')
                && serde_json::from_str::<serde_json::Value>(s).is_err() =>
        {
            s.clone()
        }
        Some(other) => other.to_string(),
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

/// Base64url without padding (RFC 4648 §5, as JWTs use it; RFC 7515 §2). jsonwebtoken keeps its codec
/// private, and an unsigned token must be assembled by hand.
mod base64url {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    pub fn encode(input: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(input)
    }

    /// `None` for a character outside the alphabet (including `=` padding) or an impossible length.
    pub fn decode(input: &str) -> Option<Vec<u8>> {
        URL_SAFE_NO_PAD.decode(input).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed minting time (2023-11-14T22:13:20Z), so claims are deterministic.
    const NOW: u64 = 1_700_000_000;

    fn request() -> TokenRequest {
        TokenRequest::new(
            "harness-app",
            "meet.jitsi",
            "r1",
            UserInfo::new("alice-id", "Alice").with_email("alice@example.org"),
        )
        .with_group("team-a")
        .with_features(serde_json::json!({"recording": true, "livestreaming": false}))
        .with_now(NOW)
    }

    fn overrides(toml_text: &str) -> TokenOverrides {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn claims_carry_the_request_and_no_moderator_flag() {
        let c = claims(&request(), &TokenOverrides::default()).unwrap();
        assert_eq!(
            c,
            serde_json::json!({
                "iss": "harness-app",
                "aud": "jitsi",
                "sub": "meet.jitsi",
                "room": "r1",
                "iat": NOW,
                "nbf": NOW - 10,
                "exp": NOW + 3600,
                "context": {
                    "user": {"id": "alice-id", "name": "Alice", "email": "alice@example.org"},
                    "group": "team-a",
                    "features": {"recording": true, "livestreaming": false},
                },
            })
        );
    }

    #[test]
    fn optional_claims_are_left_out_when_absent() {
        let bare = TokenRequest::new("app", "meet.jitsi", "r1", UserInfo::new("bob", "Bob"))
            .with_audience("other")
            .with_lifetime(Duration::from_secs(60))
            .with_now(NOW);
        let c = claims(&bare, &TokenOverrides::default()).unwrap();
        assert_eq!(c["aud"], "other");
        assert_eq!(c["exp"], NOW + 60);
        assert_eq!(
            c["context"],
            serde_json::json!({"user": {"id": "bob", "name": "Bob"}})
        );
    }

    #[test]
    fn claim_overrides_keep_their_json_type() {
        let as_string = overrides(r#"claims = { "context.user.moderator" = "true" }"#);
        let c = claims(&request(), &as_string).unwrap();
        assert_eq!(c["context"]["user"]["moderator"], serde_json::json!("true"));
        assert!(c["context"]["user"]["moderator"].is_string());

        let as_bool = overrides(r#"claims = { "context.user.moderator" = true }"#);
        let c = claims(&request(), &as_bool).unwrap();
        assert_eq!(c["context"]["user"]["moderator"], serde_json::json!(true));

        // Wrong types for Prosody-checked claims too: `exp` as a string, `room` as a number.
        let wrong = overrides(r#"claims = { exp = "soon", room = 7 }"#);
        let c = claims(&request(), &wrong).unwrap();
        assert_eq!(c["exp"], serde_json::json!("soon"));
        assert_eq!(c["room"], serde_json::json!(7));
    }

    #[test]
    fn nested_override_creates_missing_objects() {
        let o = overrides(
            r#"claims = { "context.user.affiliation" = "owner", "context.tenant.name" = "t1" }"#,
        );
        let c = claims(&request(), &o).unwrap();
        assert_eq!(c["context"]["user"]["affiliation"], "owner");
        assert_eq!(c["context"]["user"]["id"], "alice-id", "siblings are kept");
        assert_eq!(c["context"]["tenant"], serde_json::json!({"name": "t1"}));
    }

    #[test]
    fn remove_drops_claims_and_ignores_absent_ones() {
        let o = overrides(r#"remove = ["exp", "context.user", "context.nothing.here", "nope"]"#);
        let c = claims(&request(), &o).unwrap();
        assert!(c.get("exp").is_none());
        assert!(c["context"].get("user").is_none());
        assert_eq!(c["context"]["group"], "team-a");
        assert_eq!(c["room"], "r1");
    }

    #[test]
    fn expired_puts_exp_an_hour_before_now() {
        let c = claims(&request(), &overrides("expired = true")).unwrap();
        assert_eq!(c["exp"], NOW - 3600);
        assert!(c["exp"].as_u64().unwrap() < NOW);
        assert_eq!(c["nbf"], NOW - 10, "nbf untouched");
    }

    #[test]
    fn not_yet_valid_puts_nbf_an_hour_after_now() {
        let c = claims(&request(), &overrides("not_yet_valid = true")).unwrap();
        assert_eq!(c["nbf"], NOW + 3600);
        assert!(c["nbf"].as_u64().unwrap() > NOW);
        assert_eq!(c["exp"], NOW + 3600, "exp untouched");
    }

    #[test]
    fn room_override_sets_the_room_claim() {
        let c = claims(&request(), &overrides(r#"room = "*""#)).unwrap();
        assert_eq!(c["room"], "*");
    }

    #[test]
    fn overrides_apply_room_then_times_then_claims_then_remove() {
        let o = overrides(
            r#"
            room = "*"
            expired = true
            claims = { room = "from-claims", exp = 5, "context.group" = "g2" }
            remove = ["context.group"]
            "#,
        );
        let c = claims(&request(), &o).unwrap();
        assert_eq!(c["room"], "from-claims");
        assert_eq!(c["exp"], 5);
        assert!(c["context"].get("group").is_none());
    }

    #[test]
    fn path_through_a_string_is_an_error_naming_the_path() {
        let err = claims(&request(), &overrides(r#"claims = { "room.x" = 1 }"#)).unwrap_err();
        assert!(matches!(&err, TokenError::InvalidPath { path, .. } if path == "room.x"));
        assert_eq!(
            err.to_string(),
            "invalid claim path `room.x`: `room` is a string, not an object"
        );

        let err = claims(
            &request(),
            &overrides(r#"claims = { "context.user.id.first" = "a" }"#),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid claim path `context.user.id.first`: `context.user.id` is a string, not an object"
        );

        let err = claims(&request(), &overrides(r#"remove = ["iat.x.y"]"#)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid claim path `iat.x.y`: `iat` is a number, not an object"
        );

        for bad in ["", "a..b", ".room", "room."] {
            let o = TokenOverrides {
                remove: vec![bad.to_owned()],
                ..TokenOverrides::default()
            };
            let err = claims(&request(), &o).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("invalid claim path `{bad}`: empty segment")
            );
        }
    }

    // THROWAWAY TEST KEY: generated once for these unit tests with `openssl genrsa 2048` and
    // `openssl rsa -pubout`. It protects nothing and must never be used by a stack.
    const TEST_RSA_PRIVATE_PEM: &str = "\
-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDkYIh5ML8I3DOa
FwNajpIc6XWs6payJ/juPVbIiUVa6VosuONbsXymDrLhg5nXXCvM8B+AcKOqhhf6
z1SMHuIghVLMzYVXlgn9pN3SznfRpsbsbMUMwqo74kGk9s5HDMI+6jSh4dNl3C+V
zRCz6J+l2Sp4J1ddyLBqixZdLJdFuq48vyfZHdTHhYOW5XKAZHwUrGEO26AyeNth
krlHXb+DGrz+EBSkoVK20q+qpft8Ti103IzkVPEM/L36exzeNb5XIeje+dfF3ryl
/HdUHNMVahx6Ez0zo9mWm2KYtnijJgplsCA7oRoHEnpWkj0FMAh35ZfQggjJ2sBI
al84OB0PAgMBAAECggEAPzbbP9R25IBzRiE9m+jf1+HlYT40BU9cL7HJ3ktk57O0
8rEgucZIrvxdll+ji0GnnBwRVC+Zlf91Dscp63k29XKCB0+SK7rLvCpQ/mOJNf54
jIPVDWGq1lWb/woT8gW9lMWmWPLV3ZmTkF8JUws+eZ1BjK2zGLIO5wbl41eO7c0n
RX5vqpbbrvMLlqm4tMmUXjy8sPtB7RD2vxEGAm/Vj2UtMdFoeN1iP34INZC2D0XE
pbmFuqdGC0Rr3pC1+6ZRD+sxhpyn/crxx0gUOZ8wo4bM0xk800b8lYn1RTcRdFfE
gy6JpM5Mk3YrRxU1hna2xS0NbTy8obEB/WqJ1nxUYQKBgQDz548SFcZb+iMx4u0N
dnAs9L3Aw7yP4xwEb1+zKbweNELsqu6zSHSKPjZZrwYDsVmqxCnEghSEB2hHIEjz
dlqAmZxgSLQGdDEVmANQuUw3XTvbwIw2LrT/Hnom7OLbRIfB8STxfGwcN0mS+nrN
jn6UbMS2+i2bLJ6ZGkqLaSr2rwKBgQDvs9lCHCCfGRz+OihXoA91YMorKs/+vjNN
q6Y2bAMS8TL0jrs0b/9TlvRp278wau6Vpl98ph3XaYA9X8IsuyYPdNreuQc3Db5l
QP2KIJWaHyoT5/2VgGb0xEj2FQb+j4jeuKXXv4oYkIC3ljn1hNDkRXEnQJsBJlwo
GwfBctrXoQKBgDD6+n9OQiRsai71fFdsxoAwsf6JEE/w8sptN1G6et2x7xKqDP+R
+F1euvltrY6GShSCCkU9PjN5bVaDREMoLGqQ7pdjYku9f7HvchL+8zBXF9M8qqui
25Q0IaG5hqEz9PNcouef7fIIpEzQ4mJvUDosUaDRQuFbp4nlfrzaZNdfAoGAb+fC
0f5XrG8I/hcgpmfvT5k0SRrfp8ocIXK1Ukry1HEOnOXVuBFhXiDnUlRo2a3SXMMj
aQoUfHCgkgaWnFNy3VxsofY3zBf6f0LsGwRDU4ShHFH+LUGYz0Sj217NuSJBf9ks
c6DUU8uCjDLyNBEhhLB2tyCOPOcvtvmHkWSRjoECgYEAm+N5YBnwsD64J/fd9Z//
DmYvsnGd2xZM3vf2okSJRahZc96q1CC+QyGWTZJvrAObRmG7C/qR/DG0BVafUWCr
jrQnZIWGAqa0WJuIATKRtWfNUGcpafpGrUmVDRbmKg2djvsqqPZdVoSkm+OTvUHI
vx3O/y+CVNVxVWinW0eGAH0=
-----END PRIVATE KEY-----
";

    // Public half of the throwaway test key above.
    const TEST_RSA_PUBLIC_PEM: &str = "\
-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA5GCIeTC/CNwzmhcDWo6S
HOl1rOqWsif47j1WyIlFWulaLLjjW7F8pg6y4YOZ11wrzPAfgHCjqoYX+s9UjB7i
IIVSzM2FV5YJ/aTd0s530abG7GzFDMKqO+JBpPbORwzCPuo0oeHTZdwvlc0Qs+if
pdkqeCdXXciwaosWXSyXRbquPL8n2R3Ux4WDluVygGR8FKxhDtugMnjbYZK5R12/
gxq8/hAUpKFSttKvqqX7fE4tdNyM5FTxDPy9+nsc3jW+VyHo3vnXxd68pfx3VBzT
FWocehM9M6PZlptimLZ4oyYKZbAgO6EaBxJ6VpI9BTAId+WX0IIIydrASGpfODgd
DwIDAQAB
-----END PUBLIC KEY-----
";

    const APP_SECRET: &str = "test-app-secret-4f1d9c";

    fn hs256_key() -> SigningKey {
        SigningKey::Hs256(Secret::new(APP_SECRET))
    }

    fn rs256_key() -> SigningKey {
        SigningKey::Rs256 {
            private_pem: Secret::new(TEST_RSA_PRIVATE_PEM),
            kid: "harness/test-key".to_owned(),
        }
    }

    /// Checks audience `jitsi` and issuer `harness-app` and requires every time claim; `exp` itself is
    /// checked field by field instead, since the fixed [`NOW`] lies in the past.
    fn validation(alg: jsonwebtoken::Algorithm) -> jsonwebtoken::Validation {
        let mut v = jsonwebtoken::Validation::new(alg);
        v.set_audience(&["jitsi"]);
        v.set_issuer(&["harness-app"]);
        v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        v.validate_exp = false;
        v
    }

    #[track_caller]
    fn assert_request_claims(c: &serde_json::Value) {
        assert_eq!(c["iss"], "harness-app");
        assert_eq!(c["aud"], "jitsi");
        assert_eq!(c["sub"], "meet.jitsi");
        assert_eq!(c["room"], "r1");
        assert_eq!(c["iat"], NOW);
        assert_eq!(
            c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(),
            3600
        );
        assert_eq!(c["nbf"], NOW - 10);
        assert_eq!(c["context"]["user"]["id"], "alice-id");
        assert_eq!(c["context"]["user"]["name"], "Alice");
        assert_eq!(c["context"]["user"]["email"], "alice@example.org");
        assert!(c["context"]["user"].get("moderator").is_none());
        assert_eq!(c["context"]["group"], "team-a");
        assert_eq!(c["context"]["features"]["recording"], true);
        assert_eq!(c["context"]["features"]["livestreaming"], false);
    }

    #[test]
    fn hs256_token_verifies_and_carries_every_claim() {
        let token = mint(&hs256_key(), &request(), &TokenOverrides::default()).unwrap();
        let key = jsonwebtoken::DecodingKey::from_secret(APP_SECRET.as_bytes());
        let data = jsonwebtoken::decode::<serde_json::Value>(
            token.expose(),
            &key,
            &validation(jsonwebtoken::Algorithm::HS256),
        )
        .unwrap();
        assert_eq!(data.header.alg, jsonwebtoken::Algorithm::HS256);
        assert_eq!(data.header.typ.as_deref(), Some("JWT"));
        assert_eq!(data.header.kid, None);
        assert_request_claims(&data.claims);
        // decode_unverified reads the same claims.
        let (header, claims) = decode_unverified(token.expose()).unwrap();
        assert_eq!(header, serde_json::json!({"alg": "HS256", "typ": "JWT"}));
        assert_eq!(claims, data.claims);
    }

    #[test]
    fn rs256_token_has_kid_and_verifies_with_the_public_key() {
        let token = mint(&rs256_key(), &request(), &TokenOverrides::default()).unwrap();
        let (header, _) = decode_unverified(token.expose()).unwrap();
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["kid"], "harness/test-key");
        assert_eq!(header["typ"], "JWT");
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(TEST_RSA_PUBLIC_PEM.as_bytes()).unwrap();
        let data = jsonwebtoken::decode::<serde_json::Value>(
            token.expose(),
            &key,
            &validation(jsonwebtoken::Algorithm::RS256),
        )
        .unwrap();
        assert_eq!(data.header.kid.as_deref(), Some("harness/test-key"));
        assert_request_claims(&data.claims);
    }

    #[test]
    fn current_time_token_passes_full_validation_and_time_overrides_fail_it() {
        let now = TokenRequest {
            now: None,
            ..request()
        };
        let key = jsonwebtoken::DecodingKey::from_secret(APP_SECRET.as_bytes());
        let mut v = validation(jsonwebtoken::Algorithm::HS256);
        v.validate_exp = true;
        v.validate_nbf = true;
        v.leeway = 0;
        let check = |o: &str| {
            let token = mint(&hs256_key(), &now, &overrides(o)).unwrap();
            jsonwebtoken::decode::<serde_json::Value>(token.expose(), &key, &v)
                .map(|_| ())
                .map_err(|e| e.into_kind())
        };
        assert!(check("").is_ok());
        assert!(matches!(
            check("expired = true"),
            Err(jsonwebtoken::errors::ErrorKind::ExpiredSignature)
        ));
        assert!(matches!(
            check("not_yet_valid = true"),
            Err(jsonwebtoken::errors::ErrorKind::ImmatureSignature)
        ));
    }

    #[test]
    fn wrong_secret_fails_verification_with_the_real_secret() {
        let o = overrides(r#"signature = "wrong-secret""#);
        let token = mint(&hs256_key(), &request(), &o).unwrap();
        let key = jsonwebtoken::DecodingKey::from_secret(APP_SECRET.as_bytes());
        let err = jsonwebtoken::decode::<serde_json::Value>(
            token.expose(),
            &key,
            &validation(jsonwebtoken::Algorithm::HS256),
        )
        .unwrap_err();
        assert!(matches!(
            err.kind(),
            jsonwebtoken::errors::ErrorKind::InvalidSignature
        ));
        let (_, claims) = decode_unverified(token.expose()).unwrap();
        assert_request_claims(&claims);

        // An RS256 stack gets an HS256 token that keeps the kid.
        let token = mint(&rs256_key(), &request(), &o).unwrap();
        let (header, _) = decode_unverified(token.expose()).unwrap();
        assert_eq!(
            header,
            serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": "harness/test-key"})
        );
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(TEST_RSA_PUBLIC_PEM.as_bytes()).unwrap();
        assert!(jsonwebtoken::decode::<serde_json::Value>(
            token.expose(),
            &key,
            &validation(jsonwebtoken::Algorithm::RS256)
        )
        .is_err());
    }

    #[test]
    fn alg_none_token_has_an_empty_signature() {
        let o = overrides(r#"signature = "none""#);
        for key in [hs256_key(), rs256_key()] {
            let token = mint(&key, &request(), &o).unwrap();
            assert!(token.expose().ends_with('.'));
            assert_eq!(token.expose().matches('.').count(), 2);
            let (header, claims) = decode_unverified(token.expose()).unwrap();
            assert_eq!(header, serde_json::json!({"alg": "none", "typ": "JWT"}));
            assert_request_claims(&claims);
        }
    }

    #[test]
    fn describe_is_one_safe_line() {
        let token = mint(&hs256_key(), &request(), &TokenOverrides::default()).unwrap();
        assert_eq!(
            describe(&token),
            "HS256 iss=harness-app aud=jitsi sub=meet.jitsi room=r1 exp=+3600s nbf=-10s \
             user=alice-id group=team-a"
        );
        let o = overrides(
            r#"
            expired = true
            room = "*"
            claims = { "context.user.moderator" = "true", "context.user.affiliation" = "owner" }
            remove = ["iss"]
            signature = "none"
            "#,
        );
        let token = mint(&rs256_key(), &request(), &o).unwrap();
        assert_eq!(
            describe(&token),
            "none iss=(absent) aud=jitsi sub=meet.jitsi room=* exp=-3600s nbf=-10s user=alice-id \
             moderator=\"true\" affiliation=owner group=team-a"
        );
        let o = overrides(r#"claims = { "context.user.moderator" = true, iat = "x" }"#);
        let token = mint(&rs256_key(), &request(), &o).unwrap();
        assert_eq!(
            describe(&token),
            format!(
                "RS256 kid=harness/test-key iss=harness-app aud=jitsi sub=meet.jitsi room=r1 \
                 exp={} nbf={} user=alice-id moderator=true group=team-a",
                NOW + 3600,
                NOW - 10
            )
        );
        let garbage = Token::new("not-a-jwt-at-all");
        assert_eq!(
            describe(&garbage),
            "undecodable token not-a-…(16 bytes) (cannot decode the token: expected 3 \
             dot-separated parts, found 1)"
        );
    }

    #[test]
    fn tokens_and_secrets_never_print() {
        let signatures = ["valid", "wrong-secret", "none"];
        for key in [hs256_key(), rs256_key()] {
            for signature in signatures {
                let o = overrides(&format!("signature = \"{signature}\""));
                let token = mint(&key, &request(), &o).unwrap();
                let raw = token.expose();
                let printed = [
                    format!("{token}"),
                    format!("{token:?}"),
                    serde_json::to_string(&token).unwrap(),
                    describe(&token),
                    format!("{key:?}"),
                ];
                // The signing input (header.claims) is as revealing as the whole token.
                let signing_input = &raw[..raw.rfind('.').unwrap()];
                for p in &printed {
                    assert!(!p.contains(signing_input), "{signature}: {p}");
                    assert!(!p.contains(APP_SECRET), "{signature}: {p}");
                    assert!(!p.contains("BEGIN"), "{signature}: {p}");
                    assert!(
                        !p.contains(&TEST_RSA_PRIVATE_PEM[28..60]),
                        "{signature}: {p}"
                    );
                    if let Some(sig) = raw.rsplit('.').next().filter(|s| !s.is_empty()) {
                        assert!(!p.contains(sig), "{signature}: {p}");
                    }
                }
            }
        }
    }

    #[test]
    fn bad_rs256_pem_error_never_shows_the_key() {
        let body = &TEST_RSA_PRIVATE_PEM[28..92];
        let bad_keys = [
            // Not PEM at all.
            format!("not a pem {body}"),
            // PEM framing around a corrupted body.
            format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"),
            // A valid RSA PEM, but the public half.
            TEST_RSA_PUBLIC_PEM.to_owned(),
        ];
        for pem in bad_keys {
            let key = SigningKey::Rs256 {
                private_pem: Secret::new(pem.clone()),
                kid: "k1".to_owned(),
            };
            let err = mint(&key, &request(), &TokenOverrides::default()).unwrap_err();
            assert!(
                matches!(&err, TokenError::InvalidKey { kid, .. } if kid == "k1"),
                "{err:?}"
            );
            assert_eq!(
                err.to_string(),
                "the RS256 signing key (kid `k1`) is not a valid RSA PEM private key"
            );
            let mut chain = format!("{err} {err:?}");
            let mut source = std::error::Error::source(&err);
            while let Some(s) = source {
                chain.push_str(&format!(" {s} {s:?}"));
                source = s.source();
            }
            for line in pem
                .lines()
                .filter(|l| l.len() > 8 && !l.starts_with("-----"))
            {
                assert!(!chain.contains(line), "{chain}");
            }
            assert!(!chain.contains(body), "{chain}");
        }
    }

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
