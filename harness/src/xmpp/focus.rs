//! The focus `<conference xmlns='http://jitsi.org/protocol/focus'/>` element, in both directions.
//!
//! Request (client → focus): `room`, `machine-uid` (mandatory when jicofo authentication is on), optional
//! properties. Answer (focus → client): `room`, `ready`, `focusjid`, and with authentication `session-id`
//! and `identity`. Sources: jitsi/jitsi-xmpp-extensions `ConferenceIq.java`, jitsi/jicofo
//! `ConferenceIqHandler.kt` @7ebb13dc.

use xmpp_parsers::iq::{IqResultPayload, IqSetPayload};
use xso::{AsXml, FromXml};

use super::ns;

/// `<conference/>`; one type for the request and the answer.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Eq)]
#[xml(namespace = ns::FOCUS, name = "conference")]
pub struct Conference {
    /// The room's bare JID, `room@muc.domain`.
    #[xml(attribute)]
    pub room: String,
    /// A stable per-client id; jicofo requires it when it creates an authentication session.
    #[xml(attribute(name = "machine-uid", default))]
    pub machine_uid: Option<String>,
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
    #[xml(attribute)]
    pub name: String,
    #[xml(attribute)]
    pub value: String,
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
            ready: Some(ready.to_string()),
            focusjid: Some(focusjid.into()),
            session_id: None,
            identity: None,
            properties: Vec::new(),
        }
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
