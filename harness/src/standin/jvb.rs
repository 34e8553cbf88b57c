//! The jvb stand-in: what docker-jitsi-meet's `jvb` image does towards XMPP, configured only by its env.
//! No media, no colibri allocation.
//!
//! The config step (`jvb/rootfs/etc/s6-overlay/scripts/config@stable-11146`,
//! `…/cont-init.d/10-config@stable-11031`) refuses to start when `JVB_DISABLE_XMPP` is empty and
//! `JVB_AUTH_PASSWORD` is empty (`FATAL ERROR: JVB auth password must be set`, exit 1). Note the two
//! different readings upstream has: the script tests `JVB_DISABLE_XMPP` for emptiness, the `jvb.conf`
//! template (`jvb/rootfs/defaults/jvb.conf@stable-11146`) with `default "0" | toBool`; so
//! `JVB_DISABLE_XMPP=0` skips the password check yet keeps XMPP on. The template's client:
//!
//! | env | read as | jvb setting (`ice4j…xmpp-client.configs.shard<N>`) |
//! |---|---|---|
//! | `XMPP_SERVER` | default `xmpp.meet.jitsi`; a comma list of `host[:port]`, the first is used here | `HOSTNAME`, `PORT` |
//! | `XMPP_PORT` | default `5222` | `PORT` when the entry has none |
//! | `XMPP_AUTH_DOMAIN` | default `auth.meet.jitsi` | `DOMAIN` |
//! | `JVB_AUTH_USER`, `JVB_AUTH_PASSWORD` | default `jvb` | `USERNAME`, `PASSWORD` |
//! | `JVB_BREWERY_MUC`, `XMPP_INTERNAL_MUC_DOMAIN` | defaults `jvbbrewery`, `internal-muc.meet.jitsi` | `MUC_JIDS` |
//! | `JVB_MUC_NICKNAME` | default `HOSTNAME` | `MUC_NICKNAME` |
//!
//! Then, like jicoco's `MucClient`: log in (STARTTLS, no certificate verification, [`super::c2s`]), join
//! the brewery publishing `<stats xmlns='http://jitsi.org/protocol/colibri'>` in presence, log
//! `Joined MUC: <brewery>`, and answer jicofo's `<healthcheck xmlns='http://jitsi.org/protocol/healthcheck'/>`
//! IQs with a result.

use minidom::Element;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, FullJid, Jid};
use xmpp_parsers::muc::Muc;
use xmpp_parsers::presence::{Presence, Type as PresenceType};
use xmpp_parsers::stanza::Stanza;
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};

use super::brewery::COLIBRI;
use super::c2s::{self, Received, Session, StartTls};
use super::env::Env;
use super::log::Logger;
use super::{port, StartError};

/// The text upstream's config step prints when the password is missing.
pub const FATAL_NO_PASSWORD: &str = "FATAL ERROR: JVB auth password must be set";

/// The namespace of jicofo's bridge health-check IQ (jitsi-xmpp-extensions `HealthCheckIQ`).
pub const HEALTHCHECK: &str = "http://jitsi.org/protocol/healthcheck";

/// The jvb stand-in's configuration, from the image's env.
#[derive(Clone, PartialEq, Eq)]
pub struct JvbConfig {
    /// `JVB_DISABLE_XMPP | default "0" | toBool`: no XMPP client at all.
    pub disable_xmpp: bool,
    /// `JVB_AUTH_USER`.
    pub user: String,
    /// `JVB_AUTH_PASSWORD` (never printed).
    pub password: String,
    /// The first `XMPP_SERVER` entry's host.
    pub server: String,
    /// Its port, else `XMPP_PORT`.
    pub port: u16,
    /// `XMPP_AUTH_DOMAIN`.
    pub auth_domain: String,
    /// `JVB_BREWERY_MUC@XMPP_INTERNAL_MUC_DOMAIN`.
    pub brewery: String,
    /// `JVB_MUC_NICKNAME`.
    pub nickname: String,
}

impl std::fmt::Debug for JvbConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JvbConfig")
            .field("disable_xmpp", &self.disable_xmpp)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("server", &self.server)
            .field("port", &self.port)
            .field("auth_domain", &self.auth_domain)
            .field("brewery", &self.brewery)
            .field("nickname", &self.nickname)
            .finish()
    }
}

