//! Readiness: one vocabulary for "this part of the stack is up", shared by the fixture, jitsi and external
//! backends, in the manner of testcontainers' `WaitFor` (testcontainers-rs `testcontainers/src/core/wait/`).
//!
//! A [`Ready`] is a plain value: the plans print it (`jitsi-harness plan`, the plan snapshots) and the
//! backends hand it to `wait`, the one implementation, which checks it from the host until a deadline:
//!
//! * a log line is awaited on a notification (a `tokio::sync::watch`) from the container's log consumer
//!   (`LogWatch`), not by polling a buffer;
//! * HTTP and TCP probes repeat every 250 ms, each bounded by 2 s, and go
//!   through the harness's HTTP client ([`crate::http::Http`]);
//! * a container that exits fails the wait at once. The error then quotes the last lines of its output,
//!   after a bounded wait (2 s) for its log stream to end, so that they are its last words.

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde::Serialize;
use testcontainers::bollard::Docker;
use testcontainers::core::logs::consumer::LogConsumer;
use testcontainers::core::logs::LogFrame;
use testcontainers::{ContainerAsync, GenericImage};
use tokio::sync::watch;

use super::docker::{self, LogTail};
use super::StackError;
use crate::http::Http;
use crate::redact::redact_url;

/// Pause between two probes of an HTTP or TCP condition. A local service answers within milliseconds
/// once it is up, so this is what a start pays at most per condition; four probes a second cost nothing.
pub(crate) const PROBE_INTERVAL: Duration = Duration::from_millis(250);
/// One probe (connect, request, answer) may take this long. A service on this machine answers in
/// milliseconds; 2 s covers a loaded 2-core CI host, and the probe repeats until the deadline anyway.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a log-line wait asks Docker whether the container still runs, when no log arrives.
const EXIT_CHECK_INTERVAL: Duration = Duration::from_millis(500);
/// After a container exited, how long to wait for its log stream to end (the engine delivers the last
/// frames within milliseconds; this bounds the wait if it does not).
pub(crate) const LOG_END_GRACE: Duration = Duration::from_secs(2);
/// Log lines quoted in a [`StackError::NotReady`].
pub(crate) const TAIL_LINES: usize = 30;

/// A readiness condition, checked from the host until the stack's deadline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Ready {
    /// `GET path` on the host port published for container port `port` answers `status`.
    Http {
        /// Container port (its published host port on 127.0.0.1 is probed).
        port: u16,
        /// Request path.
        path: &'static str,
        /// Expected status code.
        status: u16,
    },
    /// The container's output contains this text.
    #[serde(rename = "log")]
    LogLine {
        /// Text to find (it may straddle two log frames).
        contains: &'static str,
    },
    /// `GET url` from the host gets an HTTP answer, whatever its status (a deployment the harness did
    /// not start: that it answers at all is what can be checked).
    Url {
        /// An `http://` or `https://` URL.
        url: String,
    },
    /// A TCP connection to `host:port` is accepted.
    Tcp {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
    },
}

impl Ready {
    /// `GET path` on the published host port of container port `port` answers `status`.
    pub fn http(port: u16, path: &'static str, status: u16) -> Self {
        Ready::Http { port, path, status }
    }

    /// The container's output contains `contains`.
    pub fn log_line(contains: &'static str) -> Self {
        Ready::LogLine { contains }
    }

    /// `GET url` gets any HTTP answer.
    pub fn url(url: impl Into<String>) -> Self {
        Ready::Url { url: url.into() }
    }

    /// `host:port` accepts a TCP connection.
    pub fn tcp(host: impl Into<String>, port: u16) -> Self {
        Ready::Tcp {
            host: host.into(),
            port,
        }
    }
}

