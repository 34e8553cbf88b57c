//! A headless-browser participant: Chromium, driven over WebDriver (fantoccini), joins a room and reports
//! what its page sees as an [`Observation`], like a [`super::bot::Bot`] does for raw XMPP.
//!
//! In the data flow it sits beside the bot, under `runner`: the runner hands it a [`BrowserConfig`] (built
//! from the stack's `Endpoints`) and a [`BrowserJoin`] (room, nick, token), then polls [`Browser::observe`]
//! after each step. Two page profiles:
//!
//! * [`Profile::JitsiMeet`] opens the real jitsi-meet web app at `WEB/ROOM?jwt=TOKEN` with URL-hash config
//!   overrides (prejoin off, P2P off, muted, no deep linking: shared/research/docker-jitsi-meet.md §6, as
//!   Jitsi's own WebdriverIO tests do, research/anchors.md §1). Joined is `APP.conference.isJoined()`;
//!   roles come from the Redux state `APP.store.getState()['features/base/participants']` (`local`, and
//!   `remote`, a `Map` that the page serialises: research/jitsi-moderator.md §5). Hang-up is
//!   `APP.conference.hangup()`, grant and kick are `APP.conference._room.grantOwner(id)` /
//!   `kickParticipant(id)` (grantModerator.spec.ts, anchors §1). The web app knows roles, not
//!   affiliations, so its [`Seen::affiliation`] is `None`; its occupants are keyed by endpoint id (= MUC
//!   nick), named by display name.
//! * [`Profile::Fixture`] opens the fixture stack's own page (`room.html`, served by Prosody at
//!   `/harness/`): Strophe.js over the same WebSocket the bots use, with the token as `?room=…&token=…`,
//!   SASL ANONYMOUS, the focus `<conference/>` request, the MUC join. It exposes `window.harness` (state,
//!   occupants with role *and* affiliation, `leave()`, `grant(nick)`, `kick(nick)`).
//!
//! Processes: a [`Driver`] starts and owns one `chromedriver` (loopback only, a free port, `kill_on_drop`,
//! in our process group) or points at an existing WebDriver server (`JITSI_HARNESS_WEBDRIVER`); every
//! [`Browser`] is one WebDriver session with a fresh Chromium profile folder. Sessions are closed on every
//! path: [`Browser::close`], every error path of [`Browser::join`], and `Drop` (a blocking `DELETE
//! /session/ID` to the driver, which needs no runtime). Dropping the last [`Driver`] handle asks
//! chromedriver to `/shutdown` (it quits its browsers), then kills it and any Chromium it left behind.
//!
//! Secrets: page URLs carry the JWT (`jwt=`, `token=`); they are only ever shown through
//! [`redact_url`], and saved page sources and console logs are redacted the same way.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::error::{CmdError, ErrorStatus};
use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::bot::check_room;
use super::{Observation, Seen};
use crate::redact::{redact_url, short_token};
use crate::token::Token;

/// Env var: use this WebDriver server (e.g. a Selenium grid) instead of starting chromedriver.
pub const WEBDRIVER_ENV: &str = "JITSI_HARNESS_WEBDRIVER";
/// Env var: the Chromium binary (default [`DEFAULT_CHROMIUM`]).
pub const CHROMIUM_ENV: &str = "JITSI_HARNESS_CHROMIUM";
/// Env var: the chromedriver binary (default: `chromedriver` on `PATH`).
pub const CHROMEDRIVER_ENV: &str = "JITSI_HARNESS_CHROMEDRIVER";
/// Debian's Chromium launcher.
pub const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";
const INSTALL_HINT: &str =
    "install them with `apt-get install chromium chromium-driver` (Debian), \
     or point JITSI_HARNESS_WEBDRIVER at a WebDriver server";

/// The console-capturing script: the fixture page loads it first; other pages get it injected before
/// any of their scripts run. One copy, in the fixture page's folder.
const CONSOLE_JS: &str =
    include_str!("../../../docker/fixture/rootfs/usr/local/share/jitsi-harness/www/console.js");

/// Which page a browser opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// The jitsi-meet web app of a docker-jitsi-meet (or external) deployment.
    JitsiMeet,
    /// The fixture stack's page (`room.html` under `/harness/`).
    Fixture,
}

impl Profile {
    /// `jitsi-meet` or `fixture`.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::JitsiMeet => "jitsi-meet",
            Profile::Fixture => "fixture",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a browser could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// Chromium or chromedriver is missing on this machine.
    #[error("{what} is not installed (looked for {looked}); {hint}")]
    NotInstalled {
        what: &'static str,
        looked: String,
        hint: &'static str,
    },
    /// chromedriver was started but never answered ready.
    #[error("chromedriver did not start: {reason}; its last output:\n{output_tail}")]
    DriverDidNotStart { reason: String, output_tail: String },
    /// A given WebDriver server does not answer.
    #[error("the WebDriver server at {url} does not answer: {reason}")]
    DriverUnreachable { url: String, reason: String },
    /// The WebDriver server refused or failed to create a browser session.
    #[error("could not start a browser session at {driver}: {reason}")]
    Session { driver: String, reason: String },
    /// The page itself could not be loaded (server down, wrong port, TLS refused).
    #[error("{nick}: the page {url} is unreachable: {reason}")]
    PageUnreachable {
        nick: String,
        /// Redacted.
        url: String,
        reason: String,
    },
    /// The deployment refused the join: a rejected token (login), the focus, or the room.
    #[error("{nick} was refused at the {stage}: {condition}{}", text.as_deref().map(|t| format!(" ({t})")).unwrap_or_default())]
    JoinRefused {
        nick: String,
        /// `login` (SASL), `focus` (conference request) or `room` (MUC join).
        stage: String,
        condition: String,
        text: Option<String>,
    },
    /// The page gave up on its own (connection lost, focus never ready).
    #[error("{nick}: the page failed: {reason}")]
    PageFailed { nick: String, reason: String },
    /// A muc#admin request from the page (grant, kick) was refused or failed.
    #[error("{nick}: {what} failed: {reason}")]
    RequestFailed {
        nick: String,
        what: String,
        reason: String,
    },
    /// Something did not happen in time.
    #[error("{nick}: {what} did not happen within {} ms{}", deadline.as_millis(), last.as_deref().map(|l| format!(" (last seen: {l})")).unwrap_or_default())]
    Timeout {
        nick: String,
        what: String,
        deadline: Duration,
        /// What the page last said, when known.
        last: Option<String>,
    },
    /// A script on the page threw, or returned something of the wrong shape.
    #[error("{nick}: script error while {what}: {reason}")]
    Script {
        nick: String,
        what: String,
        reason: String,
    },
    /// A WebDriver command failed (the session or the browser died).
    #[error("{nick}: the browser session failed while {what}: {reason}")]
    WebDriver {
        nick: String,
        what: String,
        /// Redacted text of the driver's error.
        reason: String,
        #[source]
        source: Box<CmdError>,
    },
    /// A nick or room the deployment would reject anyway.
    #[error("{0}")]
    Invalid(String),
    /// Files: profile folders, artefacts.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl BrowserError {
    /// The join was refused by the deployment (as [`super::BotError::is_refusal`]): an observation for the
    /// timeline, not a harness failure.
    pub fn is_refusal(&self) -> bool {
        matches!(self, BrowserError::JoinRefused { .. })
    }

    /// Chromium or chromedriver is not installed (a test may be skipped locally for this).
    pub fn is_not_installed(&self) -> bool {
        matches!(self, BrowserError::NotInstalled { .. })
    }
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BrowserError {
    let what = what.into();
    move |source| BrowserError::Io { what, source }
}

// ------------------------------------------------------------------------------------------------------
// Driver
// ------------------------------------------------------------------------------------------------------

/// How to get a WebDriver server.
#[derive(Clone, Debug)]
pub struct DriverOptions {
    /// Use this WebDriver server instead of starting chromedriver.
    pub webdriver_url: Option<String>,
    /// The chromedriver binary; `None`: `chromedriver` on `PATH`.
    pub chromedriver: Option<PathBuf>,
    /// The Chromium binary handed to chromedriver; `None` with a remote server lets its nodes choose.
    pub chromium: Option<PathBuf>,
    /// Deadline for chromedriver (or the remote server) to answer ready on `/status`.
    pub startup_timeout: Duration,
}

impl Default for DriverOptions {
    fn default() -> Self {
        DriverOptions {
            webdriver_url: None,
            chromedriver: None,
            chromium: None,
            // chromedriver answers /status in about 0.2 s here; 15 s leaves room for a loaded CI machine.
            startup_timeout: Duration::from_secs(15),
        }
    }
}

impl DriverOptions {
    /// From `JITSI_HARNESS_WEBDRIVER`, `JITSI_HARNESS_CHROMEDRIVER`, `JITSI_HARNESS_CHROMIUM`.
    pub fn from_env() -> Self {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        DriverOptions {
            webdriver_url: var(WEBDRIVER_ENV),
            chromedriver: var(CHROMEDRIVER_ENV).map(PathBuf::from),
            chromium: var(CHROMIUM_ENV).map(PathBuf::from),
            ..DriverOptions::default()
        }
    }

