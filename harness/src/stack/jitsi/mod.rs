//! docker-jitsi-meet at a tag, for real: starts the [`Plan`] of [`plan`](fn@plan) in containers.
//!
//! In: a `jitsi:<tag>` [`StackTarget`], a [`Variant`], [`StartOptions`]. Steps: compute the plan (random
//! names and secrets, a reserved loopback port for web's HTTPS), make sure the four images are present
//! (pulling from the release's registry or `StartOptions::registry`, with progress lines and deadlines), create
//! the stack's own labelled network, start prosody → jicofo + jvb → web and wait for each stage's readiness
//! conditions within `startup_timeout`. Out: a [`JitsiStack`] whose [`Endpoints`] the participants use.
//! A container that never becomes ready is [`StackError::NotReady`] with the last lines of its log; every
//! container's full output is in `<artifacts>/<service>.log`.
//!
//! Cleanup: [`JitsiStack::close`] removes containers in reverse start order (with their anonymous volumes,
//! which carry the run labels too, so `jitsi-harness clean` sweeps them), then the network; dropping the stack (panic, early return) does the same through testcontainers' `ContainerAsync`
//! and `LabelledNetwork` drops. With `StartOptions::keep` the stack is left running and a progress line
//! says how to remove it. A failed start removes what it had started before returning the error.

pub mod plan;
mod pull;

use std::time::{Duration, Instant};

use testcontainers::bollard::models::{Mount, MountType, MountVolumeOptions, PortBinding};
use testcontainers::bollard::Docker;
use testcontainers::core::client::ClientError;
use testcontainers::core::ContainerPort;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt, TestcontainersError};

use self::plan::{
    ContainerSpec, HostPort, FOCUS_DOMAIN, JICOFO_REST_PORT, JWT_APP_ID, PROSODY_HTTP_PORT,
    XMPP_DOMAIN, XMPP_GUEST_DOMAIN, XMPP_MUC_DOMAIN,
};
use super::docker::{self, DockerError, LabelledNetwork};
pub use super::ready::Ready;
use super::ready::{self, LogWatch, Watched, TAIL_LINES};
use super::watch::{self, Fault, FaultError, ServiceContainer};
use super::{ClientFacts, Endpoints, StackError, StackTarget, StartOptions, Variant};
use crate::token::SigningKey;

pub use self::plan::{plan, plan_from, Plan, Service};
use self::plan::{plan_with, PlanInputs};
use self::pull::ensure_image;

/// Registry prefix of the Jitsi-shaped local images built by `docker/jitsi/build.sh` (never Jitsi's own).
pub const LOCAL_IMAGES_PREFIX: &str = "jitsi-harness.local/";
/// Folder under the snapshots root where timelines of the local images go (`<root>/local-images/jitsi/…`):
/// their results are the stand-ins', never written to `snapshots/jitsi/` (ARCHITECTURE.md, Invariants).
pub const LOCAL_IMAGES_SNAPSHOTS: &str = "local-images";

/// Whether `registry` (a `--registry` prefix) names the Jitsi-shaped local images.
pub fn is_local_images(registry: Option<&str>) -> bool {
    plan::registry_override(registry).is_some_and(|r| {
        r.starts_with(LOCAL_IMAGES_PREFIX) || r == LOCAL_IMAGES_PREFIX.trim_end_matches('/')
    })
}

/// Extra time for one engine operation (create, start, remove) beyond the stack deadline: a healthy
/// engine needs well under a second; 30 s covers a busy CI host without hanging forever on a stuck one.
const ENGINE_GRACE: Duration = Duration::from_secs(30);

/// Test-only changes to the plan a stack starts (the negative tests of `harness/tests/jitsi_stack.rs`).
#[doc(hidden)]
#[derive(Clone, Debug, Default)]
pub struct StartHooks {
    /// Replaces jicofo's REST readiness wait.
    pub jicofo_rest_wait: Option<Ready>,
}

/// A running docker-jitsi-meet stack.
pub struct JitsiStack {
    // Boxed: the state is large and `Stack` holds the backends side by side.
    inner: Box<Inner>,
}

struct Inner {
    target: StackTarget,
    endpoints: Endpoints,
    plan: Plan,
    docker: Docker,
    options: StartOptions,
    // Field order matters for Drop: containers go before the network they are attached to.
    containers: Vec<Running>,
    network: Option<LabelledNetwork>,
    /// Accounts registered for `login = "password"` participants.
    accounts: super::accounts::Accounts,
}