impl fmt::Display for Ready {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ready::Http { port, path, status } => {
                write!(f, "HTTP GET {path} on port {port} answers {status}")
            }
            Ready::LogLine { contains } => write!(f, "log contains \"{contains}\""),
            Ready::Url { url } => write!(f, "HTTP GET {} answers", redact_url(url)),
            Ready::Tcp { host, port } => write!(f, "TCP {host}:{port} accepts a connection"),
        }
    }
}

/// Why a [`wait`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unready {
    /// The condition, as [`Ready`] displays it.
    pub condition: String,
    /// What the last probe got, if anything ("HTTP 502", "connection refused").
    pub last: Option<String>,
    /// How the container ended, if it did ("exit code 1").
    pub exited: Option<String>,
    /// The container's last log lines (empty without a container).
    pub log_tail: String,
}

impl Unready {
    /// The condition with the last attempt or the container's exit: what a human reads after "waiting for".
    pub fn explained(&self) -> String {
        match (&self.exited, &self.last) {
            (Some(exit), _) => format!("{}; the container exited ({exit})", self.condition),
            (None, Some(last)) => format!("{}; last attempt: {last}", self.condition),
            (None, None) => self.condition.clone(),
        }
    }

    /// As the stack error a container backend returns.
    pub fn into_stack_error(self, container: String, waited: Duration) -> StackError {
        StackError::NotReady {
            container,
            waited,
            condition: self.explained(),
            log_tail: self.log_tail,
        }
    }
}

/// A started container as waits see it.
pub(crate) struct Watched<'a> {
    /// The engine, to ask whether the container still runs.
    pub docker: &'a Docker,
    /// The container's name (what Docker knows it by).
    pub name: &'a str,
    /// The container, for its published ports.
    pub container: &'a ContainerAsync<GenericImage>,
    /// Its log.
    pub log: &'a LogWatch,
}

