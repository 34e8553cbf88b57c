//! The fixture stack: real Prosody (0.12 or 13, images built locally by `docker/fixture/build.sh`) with
//! the project's token module, plus the focus stand-in ([`super::focus`]) — how the harness tests itself
//! on machines that cannot pull Jitsi images (DESIGN.md "The fixture stack").
//!
//! One stack per (Prosody version, variant): a labelled network of its own, a `prosody` container
//! publishing 5280 (WebSocket and BOSH) on 127.0.0.1 only, and a `focus` container running the
//! `jitsi-harness-focus` binary (bind-mounted from the build) against Prosody's component port. Ready when
//! the WebSocket endpoint answers and the focus reports itself connected, within the start deadline.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use testcontainers::core::{IntoContainerPort, Mount};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::docker::{self, LabelledNetwork, LogTail};
use super::plan::EnvValue;
use super::{Endpoints, Family, StackError, StackTarget, StartOptions, Variant};
use crate::redact::Secret;
use crate::token::SigningKey;

/// Image repository of the fixture's Prosody; the tag is the Prosody series.
pub const IMAGE_REPO: &str = "jitsi-harness/fixture-prosody";
/// docker-jitsi-meet's default domains.
pub const DOMAIN: &str = "meet.jitsi";
pub const MUC_DOMAIN: &str = "muc.meet.jitsi";
pub const FOCUS_DOMAIN: &str = "focus.meet.jitsi";
pub const GUEST_DOMAIN: &str = "guest.meet.jitsi";
/// `JWT_APP_ID` of every fixture stack (the `iss` its tokens carry).
pub const APP_ID: &str = "jitsi-harness";
/// Where the focus binary is mounted in its container.
const FOCUS_IN_CONTAINER: &str = "/opt/jitsi-harness/jitsi-harness-focus";
/// Env var naming the focus binary explicitly.
pub const FOCUS_BIN_ENV: &str = "JITSI_HARNESS_FOCUS_BIN";

/// What the fixture starts for one variant: a plain value, printable before anything runs.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FixtureSpec {
    pub image: String,
    /// Env of the prosody container.
    pub prosody_env: Vec<(String, EnvValue)>,
    /// Env of the focus container.
    pub focus_env: Vec<(String, EnvValue)>,
    pub guests: bool,
}

impl FixtureSpec {
    /// Maps a variant onto the fixture, or says which knob it cannot express.
    pub fn new(
        target: &StackTarget,
        variant: &Variant,
        secret: &Secret,
        component_secret: &Secret,
    ) -> Result<Self, StackError> {
        let unsupported = |reason: &str| StackError::Unsupported {
            stack: target.to_string(),
            variant: variant.name.clone(),
            reason: reason.to_owned(),
        };
        if variant.token_affiliation {
            return Err(unsupported(
                "knob `token_affiliation`: the fixture has no token_affiliation module (run it on a jitsi:stable-NNNN stack)",
            ));
        }
        if variant.wait_for_host {
            return Err(unsupported(
                "knob `wait_for_host`: the fixture has no muc_wait_for_host module",
            ));
        }
        if variant.lobby == Some(true) {
            return Err(unsupported("knob `lobby`: the fixture has no lobby"));
        }
        if variant.guests && !variant.jwt {
            return Err(unsupported(
                "knob `guests` needs `jwt` (ENABLE_GUESTS only adds a guest domain when ENABLE_AUTH=1)",
            ));
        }
        if variant.allow_empty_token && !variant.jwt {
            return Err(unsupported("knob `allow_empty_token` needs `jwt`"));
        }
        let b = |v: bool| EnvValue::from(if v { "1" } else { "0" });
        let mut prosody_env = vec![
            ("XMPP_DOMAIN".into(), DOMAIN.into()),
            ("XMPP_MUC_DOMAIN".into(), MUC_DOMAIN.into()),
            ("XMPP_GUEST_DOMAIN".into(), GUEST_DOMAIN.into()),
            ("ENABLE_AUTH".into(), b(variant.jwt)),
            ("ENABLE_GUESTS".into(), b(variant.guests)),
            (
                "JICOFO_COMPONENT_SECRET".into(),
                EnvValue::Secret(component_secret.clone()),
            ),
            ("FIXTURE_OPEN_ROOMS".into(), b(variant.faults.open_rooms)),
        ];
        if variant.jwt {
            prosody_env.extend([
                ("AUTH_TYPE".into(), "jwt".into()),
                ("JWT_APP_ID".into(), APP_ID.into()),
                ("JWT_APP_SECRET".into(), EnvValue::Secret(secret.clone())),
                ("JWT_ALLOW_EMPTY".into(), b(variant.allow_empty_token)),
            ]);
        }
        let mut focus_env = vec![
            ("XMPP_DOMAIN".into(), DOMAIN.into()),
            ("XMPP_MUC_DOMAIN".into(), MUC_DOMAIN.into()),
            (
                "JICOFO_COMPONENT_SECRET".into(),
                EnvValue::Secret(component_secret.clone()),
            ),
            (
                "JICOFO_ENABLE_AUTH".into(),
                b(variant.effective_jicofo_auth()),
            ),
            (
                "FOCUS_GRANT_DELAY_MS".into(),
                variant.faults.grant_delay_ms.to_string().into(),
            ),
            (
                "FOCUS_NOT_READY_TIMES".into(),
                variant.faults.not_ready_times.to_string().into(),
            ),
        ];
        if let Some(auto_owner) = variant.auto_owner {
            focus_env.push(("ENABLE_AUTO_OWNER".into(), b(auto_owner)));
        }
        if let Ok(seed) = std::env::var("JITSI_HARNESS_FOCUS_SEED") {
            focus_env.push(("FOCUS_SEED".into(), seed.into()));
        }
        Ok(FixtureSpec {
            image: format!("{IMAGE_REPO}:{}", target.version),
            prosody_env,
            focus_env,
            guests: variant.guests,
        })
    }
}

