//! The jicofo stand-in's REST server on port 8888 (hyper 1, HTTP/1.1).
//!
//! Routes as jicofo's ktor application serves them (jitsi/jicofo
//! `jicofo/src/main/kotlin/org/jitsi/jicofo/ktor/Application.kt@stable/jitsi-meet_11146`):
//!
//! * `GET /about/version`: `{"name":"Jicofo","version":…,"os":…}`, always;
//! * `GET /about/health`: only when health checks are enabled (`healthChecker?.let { get("health") … }`;
//!   `jicofo.health.enabled`, default false in `reference.conf`); 200 `OK` when healthy, else 500 with the
//!   reason (jicofo's health check fails without an operational bridge);
//! * `GET /debug/conference/{conference}`: the conference's debug state, `{}` for an unknown room;
//! * anything else: 404.
//!
//! The listen address is the caller's: `127.0.0.1` unless `JICOFO_ENABLE_REST` ([`super::jicofo`]).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// What the REST routes read from the running jicofo stand-in.
pub trait RestView {
    /// `/debug/conference/<room>` for a bare room JID (`{}` when unknown).
    fn conference(&self, room: &str) -> serde_json::Value;
    /// `Ok` when jicofo would report healthy; else the reason.
    fn health(&self) -> Result<(), String>;
}

/// One answer: status, content type, body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

impl Reply {
    fn json(value: &serde_json::Value) -> Self {
        Reply {
            status: 200,
            content_type: "application/json",
            body: value.to_string(),
        }
    }

    fn text(status: u16, body: &str) -> Self {
        Reply {
            status,
            content_type: "text/plain; charset=UTF-8",
            body: body.to_owned(),
        }
    }
}

/// The version jicofo reports; the stand-in names itself.
pub const VERSION: &str = concat!("jitsi-harness-standin-", env!("CARGO_PKG_VERSION"));

/// Routes one request (pure: no I/O).
pub fn route(method: &Method, path: &str, view: &dyn RestView, health_enabled: bool) -> Reply {
    if method != Method::GET {
        return Reply::text(405, "Method Not Allowed");
    }
    match path {
        "/about/version" => Reply::json(&serde_json::json!({
            "name": "Jicofo",
            "version": VERSION,
            "os": std::env::consts::OS,
        })),
        "/about/health" if health_enabled => match view.health() {
            Ok(()) => Reply::text(200, "OK"),
            Err(reason) => Reply::text(500, &reason),
        },
        _ => match path.strip_prefix("/debug/conference/") {
            Some(room) if !room.is_empty() && !room.contains('/') => {
                let room = percent_encoding::percent_decode_str(room).decode_utf8_lossy();
                Reply::json(&view.conference(&room))
            }
            _ => Reply::text(404, "Not Found"),
        },
    }
}

fn response(reply: Reply) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() = status;
    if let Ok(value) = hyper::header::HeaderValue::from_str(reply.content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

/// Serves `listener` until the process ends; one task per connection.
pub async fn serve<V>(listener: TcpListener, view: Arc<Mutex<V>>, health_enabled: bool)
where
    V: RestView + Send + 'static,
{
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                tracing::warn!("REST accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let view = view.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let reply = {
                    let guard = view.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                    route(req.method(), req.uri().path(), &*guard, health_enabled)
                };
                async move { Ok::<_, Infallible>(response(reply)) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .await
            {
                tracing::debug!("REST connection ended: {e}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed {
        healthy: bool,
    }

    impl RestView for Fixed {
        fn conference(&self, room: &str) -> serde_json::Value {
            if room == "r1@muc.meet.jitsi" {
                serde_json::json!({"name": room})
            } else {
                serde_json::json!({})
            }
        }
        fn health(&self) -> Result<(), String> {
            if self.healthy {
                Ok(())
            } else {
                Err("No operational bridges available".into())
            }
        }
    }

    fn get(path: &str, healthy: bool, health_enabled: bool) -> Reply {
        route(&Method::GET, path, &Fixed { healthy }, health_enabled)
    }

    #[test]
    fn version_is_always_served() {
        let r = get("/about/version", false, false);
        assert_eq!(r.status, 200);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["name"], "Jicofo");
        assert!(v["version"]
            .as_str()
            .unwrap()
            .starts_with("jitsi-harness-standin"));
    }

    #[test]
    fn health_exists_only_when_enabled_and_needs_a_bridge() {
        assert_eq!(get("/about/health", true, false).status, 404);
        assert_eq!(get("/about/health", true, true), Reply::text(200, "OK"));
        let sick = get("/about/health", false, true);
        assert_eq!(sick.status, 500);
        assert!(sick.body.contains("bridge"));
    }

    #[test]
    fn debug_conference_decodes_the_room_and_answers_empty_for_unknown_rooms() {
        let r = get("/debug/conference/r1%40muc.meet.jitsi", true, false);
        assert_eq!(r.status, 200);
        assert_eq!(r.content_type, "application/json");
        assert_eq!(r.body, r#"{"name":"r1@muc.meet.jitsi"}"#);
        assert_eq!(
            get("/debug/conference/r1@muc.meet.jitsi", true, false)
                .body
                .len(),
            28
        );
        assert_eq!(
            get("/debug/conference/nope@muc.meet.jitsi", true, false).body,
            "{}"
        );
        assert_eq!(get("/debug/conference/", true, false).status, 404);
        assert_eq!(get("/debug/conference/a/b", true, false).status, 404);
        assert_eq!(get("/nothing", true, true).status, 404);
        assert_eq!(
            route(
                &Method::POST,
                "/about/version",
                &Fixed { healthy: true },
                true
            )
            .status,
            405
        );
    }
}
