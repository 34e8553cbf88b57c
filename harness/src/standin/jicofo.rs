//! The jicofo stand-in: what docker-jitsi-meet's `jicofo` image does, configured only by that image's env.
//!
//! The env is read as the image's start-up reads it: the config step
//! (`jicofo/rootfs/etc/s6-overlay/scripts/config@stable-11146`, `…/cont-init.d/10-config@stable-11031`)
//! refuses to start without `JICOFO_AUTH_PASSWORD` (`FATAL ERROR: Jicofo auth password must be set`, exit 1),
//! and the `jicofo.conf` template (`jicofo/rootfs/defaults/jicofo.conf@stable-11146`, same reading at
//! stable-11031) turns the rest into jicofo's config with tpl's semantics ([`super::env`]):
//!
//! | env | read as | jicofo setting |
//! |---|---|---|
//! | `XMPP_SERVER`, `XMPP_PORT` | default `xmpp.meet.jitsi`, `5222` | `xmpp.client.hostname`, `port` |
//! | `XMPP_AUTH_DOMAIN` | default `auth.meet.jitsi` | `xmpp.client.domain` (login `focus@AUTH`) |
//! | `XMPP_DOMAIN` | default `meet.jitsi` | `xmpp-domain`, `client-proxy = focus.DOMAIN`, `authentication.login-url` |
//! | `XMPP_MUC_DOMAIN` | default `muc.meet.jitsi` | `conference-muc-jid` |
//! | `XMPP_INTERNAL_MUC_DOMAIN`, `JVB_BREWERY_MUC` | defaults `internal-muc.meet.jitsi`, `jvbbrewery` | `bridge.brewery-jid` |
//! | `JICOFO_ENABLE_AUTH` | `default (ENABLE_AUTH default "0") \| toBool` | `authentication.enabled` |
//! | `JICOFO_AUTH_TYPE` | `default (AUTH_TYPE default "internal")`; `jwt` → JWT, else XMPP | `authentication.type` |
//! | `ENABLE_AUTO_OWNER` | only if non-empty: `toBool`; else jicofo's default true | `conference.enable-auto-owner` |
//! | `JICOFO_ENABLE_REST` | `default "0" \| toBool` | `rest.host = "0.0.0.0"` (else jicofo's `127.0.0.1`) |
//! | `JICOFO_ENABLE_HEALTH_CHECKS` | only if non-empty: `toBool`; else jicofo's default false | `health.enabled` |
//!
//! Then it behaves as jicofo does towards Prosody and the harness: logs in as the client
//! `focus@AUTH/focus` ([`super::c2s`]), sends presence (Prosody's `client_proxy` at `focus.DOMAIN` learns
//! the session from it), joins the brewery and logs `Added new videobridge: …` once a bridge with stats is
//! there ([`super::brewery`]), answers the conference requests `client_proxy` forwards, joins each room as
//! `focus` and applies the role managers ([`super::focus`], [`super::roles`]), and serves REST on 8888
//! ([`super::rest`]).
//!
//! Not modelled: media, Jingle and bridge allocation; jicofo's periodic bridge health-check IQs
//! (`JvbDoctor`, `JICOFO_ENABLE_BRIDGE_HEALTH_CHECKS`: a bridge counts as operational while it is in the
//! brewery with stats); the jibri and jigasi breweries, visitors, breakout rooms; the room configuration
//! jicofo submits after creating a room; the `token` attribute of the request.

use std::sync::{Arc, Mutex};

use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::muc::Muc;
use xmpp_parsers::presence::{Presence, Type as PresenceType};
use xmpp_parsers::stanza::Stanza;

use super::brewery::{Brewery, BreweryEvent};
use super::c2s::{self, Received, Session, StartTls};
use super::env::{to_bool, Env};
use super::focus::{Focus, FocusConfig, Identity, FOCUS_NICK};
use super::log::Logger;
use super::rest::{self, RestView};
use super::{port, StartError};

