//! Jitsi JWTs (HS256 with the app secret; RS256 with a `kid`, ASAP style). Tokens and keys never print.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::redact::Secret;

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