/// One started container.
struct Running {
    service: Service,
    name: String,
    container: ContainerAsync<GenericImage>,
    log: LogWatch,
}

impl std::fmt::Debug for JitsiStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let containers: Vec<&str> = self
            .inner
            .containers
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        f.debug_struct("JitsiStack")
            .field("target", &self.inner.target)
            .field("endpoints", &self.inner.endpoints)
            .field("containers", &containers)
            .finish_non_exhaustive()
    }
}

impl JitsiStack {
    /// Pulls, starts and waits for the stack of `target` (`jitsi:<tag>`) configured as `variant`.
    pub async fn start(
        target: &StackTarget,
        variant: &Variant,
        options: &StartOptions,
    ) -> Result<Self, StackError> {
        Self::start_with(target, variant, options, StartHooks::default()).await
    }

    /// [`JitsiStack::start`] with test-only changes to the plan.
    #[doc(hidden)]
    pub async fn start_with(
        target: &StackTarget,
        variant: &Variant,
        options: &StartOptions,
        hooks: StartHooks,
    ) -> Result<Self, StackError> {
        // Everything that needs no Docker first: a variant the release cannot express fails here.
        let ports = reserve_loopback_ports().map_err(|source| StackError::Io {
            what: "cannot reserve free 127.0.0.1 ports for web's HTTPS, Prosody's HTTP and jicofo's REST"
                .into(),
            source,
        })?;
        let mut inputs = PlanInputs::random(docker::run_id(), ports);
        inputs.registry = plan::registry_override(options.registry.as_deref());
        inputs.jicofo_rest_wait = hooks.jicofo_rest_wait;
        let plan = plan_with(target, variant, &inputs)?;
        let docker = docker::connect().await?;

        for c in &plan.containers {
            ensure_image(&docker, &c.image, options).await?;
        }

        std::fs::create_dir_all(&options.artifacts).map_err(|source| StackError::Io {
            what: format!("cannot create {}", options.artifacts.display()),
            source,
        })?;
        let label = format!("{target}/{}", variant.name);
        // Named `jitsi-harness-<run>-<stack>`, as `plan.network` says.
        let network = LabelledNetwork::create(&docker, &inputs.stack, &label, options.keep).await?;

        let mut stack = Inner {
            target: target.clone(),
            endpoints: placeholder_endpoints(&plan),
            plan,
            docker,
            options: options.clone(),
            containers: Vec::new(),
            network: Some(network),
            accounts: Default::default(),
        };
        let started = Instant::now();
        let deadline = started + options.startup_timeout;
        match stack.start_stages(&label, started, deadline).await {
            Ok(endpoints) => {
                stack.endpoints = endpoints;
                stack.options.progress(&format!(
                    "{target} ready in {} s",
                    started.elapsed().as_secs()
                ));
                Ok(JitsiStack {
                    inner: Box::new(stack),
                })
            }
            Err(e) => {
                // Remove what was started (even with keep: a stack that never came up is no repro).
                stack.options.keep = false;
                if let Err(cleanup) = stack.remove_all().await {
                    tracing::warn!("cleanup after a failed start of {target}: {cleanup}");
                }
                Err(e)
            }
        }
    }

    /// The target this stack was started for.
    pub fn target(&self) -> &StackTarget {
        &self.inner.target
    }

    /// Where participants connect.
    pub fn endpoints(&self) -> &Endpoints {
        &self.inner.endpoints
    }

    /// Removes the containers (reverse start order) and the network, unless the stack is kept, in which
    /// case it reports how to remove them. Container logs were followed into the artifacts folder all along.
    pub async fn close(mut self) -> Result<(), StackError> {
        if self.inner.options.keep {
            self.inner.leave_running();
            return Ok(());
        }
        self.inner.remove_all().await
    }

    /// The stack's containers by service: `prosody`, `jicofo`, `jvb`, `web`.
    pub fn containers(&self) -> Vec<ServiceContainer> {
        self.inner
            .containers
            .iter()
            .map(|r| ServiceContainer {
                service: r.service.as_str().to_owned(),
                name: r.name.clone(),
                id: r.container.id().to_owned(),
            })
            .collect()
    }