impl JvbConfig {
    /// Reads the image's env; `hostname` is the container's host name (the nickname's default when
    /// `HOSTNAME` is not in the env).
    pub fn from_env(env: &Env, hostname: &str) -> Result<Self, StartError> {
        if env.raw("JVB_DISABLE_XMPP").is_empty() && env.raw("JVB_AUTH_PASSWORD").is_empty() {
            return Err(StartError::Fatal(FATAL_NO_PASSWORD));
        }
        let servers = env.or("XMPP_SERVER", "xmpp.meet.jitsi");
        let first = servers
            .split(',')
            .map(str::trim)
            .find(|s| !s.is_empty())
            .unwrap_or("xmpp.meet.jitsi");
        let (server, port_text) = match first.split_once(':') {
            Some((host, p)) if !p.is_empty() => (host.to_owned(), p.to_owned()),
            Some((host, _)) => (host.to_owned(), env.or("XMPP_PORT", "5222")),
            None => (first.to_owned(), env.or("XMPP_PORT", "5222")),
        };
        let host_default = match env.raw("HOSTNAME") {
            "" => hostname.to_owned(),
            h => h.to_owned(),
        };
        Ok(JvbConfig {
            disable_xmpp: env.bool_or("JVB_DISABLE_XMPP", "0"),
            user: env.or("JVB_AUTH_USER", "jvb"),
            password: env.raw("JVB_AUTH_PASSWORD").to_owned(),
            server,
            port: port("XMPP_PORT", port_text)?,
            auth_domain: env.or("XMPP_AUTH_DOMAIN", "auth.meet.jitsi"),
            brewery: format!(
                "{}@{}",
                env.or("JVB_BREWERY_MUC", "jvbbrewery"),
                env.or("XMPP_INTERNAL_MUC_DOMAIN", "internal-muc.meet.jitsi")
            ),
            nickname: env.or("JVB_MUC_NICKNAME", &host_default),
        })
    }
}

/// The jvb's presence in the brewery: the MUC join plus colibri stats (a bridge without stats is not
/// used by jicofo).
pub fn brewery_presence(occupant: FullJid, relay_id: &str) -> Presence {
    let stat = |name: &str, value: &str| {
        Element::builder("stat", COLIBRI)
            .attr(minidom::rxml::xml_ncname!("name").into(), name)
            .attr(minidom::rxml::xml_ncname!("value").into(), value)
            .build()
    };
    let stats = Element::builder("stats", COLIBRI)
        .append(stat("stress_level", "0.0"))
        .append(stat("version", super::rest::VERSION))
        .append(stat("relay_id", relay_id))
        .build();
    let mut presence = Presence::new(PresenceType::None)
        .with_to(Jid::from(occupant))
        .with_payload(Muc::new());
    presence.payloads.push(stats);
    presence
}

/// The answer to an IQ: health checks and pings succeed, anything else is `service-unavailable`.
pub fn answer_iq(iq: Iq) -> Option<Iq> {
    let (from, to, id, payload) = match iq {
        Iq::Get {
            from,
            to,
            id,
            payload,
        }
        | Iq::Set {
            from,
            to,
            id,
            payload,
        } => (from, to, id, payload),
        Iq::Result { .. } | Iq::Error { .. } => return None,
    };
    let mut reply =
        if payload.is("healthcheck", HEALTHCHECK) || payload.is("ping", crate::xmpp::ns::PING) {
            Iq::Result {
                from: None,
                to: None,
                id,
                payload: None,
            }
        } else {
            Iq::from_error(
                id,
                StanzaError::new(
                    ErrorType::Cancel,
                    DefinedCondition::ServiceUnavailable,
                    "en",
                    "not implemented by the jvb stand-in",
                ),
            )
        };
    *reply.to_mut() = from;
    *reply.from_mut() = to;
    Some(reply)
}