/// Waits until `ready` holds, on `on` (a container) or, without one, on the host's network; fails at
/// `deadline`, or at once if the container exits.
pub(crate) async fn wait(
    ready: &Ready,
    on: Option<&Watched<'_>>,
    deadline: Instant,
) -> Result<(), Unready> {
    let fail = |last: Option<String>, exited: Option<String>| Unready {
        condition: ready.to_string(),
        last,
        exited,
        log_tail: on.map(|w| w.log.tail(TAIL_LINES)).unwrap_or_default(),
    };
    let http = match ready {
        Ready::Http { .. } | Ready::Url { .. } => match Http::with_timeout(PROBE_TIMEOUT) {
            Ok(http) => Some(http),
            Err(e) => return Err(fail(Some(e.to_string()), None)),
        },
        Ready::LogLine { .. } | Ready::Tcp { .. } => None,
    };
    // Resolved lazily: a container that died at once has no published port, and that is an exit with
    // its code and log, not a port error.
    let mut host_port = None;
    let mut last = None;
    let mut next_exit_check = Instant::now();
    loop {
        // A log wait subscribes before it looks, so that a frame arriving in between still wakes it.
        let next_frame = match (ready, on) {
            (Ready::LogLine { .. }, Some(w)) => Some(w.log.changed()),
            _ => None,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let limit = PROBE_TIMEOUT.min(left).max(Duration::from_millis(1));
        match probe(ready, on, http.as_ref(), &mut host_port, limit).await {
            Ok(()) => return Ok(()),
            Err(None) => {}
            Err(Some(attempt)) => last = Some(attempt),
        }
        if let Some(w) = on {
            // Asking the engine after every log frame would be wasteful: a chatty JVM logs hundreds.
            if w.log.ended() || Instant::now() >= next_exit_check {
                next_exit_check = Instant::now() + EXIT_CHECK_INTERVAL;
                if let Some(exit) = exited(w.docker, w.name).await {
                    // Its last lines are the explanation: let the log stream deliver them.
                    w.log.until_ended(LOG_END_GRACE).await;
                    return Err(fail(last, Some(exit)));
                }
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(fail(last, None));
        }
        match next_frame {
            // A log wait wakes on the next frame, or to ask Docker again whether the container runs.
            Some(frame) => {
                let _ = tokio::time::timeout(EXIT_CHECK_INTERVAL.min(left), frame).await;
            }
            None => tokio::time::sleep(PROBE_INTERVAL.min(left)).await,
        }
    }
}

/// One look at `ready`, bounded by `limit`: `Err(Some(what happened))` for a failed attempt, `Err(None)`
/// while a log line has not appeared. `host_port` caches the published port of an HTTP condition.
async fn probe(
    ready: &Ready,
    on: Option<&Watched<'_>>,
    http: Option<&Http>,
    host_port: &mut Option<u16>,
    limit: Duration,
) -> Result<(), Option<String>> {
    let get = |url: String| async move {
        let Some(http) = http else {
            return Err("no HTTP client".to_owned());
        };
        match tokio::time::timeout(limit, http.get(&url)).await {
            Ok(Ok(response)) => Ok(response.status),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(timed_out(limit)),
        }
    };
    match ready {
        Ready::LogLine { contains } => match on {
            Some(w) if w.log.seen(contains) => Ok(()),
            _ => Err(None),
        },
        Ready::Http { port, path, status } => {
            let Some(w) = on else {
                return Err(Some("no container to probe".to_owned()));
            };
            let p = match *host_port {
                Some(p) => p,
                None => {
                    let p = w
                        .container
                        .get_host_port_ipv4(*port)
                        .await
                        .map_err(|e| Some(format!("port {port} not published: {e}")))?;
                    *host_port = Some(p);
                    p
                }
            };
            match get(format!("http://127.0.0.1:{p}{path}")).await {
                Ok(answered) if answered == *status => Ok(()),
                Ok(answered) => Err(Some(format!("HTTP {answered}"))),
                Err(e) => Err(Some(e)),
            }
        }
        Ready::Url { url } => get(url.clone()).await.map(|_| ()).map_err(Some),
        Ready::Tcp { host, port } => {
            let connect = tokio::net::TcpStream::connect((host.as_str(), *port));
            match tokio::time::timeout(limit, connect).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(Some(format!("{host}:{port}: {e}"))),
                Err(_) => Err(Some(timed_out(limit))),
            }
        }
    }
}

fn timed_out(after: Duration) -> String {
    format!("no answer within {} ms", after.as_millis())
}

/// `Some(description)` when the container is no longer running.
async fn exited(docker: &Docker, name: &str) -> Option<String> {
    let inspect = tokio::time::timeout(PROBE_TIMEOUT, docker.inspect_container(name, None))
        .await
        .ok()?
        .ok()?;
    let state = inspect.state?;
    if state.running == Some(false) {
        Some(match state.exit_code {
            Some(code) => format!("exit code {code}"),
            None => "not running".to_owned(),
        })
    } else {
        None
    }
}

/// A container's log as readiness sees it: the lines it waits for, the end of the stream, the last lines.
///
/// Fed by the consumer from [`LogWatch::follow`], which testcontainers drives from a task that follows
/// `docker logs`; that task drops the consumer when the stream ends (the container stopped), and the
/// drop is how the end is noticed.
#[derive(Clone, Debug)]
pub(crate) struct LogWatch {
    state: Arc<WatchState>,
    tail: LogTail,
}

#[derive(Debug)]
struct WatchState {
    needles: Vec<&'static str>,
    seen: Vec<AtomicBool>,
    /// The end of the text so far, for a needle that straddles two frames.
    carry: Mutex<String>,
    ended: AtomicBool,
    /// Counts frames (and the end of the stream): waiters subscribe and wake on the next change.
    frames: watch::Sender<u64>,
}

impl LogWatch {
    /// A watch for the log lines among `conditions`, and the consumer that feeds it while writing the
    /// container's output to `path` (see [`docker::log_consumer`]).
    pub fn follow(path: &Path, conditions: &[Ready]) -> (impl LogConsumer + 'static, LogWatch) {
        let needles = conditions
            .iter()
            .filter_map(|r| match r {
                Ready::LogLine { contains } => Some(*contains),
                _ => None,
            })
            .collect();
        let (file_and_tail, tail) = docker::log_consumer(path);
        let watch = LogWatch::new(needles, tail);
        let consumer = Feeding {
            inner: file_and_tail,
            state: watch.state.clone(),
        };
        (consumer, watch)
    }

    fn new(needles: Vec<&'static str>, tail: LogTail) -> Self {
        let seen = needles.iter().map(|_| AtomicBool::new(false)).collect();
        LogWatch {
            state: Arc::new(WatchState {
                needles,
                seen,
                carry: Mutex::new(String::new()),
                ended: AtomicBool::new(false),
                frames: watch::Sender::new(0),
            }),
            tail,
        }
    }

    /// Whether `needle` (one of the watched lines) has appeared.
    pub fn seen(&self, needle: &str) -> bool {
        let s = &self.state;
        s.needles
            .iter()
            .zip(&s.seen)
            .any(|(n, seen)| *n == needle && seen.load(Ordering::Acquire))
    }

    /// Whether the log stream has ended (the container stopped).
    pub fn ended(&self) -> bool {
        self.state.ended.load(Ordering::Acquire)
    }

    /// The last `n` lines, oldest first.
    pub fn tail(&self, n: usize) -> String {
        self.tail.last(n)
    }

    /// Waits up to `limit` for the end of the log stream; whether it ended.
    pub async fn until_ended(&self, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        loop {
            let changed = self.changed();
            if self.ended() {
                return true;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, changed).await.is_err() {
                return self.ended();
            }
        }
    }

    /// Resolves at the next frame or at the end of the stream, whichever comes first. Registered when
    /// called, so a change between this call and the `await` is not missed.
    fn changed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut frames = self.state.frames.subscribe();
        async move {
            // The sender lives as long as the watch; an error would only mean it is gone.
            let _ = frames.changed().await;
        }
    }

    #[cfg(test)]
    fn feed(&self, text: &str) {
        feed(&self.state, text);
    }
}