    /// The credentials of the account `user` on the main domain, registered on first use
    /// (`AUTH_TYPE=internal`) with prosodyctl and the release's config file
    /// ([`crate::versions::Facts::prosody_config_file`]).
    pub async fn account(
        &self,
        user: &str,
    ) -> Result<crate::xmpp::websocket::Credentials, StackError> {
        let Some(prosody) = self
            .inner
            .containers
            .iter()
            .find(|r| r.service == Service::Prosody)
        else {
            return Err(StackError::Missing {
                what: format!(
                    "{}: the prosody container is not running",
                    self.inner.target
                ),
                hint: "accounts are registered in a running stack".into(),
            });
        };
        let facts = self.inner.plan.release.facts();
        self.inner
            .accounts
            .get(
                user,
                super::accounts::Registrar {
                    container: &prosody.container,
                    name: &prosody.name,
                    config: facts.prosody_config_file,
                    domain: self.inner.plan.endpoints.domain,
                },
            )
            .await
    }

    /// The last `lines` lines of `service`'s output (empty for an unknown service).
    pub fn log_tail(&self, service: &str, lines: usize) -> String {
        self.inner
            .containers
            .iter()
            .find(|r| r.service.as_str() == service)
            .map(|r| r.log.tail(lines))
            .unwrap_or_default()
    }

    /// Breaks `service` on purpose (`focus` names jicofo) and, after a restart, waits (within
    /// [`COME_BACK`]) until the stack serves again as it did: Prosody answers on its fixed host port and,
    /// from the release that registers accounts after start, says so again; jicofo has logged in again
    /// and seen the bridge (jicofo and the jvb reconnect on their own: Smack's reconnection manager,
    /// jicoco's `MucClient`). Returns every service the fault touched. Participants' and the jicofo
    /// observer's ports are fixed host ports (`PlanInputs`), so they find a restarted service where it was.
    pub async fn fault(&self, service: &str, fault: Fault) -> Result<Vec<String>, FaultError> {
        let service = match service {
            "focus" => "jicofo",
            other => other,
        };
        let containers = self.containers();
        let Some(container) = containers.iter().find(|c| c.service == service) else {
            return Err(FaultError::Unsupported {
                stack: self.inner.target.to_string(),
                service: service.to_owned(),
                fault: fault.to_string(),
                reason: "its services are `prosody`, `jicofo` (`focus`), `jvb` and `web`".into(),
            });
        };
        let facts = self.inner.plan.release.facts();
        // Log lines of the restarted services count from here (the engine's `since` is in seconds; the
        // lines waited for were last printed at the stack's start, well before).
        let since = unix_now();
        watch::inject(&self.inner.docker, container, fault).await?;
        let mut touched = vec![service.to_owned()];
        let deadline = Instant::now() + COME_BACK;
        let jicofo = containers.iter().find(|c| c.service == "jicofo");
        match (service, fault) {
            ("prosody", Fault::Restart) => {
                let port = self.fixed_port(Service::Prosody, PROSODY_HTTP_PORT)?;
                let url = format!("http://127.0.0.1:{port}/xmpp-websocket");
                ready::wait(&Ready::url(url), None, deadline)
                    .await
                    .map_err(|unready| FaultError::NotBack {
                        service: "prosody".into(),
                        waited: COME_BACK,
                        why: unready.condition,
                    })?;
                if let Some(line) = facts.prosody_ready_log {
                    logged_since(&self.inner.docker, container, line, since, deadline).await?;
                }
                if let Some(jicofo) = jicofo {
                    logged_since(
                        &self.inner.docker,
                        jicofo,
                        facts.jicofo_ready_log,
                        since,
                        deadline,
                    )
                    .await?;
                }
                // jicofo and the jvb lose their connection (and log it); their containers keep running.
                touched.extend(["jicofo".to_owned(), "jvb".to_owned()]);
            }
            ("prosody", Fault::Stop) => touched.extend(["jicofo".to_owned(), "jvb".to_owned()]),
            ("jicofo", Fault::Restart) => {
                logged_since(
                    &self.inner.docker,
                    container,
                    facts.jicofo_ready_log,
                    since,
                    deadline,
                )
                .await?;
                let port = self.fixed_port(Service::Jicofo, JICOFO_REST_PORT)?;
                let url = format!("http://127.0.0.1:{port}{}", plan::JICOFO_READY_PATH);
                ready::wait(&Ready::url(url), None, deadline)
                    .await
                    .map_err(|unready| FaultError::NotBack {
                        service: "jicofo".into(),
                        waited: COME_BACK,
                        why: unready.condition,
                    })?;
            }
            _ => {}
        }
        Ok(touched)
    }