/// Finds the `jitsi-harness-focus` binary: `$JITSI_HARNESS_FOCUS_BIN`, else next to the running
/// executable, else one folder up (test binaries live in `target/<profile>/deps/`).
pub fn locate_focus_binary() -> Result<PathBuf, StackError> {
    if let Ok(path) = std::env::var(FOCUS_BIN_ENV) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(StackError::Missing {
                what: format!("{FOCUS_BIN_ENV}={} is not a file", path.display()),
                hint: "build it with `cargo build --bin jitsi-harness-focus` or unset the variable"
                    .into(),
            })
        };
    }
    let exe = std::env::current_exe().map_err(|source| StackError::Io {
        what: "cannot find the running executable".into(),
        source,
    })?;
    let mut dirs = Vec::new();
    if let Some(dir) = exe.parent() {
        dirs.push(dir.to_path_buf());
        if let Some(up) = dir.parent() {
            dirs.push(up.to_path_buf());
        }
    }
    dirs.iter()
        .map(|d| d.join("jitsi-harness-focus"))
        .find(|p| p.is_file())
        .ok_or_else(|| StackError::Missing {
            what: format!(
                "the focus stand-in binary `jitsi-harness-focus` is not next to {}",
                exe.display()
            ),
            hint: format!(
                "build it with `cargo build --bin jitsi-harness-focus` (same profile), or set {FOCUS_BIN_ENV}"
            ),
        })
}

/// A running fixture stack.
pub struct FixtureStack {
    target: StackTarget,
    endpoints: Endpoints,
    // Field order is drop order: containers before their network.
    focus: Option<ContainerAsync<GenericImage>>,
    prosody: Option<ContainerAsync<GenericImage>>,
    network: Option<LabelledNetwork>,
    keep: bool,
    prosody_version: String,
    started_in: Duration,
}