/// Runs the stand-in until the process is stopped.
pub async fn run(config: JvbConfig) -> Result<(), StartError> {
    let log = Logger::Jitsi("JVB");
    if config.disable_xmpp {
        log.info(
            "Main.main",
            "XMPP is disabled (JVB_DISABLE_XMPP); nothing to do",
        );
        std::future::pending::<()>().await;
        return Ok(());
    }
    let invalid =
        |var: &'static str, value: String, e: xmpp_parsers::jid::Error| StartError::Invalid {
            var,
            value,
            reason: e.to_string(),
        };
    let jid = BareJid::new(&format!("{}@{}", config.user, config.auth_domain))
        .map_err(|e| invalid("JVB_AUTH_USER", config.user.clone(), e))?;
    let brewery = BareJid::new(&config.brewery)
        .map_err(|e| invalid("JVB_BREWERY_MUC", config.brewery.clone(), e))?;
    let occupant = brewery
        .with_resource_str(&config.nickname)
        .map_err(|e| invalid("JVB_MUC_NICKNAME", config.nickname.clone(), e))?;
    let relay_id = format!("jvb-{}", rand::random::<u32>());
    log.info(
        "MucClientManager.addMucClient",
        &format!(
            "Connecting to {}:{} as {jid}, brewery {brewery} as {}",
            config.server, config.port, config.nickname
        ),
    );
    let server = StartTls {
        host: config.server.clone(),
        port: config.port,
    };
    // jicoco's MucClient retries its login forever; so does the stand-in.
    let mut backoff = RETRY_MIN;
    loop {
        match c2s::login(&server, &jid, &config.nickname, &config.password).await {
            Err(e) => {
                log.warn(
                    "MucClient.connect",
                    &format!("Failed to connect/login: {e}"),
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(RETRY_MAX);
            }
            Ok(mut session) => {
                backoff = RETRY_MIN;
                let reason = serve(&mut session, &log, &brewery, &occupant, &relay_id).await;
                log.warn(
                    "MucClient.connectionClosedOnError",
                    &format!("XMPP connection lost: {reason}"),
                );
                tokio::time::sleep(RETRY_MIN).await;
            }
        }
    }
}

const RETRY_MIN: std::time::Duration = std::time::Duration::from_millis(500);
const RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(5);

