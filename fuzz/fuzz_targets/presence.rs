//! Presence stanzas from the server: any frame through both of the bots' readers — the fast one over the
//! wire text (`occupant_event_wire`, xso) and the typed one the focus uses (`parse_frame` → xmpp-parsers
//! `Presence` → `occupant_event`). Neither may panic, and where both understand a frame they must agree.
#![no_main]

use harness::xmpp::muc::{occupant_event, occupant_event_wire, Interner};
use harness::xmpp::{stanza, websocket};
use libfuzzer_sys::fuzz_target;
use xmpp_parsers::jid::BareJid;
use xmpp_parsers::presence::Presence;

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(room) = BareJid::new("room@muc.meet.jitsi") else {
        return;
    };
    let interner = Interner::for_room(&room);
    let fast = occupant_event_wire(frame, &room, &interner);
    let Ok(element) = websocket::parse_frame(frame) else {
        return;
    };
    let Ok(presence) = Presence::try_from(stanza::from_wire(element)) else {
        return;
    };
    let typed = occupant_event(&presence, &room);
    if let (Some(fast), Some(typed)) = (&fast, &typed) {
        assert_eq!(fast, typed, "the two readers disagree on {frame:?}");
    }
});