fn feed(state: &WatchState, text: &str) {
    if !state.needles.is_empty() {
        if let Ok(mut carry) = state.carry.lock() {
            let hay = format!("{carry}{text}");
            for (needle, seen) in state.needles.iter().zip(&state.seen) {
                if hay.contains(needle) {
                    seen.store(true, Ordering::Release);
                }
            }
            // Keep just enough of the end to find a needle that straddles two frames.
            let keep = state.needles.iter().map(|n| n.len()).max().unwrap_or(0);
            let mut start = hay.len().saturating_sub(keep);
            while !hay.is_char_boundary(start) {
                start += 1;
            }
            *carry = hay[start..].to_owned();
        }
    }
    state.frames.send_modify(|n| *n += 1);
}

/// The consumer behind a [`LogWatch`]: the file and tail consumer, then the watch.
struct Feeding<C> {
    inner: C,
    state: Arc<WatchState>,
}

impl<C: LogConsumer> LogConsumer for Feeding<C> {
    fn accept<'a>(&'a self, record: &'a LogFrame) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            // The tail first, so that a waiter woken by the watch finds the line there too.
            self.inner.accept(record).await;
            let bytes = match record {
                LogFrame::StdOut(b) | LogFrame::StdErr(b) => b,
            };
            feed(&self.state, &String::from_utf8_lossy(bytes));
        })
    }
}