impl FixtureStack {
    /// Starts the fixture for `variant` and waits until it is ready (or `options.startup_timeout`).
    pub async fn start(
        target: &StackTarget,
        variant: &Variant,
        options: &StartOptions,
    ) -> Result<Self, StackError> {
        debug_assert_eq!(target.family, Family::Fixture);
        let t0 = Instant::now();
        let deadline = t0 + options.startup_timeout;
        let secret = Secret::random(32);
        let component_secret = Secret::random(16);
        let spec = FixtureSpec::new(target, variant, &secret, &component_secret)?;
        let focus_bin = match &options.focus_binary {
            Some(path) => path.clone(),
            None => locate_focus_binary()?,
        };
        let docker = docker::connect().await?;
        docker::sweep_once(&docker).await;
        if !docker::image_present(&docker, &spec.image).await? {
            return Err(docker::DockerError::ImageMissing {
                image: spec.image.clone(),
                hint: "build the fixture images with `just images` (runs docker/fixture/build.sh as root)".into(),
            }
            .into());
        }
        let prosody_version = docker::image_label(&docker, &spec.image, "jitsi-harness.prosody")
            .await
            .unwrap_or_else(|| target.version.clone());
        let stack_label = format!("{target}/{}", variant.name);
        let suffix = uuid::Uuid::new_v4().simple().to_string()[..6].to_owned();
        let network = LabelledNetwork::create(&docker, &suffix, &stack_label).await?;
        let prosody_name = format!("{}-prosody", network.name());
        let focus_name = format!("{}-focus", network.name());
        options.progress(&format!(
            "{target} {}: starting prosody {prosody_version} and the focus stand-in",
            variant.name
        ));

        let (prosody_logs, prosody_tail) =
            docker::log_consumer(&docker::log_path(&options.artifacts, "prosody"));
        let mut request = GenericImage::new(IMAGE_REPO, target.version.as_str())
            .with_exposed_port(5280.tcp())
            .with_network(network.name())
            .with_container_name(&prosody_name)
            .with_log_consumer(prosody_logs)
            .with_startup_timeout(options.startup_timeout);
        for (k, v) in &spec.prosody_env {
            request = request.with_env_var(k, v.expose());
        }
        let request = keep_label(docker::with_run_labels(request, &stack_label), options.keep);
        let request = docker::publish_on_loopback(request, &[5280]);
        let mut stack = FixtureStack {
            target: target.clone(),
            endpoints: Endpoints {
                websocket: String::new(),
                bosh: String::new(),
                domain: DOMAIN.into(),
                muc_domain: MUC_DOMAIN.into(),
                focus_domain: FOCUS_DOMAIN.into(),
                guest_domain: spec.guests.then(|| GUEST_DOMAIN.to_owned()),
                app_id: APP_ID.into(),
                signing: SigningKey::Hs256(secret),
                web: None,
                jicofo_rest: None,
                insecure_tls: false,
            },
            focus: None,
            prosody: None,
            network: Some(network),
            keep: options.keep,
            prosody_version,
            started_in: Duration::ZERO,
        };
        let prosody = request.start().await.map_err(|source| StackError::Start {
            container: prosody_name.clone(),
            source,
        })?;
        let port = prosody
            .get_host_port_ipv4(5280.tcp())
            .await
            .map_err(|source| StackError::Start {
                container: prosody_name.clone(),
                source,
            })?;
        stack.prosody = Some(prosody);
        stack.endpoints.websocket = format!("ws://127.0.0.1:{port}/xmpp-websocket");
        stack.endpoints.bosh = format!("http://127.0.0.1:{port}/http-bind");
        stack.endpoints.web = Some(format!("http://127.0.0.1:{port}/harness/"));

        let (focus_logs, focus_tail) =
            docker::log_consumer(&docker::log_path(&options.artifacts, "focus"));
        let mut request = GenericImage::new(IMAGE_REPO, target.version.as_str())
            .with_cmd([FOCUS_IN_CONTAINER])
            .with_network(
                stack
                    .network
                    .as_ref()
                    .map(|n| n.name().to_owned())
                    .unwrap_or_default(),
            )
            .with_container_name(&focus_name)
            .with_mount(
                Mount::bind_mount(focus_bin.to_string_lossy(), FOCUS_IN_CONTAINER)
                    .with_access_mode(testcontainers::core::AccessMode::ReadOnly),
            )
            .with_log_consumer(focus_logs)
            .with_env_var("XMPP_SERVER", format!("{prosody_name}:5347"))
            .with_startup_timeout(options.startup_timeout);
        for (k, v) in &spec.focus_env {
            request = request.with_env_var(k, v.expose());
        }
        let request = keep_label(docker::with_run_labels(request, &stack_label), options.keep);
        // The focus publishes nothing: it only talks to Prosody on the stack's network.
        let request = docker::publish_on_loopback(request, &[]);
        let focus = request.start().await.map_err(|source| StackError::Start {
            container: focus_name.clone(),
            source,
        })?;
        stack.focus = Some(focus);

        wait_for_websocket(port, deadline, &prosody_name, &prosody_tail).await?;
        wait_for_line(
            super::focus::READY_LINE,
            deadline,
            stack.focus.as_ref(),
            &focus_name,
            &focus_tail,
            "the focus to connect to Prosody's component port",
        )
        .await?;
        stack.started_in = t0.elapsed();
        options.progress(&format!(
            "{target} {}: ready in {:.1} s ({})",
            variant.name,
            stack.started_in.as_secs_f64(),
            crate::redact::redact_url(&stack.endpoints.websocket)
        ));
        Ok(stack)
    }

