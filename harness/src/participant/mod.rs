//! Participants: what joins a room and observes it. [`bot`] speaks raw XMPP; `browser` drives a headless
//! Chromium. Both report what they see as an [`Observation`]; the runner maps what they see onto scenario
//! names (bots see MUC nicks, the jitsi-meet web app sees endpoint ids and display names).

pub mod bot;
pub mod browser;
pub mod jicofo;

use std::collections::BTreeMap;

use serde::Serialize;

pub use bot::{Bot, BotConfig, BotError, BotJoin, BotTimeouts, BotView, Phase};

/// A participant's failure, whichever transport it uses.
#[derive(Debug, thiserror::Error)]
pub enum ParticipantError {
    #[error(transparent)]
    Bot(#[from] BotError),
    #[error(transparent)]
    Browser(#[from] browser::BrowserError),
}

impl ParticipantError {
    /// The deployment refused the join (an observation, not a harness failure).
    pub fn is_refusal(&self) -> bool {
        match self {
            ParticipantError::Bot(e) => e.is_refusal(),
            ParticipantError::Browser(e) => e.is_refusal(),
        }
    }
}
pub use browser::{
    Browser, BrowserConfig, BrowserError, BrowserJoin, BrowserTimeouts, Driver, DriverOptions,
    PagePhase, PageState, Profile,
};

use crate::xmpp::muc::{affiliation_str, role_str, Roster};

/// One occupant as an observer sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Seen {
    /// MUC nick (the jitsi-meet web app's participant id is the nick too).
    pub nick: String,
    /// Display name, when the observer knows it (browsers do; bots send theirs).
    pub name: Option<String>,
    /// `moderator`, `participant`, `visitor`, `none`.
    pub role: String,
    /// `owner`, `admin`, `member`, `none`; `None` when the observer cannot see it (the web app).
    pub affiliation: Option<String>,
}

impl Seen {
    pub fn is_moderator(&self) -> bool {
        self.role == "moderator"
    }
}

/// What one observer sees at one moment: every participant (the focus excluded), itself included.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Observation {
    /// The observer is in the room and its connection is alive.
    pub present: bool,
    /// Occupants by nick.
    pub occupants: BTreeMap<String, Seen>,
    /// The observer's own nick.
    pub own: Option<String>,
}

impl Observation {
    /// From a bot's roster (the focus is left out).
    pub fn from_roster(present: bool, roster: &Roster) -> Self {
        Observation {
            present,
            own: roster.own_nick.clone(),
            occupants: roster
                .participants()
                .map(|o| {
                    (
                        o.nick.to_string(),
                        Seen {
                            nick: o.nick.to_string(),
                            name: None,
                            role: role_str(&o.role).to_owned(),
                            affiliation: Some(affiliation_str(&o.affiliation).to_owned()),
                        },
                    )
                })
                .collect(),
        }
    }
}
