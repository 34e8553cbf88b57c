//! Participants from a stack's [`Endpoints`]: the tokens they carry, their machine uid, the bot's and the
//! browser's configuration, the bot's transcript file. The runner, the integration tests and the benchmark
//! all build their participants here, so a participant joins the same way wherever it comes from.
//!
//! A setup failure (a token that cannot be minted, a guest on a stack without guests, a page the stack
//! does not serve) is a [`SetupError`]: nothing has connected yet, and no participant failed.

use std::path::{Path, PathBuf};

use super::bot::{Bot, BotConfig, BotJoin, BotTimeouts};
use super::browser::{Browser, BrowserConfig, BrowserJoin, BrowserTimeouts, Driver, PageKind};
use super::{Participant, ParticipantError};
use crate::scenario::{Login, ParticipantSpec, Transport};
use crate::stack::{Endpoints, Family};
use crate::token::{self, Token, TokenError, TokenOverrides, TokenRequest, UserInfo};
use crate::xmpp::transcript::Transcript;

/// Why a participant could not be set up (before any connection).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The token could not be minted (bad claim overrides, key).
    #[error("minting {name}'s token failed: {source}")]
    Token {
        /// The participant.
        name: String,
        /// Why minting failed.
        #[source]
        source: TokenError,
    },
    /// A guest on a stack whose variant has no guest domain.
    #[error(
        "{name} joins as a guest, but the stack has no guest domain (set guests = true in the variant)"
    )]
    NoGuests {
        /// The participant.
        name: String,
    },
    /// A browser on a stack that serves no web page.
    #[error("{name} joins in a browser, but the stack serves no web page")]
    NoWebPage {
        /// The participant.
        name: String,
    },
    /// A password login (`login = "password"`) in a browser: only bots type passwords.
    #[error(
        "{name} logs in with a password in a browser, which the harness cannot do (the login dialog is not \
         driven); make {name} a bot (transport = \"bot\")"
    )]
    PasswordInBrowser {
        /// The participant.
        name: String,
    },
}

/// The id lib-jitsi-meet sends as `machine-uid` for one participant of this process (jicofo requires
/// one with authentication on; unique per participant name and harness run).
pub fn machine_uid(name: &str) -> String {
    format!("harness-{name}-{}", crate::stack::docker::run_id())
}

/// A bot's transcript file `FOLDER/NAME.xmpp.log` (`NAME-2.xmpp.log` for its second join, …); `None`
/// when it cannot be created (a transcript is a convenience, never a reason to fail).
pub fn transcript(folder: &Path, name: &str, join: u32) -> Option<Transcript> {
    let suffix = if join <= 1 {
        String::new()
    } else {
        format!("-{join}")
    };
    let path = crate::paths::join(folder, &[&format!("{name}{suffix}.xmpp.log")]).ok()?;
    Transcript::create(&path).ok()
}

/// Bot `name` joining `room`, showing `name` as its display name: as `nick` when given, else with
/// lib-jitsi-meet's nick (derived from its login, see [`crate::xmpp::nick::from_login`]).
pub fn bot_join(
    room: &str,
    name: &str,
    nick: Option<&str>,
    token: Option<Token>,
    transcript: Option<Transcript>,
) -> BotJoin {
    BotJoin {
        room: room.to_owned(),
        nick: nick.map(str::to_owned),
        token,
        machine_uid: machine_uid(name),
        display_name: Some(name.to_owned()),
        transcript,
        session_id: None,
        credentials: None,
    }
}

/// Browser `name` joining `room` as `nick`, showing `name` as its display name.
pub fn browser_join(room: &str, name: &str, nick: &str, token: Option<Token>) -> BrowserJoin {
    BrowserJoin {
        room: room.to_owned(),
        nick: nick.to_owned(),
        display_name: Some(name.to_owned()),
        token,
        machine_uid: machine_uid(name),
    }
}

/// The browser page kind a stack of `family` serves.
pub fn page_kind(family: Family) -> PageKind {
    match family {
        Family::Fixture => PageKind::Fixture,
        Family::Jitsi | Family::External => PageKind::JitsiMeet,
    }
}

/// Everything one join needs, decided before the joins fan out.
#[derive(Debug)]
pub enum Prepared {
    /// A bot's configuration and join.
    Bot(Box<(BotConfig, BotJoin)>),
    /// A browser's configuration and join.
    Browser(Box<(BrowserConfig, BrowserJoin)>),
}