    /// Whether what these options need is on this machine: the binaries for a local chromedriver (nothing
    /// to check for a remote server). Cheap; no process is started.
    pub fn check_installed(&self) -> Result<(), BrowserError> {
        if self.webdriver_url.is_some() {
            return Ok(());
        }
        locate_chromium(self.chromium.as_deref())?;
        locate_chromedriver(self.chromedriver.as_deref())?;
        Ok(())
    }
}

fn locate_chromium(given: Option<&Path>) -> Result<PathBuf, BrowserError> {
    let path = given
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CHROMIUM));
    if path.is_file() {
        Ok(path)
    } else {
        Err(BrowserError::NotInstalled {
            what: "chromium",
            looked: path.display().to_string(),
            hint: INSTALL_HINT,
        })
    }
}

fn locate_chromedriver(given: Option<&Path>) -> Result<PathBuf, BrowserError> {
    if let Some(path) = given {
        return if path.is_file() {
            Ok(path.to_path_buf())
        } else {
            Err(BrowserError::NotInstalled {
                what: "chromedriver",
                looked: path.display().to_string(),
                hint: INSTALL_HINT,
            })
        };
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .map(|dir| dir.join("chromedriver"))
        .find(|p| p.is_file())
        .ok_or(BrowserError::NotInstalled {
            what: "chromedriver",
            looked: "`chromedriver` on PATH".into(),
            hint: INSTALL_HINT,
        })
}

/// A WebDriver server that browsers open sessions on: a chromedriver this process started and owns, or
/// a remote one. Cheap to clone; one driver serves many sessions. The owned chromedriver stops when
/// [`Driver::close`] is called or the last clone (including those inside [`BrowserConfig`]s and
/// [`Browser`]s) is dropped.
#[derive(Clone)]
pub struct Driver {
    inner: Arc<DriverInner>,
}

struct DriverInner {
    url: String,
    chromium: Option<PathBuf>,
    remote: bool,
    local: Mutex<Option<LocalDriver>>,
    started_in: Duration,
}

struct LocalDriver {
    child: tokio::process::Child,
    pid: u32,
    url: String,
    /// Holds chromedriver's output file.
    _dir: TempDir,
}

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver")
            .field("url", &self.inner.url)
            .field("remote", &self.inner.remote)
            .field("pid", &self.pid())
            .finish()
    }
}

impl Driver {
    /// Starts chromedriver, or connects to `options.webdriver_url`.
    pub async fn start(options: &DriverOptions) -> Result<Driver, BrowserError> {
        match &options.webdriver_url {
            Some(url) => Driver::remote(url, options).await,
            None => Driver::spawn(options).await,
        }
    }

    /// [`Driver::start`] with [`DriverOptions::from_env`].
    pub async fn from_env() -> Result<Driver, BrowserError> {
        Driver::start(&DriverOptions::from_env()).await
    }

    async fn remote(url: &str, options: &DriverOptions) -> Result<Driver, BrowserError> {
        let t0 = Instant::now();
        let url = url.trim_end_matches('/').to_owned();
        let deadline = t0 + options.startup_timeout;
        let mut last = String::from("no answer");
        while Instant::now() < deadline {
            match status_ready(&url).await {
                Ok(true) => {
                    return Ok(Driver {
                        inner: Arc::new(DriverInner {
                            url,
                            chromium: options.chromium.clone(),
                            remote: true,
                            local: Mutex::new(None),
                            started_in: t0.elapsed(),
                        }),
                    })
                }
                Ok(false) => last = "/status says it is not ready".into(),
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(BrowserError::DriverUnreachable {
            url: redact_url(&url),
            reason: format!("{last} (waited {} s)", options.startup_timeout.as_secs()),
        })
    }

    async fn spawn(options: &DriverOptions) -> Result<Driver, BrowserError> {
        let chromium = locate_chromium(options.chromium.as_deref())?;
        let chromedriver = locate_chromedriver(options.chromedriver.as_deref())?;
        let t0 = Instant::now();
        let deadline = t0 + options.startup_timeout;
        let dir = TempDir::create("jitsi-harness-chromedriver")?;
        let output = dir.path().join("chromedriver.out");
        // A port freed by the kernel can be taken by someone else before chromedriver binds it: retry.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port()?;
            let file = std::fs::File::create(&output)
                .map_err(io_error(format!("cannot create {}", output.display())))?;
            let file2 = file
                .try_clone()
                .map_err(io_error("cannot duplicate a file handle"))?;
            // Never `--allowed-ips`: with it chromedriver listens on every interface
            // (research/env-feasibility.md §4); without it, on loopback only.
            let mut command = tokio::process::Command::new(&chromedriver);
            command
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::from(file))
                .stderr(Stdio::from(file2))
                .kill_on_drop(true);
            let child = command.spawn().map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    BrowserError::NotInstalled {
                        what: "chromedriver",
                        looked: chromedriver.display().to_string(),
                        hint: INSTALL_HINT,
                    }
                } else {
                    BrowserError::DriverDidNotStart {
                        reason: format!("cannot run {}: {e}", chromedriver.display()),
                        output_tail: String::new(),
                    }
                }
            })?;
            let pid = child.id().unwrap_or(0);
            let url = format!("http://127.0.0.1:{port}");
            let mut local = LocalDriver {
                child,
                pid,
                url: url.clone(),
                _dir: TempDir(None),
            };
            match wait_until_ready(&mut local, deadline).await {
                Ok(()) => {
                    local._dir = dir;
                    tracing::debug!(%url, pid, "chromedriver ready");
                    return Ok(Driver {
                        inner: Arc::new(DriverInner {
                            url,
                            chromium: Some(chromium),
                            remote: false,
                            local: Mutex::new(Some(local)),
                            started_in: t0.elapsed(),
                        }),
                    });
                }
                Err(reason) => {
                    let tail = file_tail(&output, 20);
                    tokio::task::spawn_blocking(move || local.shutdown())
                        .await
                        .ok();
                    if attempt < 3 && tail.contains("ddress already in use") {
                        continue;
                    }
                    return Err(BrowserError::DriverDidNotStart {
                        reason,
                        output_tail: tail,
                    });
                }
            }
        }
    }

    /// The WebDriver server's base URL.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// Whether this is a remote server (not started by us).
    pub fn is_remote(&self) -> bool {
        self.inner.remote
    }

    /// How long the start took, until `/status` said ready.
    pub fn started_in(&self) -> Duration {
        self.inner.started_in
    }

    /// The chromedriver process id, when we started it and it still runs.
    pub fn pid(&self) -> Option<u32> {
        self.inner
            .local
            .lock()
            .ok()
            .and_then(|l| l.as_ref().map(|l| l.pid))
    }

    /// chromedriver and every process under it (the Chromium processes of open sessions); empty for a
    /// remote server. For measurements and for checking that nothing survives.
    pub fn processes(&self) -> Vec<ProcessInfo> {
        match self.pid() {
            Some(pid) => {
                let mut all = descendant_processes(pid);
                if let Some(me) = process_info(pid) {
                    all.insert(0, me);
                }
                all
            }
            None => Vec::new(),
        }
    }

    /// Stops the chromedriver we started (it quits every browser it still has; stragglers are killed).
    /// Browsers still open on it fail afterwards. Nothing to do for a remote server.
    pub async fn close(self) -> Result<(), BrowserError> {
        let local = self.inner.local.lock().ok().and_then(|mut l| l.take());
        if let Some(local) = local {
            let survivors = tokio::task::spawn_blocking(move || local.shutdown())
                .await
                .unwrap_or_default();
            if !survivors.is_empty() {
                return Err(BrowserError::Io {
                    what: format!(
                        "processes still alive after chromedriver's shutdown: {survivors:?}"
                    ),
                    source: std::io::Error::other("kill failed"),
                });
            }
        }
        Ok(())
    }
}

impl Drop for DriverInner {
    fn drop(&mut self) {
        if let Some(local) = self.local.get_mut().ok().and_then(|l| l.take()) {
            local.shutdown();
        }
    }
}

