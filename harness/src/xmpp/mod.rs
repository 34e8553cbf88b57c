//! Jitsi's XMPP elements as typed values (both directions, so the focus stand-in and the bots share them),
//! MUC roster tracking with typed roles and affiliations, Jitsi's nick rule, and the RFC 7395 WebSocket
//! transport the bots use.
//!
//! Wire types live here; conference logic lives in `participant::bot` and `standin::focus`.

pub mod focus;
pub mod muc;
pub mod nick;
pub mod ns;
pub mod role;
pub mod stanza;
pub mod transcript;
pub mod websocket;

pub use focus::{Conference, Property};
pub use muc::{MucAdmin, Occupant, OccupantEvent, Roster};
pub use role::{Affiliation, Role};
