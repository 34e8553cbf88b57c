//! jicofo's view of the bridge brewery: the MUC (`jvbbrewery@XMPP_INTERNAL_MUC_DOMAIN`) where each
//! videobridge publishes its colibri `<stats/>` in presence.
//!
//! A bridge counts once its presence carries `<stats xmlns='http://jitsi.org/protocol/colibri'>`
//! (jitsi/jicofo `jicofo-common/src/main/java/org/jitsi/jicofo/xmpp/BaseBrewery.java` and
//! `JvbBrewery`, `stable/jitsi-meet_11146`); jicofo then logs `Added new videobridge: Bridge[…]`
//! (`jicofo-selector/…/bridge/BridgeSelector.kt`, format from `Bridge.toString` in `Bridge.kt`), and
//! `Removing JVB: <jid>` / `Lost a bridge: <jid>` when it leaves.

use std::collections::BTreeMap;
use std::fmt;

use minidom::Element;
use xmpp_parsers::jid::BareJid;
use xmpp_parsers::presence::{Presence, Type as PresenceType};

/// The colibri namespace of a bridge's `<stats/>`.
pub const COLIBRI: &str = "http://jitsi.org/protocol/colibri";

/// A bridge as jicofo prints it.
#[derive(Clone, Debug, PartialEq)]
pub struct Bridge {
    /// The bridge's occupant JID in the brewery.
    pub jid: String,
    /// The `version` stat.
    pub version: Option<String>,
    /// The `relay_id` stat.
    pub relay_id: Option<String>,
    /// The `region` stat.
    pub region: Option<String>,
    /// The `stress_level` stat.
    pub stress: f64,
}

impl fmt::Display for Bridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or_null = |v: &Option<String>| v.clone().unwrap_or_else(|| "null".into());
        write!(
            f,
            "Bridge[jid={}, version={}, relayId={}, region={}, correctedStress={:.2}]",
            self.jid,
            or_null(&self.version),
            or_null(&self.relay_id),
            or_null(&self.region),
            self.stress
        )
    }
}

impl Bridge {
    fn from_stats(jid: String, stats: &Element) -> Self {
        let stat = |name: &str| {
            stats
                .children()
                .filter(|c| c.name() == "stat" && c.attr("name") == Some(name))
                .find_map(|c| c.attr("value").map(str::to_owned))
        };
        Bridge {
            jid,
            version: stat("version"),
            relay_id: stat("relay_id"),
            region: stat("region"),
            stress: stat("stress_level")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0.0),
        }
    }
}

/// What a brewery presence changed.
#[derive(Clone, Debug, PartialEq)]
pub enum BreweryEvent {
    /// jicofo's own join went through.
    Joined,
    /// A bridge with stats appeared.
    Added(Bridge),
    /// A bridge left.
    Removed(String),
}

/// The brewery room and the bridges in it.
#[derive(Debug)]
pub struct Brewery {
    room: BareJid,
    nick: String,
    joined: bool,
    bridges: BTreeMap<String, Bridge>,
}

impl Brewery {
    /// The brewery `room`, joined as `nick`.
    pub fn new(room: BareJid, nick: &str) -> Self {
        Brewery {
            room,
            nick: nick.to_owned(),
            joined: false,
            bridges: BTreeMap::new(),
        }
    }

    /// The room's bare JID.
    pub fn room(&self) -> &BareJid {
        &self.room
    }

    /// The nick jicofo joins with.
    pub fn nick(&self) -> &str {
        &self.nick
    }

    /// Bridges currently in the brewery.
    pub fn bridges(&self) -> impl Iterator<Item = &Bridge> {
        self.bridges.values()
    }

    /// Forgets everything (the connection dropped; the server removed us from the room).
    pub fn reset(&mut self) {
        self.joined = false;
        self.bridges.clear();
    }

    /// Whether `presence` is from the brewery.
    pub fn owns(&self, presence: &Presence) -> bool {
        presence
            .from
            .as_ref()
            .is_some_and(|f| f.to_bare() == self.room)
    }

