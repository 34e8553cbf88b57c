//! [`Endpoints`]: everything participants need to reach a running stack. A leaf: every backend
//! produces one, and participants are built from one; it knows neither side.

use serde::Serialize;

use crate::token::SigningKey;
use crate::versions::{self, Facts, Release};

/// What participants must know about the stack's release to join the way that release's own web client
/// does. Each backend fills it: the fixture behaves like the newest known release, `jitsi:` takes it from
/// the release's [`Facts`], `external:` from its file (or the newest known release).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ClientFacts {
    /// The client sends its JWT as `token` on the focus `<conference/>` request
    /// ([`Facts::focus_iq_token`]: jitsi/lib-jitsi-meet 1d19d5e7, first in docker-jitsi-meet stable-10314).
    pub focus_iq_token: bool,
}

impl ClientFacts {
    /// The client of a release with these facts.
    pub fn of(facts: &Facts) -> Self {
        ClientFacts {
            focus_iq_token: facts.focus_iq_token,
        }
    }

    /// The client of the newest known release (what `stable` is taken to be).
    pub fn newest() -> Self {
        Self::of(&versions::facts(&Release::LatestStable))
    }
}

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
    /// How the release's own client joins (what bots imitate).
    pub client: ClientFacts,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_sends_the_token_from_the_release_that_does() {
        let of = |tag: &str| ClientFacts::of(&tag.parse::<Release>().unwrap().facts());
        assert!(!of("stable-10184").focus_iq_token);
        assert!(of("stable-10314").focus_iq_token);
        assert!(ClientFacts::newest().focus_iq_token);
    }
}
