//! Stanzas on the wire are `jabber:client`; xmpp-parsers types use its `DEFAULT_NS`.
//!
//! The focus stand-in logs in as an XEP-0114 component through tokio-xmpp, whose `component` feature
//! switches xmpp-parsers' `DEFAULT_NS` to `jabber:component:accept` for the whole build (cargo unifies
//! features). The bots speak `jabber:client` over WebSocket, where every top-level stanza must carry that
//! namespace (env-feasibility.md §3). These two functions move a stanza between the wire namespace and the
//! one the typed parsers expect, so both sides use the same xmpp-parsers types. With equal namespaces they
//! return the element unchanged.

use minidom::{Element, Node};
use xmpp_parsers::ns::DEFAULT_NS;

use super::ns::JABBER_CLIENT;

fn renamespace(mut el: Element, from: &str, to: &str) -> Element {
    if el.ns() != from {
        return el;
    }
    let mut out = Element::bare(el.name().to_owned(), to);
    *out.attrs_mut() = el.attrs().clone();
    for node in el.take_nodes() {
        match node {
            Node::Element(child) => {
                out.append_child(renamespace(child, from, to));
            }
            Node::Text(text) => out.append_text_node(text),
        }
    }
    out
}

/// A stanza as received from a WebSocket (`jabber:client`) → what xmpp-parsers expects.
pub fn from_wire(el: Element) -> Element {
    if DEFAULT_NS == JABBER_CLIENT {
        el
    } else {
        renamespace(el, JABBER_CLIENT, DEFAULT_NS)
    }
}

/// A stanza built with xmpp-parsers → what goes on a WebSocket (`jabber:client`).
pub fn to_wire(el: Element) -> Element {
    if DEFAULT_NS == JABBER_CLIENT {
        el
    } else {
        renamespace(el, DEFAULT_NS, JABBER_CLIENT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_parsers::presence::Presence;

    #[test]
    fn client_stanzas_parse_and_serialise_in_the_wire_namespace() {
        let xml = "<presence xmlns='jabber:client' from='r@muc.x/a'><status>hi</status>\
                   <x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/></x></presence>";
        let presence = Presence::try_from(from_wire(xml.parse().unwrap())).unwrap();
        assert_eq!(
            presence.statuses.values().next().map(String::as_str),
            Some("hi")
        );
        let wire = to_wire(Element::from(presence));
        assert_eq!(wire.ns(), JABBER_CLIENT);
        assert_eq!(
            wire.get_child("status", JABBER_CLIENT).map(|s| s.text()),
            Some("hi".into())
        );
        // Foreign namespaces are left alone.
        assert!(wire
            .get_child("x", "http://jabber.org/protocol/muc#user")
            .is_some());
    }
}
