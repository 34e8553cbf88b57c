//! MUC occupants as presence announces them, a live roster, and the muc#admin query.
//!
//! Prosody broadcasts each occupant as `<x xmlns='http://jabber.org/protocol/muc#user'><item
//! affiliation=… role=… jid=…/><status code=…/></x>`; status 110 marks one's own presence, 201 a room
//! just created, 307 a kick (XEP-0045, "Status Codes" registry). Attribute order differs between Prosody
//! 0.12 and 13, so everything here works on parsed values, never on strings.
//!
//! Bots see every occupant's every presence: a room of n bots is n² presences. So presences from a
//! WebSocket are parsed straight from their bytes into [`WirePresence`] (xso, no intermediate tree), and
//! rosters share one copy of each nick and JID per room ([`Interner`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use minidom::Element;
use serde::Serialize;
use xmpp_parsers::iq::{IqResultPayload, IqSetPayload};
use xmpp_parsers::jid::BareJid;
use xmpp_parsers::muc::user::{self as wire, MucUser, Status};
use xmpp_parsers::presence::{Presence, Type as PresenceType};
use xso::{AsXml, FromXml};

use super::ns;
use super::role::{Affiliation, Role};

/// One occupant as last announced. Strings are shared ([`Interner`]): hundreds of bots in one room hold
/// the same nicks and JIDs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Occupant {
    /// The occupant's nick (resource of its occupant JID).
    pub nick: Arc<str>,
    /// The occupant's affiliation (owner, member, none, …).
    pub affiliation: Affiliation,
    /// The occupant's role (moderator, participant, visitor).
    pub role: Role,
    /// The real full JID, when the room shows it (Jitsi rooms are `whois=anyone`).
    pub jid: Option<Arc<str>>,
    /// The display name the occupant presents (XEP-0172 `<nick xmlns='http://jabber.org/protocol/nick'>`
    /// in its presence, as lib-jitsi-meet's `setDisplayName` sends it), when it sends one.
    pub display_name: Option<Arc<str>>,
}

type Strings = Mutex<HashSet<Arc<str>>>;

/// One shared copy of each string per room, held by every roster of that room; gone with the last.
#[derive(Clone, Debug, Default)]
pub struct Interner(Arc<Strings>);

impl Interner {
    /// The interner of `room`, shared by every caller in this process while any holds it.
    pub fn for_room(room: &BareJid) -> Interner {
        static ROOMS: OnceLock<Mutex<HashMap<String, Weak<Strings>>>> = OnceLock::new();
        let rooms = ROOMS.get_or_init(Default::default);
        let Ok(mut rooms) = rooms.lock() else {
            return Interner::default();
        };
        if let Some(shared) = rooms.get(room.as_str()).and_then(Weak::upgrade) {
            return Interner(shared);
        }
        rooms.retain(|_, w| w.strong_count() > 0);
        let interner = Interner::default();
        rooms.insert(room.as_str().to_owned(), Arc::downgrade(&interner.0));
        interner
    }

    /// The shared copy of `s`.
    pub fn intern(&self, s: &str) -> Arc<str> {
        match self.0.lock() {
            Ok(mut set) => match set.get(s) {
                Some(shared) => shared.clone(),
                None => {
                    let shared: Arc<str> = Arc::from(s);
                    set.insert(shared.clone());
                    shared
                }
            },
            Err(_) => Arc::from(s),
        }
    }
}

/// A `<presence/>` as it arrives on a WebSocket (`jabber:client`), parsed straight from its bytes.
#[derive(FromXml, Debug)]
#[xml(namespace = ns::JABBER_CLIENT, name = "presence", on_unknown_child = Discard, on_unknown_attribute = Discard)]
pub struct WirePresence {
    /// The sender, an occupant JID (`room@muc/nick`).
    #[xml(attribute(default))]
    pub from: Option<String>,
    /// The presence type (`unavailable`, `error`); `None` for available.
    #[xml(attribute(default, name = "type"))]
    pub type_: Option<String>,
    /// The `muc#user` payload, when there is one.
    #[xml(child(default))]
    pub x: Option<WireMucUser>,
    /// The error, for `type='error'`.
    #[xml(child(default))]
    pub error: Option<WireError>,
    /// The XEP-0172 display name, when sent.
    #[xml(child(default))]
    pub nick: Option<WireNick>,
}

