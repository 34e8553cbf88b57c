//! The focus `<conference xmlns='http://jitsi.org/protocol/focus'/>` element, in both directions.
//!
//! Request (client → focus): `room`, `machine-uid` (mandatory when jicofo authentication is on), the
//! client's JWT as `token` (jitsi/lib-jitsi-meet 1d19d5e7 `modules/xmpp/moderator.js`, first in
//! docker-jitsi-meet stable-10314; jicofo reads it from `stable/jitsi-meet_10314`,
//! `ConferenceIqHandler.kt`), optional properties. Answer (focus → client): `room`, `ready`, `focusjid`, and with authentication `session-id`
//! and `identity`. Sources: jitsi/jitsi-xmpp-extensions `ConferenceIq.java`, jitsi/jicofo
//! `ConferenceIqHandler.kt` @7ebb13dc.

use xmpp_parsers::iq::{IqResultPayload, IqSetPayload};
use xso::{AsXml, FromXml};

use super::ns;

/// `<conference/>`; one type for the request and the answer.
#[derive(FromXml, AsXml, Clone, PartialEq, Eq)]
#[xml(namespace = ns::FOCUS, name = "conference")]
pub struct Conference {
    /// The room's bare JID, `room@muc.domain`.
    #[xml(attribute)]
    pub room: String,
    /// A stable per-client id; jicofo requires it when it creates an authentication session.
    #[xml(attribute(name = "machine-uid", default))]
    pub machine_uid: Option<String>,
    /// Request: the client's JWT (never printed: [`Conference`]'s `Debug` shortens it).
    #[xml(attribute(default))]
    pub token: Option<String>,
    /// Answer: whether the focus is in the room and the client may join (`"true"`/`"false"`).
    #[xml(attribute(default))]
    pub ready: Option<String>,
    /// Answer: the focus's real JID (clients hide the occupant with this JID).
    #[xml(attribute(default))]
    pub focusjid: Option<String>,
    /// Answer with authentication on: the authentication session.
    #[xml(attribute(name = "session-id", default))]
    pub session_id: Option<String>,
    /// Answer with authentication on: the authenticated bare JID.
    #[xml(attribute(default))]
    pub identity: Option<String>,
    /// `<property name='…' value='…'/>` children.
    #[xml(child(n = ..))]
    pub properties: Vec<Property>,
}

/// `<property name value/>` inside `<conference/>`.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Eq)]
#[xml(namespace = ns::FOCUS, name = "property")]
pub struct Property {
    /// The property's name (e.g. `authentication`).
    #[xml(attribute)]
    pub name: String,
    /// Its value, as a string.
    #[xml(attribute)]
    pub value: String,
}

impl std::fmt::Debug for Conference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conference")
            .field("room", &self.room)
            .field("machine_uid", &self.machine_uid)
            .field(
                "token",
                &self.token.as_deref().map(crate::redact::short_token),
            )
            .field("ready", &self.ready)
            .field("focusjid", &self.focusjid)
            .field("session_id", &self.session_id)
            .field("identity", &self.identity)
            .field("properties", &self.properties)
            .finish()
    }
}

impl IqSetPayload for Conference {}
impl IqResultPayload for Conference {}

impl Conference {
    /// The request a client sends. No `visitors-version` property: a client that does not announce
    /// visitor support is not redirected to a visitor node, and a bot must never be.
    pub fn request(room: impl Into<String>, machine_uid: impl Into<String>) -> Self {
        Conference {
            room: room.into(),
            machine_uid: Some(machine_uid.into()),
            token: None,
            ready: None,
            focusjid: None,
            session_id: None,
            identity: None,
            properties: Vec::new(),
        }
    }

    /// The focus's answer.
    pub fn answer(room: impl Into<String>, ready: bool, focusjid: impl Into<String>) -> Self {
        Conference {
            room: room.into(),
            machine_uid: None,
            token: None,
            ready: Some(ready.to_string()),
            focusjid: Some(focusjid.into()),
            session_id: None,
            identity: None,
            properties: Vec::new(),
        }
    }

    /// Carries the client's JWT as lib-jitsi-meet does since 1d19d5e7.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Adds a `<property/>`.
    pub fn with_property(mut self, name: &str, value: &str) -> Self {
        self.properties.push(Property {
            name: name.to_owned(),
            value: value.to_owned(),
        });
        self
    }

    /// `ready='true'` (jicofo also accepts no other truthy spelling).
    pub fn is_ready(&self) -> bool {
        self.ready.as_deref() == Some("true")
    }

    /// A property's value.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minidom::Element;

    #[test]
    fn request_round_trips() {
        let req =
            Conference::request("r1@muc.meet.jitsi", "m-1").with_property("startAudioMuted", "9");
        let el = Element::from(req.clone());
        assert_eq!(el.name(), "conference");
        assert_eq!(el.ns(), ns::FOCUS);
        assert_eq!(el.attr("machine-uid"), Some("m-1"));
        assert_eq!(Conference::try_from(el).unwrap(), req);
    }

    #[test]
    fn the_token_attribute_round_trips_and_never_prints() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtZWV0LmppdHNpIn0.c2lnbmF0dXJlc2lnbmF0dXJl";
        let req = Conference::request("r1@muc.meet.jitsi", "m-1").with_token(jwt);
        let el = Element::from(req.clone());
        assert_eq!(el.attr("token"), Some(jwt));
        assert_eq!(Conference::try_from(el).unwrap(), req);
        let shown = format!("{req:?}");
        assert!(!shown.contains(jwt), "{shown}");
        // lib-jitsi-meet's current request, as jicofo receives it.
        let xml = format!(
            "<conference xmlns='http://jitsi.org/protocol/focus' machine-uid='m' room='r@muc.meet.jitsi' \
             token='{jwt}'><property name='rtcstatsEnabled' value='false'/></conference>"
        );
        let c = Conference::try_from(xml.parse::<Element>().unwrap()).unwrap();
        assert_eq!(c.token.as_deref(), Some(jwt));
    }

    #[test]
    fn parses_a_jicofo_style_answer() {
        // Shape of jicofo's answer (ConferenceIq.java): attributes in any order, properties as children.
        let xml = "<conference xmlns='http://jitsi.org/protocol/focus' ready='true' \
                   focusjid='focus@auth.meet.jitsi' room='r1@muc.meet.jitsi' session-id='s1' \
                   identity='u@meet.jitsi'><property name='authentication' value='true'/>\
                   <property name='externalAuth' value='true'/></conference>";
        let c = Conference::try_from(xml.parse::<Element>().unwrap()).unwrap();
        assert!(c.is_ready());
        assert_eq!(c.focusjid.as_deref(), Some("focus@auth.meet.jitsi"));
        assert_eq!(c.session_id.as_deref(), Some("s1"));
        assert_eq!(c.property("externalAuth"), Some("true"));
        let not_ready =
            "<conference xmlns='http://jitsi.org/protocol/focus' room='r' ready='false'/>";
        assert!(!Conference::try_from(not_ready.parse::<Element>().unwrap())
            .unwrap()
            .is_ready());
    }
}
