//! XMPP over WebSocket (RFC 7395) for the bots: connect, open, SASL ANONYMOUS, bind.
//!
//! Every WebSocket text message is one complete element, so no streaming XML parser is needed:
//! `<open/>`/`<close/>` frame the stream and each stanza is parsed with minidom, then typed with
//! xmpp-parsers. There is no automatic reconnect: a dropped connection is an error the caller sees.
//! The JWT travels in the URL query (`?room=…&token=…`), as Jitsi's mod_auth_token reads it
//! (jitsi/jitsi-meet:resources/prosody-plugins/mod_auth_token.lua); the URL is never logged unredacted.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use minidom::Element;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use xmpp_parsers::jid::FullJid;

use super::ns;
use super::stanza::{from_wire, to_wire};
use super::transcript::{Direction, Transcript};
use crate::redact::redact_url;

/// What went wrong on an XMPP WebSocket connection. URLs in messages are redacted.
#[derive(Debug, thiserror::Error)]
pub enum XmppError {
    /// The WebSocket connection could not be opened.
    #[error("cannot connect to {url}: {reason}")]
    Connect {
        /// The (redacted) WebSocket URL.
        url: String,
        /// Why connecting failed.
        reason: String,
    },
    /// The TLS handshake failed.
    #[error("TLS handshake with {url} failed: {reason}")]
    Tls {
        /// The (redacted) WebSocket URL.
        url: String,
        /// Why the handshake failed.
        reason: String,
    },
    #[error("no {what} within {} ms", deadline.as_millis())]
    /// An expected answer did not come in time.
    Timeout {
        /// What the connection was waiting for.
        what: String,
        /// How long it waited.
        deadline: Duration,
    },
    #[error("authentication refused: {condition}{}", text.as_deref().map(|t| format!(" ({t})")).unwrap_or_default())]
    /// SASL authentication was refused (e.g. a rejected token).
    AuthRefused {
        /// The SASL failure condition (e.g. `not-authorized`).
        condition: String,
        /// The failure's text, when the server sent one.
        text: Option<String>,
    },
    #[error("server closed the stream: {condition}{}", text.as_deref().map(|t| format!(" ({t})")).unwrap_or_default())]
    /// The server sent a stream error and closed the stream.
    StreamError {
        /// The stream error condition (e.g. `conflict`).
        condition: String,
        /// The error's text, when the server sent one.
        text: Option<String>,
    },
    #[error("connection closed by the server{}", reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default())]
    /// The server closed the connection.
    Closed {
        /// The close reason, when the server gave one.
        reason: Option<String>,
    },
    /// The server sent something the harness cannot parse or did not expect.
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl XmppError {
    fn io(url: &str, e: tokio_tungstenite::tungstenite::Error) -> Self {
        use tokio_tungstenite::tungstenite::Error as E;
        let url = redact_url(url);
        match e {
            E::Tls(t) => XmppError::Tls {
                url,
                reason: t.to_string(),
            },
            // rustls reports handshake failures (bad certificate, not TLS at all) as I/O errors.
            E::Io(io)
                if io
                    .get_ref()
                    .map(|inner| inner.is::<rustls::Error>())
                    .unwrap_or(false) =>
            {
                XmppError::Tls {
                    url,
                    reason: io.to_string(),
                }
            }
            E::Http(resp) => XmppError::Connect {
                url,
                reason: format!("HTTP {} instead of a WebSocket upgrade", resp.status()),
            },
            other => XmppError::Connect {
                url,
                reason: other.to_string(),
            },
        }
    }
}

/// Deadlines for one connection's setup.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// TCP + TLS + WebSocket upgrade.
    pub connect: Duration,
    /// Each reply during open/SASL/bind.
    pub reply: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        // Loopback handshakes take milliseconds (env-feasibility.md §3: 5–85 ms); these only bound failures.
        Timeouts {
            connect: Duration::from_secs(5),
            reply: Duration::from_secs(5),
        }
    }
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One XMPP stream over a WebSocket.
pub struct XmppWebSocket {
    ws: Ws,
    transcript: Option<Transcript>,
}

impl std::fmt::Debug for XmppWebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("XmppWebSocket")
    }
}