impl Prepared {
    /// Joins: returns once the participant is in the room (and knows its role), or why not.
    pub async fn join(self) -> Result<Participant, ParticipantError> {
        match self {
            Prepared::Bot(p) => Ok(Participant::Bot(Bot::join(&p.0, p.1).await?)),
            Prepared::Browser(p) => Ok(Participant::Browser(Browser::join(&p.0, p.1).await?)),
        }
    }
}

/// Builds the participants of one room on one stack.
#[derive(Clone, Copy, Debug)]
pub struct Setup<'a> {
    endpoints: &'a Endpoints,
    room: &'a str,
}

impl<'a> Setup<'a> {
    /// Participants of `room` (the node of the room JID; `*` for a token valid in every room) on the
    /// stack behind `endpoints`.
    pub fn new(endpoints: &'a Endpoints, room: &'a str) -> Self {
        Setup { endpoints, room }
    }

    /// A token for `name` in this room, signed with the stack's key, with `claims` overriding a valid
    /// token's (expired, wrong signature, another room, …). Its user id is unique per name and run.
    pub fn token(&self, name: &str, claims: &TokenOverrides) -> Result<Token, SetupError> {
        let ep = self.endpoints;
        let request = TokenRequest::new(
            ep.app_id.clone(),
            ep.domain.clone(),
            self.room.to_owned(),
            UserInfo::new(
                format!("{name}-{}", crate::stack::docker::run_id()),
                name.to_owned(),
            ),
        );
        token::mint(&ep.signing, &request, claims).map_err(|source| SetupError::Token {
            name: name.to_owned(),
            source,
        })
    }

    /// The XMPP domain `name` logs in on: the guest domain for guests, else the main one.
    fn domain(&self, name: &str, guest: bool) -> Result<String, SetupError> {
        if !guest {
            return Ok(self.endpoints.domain.clone());
        }
        self.endpoints
            .guest_domain
            .clone()
            .ok_or_else(|| SetupError::NoGuests {
                name: name.to_owned(),
            })
    }

    /// How bot `name` connects (as a guest or not), with the default deadlines.
    pub fn bot_config(&self, name: &str, guest: bool) -> Result<BotConfig, SetupError> {
        let ep = self.endpoints;
        Ok(BotConfig {
            websocket: ep.websocket.clone(),
            domain: self.domain(name, guest)?,
            muc_domain: ep.muc_domain.clone(),
            focus_domain: ep.focus_domain.clone(),
            insecure_tls: ep.insecure_tls,
            timeouts: BotTimeouts::default(),
            skip_focus: false,
            focus_token: ep.client.focus_iq_token,
        })
    }

    /// How browser `name` opens the stack's page with `driver`; `artifacts` receives its captures.
    pub fn browser_config(
        &self,
        name: &str,
        guest: bool,
        driver: Driver,
        family: Family,
        artifacts: Option<PathBuf>,
    ) -> Result<BrowserConfig, SetupError> {
        let ep = self.endpoints;
        let web = ep.web.clone().ok_or_else(|| SetupError::NoWebPage {
            name: name.to_owned(),
        })?;
        let page = page_kind(family);
        Ok(BrowserConfig {
            driver,
            page,
            web,
            websocket: ep.websocket.clone(),
            domain: self.domain(name, guest)?,
            muc_domain: ep.muc_domain.clone(),
            focus_domain: ep.focus_domain.clone(),
            skip_focus: false,
            insecure_tls: ep.insecure_tls,
            timeouts: BrowserTimeouts::for_page(page),
            artifacts,
        })
    }

