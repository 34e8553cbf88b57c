//! The harness's one HTTP client: reqwest over rustls (configured by [`crate::tls`]). Every HTTP request
//! the harness makes goes through [`Http`]: jicofo's REST view, readiness probes, the WebDriver session's
//! teardown, the GitHub releases API. Each request has a deadline; URLs in errors are redacted
//! ([`redact_url`]), because a URL may carry a token.

use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::redact::redact_url;

/// Why an HTTP request failed. `url` is always redacted.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The client could not be built (TLS configuration).
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
    /// No answer within the deadline.
    #[error("GET {url}: no answer within {} ms", after.as_millis())]
    Timeout {
        /// The URL, redacted.
        url: String,
        /// The deadline that passed.
        after: Duration,
    },
    /// Connection refused, reset, DNS, TLS: no HTTP answer at all.
    #[error("{method} {url}: {reason}")]
    Transport {
        /// `GET`, `DELETE`, …
        method: &'static str,
        /// The URL, redacted.
        url: String,
        /// reqwest's error and its causes, redacted.
        reason: String,
    },
    /// The server answered with a status the caller did not accept.
    #[error("GET {url}: HTTP {status}")]
    Status {
        /// The URL, redacted.
        url: String,
        /// The status it answered.
        status: u16,
    },
    /// The body was not the JSON the caller expected.
    #[error("GET {url}: unexpected body: {reason}")]
    Body {
        /// The URL, redacted.
        url: String,
        /// Why the body did not parse.
        reason: String,
    },
}

impl HttpError {
    /// Whether the server was not reachable at all (as opposed to answering badly).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            HttpError::Transport { .. } | HttpError::Timeout { .. }
        )
    }
}

/// A response: status, headers, body.
#[derive(Debug, Clone)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Options of a client.
#[derive(Debug, Clone, Copy)]
pub struct HttpOptions {
    /// Deadline of one request, connect to last body byte.
    pub timeout: Duration,
    /// Accept any TLS certificate (docker-jitsi-meet's self-signed web certificate).
    pub insecure_tls: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            // Local stacks answer in milliseconds; 5 s covers a loaded CI machine.
            timeout: Duration::from_secs(5),
            insecure_tls: false,
        }
    }
}

/// An HTTP client. Cheap to clone (reqwest shares its connection pool).
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    timeout: Duration,
}

impl Http {
    /// A client with `options`.
    pub fn new(options: HttpOptions) -> Result<Self, HttpError> {
        let tls = crate::tls::client_config(options.insecure_tls)
            .map_err(|e| HttpError::Setup(e.to_string()))?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(options.timeout)
            .connect_timeout(options.timeout)
            .user_agent(concat!("jitsi-harness/", env!("CARGO_PKG_VERSION")))
            // The harness only talks to the servers it names; a redirect is an answer to report.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| HttpError::Setup(e.to_string()))?;
        Ok(Http {
            client,
            timeout: options.timeout,
        })
    }

    /// A client with the default options.
    pub fn with_timeout(timeout: Duration) -> Result<Self, HttpError> {
        Http::new(HttpOptions {
            timeout,
            ..HttpOptions::default()
        })
    }

    /// GET `url` with extra headers; any status is an answer.
    pub async fn get_with(
        &self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response, HttpError> {
        let mut request = self.client.get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send("GET", url, request).await
    }

    /// GET `url`; any status is an answer.
    pub async fn get(&self, url: &str) -> Result<Response, HttpError> {
        self.get_with(url, &[]).await
    }

    /// DELETE `url`; any status is an answer.
    pub async fn delete(&self, url: &str) -> Result<Response, HttpError> {
        let request = self.client.delete(url);
        self.send("DELETE", url, request).await
    }

    /// GET `url`, require a 2xx status and parse the body as JSON.
    pub async fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T, HttpError> {
        let response = self.get(url).await?;
        if !(200..300).contains(&response.status) {
            return Err(HttpError::Status {
                url: redact_url(url),
                status: response.status,
            });
        }
        serde_json::from_slice(&response.body).map_err(|e| HttpError::Body {
            url: redact_url(url),
            reason: e.to_string(),
        })
    }

    async fn send(
        &self,
        method: &'static str,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Response, HttpError> {
        let failed = |e: reqwest::Error| {
            if e.is_timeout() {
                HttpError::Timeout {
                    url: redact_url(url),
                    after: self.timeout,
                }
            } else {
                HttpError::Transport {
                    method,
                    url: redact_url(url),
                    reason: redact_url(&error_chain(&e)),
                }
            }
        };
        let response = request.send().await.map_err(failed)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(failed)?.to_vec();
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

/// reqwest's error and its causes in one line ("error sending request: connection refused").
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn serve_once(answer: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            s.write_all(answer.as_bytes()).await.unwrap();
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn json_status_and_unreachable_are_told_apart() {
        let http = Http::with_timeout(Duration::from_secs(2)).unwrap();
        let url = serve_once(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 8\r\n\r\n{\"a\":1}\n",
        )
        .await;
        let v: serde_json::Value = http.get_json(&format!("{url}/x")).await.unwrap();
        assert_eq!(v["a"], 1);

        let url = serve_once("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n").await;
        let e = http
            .get_json::<serde_json::Value>(&format!(
                "{url}/about/health?token=eyJhbGciOiJIUzI1NiJ9.e30.sig"
            ))
            .await
            .unwrap_err();
        assert!(matches!(e, HttpError::Status { status: 404, .. }), "{e}");
        assert!(!e.to_string().contains("e30.sig"), "token leaked: {e}");

        // A port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = http
            .get(&format!("http://127.0.0.1:{port}/"))
            .await
            .unwrap_err();
        assert!(e.is_unreachable(), "{e}");
    }
}