    fn fixed_port(&self, service: Service, port: u16) -> Result<u16, FaultError> {
        self.inner
            .plan
            .fixed_host_port(service, port)
            .ok_or_else(|| FaultError::NotBack {
                service: service.to_string(),
                waited: Duration::ZERO,
                why: format!(
                    "its port {port} has no fixed host port to find it on again (a bug in jitsi-harness)"
                ),
            })
    }

    /// The engine connection the stack was started with.
    pub(crate) fn docker(&self) -> &Docker {
        &self.inner.docker
    }
}

impl Inner {
    async fn start_stages(
        &mut self,
        label: &str,
        started: Instant,
        deadline: Instant,
    ) -> Result<Endpoints, StackError> {
        let network = match &self.network {
            Some(n) => n.name().to_owned(),
            None => {
                return Err(StackError::Missing {
                    what: "the stack network is gone".into(),
                    hint: "this is a bug in jitsi-harness".into(),
                })
            }
        };
        for stage in 1..=3u8 {
            let specs: Vec<ContainerSpec> = self
                .plan
                .containers
                .iter()
                .filter(|c| c.stage == stage)
                .cloned()
                .collect();
            for spec in &specs {
                self.options.progress(&format!("starting {}", spec.name));
                let running = start_container(
                    spec,
                    &spec.image.repository,
                    &network,
                    label,
                    &self.options,
                    deadline,
                )
                .await?;
                self.containers.push(running);
            }
            for spec in &specs {
                for wait in &spec.waits {
                    let running = self
                        .containers
                        .iter()
                        .find(|r| r.service == spec.service)
                        .ok_or_else(|| StackError::Missing {
                            what: format!("{} is not running", spec.name),
                            hint: "this is a bug in jitsi-harness".into(),
                        })?;
                    wait_ready(&self.docker, running, wait, started, deadline).await?;
                }
            }
        }
        self.endpoints_now().await
    }

    async fn host_port(&self, service: Service, port: u16) -> Result<u16, StackError> {
        let running = self
            .containers
            .iter()
            .find(|r| r.service == service)
            .ok_or_else(|| StackError::Missing {
                what: format!("no {service} container"),
                hint: "this is a bug in jitsi-harness".into(),
            })?;
        running
            .container
            .get_host_port_ipv4(port)
            .await
            .map_err(|source| StackError::Start {
                container: running.name.clone(),
                source,
            })
    }

    async fn endpoints_now(&self) -> Result<Endpoints, StackError> {
        let prosody = self.host_port(Service::Prosody, PROSODY_HTTP_PORT).await?;
        let jicofo = self.host_port(Service::Jicofo, JICOFO_REST_PORT).await?;
        let mut endpoints = placeholder_endpoints(&self.plan);
        endpoints.websocket = format!("ws://127.0.0.1:{prosody}/xmpp-websocket");
        endpoints.bosh = format!("http://127.0.0.1:{prosody}/http-bind");
        endpoints.jicofo_rest = Some(format!("http://127.0.0.1:{jicofo}"));
        Ok(endpoints)
    }