    pub fn target(&self) -> &StackTarget {
        &self.target
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The Prosody package version in the image, e.g. `13.0.1-1~bpo12+1`.
    pub fn prosody_version(&self) -> &str {
        &self.prosody_version
    }

    /// How long the start took, until ready.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// Fault injection for tests and scenarios: stops Prosody (connections close at once) or, with
    /// `pause`, freezes it (connections go silent, as on a network loss).
    pub async fn break_prosody(&self, pause: bool) -> Result<(), StackError> {
        let Some(prosody) = &self.prosody else {
            return Ok(());
        };
        let result = if pause {
            prosody.pause().await
        } else {
            prosody.stop().await
        };
        result.map_err(|source| StackError::Start {
            container: "prosody".into(),
            source,
        })
    }

    /// Removes the containers and the network (logs are already in the artifacts folder), unless kept.
    pub async fn close(mut self) -> Result<(), StackError> {
        if self.keep {
            self.forget_for_keep();
            return Ok(());
        }
        let mut first_error = None;
        for (name, container) in [
            ("focus", self.focus.take()),
            ("prosody", self.prosody.take()),
        ] {
            if let Some(c) = container {
                if let Err(source) = c.rm().await {
                    first_error.get_or_insert(StackError::Start {
                        container: name.into(),
                        source,
                    });
                }
            }
        }
        if let Some(network) = self.network.take() {
            let docker = docker::connect().await?;
            if let Err(e) = network.close(&docker).await {
                first_error.get_or_insert(e.into());
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn forget_for_keep(&mut self) {
        let network = self.network.take().map(|n| n.into_kept());
        eprintln!(
            "kept {} (network {}): WebSocket {}; remove with `jitsi-harness clean --kept` or \
             `docker rm -f $(docker ps -aq --filter label={}={}) && docker network rm {}`",
            self.target,
            network.as_deref().unwrap_or("?"),
            crate::redact::redact_url(&self.endpoints.websocket),
            docker::LABEL_RUN,
            docker::run_id(),
            network.as_deref().unwrap_or("?"),
        );
        // Leaking the handles skips testcontainers' remove-on-drop.
        std::mem::forget(self.focus.take());
        std::mem::forget(self.prosody.take());
    }
}

impl Drop for FixtureStack {
    fn drop(&mut self) {
        if self.keep {
            self.forget_for_keep();
        }
        // Otherwise: containers are removed by testcontainers' Drop, then the network by its own Drop.
    }
}

fn keep_label(
    request: testcontainers::ContainerRequest<GenericImage>,
    keep: bool,
) -> testcontainers::ContainerRequest<GenericImage> {
    if keep {
        request.with_label(docker::LABEL_KEEP, "1")
    } else {
        request
    }
}

/// Polls `GET /xmpp-websocket` until Prosody answers (HTTP 200, its plain-HTTP info page).
async fn wait_for_websocket(
    port: u16,
    deadline: Instant,
    container: &str,
    tail: &LogTail,
) -> Result<(), StackError> {
    let started = Instant::now();
    loop {
        if http_ok(port, "/xmpp-websocket").await {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(StackError::NotReady {
                container: container.into(),
                waited: started.elapsed(),
                condition: "the WebSocket endpoint /xmpp-websocket to answer".into(),
                log_tail: tail.last(20),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn http_ok(port: u16, path: &str) -> bool {
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {DOMAIN}\r\n\r\n").as_bytes())
            .await
            .ok()?;
        let mut buf = [0u8; 16];
        let n = s.read(&mut buf).await.ok()?;
        Some(buf[..n].starts_with(b"HTTP/1.0 200") || buf[..n].starts_with(b"HTTP/1.1 200"))
    };
    tokio::time::timeout(Duration::from_secs(1), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// Waits until a container's log shows `line`; fails at the deadline, or at once if the container exits.
async fn wait_for_line(
    line: &str,
    deadline: Instant,
    container: Option<&ContainerAsync<GenericImage>>,
    name: &str,
    tail: &LogTail,
    condition: &str,
) -> Result<(), StackError> {
    let started = Instant::now();
    let mut next_check = Instant::now();
    loop {
        if tail.contains(line) {
            return Ok(());
        }
        let now = Instant::now();
        let exited = if now >= next_check {
            next_check = now + Duration::from_millis(500);
            match container {
                Some(c) => !c.is_running().await.unwrap_or(true),
                None => false,
            }
        } else {
            false
        };
        if exited || now >= deadline {
            // Give the log a moment to arrive: its last lines are the explanation.
            tokio::time::sleep(Duration::from_millis(200)).await;
            return Err(StackError::NotReady {
                container: name.into(),
                waited: started.elapsed(),
                condition: if exited {
                    format!("{condition}; the container exited")
                } else {
                    condition.into()
                },
                log_tail: tail.last(20),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The artifacts path of a container's log (for error messages).
pub fn log_file(artifacts: &Path, container: &str) -> PathBuf {
    docker::log_path(artifacts, container)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::Variants;

    fn variants() -> Variants {
        Variants::parse(
            Path::new("v.toml"),
            r#"
[auth]
description = ""
jwt = true
jicofo_auth = true
guests = true
[auto]
description = ""
jwt = true
jicofo_auth = false
auto_owner = true
faults = { grant_delay_ms = 250, not_ready_times = 2 }
[affil]
description = ""
jwt = true
token_affiliation = true
[anon-guests]
description = ""
jwt = false
guests = true
"#,
        )
        .unwrap()
    }

    fn env(list: &[(String, EnvValue)], key: &str) -> Option<String> {
        list.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.expose().to_owned())
    }

    #[test]
    fn variants_map_onto_docker_jitsi_meet_env() {
        let t: StackTarget = "fixture:13".parse().unwrap();
        let v = variants();
        let s = Secret::new("s3cret");
        let c = Secret::new("c0mp");
        let auth = FixtureSpec::new(&t, v.get("auth").unwrap(), &s, &c).unwrap();
        assert_eq!(auth.image, "jitsi-harness/fixture-prosody:13");
        assert_eq!(env(&auth.prosody_env, "ENABLE_AUTH").as_deref(), Some("1"));
        assert_eq!(env(&auth.prosody_env, "AUTH_TYPE").as_deref(), Some("jwt"));
        assert_eq!(
            env(&auth.prosody_env, "ENABLE_GUESTS").as_deref(),
            Some("1")
        );
        assert_eq!(
            env(&auth.prosody_env, "JWT_ALLOW_EMPTY").as_deref(),
            Some("0")
        );
        assert_eq!(
            env(&auth.focus_env, "JICOFO_ENABLE_AUTH").as_deref(),
            Some("1")
        );
        assert_eq!(env(&auth.focus_env, "ENABLE_AUTO_OWNER"), None);
        let auto = FixtureSpec::new(&t, v.get("auto").unwrap(), &s, &c).unwrap();
        assert_eq!(
            env(&auto.focus_env, "JICOFO_ENABLE_AUTH").as_deref(),
            Some("0")
        );
        assert_eq!(
            env(&auto.focus_env, "ENABLE_AUTO_OWNER").as_deref(),
            Some("1")
        );
        assert_eq!(
            env(&auto.focus_env, "FOCUS_GRANT_DELAY_MS").as_deref(),
            Some("250")
        );
        assert_eq!(
            env(&auto.focus_env, "FOCUS_NOT_READY_TIMES").as_deref(),
            Some("2")
        );
    }

    #[test]
    fn knobs_the_fixture_cannot_express_are_errors() {
        let t: StackTarget = "fixture:0.12".parse().unwrap();
        let v = variants();
        let s = Secret::new("s");
        let e = FixtureSpec::new(&t, v.get("affil").unwrap(), &s, &s)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("fixture:0.12") && e.contains("token_affiliation"),
            "{e}"
        );
        let e = FixtureSpec::new(&t, v.get("anon-guests").unwrap(), &s, &s)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("guests") && e.contains("ENABLE_AUTH"), "{e}");
    }

    #[test]
    fn the_spec_never_prints_secrets() {
        let t: StackTarget = "fixture:13".parse().unwrap();
        let v = variants();
        let secret = Secret::new("app-secret-value");
        let component = Secret::new("component-secret-value");
        let spec = FixtureSpec::new(&t, v.get("auth").unwrap(), &secret, &component).unwrap();
        let printed = format!("{spec:?} {}", serde_json::to_string(&spec).unwrap());
        assert!(!printed.contains("secret-value"), "{printed}");
        assert!(printed.contains("JWT_APP_SECRET"));
        // The containers still get the real values.
        assert_eq!(
            env(&spec.prosody_env, "JWT_APP_SECRET").as_deref(),
            Some("app-secret-value")
        );
    }
}
