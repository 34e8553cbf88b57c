//! The URL splitting and the plain GET the stack backends use for readiness and reachability checks,
//! kept here while `stack` moves its probes onto [`crate::http::Http`] (they were jicofo's module's
//! helpers before it moved to `participant::jicofo`). The GET already goes through [`Http`]; nothing here
//! speaks HTTP by hand.

use std::time::Duration;

use crate::http::{Http, HttpError};

/// The parts of an absolute URL the stack backends need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UrlParts {
    pub scheme: String,
    pub host: String,
    pub port: u16,
    /// Path and query, `/` when empty.
    pub path: String,
}

/// Splits `scheme://host[:port][/path]` (schemes http, https, ws, wss; default ports 80/443).
pub(crate) fn parse_url(url: &str) -> Result<UrlParts, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| "expected scheme://host[:port]/path".to_owned())?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" | "ws" => 80,
        "https" | "wss" => 443,
        other => return Err(format!("unsupported scheme `{other}`")),
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err("credentials in the URL are not supported".into());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| "unclosed `[` in the host".to_owned())?;
        match after.strip_prefix(':') {
            Some(p) => (h.to_owned(), Some(p)),
            None if after.is_empty() => (h.to_owned(), None),
            None => return Err("junk after the IPv6 host".into()),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (authority.to_owned(), None),
        }
    };
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("invalid port `{p}`"))?,
        None => default_port,
    };
    let path = if path.is_empty() {
        "/".to_owned()
    } else if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    Ok(UrlParts {
        scheme,
        host,
        port,
        path,
    })
}

/// An HTTP response: status and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code, e.g. 200.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// `GET path` on `host:port` over plain HTTP, the whole exchange bounded by `deadline`.
pub async fn http_get(
    host: &str,
    port: u16,
    path: &str,
    deadline: Duration,
) -> Result<HttpResponse, HttpError> {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    let response = Http::with_timeout(deadline)?
        .get(&format!("http://{host}:{port}{path}"))
        .await?;
    Ok(HttpResponse {
        status: response.status,
        body: response.body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_parts() {
        let u = parse_url("http://127.0.0.1:32768").unwrap();
        assert_eq!(
            (u.scheme.as_str(), u.host.as_str(), u.port, u.path.as_str()),
            ("http", "127.0.0.1", 32768, "/")
        );
        let u = parse_url("wss://meet.example.org/xmpp-websocket?room=x").unwrap();
        assert_eq!((u.port, u.path.as_str()), (443, "/xmpp-websocket?room=x"));
        let u = parse_url("ws://[::1]:5280/xmpp-websocket").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 5280));
        for bad in [
            "meet.example.org",
            "ftp://x",
            "http://",
            "http://h:0",
            "http://h:99999",
            "http://u@h",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn get_answers_with_any_status() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            s.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 4\r\n\r\nnope")
                .await
                .unwrap();
        });
        let r = http_get("127.0.0.1", port, "/x", Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (404, &b"nope"[..]));
    }
}