    async fn remove_all(&mut self) -> Result<(), StackError> {
        let mut first_error = None;
        while let Some(running) = self.containers.pop() {
            let name = running.name.clone();
            match tokio::time::timeout(ENGINE_GRACE, running.container.rm()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    first_error.get_or_insert(removal_error(&name, e));
                }
                Err(_) => {
                    first_error.get_or_insert(StackError::Missing {
                        what: format!(
                            "Docker did not remove container {name} within {} s",
                            ENGINE_GRACE.as_secs()
                        ),
                        hint: format!(
                            "remove it with `jitsi-harness clean` or `docker rm -f {name}`"
                        ),
                    });
                }
            }
        }
        if let Some(network) = self.network.take() {
            if let Err(e) = network.close(&self.docker).await {
                first_error.get_or_insert(StackError::Docker(e));
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Forgets the containers and network so nothing removes them, and says how to remove them by hand.
    fn leave_running(&mut self) {
        let names: Vec<String> = self.containers.iter().map(|r| r.name.clone()).collect();
        let network = self
            .network
            .as_ref()
            .map(|n| n.name().to_owned())
            .unwrap_or_default();
        if !names.is_empty() {
            self.options.progress(&format!(
                "kept {} running: containers {}, network {network}; web {}, websocket {}. Remove with \
                 `jitsi-harness clean --kept` or `docker rm -f {} && docker network rm {network}`",
                self.target,
                names.join(", "),
                self.endpoints.web.as_deref().unwrap_or("-"),
                self.endpoints.websocket,
                names.join(" "),
            ));
        }
        for running in self.containers.drain(..) {
            std::mem::forget(running.container);
        }
        if let Some(n) = self.network.take() {
            std::mem::forget(n);
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // `close` drained everything already; otherwise the fields' own drops remove containers, then the
        // network. A kept stack stays up even when dropped without `close` (panic in a --keep run).
        if self.options.keep {
            self.leave_running();
        }
    }
}

/// Endpoints that need no host port; the ports are filled in once the containers run.
fn placeholder_endpoints(plan: &Plan) -> Endpoints {
    Endpoints {
        websocket: String::new(),
        bosh: String::new(),
        domain: XMPP_DOMAIN.into(),
        muc_domain: XMPP_MUC_DOMAIN.into(),
        focus_domain: FOCUS_DOMAIN.into(),
        guest_domain: plan
            .endpoints
            .guest_domain
            .map(|_| XMPP_GUEST_DOMAIN.to_owned()),
        app_id: JWT_APP_ID.into(),
        signing: SigningKey::Hs256(plan.secrets.jwt_app_secret.clone()),
        web: Some(plan.endpoints.web.clone()),
        jicofo_rest: None,
        insecure_tls: true,
        client: ClientFacts::of(&plan.release.facts()),
    }
}

/// How long a restarted service may take to serve again: a Prosody of these images restarts and registers
/// its accounts in a few seconds, jicofo reconnects within its retry pause (at most 5 s) and sees the
/// bridge as soon as the jvb is back in the brewery; 60 s covers a loaded 2-core machine.
const COME_BACK: Duration = Duration::from_secs(60);

/// Seconds since the epoch, as the engine's `since` takes them.
fn unix_now() -> i32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i32::try_from(d.as_secs()).unwrap_or(i32::MAX))
        .unwrap_or(0)
}

/// Waits until `container` prints a line containing `needle` at or after `since` (engine seconds),
/// following its output as the engine delivers it (`docker logs --follow --since`), until `deadline`.
async fn logged_since(
    docker: &Docker,
    container: &ServiceContainer,
    needle: &str,
    since: i32,
    deadline: Instant,
) -> Result<(), FaultError> {
    use futures::StreamExt;
    let options = testcontainers::bollard::query_parameters::LogsOptionsBuilder::new()
        .follow(true)
        .stdout(true)
        .stderr(true)
        .since(since)
        .build();
    let not_back = |why: String| FaultError::NotBack {
        service: container.service.clone(),
        waited: COME_BACK,
        why,
    };
    let follow = async {
        // A restarted container's stream can end between its stop and its start: follow it again.
        loop {
            let mut carry = String::new();
            let mut logs = docker.logs(&container.id, Some(options.clone()));
            while let Some(frame) = logs.next().await {
                let frame = frame.map_err(|e| not_back(format!("its log cannot be read: {e}")))?;
                carry.push_str(&String::from_utf8_lossy(&frame.into_bytes()));
                if carry.contains(needle) {
                    return Ok(());
                }
                // Keep only what a needle split across two frames needs.
                if carry.len() > 4 * needle.len() + 4096 {
                    let mut cut = carry.len() - needle.len();
                    while !carry.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    carry.drain(..cut);
                }
            }
            tokio::time::sleep(LOG_REFOLLOW_PAUSE).await;
        }
    };
    match tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), follow).await {
        Ok(result) => result,
        Err(_) => Err(not_back(format!("its log does not say `{needle}` again"))),
    }
}

/// Pause before following a container's log again when the engine ended the stream (the container was
/// between its stop and its start).
const LOG_REFOLLOW_PAUSE: Duration = Duration::from_millis(200);

fn removal_error(name: &str, e: TestcontainersError) -> StackError {
    match e {
        TestcontainersError::Client(ClientError::RemoveContainer(source)) => {
            StackError::Docker(DockerError::Api {
                op: format!("remove container {name}"),
                source,
            })
        }
        other => StackError::Missing {
            what: format!("could not remove container {name}: {other}"),
            hint: format!("remove it with `jitsi-harness clean` or `docker rm -f {name}`"),
        },
    }
}