/// jicofo's REST port (`jicofo.rest.port`, reference.conf; docker-jitsi-meet publishes 8888).
pub const REST_PORT: u16 = 8888;

/// The text upstream's config step prints when the password is missing.
pub const FATAL_NO_PASSWORD: &str = "FATAL ERROR: Jicofo auth password must be set";

/// `jicofo.authentication.type` as the template renders it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthType {
    /// `XMPP` (`XMPPDomainAuthAuthority`).
    Xmpp,
    /// `JWT` (`ExternalJWTAuthority`).
    Jwt,
}

/// The jicofo stand-in's configuration, from the image's env.
#[derive(Clone, PartialEq, Eq)]
pub struct JicofoConfig {
    /// `JICOFO_AUTH_PASSWORD` (never printed).
    pub password: String,
    /// `XMPP_SERVER`.
    pub server: String,
    /// `XMPP_PORT`.
    pub port: u16,
    /// `XMPP_DOMAIN`.
    pub domain: String,
    /// `XMPP_AUTH_DOMAIN`.
    pub auth_domain: String,
    /// `XMPP_MUC_DOMAIN`.
    pub muc_domain: String,
    /// `JVB_BREWERY_MUC@XMPP_INTERNAL_MUC_DOMAIN`.
    pub brewery: String,
    /// `authentication.enabled`.
    pub authentication: bool,
    /// `authentication.type`.
    pub auth_type: AuthType,
    /// `conference.enable-auto-owner`.
    pub auto_owner: bool,
    /// `rest.host = "0.0.0.0"` (else loopback).
    pub rest_public: bool,
    /// `health.enabled`.
    pub health_checks: bool,
}

impl std::fmt::Debug for JicofoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JicofoConfig")
            .field("password", &"<redacted>")
            .field("server", &self.server)
            .field("port", &self.port)
            .field("domain", &self.domain)
            .field("auth_domain", &self.auth_domain)
            .field("muc_domain", &self.muc_domain)
            .field("brewery", &self.brewery)
            .field("authentication", &self.authentication)
            .field("auth_type", &self.auth_type)
            .field("auto_owner", &self.auto_owner)
            .field("rest_public", &self.rest_public)
            .field("health_checks", &self.health_checks)
            .finish()
    }
}

impl JicofoConfig {
    /// Reads the image's env (see the module docs for each variable).
    pub fn from_env(env: &Env) -> Result<Self, StartError> {
        // The config step tests `-z "$JICOFO_AUTH_PASSWORD"`: only empty counts as missing.
        if env.raw("JICOFO_AUTH_PASSWORD").is_empty() {
            return Err(StartError::Fatal(FATAL_NO_PASSWORD));
        }
        let enable_auth = env.or("ENABLE_AUTH", "0");
        let auth_type = env.or("JICOFO_AUTH_TYPE", &env.or("AUTH_TYPE", "internal"));
        Ok(JicofoConfig {
            password: env.raw("JICOFO_AUTH_PASSWORD").to_owned(),
            server: env.or("XMPP_SERVER", "xmpp.meet.jitsi"),
            port: port("XMPP_PORT", env.or("XMPP_PORT", "5222"))?,
            domain: env.or("XMPP_DOMAIN", "meet.jitsi"),
            auth_domain: env.or("XMPP_AUTH_DOMAIN", "auth.meet.jitsi"),
            muc_domain: env.or("XMPP_MUC_DOMAIN", "muc.meet.jitsi"),
            brewery: format!(
                "{}@{}",
                env.or("JVB_BREWERY_MUC", "jvbbrewery"),
                env.or("XMPP_INTERNAL_MUC_DOMAIN", "internal-muc.meet.jitsi")
            ),
            authentication: to_bool(&env.or("JICOFO_ENABLE_AUTH", &enable_auth)),
            auth_type: if auth_type == "jwt" {
                AuthType::Jwt
            } else {
                AuthType::Xmpp
            },
            // `{{ if .Env.ENABLE_AUTO_OWNER }} enable-auto-owner = … | toBool {{ end }}`; jicofo's
            // reference.conf default is true.
            auto_owner: !env.is_set("ENABLE_AUTO_OWNER") || to_bool(env.raw("ENABLE_AUTO_OWNER")),
            rest_public: env.bool_or("JICOFO_ENABLE_REST", "0"),
            // `{{ if .Env.JICOFO_ENABLE_HEALTH_CHECKS }} health { enabled = … | toBool } {{ end }}`;
            // reference.conf: `health { enabled = false }`.
            health_checks: env.is_set("JICOFO_ENABLE_HEALTH_CHECKS")
                && to_bool(env.raw("JICOFO_ENABLE_HEALTH_CHECKS")),
        })
    }

