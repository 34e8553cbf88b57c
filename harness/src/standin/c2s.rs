//! The stand-ins' client connection: c2s over TCP, STARTTLS without certificate verification, then
//! tokio-xmpp's SASL (SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN, whichever Prosody offers) and resource binding.
//!
//! Not tokio-xmpp's `Client`: the crate is built with tokio-xmpp's `component` feature (the fixture focus),
//! which makes xmpp-parsers expect `jabber:component:accept` stanzas everywhere, so a c2s stream's
//! `jabber:client` stanzas would not parse. [`Session`] therefore reads and writes plain elements and moves
//! them between the wire namespace and the parsers' ([`crate::xmpp::stanza`]), as the bots do.
//!
//! docker-jitsi-meet's Prosody requires c2s encryption by default (`c2s_require_encryption` from
//! `PROSODY_C2S_REQUIRE_ENCRYPTION`, default 1: `prosody/rootfs/defaults/prosody.cfg.lua@stable-11146`) and
//! serves a self-signed certificate; jicofo and jvb are configured with
//! `disable-certificate-verification = true` / `DISABLE_CERTIFICATE_VERIFICATION = true`
//! (`jicofo/rootfs/defaults/jicofo.conf`, `jvb/rootfs/defaults/jvb.conf`, both @stable-11146). The TLS
//! config is [`crate::tls::client_config`] with verification off.

use std::borrow::Cow;
use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use minidom::Element;
use sasl::common::ChannelBinding;
use tokio::io::BufStream;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_xmpp::connect::ServerConnector;
use tokio_xmpp::error::ProtocolError;
use tokio_xmpp::xmlstream::{
    initiate_stream, FallibleStreamElement, PendingFeaturesRecv, StreamHeader, Timeouts, XmlStream,
    XmppStreamElement,
};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, FullJid, Jid};
use xmpp_parsers::stanza::Stanza;
use xmpp_parsers::starttls;

use crate::xmpp::stanza::{from_wire, to_wire};

/// Connects to `host:port` and upgrades with STARTTLS, accepting any certificate.
#[derive(Clone, Debug)]
pub struct StartTls {
    /// `XMPP_SERVER` (a name on the compose network).
    pub host: String,
    /// `XMPP_PORT`.
    pub port: u16,
}

fn io_error(what: &str, e: impl std::fmt::Display) -> tokio_xmpp::Error {
    tokio_xmpp::Error::Io(std::io::Error::other(format!("{what}: {e}")))
}

impl ServerConnector for StartTls {
    type Stream = BufStream<TlsStream<TcpStream>>;

    async fn connect(
        &self,
        jid: &Jid,
        ns: &'static str,
        timeouts: Timeouts,
    ) -> Result<(PendingFeaturesRecv<Self::Stream>, ChannelBinding), tokio_xmpp::Error> {
        let domain = jid.domain().as_str();
        let header = || StreamHeader {
            to: Some(Cow::Borrowed(domain)),
            from: None,
            id: None,
        };
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| io_error(&format!("connect to {}:{}", self.host, self.port), e))?;
        tcp.set_nodelay(true)?;
        let pending = initiate_stream(BufStream::new(tcp), ns, header(), timeouts).await?;
        let (features, mut stream): (_, XmlStream<_, FallibleStreamElement>) =
            pending.recv_features().await?;
        if !features.can_starttls() {
            return Err(ProtocolError::NoTls.into());
        }
        stream
            .send(&XmppStreamElement::Starttls(starttls::Nonza::Request(
                starttls::Request,
            )))
            .await?;
        loop {
            match stream.next().await {
                Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::Starttls(
                    starttls::Nonza::Proceed(_),
                )))) => break,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(io_error("waiting for <proceed/>", format!("{e:?}"))),
                None => return Err(tokio_xmpp::Error::Disconnected),
            }
        }
        let tcp = stream.into_inner().into_inner();
        let config = crate::tls::client_config(true).map_err(|e| io_error("TLS config", e))?;
        let name = rustls::pki_types::ServerName::try_from(domain.to_owned())
            .map_err(|e| io_error("TLS server name", e))?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| io_error("TLS handshake", e))?;
        let pending = initiate_stream(BufStream::new(tls), ns, header(), timeouts).await?;
        Ok((pending, ChannelBinding::None))
    }
}

/// An established client session: TLS, authenticated, resource bound.
pub struct Session {
    stream: XmlStream<BufStream<TlsStream<TcpStream>>, Element>,
    bound: FullJid,
    next_ping: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("bound", &self.bound)
            .finish()
    }
}