/// A host folder as a Docker bind mount: it must exist and be a folder (Docker would otherwise create an
/// empty one, and the modules would silently be missing); Docker needs its absolute path.
fn bind_mount(bind: &plan::BindSpec, container: &str) -> Result<Mount, StackError> {
    let missing = |why: String| StackError::Missing {
        what: format!(
            "{container}: the folder {} to mount at {}: {why}",
            bind.source.display(),
            bind.target
        ),
        hint:
            "`prosody_plugins` in variants.toml names a folder of Prosody modules (mod_NAME.lua), \
               relative to variants.toml's folder; create it or fix the path"
                .into(),
    };
    let source = std::fs::canonicalize(&bind.source).map_err(|e| missing(e.to_string()))?;
    if !source.is_dir() {
        return Err(missing("not a folder".into()));
    }
    Ok(Mount {
        target: Some(bind.target.to_owned()),
        source: Some(source.to_string_lossy().into_owned()),
        typ: Some(MountType::BIND),
        read_only: Some(bind.read_only),
        ..Default::default()
    })
}

/// A free TCP port on 127.0.0.1 right now (the OS picks it; it is released again at once). Docker binds it
/// moments later; a collision in between fails the start with a clear "port is already allocated".
#[cfg(test)]
fn reserve_loopback_port() -> std::io::Result<u16> {
    Ok(reserve_loopback_ports::<1>()?[0])
}

/// `N` distinct free TCP ports on 127.0.0.1 (all held at once while the OS picks them, so no two are the
/// same, then released for Docker to bind).
fn reserve_loopback_ports<const N: usize>() -> std::io::Result<[u16; N]> {
    let mut listeners = Vec::with_capacity(N);
    let mut ports = [0; N];
    for port in &mut ports {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        *port = listener.local_addr()?.port();
        listeners.push(listener);
    }
    Ok(ports)
}