    /// The REST listen host (`rest.host`).
    pub fn rest_host(&self) -> &'static str {
        if self.rest_public {
            "0.0.0.0"
        } else {
            "127.0.0.1"
        }
    }

    /// The focus state machine's configuration: jicofo's client identity behind `client_proxy`.
    pub fn focus_config(&self) -> Result<FocusConfig, StartError> {
        let jid = BareJid::new(&format!("focus@{}", self.auth_domain)).map_err(|e| {
            StartError::Invalid {
                var: "XMPP_AUTH_DOMAIN",
                value: self.auth_domain.clone(),
                reason: e.to_string(),
            }
        })?;
        Ok(FocusConfig {
            // `authentication.login-url = XMPP_DOMAIN`: users of that domain are authenticated.
            login_domain: self.domain.clone(),
            muc_domain: self.muc_domain.clone(),
            focus_domain: format!("focus.{}", self.domain),
            identity: Identity::Client {
                jid,
                external_auth: self.auth_type == AuthType::Jwt,
            },
            log: Logger::Jitsi("Jicofo"),
            authentication: self.authentication,
            auto_owner: self.auto_owner,
            grant_delay: std::time::Duration::ZERO,
            not_ready_times: 0,
            every_joiner_owner: false,
            seed: rand::random(),
            flap: std::time::Duration::ZERO,
        })
    }
}

/// The running stand-in's state, shared by the XMPP loop and the REST server.
#[derive(Debug)]
pub struct Jicofo {
    focus: Focus,
    brewery: Brewery,
    online: bool,
}

impl RestView for Jicofo {
    fn conference(&self, room: &str) -> serde_json::Value {
        self.focus.debug_state(room)
    }

    fn health(&self) -> Result<(), String> {
        if !self.online {
            return Err("XMPP connection is not established".into());
        }
        if self.brewery.bridges().next().is_none() {
            return Err("No operational bridges available".into());
        }
        Ok(())
    }
}

impl Jicofo {
    /// A stand-in not yet connected.
    pub fn new(focus: FocusConfig, brewery: BareJid) -> Self {
        Jicofo {
            focus: Focus::new(focus),
            brewery: Brewery::new(brewery, FOCUS_NICK),
            online: false,
        }
    }

    /// The session ended: the server took us out of every room.
    fn disconnected(&mut self) {
        self.online = false;
        self.brewery.reset();
        self.focus = Focus::new(self.focus.config().clone());
    }

    fn log(&self) -> &Logger {
        &self.focus.config().log
    }

    /// The session is up: presence for `client_proxy`, then the brewery join.
    fn on_online(&mut self, resumed: bool) -> Vec<Stanza> {
        self.online = true;
        self.brewery.reset();
        self.log().info(
            "XmppProvider$connectionListener.authenticated",
            &format!("Registered (resumed={resumed})."),
        );
        let mut out = vec![Presence::new(PresenceType::None).into()];
        if let Ok(occupant) = self.brewery.room().with_resource_str(self.brewery.nick()) {
            out.push(
                Presence::new(PresenceType::None)
                    .with_to(Jid::from(occupant))
                    .with_payload(Muc::new())
                    .into(),
            );
        }
        out
    }