async fn wait_until_ready(local: &mut LocalDriver, deadline: Instant) -> Result<(), String> {
    loop {
        match local.child.try_wait() {
            Ok(Some(status)) => {
                return Err(format!("it exited ({status}) before answering /status"))
            }
            Ok(None) => {}
            Err(e) => return Err(format!("cannot check on it: {e}")),
        }
        let last = match status_ready(&local.url).await {
            Ok(true) => return Ok(()),
            Ok(false) => "/status says not ready".to_owned(),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            return Err(format!("/status did not say ready in time ({last})"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `GET /status` → `value.ready`.
async fn status_ready(url: &str) -> Result<bool, String> {
    let url = url.to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        http_request(&url, "GET", "/status", None, Duration::from_secs(2))
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    let value: Value = serde_json::from_str(&answer.1).map_err(|e| format!("/status: {e}"))?;
    Ok(value["value"]["ready"].as_bool().unwrap_or(false))
}

impl LocalDriver {
    /// Asks chromedriver to quit its browsers and exit, then kills whatever is left. Blocking; usable from
    /// `Drop`. Returns the processes that could not be killed.
    fn shutdown(mut self) -> Vec<ProcessInfo> {
        let before = descendant_processes(self.pid);
        let _ = http_request(&self.url, "GET", "/shutdown", None, Duration::from_secs(3));
        let exited = wait_for(Duration::from_secs(5), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        });
        if !exited {
            tracing::warn!(
                pid = self.pid,
                "chromedriver did not exit after /shutdown; killing it"
            );
            let _ = self.child.start_kill();
            wait_for(Duration::from_secs(2), || {
                matches!(self.child.try_wait(), Ok(Some(_)))
            });
        }
        // Its browsers should be gone with it; anything still there (same pid, same name) is killed.
        let still = |p: &ProcessInfo| {
            process_info(p.pid).is_some_and(|now| now.start_ticks == p.start_ticks)
        };
        wait_for(Duration::from_secs(3), || !before.iter().any(still));
        for p in before.iter().filter(|p| still(p)) {
            tracing::warn!(pid = p.pid, comm = %p.comm, "killing a process chromedriver left behind");
            // SAFETY: kill(2) with a pid we observed as a descendant of our chromedriver moments ago.
            unsafe {
                libc::kill(p.pid as libc::pid_t, libc::SIGKILL);
            }
        }
        wait_for(Duration::from_secs(2), || !before.iter().any(still));
        before.into_iter().filter(|p| still(p)).collect()
    }
}

/// Polls `done` every 25 ms until it holds or `limit` passes; returns whether it held.
fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn free_port() -> Result<u16, BrowserError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(io_error("cannot bind 127.0.0.1:0 to find a free port"))?;
    let port = listener
        .local_addr()
        .map_err(io_error("cannot read a bound socket's address"))?
        .port();
    Ok(port)
}

fn file_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// ------------------------------------------------------------------------------------------------------
// Processes (Linux /proc), for shutdown and for tests that check nothing survives.
// ------------------------------------------------------------------------------------------------------

/// One process, from `/proc/PID/stat` and `/proc/PID/status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    /// Process id.
    pub pid: u32,
    /// Parent's process id (1 for daemons and orphans).
    pub ppid: u32,
    /// The kernel's short name (`chromium`, `chromedriver`, …).
    pub comm: String,
    /// Resident set size in KiB (`VmRSS`); 0 when unknown. Counts shared pages in every process.
    pub rss_kib: u64,
    /// Proportional set size in KiB (`Pss` of `smaps_rollup`: shared pages split among their users, so
    /// it adds up across processes); 0 when unknown or not ours to read.
    pub pss_kib: u64,
    /// Start time in clock ticks after boot (`/proc/PID/stat` field 22): tells a process from a later
    /// one that reused its pid, and which processes started after a given one.
    pub start_ticks: u64,
}

/// The `key: N kB` value of a `/proc` file, 0 when unknown.
fn proc_kib(file: &str, key: &str) -> u64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// A live process's info; `None` when it is gone (or a zombie).
pub fn process_info(pid: u32) -> Option<ProcessInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    let mut rest = stat.get(close + 1..)?.split_whitespace();
    let state = rest.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    let ppid = rest.next()?.parse().ok()?;
    // Fields after `)`: 3 state, 4 ppid, … 22 starttime (proc(5)); `rest` now stands at field 5.
    let start_ticks = rest.nth(17).and_then(|v| v.parse().ok()).unwrap_or(0);
    let rss_kib = proc_kib(&format!("/proc/{pid}/status"), "VmRSS:");
    let pss_kib = proc_kib(&format!("/proc/{pid}/smaps_rollup"), "Pss:");
    Some(ProcessInfo {
        pid,
        ppid,
        comm,
        rss_kib,
        pss_kib,
        start_ticks,
    })
}

/// Every live process this process can see.
pub fn all_processes() -> Vec<ProcessInfo> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(process_info)
        .collect()
}

/// Every live process whose parent chain reaches `root` (not `root` itself). Chromium's crash handler
/// daemonizes (its parent is init) and is not among them; it exits with the last Chromium it serves.
pub fn descendant_processes(root: u32) -> Vec<ProcessInfo> {
    let all = all_processes();
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for p in all.iter().filter(|p| p.ppid == parent) {
            if !found.iter().any(|f: &ProcessInfo| f.pid == p.pid) {
                frontier.push(p.pid);
                found.push(p.clone());
            }
        }
    }
    found
}

// ------------------------------------------------------------------------------------------------------
// A tiny blocking HTTP/1.1 client for the driver's side doors (/status, /shutdown, DELETE session, CDP):
// it needs no async runtime, so `Drop` can use it.
// ------------------------------------------------------------------------------------------------------

/// `METHOD base+path` with an optional JSON body; returns (status, body).
fn http_request(
    base: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    timeout: Duration,
) -> std::io::Result<(u16, String)> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, what.to_owned());
    let rest = base
        .strip_prefix("http://")
        .ok_or_else(|| bad("only http:// WebDriver URLs are supported"))?;
    let (authority, prefix) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let addr = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let socket = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| bad("the WebDriver host does not resolve"))?;
    let mut stream = TcpStream::connect_timeout(&socket, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {prefix}{path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\
         Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    let end = Instant::now() + timeout;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(done) = complete_response(&raw) {
            return done;
        }
        if Instant::now() >= end {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "incomplete HTTP answer",
            ));
        }
        match stream.read(&mut buf) {
            Ok(0) => return complete_response(&raw).unwrap_or_else(|| parse_response(&raw, true)),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) => return Err(e),
        }
    }
}

/// The response, once `raw` holds all of it (by Content-Length or a final chunk).
fn complete_response(raw: &[u8]) -> Option<std::io::Result<(u16, String)>> {
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    if let Some(len) = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        return (raw.len() >= head_end + len)
            .then(|| parse_response(&raw[..head_end + len], false));
    }
    if head.contains("transfer-encoding: chunked") && raw.ends_with(b"0\r\n\r\n") {
        return Some(parse_response(raw, false));
    }
    None
}

fn parse_response(raw: &[u8], eof: bool) -> std::io::Result<(u16, String)> {
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            invalid(if eof {
                "connection closed before the HTTP headers ended"
            } else {
                "no HTTP headers"
            })
        })?
        + 4;
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid("no HTTP status"))?;
    let mut body = raw[head_end..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body).ok_or_else(|| invalid("bad chunked encoding"))?;
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

// ------------------------------------------------------------------------------------------------------
// Temp folders
// ------------------------------------------------------------------------------------------------------

/// A folder removed on drop (Chromium profiles, chromedriver output).
struct TempDir(Option<PathBuf>);

impl TempDir {
    fn create(prefix: &str) -> Result<TempDir, BrowserError> {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path)
            .map_err(io_error(format!("cannot create {}", path.display())))?;
        Ok(TempDir(Some(path)))
    }

    fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or_else(|| Path::new(""))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            // Chromium may still be writing its profile for a moment after its session closed.
            let removed = wait_for(Duration::from_secs(2), || {
                std::fs::remove_dir_all(&path).is_ok() || !path.exists()
            });
            if !removed {
                tracing::warn!("could not remove {}", path.display());
            }
        }
    }
}

// ------------------------------------------------------------------------------------------------------
// Configuration
// ------------------------------------------------------------------------------------------------------

/// Deadlines of one browser.
#[derive(Clone, Copy, Debug)]
pub struct BrowserTimeouts {
    /// New WebDriver session (Chromium start): 0.6–1.6 s measured (research/crates.md §3).
    pub session: Duration,
    /// Page load to joined (or refused).
    pub join: Duration,
    /// Leave to the page saying it left.
    pub leave: Duration,
    /// One WebDriver command or page request (state read, grant, kick, screenshot).
    pub request: Duration,
    /// How often the page's state is read while waiting.
    pub poll: Duration,
}

impl BrowserTimeouts {
    /// For `profile`: the jitsi-meet web app loads megabytes of script and waits for media, so it gets
    /// longer (Jitsi's own tests allow 10 s for `isJoined` on a warm deployment: research/anchors.md §1).
    pub fn for_profile(profile: Profile) -> Self {
        let base = BrowserTimeouts {
            session: Duration::from_secs(30),
            join: Duration::from_secs(20),
            leave: Duration::from_secs(10),
            request: Duration::from_secs(10),
            poll: Duration::from_millis(100),
        };
        match profile {
            Profile::Fixture => base,
            Profile::JitsiMeet => BrowserTimeouts {
                join: Duration::from_secs(45),
                ..base
            },
        }
    }
}

impl Default for BrowserTimeouts {
    fn default() -> Self {
        BrowserTimeouts::for_profile(Profile::Fixture)
    }
}

/// Where and how browsers join.
#[derive(Clone, Debug)]
pub struct BrowserConfig {
    /// The WebDriver server sessions are opened on.
    pub driver: Driver,
    /// Which page to open.
    pub profile: Profile,
    /// Base URL pages live under (the stack's `Endpoints::web`): the jitsi-meet web root
    /// (`https://HOST/`), or the fixture page folder (`http://127.0.0.1:PORT/harness/`).
    pub web: String,
    /// Fixture page: WebSocket URL without query (`Endpoints::websocket`).
    pub websocket: String,
    /// Fixture page: XMPP domain to log in on.
    pub domain: String,
    /// Fixture page: MUC domain.
    pub muc_domain: String,
    /// Fixture page: where the focus request goes.
    pub focus_domain: String,
    /// Fixture page: no focus request (plain Prosody).
    pub skip_focus: bool,
    /// Accept self-signed certificates (`--ignore-certificate-errors`, `acceptInsecureCerts`).
    pub insecure_tls: bool,
    /// Deadlines.
    pub timeouts: BrowserTimeouts,
    /// Where a failed join saves its screenshot, console log and page source (`NICK-join-failed.*`).
    pub artifacts: Option<PathBuf>,
}