/// Small buffers: hundreds of bots share one process, and XMPP frames are small
/// (tungstenite's default read buffer is 128 KiB per connection).
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(1 << 20))
}

impl XmppWebSocket {
    /// Opens the WebSocket (`ws://` or `wss://`, subprotocol `xmpp`).
    pub async fn connect(
        url: &str,
        insecure_tls: bool,
        timeouts: Timeouts,
        transcript: Option<Transcript>,
    ) -> Result<Self, XmppError> {
        let mut request = url
            .into_client_request()
            .map_err(|e| XmppError::io(url, e))?;
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("xmpp"));
        if let Some(t) = &transcript {
            t.record(Direction::Note, &format!("connect {url}"));
        }
        let connector = if url.starts_with("wss:") {
            Some(Connector::Rustls(Arc::new(
                crate::tls::client_config(insecure_tls)
                    .map_err(|e| XmppError::Protocol(e.to_string()))?,
            )))
        } else {
            Some(Connector::Plain)
        };
        let connecting = tokio_tungstenite::connect_async_tls_with_config(
            request,
            Some(ws_config()),
            true,
            connector,
        );
        let (ws, _response) = tokio::time::timeout(timeouts.connect, connecting)
            .await
            .map_err(|_| XmppError::Timeout {
                what: format!("WebSocket connection to {}", redact_url(url)),
                deadline: timeouts.connect,
            })?
            .map_err(|e| XmppError::io(url, e))?;
        Ok(XmppWebSocket { ws, transcript })
    }

    fn note(&self, direction: Direction, text: &str) {
        if let Some(t) = &self.transcript {
            t.record(direction, text);
        }
    }

    /// Sends one element. Stanzas built with xmpp-parsers are moved to the wire namespace.
    pub async fn send(&mut self, element: Element) -> Result<(), XmppError> {
        let text = String::from(&to_wire(element));
        self.note(Direction::Sent, &text);
        self.ws
            .send(Message::text(text))
            .await
            .map_err(|e| XmppError::Closed {
                reason: Some(e.to_string()),
            })
    }

    /// Sends a WebSocket ping (keepalive; the pong comes back through [`Self::recv_event`]).
    pub async fn ping(&mut self) -> Result<(), XmppError> {
        self.ws
            .send(Message::Ping(Default::default()))
            .await
            .map_err(|e| XmppError::Closed {
                reason: Some(e.to_string()),
            })
    }

    /// The next event: a text frame as received (one complete element, stanzas in `jabber:client`), or a
    /// pong. `<close/>` and stream errors end the stream with an error. No deadline here: callers select
    /// on one.
    pub async fn recv_event(&mut self) -> Result<Incoming, XmppError> {
        loop {
            let message = match self.ws.next().await {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    self.note(Direction::Note, &format!("connection error: {e}"));
                    return Err(XmppError::Closed {
                        reason: Some(e.to_string()),
                    });
                }
                None => {
                    self.note(Direction::Note, "connection closed");
                    return Err(XmppError::Closed { reason: None });
                }
            };
            match message {
                Message::Text(text) => {
                    self.note(Direction::Received, text.as_str());
                    let head = text.as_str().trim_start();
                    if head.starts_with("<close") {
                        return Err(XmppError::Closed {
                            reason: Some("server sent <close/>".into()),
                        });
                    }
                    if head.starts_with("<stream:error") {
                        let (condition, text) = parse_frame(head)
                            .map(|e| stream_error(&e))
                            .unwrap_or_else(|_| ("undefined-condition".into(), None));
                        return Err(XmppError::StreamError { condition, text });
                    }
                    return Ok(Incoming::Frame(text));
                }
                Message::Pong(_) => return Ok(Incoming::Pong),
                Message::Close(frame) => {
                    self.note(Direction::Note, "WebSocket close frame");
                    return Err(XmppError::Closed {
                        reason: frame
                            .map(|f| f.reason.to_string())
                            .filter(|r| !r.is_empty()),
                    });
                }
                // Pings are answered by tungstenite itself; binary frames are not XMPP.
                _ => continue,
            }
        }
    }

    /// The next text frame within `deadline`.
    pub async fn recv_frame(&mut self, deadline: Duration, what: &str) -> Result<Frame, XmppError> {
        let fut = async {
            loop {
                if let Incoming::Frame(f) = self.recv_event().await? {
                    return Ok(f);
                }
            }
        };
        tokio::time::timeout(deadline, fut)
            .await
            .map_err(|_| XmppError::Timeout {
                what: what.to_owned(),
                deadline,
            })?
    }

    /// The next element within `deadline` (as on the wire).
    pub async fn recv(&mut self, deadline: Duration, what: &str) -> Result<Element, XmppError> {
        let frame = self.recv_frame(deadline, what).await?;
        parse_frame(frame.as_str())
    }

    /// Ends the stream politely: `<close/>`, then the WebSocket close handshake — waiting for the
    /// server's own close (RFC 6455 §7), bounded by 2 s.
    pub async fn close(mut self) {
        let close = Element::builder("close", ns::FRAMING).build();
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            let _ = self.send(close).await;
            let _ = self.ws.close(None).await;
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
        self.note(Direction::Note, "closed");
    }

    /// Drops the connection without any goodbye (the scenario's `disconnect`).
    pub fn abort(self) {
        self.note(Direction::Note, "dropped the socket (abrupt disconnect)");
        drop(self.ws);
    }

    fn open_frame(domain: &str) -> Element {
        Element::builder("open", ns::FRAMING)
            .attr(minidom::rxml::xml_ncname!("to").into(), domain)
            .attr(minidom::rxml::xml_ncname!("version").into(), "1.0")
            .build()
    }

    /// Opens the stream to `domain` and reads `<open/>` and `<stream:features/>`.
    async fn open(&mut self, domain: &str, timeouts: Timeouts) -> Result<Element, XmppError> {
        self.send(Self::open_frame(domain)).await?;
        let open = self.recv(timeouts.reply, "stream <open/> answer").await?;
        if !open.is("open", ns::FRAMING) {
            return Err(XmppError::Protocol(format!(
                "expected <open/>, got <{}>",
                open.name()
            )));
        }
        let features = self.recv(timeouts.reply, "stream features").await?;
        if features.name() != "features" {
            return Err(XmppError::Protocol(format!(
                "expected <stream:features/>, got <{}>",
                features.name()
            )));
        }
        Ok(features)
    }

    /// Open → SASL ANONYMOUS → open → bind. Returns the JID the server assigned.
    ///
    /// A token the server refuses ends here with [`XmppError::AuthRefused`] and its reason
    /// (`not-allowed` with "token required", "token has expired", …).
    pub async fn login(&mut self, domain: &str, timeouts: Timeouts) -> Result<FullJid, XmppError> {
        self.login_as(domain, timeouts, None).await
    }

    /// [`Self::login`], or with `credentials` SASL PLAIN (RFC 4616) as a registered account of an
    /// `AUTH_TYPE=internal` domain (Prosody offers PLAIN on WebSocket streams it considers secure, as
    /// docker-jitsi-meet's `consider_websocket_secure`). The password reaches the transcript as `[redacted]`.
    pub async fn login_as(
        &mut self,
        domain: &str,
        timeouts: Timeouts,
        credentials: Option<&Credentials>,
    ) -> Result<FullJid, XmppError> {
        let features = self.open(domain, timeouts).await?;
        if let Some(credentials) = credentials {
            let offers_plain = features
                .get_child("mechanisms", ns::SASL)
                .map(|m| m.children().any(|c| c.text() == "PLAIN"))
                .unwrap_or(false);
            if !offers_plain {
                return Err(XmppError::AuthRefused {
                    condition: "no PLAIN mechanism offered".into(),
                    text: Some(format!(
                        "domain `{domain}` does not accept password logins (is AUTH_TYPE=internal set?)"
                    )),
                });
            }
            return self.finish_login(domain, timeouts, Some(credentials)).await;
        }
        let offers_anonymous = features
            .get_child("mechanisms", ns::SASL)
            .map(|m| m.children().any(|c| c.text() == "ANONYMOUS"))
            .unwrap_or(false);
        if !offers_anonymous {
            return Err(XmppError::AuthRefused {
                condition: "no ANONYMOUS mechanism offered".into(),
                text: Some(format!(
                    "domain `{domain}` does not accept token/anonymous logins"
                )),
            });
        }
        self.finish_login(domain, timeouts, None).await
    }

    /// SASL (PLAIN with credentials, else ANONYMOUS) → open → bind.
    async fn finish_login(
        &mut self,
        domain: &str,
        timeouts: Timeouts,
        credentials: Option<&Credentials>,
    ) -> Result<FullJid, XmppError> {
        match credentials {
            Some(c) => {
                use base64::Engine as _;
                let payload = base64::engine::general_purpose::STANDARD.encode(format!(
                    "\0{}\0{}",
                    c.username,
                    c.password.expose()
                ));
                // The encoded credentials are as secret as the password: scrubbed from any log line.
                crate::redact::remember(&payload);
                let auth = Element::builder("auth", ns::SASL)
                    .attr(minidom::rxml::xml_ncname!("mechanism").into(), "PLAIN")
                    .append(payload)
                    .build();
                let text = String::from(&to_wire(auth));
                self.note(
                    Direction::Sent,
                    &format!(
                        "<auth xmlns='{}' mechanism='PLAIN'>[{} with password redacted]</auth>",
                        ns::SASL,
                        c.username
                    ),
                );
                self.ws
                    .send(Message::text(text))
                    .await
                    .map_err(|e| XmppError::Closed {
                        reason: Some(e.to_string()),
                    })?;
            }
            None => {
                let auth = Element::builder("auth", ns::SASL)
                    .attr(minidom::rxml::xml_ncname!("mechanism").into(), "ANONYMOUS")
                    .build();
                self.send(auth).await?;
            }
        }
        let answer = self.recv(timeouts.reply, "SASL answer").await?;
        match answer.name() {
            "success" => {}
            "failure" => {
                let mut condition = String::from("failure");
                let mut text = None;
                for c in answer.children() {
                    if c.name() == "text" {
                        text = Some(c.text());
                    } else {
                        condition = c.name().to_owned();
                    }
                }
                return Err(XmppError::AuthRefused { condition, text });
            }
            other => {
                return Err(XmppError::Protocol(format!(
                    "expected SASL success or failure, got <{other}>"
                )))
            }
        }
        self.open(domain, timeouts).await?;
        let bind = xmpp_parsers::iq::Iq::from_set("bind", xmpp_parsers::bind::BindQuery::new(None));
        self.send(bind.into()).await?;
        let reply = self.recv(timeouts.reply, "resource binding answer").await?;
        let iq = xmpp_parsers::iq::Iq::try_from(from_wire(reply))
            .map_err(|e| XmppError::Protocol(format!("bind answer: {e}")))?;
        match iq {
            xmpp_parsers::iq::Iq::Result {
                payload: Some(payload),
                ..
            } => {
                let bound = xmpp_parsers::bind::BindResponse::try_from(payload)
                    .map_err(|e| XmppError::Protocol(format!("bind answer: {e}")))?;
                Ok(FullJid::from(bound))
            }
            other => Err(XmppError::Protocol(format!(
                "resource binding failed: {other:?}"
            ))),
        }
    }
}

/// A registered account's login on an `AUTH_TYPE=internal` domain. The password prints as `[redacted]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The account's local part (`alice` of `alice@meet.jitsi`).
    pub username: String,
    /// Its password.
    pub password: crate::redact::Secret,
}

/// One WebSocket text frame: a complete XML element.
pub type Frame = tokio_tungstenite::tungstenite::Utf8Bytes;

/// What [`XmppWebSocket::recv_event`] yields.
#[derive(Debug)]
pub enum Incoming {
    /// A text frame.
    Frame(Frame),
    /// The answer to a ping.
    Pong,
}

/// Parses one frame into an element (as on the wire).
pub fn parse_frame(frame: &str) -> Result<Element, XmppError> {
    frame
        .parse()
        .map_err(|e| XmppError::Protocol(format!("unparsable frame: {e}")))
}

fn stream_error(el: &Element) -> (String, Option<String>) {
    let mut condition = String::from("undefined-condition");
    let mut text = None;
    for c in el.children() {
        if c.name() == "text" {
            text = Some(c.text());
        } else {
            condition = c.name().to_owned();
        }
    }
    (condition, text)
}