    /// One stanza from Prosody; returns what to send now and later.
    fn on_stanza(&mut self, stanza: Stanza) -> Vec<super::focus::Outgoing> {
        if let Stanza::Presence(p) = &stanza {
            if self.brewery.owns(p) {
                for event in self.brewery.on_presence(p) {
                    self.log_brewery(event);
                }
                return Vec::new();
            }
        }
        self.focus.handle(stanza)
    }

    fn log_brewery(&self, event: BreweryEvent) {
        let room = self.brewery.room().to_string();
        match event {
            BreweryEvent::Joined => {
                self.log().info("ChatRoomImpl.joinAs", "Joined the room.");
                self.log().info(
                    "BaseBrewery.start",
                    &format!("Added brewery instance: {room}/{}", self.brewery.nick()),
                );
            }
            BreweryEvent::Added(bridge) => self.log().info(
                "BridgeSelector.addJvbAddress",
                &format!("Added new videobridge: {bridge}"),
            ),
            BreweryEvent::Removed(jid) => {
                self.log().info(
                    "BridgeSelector.removeJvbAddress",
                    &format!("Removing JVB: {jid}"),
                );
                self.log().warn(
                    "BridgeSelector.removeJvbAddress",
                    &format!("Lost a bridge: {jid}"),
                );
            }
        }
    }
}

fn lock(state: &Mutex<Jicofo>) -> std::sync::MutexGuard<'_, Jicofo> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs the stand-in until the process is stopped.
pub async fn run(config: JicofoConfig) -> Result<(), StartError> {
    let log = Logger::Jitsi("Jicofo");

    let host = config.rest_host();
    log.info(
        "Application.start",
        &format!("Starting ktor on port {REST_PORT}, host {host}"),
    );
    let listener = tokio::net::TcpListener::bind((host, REST_PORT))
        .await
        .map_err(|source| StartError::Listen {
            addr: format!("{host}:{REST_PORT}"),
            source,
        })?;
    run_with_listener(config, listener).await
}