/// Who joins which room.
#[derive(Clone, Debug)]
pub struct BrowserJoin {
    /// Room name.
    pub room: String,
    /// The scenario's name for the participant: the MUC nick on the fixture page; on jitsi-meet, which
    /// picks its own endpoint id, the display name when `display_name` is `None`.
    pub nick: String,
    /// Display name.
    pub display_name: Option<String>,
    /// The JWT (`?jwt=` for jitsi-meet, `token=` on the WebSocket URL for the fixture page).
    pub token: Option<Token>,
    /// The focus request's `machine-uid` (fixture page; jitsi-meet makes its own).
    pub machine_uid: String,
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn with_slash(base: &str) -> String {
    if base.ends_with('/') {
        base.to_owned()
    } else {
        format!("{base}/")
    }
}

/// The jitsi-meet hash overrides: no prejoin screen (both spellings), no P2P, muted, no app
/// download page, no display-name prompt (research/docker-jitsi-meet.md §6, configWhitelist.ts).
const JITSI_MEET_HASH: &str = "config.prejoinConfig.enabled=false&config.prejoinPageEnabled=false\
     &config.p2p.enabled=false&config.disableDeepLinking=true&config.startWithAudioMuted=true\
     &config.startWithVideoMuted=true&config.requireDisplayName=false";

/// The URL a browser opens (it holds the token: show it only through [`redact_url`]).
pub fn page_url(config: &BrowserConfig, join: &BrowserJoin) -> String {
    let name = join.display_name.as_deref().unwrap_or(&join.nick);
    match config.profile {
        Profile::JitsiMeet => {
            let mut url = format!("{}{}", with_slash(&config.web), encode(&join.room));
            if let Some(token) = &join.token {
                url.push_str("?jwt=");
                url.push_str(&encode(token.expose()));
            }
            // Hash values are JSON (jitsi-meet parseURLParams): a display name is a quoted string.
            let name_json = serde_json::to_string(name).unwrap_or_else(|_| "\"\"".into());
            format!(
                "{url}#{JITSI_MEET_HASH}&userInfo.displayName={}",
                encode(&name_json)
            )
        }
        Profile::Fixture => {
            let focus = if config.skip_focus {
                ""
            } else {
                config.focus_domain.as_str()
            };
            let mut params = vec![
                ("ws", config.websocket.as_str()),
                ("domain", config.domain.as_str()),
                ("muc", config.muc_domain.as_str()),
                ("focus", focus),
                ("room", join.room.as_str()),
                ("nick", join.nick.as_str()),
                ("name", name),
                ("uid", join.machine_uid.as_str()),
            ];
            if let Some(token) = &join.token {
                params.push(("token", token.expose()));
            }
            let query: Vec<String> = params
                .iter()
                .map(|(k, v)| format!("{k}={}", encode(v)))
                .collect();
            format!("{}room.html?{}", with_slash(&config.web), query.join("&"))
        }
    }
}

/// The WebDriver capabilities of one session (Debian chromium 156: research/crates.md §3).
pub fn capabilities(
    chromium: Option<&Path>,
    user_data_dir: &Path,
    insecure_tls: bool,
) -> serde_json::Map<String, Value> {
    let mut args: Vec<String> = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("--user-data-dir={}", user_data_dir.display()));
    // Jitsi asks for camera and microphone: grant without a prompt, with synthetic devices.
    args.push("--use-fake-ui-for-media-stream".into());
    args.push("--use-fake-device-for-media-stream".into());
    if insecure_tls {
        args.push("--ignore-certificate-errors".into());
    }
    let mut chrome = json!({ "args": args });
    if let Some(binary) = chromium {
        chrome["binary"] = json!(binary.display().to_string());
    }
    let caps = json!({
        "browserName": "chrome",
        "acceptInsecureCerts": insecure_tls,
        "goog:chromeOptions": chrome,
    });
    match caps {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

// ------------------------------------------------------------------------------------------------------
// Page state
// ------------------------------------------------------------------------------------------------------

/// Why the page says it was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// `login`, `focus` or `room`.
    pub stage: String,
    /// The XMPP condition (`not-allowed`, `not-authorized`, …) or lib-jitsi-meet's error name.
    pub condition: String,
    /// The server's text, when it gave one (`token has expired`).
    pub text: Option<String>,
}

/// Where the page stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum PagePhase {
    /// The page (or its app) has not started yet.
    Loading,
    /// Logging in, asking the focus, or joining the MUC.
    Connecting,
    /// In the room: its own presence (status 110) arrived, or `APP.conference.isJoined()`.
    Joined,
    /// The deployment said no.
    Refused(Refusal),
    /// Left the room.
    Left {
        /// A moderator removed it (status 307).
        kicked: bool,
    },
    /// The page gave up (connection lost, focus never ready, conference failed).
    Failed(String),
}

/// One read of the page: its phase and what it sees.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PageState {
    /// Where the page stands.
    pub phase: PagePhase,
    /// What it sees; `present` only when joined.
    pub observation: Observation,
}

impl PageState {
    fn describe(&self) -> String {
        let occupants: Vec<String> = self
            .observation
            .occupants
            .values()
            .map(|s| format!("{}={}", s.nick, s.role))
            .collect();
        format!("{:?}, occupants [{}]", self.phase, occupants.join(", "))
    }
}

/// Reads the fixture page (one `execute`).
const FIXTURE_STATE_JS: &str =
    "return (window.harness && typeof window.harness.snapshot === 'function') \
     ? window.harness.snapshot() : null;";

#[derive(Deserialize)]
struct FixtureSnapshot {
    state: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    refusal: Option<FixtureRefusal>,
    #[serde(default)]
    kicked: bool,
    #[serde(default)]
    me: Option<String>,
    #[serde(default)]
    occupants: Vec<FixtureOccupant>,
}

#[derive(Deserialize)]
struct FixtureRefusal {
    stage: String,
    condition: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct FixtureOccupant {
    nick: String,
    #[serde(default)]
    name: Option<String>,
    role: String,
    #[serde(default)]
    affiliation: Option<String>,
}

/// Parses what [`FIXTURE_STATE_JS`] returns (`null` while the page loads).
pub fn parse_fixture_state(value: &Value) -> Result<PageState, String> {
    if value.is_null() {
        return Ok(PageState {
            phase: PagePhase::Loading,
            observation: Observation::default(),
        });
    }
    let snap: FixtureSnapshot = serde_json::from_value(value.clone())
        .map_err(|e| format!("window.harness.snapshot(): {e}"))?;
    let phase = match snap.state.as_str() {
        "connecting" => PagePhase::Connecting,
        "joined" => PagePhase::Joined,
        "left" => PagePhase::Left {
            kicked: snap.kicked,
        },
        "refused" => PagePhase::Refused(match snap.refusal {
            Some(r) => Refusal {
                stage: r.stage,
                condition: r.condition,
                text: r.text,
            },
            None => Refusal {
                stage: "unknown".into(),
                condition: snap.error.clone().unwrap_or_else(|| "unknown".into()),
                text: None,
            },
        }),
        "failed" => PagePhase::Failed(snap.error.unwrap_or_else(|| "no reason given".into())),
        other => return Err(format!("window.harness.state is `{other}`")),
    };
    let present = phase == PagePhase::Joined;
    let occupants = snap
        .occupants
        .into_iter()
        .map(|o| {
            (
                o.nick.clone(),
                Seen {
                    nick: o.nick,
                    name: o.name.filter(|n| !n.is_empty()),
                    role: o.role.parse().unwrap_or(crate::xmpp::Role::None),
                    affiliation: o.affiliation.and_then(|a| a.parse().ok()),
                },
            )
        })
        .collect();
    Ok(PageState {
        phase,
        observation: Observation {
            present,
            occupants,
            own: snap.me,
        },
    })
}

/// Reads the jitsi-meet web app (one `execute`): joined, own id, participants from Redux (the `remote`
/// Map serialised here), and connection/conference errors. Fake participants (shared videos) are left
/// out.
const JITSI_STATE_JS: &str = r#"
if (typeof APP === 'undefined' || !APP.store || !APP.conference) { return { loaded: false }; }
const state = APP.store.getState();
const parts = state['features/base/participants'] || {};
const connection = state['features/base/connection'] || {};
const conference = state['features/base/conference'] || {};
const error = e => e ? { name: String(e.name || e.message || e), message: e.message ? String(e.message) : null } : null;
const person = p => ({ id: String(p.id), name: p.name == null ? null : String(p.name), role: p.role == null ? null : String(p.role), fake: !!p.fakeParticipant });
const remote = parts.remote instanceof Map ? Array.from(parts.remote.values()) : Object.values(parts.remote || {});
return {
  loaded: true,
  joined: !!APP.conference.isJoined(),
  myId: typeof APP.conference.getMyUserId === 'function' ? (APP.conference.getMyUserId() || null) : null,
  local: parts.local ? person(parts.local) : null,
  remote: remote.map(person),
  connectionError: error(connection.error),
  conferenceError: error(conference.error),
  authRequired: !!conference.authRequired
};
"#;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JitsiSnapshot {
    loaded: bool,
    #[serde(default)]
    joined: bool,
    #[serde(default)]
    my_id: Option<String>,
    #[serde(default)]
    local: Option<JitsiParticipant>,
    #[serde(default)]
    remote: Vec<JitsiParticipant>,
    #[serde(default)]
    connection_error: Option<JitsiError>,
    #[serde(default)]
    conference_error: Option<JitsiError>,
    #[serde(default)]
    auth_required: bool,
}

#[derive(Deserialize)]
struct JitsiParticipant {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    fake: bool,
}

#[derive(Deserialize)]
struct JitsiError {
    name: String,
    #[serde(default)]
    message: Option<String>,
}

impl std::fmt::Display for JitsiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)?;
        match &self.message {
            Some(m) => write!(f, " ({m})"),
            None => Ok(()),
        }
    }
}