    /// Applies one brewery presence.
    pub fn on_presence(&mut self, presence: &Presence) -> Vec<BreweryEvent> {
        let Some(from) = presence.from.as_ref().filter(|f| f.to_bare() == self.room) else {
            return Vec::new();
        };
        let Some(nick) = from.resource().map(|r| r.to_string()) else {
            return Vec::new();
        };
        let jid = from.to_string();
        if nick == self.nick {
            return match presence.type_ {
                PresenceType::None if !self.joined => {
                    // The MUC sends the occupants' presence before ours; jicofo counts bridges once in
                    // the room (BaseBrewery processes members after its join completes).
                    self.joined = true;
                    let mut events = vec![BreweryEvent::Joined];
                    events.extend(self.bridges.values().cloned().map(BreweryEvent::Added));
                    events
                }
                PresenceType::Unavailable => {
                    self.reset();
                    Vec::new()
                }
                _ => Vec::new(),
            };
        }
        match presence.type_ {
            PresenceType::None => {
                let stats = presence.payloads.iter().find(|p| p.is("stats", COLIBRI));
                match stats {
                    Some(stats) if !self.bridges.contains_key(&jid) => {
                        let bridge = Bridge::from_stats(jid.clone(), stats);
                        self.bridges.insert(jid, bridge.clone());
                        if self.joined {
                            vec![BreweryEvent::Added(bridge)]
                        } else {
                            Vec::new()
                        }
                    }
                    Some(stats) => {
                        self.bridges
                            .insert(jid.clone(), Bridge::from_stats(jid, stats));
                        Vec::new()
                    }
                    None => Vec::new(),
                }
            }
            PresenceType::Unavailable => match self.bridges.remove(&jid) {
                Some(_) if self.joined => vec![BreweryEvent::Removed(jid)],
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presence(xml: &str) -> Presence {
        Presence::try_from(crate::xmpp::stanza::from_wire(
            xml.parse::<Element>().unwrap(),
        ))
        .unwrap()
    }

    fn brewery() -> Brewery {
        Brewery::new(
            BareJid::new("jvbbrewery@internal-muc.meet.jitsi").unwrap(),
            "focus",
        )
    }

    const STATS: &str = "<stats xmlns='http://jitsi.org/protocol/colibri'>\
        <stat name='stress_level' value='0.25'/><stat name='version' value='2.3'/></stats>";

    fn joined() -> Brewery {
        let mut b = brewery();
        b.on_presence(&presence(
            "<presence xmlns='jabber:client' from='jvbbrewery@internal-muc.meet.jitsi/focus'/>",
        ));
        b
    }

    #[test]
    fn bridges_present_before_the_join_are_added_after_it() {
        let mut b = brewery();
        let early = presence(&format!(
            "<presence xmlns='jabber:client' from='jvbbrewery@internal-muc.meet.jitsi/jvb0'>{STATS}</presence>"
        ));
        assert!(b.on_presence(&early).is_empty());
        let own = presence(
            "<presence xmlns='jabber:client' from='jvbbrewery@internal-muc.meet.jitsi/focus'/>",
        );
        let events = b.on_presence(&own);
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[0], BreweryEvent::Joined);
        assert!(matches!(&events[1], BreweryEvent::Added(bridge) if bridge.jid.ends_with("/jvb0")));
    }

    #[test]
    fn a_bridge_counts_only_with_stats_and_once() {
        let mut b = joined();
        let from = "jvbbrewery@internal-muc.meet.jitsi/jvb1";
        let bare = presence(&format!(
            "<presence xmlns='jabber:client' from='{from}'><x xmlns='http://jabber.org/protocol/muc#user'/></presence>"
        ));
        assert!(b.on_presence(&bare).is_empty());
        let with_stats = presence(&format!(
            "<presence xmlns='jabber:client' from='{from}'>{STATS}</presence>"
        ));
        let events = b.on_presence(&with_stats);
        let [BreweryEvent::Added(bridge)] = events.as_slice() else {
            panic!("{events:?}")
        };
        assert_eq!(
            bridge.to_string(),
            "Bridge[jid=jvbbrewery@internal-muc.meet.jitsi/jvb1, version=2.3, relayId=null, region=null, correctedStress=0.25]"
        );
        assert!(
            b.on_presence(&with_stats).is_empty(),
            "a stats update is not a new bridge"
        );
        assert_eq!(b.bridges().count(), 1);
        let gone = presence(&format!(
            "<presence xmlns='jabber:client' type='unavailable' from='{from}'/>"
        ));
        assert_eq!(
            b.on_presence(&gone),
            [BreweryEvent::Removed(from.to_owned())]
        );
        assert_eq!(b.bridges().count(), 0);
    }

    #[test]
    fn own_join_and_other_rooms() {
        let mut b = brewery();
        let own = presence(
            "<presence xmlns='jabber:client' from='jvbbrewery@internal-muc.meet.jitsi/focus'/>",
        );
        assert!(b.owns(&own));
        assert_eq!(b.on_presence(&own), [BreweryEvent::Joined]);
        assert!(b.on_presence(&own).is_empty());
        let elsewhere = presence(&format!(
            "<presence xmlns='jabber:client' from='r1@muc.meet.jitsi/jvb1'>{STATS}</presence>"
        ));
        assert!(!b.owns(&elsewhere));
        assert!(b.on_presence(&elsewhere).is_empty());
    }
}