/// XEP-0172 `<nick xmlns='http://jabber.org/protocol/nick'>NAME</nick>`: the display name in a presence.
#[derive(FromXml, Debug)]
#[xml(namespace = ns::NICK, name = "nick", on_unknown_attribute = Discard)]
pub struct WireNick {
    /// The display name.
    #[xml(text)]
    pub name: String,
}

/// The `muc#user` payload of a wire presence; the real JID stays a string until someone needs it.
#[derive(FromXml, Debug)]
#[xml(namespace = xmpp_parsers::ns::MUC_USER, name = "x", on_unknown_child = Discard, on_unknown_attribute = Discard)]
pub struct WireMucUser {
    /// The status codes (110 self, 201 created, 307 kicked, …).
    #[xml(child(n = ..))]
    pub status: Vec<Status>,
    /// The occupant's items (one in practice).
    #[xml(child(n = ..))]
    pub items: Vec<WireItem>,
}

/// One `<item/>` of a wire `muc#user` payload.
#[derive(FromXml, Debug)]
#[xml(namespace = xmpp_parsers::ns::MUC_USER, name = "item", on_unknown_child = Discard, on_unknown_attribute = Discard)]
pub struct WireItem {
    /// The occupant's affiliation.
    #[xml(attribute)]
    pub affiliation: wire::Affiliation,
    /// The occupant's role.
    #[xml(attribute)]
    pub role: wire::Role,
    /// The occupant's real JID, when the room shows it.
    #[xml(attribute(default))]
    pub jid: Option<String>,
    /// Who made the change this presence announces (XEP-0045 §9.3 `<actor/>`; Prosody adds it when the
    /// actor is an occupant of the room).
    #[xml(child(default))]
    pub actor: Option<WireActor>,
}

/// `<actor nick='…' jid='…'/>` in a muc#user item: the occupant who changed an affiliation or role.
#[derive(FromXml, Debug)]
#[xml(namespace = xmpp_parsers::ns::MUC_USER, name = "actor", on_unknown_attribute = Discard)]
pub struct WireActor {
    /// The actor's nick in the room.
    #[xml(attribute(default))]
    pub nick: Option<String>,
    /// The actor's real JID (sent to moderators).
    #[xml(attribute(default))]
    pub jid: Option<String>,
}

/// The `<error/>` of a wire presence, its children kept as elements.
#[derive(FromXml, Debug)]
#[xml(namespace = ns::JABBER_CLIENT, name = "error", on_unknown_attribute = Discard)]
pub struct WireError {
    /// The condition element and the optional `<text/>`.
    #[xml(element(n = ..))]
    pub children: Vec<Element>,
}

impl Occupant {
    /// Role `moderator` (what Jitsi's UI and `isModerator()` show).
    pub fn is_moderator(&self) -> bool {
        self.role == Role::Moderator
    }

    /// Affiliation `owner` (what jicofo grants).
    pub fn is_owner(&self) -> bool {
        self.affiliation == Affiliation::Owner
    }
}

/// What one presence from a room says.
#[derive(Debug, Clone, PartialEq)]
pub enum OccupantEvent {
    /// An occupant is (still) present, maybe with a new affiliation or role.
    Available {
        /// The occupant as announced.
        occupant: Occupant,
        /// Status 110: this is our own presence.
        is_self: bool,
        /// Status 201: the room was created by this join.
        created: bool,
        /// The nick (else the real JID) of the `<actor/>` who caused this presence, when it names one.
        actor: Option<String>,
    },
    /// An occupant left (or was kicked).
    Unavailable {
        /// The nick that left.
        nick: String,
        /// Status 110: we left (or were kicked).
        is_self: bool,
        /// Status 307.
        kicked: bool,
    },
    /// The room refused a join or a change: `<presence type='error'>`.
    Error {
        /// The nick the error concerns.
        nick: String,
        /// The defined condition, e.g. `not-allowed`, `registration-required`.
        condition: String,
        /// The error's text, when the server sent one.
        text: Option<String>,
    },
}

