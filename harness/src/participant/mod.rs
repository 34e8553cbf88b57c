//! Participants: what joins a room and observes it. [`bot`] speaks raw XMPP; the browser participant
//! drives a headless Chromium. Both report what they see as a [`crate::xmpp::Roster`], keyed by MUC nick;
//! the runner maps nicks to scenario names.

pub mod bot;

pub use bot::{Bot, BotConfig, BotError, BotJoin, BotTimeouts, BotView, Phase};
