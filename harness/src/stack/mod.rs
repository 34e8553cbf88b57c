//! Stacks: the XMPP/Jitsi deployments a scenario runs against.
//!
//! A [`StackTarget`] names one (`fixture:13`, `jitsi:stable-11146`, `external:staging`); a backend starts it
//! for a [`Variant`] and hands the rest of the harness its [`Endpoints`]. Backends:
//! [`fixture`] (real Prosody + focus stand-in, built locally), [`jitsi`] (docker-jitsi-meet at a tag) and
//! [`external`] (an existing deployment). `stack` never knows about participants.

pub mod docker;
pub mod external;
pub mod fixture;
pub mod focus;
pub mod http_shim;
pub mod jitsi;
pub mod plan;
pub mod variant;

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

pub use variant::{Faults, Variant, VariantError, Variants};

use crate::redact::Secret;
use crate::token::SigningKey;

/// Which kind of deployment. Snapshots of different families are never mixed (DESIGN.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Fixture,
    Jitsi,
    External,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Fixture => "fixture",
            Family::Jitsi => "jitsi",
            Family::External => "external",
        }
    }
}

/// A stack to run on, as written on the command line: `fixture:0.12`, `fixture:13`,
/// `jitsi:stable-11146`, `jitsi:unstable-2026-11-01`, `external:NAME`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct StackTarget {
    pub family: Family,
    /// The version within the family: the Prosody series, the docker-jitsi-meet tag, the external name.
    pub version: String,
}

impl fmt::Display for StackTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.family.as_str(), self.version)
    }
}

/// Why a stack target could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid stack `{input}`: {reason}")]
pub struct StackTargetError {
    pub input: String,
    pub reason: String,
}

/// Prosody series the fixture stack has images for.
pub const FIXTURE_VERSIONS: &[&str] = &["0.12", "13"];

impl FromStr for StackTarget {
    type Err = StackTargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| StackTargetError {
            input: s.to_owned(),
            reason,
        };
        let (family, version) = s.split_once(':').ok_or_else(|| {
            err(
                "expected FAMILY:VERSION, e.g. fixture:13, jitsi:stable-11146, external:NAME"
                    .into(),
            )
        })?;
        let family = match family {
            "fixture" => Family::Fixture,
            "jitsi" => Family::Jitsi,
            "external" => Family::External,
            other => {
                return Err(err(format!(
                    "unknown family `{other}` (expected fixture, jitsi or external)"
                )))
            }
        };
        match family {
            Family::Fixture if !FIXTURE_VERSIONS.contains(&version) => {
                return Err(err(format!(
                    "the fixture stack has Prosody {} (got `{version}`)",
                    FIXTURE_VERSIONS.join(" and ")
                )))
            }
            Family::Jitsi => {
                crate::versions::Release::from_str(version).map_err(|e| err(e.to_string()))?;
            }
            _ if version.is_empty() => return Err(err("the version part is empty".into())),
            _ => {}
        }
        Ok(StackTarget {
            family,
            version: version.to_owned(),
        })
    }
}

/// Everything participants need to reach a running stack.
#[derive(Clone, Debug, Serialize)]
pub struct Endpoints {
    /// WebSocket URL without query, e.g. `ws://127.0.0.1:32768/xmpp-websocket`.
    pub websocket: String,
    /// BOSH URL without query.
    pub bosh: String,
    /// The main (token) XMPP domain, e.g. `meet.jitsi`.
    pub domain: String,
    /// The MUC domain, e.g. `muc.meet.jitsi`.
    pub muc_domain: String,
    /// Where the focus conference request goes, e.g. `focus.meet.jitsi`.
    pub focus_domain: String,
    /// The anonymous guest domain, when the variant has guests.
    pub guest_domain: Option<String>,
    /// JWT `iss` the stack accepts by default (docker-jitsi-meet `JWT_APP_ID`).
    pub app_id: String,
    /// Key that signs valid tokens for this stack (never printed).
    pub signing: SigningKey,
    /// Base URL a browser opens rooms under (jitsi-meet web, or the fixture's page server).
    pub web: Option<String>,
    /// jicofo's REST base URL (`/debug/conference/<room>`), when reachable.
    pub jicofo_rest: Option<String>,
    /// Accept self-signed TLS certificates (docker-jitsi-meet generates one).
    pub insecure_tls: bool,
}

impl Endpoints {
    /// A fresh HS256 signing key, for stacks the harness configures itself.
    pub fn random_hs256() -> SigningKey {
        SigningKey::Hs256(Secret::random(32))
    }
}