/// Interprets a typed presence from `room` (the focus's path); `None` if it is not from that room or
/// carries no occupant data.
pub fn occupant_event(presence: &Presence, room: &BareJid) -> Option<OccupantEvent> {
    let from = presence.from.as_ref()?;
    let nick = nick_in(from.as_str(), room.as_str())?;
    match presence.type_ {
        PresenceType::Error => {
            let (condition, text) = presence
                .payloads
                .iter()
                .find(|p| p.name() == "error")
                .map(error_condition)
                .unwrap_or_default();
            Some(OccupantEvent::Error {
                nick,
                condition,
                text,
            })
        }
        PresenceType::None | PresenceType::Unavailable => {
            let user = presence
                .payloads
                .iter()
                .find(|p| p.is("x", xmpp_parsers::ns::MUC_USER))
                .and_then(|el| MucUser::try_from(el.clone()).ok())?;
            let item = user.items.into_iter().next();
            let status = user.status;
            let display_name = presence
                .payloads
                .iter()
                .find(|p| p.is("nick", ns::NICK))
                .map(|p| p.text());
            user_event(
                &nick,
                presence.type_ == PresenceType::Unavailable,
                &status,
                item.map(|i| (i.affiliation, i.role, i.jid.map(|j| j.to_string()))),
                display_name.as_deref(),
                |s| Arc::from(s),
                None,
            )
        }
        _ => None,
    }
}

/// Interprets a presence frame from a WebSocket without building a tree (the bots' hot path).
/// `None`: not from `room`, no occupant data, or not parsable.
pub fn occupant_event_wire(
    frame: &str,
    room: &BareJid,
    interner: &Interner,
) -> Option<OccupantEvent> {
    let presence: WirePresence = xso::from_bytes(frame.as_bytes()).ok()?;
    let nick = nick_in(presence.from.as_deref()?, room.as_str())?;
    match presence.type_.as_deref() {
        Some("error") => {
            let (condition, text) = presence
                .error
                .map(|e| condition_of(e.children.iter()))
                .unwrap_or_default();
            Some(OccupantEvent::Error {
                nick,
                condition,
                text,
            })
        }
        type_ @ (None | Some("unavailable")) => {
            let user = presence.x?;
            let item = user.items.into_iter().next();
            let actor = item
                .as_ref()
                .and_then(|i| i.actor.as_ref())
                .and_then(|a| a.nick.clone().or_else(|| a.jid.clone()));
            user_event(
                &nick,
                type_.is_some(),
                &user.status,
                item.map(|i| (i.affiliation, i.role, i.jid)),
                presence.nick.as_ref().map(|n| n.name.as_str()),
                |s| interner.intern(s),
                actor,
            )
        }
        _ => None,
    }
}

/// The nick of an occupant JID `room/nick`.
fn nick_in(from: &str, room: &str) -> Option<String> {
    let nick = from.strip_prefix(room)?.strip_prefix('/')?;
    (!nick.is_empty()).then(|| nick.to_owned())
}

fn user_event(
    nick: &str,
    unavailable: bool,
    status: &[Status],
    item: Option<(wire::Affiliation, wire::Role, Option<String>)>,
    display_name: Option<&str>,
    intern: impl Fn(&str) -> Arc<str>,
    actor: Option<String>,
) -> Option<OccupantEvent> {
    let is_self = status.contains(&Status::SelfPresence);
    if unavailable {
        return Some(OccupantEvent::Unavailable {
            nick: nick.to_owned(),
            is_self,
            kicked: status.contains(&Status::Kicked),
        });
    }
    let (affiliation, role, jid) = item?;
    Some(OccupantEvent::Available {
        occupant: Occupant {
            nick: intern(nick),
            affiliation: affiliation.into(),
            role: role.into(),
            jid: jid.as_deref().map(&intern),
            // lib-jitsi-meet removes the element for an empty name (JitsiConference.setDisplayName).
            display_name: display_name.filter(|n| !n.is_empty()).map(&intern),
        },
        is_self,
        created: status.contains(&Status::RoomHasBeenCreated),
        actor,
    })
}