/// Read timeouts: after 60 s of silence the session pings the server, which must answer within 15 s.
fn timeouts() -> Timeouts {
    Timeouts::tight()
}

/// Logs in to `server` as `jid` with `resource`: STARTTLS, SASL, bind.
pub async fn login(
    server: &StartTls,
    jid: &BareJid,
    resource: &str,
    password: &str,
) -> Result<Session, tokio_xmpp::Error> {
    let user = jid.node().map(|n| n.to_string()).unwrap_or_default();
    let target = Jid::from(jid.clone());
    let (pending, binding) = server
        .connect(&target, xmpp_parsers::ns::JABBER_CLIENT, timeouts())
        .await?;
    let (features, stream): (_, XmlStream<_, FallibleStreamElement>) =
        pending.recv_features().await?;
    let creds = sasl::common::Credentials::default()
        .with_username(user)
        .with_password(password)
        .with_channel_binding(binding);
    let restarted = tokio_xmpp::client_login(stream, features.sasl_mechanisms, creds).await?;
    let pending = restarted
        .send_header(StreamHeader {
            to: Some(Cow::Borrowed(jid.domain().as_str())),
            from: None,
            id: None,
        })
        .await?;
    let (_features, mut stream): (_, XmlStream<_, Element>) = pending.recv_features().await?;
    let mut bind = xmpp_parsers::bind::BindQuery::new(Some(resource.to_owned()));
    if resource.is_empty() {
        bind = xmpp_parsers::bind::BindQuery::new(None);
    }
    let request: Element = Stanza::from(Iq::from_set("bind-1", bind)).into();
    stream.send(&to_wire(request)).await?;
    loop {
        match stream.next().await {
            Some(Ok(el)) if el.name() == "iq" && el.attr("id") == Some("bind-1") => {
                let iq = Iq::try_from(from_wire(el))
                    .map_err(|e| io_error("resource binding answer", e))?;
                return match iq {
                    Iq::Result {
                        payload: Some(payload),
                        ..
                    } => {
                        let bound = xmpp_parsers::bind::BindResponse::try_from(payload)
                            .map_err(|e| io_error("resource binding answer", e))?;
                        Ok(Session {
                            stream,
                            bound: FullJid::from(bound),
                            next_ping: 0,
                        })
                    }
                    other => Err(io_error("resource binding", format!("refused: {other:?}"))),
                };
            }
            Some(Ok(_)) => {}
            Some(Err(tokio_xmpp::xmlstream::ReadError::SoftTimeout)) => {}
            Some(Err(e)) => return Err(io_error("waiting for the bind answer", format!("{e:?}"))),
            None => return Err(tokio_xmpp::Error::Disconnected),
        }
    }
}

/// What [`Session::recv`] yields (short-lived: the size difference between variants does not matter).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Received {
    /// A stanza, in the parsers' namespace.
    Stanza(Stanza),
    /// The server was silent for a while: call [`Session::ping`].
    Idle,
}

impl Session {
    /// The JID the server bound.
    pub fn bound(&self) -> &FullJid {
        &self.bound
    }

    /// Sends a stanza built with xmpp-parsers (moved to `jabber:client`).
    pub async fn send(&mut self, stanza: Stanza) -> std::io::Result<()> {
        let element: Element = stanza.into();
        self.stream.send(&to_wire(element)).await
    }

    /// Pings the server (XEP-0199), so that a silent but healthy connection is not timed out.
    pub async fn ping(&mut self) -> std::io::Result<()> {
        self.next_ping += 1;
        let mut iq = Iq::from_get(
            format!("keepalive-{}", self.next_ping),
            xmpp_parsers::ping::Ping,
        );
        *iq.to_mut() = Some(Jid::from(self.bound.domain().to_owned()));
        self.send(iq.into()).await
    }

    /// The next stanza; elements that are not stanzas (or do not parse) are skipped. Cancel-safe.
    /// `Err` when the stream ended or failed: log in again.
    pub async fn recv(&mut self) -> Result<Received, String> {
        loop {
            match self.stream.next().await {
                Some(Ok(el)) => match Stanza::try_from(from_wire(el)) {
                    Ok(stanza) => return Ok(Received::Stanza(stanza)),
                    Err(e) => tracing::debug!("skipped an element that is not a stanza: {e}"),
                },
                Some(Err(tokio_xmpp::xmlstream::ReadError::SoftTimeout)) => {
                    return Ok(Received::Idle)
                }
                Some(Err(tokio_xmpp::xmlstream::ReadError::StreamFooterReceived)) | None => {
                    return Err("the server closed the stream".into())
                }
                Some(Err(e)) => return Err(format!("{e:?}")),
            }
        }
    }
}
