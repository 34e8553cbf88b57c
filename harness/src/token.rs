//! Jitsi JWTs (HS256 with the app secret; RS256 with a `kid`, ASAP style). Tokens and keys never print.

use crate::redact::Secret;

/// The key tokens are signed with.
#[derive(Clone, Debug, serde::Serialize)]
pub enum SigningKey {
    /// HS256 with the app secret (docker-jitsi-meet `JWT_APP_SECRET`).
    Hs256(Secret),
    /// RS256 with a PEM private key; `kid` names the public key Prosody fetches from its key server.
    Rs256 { private_pem: Secret, kid: String },
}