/// The defined condition and text of an `<error/>` element.
pub fn error_condition(error: &Element) -> (String, Option<String>) {
    condition_of(error.children())
}

/// The defined condition and text among an error's children.
pub fn condition_of<'a>(children: impl Iterator<Item = &'a Element>) -> (String, Option<String>) {
    let mut condition = String::from("undefined-condition");
    let mut text = None;
    for child in children {
        if child.ns() != ns::STANZAS {
            continue;
        }
        if child.name() == "text" {
            text = Some(child.text());
        } else {
            condition = child.name().to_owned();
        }
    }
    (condition, text)
}

/// The room as one occupant sees it, kept up to date from presences.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Roster {
    /// Occupants by nick, including oneself once joined.
    pub occupants: BTreeMap<Arc<str>, Occupant>,
    /// Our own nick, once our self-presence arrived.
    pub own_nick: Option<String>,
    /// The focus's real bare JID (from the conference answer): its occupant is not a participant.
    pub focus_jid: Option<String>,
}

impl Roster {
    /// Applies one event; returns whether the roster changed.
    pub fn apply(&mut self, event: OccupantEvent) -> bool {
        match event {
            OccupantEvent::Available {
                occupant, is_self, ..
            } => {
                if is_self {
                    self.own_nick = Some(occupant.nick.to_string());
                }
                match self.occupants.get_mut(&occupant.nick) {
                    Some(known) if *known == occupant => false,
                    Some(known) => {
                        *known = occupant;
                        true
                    }
                    None => {
                        self.occupants.insert(occupant.nick.clone(), occupant);
                        true
                    }
                }
            }
            OccupantEvent::Unavailable { nick, is_self, .. } => {
                if is_self {
                    self.own_nick = None;
                    let had = !self.occupants.is_empty();
                    self.occupants.clear();
                    return had;
                }
                self.occupants.remove(nick.as_str()).is_some()
            }
            OccupantEvent::Error { .. } => false,
        }
    }

    /// Our own occupant, once joined.
    pub fn me(&self) -> Option<&Occupant> {
        self.own_nick.as_deref().and_then(|n| self.occupants.get(n))
    }

    /// Whether this occupant is the focus (jicofo): its real JID's bare part is the focus JID, or, when the
    /// JID is hidden, its nick is jicofo's default `focus`.
    pub fn is_focus(&self, occupant: &Occupant) -> bool {
        match (&occupant.jid, &self.focus_jid) {
            (Some(jid), Some(focus)) => jid.split('/').next() == Some(focus.as_str()),
            _ => &*occupant.nick == "focus",
        }
    }

    /// Participants (everyone but the focus), by nick.
    pub fn participants(&self) -> impl Iterator<Item = &Occupant> {
        self.occupants.values().filter(|o| !self.is_focus(o))
    }

    /// The occupant a scenario calls `who`: the one with that nick, else the one whose display name it is
    /// (bots join with lib-jitsi-meet's nick and present their scenario name as display name).
    pub fn find(&self, who: &str) -> Option<&Occupant> {
        self.occupants.get(who).or_else(|| {
            self.occupants
                .values()
                .find(|o| o.display_name.as_deref() == Some(who))
        })
    }

    /// The bare real JID of the occupant `nick`, when the room shows it.
    pub fn bare_jid(&self, nick: &str) -> Option<BareJid> {
        let jid = self.occupants.get(nick)?.jid.as_deref()?;
        BareJid::new(jid.split('/').next()?).ok()
    }
}

