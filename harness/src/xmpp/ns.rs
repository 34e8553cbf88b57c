//! XML namespaces used by the harness, in one place.

/// Jitsi's focus (jicofo) protocol: the `<conference/>` request (lib-jitsi-meet modules/xmpp/moderator.js).
pub const FOCUS: &str = "http://jitsi.org/protocol/focus";
/// XEP-0045 admin use cases (affiliation and role changes, as jicofo's grantOwnership sends).
pub const MUC_ADMIN: &str = "http://jabber.org/protocol/muc#admin";
/// RFC 7395 framing.
pub const FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";
/// Client stanzas on the wire.
pub const JABBER_CLIENT: &str = "jabber:client";
/// XEP-0166 Jingle.
pub const JINGLE: &str = "urn:xmpp:jingle:1";
/// XEP-0030 disco#info.
pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
/// XEP-0199 ping.
pub const PING: &str = "urn:xmpp:ping";
/// RFC 6120 SASL.
pub const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
/// RFC 6120 stanza errors.
pub const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
/// XEP-0172 user nickname: the display name lib-jitsi-meet puts in presence (`JitsiConference.setDisplayName`).
pub const NICK: &str = "http://jabber.org/protocol/nick";
/// XEP-0045 `muc#user` (status codes, invites, destroy).
pub const MUC_USER: &str = "http://jabber.org/protocol/muc#user";
/// XEP-0045 `muc#owner` (room configuration).
pub const MUC_OWNER: &str = "http://jabber.org/protocol/muc#owner";
/// XEP-0004 data forms.
pub const DATA_FORMS: &str = "jabber:x:data";
/// Jitsi's own namespace (`<lobbyroom/>`, `<waiting-for-host/>` in jitsi-meet's lobby errors).
pub const JITMEET: &str = "http://jitsi.org/jitmeet";
