//! Stacks: the XMPP/Jitsi deployments a scenario runs against.
//!
//! A [`StackTarget`] names one (`fixture:13`, `jitsi:stable-11146`, `external:staging`); a backend starts it
//! for a [`Variant`] and hands the rest of the harness its [`Endpoints`]. Backends:
//! [`fixture`] (real Prosody + focus stand-in, built locally), [`jitsi`] (docker-jitsi-meet at a tag) and
//! [`external`] (an existing deployment). Each describes what it starts as a plain, printable plan and
//! says when it is up in one vocabulary, [`Ready`]. `stack` never knows about participants.
//!
//! Files: `target` ([`StackTarget`], what `--stack` names), `endpoints` ([`Endpoints`], what participants
//! get), `error` ([`StackError`]), [`ready`] (readiness conditions and the one wait), [`env`](mod@env) (env values that keep
//! secrets out of printed plans), [`docker`] (engine, labels, networks, logs, sweeps), [`variant`]
//! (scenarios/variants.toml), and one module per backend.

mod accounts;
pub mod docker;
mod endpoints;
pub mod env;
mod error;
pub mod external;
pub mod features;
pub mod fixture;
pub mod jitsi;
pub mod kept;
pub mod ready;
mod target;
pub mod variant;
pub mod watch;

pub use endpoints::{ClientFacts, Endpoints};
pub use error::StackError;
pub use features::FEATURES;
pub use ready::Ready;
pub use target::{Family, StackTarget, StackTargetError, FIXTURE_VERSIONS};
pub use variant::{Faults, Variant, VariantError, Variants};
pub use watch::{ContainerEvent, ContainerWatch, Fault, FaultError, ServiceContainer};

/// The service names a scenario's fault steps may use, on any backend: the fixture has `prosody` and
/// `focus`; a Jitsi stack `prosody`, `jicofo`, `jvb` and `web`. `focus` and `jicofo` name the same role
/// (the focus: rooms and owner grants) on both.
pub const FAULT_SERVICES: [&str; 5] = ["prosody", "focus", "jicofo", "jvb", "web"];

/// How a progress line about a stack left running by `--keep-stack` (and its rooms) begins: such lines are
/// shown whether the run is verbose or not.
pub const KEPT_PREFIX: &str = "kept ";

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
    /// `jitsi:` stacks: registry prefix to take the images from (`PREFIX/<service>:<tag>`) instead of the
    /// release's own (`--registry`, `JITSI_HARNESS_REGISTRY`).
    pub registry: Option<String>,
}

impl std::fmt::Debug for StartOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartOptions")
            .field("artifacts", &self.artifacts)
            .field("startup_timeout", &self.startup_timeout)
            .field("keep", &self.keep)
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl StartOptions {
    /// Options with container logs under `artifacts`, a 60 s start deadline, nothing kept.
    pub fn new(artifacts: impl Into<std::path::PathBuf>) -> Self {
        StartOptions {
            artifacts: artifacts.into(),
            startup_timeout: std::time::Duration::from_secs(60),
            keep: false,
            progress: None,
            focus_binary: None,
            registry: None,
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

/// A running stack. Close it with [`Stack::close`]; dropping it removes its containers as a fallback.
#[derive(Debug)]
pub enum Stack {
    /// A fixture stack.
    Fixture(Box<fixture::FixtureStack>),
    /// A docker-jitsi-meet stack.
    Jitsi(Box<jitsi::JitsiStack>),
    /// An existing deployment.
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

    /// The target this stack was started for.
    pub fn target(&self) -> &StackTarget {
        match self {
            Stack::Fixture(s) => s.target(),
            Stack::Jitsi(s) => s.target(),
            Stack::External(s) => s.target(),
        }
    }

    /// Where participants connect.
    pub fn endpoints(&self) -> &Endpoints {
        match self {
            Stack::Fixture(s) => s.endpoints(),
            Stack::Jitsi(s) => s.endpoints(),
            Stack::External(s) => s.endpoints(),
        }
    }

    /// The stack's containers by service (none for an external deployment).
    pub fn containers(&self) -> Vec<ServiceContainer> {
        match self {
            Stack::Fixture(s) => s.containers(),
            Stack::Jitsi(s) => s.containers(),
            Stack::External(_) => Vec::new(),
        }
    }

    /// Follows the engine's events for this stack's containers from now on (see [`ContainerWatch`]).
    /// An external deployment has none: the watch never reports.
    pub async fn watch(&self) -> Result<ContainerWatch, StackError> {
        let containers = self.containers();
        if containers.is_empty() {
            return Ok(ContainerWatch::none());
        }
        let docker = match self {
            Stack::Jitsi(s) => s.docker().clone(),
            _ => docker::connect().await?,
        };
        Ok(ContainerWatch::follow(docker, containers))
    }

    /// The last `lines` lines of `service`'s output, as followed into the artifacts folder.
    pub fn log_tail(&self, service: &str, lines: usize) -> String {
        match self {
            Stack::Fixture(s) => s.log_tail(service, lines),
            Stack::Jitsi(s) => s.log_tail(service, lines),
            Stack::External(_) => String::new(),
        }
    }

    /// Every line `service` has printed so far (fixture stacks, whose focus logs each grant with its
    /// role manager; empty elsewhere).
    pub fn log_lines(&self, service: &str) -> Vec<String> {
        match self {
            Stack::Fixture(s) => s.log_lines(service),
            Stack::Jitsi(_) | Stack::External(_) => Vec::new(),
        }
    }

    /// Breaks `service` on purpose (a scenario's `restart`, `stop` or `pause` step); returns every
    /// service the fault touched, whose container events the caller asked for. An external deployment
    /// cannot be broken from here.
    pub async fn fault(&self, service: &str, fault: Fault) -> Result<Vec<String>, FaultError> {
        match self {
            Stack::Fixture(s) => s.fault(service, fault).await,
            Stack::Jitsi(s) => s.fault(service, fault).await,
            Stack::External(s) => Err(FaultError::Unsupported {
                stack: s.target().to_string(),
                service: service.to_owned(),
                fault: fault.to_string(),
                reason: "an external deployment's containers are not the harness's to break".into(),
            }),
        }
    }

    /// The credentials of the registered account `user` on the main domain (variants with `internal_auth`),
    /// registered on first use with a random password. An external deployment's accounts are not the
    /// harness's to create.
    pub async fn account(
        &self,
        user: &str,
    ) -> Result<crate::xmpp::websocket::Credentials, StackError> {
        match self {
            Stack::Fixture(s) => s.account(user).await,
            Stack::Jitsi(s) => s.account(user).await,
            Stack::External(s) => Err(StackError::Unsupported {
                stack: s.target().to_string(),
                variant: String::new(),
                reason: format!(
                    "`login = \"password\"`: the harness does not create accounts on an external deployment \
                     (no account for {user})"
                ),
            }),
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