    /// A scenario participant, ready to join: its token (for token logins), then its bot or browser
    /// configuration. `browser` is the WebDriver server and the stack's family, needed by browser
    /// participants only; `transcript` is the bot's transcript; `artifacts` receives a browser's
    /// captures.
    pub fn prepare(
        &self,
        spec: &ParticipantSpec,
        browser: Option<(Driver, Family)>,
        transcript: Option<Transcript>,
        artifacts: Option<PathBuf>,
    ) -> Result<Prepared, SetupError> {
        let guest = spec.login == Login::Guest;
        // The login domain first: a guest without guests is the clearer error.
        self.domain(&spec.name, guest)?;
        let token = match spec.login {
            Login::Token => Some(self.token(&spec.name, &spec.token)?),
            Login::Guest | Login::None | Login::Password => None,
        };
        if spec.login == Login::Password && spec.transport == Transport::Browser {
            return Err(SetupError::PasswordInBrowser {
                name: spec.name.clone(),
            });
        }
        match (spec.transport, browser) {
            (Transport::Browser, Some((driver, family))) => {
                let config = self.browser_config(&spec.name, guest, driver, family, artifacts)?;
                let join = browser_join(self.room, &spec.name, &spec.nick, token);
                Ok(Prepared::Browser(Box::new((config, join))))
            }
            (Transport::Browser, None) => Err(SetupError::NoWebPage {
                name: spec.name.clone(),
            }),
            (Transport::Bot, _) => {
                let config = self.bot_config(&spec.name, guest)?;
                // A nick of the scenario's own (scenarios about nicks), else the client's default.
                let nick = spec.nick_explicit.then_some(spec.nick.as_str());
                let join = bot_join(self.room, &spec.name, nick, token, transcript);
                Ok(Prepared::Bot(Box::new((config, join))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::Secret;
    use crate::stack::ClientFacts;
    use crate::token::{decode_unverified, SigningKey};

    fn endpoints(guests: bool) -> Endpoints {
        Endpoints {
            websocket: "ws://127.0.0.1:5280/xmpp-websocket".into(),
            bosh: "http://127.0.0.1:5280/http-bind".into(),
            domain: "meet.jitsi".into(),
            muc_domain: "muc.meet.jitsi".into(),
            focus_domain: "focus.meet.jitsi".into(),
            guest_domain: guests.then(|| "guest.meet.jitsi".into()),
            app_id: "jitsi".into(),
            signing: SigningKey::Hs256(Secret::random(32)),
            web: None,
            jicofo_rest: None,
            insecure_tls: false,
            client: ClientFacts::newest(),
        }
    }

    #[test]
    fn a_scenario_bot_gets_its_token_domain_and_join() {
        let ep = endpoints(false);
        let mut spec = ParticipantSpec::test_bot("alice", "alice_1");
        spec.token.room = Some("elsewhere".into());
        let Prepared::Bot(bot) = Setup::new(&ep, "r1")
            .prepare(&spec, None, None, None)
            .unwrap()
        else {
            panic!("a bot spec prepares a bot");
        };
        let (config, join) = *bot;
        assert_eq!(config.domain, "meet.jitsi");
        assert_eq!(
            (join.room.as_str(), join.nick.as_deref()),
            ("r1", Some("alice_1"))
        );
        assert!(config.focus_token, "the newest client sends its token");
        assert_eq!(join.display_name.as_deref(), Some("alice"));
        assert_eq!(join.machine_uid, machine_uid("alice"));
        let token = join.token.expect("a token login carries a token");
        let (_, claims) = decode_unverified(token.expose()).unwrap();
        assert_eq!(
            claims["room"], "elsewhere",
            "the scenario's claim overrides apply"
        );
        assert_eq!(claims["context"]["user"]["name"], "alice");
    }

    #[test]
    fn setup_failures_are_their_own_errors() {
        let ep = endpoints(false);
        let setup = Setup::new(&ep, "r1");
        let mut guest = ParticipantSpec::test_bot("gus", "gus");
        guest.login = Login::Guest;
        let e = setup.prepare(&guest, None, None, None).unwrap_err();
        assert!(
            matches!(e, SetupError::NoGuests { ref name } if name == "gus"),
            "{e}"
        );
        assert!(e.to_string().contains("set guests = true"), "{e}");
        let with_guests = endpoints(true);
        let Prepared::Bot(bot) = Setup::new(&with_guests, "r1")
            .prepare(&guest, None, None, None)
            .unwrap()
        else {
            panic!("a bot");
        };
        assert_eq!(bot.0.domain, "guest.meet.jitsi");
        assert!(bot.1.token.is_none());
        assert_eq!(
            bot.1.nick, None,
            "a bot without a nick of its own joins with the client's"
        );
        assert_eq!(bot.1.display_name.as_deref(), Some("gus"));
        let mut browser = ParticipantSpec::test_bot("web", "web");
        browser.transport = Transport::Browser;
        let e = setup.prepare(&browser, None, None, None).unwrap_err();
        assert!(matches!(e, SetupError::NoWebPage { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "web joins in a browser, but the stack serves no web page"
        );
    }
}
