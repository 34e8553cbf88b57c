//! The WebDriver server and its sessions: a [`Driver`] starts and owns one `chromedriver` (loopback
//! only, a free port, `kill_on_drop`, in our process group) or points at an existing WebDriver server
//! (`JITSI_HARNESS_WEBDRIVER`). Each browser is one [`Session`] on it, with a fresh Chromium user-data-dir
//! (a temp folder) and the capabilities of [`capabilities`].
//!
//! Teardown: a session ends with `DELETE /session/ID` (when fantoccini's own close did not get through)
//! and the removal of its user-data-dir. Dropping the last [`Driver`] handle asks chromedriver to
//! `/shutdown` (it quits its browsers), then kills it and any Chromium it left behind. The side doors
//! (`/status`, `/shutdown`, `DELETE /session/ID`) go through [`crate::http::Http`]; from `Drop` they run
//! on a side runtime ([`block_on_side_runtime`]), each bounded by its own deadline.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};
use tempfile::TempDir;

use super::error::{io_error, BrowserError};
use super::poll::{poll_until, poll_until_true, Look, Waited};
use crate::http::Http;
use crate::process::{descendant_processes, process_info, ProcessInfo};
use crate::redact::redact_url;
use crate::stack::docker::block_on_side_runtime;

/// Env var: use this WebDriver server (e.g. a Selenium grid) instead of starting chromedriver.
pub const WEBDRIVER_ENV: &str = "JITSI_HARNESS_WEBDRIVER";
/// Env var: the Chromium binary (default [`DEFAULT_CHROMIUM`]).
pub const CHROMIUM_ENV: &str = "JITSI_HARNESS_CHROMIUM";
/// Env var: the chromedriver binary (default: `chromedriver` on `PATH`).
pub const CHROMEDRIVER_ENV: &str = "JITSI_HARNESS_CHROMEDRIVER";
/// Debian's Chromium launcher.
pub const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";
pub(super) const INSTALL_HINT: &str =
    "install them with `apt-get install chromium chromium-driver` (Debian), \
     or point JITSI_HARNESS_WEBDRIVER at a WebDriver server";

use super::leftovers::{self, CHROMEDRIVER_PREFIX, PROFILE_PREFIX as USER_DATA_DIR_PREFIX};

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
/// [`Driver::close`] is called or the last clone (including those inside
/// [`super::BrowserConfig`]s and [`super::Browser`]s) is dropped.
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
    /// Holds chromedriver's output file; `None` until chromedriver answered ready.
    _dir: Option<TempDir>,
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