impl<C> Drop for Feeding<C> {
    fn drop(&mut self) {
        // testcontainers drops its log consumers when the followed stream ends.
        self.state.ended.store(true, Ordering::Release);
        self.state.frames.send_modify(|n| *n += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(needles: Vec<&'static str>) -> LogWatch {
        LogWatch::new(needles, LogTail::default())
    }

    #[test]
    fn lines_split_across_frames_are_found() {
        let w = watch(vec!["Added new videobridge"]);
        w.feed("2026-08-20 Jicofo INFO: [37] BridgeSelector.addJvbAddress#96: Added new vid");
        assert!(!w.seen("Added new videobridge"));
        w.feed("eobridge: Bridge[jid=jvbbrewery@internal-muc.meet.jitsi/jvb]");
        assert!(w.seen("Added new videobridge"));
        assert!(!w.seen("something else"));
        // Multi-byte text at the cut does not panic.
        let w = watch(vec!["ab"]);
        w.feed("ééééé");
        w.feed("a");
        w.feed("b");
        assert!(w.seen("ab"));
    }

    #[test]
    fn conditions_serialize_and_display_as_the_plans_show_them() {
        let http = Ready::http(5280, "/xmpp-websocket", 200);
        assert_eq!(
            serde_json::to_string(&http).unwrap(),
            r#"{"kind":"http","port":5280,"path":"/xmpp-websocket","status":200}"#
        );
        assert_eq!(
            http.to_string(),
            "HTTP GET /xmpp-websocket on port 5280 answers 200"
        );
        let log = Ready::log_line("Added new videobridge");
        assert_eq!(
            serde_json::to_string(&log).unwrap(),
            r#"{"kind":"log","contains":"Added new videobridge"}"#
        );
        assert_eq!(log.to_string(), "log contains \"Added new videobridge\"");
        assert_eq!(
            Ready::url("http://h/x?token=eyJhbGciOiJIUzI1NiJ9.e30.sig").to_string(),
            format!(
                "HTTP GET {} answers",
                redact_url("http://h/x?token=eyJhbGciOiJIUzI1NiJ9.e30.sig")
            )
        );
        assert!(!Ready::url("http://h/x?token=eyJhbGciOiJIUzI1NiJ9.e30.sig")
            .to_string()
            .contains("e30.sig"));
    }

    #[tokio::test]
    async fn a_log_wait_wakes_on_the_frame_not_on_a_poll() {
        let w = watch(vec!["ready"]);
        let changed = w.changed();
        // The frame arrives after registration but before the await: the wakeup is not lost.
        w.feed("now ready");
        tokio::time::timeout(Duration::from_millis(200), changed)
            .await
            .expect("woken by the frame");
        assert!(w.seen("ready"));
    }

    #[tokio::test]
    async fn the_end_of_the_stream_is_the_consumer_being_dropped() {
        let (consumer, w) = LogWatch::follow(
            &std::env::temp_dir().join(format!("jh-ready-{}.log", std::process::id())),
            &[Ready::log_line("never")],
        );
        assert!(!w.until_ended(Duration::from_millis(50)).await);
        let waiter = {
            let w = w.clone();
            tokio::spawn(async move { w.until_ended(Duration::from_secs(5)).await })
        };
        consumer
            .accept(&LogFrame::StdOut("last words\n".into()))
            .await;
        drop(consumer);
        assert!(waiter.await.unwrap());
        assert!(w.ended());
        assert_eq!(w.tail(5), "last words");
        let _ = std::fs::remove_file(
            std::env::temp_dir().join(format!("jh-ready-{}.log", std::process::id())),
        );
    }

    #[tokio::test]
    async fn host_probes_answer_or_fail_at_the_deadline() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        wait(
            &Ready::tcp("127.0.0.1", port),
            None,
            Instant::now() + Duration::from_secs(2),
        )
        .await
        .unwrap();
        drop(listener);
        let started = Instant::now();
        let e = wait(
            &Ready::url(format!("http://127.0.0.1:{port}/")),
            None,
            Instant::now() + Duration::from_millis(600),
        )
        .await
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(e.last.is_some() && e.exited.is_none(), "{e:?}");
        assert!(e.explained().contains("last attempt"), "{}", e.explained());
    }
}