/// `<query xmlns='http://jabber.org/protocol/muc#admin'>`: jicofo grants owner with one item
/// `affiliation='owner' jid='BARE_JID'` (ChatRoomImpl.kt grantOwnership @7ebb13dc); a kick is
/// `role='none' nick='…'` (XEP-0045 §8.2).
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Eq)]
#[xml(namespace = ns::MUC_ADMIN, name = "query")]
pub struct MucAdmin {
    /// The items: one per grant or kick.
    #[xml(child(n = ..))]
    pub items: Vec<AdminItem>,
}

/// One `<item/>` of a muc#admin query.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Eq)]
#[xml(namespace = ns::MUC_ADMIN, name = "item")]
pub struct AdminItem {
    /// The affiliation to set (e.g. `owner`).
    #[xml(attribute(default))]
    pub affiliation: Option<String>,
    /// The role to set (e.g. `none` to kick).
    #[xml(attribute(default))]
    pub role: Option<String>,
    /// The bare JID the affiliation is for.
    #[xml(attribute(default))]
    pub jid: Option<String>,
    /// The nick the role is for.
    #[xml(attribute(default))]
    pub nick: Option<String>,
}

impl IqSetPayload for MucAdmin {}
impl IqResultPayload for MucAdmin {}

impl MucAdmin {
    /// Make the user with this bare JID owner.
    pub fn grant_owner(bare_jid: &BareJid) -> Self {
        MucAdmin {
            items: vec![AdminItem {
                affiliation: Some(Affiliation::Owner.as_str().into()),
                role: None,
                jid: Some(bare_jid.to_string()),
                nick: None,
            }],
        }
    }