/// lib-jitsi-meet conference errors that mean "the deployment said no" (JitsiConferenceErrors):
/// authentication required, members only (lobby), not allowed, access denied, password, full room,
/// reservation refused.
const JITSI_REFUSALS: &[&str] = &[
    "conference.authenticationRequired",
    "conference.connectionError.membersOnly",
    "conference.connectionError.notAllowed",
    "conference.connectionError.accessDenied",
    "conference.passwordRequired",
    "conference.max_users",
    "conference.reservationError",
];

/// Parses what [`JITSI_STATE_JS`] returns. `hung_up`: we called `APP.conference.hangup()`.
pub fn parse_jitsi_state(value: &Value, hung_up: bool) -> Result<PageState, String> {
    let snap: JitsiSnapshot =
        serde_json::from_value(value.clone()).map_err(|e| format!("jitsi-meet state: {e}"))?;
    let refusal = |stage: &str, e: &JitsiError| {
        PagePhase::Refused(Refusal {
            stage: stage.into(),
            condition: e.name.clone(),
            text: e.message.clone().filter(|m| m != &e.name),
        })
    };
    let phase = if !snap.loaded {
        if hung_up {
            PagePhase::Left { kicked: false }
        } else {
            PagePhase::Loading
        }
    } else if hung_up && !snap.joined {
        PagePhase::Left { kicked: false }
    } else if let Some(e) = &snap.connection_error {
        // A token the server rejects fails SASL; lib-jitsi-meet reports it as passwordRequired.
        if e.name == "connection.passwordRequired" {
            refusal("login", e)
        } else {
            PagePhase::Failed(e.to_string())
        }
    } else if let Some(e) = &snap.conference_error {
        if e.name == "conference.authenticationRequired" {
            refusal("focus", e)
        } else if JITSI_REFUSALS.contains(&e.name.as_str()) {
            refusal("room", e)
        } else {
            PagePhase::Failed(e.to_string())
        }
    } else if snap.auth_required {
        PagePhase::Refused(Refusal {
            stage: "focus".into(),
            condition: "conference.authenticationRequired".into(),
            text: Some("the focus wants an authenticated user to create the room".into()),
        })
    } else if snap.joined {
        PagePhase::Joined
    } else {
        PagePhase::Connecting
    };
    let present = phase == PagePhase::Joined;
    let mut occupants = BTreeMap::new();
    let mut own = None;
    if present {
        if let Some(local) = &snap.local {
            let id = snap.my_id.clone().unwrap_or_else(|| local.id.clone());
            own = Some(id.clone());
            occupants.insert(id.clone(), jitsi_seen(id, local));
        }
        for p in snap.remote.iter().filter(|p| !p.fake) {
            occupants.insert(p.id.clone(), jitsi_seen(p.id.clone(), p));
        }
    }
    Ok(PageState {
        phase,
        observation: Observation {
            present,
            occupants,
            own,
        },
    })
}

fn jitsi_seen(id: String, p: &JitsiParticipant) -> Seen {
    Seen {
        nick: id,
        name: p.name.clone().filter(|n| !n.is_empty()),
        role: (p.role.as_deref().and_then(|r| r.parse().ok())).unwrap_or(crate::xmpp::Role::None),
        affiliation: None,
    }
}

// ------------------------------------------------------------------------------------------------------
// Browser
// ------------------------------------------------------------------------------------------------------

/// Files saved by [`Browser::capture`]; each is `None` when it could not be taken (see `errors`).
#[derive(Clone, Debug, Default)]
pub struct Capture {
    /// `LABEL.png`.
    pub screenshot: Option<PathBuf>,
    /// `LABEL.console.log`, tokens redacted.
    pub console: Option<PathBuf>,
    /// `LABEL.html`, tokens redacted.
    pub source: Option<PathBuf>,
    /// What could not be saved, and why.
    pub errors: Vec<String>,
}

/// A browser in a room: one WebDriver session. Close it with [`Browser::close`] (or
/// [`Browser::leave`] / [`Browser::disconnect`]); dropping it closes the session as a fallback.
pub struct Browser {
    nick: String,
    profile: Profile,
    driver: Driver,
    client: Option<Client>,
    session_id: Option<String>,
    token: Option<Token>,
    timeouts: BrowserTimeouts,
    /// Whether `Page.addScriptToEvaluateOnNewDocument` took the console capture.
    console_injected: bool,
    hung_up: bool,
    session_started_in: Duration,
    joined_in: Duration,
    /// Removed after the session is closed (field order: after `client`).
    _profile_dir: TempDir,
}

impl fmt::Debug for Browser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Browser")
            .field("nick", &self.nick)
            .field("profile", &self.profile)
            .field("session", &self.session_id)
            .finish_non_exhaustive()
    }
}

/// A WebDriver error with its text redacted.
fn driver_reason(e: &CmdError) -> String {
    redact_url(&e.to_string())
}

impl Browser {
    /// Opens a session, loads the page for the profile, and waits (up to `timeouts.join`) until the page
    /// says it joined. A refusal is [`BrowserError::JoinRefused`] naming the stage and cause. On any error
    /// the screenshot, console log and page source go to `config.artifacts` (as `NICK-join-failed.*`)
    /// and the session is closed.
    pub async fn join(config: &BrowserConfig, join: BrowserJoin) -> Result<Browser, BrowserError> {
        if config.profile == Profile::Fixture && !crate::xmpp::nick::is_valid(&join.nick) {
            return Err(BrowserError::Invalid(format!(
                "nick `{}` is invalid: Jitsi (muc_resource_validate) accepts ^[a-zA-Z0-9][a-zA-Z0-9_]*$",
                join.nick
            )));
        }
        check_room(&join.room).map_err(|e| BrowserError::Invalid(e.to_string()))?;
        let url = page_url(config, &join);
        let mut browser = Browser::open(config, &join.nick, join.token.clone()).await?;
        let started = Instant::now();
        match browser.load_and_wait(&url, config.timeouts.join).await {
            Ok(()) => {
                browser.joined_in = started.elapsed();
                tracing::debug!(
                    nick = %browser.nick,
                    url = %redact_url(&url),
                    ms = browser.joined_in.as_millis() as u64,
                    "browser joined"
                );
                Ok(browser)
            }
            Err(e) => {
                if let Some(dir) = &config.artifacts {
                    let label = format!("{}-join-failed", join.nick);
                    match browser.capture(dir, &label).await {
                        Ok(c) if c.errors.is_empty() => {}
                        Ok(c) => {
                            tracing::warn!(nick = %join.nick, "partial failure capture: {:?}", c.errors)
                        }
                        Err(ce) => tracing::warn!(nick = %join.nick, "no failure capture: {ce}"),
                    }
                }
                if let Err(ce) = browser.close().await {
                    tracing::warn!(nick = %join.nick, "closing the failed browser: {ce}");
                }
                Err(e)
            }
        }
    }