/// [`run`] with the REST server on `listener` instead of port 8888 (tests).
pub async fn run_with_listener(
    config: JicofoConfig,
    listener: tokio::net::TcpListener,
) -> Result<(), StartError> {
    let focus = config.focus_config()?;
    let log = focus.log.clone();
    let brewery = BareJid::new(&config.brewery).map_err(|e| StartError::Invalid {
        var: "JVB_BREWERY_MUC",
        value: config.brewery.clone(),
        reason: e.to_string(),
    })?;
    let state = Arc::new(Mutex::new(Jicofo::new(focus, brewery)));
    tokio::spawn(rest::serve(listener, state.clone(), config.health_checks));

    let jid = BareJid::new(&format!("focus@{}", config.auth_domain)).map_err(|e| {
        StartError::Invalid {
            var: "XMPP_AUTH_DOMAIN",
            value: config.auth_domain.clone(),
            reason: e.to_string(),
        }
    })?;
    log.info(
        "XmppProvider.doConnect",
        &format!(
            "Connecting to {}:{} as {jid}/{FOCUS_NICK} (authentication {}, {:?}; auto-owner {}; \
             health checks {})",
            config.server,
            config.port,
            config.authentication,
            config.auth_type,
            config.auto_owner,
            config.health_checks
        ),
    );
    let server = StartTls {
        host: config.server.clone(),
        port: config.port,
    };
    // jicofo's XMPP connection retries forever (Smack's reconnection manager); so does the stand-in.
    let mut backoff = RETRY_MIN;
    loop {
        match c2s::login(&server, &jid, FOCUS_NICK, &config.password).await {
            Err(e) => {
                log.warn(
                    "XmppProvider.doConnect",
                    &format!("Failed to connect/login: {e}"),
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(RETRY_MAX);
            }
            Ok(mut session) => {
                backoff = RETRY_MIN;
                let reason = serve(&mut session, &state).await;
                lock(&state).disconnected();
                log.warn(
                    "XmppProvider.connectionClosedOnError",
                    &format!("XMPP connection lost: {reason}"),
                );
                tokio::time::sleep(RETRY_MIN).await;
            }
        }
    }
}

/// First and longest pause between login attempts.
const RETRY_MIN: std::time::Duration = std::time::Duration::from_millis(500);
const RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(5);

/// What one turn of the session loop produced.
enum Turn {
    Send(Vec<Stanza>),
    Ping,
    Ended(String),
}

/// Serves one session until it ends; returns why.
async fn serve(session: &mut Session, state: &Mutex<Jicofo>) -> String {
    let hello = lock(state).on_online(false);
    for stanza in hello {
        if let Err(e) = session.send(stanza).await {
            return e.to_string();
        }
    }
    let (delayed_tx, mut delayed_rx) = tokio::sync::mpsc::unbounded_channel::<Stanza>();
    loop {
        let turn = tokio::select! {
            received = session.recv() => match received {
                Ok(Received::Stanza(stanza)) => {
                    let outgoing = lock(state).on_stanza(stanza);
                    let mut now = Vec::new();
                    for out in outgoing {
                        if out.delay.is_zero() {
                            now.push(out.stanza);
                        } else {
                            let tx = delayed_tx.clone();
                            tokio::spawn(async move {
                                tokio::time::sleep(out.delay).await;
                                let _ = tx.send(out.stanza);
                            });
                        }
                    }
                    Turn::Send(now)
                }
                Ok(Received::Idle) => Turn::Ping,
                Err(reason) => Turn::Ended(reason),
            },
            Some(stanza) = delayed_rx.recv() => Turn::Send(vec![stanza]),
        };
        let sent = match turn {
            Turn::Ended(reason) => return reason,
            Turn::Ping => session.ping().await,
            Turn::Send(stanzas) => {
                let mut result = Ok(());
                for stanza in stanzas {
                    result = session.send(stanza).await;
                    if result.is_err() {
                        break;
                    }
                }
                result
            }
        };
        if let Err(e) = sent {
            return e.to_string();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<JicofoConfig, StartError> {
        let mut all = vec![("JICOFO_AUTH_PASSWORD", "s3cret")];
        all.extend_from_slice(pairs);
        JicofoConfig::from_env(&Env::from_pairs(all))
    }

    #[test]
    fn missing_password_is_upstreams_fatal_error() {
        for env in [vec![], vec![("JICOFO_AUTH_PASSWORD", "")]] {
            let e = JicofoConfig::from_env(&Env::from_pairs(env)).unwrap_err();
            assert_eq!(
                e.to_string(),
                "FATAL ERROR: Jicofo auth password must be set"
            );
            assert!(matches!(e, StartError::Fatal(_)));
        }
    }

    #[test]
    fn defaults_are_the_templates() {
        let c = config(&[]).unwrap();
        assert_eq!(c.server, "xmpp.meet.jitsi");
        assert_eq!(c.port, 5222);
        assert_eq!(c.domain, "meet.jitsi");
        assert_eq!(c.auth_domain, "auth.meet.jitsi");
        assert_eq!(c.muc_domain, "muc.meet.jitsi");
        assert_eq!(c.brewery, "jvbbrewery@internal-muc.meet.jitsi");
        assert!(!c.authentication);
        assert_eq!(c.auth_type, AuthType::Xmpp);
        assert!(c.auto_owner);
        assert!(!c.rest_public);
        assert_eq!(c.rest_host(), "127.0.0.1");
        assert!(!c.health_checks);
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn env_is_read_with_tobool_and_default_on_empty() {
        let c = config(&[
            ("XMPP_SERVER", "prosody"),
            ("XMPP_PORT", "15222"),
            ("XMPP_INTERNAL_MUC_DOMAIN", "imuc.example"),
            ("JVB_BREWERY_MUC", "bridges"),
            ("ENABLE_AUTH", "'1'"),
            ("AUTH_TYPE", "jwt"),
            ("ENABLE_AUTO_OWNER", "0"),
            ("JICOFO_ENABLE_REST", "yes"),
            ("JICOFO_ENABLE_HEALTH_CHECKS", "true"),
        ])
        .unwrap();
        assert_eq!((c.server.as_str(), c.port), ("prosody", 15222));
        assert_eq!(c.brewery, "bridges@imuc.example");
        assert!(
            c.authentication,
            "JICOFO_ENABLE_AUTH defaults to ENABLE_AUTH"
        );
        assert_eq!(c.auth_type, AuthType::Jwt);
        assert!(!c.auto_owner);
        assert!(c.rest_public, "toBool: any other non-empty value is true");
        assert_eq!(c.rest_host(), "0.0.0.0");
        assert!(c.health_checks);

        // JICOFO_* wins over the shared variable; empty means unset.
        let c = config(&[
            ("ENABLE_AUTH", "1"),
            ("JICOFO_ENABLE_AUTH", "false"),
            ("AUTH_TYPE", "jwt"),
            ("JICOFO_AUTH_TYPE", "internal"),
            ("ENABLE_AUTO_OWNER", ""),
            ("JICOFO_ENABLE_HEALTH_CHECKS", "\"0\""),
            ("XMPP_PORT", ""),
        ])
        .unwrap();
        assert!(!c.authentication);
        assert_eq!(c.auth_type, AuthType::Xmpp);
        assert!(c.auto_owner);
        assert!(!c.health_checks);
        assert_eq!(c.port, 5222);

        let bad = config(&[("XMPP_PORT", "http")]).unwrap_err();
        assert!(
            bad.to_string().starts_with("XMPP_PORT=\"http\" is invalid"),
            "{bad}"
        );
    }

    #[test]
    fn role_manager_follows_the_env() {
        let auth = config(&[("ENABLE_AUTH", "1")])
            .unwrap()
            .focus_config()
            .unwrap();
        assert_eq!(
            auth.role_manager().class(),
            Some("AuthenticationRoleManager")
        );
        let auto = config(&[]).unwrap().focus_config().unwrap();
        assert_eq!(auto.role_manager().class(), Some("AutoOwnerRoleManager"));
        assert_eq!(auto.focus_bare(), "focus@auth.meet.jitsi");
        let none = config(&[("ENABLE_AUTO_OWNER", "false")])
            .unwrap()
            .focus_config()
            .unwrap();
        assert_eq!(none.role_manager().class(), None);
    }

    #[test]
    fn health_needs_the_connection_and_a_bridge() {
        let c = config(&[]).unwrap();
        let brewery = BareJid::new(&c.brewery).unwrap();
        let mut j = Jicofo::new(c.focus_config().unwrap(), brewery);
        assert!(j.health().is_err());
        let online = j.on_online(false);
        assert_eq!(online.len(), 2, "presence, then the brewery join");
        assert!(j.health().unwrap_err().contains("bridge"));
        let stats =
            "<presence xmlns='jabber:client' from='jvbbrewery@internal-muc.meet.jitsi/jvb1'>\
            <stats xmlns='http://jitsi.org/protocol/colibri'/></presence>";
        let own =
            "<presence xmlns='jabber:client' from='jvbbrewery@internal-muc.meet.jitsi/focus'/>";
        let own = Presence::try_from(crate::xmpp::stanza::from_wire(
            own.parse::<minidom::Element>().unwrap(),
        ))
        .unwrap();
        assert!(j.on_stanza(Stanza::Presence(own)).is_empty());
        let p = Presence::try_from(crate::xmpp::stanza::from_wire(
            stats.parse::<minidom::Element>().unwrap(),
        ))
        .unwrap();
        assert!(j.on_stanza(Stanza::Presence(p)).is_empty());
        assert_eq!(j.health(), Ok(()));
        assert_eq!(j.conference("r1@muc.meet.jitsi"), serde_json::json!({}));
    }
}