/// Receives human progress lines (image pulls, readiness).
pub type ProgressFn = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// How to start a stack.
#[derive(Clone)]
pub struct StartOptions {
    /// Folder for this stack's container logs (created if missing).
    pub artifacts: std::path::PathBuf,
    /// Deadline for the whole stack to become ready.
    pub startup_timeout: std::time::Duration,
    /// Leave containers running after the run (`--keep-stack`); `close` then prints how to remove them.
    pub keep: bool,
    /// Progress lines for humans (image pulls, readiness), consumed by the reporter.
    pub progress: Option<ProgressFn>,
    /// The fixture's focus stand-in binary (default: found next to the running executable).
    pub focus_binary: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for StartOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartOptions")
            .field("artifacts", &self.artifacts)
            .field("startup_timeout", &self.startup_timeout)
            .field("keep", &self.keep)
            .finish_non_exhaustive()
    }
}

impl StartOptions {
    pub fn new(artifacts: impl Into<std::path::PathBuf>) -> Self {
        StartOptions {
            artifacts: artifacts.into(),
            startup_timeout: std::time::Duration::from_secs(60),
            keep: false,
            progress: None,
            focus_binary: None,
        }
    }

    /// Reports a progress line.
    pub fn progress(&self, line: &str) {
        tracing::info!("{line}");
        if let Some(p) = &self.progress {
            p(line);
        }
    }
}

/// Why a stack could not be started, reached or closed.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(transparent)]
    Docker(#[from] docker::DockerError),
    /// A variant knob this backend or release cannot express.
    #[error("{stack} cannot express variant `{variant}`: {reason}")]
    Unsupported {
        stack: String,
        variant: String,
        reason: String,
    },
    /// A container did not become ready in time; carries the last lines of its log.
    #[error("{container} was not ready within {} s (waiting for {condition}); last log lines:\n{log_tail}", waited.as_secs())]
    NotReady {
        container: String,
        waited: std::time::Duration,
        condition: String,
        log_tail: String,
    },
    /// A container could not be created or started.
    #[error("could not start {container}: {source}")]
    Start {
        container: String,
        #[source]
        source: testcontainers::TestcontainersError,
    },
    /// An image could not be pulled from any registry.
    #[error("could not pull `{image}` (tried {tried}); {hint}")]
    Pull {
        image: String,
        tried: String,
        hint: String,
    },
    /// Something the stack needs on this machine is missing (binary, config, key).
    #[error("{what}; {hint}")]
    Missing { what: String, hint: String },
    /// I/O on the artifacts folder.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// A running stack. Close it with [`Stack::close`]; dropping it removes its containers as a fallback.
pub enum Stack {
    Fixture(Box<fixture::FixtureStack>),
    Jitsi(Box<jitsi::JitsiStack>),
    External(Box<external::ExternalStack>),
}

impl Stack {
    /// Starts `target` configured as `variant`.
    pub async fn start(
        target: &StackTarget,
        variant: &Variant,
        options: &StartOptions,
    ) -> Result<Stack, StackError> {
        std::fs::create_dir_all(&options.artifacts).map_err(|source| StackError::Io {
            what: format!("cannot create {}", options.artifacts.display()),
            source,
        })?;
        Ok(match target.family {
            Family::Fixture => Stack::Fixture(Box::new(
                fixture::FixtureStack::start(target, variant, options).await?,
            )),
            Family::Jitsi => Stack::Jitsi(Box::new(
                jitsi::JitsiStack::start(target, variant, options).await?,
            )),
            Family::External => Stack::External(Box::new(
                external::ExternalStack::start(target, variant, options).await?,
            )),
        })
    }

    pub fn target(&self) -> &StackTarget {
        match self {
            Stack::Fixture(s) => s.target(),
            Stack::Jitsi(s) => s.target(),
            Stack::External(s) => s.target(),
        }
    }

    pub fn endpoints(&self) -> &Endpoints {
        match self {
            Stack::Fixture(s) => s.endpoints(),
            Stack::Jitsi(s) => s.endpoints(),
            Stack::External(s) => s.endpoints(),
        }
    }

    /// Saves logs, removes containers and networks (unless kept), reporting what failed.
    pub async fn close(self) -> Result<(), StackError> {
        match self {
            Stack::Fixture(s) => s.close().await,
            Stack::Jitsi(s) => s.close().await,
            Stack::External(s) => s.close().await,
        }
    }
}