/// Serves one session until it ends; returns why.
async fn serve(
    session: &mut Session,
    log: &Logger,
    brewery: &BareJid,
    occupant: &FullJid,
    relay_id: &str,
) -> String {
    let own = occupant.to_string();
    if let Err(e) = session
        .send(brewery_presence(occupant.clone(), relay_id).into())
        .await
    {
        return e.to_string();
    }
    let mut joined = false;
    loop {
        let sent = match session.recv().await {
            Err(reason) => return reason,
            Ok(Received::Idle) => session.ping().await,
            Ok(Received::Stanza(Stanza::Iq(iq))) => match answer_iq(iq) {
                Some(reply) => session.send(reply.into()).await,
                None => Ok(()),
            },
            Ok(Received::Stanza(Stanza::Presence(p))) => {
                let is_own =
                    p.from.as_ref().map(|f| f.to_string()).as_deref() == Some(own.as_str());
                match p.type_ {
                    PresenceType::None if is_own && !joined => {
                        joined = true;
                        log.info(
                            "MucClient$MucWrapper.join",
                            &format!("Joined MUC: {brewery}"),
                        );
                    }
                    PresenceType::Error if is_own => log.severe(
                        "MucClient$MucWrapper.join",
                        &format!("Failed to join MUC {brewery}: {:?}", p.payloads),
                    ),
                    _ => {}
                }
                Ok(())
            }
            Ok(Received::Stanza(Stanza::Message(_))) => Ok(()),
        };
        if let Err(e) = sent {
            return e.to_string();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<JvbConfig, StartError> {
        JvbConfig::from_env(&Env::from_pairs(pairs.iter().copied()), "c0ffee")
    }

    #[test]
    fn password_is_required_unless_xmpp_is_disabled_by_a_non_empty_value() {
        let e = config(&[]).unwrap_err();
        assert_eq!(e.to_string(), "FATAL ERROR: JVB auth password must be set");
        assert!(config(&[("JVB_AUTH_PASSWORD", "")]).is_err());
        let off = config(&[("JVB_DISABLE_XMPP", "1")]).unwrap();
        assert!(off.disable_xmpp);
        // The script only tests emptiness; the template reads "0" as false: XMPP stays on.
        let zero = config(&[("JVB_DISABLE_XMPP", "0")]).unwrap();
        assert!(!zero.disable_xmpp);
    }

    #[test]
    fn defaults_and_overrides() {
        let c = config(&[("JVB_AUTH_PASSWORD", "pw")]).unwrap();
        assert_eq!(c.user, "jvb");
        assert_eq!((c.server.as_str(), c.port), ("xmpp.meet.jitsi", 5222));
        assert_eq!(c.auth_domain, "auth.meet.jitsi");
        assert_eq!(c.brewery, "jvbbrewery@internal-muc.meet.jitsi");
        assert_eq!(c.nickname, "c0ffee");
        assert!(!format!("{c:?}").contains("pw\""));

        let c = config(&[
            ("JVB_AUTH_PASSWORD", "pw"),
            ("JVB_AUTH_USER", "bridge"),
            ("XMPP_SERVER", "prosody:15222,other"),
            ("XMPP_PORT", "6000"),
            ("JVB_BREWERY_MUC", "b"),
            ("XMPP_INTERNAL_MUC_DOMAIN", "imuc"),
            ("HOSTNAME", "jvb-host"),
        ])
        .unwrap();
        assert_eq!(c.user, "bridge");
        assert_eq!((c.server.as_str(), c.port), ("prosody", 15222));
        assert_eq!(c.brewery, "b@imuc");
        assert_eq!(
            c.nickname, "jvb-host",
            "JVB_MUC_NICKNAME defaults to HOSTNAME"
        );

        let c = config(&[
            ("JVB_AUTH_PASSWORD", "pw"),
            ("XMPP_SERVER", "prosody"),
            ("XMPP_PORT", "6000"),
            ("JVB_MUC_NICKNAME", "nick"),
        ])
        .unwrap();
        assert_eq!((c.server.as_str(), c.port), ("prosody", 6000));
        assert_eq!(c.nickname, "nick");
    }

    #[test]
    fn answers_health_checks_and_refuses_the_rest() {
        let iq = |payload: &str| {
            Iq::try_from(crate::xmpp::stanza::from_wire(
                format!(
                    "<iq xmlns='jabber:client' type='get' id='h1' from='focus@auth.meet.jitsi/focus' \
                     to='jvb@auth.meet.jitsi/x'>{payload}</iq>"
                )
                .parse::<Element>()
                .unwrap(),
            ))
            .unwrap()
        };
        let ok = answer_iq(iq(
            "<healthcheck xmlns='http://jitsi.org/protocol/healthcheck'/>",
        ));
        let Some(Iq::Result { id, to, .. }) = ok else {
            panic!("{ok:?}")
        };
        assert_eq!(id, "h1");
        assert_eq!(
            to.map(|j| j.to_string()).as_deref(),
            Some("focus@auth.meet.jitsi/focus")
        );
        assert!(matches!(
            answer_iq(iq("<query xmlns='jabber:iq:version'/>")),
            Some(Iq::Error { .. })
        ));
    }

    #[test]
    fn presence_carries_colibri_stats() {
        let occupant = FullJid::new("jvbbrewery@internal-muc.meet.jitsi/jvb1").unwrap();
        let p = brewery_presence(occupant, "jvb-1");
        assert!(p.payloads.iter().any(|e| e.is("stats", COLIBRI)));
        assert!(p
            .payloads
            .iter()
            .any(|e| e.is("x", "http://jabber.org/protocol/muc")));
        // jicofo's side counts it.
        let mut b = super::super::brewery::Brewery::new(
            BareJid::new("jvbbrewery@internal-muc.meet.jitsi").unwrap(),
            "focus",
        );
        let mut seen = p.clone();
        seen.from = seen.to.take();
        let own = Presence::new(PresenceType::None).with_from(Jid::from(
            FullJid::new("jvbbrewery@internal-muc.meet.jitsi/focus").unwrap(),
        ));
        assert_eq!(
            b.on_presence(&seen).len(),
            0,
            "not counted before jicofo's own join"
        );
        assert_eq!(b.on_presence(&own).len(), 2, "joined, then the bridge");
    }
}
