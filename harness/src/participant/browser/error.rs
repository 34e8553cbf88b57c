//! [`BrowserError`]: why a browser could not do what it was asked. Every text is token-free (URLs go
//! through [`crate::redact::redact_url`] before they get here).

use std::time::Duration;

use fantoccini::error::CmdError;

/// Why a browser could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// Chromium or chromedriver is missing on this machine.
    #[error("{what} is not installed (looked for {looked}); {hint}")]
    NotInstalled {
        /// Which program is missing (`chromium`, `chromedriver`).
        what: &'static str,
        /// Where the harness looked for it.
        looked: String,
        /// How to install it.
        hint: &'static str,
    },
    /// chromedriver was started but never answered ready.
    #[error("chromedriver did not start: {reason}; its last output:\n{output_tail}")]
    DriverDidNotStart {
        /// Why the harness gave up on it.
        reason: String,
        /// The last lines chromedriver printed.
        output_tail: String,
    },
    /// A given WebDriver server does not answer.
    #[error("the WebDriver server at {url} does not answer: {reason}")]
    DriverUnreachable {
        /// The WebDriver server's URL.
        url: String,
        /// Why the connection failed.
        reason: String,
    },
    /// The WebDriver server refused or failed to create a browser session.
    #[error("could not start a browser session at {driver}: {reason}")]
    Session {
        /// The WebDriver server's URL.
        driver: String,
        /// The server's (redacted) answer.
        reason: String,
    },
    /// The page itself could not be loaded (server down, wrong port, TLS refused).
    #[error("{nick}: the page {url} is unreachable: {reason}")]
    PageUnreachable {
        /// The participant's nick.
        nick: String,
        /// Redacted.
        url: String,
        /// Why loading failed.
        reason: String,
    },
    /// The deployment refused the join: a rejected token (login), the focus, or the room.
    #[error("{nick} was refused at the {stage}: {condition}{}", text.as_deref().map(|t| format!(" ({t})")).unwrap_or_default())]
    JoinRefused {
        /// The participant's nick.
        nick: String,
        /// `login` (SASL), `focus` (conference request) or `room` (MUC join).
        stage: String,
        /// The condition the server answered (e.g. `not-allowed`).
        condition: String,
        /// The error's text, when the server sent one.
        text: Option<String>,
    },
    /// The page gave up on its own (connection lost, focus never ready).
    #[error("{nick}: the page failed: {reason}")]
    PageFailed {
        /// The participant's nick.
        nick: String,
        /// What the page reported.
        reason: String,
    },
    /// A muc#admin request from the page (grant, kick) was refused or failed.
    #[error("{nick}: {what} failed: {reason}")]
    RequestFailed {
        /// The participant's nick.
        nick: String,
        /// Which request failed.
        what: String,
        /// The error the page reported.
        reason: String,
    },
    /// Something did not happen in time.
    #[error("{nick}: {what} did not happen within {} ms{}", deadline.as_millis(), last.as_deref().map(|l| format!(" (last seen: {l})")).unwrap_or_default())]
    Timeout {
        /// The participant's nick.
        nick: String,
        /// What the harness was waiting for.
        what: String,
        /// How long it waited.
        deadline: Duration,
        /// What the page last said, when known.
        last: Option<String>,
    },
    /// A script on the page threw, or returned something of the wrong shape.
    #[error("{nick}: script error while {what}: {reason}")]
    Script {
        /// The participant's nick.
        nick: String,
        /// What the script was doing.
        what: String,
        /// The exception or the unexpected value.
        reason: String,
    },
    /// A WebDriver command failed (the session or the browser died).
    #[error("{nick}: the browser session failed while {what}: {reason}")]
    WebDriver {
        /// The participant's nick.
        nick: String,
        /// What the harness was doing.
        what: String,
        /// Redacted text of the driver's error.
        reason: String,
        /// The driver's error.
        #[source]
        source: Box<CmdError>,
    },
    /// A nick or room the deployment would reject anyway.
    #[error("{0}")]
    Invalid(String),
    /// Files: profile folders, artefacts.
    #[error("{what}: {source}")]
    Io {
        /// Which file or folder, and what was done with it.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl BrowserError {
    /// The join was refused by the deployment (as [`crate::participant::BotError::is_refusal`]): an
    /// observation for the timeline, not a harness failure.
    pub fn is_refusal(&self) -> bool {
        matches!(self, BrowserError::JoinRefused { .. })
    }

    /// Chromium or chromedriver is not installed (a test may be skipped locally for this).
    pub fn is_not_installed(&self) -> bool {
        matches!(self, BrowserError::NotInstalled { .. })
    }
}

/// Maps an I/O error to [`BrowserError::Io`] saying what failed.
pub(super) fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BrowserError {
    let what = what.into();
    move |source| BrowserError::Io { what, source }
}

#[cfg(test)]
mod tests {
    use super::super::driver::INSTALL_HINT;
    use super::*;

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
}