    async fn open(
        config: &BrowserConfig,
        nick: &str,
        token: Option<Token>,
    ) -> Result<Browser, BrowserError> {
        let driver = config.driver.clone();
        // A remote server's nodes make the folder themselves; we can only remove local ones.
        let profile_dir = if driver.is_remote() {
            TempDir(None)
        } else {
            TempDir::create("jitsi-harness-chromium")?
        };
        let dir_arg = if driver.is_remote() {
            std::env::temp_dir().join(format!(
                "jitsi-harness-chromium-{}",
                uuid::Uuid::new_v4().simple()
            ))
        } else {
            profile_dir.path().to_path_buf()
        };
        let caps = capabilities(
            driver.inner.chromium.as_deref(),
            &dir_arg,
            config.insecure_tls,
        );
        let t0 = Instant::now();
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(caps);
        let connect = builder.connect(driver.url());
        let client = match tokio::time::timeout(config.timeouts.session, connect).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => {
                return Err(BrowserError::Session {
                    driver: redact_url(driver.url()),
                    reason: redact_url(&e.to_string()),
                })
            }
            Err(_) => {
                return Err(BrowserError::Session {
                    driver: redact_url(driver.url()),
                    reason: format!(
                        "no session within {} s (a session created late is quit with the driver)",
                        config.timeouts.session.as_secs()
                    ),
                })
            }
        };
        let session_id = client.session_id().await.ok().flatten();
        let mut browser = Browser {
            nick: nick.to_owned(),
            profile: config.profile,
            driver,
            client: Some(client),
            session_id,
            token,
            timeouts: config.timeouts,
            console_injected: false,
            hung_up: false,
            session_started_in: t0.elapsed(),
            joined_in: Duration::ZERO,
            _profile_dir: profile_dir,
        };
        let t = config.timeouts;
        let timeouts = TimeoutConfiguration::new(Some(t.request), Some(t.join), None);
        browser
            .step("setting WebDriver timeouts", t.request, |c| async move {
                c.update_timeouts(timeouts).await
            })
            .await?;
        browser.console_injected = browser.inject_console_capture().await;
        Ok(browser)
    }

    /// Chromium only: runs the console capture before any page script, through chromedriver's CDP
    /// passthrough. Returns false where that is unavailable (the page then gets it after load).
    async fn inject_console_capture(&self) -> bool {
        let Some(id) = self.session_id.clone() else {
            return false;
        };
        let url = self.driver.url().to_owned();
        let body = json!({
            "cmd": "Page.addScriptToEvaluateOnNewDocument",
            "params": { "source": CONSOLE_JS },
        })
        .to_string();
        let timeout = self.timeouts.request;
        let answer = tokio::task::spawn_blocking(move || {
            http_request(
                &url,
                "POST",
                &format!("/session/{id}/goog/cdp/execute"),
                Some(&body),
                timeout,
            )
        })
        .await;
        matches!(answer, Ok(Ok((200, _))))
    }

    /// Runs one WebDriver command under a deadline, mapping failures.
    async fn step<T, F, Fut>(&self, what: &str, deadline: Duration, f: F) -> Result<T, BrowserError>
    where
        F: FnOnce(Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, CmdError>>,
    {
        let client = self.client.clone().ok_or_else(|| BrowserError::WebDriver {
            nick: self.nick.clone(),
            what: what.to_owned(),
            reason: "the session is closed".into(),
            source: Box::new(CmdError::NotW3C(Value::Null)),
        })?;
        match tokio::time::timeout(deadline, f(client)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.cmd_error(what, e)),
            Err(_) => Err(BrowserError::Timeout {
                nick: self.nick.clone(),
                what: what.to_owned(),
                deadline,
                last: None,
            }),
        }
    }

    fn cmd_error(&self, what: &str, e: CmdError) -> BrowserError {
        match &e {
            CmdError::Standard(w) if w.error == ErrorStatus::JavascriptError => {
                BrowserError::Script {
                    nick: self.nick.clone(),
                    what: what.to_owned(),
                    reason: self.redact(&w.message),
                }
            }
            _ => BrowserError::WebDriver {
                nick: self.nick.clone(),
                what: what.to_owned(),
                reason: self.redact(&driver_reason(&e)),
                source: Box::new(e),
            },
        }
    }

    /// Runs a script (synchronous `execute`).
    async fn script(&self, what: &str, js: &str, args: Vec<Value>) -> Result<Value, BrowserError> {
        let js = js.to_owned();
        self.step(what, self.timeouts.request, |c| async move {
            c.execute(&js, args).await
        })
        .await
    }

    /// Runs an async script (its last argument is the callback).
    async fn script_async(
        &self,
        what: &str,
        js: &str,
        args: Vec<Value>,
        deadline: Duration,
    ) -> Result<Value, BrowserError> {
        let js = js.to_owned();
        self.step(what, deadline, |c| async move {
            c.execute_async(&js, args).await
        })
        .await
    }

    /// Token-free text: URL parameters shortened, and the token itself wherever it appears.
    fn redact(&self, text: &str) -> String {
        let mut out = redact_url(text);
        if let Some(token) = &self.token {
            let raw = token.expose();
            if raw.len() >= 8 {
                out = out.replace(raw, &short_token(raw));
            }
        }
        out
    }

    async fn load_and_wait(&mut self, url: &str, deadline: Duration) -> Result<(), BrowserError> {
        let end = Instant::now() + deadline;
        let shown = redact_url(url);
        let target = url.to_owned();
        let client = self.client.clone();
        let goto = async move {
            match client {
                Some(c) => c.goto(&target).await,
                None => Err(CmdError::NotW3C(Value::Null)),
            }
        };
        match tokio::time::timeout(deadline, goto).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                // chromedriver reports a failed navigation as `unknown error: net::ERR_…`. Only the
                // redacted text is kept: the driver's own error may echo the URL, token and all.
                return Err(BrowserError::PageUnreachable {
                    nick: self.nick.clone(),
                    url: shown,
                    reason: self.redact(&driver_reason(&e)),
                });
            }
            Err(_) => {
                return Err(BrowserError::Timeout {
                    nick: self.nick.clone(),
                    what: format!("loading {shown}"),
                    deadline,
                    last: None,
                })
            }
        }
        // Chromium may also land on its error page without the navigation failing.
        let here = self
            .script(
                "checking where the page landed",
                "return [String(document.location.href), String(document.title)];",
                vec![],
            )
            .await?;
        if here[0]
            .as_str()
            .is_some_and(|h| h.starts_with("chrome-error://"))
        {
            return Err(BrowserError::PageUnreachable {
                nick: self.nick.clone(),
                url: shown,
                reason: format!(
                    "Chromium shows its error page ({})",
                    here[1].as_str().unwrap_or("no title")
                ),
            });
        }
        // The fixture page defines window.harness in a script that has run once the load is complete:
        // without it this is some other page (a 404 from a fixture image built without the page).
        if self.profile == Profile::Fixture {
            let ours = self
                .script(
                    "checking for window.harness",
                    "return typeof window.harness === 'object' && window.harness !== null;",
                    vec![],
                )
                .await?;
            if ours != Value::Bool(true) {
                return Err(BrowserError::PageUnreachable {
                    nick: self.nick.clone(),
                    url: shown,
                    reason: format!(
                        "it is not the harness page (title `{}`); is the fixture image current? \
                         rebuild it with `bash docker/fixture/build.sh`",
                        here[1].as_str().unwrap_or("")
                    ),
                });
            }
        }
        if !self.console_injected {
            let _ = self
                .script("installing the console capture", CONSOLE_JS, vec![])
                .await;
        }
        loop {
            let state = self.page_state().await?;
            let last = match &state.phase {
                PagePhase::Joined => return Ok(()),
                PagePhase::Refused(r) => {
                    return Err(BrowserError::JoinRefused {
                        nick: self.nick.clone(),
                        stage: r.stage.clone(),
                        condition: r.condition.clone(),
                        text: r.text.as_deref().map(|t| self.redact(t)),
                    })
                }
                PagePhase::Failed(reason) => {
                    return Err(BrowserError::PageFailed {
                        nick: self.nick.clone(),
                        reason: self.redact(reason),
                    })
                }
                PagePhase::Left { .. } => {
                    return Err(BrowserError::PageFailed {
                        nick: self.nick.clone(),
                        reason: "the page left the room while joining".into(),
                    })
                }
                PagePhase::Loading | PagePhase::Connecting => state.describe(),
            };
            if Instant::now() + self.timeouts.poll >= end {
                return Err(BrowserError::Timeout {
                    nick: self.nick.clone(),
                    what: "the join".into(),
                    deadline,
                    last: Some(last),
                });
            }
            tokio::time::sleep(self.timeouts.poll).await;
        }
    }

    /// The scenario's name for this participant.
    pub fn nick(&self) -> &str {
        &self.nick
    }

    /// Which page this browser opened.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// WebDriver session start (Chromium launch) → session ready.
    pub fn session_started_in(&self) -> Duration {
        self.session_started_in
    }

    /// Page load → the page says joined.
    pub fn joined_in(&self) -> Duration {
        self.joined_in
    }

    /// Reads the page: its phase and what it sees. One WebDriver `execute` round trip.
    pub async fn page_state(&self) -> Result<PageState, BrowserError> {
        let (js, what) = match self.profile {
            Profile::Fixture => (FIXTURE_STATE_JS, "reading window.harness"),
            Profile::JitsiMeet => (JITSI_STATE_JS, "reading the jitsi-meet state"),
        };
        let value = match self.script(what, js, vec![]).await {
            Ok(v) => v,
            // After a hang-up jitsi-meet navigates away; a page between documents has no state.
            Err(BrowserError::Script { .. } | BrowserError::WebDriver { .. })
                if self.hung_up && self.profile == Profile::JitsiMeet =>
            {
                json!({ "loaded": false })
            }
            Err(e) => return Err(e),
        };
        let parsed = match self.profile {
            Profile::Fixture => parse_fixture_state(&value),
            Profile::JitsiMeet => parse_jitsi_state(&value, self.hung_up),
        };
        parsed.map_err(|reason| BrowserError::Script {
            nick: self.nick.clone(),
            what: what.to_owned(),
            reason,
        })
    }

    /// What the browser sees now, as an [`Observation`] keyed by nick (fixture page) or endpoint id
    /// (jitsi-meet). One WebDriver `execute` round trip.
    pub async fn observe(&self) -> Result<Observation, BrowserError> {
        Ok(self.page_state().await?.observation)
    }

    /// Leaves cleanly (fixture: unavailable presence, waits for the room's confirmation; jitsi-meet:
    /// `APP.conference.hangup()`), waits until the page says it left, then closes the session.
    pub async fn leave(mut self) -> Result<(), BrowserError> {
        let result = self.leave_page().await;
        let closed = self.close_session().await;
        result.and(closed)
    }

    async fn leave_page(&mut self) -> Result<(), BrowserError> {
        let deadline = self.timeouts.leave;
        let end = Instant::now() + deadline;
        match self.profile {
            Profile::Fixture => {
                let js = "const done = arguments[arguments.length - 1]; \
                          if (!window.harness) { done('no window.harness'); return; } \
                          window.harness.leave().then(s => done(String(s)), e => done('error: ' + e));";
                self.script_async("leaving the room", js, vec![], deadline)
                    .await?;
            }
            Profile::JitsiMeet => {
                // hangup() sends the unavailable presence, then jitsi-meet navigates away.
                let js = "if (typeof APP === 'undefined' || !APP.conference) { return false; } \
                          Promise.resolve(APP.conference.hangup(false)).catch(e => console.error('hangup: ' + e)); \
                          return true;";
                self.hung_up = true;
                self.script("hanging up", js, vec![]).await?;
            }
        }
        loop {
            let state = self.page_state().await?;
            let last = match &state.phase {
                PagePhase::Left { .. } => return Ok(()),
                PagePhase::Failed(reason) => {
                    return Err(BrowserError::PageFailed {
                        nick: self.nick.clone(),
                        reason: self.redact(reason),
                    })
                }
                _ => state.describe(),
            };
            if Instant::now() + self.timeouts.poll >= end {
                return Err(BrowserError::Timeout {
                    nick: self.nick.clone(),
                    what: "leaving the room".into(),
                    deadline,
                    last: Some(last),
                });
            }
            tokio::time::sleep(self.timeouts.poll).await;
        }
    }

    /// Drops out with no goodbye: the session (and so Chromium and its WebSocket) is closed without
    /// leaving the room, as when a tab or a laptop dies.
    pub async fn disconnect(self) -> Result<(), BrowserError> {
        self.close().await
    }

    /// As a moderator, makes the occupant `nick` owner (fixture page: muc#admin with its real JID;
    /// jitsi-meet: `APP.conference._room.grantOwner(id)`, `nick` being the endpoint id).
    pub async fn grant_owner(&self, nick: &str) -> Result<(), BrowserError> {
        self.admin("grant", nick, &format!("granting owner to {nick}"))
            .await
    }

    /// As a moderator, kicks the occupant `nick` (fixture page: muc#admin `role='none'`; jitsi-meet:
    /// `APP.conference._room.kickParticipant(id)`).
    pub async fn kick(&self, nick: &str) -> Result<(), BrowserError> {
        self.admin("kick", nick, &format!("kicking {nick}")).await
    }

    async fn admin(&self, action: &str, nick: &str, what: &str) -> Result<(), BrowserError> {
        let answer = match self.profile {
            Profile::Fixture => {
                let js = "const [action, nick, done] = arguments; \
                          if (!window.harness) { done('no window.harness on the page'); return; } \
                          window.harness[action](nick).then(() => done(null), e => done(String(e && e.message || e)));";
                self.script_async(
                    what,
                    js,
                    vec![json!(action), json!(nick)],
                    self.timeouts.request,
                )
                .await?
            }
            Profile::JitsiMeet => {
                let method = if action == "grant" {
                    "grantOwner"
                } else {
                    "kickParticipant"
                };
                let js = "const [method, id] = arguments; \
                          const room = (typeof APP !== 'undefined' && APP.conference) ? APP.conference._room : null; \
                          if (!room || typeof room[method] !== 'function') { return 'APP.conference._room.' + method + ' is not available'; } \
                          room[method](id); return null;";
                self.script(what, js, vec![json!(method), json!(nick)])
                    .await?
            }
        };
        match answer {
            Value::Null => Ok(()),
            other => Err(BrowserError::RequestFailed {
                nick: self.nick.clone(),
                what: what.to_owned(),
                reason: self.redact(other.as_str().unwrap_or(&other.to_string())),
            }),
        }
    }

    /// Saves `LABEL.png` (screenshot), `LABEL.console.log` (captured console) and `LABEL.html` (page
    /// source) into `dir`, tokens redacted in the text files. Best effort: what fails is listed in
    /// [`Capture::errors`]; only an unusable folder is an error.
    pub async fn capture(&self, dir: &Path, label: &str) -> Result<Capture, BrowserError> {
        std::fs::create_dir_all(dir)
            .map_err(io_error(format!("cannot create {}", dir.display())))?;
        let label: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let mut capture = Capture::default();
        let request = self.timeouts.request;

        match self
            .step("taking a screenshot", request, |c| async move {
                c.screenshot().await
            })
            .await
        {
            Ok(png) => {
                let path = dir.join(format!("{label}.png"));
                match std::fs::write(&path, png) {
                    Ok(()) => capture.screenshot = Some(path),
                    Err(e) => capture.errors.push(format!("{}: {e}", path.display())),
                }
            }
            Err(e) => capture.errors.push(format!("screenshot: {e}")),
        }

        let console = self
            .script(
                "reading the console capture",
                "return Array.isArray(window.__harnessConsole) ? window.__harnessConsole.join('\\n') : null;",
                vec![],
            )
            .await;
        let console_text = match console {
            Ok(Value::String(text)) => text,
            Ok(_) => "(no console capture on this page)".to_owned(),
            Err(e) => format!("(console capture unreadable: {e})"),
        };
        let path = dir.join(format!("{label}.console.log"));
        match std::fs::write(&path, self.redact(&console_text) + "\n") {
            Ok(()) => capture.console = Some(path),
            Err(e) => capture.errors.push(format!("{}: {e}", path.display())),
        }

        match self
            .step("reading the page source", request, |c| async move {
                c.source().await
            })
            .await
        {
            Ok(source) => {
                let path = dir.join(format!("{label}.html"));
                match std::fs::write(&path, self.redact(&source)) {
                    Ok(()) => capture.source = Some(path),
                    Err(e) => capture.errors.push(format!("{}: {e}", path.display())),
                }
            }
            Err(e) => capture.errors.push(format!("page source: {e}")),
        }
        Ok(capture)
    }

    /// Closes the WebDriver session (Chromium quits) and removes the profile folder.
    pub async fn close(mut self) -> Result<(), BrowserError> {
        self.close_session().await
    }

    async fn close_session(&mut self) -> Result<(), BrowserError> {
        let Some(client) = self.client.take() else {
            return Ok(());
        };
        let deadline = self.timeouts.request;
        let result = match tokio::time::timeout(deadline, client.close()).await {
            Ok(Ok(())) => {
                self.session_id = None;
                Ok(())
            }
            Ok(Err(e)) => Err(self.cmd_error("closing the session", e)),
            Err(_) => Err(BrowserError::Timeout {
                nick: self.nick.clone(),
                what: "closing the session".into(),
                deadline,
                last: None,
            }),
        };
        if self.session_id.is_some() {
            // fantoccini could not; try the raw request once (Drop would too).
            self.delete_session_blocking_in_pool().await;
        }
        result
    }

    async fn delete_session_blocking_in_pool(&mut self) {
        if let Some(id) = self.session_id.take() {
            let url = self.driver.url().to_owned();
            let timeout = self.timeouts.request;
            let _ = tokio::task::spawn_blocking(move || delete_session(&url, &id, timeout)).await;
        }
    }
}