/// An HTTP client for one side-door request (or one wait loop): built where it is used, so that no
/// pooled connection outlives the runtime it was made on.
fn side_door(timeout: Duration) -> Result<Http, String> {
    Http::with_timeout(timeout).map_err(|e| e.to_string())
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
        let http = side_door(Duration::from_secs(2)).map_err(|reason| {
            BrowserError::DriverUnreachable {
                url: redact_url(&url),
                reason,
            }
        })?;
        // 200 ms between looks: a remote grid is not started by us and has no reason to be quick.
        let ready = poll_until(options.startup_timeout, Duration::from_millis(200), || {
            ready_look(&http, &url)
        })
        .await;
        match ready {
            Ok(()) => Ok(Driver {
                inner: Arc::new(DriverInner {
                    url,
                    chromium: options.chromium.clone(),
                    remote: true,
                    local: Mutex::new(None),
                    started_in: t0.elapsed(),
                }),
            }),
            Err(Waited::TimedOut { last }) => Err(BrowserError::DriverUnreachable {
                url: redact_url(&url),
                reason: format!("{last} (waited {} s)", options.startup_timeout.as_secs()),
            }),
            Err(Waited::Failed(never)) => match never {},
        }
    }

    async fn spawn(options: &DriverOptions) -> Result<Driver, BrowserError> {
        let chromium = locate_chromium(options.chromium.as_deref())?;
        let chromedriver = locate_chromedriver(options.chromedriver.as_deref())?;
        // What killed runs left goes first (once per process).
        leftovers::sweep_once();
        let t0 = Instant::now();
        let deadline = t0 + options.startup_timeout;
        let dir = tempfile::Builder::new()
            .prefix(CHROMEDRIVER_PREFIX)
            .tempdir()
            .map_err(io_error(
                "cannot create a temp folder for chromedriver's output",
            ))?;
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
            // Never `--allowed-ips`: with it chromedriver listens on every interface; without it, on
            // loopback only (chromedriver --help).
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
            // The marker lets `jitsi-harness clean` find this chromedriver if we are killed.
            if let Err(e) = leftovers::mark(dir.path(), process_info(pid).as_ref()) {
                tracing::warn!("cannot mark {}: {e}", dir.path().display());
            }
            let url = format!("http://127.0.0.1:{port}");
            let mut local = LocalDriver {
                child,
                pid,
                url: url.clone(),
                _dir: None,
            };
            match local.wait_until_ready(deadline).await {
                Ok(()) => {
                    local._dir = Some(dir);
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
                    local.shutdown().await;
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

    /// A remote driver at `url` that was never checked (unit tests that only build URLs and configs).
    #[cfg(test)]
    pub(super) fn unchecked(url: &str) -> Driver {
        Driver {
            inner: Arc::new(DriverInner {
                url: url.to_owned(),
                chromium: None,
                remote: true,
                local: Mutex::new(None),
                started_in: Duration::ZERO,
            }),
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
            let survivors = local.shutdown().await;
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

    /// Opens a WebDriver session (Chromium starts) within `deadline`, with a fresh user-data-dir.
    pub(super) async fn open_session(
        &self,
        insecure_tls: bool,
        deadline: Duration,
    ) -> Result<(Client, Session), BrowserError> {
        // A remote server's nodes make the folder themselves; we can only create and remove local ones.
        let (dir, dir_arg) = if self.is_remote() {
            let name = format!("{USER_DATA_DIR_PREFIX}{}", uuid::Uuid::new_v4().simple());
            (None, std::env::temp_dir().join(name))
        } else {
            let dir = tempfile::Builder::new()
                .prefix(USER_DATA_DIR_PREFIX)
                .tempdir()
                .map_err(io_error("cannot create a Chromium user-data-dir"))?;
            let path = dir.path().to_path_buf();
            let chromedriver = self.pid().and_then(process_info);
            leftovers::mark(&path, chromedriver.as_ref()).map_err(io_error(
                "cannot write the marker of a Chromium user-data-dir",
            ))?;
            (Some(dir), path)
        };
        let caps = capabilities(self.inner.chromium.as_deref(), &dir_arg, insecure_tls);
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(caps);
        let refused = |reason: String| BrowserError::Session {
            driver: redact_url(self.url()),
            reason,
        };
        let client = match tokio::time::timeout(deadline, builder.connect(self.url())).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => return Err(refused(redact_url(&e.to_string()))),
            Err(_) => {
                return Err(refused(format!(
                    "no session within {} s (a session created late is quit with the driver)",
                    deadline.as_secs()
                )))
            }
        };
        let id = client.session_id().await.ok().flatten();
        Ok((
            client,
            Session {
                driver: self.clone(),
                id,
                dir,
            },
        ))
    }
}

impl Drop for DriverInner {
    fn drop(&mut self) {
        if let Some(local) = self.local.get_mut().ok().and_then(|l| l.take()) {
            // Bounded: /shutdown 3 s, then at most 12 s of waiting for exits and kills.
            block_on_side_runtime(async move {
                local.shutdown().await;
            });
        }
    }
}

/// One look at `GET /status`: ready (`value.ready`), or what it said instead.
async fn ready_look(http: &Http, url: &str) -> Result<Look<()>, std::convert::Infallible> {
    let look = match http.get(&format!("{url}/status")).await {
        Ok(answer) => match serde_json::from_slice::<Value>(&answer.body) {
            Ok(v) if v["value"]["ready"].as_bool() == Some(true) => Look::Done(()),
            Ok(_) => Look::NotYet("/status says it is not ready".into()),
            Err(e) => Look::NotYet(format!("/status: {e}")),
        },
        Err(e) => Look::NotYet(e.to_string()),
    };
    Ok(look)
}

impl LocalDriver {
    async fn wait_until_ready(&mut self, deadline: Instant) -> Result<(), String> {
        let http = side_door(Duration::from_secs(2))?;
        let limit = deadline.saturating_duration_since(Instant::now());
        let (child, url, http) = (&mut self.child, self.url.as_str(), &http);
        // 50 ms between looks: chromedriver is ready in about 0.2 s, and a driver start waits on this.
        let ready = poll_until(limit, Duration::from_millis(50), move || {
            let exited = match child.try_wait() {
                Ok(Some(status)) => Err(format!("it exited ({status}) before answering /status")),
                Ok(None) => Ok(()),
                Err(e) => Err(format!("cannot check on it: {e}")),
            };
            async move {
                exited?;
                ready_look(http, url).await.map_err(|never| match never {})
            }
        })
        .await;
        match ready {
            Ok(()) => Ok(()),
            Err(Waited::Failed(reason)) => Err(reason),
            Err(Waited::TimedOut { last }) => {
                Err(format!("/status did not say ready in time ({last})"))
            }
        }
    }

    /// Asks chromedriver to quit its browsers and exit, then kills whatever is left. Every wait is
    /// bounded (at most 15 s in all). Returns the processes that could not be killed.
    async fn shutdown(mut self) -> Vec<ProcessInfo> {
        let before = descendant_processes(self.pid);
        if let Ok(http) = side_door(Duration::from_secs(3)) {
            let _ = http.get(&format!("{}/shutdown", self.url)).await;
        }
        // 25 ms between looks at process exits: cheap, and teardown should not linger.
        let look = Duration::from_millis(25);
        let exited = poll_until_true(Duration::from_secs(5), look, || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        })
        .await;
        if !exited {
            tracing::warn!(
                pid = self.pid,
                "chromedriver did not exit after /shutdown; killing it"
            );
            let _ = self.child.start_kill();
            poll_until_true(Duration::from_secs(2), look, || {
                matches!(self.child.try_wait(), Ok(Some(_)))
            })
            .await;
        }
        // Its browsers should be gone with it; anything still there (same pid, same start) is killed.
        poll_until_true(Duration::from_secs(3), look, || {
            !before.iter().any(ProcessInfo::is_alive)
        })
        .await;
        for p in before.iter().filter(|p| p.is_alive()) {
            tracing::warn!(pid = p.pid, comm = %p.comm, "killing a process chromedriver left behind");
            // SAFETY: kill(2) with a pid we observed as a descendant of our chromedriver moments ago.
            unsafe {
                libc::kill(p.pid as libc::pid_t, libc::SIGKILL);
            }
        }
        poll_until_true(Duration::from_secs(2), look, || {
            !before.iter().any(ProcessInfo::is_alive)
        })
        .await;
        before.into_iter().filter(ProcessInfo::is_alive).collect()
    }
}

/// What a browser session leaves to clean up: its id on the driver and its local user-data-dir.
pub(super) struct Session {
    driver: Driver,
    /// `None` once the session is known closed.
    id: Option<String>,
    /// The user-data-dir; `None` for a remote server (its nodes own the folder).
    dir: Option<TempDir>,
}

impl Session {
    /// The WebDriver session id, while the session is open.
    pub(super) fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The session was closed through fantoccini: no `DELETE` needed any more.
    pub(super) fn mark_closed(&mut self) {
        self.id = None;
    }

    /// Ends the session: `DELETE /session/ID` if it is still open (the driver quits that Chromium),
    /// then removes the user-data-dir, retrying for up to 2 s (Chromium may still write to it a moment
    /// after its session closed). Bounded by `deadline` + 2 s; never fails, logs instead.
    pub(super) async fn end(mut self, deadline: Duration) {
        if let Some(id) = self.id.take() {
            let url = format!("{}/session/{id}", self.driver.url());
            match side_door(deadline) {
                Ok(http) => match http.delete(&url).await {
                    Ok(answer) if answer.status == 200 => {}
                    Ok(answer) => tracing::debug!(
                        status = answer.status,
                        "closing session {id}: {}",
                        answer.text().chars().take(200).collect::<String>()
                    ),
                    Err(e) => tracing::warn!("closing session {id}: {e}"),
                },
                Err(e) => tracing::warn!("closing session {id}: {e}"),
            }
        }
        if let Some(dir) = self.dir.take() {
            let path = dir.keep();
            // 25 ms between tries: Chromium's last writes land within a few of them.
            let removed =
                poll_until_true(Duration::from_secs(2), Duration::from_millis(25), || {
                    std::fs::remove_dir_all(&path).is_ok() || !path.exists()
                })
                .await;
            if !removed {
                tracing::warn!("could not remove {}", path.display());
            }
        }
    }

    /// [`Session::end`] from a synchronous place (`Drop`): on a side runtime, waiting for it.
    pub(super) fn end_blocking(self, deadline: Duration) {
        block_on_side_runtime(self.end(deadline));
    }
}

/// Chromium only: has the browser run `source` before any script of every page it loads, through
/// chromedriver's CDP passthrough (`POST /session/ID/goog/cdp/execute`,
/// `Page.addScriptToEvaluateOnNewDocument`). Returns false where that is unavailable.
pub(super) async fn add_script_on_new_document(
    client: &Client,
    source: &str,
    deadline: Duration,
) -> bool {
    let command = CdpExecute(json!({
        "cmd": "Page.addScriptToEvaluateOnNewDocument",
        "params": { "source": source },
    }));
    matches!(
        tokio::time::timeout(deadline, client.issue_cmd(command)).await,
        Ok(Ok(_))
    )
}

/// Chromium's network errors that abandon a page load because the host's network changed under it, not
/// because the page is unreachable: Docker adds or removes a bridge interface whenever a stack's network is
/// created or removed, and Chromium's network change notifier then cancels every request in flight with
/// `net::ERR_NETWORK_CHANGED` (chromium `net/base/net_error_list.h`: "The network changed"). Loading again
/// succeeds; any other error is the page's own answer and is never retried.
const TRANSIENT_NAVIGATION_ERRORS: &[&str] = &["ERR_NETWORK_CHANGED"];

/// How many times one page load is tried when Chromium abandons it for a network change (one interface
/// change aborts one attempt; a burst of a few, as when a stack's containers start, is covered).
pub(super) const NAVIGATION_ATTEMPTS: u32 = 4;

/// Pause before loading again after a network change: Chromium settles its network state within tens of
/// milliseconds; without a pause the next attempt can fall into the same change.
const NAVIGATION_RETRY_PAUSE: Duration = Duration::from_millis(300);

/// Whether `reason` (a failed navigation's driver error, or the error code Chromium's error page shows) is
/// a load abandoned for a network change, which is worth loading again.
pub(super) fn navigation_is_transient(reason: &str) -> bool {
    TRANSIENT_NAVIGATION_ERRORS
        .iter()
        .any(|code| reason.contains(code))
}

/// Where a navigation ended: the document's address, title, and, on Chromium's error page
/// (`chrome-error://`), the `ERR_…` code it shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Landing {
    /// `document.location.href`.
    pub href: String,
    /// `document.title`.
    pub title: String,
    /// The `ERR_…` code of Chromium's error page, empty elsewhere.
    pub error_code: String,
}

impl Landing {
    /// Chromium shows its own error page instead of the document.
    pub fn is_error_page(&self) -> bool {
        self.href.starts_with("chrome-error://")
    }

    fn of(value: &Value) -> Landing {
        let text = |i: usize| value[i].as_str().unwrap_or_default().to_owned();
        Landing {
            href: text(0),
            title: text(1),
            error_code: text(2),
        }
    }
}

/// Reads where the page landed; the error page's code from its text (`ERR_NAME`).
const LANDING_JS: &str =
    "const code = (document.body && document.body.innerText || '').match(/ERR_[A-Z_]+/); \
     return [String(document.location.href), String(document.title), code ? code[0] : ''];";

/// Why [`goto_retrying`] gave up.
#[derive(Debug)]
pub(super) enum NavigationError {
    /// The driver refused the navigation or the landing check (the last attempt's error).
    Driver(fantoccini::error::CmdError),
    /// No attempt finished before the deadline.
    Deadline,
}

/// Loads `url`, and loads it again (up to [`NAVIGATION_ATTEMPTS`] times, within `deadline`) while Chromium
/// abandons the load for a network change, whether chromedriver reports it as a failed navigation
/// (`unknown error: net::ERR_NETWORK_CHANGED`) or the load ends on Chromium's error page with that code.
/// Returns where the last attempt landed (possibly an error page with another code: the caller says
/// what it means) and how many attempts it took.
pub(super) async fn goto_retrying(
    client: &Client,
    url: &str,
    deadline: Instant,
) -> Result<(Landing, u32), NavigationError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let left = deadline.saturating_duration_since(Instant::now());
        let outcome = tokio::time::timeout(left, async {
            client.goto(url).await?;
            client.execute(LANDING_JS, vec![]).await
        })
        .await
        .map_err(|_| NavigationError::Deadline)?;
        let (result, transient) = match outcome {
            Ok(value) => {
                let landing = Landing::of(&value);
                let transient = (landing.is_error_page()
                    && navigation_is_transient(&landing.error_code))
                .then(|| landing.error_code.clone());
                (Ok(landing), transient)
            }
            Err(e) => {
                let reason = e.to_string();
                (Err(e), navigation_is_transient(&reason).then_some(reason))
            }
        };
        let last = || {
            result
                .map(|landing| (landing, attempt))
                .map_err(NavigationError::Driver)
        };
        let Some(transient) = transient else {
            return last();
        };
        if attempt >= NAVIGATION_ATTEMPTS || Instant::now() + NAVIGATION_RETRY_PAUSE >= deadline {
            return last();
        }
        tracing::debug!(
            attempt,
            "Chromium abandoned the page load ({transient}); loading again"
        );
        tokio::time::sleep(NAVIGATION_RETRY_PAUSE).await;
    }
}

