//! A headless-browser participant: Chromium, driven over WebDriver (fantoccini), joins a room and reports
//! what its page sees as an [`Observation`], like a [`super::bot::Bot`] does for raw XMPP.
//!
//! In the data flow it sits beside the bot, under `runner`: the runner hands it a [`BrowserConfig`] (built
//! from the stack's `Endpoints`) and a [`BrowserJoin`] (room, nick, token), then polls [`Browser::observe`]
//! after each step. The files:
//!
//! * this one: the participant, [`Browser`] (join, observe, leave, disconnect, grant owner, kick,
//!   capture, close);
//! * `page`: the two pages it can open, [`PageKind::Fixture`] and [`PageKind::JitsiMeet`] (URL, state
//!   script and parser, leave and admin scripts);
//! * `driver`: the WebDriver server ([`Driver`]) and each browser's session on it (Chromium's
//!   capabilities and user-data-dir, teardown);
//! * `poll`: the one wait loop; `error`: [`BrowserError`];
//! * [`leftovers`]: the marker in every browser folder, and the sweep of what killed runs left.
//!
//! Sessions are closed on every path: [`Browser::close`], every error path of [`Browser::join`], and
//! `Drop` (a bounded `DELETE /session/ID` to the driver on a side runtime, which works after a panic or
//! with the caller's runtime gone).
//!
//! Secrets: page URLs carry the JWT (`jwt=`, `token=`); they are only ever shown through
//! [`redact_url`], and saved page sources and console logs are redacted the same way.

mod driver;
mod error;
pub mod leftovers;
mod page;
mod poll;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::error::{CmdError, ErrorStatus};
use fantoccini::wd::TimeoutConfiguration;
use fantoccini::Client;
use serde_json::Value;

pub use driver::{
    capabilities, Driver, DriverOptions, CHROMEDRIVER_ENV, CHROMIUM_ENV, DEFAULT_CHROMIUM,
    WEBDRIVER_ENV,
};
pub use error::BrowserError;
pub use page::{
    page_url, parse_fixture_state, parse_jitsi_state, PageKind, PagePhase, PageState, Refusal,
};

use super::bot::check_room;
use super::Observation;
use crate::redact::{redact_url, short_token};
use crate::token::Token;
use driver::{add_script_on_new_document, NavigationError, Session};
use error::io_error;
use page::{AdminAction, LandingCheck, Page, Script};
use poll::{poll_until, Look, Waited};

/// The console-capturing script: the fixture page loads it first; other pages get it injected before
/// any of their scripts run. One copy, in the fixture page's folder.
const CONSOLE_JS: &str =
    include_str!("../../../../docker/fixture/rootfs/usr/local/share/jitsi-harness/www/console.js");

// ------------------------------------------------------------------------------------------------------
// Configuration
// ------------------------------------------------------------------------------------------------------

/// Deadlines of one browser.
#[derive(Clone, Copy, Debug)]
pub struct BrowserTimeouts {
    /// New WebDriver session (Chromium start): 0.6–1.6 s measured with Debian's chromium here.
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
    /// For a page of kind `page` (the jitsi-meet web app gets a longer join).
    pub fn for_page(page: PageKind) -> Self {
        BrowserTimeouts {
            session: Duration::from_secs(30),
            join: page.page().join_timeout(),
            leave: Duration::from_secs(10),
            request: Duration::from_secs(10),
            poll: Duration::from_millis(100),
        }
    }
}

impl Default for BrowserTimeouts {
    fn default() -> Self {
        BrowserTimeouts::for_page(PageKind::Fixture)
    }
}

/// Where and how browsers join.
#[derive(Clone, Debug)]
pub struct BrowserConfig {
    /// The WebDriver server sessions are opened on.
    pub driver: Driver,
    /// Which page to open.
    pub page: PageKind,
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
    page: &'static dyn Page,
    client: Option<Client>,
    /// What is left to clean up of the session (its id while open, its user-data-dir); `None` once
    /// ended.
    session: Option<Session>,
    token: Option<Token>,
    timeouts: BrowserTimeouts,
    /// Whether `Page.addScriptToEvaluateOnNewDocument` took the console capture.
    console_injected: bool,
    hung_up: bool,
    session_started_in: Duration,
    joined_in: Duration,
}

impl fmt::Debug for Browser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Browser")
            .field("nick", &self.nick)
            .field("page", &self.page.kind())
            .field("session", &self.session.as_ref().and_then(Session::id))
            .finish_non_exhaustive()
    }
}

/// A WebDriver error with its text redacted.
fn driver_reason(e: &CmdError) -> String {
    redact_url(&e.to_string())
}