/// `DELETE /session/ID`: the driver quits that browser.
fn delete_session(url: &str, id: &str, timeout: Duration) {
    match http_request(url, "DELETE", &format!("/session/{id}"), None, timeout) {
        Ok((200, _)) => {}
        Ok((status, body)) => {
            tracing::debug!(
                status,
                "closing session {id}: {}",
                body.chars().take(200).collect::<String>()
            )
        }
        Err(e) => tracing::warn!("closing session {id} at {}: {e}", redact_url(url)),
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(id) = self.session_id.take() {
            // Blocking and runtime-free: works in a panic, after the runtime stopped, anywhere.
            delete_session(self.driver.url(), &id, self.timeouts.request);
        }
        // The fantoccini client (its own DELETE is asynchronous and may never run) goes next, then the
        // profile folder.
        self.client.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(profile: Profile) -> BrowserConfig {
        BrowserConfig {
            driver: Driver {
                inner: Arc::new(DriverInner {
                    url: "http://127.0.0.1:9".into(),
                    chromium: None,
                    remote: true,
                    local: Mutex::new(None),
                    started_in: Duration::ZERO,
                }),
            },
            profile,
            web: match profile {
                Profile::JitsiMeet => "https://meet.example:8443".into(),
                Profile::Fixture => "http://127.0.0.1:32768/harness/".into(),
            },
            websocket: "ws://127.0.0.1:32768/xmpp-websocket".into(),
            domain: "meet.jitsi".into(),
            muc_domain: "muc.meet.jitsi".into(),
            focus_domain: "focus.meet.jitsi".into(),
            skip_focus: false,
            insecure_tls: true,
            timeouts: BrowserTimeouts::for_profile(profile),
            artifacts: None,
        }
    }

    fn join(token: Option<&str>) -> BrowserJoin {
        BrowserJoin {
            room: "seed-1a2b".into(),
            nick: "alice".into(),
            display_name: Some("Alice \"A\" Ä".into()),
            token: token.map(Token::new),
            machine_uid: "machine-alice".into(),
        }
    }

    const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJyb29tIjoiKiJ9.c2lnbmF0dXJl";

    #[test]
    fn jitsi_meet_url_has_jwt_query_and_hash_overrides() {
        let url = page_url(&config(Profile::JitsiMeet), &join(Some(JWT)));
        assert_eq!(
            url,
            format!(
                "https://meet.example:8443/seed-1a2b?jwt={JWT}#config.prejoinConfig.enabled=false\
                 &config.prejoinPageEnabled=false&config.p2p.enabled=false&config.disableDeepLinking=true\
                 &config.startWithAudioMuted=true&config.startWithVideoMuted=true\
                 &config.requireDisplayName=false\
                 &userInfo.displayName=%22Alice%20%5C%22A%5C%22%20%C3%84%22"
            )
        );
        let shown = redact_url(&url);
        assert!(
            !shown.contains(JWT) && shown.contains("jwt=eyJhbG…("),
            "{shown}"
        );
        // No token: no query at all.
        let url = page_url(&config(Profile::JitsiMeet), &join(None));
        assert!(
            url.starts_with("https://meet.example:8443/seed-1a2b#config."),
            "{url}"
        );
    }

    #[test]
    fn fixture_url_carries_every_parameter_encoded() {
        let url = page_url(&config(Profile::Fixture), &join(Some(JWT)));
        assert_eq!(
            url,
            format!(
                "http://127.0.0.1:32768/harness/room.html?ws=ws%3A%2F%2F127.0.0.1%3A32768%2Fxmpp-websocket\
                 &domain=meet.jitsi&muc=muc.meet.jitsi&focus=focus.meet.jitsi&room=seed-1a2b&nick=alice\
                 &name=Alice%20%22A%22%20%C3%84&uid=machine-alice&token={JWT}"
            )
        );
        assert!(!redact_url(&url).contains(JWT));
        let mut c = config(Profile::Fixture);
        c.skip_focus = true;
        c.web = "http://127.0.0.1:1/harness".into();
        let url = page_url(&c, &join(None));
        assert!(
            url.starts_with("http://127.0.0.1:1/harness/room.html?"),
            "{url}"
        );
        assert!(url.contains("&focus=&") && !url.contains("token="), "{url}");
    }

    #[test]
    fn capabilities_are_exactly_the_documented_ones() {
        let caps = capabilities(
            Some(Path::new("/usr/bin/chromium")),
            Path::new("/tmp/p1"),
            false,
        );
        let value = Value::Object(caps);
        assert_eq!(value["browserName"], "chrome");
        assert_eq!(value["acceptInsecureCerts"], false);
        assert_eq!(value["goog:chromeOptions"]["binary"], "/usr/bin/chromium");
        assert_eq!(
            value["goog:chromeOptions"]["args"],
            json!([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--user-data-dir=/tmp/p1",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream"
            ])
        );
        let insecure = Value::Object(capabilities(None, Path::new("/tmp/p2"), true));
        assert_eq!(insecure["acceptInsecureCerts"], true);
        assert!(insecure["goog:chromeOptions"].get("binary").is_none());
        let args = insecure["goog:chromeOptions"]["args"].as_array().unwrap();
        assert_eq!(args.last().unwrap(), "--ignore-certificate-errors");
    }

    #[test]
    fn fixture_state_becomes_an_observation() {
        let value = json!({
            "state": "joined", "error": null, "refusal": null, "kicked": false, "me": "alice",
            "occupants": [
                {"nick": "alice", "name": "Alice", "role": "moderator", "affiliation": "owner"},
                {"nick": "bob", "name": null, "role": "participant", "affiliation": "none"}
            ],
            "focus": "focus@focus.meet.jitsi", "timings": {"joined": 120}
        });
        let state = parse_fixture_state(&value).unwrap();
        assert_eq!(state.phase, PagePhase::Joined);
        let o = state.observation;
        assert!(o.present);
        assert_eq!(o.own.as_deref(), Some("alice"));
        assert_eq!(
            o.occupants["alice"],
            Seen {
                nick: "alice".into(),
                name: Some("Alice".into()),
                role: crate::xmpp::Role::Moderator,
                affiliation: Some(crate::xmpp::Affiliation::Owner)
            }
        );
        assert!(!o.occupants["bob"].is_moderator());
        assert_eq!(
            parse_fixture_state(&Value::Null).unwrap().phase,
            PagePhase::Loading
        );
    }

    #[test]
    fn fixture_refusals_and_failures_are_told_apart() {
        let refused = json!({
            "state": "refused", "error": "login refused: not-allowed (token has expired)",
            "refusal": {"stage": "login", "condition": "not-allowed", "text": "token has expired"},
            "kicked": false, "me": null, "occupants": []
        });
        assert_eq!(
            parse_fixture_state(&refused).unwrap().phase,
            PagePhase::Refused(Refusal {
                stage: "login".into(),
                condition: "not-allowed".into(),
                text: Some("token has expired".into())
            })
        );
        let failed = json!({"state": "failed", "error": "connection failed", "occupants": []});
        let state = parse_fixture_state(&failed).unwrap();
        assert_eq!(state.phase, PagePhase::Failed("connection failed".into()));
        assert!(!state.observation.present);
        let kicked = json!({"state": "left", "kicked": true, "occupants": []});
        assert_eq!(
            parse_fixture_state(&kicked).unwrap().phase,
            PagePhase::Left { kicked: true }
        );
        assert!(parse_fixture_state(&json!({"state": "dancing"})).is_err());
    }

    /// Shaped like `JITSI_STATE_JS` returns it from a joined jitsi-meet page.
    fn jitsi_joined() -> Value {
        json!({
            "loaded": true, "joined": true, "myId": "8a1b2c3d",
            "local": {"id": "8a1b2c3d", "name": "alice", "role": "moderator", "fake": false},
            "remote": [
                {"id": "f00dbabe", "name": "bob", "role": "participant", "fake": false},
                {"id": "0c0ffee0", "name": null, "role": "moderator", "fake": false},
                {"id": "youtube-1", "name": "Shared video", "role": null, "fake": true}
            ],
            "connectionError": null, "conferenceError": null, "authRequired": false
        })
    }

    #[test]
    fn jitsi_state_becomes_an_observation_keyed_by_endpoint_id() {
        let state = parse_jitsi_state(&jitsi_joined(), false).unwrap();
        assert_eq!(state.phase, PagePhase::Joined);
        let o = state.observation;
        assert!(o.present);
        assert_eq!(o.own.as_deref(), Some("8a1b2c3d"));
        assert_eq!(
            o.occupants.keys().collect::<Vec<_>>(),
            ["0c0ffee0", "8a1b2c3d", "f00dbabe"]
        );
        let me = &o.occupants["8a1b2c3d"];
        assert_eq!(me.name.as_deref(), Some("alice"));
        assert!(me.is_moderator());
        assert_eq!(me.affiliation, None);
        assert_eq!(o.occupants["f00dbabe"].role, crate::xmpp::Role::Participant);
        assert_eq!(o.occupants["0c0ffee0"].name, None);
    }

    #[test]
    fn jitsi_phases() {
        let loading = parse_jitsi_state(&json!({"loaded": false}), false).unwrap();
        assert_eq!(loading.phase, PagePhase::Loading);
        let mut v = jitsi_joined();
        v["joined"] = json!(false);
        assert_eq!(
            parse_jitsi_state(&v, false).unwrap().phase,
            PagePhase::Connecting
        );
        assert!(parse_jitsi_state(&v, false)
            .unwrap()
            .observation
            .occupants
            .is_empty());
        assert_eq!(
            parse_jitsi_state(&v, true).unwrap().phase,
            PagePhase::Left { kicked: false }
        );
        assert_eq!(
            parse_jitsi_state(&json!({"loaded": false}), true)
                .unwrap()
                .phase,
            PagePhase::Left { kicked: false }
        );

        v["connectionError"] = json!({"name": "connection.passwordRequired", "message": null});
        assert_eq!(
            parse_jitsi_state(&v, false).unwrap().phase,
            PagePhase::Refused(Refusal {
                stage: "login".into(),
                condition: "connection.passwordRequired".into(),
                text: None
            })
        );
        v["connectionError"] = json!({"name": "connection.droppedError", "message": "gone"});
        assert_eq!(
            parse_jitsi_state(&v, false).unwrap().phase,
            PagePhase::Failed("connection.droppedError (gone)".into())
        );
        v["connectionError"] = Value::Null;
        v["conferenceError"] = json!({"name": "conference.connectionError.membersOnly"});
        assert!(matches!(
            parse_jitsi_state(&v, false).unwrap().phase,
            PagePhase::Refused(Refusal { ref stage, .. }) if stage == "room"
        ));
        v["conferenceError"] = json!({"name": "conference.authenticationRequired"});
        assert!(matches!(
            parse_jitsi_state(&v, false).unwrap().phase,
            PagePhase::Refused(Refusal { ref stage, .. }) if stage == "focus"
        ));
        v["conferenceError"] = json!({"name": "conference.focusLeft"});
        assert!(matches!(
            parse_jitsi_state(&v, false).unwrap().phase,
            PagePhase::Failed(_)
        ));
        assert!(parse_jitsi_state(&json!({"joined": true}), false).is_err());
    }

    #[test]
    fn errors_name_their_cause_and_refusals_are_marked() {
        let e = BrowserError::JoinRefused {
            nick: "mallory".into(),
            stage: "login".into(),
            condition: "not-allowed".into(),
            text: Some("token has expired".into()),
        };
        assert!(e.is_refusal());
        assert_eq!(
            e.to_string(),
            "mallory was refused at the login: not-allowed (token has expired)"
        );
        let e = BrowserError::NotInstalled {
            what: "chromedriver",
            looked: "`chromedriver` on PATH".into(),
            hint: INSTALL_HINT,
        };
        assert!(!e.is_refusal() && e.is_not_installed());
        assert!(e
            .to_string()
            .contains("apt-get install chromium chromium-driver"));
        let e = BrowserError::Timeout {
            nick: "alice".into(),
            what: "the join".into(),
            deadline: Duration::from_secs(20),
            last: Some("Connecting".into()),
        };
        assert_eq!(
            e.to_string(),
            "alice: the join did not happen within 20000 ms (last seen: Connecting)"
        );
    }

    #[test]
    fn http_responses_are_read_by_length_or_chunks() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(
            complete_response(raw).unwrap().unwrap(),
            (200, "hello".into())
        );
        assert!(complete_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel").is_none());
        let chunked = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(
            complete_response(chunked).unwrap().unwrap(),
            (404, "abcde".into())
        );
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved() {
        assert_eq!(encode("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(encode("a b/c?d&e=f+g"), "a%20b%2Fc%3Fd%26e%3Df%2Bg");
        assert_eq!(encode("é"), "%C3%A9");
    }

    #[test]
    fn processes_are_read_from_proc() {
        let me = process_info(std::process::id()).expect("this process");
        assert!(me.rss_kib > 0);
        assert!(me.start_ticks > 0);
        assert!(all_processes().iter().any(|p| p.pid == me.pid));
        assert!(!me.comm.is_empty());
        // The test process is not its own descendant.
        assert!(descendant_processes(std::process::id())
            .iter()
            .all(|p| p.pid != std::process::id()));
    }
}