    /// Kick the occupant with this nick.
    pub fn kick(nick: &str) -> Self {
        MucAdmin {
            items: vec![AdminItem {
                affiliation: None,
                role: Some(Role::None.as_str().into()),
                jid: None,
                nick: Some(nick.to_owned()),
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xmpp::stanza::from_wire;

    fn presence(xml: &str) -> Presence {
        Presence::try_from(from_wire(xml.parse::<Element>().unwrap())).unwrap()
    }

    fn room() -> BareJid {
        BareJid::new("r1@muc.meet.jitsi").unwrap()
    }

    // Self-presence of the creator as Prosody 0.12.3 sends it (env-feasibility.md §3, occupant-id trimmed).
    const P012_SELF: &str = "<presence xmlns='jabber:client' from='r1@muc.meet.jitsi/alice' \
        to='a@meet.jitsi/r'><x xmlns='http://jabber.org/protocol/muc#user'><status code='201'/>\
        <item jid='a@meet.jitsi/r' role='moderator' affiliation='owner'/><status code='110'/></x>\
        <occupant-id xmlns='urn:xmpp:occupant-id:0' id='x'/></presence>";
    // The same presence as Prosody 13.0.1 orders it.
    const P13_SELF: &str = "<presence xmlns='jabber:client' to='a@meet.jitsi/r' \
        from='r1@muc.meet.jitsi/alice'><x xmlns='http://jabber.org/protocol/muc#user'>\
        <status code='201'/><item affiliation='owner' role='moderator' jid='a@meet.jitsi/r'/>\
        <status code='110'/></x></presence>";

    #[test]
    fn self_presence_parses_the_same_on_both_prosody_versions() {
        let a = occupant_event(&presence(P012_SELF), &room()).unwrap();
        let b = occupant_event(&presence(P13_SELF), &room()).unwrap();
        assert_eq!(a, b);
        let OccupantEvent::Available {
            occupant,
            is_self,
            created,
            ..
        } = a
        else {
            panic!("not available: {a:?}")
        };
        assert!(is_self && created);
        assert_eq!(&*occupant.nick, "alice");
        assert!(occupant.is_owner() && occupant.is_moderator());
        assert_eq!(occupant.jid.as_deref(), Some("a@meet.jitsi/r"));
    }

    #[test]
    fn other_occupant_leaving_and_kicked() {
        let left = "<presence xmlns='jabber:client' from='r1@muc.meet.jitsi/alice' type='unavailable'>\
            <x xmlns='http://jabber.org/protocol/muc#user'><item role='none' affiliation='owner'/></x></presence>";
        assert_eq!(
            occupant_event(&presence(left), &room()),
            Some(OccupantEvent::Unavailable {
                nick: "alice".into(),
                is_self: false,
                kicked: false
            })
        );
        let kicked =
            "<presence xmlns='jabber:client' type='unavailable' from='r1@muc.meet.jitsi/bob'>\
            <x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/>\
            <status code='307'/><status code='110'/></x></presence>";
        assert_eq!(
            occupant_event(&presence(kicked), &room()),
            Some(OccupantEvent::Unavailable {
                nick: "bob".into(),
                is_self: true,
                kicked: true
            })
        );
    }

    #[test]
    fn join_error_names_the_condition() {
        // What mod_token_verification answers for a wrong room claim (jitsi/jitsi-meet:resources/prosody-plugins/mod_token_verification.lua).
        let err = "<presence xmlns='jabber:client' from='other@muc.meet.jitsi/alice' type='error'>\
            <error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
            <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>Room and token mismatched</text></error></presence>";
        let room = BareJid::new("other@muc.meet.jitsi").unwrap();
        assert_eq!(
            occupant_event(&presence(err), &room),
            Some(OccupantEvent::Error {
                nick: "alice".into(),
                condition: "not-allowed".into(),
                text: Some("Room and token mismatched".into())
            })
        );
    }

    #[test]
    fn wire_presences_parse_like_typed_ones() {
        let interner = Interner::for_room(&room());
        for xml in [P012_SELF, P13_SELF] {
            assert_eq!(
                occupant_event_wire(xml, &room(), &interner),
                occupant_event(&presence(xml), &room())
            );
        }
        let err = "<presence xmlns='jabber:client' from='r1@muc.meet.jitsi/alice' type='error'>\
            <error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
            <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>Room and token mismatched</text></error></presence>";
        assert_eq!(
            occupant_event_wire(err, &room(), &interner),
            occupant_event(&presence(err), &room())
        );
        // A room whose name is a prefix of another's is not that room.
        let other = P13_SELF.replace("r1@", "r1x@");
        assert_eq!(occupant_event_wire(&other, &room(), &interner), None);
    }

    #[test]
    fn the_actor_of_a_grant_is_read_from_the_wire() {
        // Prosody's broadcast of a muc#admin owner grant made by the occupant `focus`.
        let interner = Interner::for_room(&room());
        let xml = "<presence xmlns='jabber:client' from='r1@muc.meet.jitsi/bob'>\
            <x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='owner' role='moderator' \
            jid='b@meet.jitsi/r'><actor nick='focus'/></item></x></presence>";
        let Some(OccupantEvent::Available {
            actor, occupant, ..
        }) = occupant_event_wire(xml, &room(), &interner)
        else {
            panic!("not an available presence")
        };
        assert_eq!(actor.as_deref(), Some("focus"));
        assert!(occupant.is_owner());
        let without = xml.replace("<actor nick='focus'/>", "");
        let Some(OccupantEvent::Available { actor, .. }) =
            occupant_event_wire(&without, &room(), &interner)
        else {
            panic!("not an available presence")
        };
        assert_eq!(actor, None);
    }

    #[test]
    fn the_display_name_is_read_on_both_paths_and_finds_the_occupant() {
        let interner = Interner::for_room(&room());
        let xml = "<presence xmlns='jabber:client' from='r1@muc.meet.jitsi/3bc4a1f0'>\
            <nick xmlns='http://jabber.org/protocol/nick'>alice</nick>\
            <x xmlns='http://jabber.org/protocol/muc#user'>\
            <item affiliation='none' role='participant' jid='3bc4a1f0-aaaa@meet.jitsi/r'/></x></presence>";
        let wire = occupant_event_wire(xml, &room(), &interner);
        assert_eq!(wire, occupant_event(&presence(xml), &room()));
        let Some(event @ OccupantEvent::Available { .. }) = wire else {
            panic!("an available occupant: {wire:?}");
        };
        let mut roster = Roster::default();
        roster.apply(event);
        let found = roster.find("alice").expect("found by display name");
        assert_eq!(&*found.nick, "3bc4a1f0");
        assert_eq!(found.display_name.as_deref(), Some("alice"));
        assert!(roster.find("3bc4a1f0").is_some(), "and by nick");
        assert!(roster.find("bob").is_none());
        // No <nick/>: no display name.
        let Some(OccupantEvent::Available { occupant, .. }) =
            occupant_event_wire(P13_SELF, &room(), &interner)
        else {
            panic!("self presence");
        };
        assert_eq!(occupant.display_name, None);
    }

    #[test]
    fn rosters_of_one_room_share_their_strings() {
        let a = Interner::for_room(&room());
        let b = Interner::for_room(&room());
        assert!(Arc::ptr_eq(&a.intern("alice"), &b.intern("alice")));
        let other = Interner::for_room(&BareJid::new("r2@muc.meet.jitsi").unwrap());
        assert!(!Arc::ptr_eq(&a.intern("alice"), &other.intern("alice")));
    }

    #[test]
    fn presence_from_another_room_is_ignored() {
        assert_eq!(
            occupant_event(
                &presence(P13_SELF),
                &BareJid::new("r2@muc.meet.jitsi").unwrap()
            ),
            None
        );
    }

    #[test]
    fn roster_tracks_roles_and_hides_the_focus() {
        let mut roster = Roster {
            focus_jid: Some("focus@focus.meet.jitsi".into()),
            ..Default::default()
        };
        let focus = "<presence xmlns='jabber:client' from='r1@muc.meet.jitsi/focus'>\
            <x xmlns='http://jabber.org/protocol/muc#user'>\
            <item affiliation='owner' role='moderator' jid='focus@focus.meet.jitsi/focus'/></x></presence>";
        let bob = "<presence xmlns='jabber:client' from='r1@muc.meet.jitsi/bob'>\
            <x xmlns='http://jabber.org/protocol/muc#user'>\
            <item affiliation='none' role='participant' jid='b@meet.jitsi/r'/></x></presence>";
        let bob_owner = bob
            .replace("affiliation='none'", "affiliation='owner'")
            .replace("'participant'", "'moderator'");
        for xml in [focus, P012_SELF, bob] {
            assert!(roster.apply(occupant_event(&presence(xml), &room()).unwrap()));
        }
        assert_eq!(&*roster.me().unwrap().nick, "alice");
        let names: Vec<_> = roster.participants().map(|o| &*o.nick).collect();
        assert_eq!(names, ["alice", "bob"]);
        assert!(!roster.occupants["bob"].is_moderator());
        assert!(roster.apply(occupant_event(&presence(&bob_owner), &room()).unwrap()));
        assert!(roster.occupants["bob"].is_moderator());
        // The same presence again changes nothing.
        assert!(!roster.apply(occupant_event(&presence(&bob_owner), &room()).unwrap()));
    }

    #[test]
    fn admin_queries_round_trip() {
        let grant = MucAdmin::grant_owner(&BareJid::new("b@meet.jitsi").unwrap());
        let el = Element::from(grant.clone());
        assert_eq!(el.ns(), ns::MUC_ADMIN);
        let item = el.children().next().unwrap();
        assert_eq!(item.attr("affiliation"), Some("owner"));
        assert_eq!(item.attr("jid"), Some("b@meet.jitsi"));
        assert_eq!(MucAdmin::try_from(el).unwrap(), grant);
        let kick = MucAdmin::kick("bob");
        assert_eq!(
            MucAdmin::try_from(Element::from(kick.clone())).unwrap(),
            kick
        );
    }
}
