//! [`Endpoints`]: everything participants need to reach a running stack. A leaf: every backend
//! produces one, and participants are built from one; it knows neither side.

use serde::Serialize;

use crate::token::SigningKey;

/// Everything participants need to reach a running stack.
#[derive(Clone, Debug, Serialize)]
pub struct Endpoints {
    /// WebSocket URL without query, e.g. `ws://127.0.0.1:32768/xmpp-websocket`.
    pub websocket: String,
    /// BOSH URL without query.
    pub bosh: String,
    /// The main (token) XMPP domain, e.g. `meet.jitsi`.
    pub domain: String,
    /// The MUC domain, e.g. `muc.meet.jitsi`.
    pub muc_domain: String,
    /// Where the focus conference request goes, e.g. `focus.meet.jitsi`.
    pub focus_domain: String,
    /// The anonymous guest domain, when the variant has guests.
    pub guest_domain: Option<String>,
    /// JWT `iss` the stack accepts by default (docker-jitsi-meet `JWT_APP_ID`).
    pub app_id: String,
    /// Key that signs valid tokens for this stack (never printed).
    pub signing: SigningKey,
    /// Base URL a browser opens rooms under (jitsi-meet web, or the fixture's page server).
    pub web: Option<String>,
    /// jicofo's REST base URL (`/debug/conference/<room>`), when reachable.
    pub jicofo_rest: Option<String>,
    /// Accept self-signed TLS certificates (docker-jitsi-meet generates one).
    pub insecure_tls: bool,
}
