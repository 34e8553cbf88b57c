//! Programs that run INSIDE containers, never in the harness process: stand-ins for Jitsi's server-side
//! components, built into the `jitsi-harness-focus` and `jitsi-harness-standin` binaries.
//!
//! * [`focus`]: the focus state machine (conference requests, rooms, role managers) and the fixture
//!   stack's focus component;
//! * [`jicofo`] and [`jvb`]: stand-ins for docker-jitsi-meet's `jicofo` and `jvb` images, configured only
//!   by those images' env ([`env`]), logging to stdout in the originals' format ([`log`]);
//! * the parts they share: [`roles`] (jicofo's role managers), [`c2s`] (client login with STARTTLS),
//!   [`brewery`] (bridges in the brewery MUC), [`rest`] (jicofo's REST routes).

pub mod brewery;
pub mod c2s;
pub mod env;
pub mod focus;
pub mod jicofo;
pub mod jvb;
#[cfg(test)]
mod live_tests;
pub mod log;
pub mod rest;
pub mod roles;

/// Why the jicofo or jvb stand-in cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Upstream's config step refuses to start: the line it prints; the process exits 1.
    #[error("{0}")]
    Fatal(&'static str),
    /// A value the stand-in cannot use.
    #[error("{var}={value:?} is invalid: {reason}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// Why.
        reason: String,
    },
    /// The REST listener could not be opened.
    #[error("cannot listen on {addr}: {source}; is another process using the port?")]
    Listen {
        /// `host:port`.
        addr: String,
        /// The bind error.
        source: std::io::Error,
    },
}

/// Parses a port the way the rendered config would be rejected by jicofo when it is not one.
pub(crate) fn port(var: &'static str, value: String) -> Result<u16, StartError> {
    value.trim().parse().map_err(|_| StartError::Invalid {
        var,
        value,
        reason: "not a TCP port".into(),
    })
}