async fn start_container(
    spec: &ContainerSpec,
    repository: &str,
    network: &str,
    label: &str,
    options: &StartOptions,
    deadline: Instant,
) -> Result<Running, StackError> {
    let (consumer, log) = LogWatch::follow(
        &docker::log_path(&options.artifacts, spec.service.as_str()),
        &spec.waits,
    );

    let mut image = GenericImage::new(repository, spec.image.tag.as_str());
    for p in &spec.ports {
        // Some images (jicofo) EXPOSE nothing; a binding needs the port exposed.
        image = image.with_exposed_port(ContainerPort::Tcp(p.container));
    }
    let mut request = image
        .with_container_name(spec.name.as_str())
        .with_network(network)
        .with_log_consumer(consumer)
        .with_startup_timeout(deadline.saturating_duration_since(Instant::now()));
    for (name, value) in &spec.env {
        request = request.with_env_var(*name, value.expose());
    }
    request = docker::with_run_labels(request, label, options.keep);
    let container_ports: Vec<u16> = spec.ports.iter().map(|p| p.container).collect();
    request = docker::publish_on_loopback(request, &container_ports);
    // publish_on_loopback's modifier picks random host ports; wrap it to pin fixed ones and add tmpfs.
    let inner = request.host_config_modifier().cloned();
    let fixed: Vec<(u16, u16)> = spec
        .ports
        .iter()
        .filter_map(|p| match p.host {
            HostPort::Fixed(h) => Some((p.container, h)),
            HostPort::Random => None,
        })
        .collect();
    let tmpfs: std::collections::HashMap<String, String> = spec
        .tmpfs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    let read_only = spec.read_only;
    // Anonymous volumes (no source): Docker copies the image's folder (owner included) into each, and
    // removes them with the container (testcontainers removes with `v=true`); the run labels let
    // `jitsi-harness clean` sweep any a killed run left.
    let volume_labels: std::collections::HashMap<String, String> =
        docker::run_labels(label, options.keep)
            .into_iter()
            .collect();
    let mut mounts: Vec<Mount> = spec
        .volumes
        .iter()
        .map(|path| Mount {
            target: Some((*path).to_owned()),
            typ: Some(MountType::VOLUME),
            volume_options: Some(MountVolumeOptions {
                labels: Some(volume_labels.clone()),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    for bind in &spec.binds {
        mounts.push(bind_mount(bind, &spec.name)?);
    }
    request = request.with_host_config_modifier(move |host| {
        if let Some(inner) = &inner {
            inner(host);
        }
        if let Some(bindings) = host.port_bindings.as_mut() {
            for (container, host_port) in &fixed {
                bindings.insert(
                    format!("{container}/tcp"),
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".to_owned()),
                        host_port: Some(host_port.to_string()),
                    }]),
                );
            }
        }
        if !tmpfs.is_empty() {
            host.tmpfs = Some(tmpfs.clone());
        }
        if read_only {
            host.readonly_rootfs = Some(true);
        }
        if !mounts.is_empty() {
            host.mounts = Some(mounts.clone());
        }
    });
    // testcontainers bounds starting by the startup timeout but not creating; bound both.
    let limit = deadline.saturating_duration_since(Instant::now()) + ENGINE_GRACE;
    let container = match tokio::time::timeout(limit, request.start()).await {
        Ok(started) => started.map_err(|source| StackError::Start {
            container: spec.name.clone(),
            source,
        })?,
        Err(_) => {
            return Err(StackError::NotReady {
                container: format!("{} ({})", spec.name, spec.service),
                waited: limit,
                condition: "Docker to create and start it".into(),
                log_tail: log.tail(TAIL_LINES),
            })
        }
    };
    Ok(Running {
        service: spec.service,
        name: spec.name.clone(),
        container,
        log,
    })
}

/// Waits until `ready` holds for `running`, the container exits, or `deadline` passes.
async fn wait_ready(
    docker: &Docker,
    running: &Running,
    ready: &Ready,
    started: Instant,
    deadline: Instant,
) -> Result<(), StackError> {
    let watched = Watched {
        docker,
        name: &running.name,
        container: &running.container,
        log: &running.log,
    };
    ready::wait(ready, Some(&watched), deadline)
        .await
        .map_err(|unready| {
            unready.into_stack_error(
                format!("{} ({})", running.name, running.service),
                started.elapsed(),
            )
        })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::plan::ImageSpec;
    use super::*;

    #[test]
    fn reserved_ports_are_free_distinct_and_non_zero() {
        let p = reserve_loopback_port().unwrap();
        assert_ne!(p, 0);
        assert!(std::net::TcpListener::bind(("127.0.0.1", p)).is_ok());
        let [a, b, c] = reserve_loopback_ports::<3>().unwrap();
        assert!(a != b && b != c && a != c && [a, b, c].iter().all(|&p| p != 0));
        for p in [a, b, c] {
            assert!(std::net::TcpListener::bind(("127.0.0.1", p)).is_ok());
        }
    }

    #[test]
    fn endpoints_before_start_carry_domains_and_key() {
        let target: StackTarget = "jitsi:stable-11146".parse().unwrap();
        let variants = crate::stack::Variants::parse(
            std::path::Path::new("v.toml"),
            "[g]\ndescription = \"\"\njwt = true\nguests = true\n",
        )
        .unwrap();
        let p = plan(&target, variants.get("g").unwrap()).unwrap();
        let e = placeholder_endpoints(&p);
        assert_eq!(e.guest_domain.as_deref(), Some("guest.meet.jitsi"));
        assert_eq!(e.web.as_deref(), Some("https://127.0.0.1:8443"));
        assert!(matches!(e.signing, SigningKey::Hs256(ref s) if s.expose() == "placeholder"));
        assert!(e.insecure_tls);
    }

    /// The runtime path (names, network, env, labels, loopback and fixed ports, tmpfs, log following, HTTP
    /// and log waits, NotReady with the log tail, exit detection, removal) against a real Prosody: the
    /// locally built fixture image, since no Jitsi image can be pulled here. Skipped (with a note on
    /// stderr) without Docker or that image.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runtime_path_against_a_local_prosody_image() {
        const REPO: &str = "jitsi-harness/fixture-prosody";
        let Ok(docker) = docker::connect().await else {
            assert!(
                std::env::var_os("CI").is_none(),
                "Docker is not reachable (required in CI)"
            );
            eprintln!("skipped: Docker is not reachable");
            return;
        };
        if !docker::image_present(&docker, &format!("{REPO}:13"))
            .await
            .unwrap_or(false)
        {
            assert!(
                std::env::var_os("CI").is_none(),
                "{REPO}:13 is not built (required in CI: run `just images`)"
            );
            eprintln!("skipped: {REPO}:13 is not built here");
            return;
        }
        let artifacts = std::env::temp_dir().join(format!("jh-runtime-{}", std::process::id()));
        std::fs::create_dir_all(&artifacts).unwrap();
        let options = StartOptions::new(&artifacts);
        let stack = uuid::Uuid::new_v4().simple().to_string()[..6].to_owned();
        let network = LabelledNetwork::create(&docker, &stack, "test/jitsi-runtime", false)
            .await
            .unwrap();
        let fixed = reserve_loopback_port().unwrap();
        let spec =
            |service: Service, env: &[(&'static str, &str)], waits: Vec<Ready>| ContainerSpec {
                service,
                name: format!("jh-{}-{stack}-{service}", docker::run_id()),
                stage: 1,
                image: ImageSpec {
                    repository: REPO.into(),
                    tag: "13".into(),
                },
                env: env
                    .iter()
                    .map(|(k, v)| (*k, crate::stack::env::EnvValue::Plain((*v).into())))
                    .collect(),
                ports: vec![
                    plan::PortSpec {
                        container: 5280,
                        host: HostPort::Random,
                        purpose: "",
                    },
                    plan::PortSpec {
                        container: 5347,
                        host: HostPort::Fixed(fixed),
                        purpose: "",
                    },
                ],
                tmpfs: BTreeMap::from([("/scratch", "size=1M,mode=1777".to_owned())]),
                read_only: false,
                volumes: vec!["/scratch-volume"],
                waits,
                binds: Vec::new(),
            };
        let good = spec(
            Service::Prosody,
            &[("JICOFO_COMPONENT_SECRET", "x")],
            vec![
                Ready::http(5280, "/xmpp-websocket", 200),
                Ready::log_line("Serving 'bosh'"),
            ],
        );
        let started = Instant::now();
        let deadline = started + Duration::from_secs(60);
        let running = start_container(
            &good,
            REPO,
            network.name(),
            "test/jitsi-runtime",
            &options,
            deadline,
        )
        .await
        .unwrap();
        for w in &good.waits {
            wait_ready(&docker, &running, w, started, deadline)
                .await
                .unwrap();
        }
        assert_eq!(
            running.container.get_host_port_ipv4(5347).await.unwrap(),
            fixed
        );
        let inspect = docker.inspect_container(&good.name, None).await.unwrap();
        let volume = inspect
            .mounts
            .clone()
            .unwrap_or_default()
            .into_iter()
            .find(|m| m.destination.as_deref() == Some("/scratch-volume"))
            .and_then(|m| m.name)
            .expect("an anonymous volume on /scratch-volume");
        let volume_labels = docker.inspect_volume(&volume).await.unwrap().labels;
        assert_eq!(
            volume_labels.get(docker::LABEL_RUN).map(String::as_str),
            Some(docker::run_id())
        );
        let host = inspect.host_config.unwrap();
        assert!(host.tmpfs.unwrap().contains_key("/scratch"));
        let labels = inspect.config.unwrap().labels.unwrap();
        assert_eq!(
            labels.get(docker::LABEL_RUN).map(String::as_str),
            Some(docker::run_id())
        );
        // A line that never comes: NotReady with the log tail, at the deadline.
        let e = wait_ready(
            &docker,
            &running,
            &Ready::log_line("never printed"),
            started,
            Instant::now() + Duration::from_secs(1),
        )
        .await
        .unwrap_err();
        let text = e.to_string();
        assert!(
            matches!(e, StackError::NotReady { .. }) && text.contains("Serving"),
            "{text}"
        );
        let log = std::fs::read_to_string(docker::log_path(&artifacts, "prosody")).unwrap();
        assert!(log.contains("Serving 'bosh'"));

        // Without its secret the image exits at once: NotReady says so instead of waiting it out.
        let bad = spec(Service::Jicofo, &[], vec![Ready::http(5280, "/", 200)]);
        let mut bad = bad;
        bad.ports.truncate(1);
        let dead = start_container(
            &bad,
            REPO,
            network.name(),
            "test/jitsi-runtime",
            &options,
            deadline,
        )
        .await
        .unwrap();
        let t0 = Instant::now();
        let e = wait_ready(&docker, &dead, &bad.waits[0], started, deadline)
            .await
            .unwrap_err();
        assert!(t0.elapsed() < Duration::from_secs(20));
        let text = e.to_string();
        assert!(
            text.contains("exited") && text.contains("JICOFO_COMPONENT_SECRET"),
            "{text}"
        );

        dead.container.rm().await.unwrap();
        running.container.rm().await.unwrap();
        network.close(&docker).await.unwrap();
        assert!(
            docker.inspect_volume(&volume).await.is_err(),
            "volume {volume} left behind"
        );
        for name in [&good.name, &bad.name] {
            assert!(
                docker.inspect_container(name, None).await.is_err(),
                "{name} left behind"
            );
        }
        let _ = std::fs::remove_dir_all(&artifacts);
    }
}