impl Browser {
    /// Opens a session, loads the page of `config.page`, and waits (up to `timeouts.join`) until the
    /// page says it joined. A refusal is [`BrowserError::JoinRefused`] naming the stage and cause. On
    /// any error the screenshot, console log and page source go to `config.artifacts` (as
    /// `NICK-join-failed.*`) and the session is closed.
    pub async fn join(config: &BrowserConfig, join: BrowserJoin) -> Result<Browser, BrowserError> {
        let page = config.page.page();
        page.check_join(&join).map_err(BrowserError::Invalid)?;
        check_room(&join.room).map_err(|e| BrowserError::Invalid(e.to_string()))?;
        let url = page.url(config, &join);
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
        let t0 = Instant::now();
        let (client, session) = config
            .driver
            .open_session(config.insecure_tls, config.timeouts.session)
            .await?;
        let session_started_in = t0.elapsed();
        let t = config.timeouts;
        let console_injected = add_script_on_new_document(&client, CONSOLE_JS, t.request).await;
        let browser = Browser {
            nick: nick.to_owned(),
            page: config.page.page(),
            client: Some(client),
            session: Some(session),
            token,
            timeouts: t,
            console_injected,
            hung_up: false,
            session_started_in,
            joined_in: Duration::ZERO,
        };
        let timeouts = TimeoutConfiguration::new(Some(t.request), Some(t.join), None);
        browser
            .step("setting WebDriver timeouts", t.request, |c| async move {
                c.update_timeouts(timeouts).await
            })
            .await?;
        Ok(browser)
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

    /// Runs a synchronous script (`execute`) under the request deadline.
    async fn script(&self, what: &str, js: &str) -> Result<Value, BrowserError> {
        let js = js.to_owned();
        self.step(what, self.timeouts.request, |c| async move {
            c.execute(&js, vec![]).await
        })
        .await
    }

    /// Runs a page's script: synchronous under the request deadline, or asynchronous (its last argument
    /// is the callback) under `callback_deadline`. `what` names it in errors.
    async fn run(
        &self,
        what: &str,
        script: Script,
        callback_deadline: Duration,
    ) -> Result<Value, BrowserError> {
        let Script {
            js, args, callback, ..
        } = script;
        if callback {
            self.step(what, callback_deadline, |c| async move {
                c.execute_async(js, args).await
            })
            .await
        } else {
            self.step(what, self.timeouts.request, |c| async move {
                c.execute(js, args).await
            })
            .await
        }
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

    /// Reads the page every `timeouts.poll` until `settled` says where it stands, or `deadline` (counted
    /// from `started`) passes; the timeout names `what` and the last state seen.
    async fn wait_for_page<T>(
        &self,
        what: &str,
        started: Instant,
        deadline: Duration,
        settled: impl Fn(&PageState) -> Option<Result<T, BrowserError>>,
    ) -> Result<T, BrowserError> {
        let limit = deadline.saturating_sub(started.elapsed());
        let settled = &settled;
        let waited = poll_until(limit, self.timeouts.poll, || async move {
            let state = self.page_state().await?;
            Ok(match settled(&state) {
                Some(Ok(value)) => Look::Done(value),
                Some(Err(e)) => return Err(e),
                None => Look::NotYet(state.describe()),
            })
        })
        .await;
        match waited {
            Ok(value) => Ok(value),
            Err(Waited::Failed(e)) => Err(e),
            Err(Waited::TimedOut { last }) => Err(BrowserError::Timeout {
                nick: self.nick.clone(),
                what: what.to_owned(),
                deadline,
                last: Some(last),
            }),
        }
    }

    async fn load_and_wait(&mut self, url: &str, deadline: Duration) -> Result<(), BrowserError> {
        let started = Instant::now();
        let shown = redact_url(url);
        let Some(client) = self.client.clone() else {
            return Err(BrowserError::PageUnreachable {
                nick: self.nick.clone(),
                url: shown,
                reason: "the browser session is closed".into(),
            });
        };
        // Loaded again while Chromium abandons the load for a host network change (driver.rs).
        let landing = match driver::goto_retrying(&client, url, started + deadline).await {
            Ok((landing, attempts)) => {
                if attempts > 1 {
                    tracing::debug!(nick = %self.nick, attempts, "page loaded after network changes");
                }
                landing
            }
            Err(NavigationError::Driver(e)) => {
                // chromedriver reports a failed navigation as `unknown error: net::ERR_…`. Only the
                // redacted text is kept: the driver's own error may echo the URL, token and all.
                return Err(BrowserError::PageUnreachable {
                    nick: self.nick.clone(),
                    url: shown,
                    reason: self.redact(&driver_reason(&e)),
                });
            }
            Err(NavigationError::Deadline) => {
                return Err(BrowserError::Timeout {
                    nick: self.nick.clone(),
                    what: format!("loading {shown}"),
                    deadline,
                    last: None,
                })
            }
        };
        // Chromium may also land on its error page without the navigation failing.
        let title = landing.title.as_str();
        if landing.is_error_page() {
            return Err(BrowserError::PageUnreachable {
                nick: self.nick.clone(),
                url: shown,
                reason: format!(
                    "Chromium shows its error page ({}{})",
                    if title.is_empty() { "no title" } else { title },
                    if landing.error_code.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", landing.error_code)
                    }
                ),
            });
        }
        if let Some(LandingCheck { script, not_ours }) = self.page.landing_check() {
            if self.run(script.what, script, self.timeouts.request).await? != Value::Bool(true) {
                return Err(BrowserError::PageUnreachable {
                    nick: self.nick.clone(),
                    url: shown,
                    reason: not_ours(title),
                });
            }
        }
        if !self.console_injected {
            let _ = self
                .script("installing the console capture", CONSOLE_JS)
                .await;
        }
        self.wait_for_page("the join", started, deadline, |state| match &state.phase {
            PagePhase::Joined => Some(Ok(())),
            PagePhase::Refused(r) => Some(Err(BrowserError::JoinRefused {
                nick: self.nick.clone(),
                stage: r.stage.clone(),
                condition: r.condition.clone(),
                text: r.text.as_deref().map(|t| self.redact(t)),
            })),
            PagePhase::Failed(reason) => Some(Err(BrowserError::PageFailed {
                nick: self.nick.clone(),
                reason: self.redact(reason),
            })),
            PagePhase::Left { .. } => Some(Err(BrowserError::PageFailed {
                nick: self.nick.clone(),
                reason: "the page left the room while joining".into(),
            })),
            PagePhase::Loading | PagePhase::Connecting => None,
        })
        .await
    }

    /// The scenario's name for this participant.
    pub fn nick(&self) -> &str {
        &self.nick
    }

    /// Which page this browser opened.
    pub fn page_kind(&self) -> PageKind {
        self.page.kind()
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
        let script = self.page.state_script();
        let what = script.what;
        let value = match self.run(what, script, self.timeouts.request).await {
            Ok(v) => v,
            Err(e @ (BrowserError::Script { .. } | BrowserError::WebDriver { .. })) => {
                match self.page.state_between_documents() {
                    Some(v) if self.hung_up => v,
                    _ => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        self.page
            .parse_state(&value, self.hung_up)
            .map_err(|reason| BrowserError::Script {
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
        let started = Instant::now();
        let deadline = self.timeouts.leave;
        let script = self.page.leave_script();
        self.hung_up = true;
        self.run(script.what, script, deadline).await?;
        self.wait_for_page(
            "leaving the room",
            started,
            deadline,
            |state| match &state.phase {
                PagePhase::Left { .. } => Some(Ok(())),
                PagePhase::Failed(reason) => Some(Err(BrowserError::PageFailed {
                    nick: self.nick.clone(),
                    reason: self.redact(reason),
                })),
                _ => None,
            },
        )
        .await
    }

    /// Drops out with no goodbye: the session (and so Chromium and its WebSocket) is closed without
    /// leaving the room, as when a tab or a laptop dies.
    pub async fn disconnect(self) -> Result<(), BrowserError> {
        self.close().await
    }

    /// As a moderator, makes the occupant `nick` owner (fixture page: muc#admin with its real JID;
    /// jitsi-meet: `APP.conference._room.grantOwner(id)`, `nick` being the endpoint id).
    pub async fn grant_owner(&self, nick: &str) -> Result<(), BrowserError> {
        self.admin(
            AdminAction::GrantOwner,
            nick,
            &format!("granting owner to {nick}"),
        )
        .await
    }

    /// As a moderator, kicks the occupant `nick` (fixture page: muc#admin `role='none'`; jitsi-meet:
    /// `APP.conference._room.kickParticipant(id)`).
    pub async fn kick(&self, nick: &str) -> Result<(), BrowserError> {
        self.admin(AdminAction::Kick, nick, &format!("kicking {nick}"))
            .await
    }

    async fn admin(&self, action: AdminAction, nick: &str, what: &str) -> Result<(), BrowserError> {
        let script = self.page.admin_script(action, nick);
        match self.run(what, script, self.timeouts.request).await? {
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

    /// Closes the WebDriver session (Chromium quits) and removes its user-data-dir.
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
                if let Some(session) = &mut self.session {
                    session.mark_closed();
                }
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
        // When fantoccini could not close it, a plain `DELETE` (as Drop would); then the folder goes.
        if let Some(session) = self.session.take() {
            session.end(deadline).await;
        }
        result
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            // On a side runtime, bounded by the request deadline (+ 2 s for the folder): works in a
            // panic, after the caller's runtime stopped, anywhere.
            session.end_blocking(self.timeouts.request);
        }
        // The fantoccini client (its own DELETE is asynchronous and may never run) goes last.
        self.client.take();
    }
}