/// chromedriver's CDP passthrough, a Chromium extension of WebDriver (chromedriver's
/// `ExecuteCDP` command: `POST /session/{id}/goog/cdp/execute`).
#[derive(Debug)]
struct CdpExecute(Value);

impl WebDriverCompatibleCommand for CdpExecute {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.0.to_string()))
    }
}

/// The WebDriver capabilities of one session, as the Debian chromium package needs them headless: no
/// sandbox (Chromium refuses to run as root with it, and CI and containers run as root), no GPU, no
/// QUIC, none of the first-run, sync, update and background traffic; a fresh `user_data_dir`; camera
/// and microphone granted without a prompt and served by synthetic devices (Jitsi asks for both).
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn only_a_network_change_makes_a_page_load_again() {
        // As chromedriver reports a failed navigation, and as the error page shows its code.
        for transient in [
            "unknown error: net::ERR_NETWORK_CHANGED\n  (Session info: chrome=120.0.6099.224)",
            "ERR_NETWORK_CHANGED",
        ] {
            assert!(navigation_is_transient(transient), "{transient}");
        }
        for answer in [
            "unknown error: net::ERR_CONNECTION_REFUSED",
            "unknown error: net::ERR_NAME_NOT_RESOLVED",
            "unknown error: net::ERR_CERT_AUTHORITY_INVALID",
            "ERR_ADDRESS_UNREACHABLE",
            "timeout: Timed out receiving message from renderer",
            "",
        ] {
            assert!(!navigation_is_transient(answer), "{answer}");
        }
        // Where the load landed: only Chromium's own error page is one.
        let error_page = Landing::of(&json!([
            "chrome-error://chromewebdata/",
            "127.0.0.1",
            "ERR_NETWORK_CHANGED"
        ]));
        assert!(error_page.is_error_page());
        assert!(navigation_is_transient(&error_page.error_code));
        let page = Landing::of(&json!(["https://127.0.0.1:8443/room", "Jitsi Meet", ""]));
        assert!(!page.is_error_page());
        assert_eq!(Landing::of(&Value::Null), Landing::default());
        const { assert!(NAVIGATION_ATTEMPTS > 1) };
    }

    #[test]
    fn the_cdp_command_goes_to_the_session() {
        let base = url::Url::parse("http://127.0.0.1:9515/wd/hub/").unwrap();
        let command = CdpExecute(json!({"cmd": "Page.enable", "params": {}}));
        let url = command.endpoint(&base, Some("abc123")).unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9515/wd/hub/session/abc123/goog/cdp/execute"
        );
        let (method, body) = command.method_and_body(&url);
        assert_eq!(method, http::Method::POST);
        assert_eq!(
            body.as_deref(),
            Some(r#"{"cmd":"Page.enable","params":{}}"#)
        );
    }

    #[tokio::test]
    async fn a_session_end_removes_its_user_data_dir() {
        let dir = tempfile::Builder::new()
            .prefix(USER_DATA_DIR_PREFIX)
            .tempdir()
            .unwrap();
        let path = dir.path().to_path_buf();
        std::fs::write(path.join("Local State"), "{}").unwrap();
        let session = Session {
            driver: Driver::unchecked("http://127.0.0.1:9"),
            id: None,
            dir: Some(dir),
        };
        session.end(Duration::from_secs(1)).await;
        assert!(!path.exists());
    }
}
