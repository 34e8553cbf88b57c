//! docker-jitsi-meet at a tag, for real: starts the [`Plan`] of `stack::plan` in containers.
//!
//! In: a `jitsi:<tag>` [`StackTarget`], a [`Variant`], [`StartOptions`]. Steps: compute the plan (random
//! names and secrets, a reserved loopback port for web's HTTPS), make sure the four images are present
//! (pulling from the release's registry, then the fallback one, with progress lines and deadlines), create
//! the stack's own labelled network, start prosody → jicofo + jvb → web and wait for each stage's readiness
//! conditions within `startup_timeout`. Out: a [`JitsiStack`] whose [`Endpoints`] the participants use.
//! A container that never becomes ready is [`StackError::NotReady`] with the last lines of its log; every
//! container's full output is in `<artifacts>/<service>.log`.
//!
//! Cleanup (STYLE.md 2.6): [`JitsiStack::close`] removes containers in reverse start order, then the
//! network; dropping the stack (panic, early return) does the same through testcontainers' `ContainerAsync`
//! and [`LabelledNetwork`] drops. With `StartOptions::keep` the stack is left running and a progress line
//! says how to remove it. A failed start removes what it had started before returning the error.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::StreamExt;
use testcontainers::bollard::models::PortBinding;
use testcontainers::bollard::query_parameters::CreateImageOptionsBuilder;
use testcontainers::bollard::Docker;
use testcontainers::core::client::ClientError;
use testcontainers::core::logs::consumer::LogConsumer;
use testcontainers::core::logs::LogFrame;
use testcontainers::core::ContainerPort;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt, TestcontainersError};

use super::docker::{self, DockerError, LabelledNetwork, LogTail};
use super::http_shim::http_get;
use super::plan::{
    ContainerSpec, HostPort, ImageSpec, WaitSpec, FOCUS_DOMAIN, JICOFO_REST_PORT, JWT_APP_ID,
    PROSODY_HTTP_PORT, XMPP_DOMAIN, XMPP_GUEST_DOMAIN, XMPP_MUC_DOMAIN,
};
use super::{Endpoints, StackError, StackTarget, StartOptions, Variant};
use crate::token::SigningKey;

pub use super::plan::{plan, plan_with, Plan, PlanInputs, Service};

/// No progress message from the engine for this long means a pull is stuck (a registry that accepts the
/// connection and then says nothing). Layer downloads report several times a second.
const PULL_STALL: Duration = Duration::from_secs(60);
/// Upper bound for one image pull: the JVM images are a few hundred MB; 20 minutes is a slow link.
const PULL_DEADLINE: Duration = Duration::from_secs(20 * 60);
/// At most one progress line per image this often.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);
/// One readiness probe (HTTP GET from the host) may take this long; probes repeat until the deadline.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between readiness probes.
const PROBE_INTERVAL: Duration = Duration::from_millis(500);
/// Extra time for one engine operation (create, start, remove) beyond the stack deadline: a healthy
/// engine needs well under a second; 30 s covers a busy CI host without hanging forever on a stuck one.
const ENGINE_GRACE: Duration = Duration::from_secs(30);
/// Log lines quoted in a [`StackError::NotReady`].
const TAIL: usize = 30;

const PULL_HINT: &str = "if no registry is reachable from here, pull the images on a machine that can \
(`docker pull IMAGE`, `docker save -o jitsi.tar IMAGE...`) and load them here (`docker load -i jitsi.tar`), \
or run on the fixture stack (`--stack fixture:13`)";

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
}

/// One started container.
struct Running {
    service: Service,
    name: String,
    container: ContainerAsync<GenericImage>,
    tail: LogTail,
    watch: Arc<LogWatch>,
}

impl JitsiStack {
    /// Pulls, starts and waits for the stack of `target` (`jitsi:<tag>`) configured as `variant`.
    pub async fn start(
        target: &StackTarget,
        variant: &Variant,
        options: &StartOptions,
    ) -> Result<Self, StackError> {
        // Everything that needs no Docker first: a variant the release cannot express fails here.
        let web_port = reserve_loopback_port().map_err(|source| StackError::Io {
            what: "cannot reserve a free 127.0.0.1 port for web's HTTPS".into(),
            source,
        })?;
        let inputs = PlanInputs::random(docker::run_id(), web_port);
        let plan = plan_with(target, variant, &inputs)?;
        let docker = docker::connect().await?;

        let mut repositories = BTreeMap::new();
        for c in &plan.containers {
            let repository = ensure_image(&docker, &c.image, options).await?;
            repositories.insert(c.service, repository);
        }

        std::fs::create_dir_all(&options.artifacts).map_err(|source| StackError::Io {
            what: format!("cannot create {}", options.artifacts.display()),
            source,
        })?;
        let label = format!("{target}/{}", variant.name);
        // Named `jitsi-harness-<run>-<stack>`, as `plan.network` says.
        let network = LabelledNetwork::create(&docker, &inputs.stack, &label).await?;

        let mut stack = Inner {
            target: target.clone(),
            endpoints: placeholder_endpoints(&plan),
            plan,
            docker,
            options: options.clone(),
            containers: Vec::new(),
            network: Some(network),
        };
        let started = Instant::now();
        let deadline = started + options.startup_timeout;
        match stack
            .start_stages(&repositories, &label, started, deadline)
            .await
        {
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

    /// The plan this stack was started from (real names; secrets redacted when printed).
    pub fn plan(&self) -> &Plan {
        &self.inner.plan
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
}

impl Inner {
    async fn start_stages(
        &mut self,
        repositories: &BTreeMap<Service, String>,
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
                let repository = repositories
                    .get(&spec.service)
                    .cloned()
                    .unwrap_or_else(|| spec.image.repository.clone());
                self.options.progress(&format!("starting {}", spec.name));
                let running =
                    start_container(spec, &repository, &network, label, &self.options, deadline)
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
                 `jitsi-harness clean` or `docker rm -f {} && docker network rm {network}`",
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
    }
}

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

/// A free TCP port on 127.0.0.1 right now (the OS picks it; it is released again at once). Docker binds it
/// moments later; a collision in between fails the start with a clear "port is already allocated".
fn reserve_loopback_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

/// Makes sure `image` is present locally and returns the repository (with registry) to run it from: the
/// release's registry, else the fallback one; pulls only what is missing.
async fn ensure_image(
    docker: &Docker,
    image: &ImageSpec,
    options: &StartOptions,
) -> Result<String, StackError> {
    for repository in [&image.repository, &image.fallback_repository] {
        let reference = format!("{repository}:{}", image.tag);
        if docker::image_present(docker, &reference).await? {
            return Ok(repository.clone());
        }
    }
    let mut tried = Vec::new();
    for repository in [&image.repository, &image.fallback_repository] {
        let reference = format!("{repository}:{}", image.tag);
        options.progress(&format!("pulling {reference}"));
        match pull(docker, repository, &image.tag, options).await {
            Ok(()) => return Ok(repository.clone()),
            Err(reason) => {
                options.progress(&format!("pulling {reference} failed: {reason}"));
                tried.push(format!("{reference}: {reason}"));
            }
        }
    }
    Err(StackError::Pull {
        image: image.reference(),
        tried: tried.join("; "),
        hint: PULL_HINT.into(),
    })
}

/// Pulls `repository:tag`, reporting layer progress at most every [`PROGRESS_EVERY`].
async fn pull(
    docker: &Docker,
    repository: &str,
    tag: &str,
    options: &StartOptions,
) -> Result<(), String> {
    let reference = format!("{repository}:{tag}");
    let request = CreateImageOptionsBuilder::new()
        .from_image(repository)
        .tag(tag)
        .build();
    let mut stream = docker.create_image(Some(request), None, None);
    let started = Instant::now();
    let mut last_report = Instant::now();
    // Layer id → (status, current bytes, total bytes).
    let mut layers: BTreeMap<String, (String, i64, i64)> = BTreeMap::new();
    loop {
        let left = PULL_DEADLINE.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(format!(
                "not finished within {} min",
                PULL_DEADLINE.as_secs() / 60
            ));
        }
        let next = match tokio::time::timeout(PULL_STALL.min(left), stream.next()).await {
            Ok(next) => next,
            Err(_) => {
                return Err(format!(
                    "no progress for {} s",
                    PULL_STALL.min(left).as_secs()
                ))
            }
        };
        match next {
            None => {
                options.progress(&format!("pulled {reference}"));
                return Ok(());
            }
            Some(Err(e)) => return Err(e.to_string()),
            Some(Ok(info)) => {
                if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                    return Err(detail);
                }
                if let Some(id) = info.id {
                    let entry = layers.entry(id).or_default();
                    if let Some(status) = info.status {
                        entry.0 = status;
                    }
                    if let Some(p) = info.progress_detail {
                        entry.1 = p.current.unwrap_or(entry.1);
                        entry.2 = p.total.unwrap_or(entry.2);
                    }
                }
                if last_report.elapsed() >= PROGRESS_EVERY && !layers.is_empty() {
                    last_report = Instant::now();
                    let done = layers
                        .values()
                        .filter(|(s, _, _)| s.contains("complete") || s.contains("exists"))
                        .count();
                    let (current, total) = layers
                        .values()
                        .fold((0i64, 0i64), |(c, t), (_, lc, lt)| (c + lc, t + lt));
                    options.progress(&format!(
                        "pulling {reference}: {done}/{} layers done, {} of {} MB in flight",
                        layers.len(),
                        current / 1_000_000,
                        total / 1_000_000
                    ));
                }
            }
        }
    }
}

async fn start_container(
    spec: &ContainerSpec,
    repository: &str,
    network: &str,
    label: &str,
    options: &StartOptions,
    deadline: Instant,
) -> Result<Running, StackError> {
    let needles: Vec<&'static str> = spec
        .waits
        .iter()
        .filter_map(|w| match w {
            WaitSpec::Log { contains } => Some(*contains),
            WaitSpec::Http { .. } => None,
        })
        .collect();
    let (consumer, tail) =
        docker::log_consumer(&docker::log_path(&options.artifacts, spec.service.as_str()));
    let watch = Arc::new(LogWatch::new(needles));
    let consumer = WatchingConsumer {
        inner: consumer,
        watch: watch.clone(),
    };

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
    request = docker::with_run_labels(request, label);
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
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
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
                log_tail: tail.last(TAIL),
            })
        }
    };
    Ok(Running {
        service: spec.service,
        name: spec.name.clone(),
        container,
        tail,
        watch,
    })
}

/// Waits until `wait` holds for `running`, the container exits, or `deadline` passes.
async fn wait_ready(
    docker: &Docker,
    running: &Running,
    wait: &WaitSpec,
    started: Instant,
    deadline: Instant,
) -> Result<(), StackError> {
    let not_ready = |last: &str| StackError::NotReady {
        container: format!("{} ({})", running.name, running.service),
        waited: started.elapsed(),
        condition: if last.is_empty() {
            wait.to_string()
        } else {
            format!("{wait}; last attempt: {last}")
        },
        log_tail: running.tail.last(TAIL),
    };
    // Resolved lazily: a container that died at once has no published port, and that is a NotReady with
    // its exit code and log, not a port error.
    let mut host_port = None;
    let mut last = String::new();
    loop {
        match wait {
            WaitSpec::Log { contains } => {
                if running.watch.seen(contains) {
                    return Ok(());
                }
            }
            WaitSpec::Http { port, path, status } => {
                if host_port.is_none() {
                    match running.container.get_host_port_ipv4(*port).await {
                        Ok(p) => host_port = Some(p),
                        Err(e) => last = format!("port {port} not published: {e}"),
                    }
                }
                if let Some(host_port) = host_port {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match http_get("127.0.0.1", host_port, path, PROBE_TIMEOUT.min(left)).await {
                        Ok(r) if r.status == *status => return Ok(()),
                        Ok(r) => last = format!("HTTP {}", r.status),
                        Err(e) => last = e.to_string(),
                    }
                }
            }
        }
        if let Some(exit) = exited(docker, &running.name).await {
            // Let the last lines of its output reach the tail.
            tokio::time::sleep(Duration::from_millis(300)).await;
            return Err(not_ready(&format!("the container exited ({exit})")));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(not_ready(&last));
        }
        tokio::time::sleep(PROBE_INTERVAL.min(left)).await;
    }
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

/// Watches a container's output for readiness lines (the text may be split across log frames).
struct LogWatch {
    needles: Vec<&'static str>,
    seen: Vec<AtomicBool>,
    carry: Mutex<String>,
}

impl LogWatch {
    fn new(needles: Vec<&'static str>) -> Self {
        let seen = needles.iter().map(|_| AtomicBool::new(false)).collect();
        LogWatch {
            needles,
            seen,
            carry: Mutex::new(String::new()),
        }
    }

    fn feed(&self, text: &str) {
        if self.needles.is_empty() {
            return;
        }
        let Ok(mut carry) = self.carry.lock() else {
            return;
        };
        let hay = format!("{carry}{text}");
        for (needle, seen) in self.needles.iter().zip(&self.seen) {
            if hay.contains(needle) {
                seen.store(true, Ordering::Relaxed);
            }
        }
        // Keep just enough of the tail to find a needle that straddles two frames.
        let keep = self.needles.iter().map(|n| n.len()).max().unwrap_or(0);
        let mut start = hay.len().saturating_sub(keep);
        while !hay.is_char_boundary(start) {
            start += 1;
        }
        *carry = hay[start..].to_owned();
    }

    fn seen(&self, needle: &str) -> bool {
        self.needles
            .iter()
            .zip(&self.seen)
            .any(|(n, s)| *n == needle && s.load(Ordering::Relaxed))
    }
}

/// docker's log consumer (file + tail) plus a [`LogWatch`].
struct WatchingConsumer<C> {
    inner: C,
    watch: Arc<LogWatch>,
}

impl<C: LogConsumer> LogConsumer for WatchingConsumer<C> {
    fn accept<'a>(&'a self, record: &'a LogFrame) -> BoxFuture<'a, ()> {
        let bytes = match record {
            LogFrame::StdOut(b) | LogFrame::StdErr(b) => b,
        };
        self.watch.feed(&String::from_utf8_lossy(bytes));
        self.inner.accept(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_watch_finds_lines_split_across_frames() {
        let w = LogWatch::new(vec!["Added new videobridge"]);
        w.feed("2026-08-20 Jicofo INFO: [37] BridgeSelector.addJvbAddress#96: Added new vid");
        assert!(!w.seen("Added new videobridge"));
        w.feed("eobridge: Bridge[jid=jvbbrewery@internal-muc.meet.jitsi/jvb]");
        assert!(w.seen("Added new videobridge"));
        assert!(!w.seen("something else"));
        // Multi-byte text at the cut does not panic.
        let w = LogWatch::new(vec!["ab"]);
        w.feed("ééééé");
        w.feed("a");
        w.feed("b");
        assert!(w.seen("ab"));
    }

    #[test]
    fn reserved_port_is_free_and_non_zero() {
        let p = reserve_loopback_port().unwrap();
        assert_ne!(p, 0);
        assert!(std::net::TcpListener::bind(("127.0.0.1", p)).is_ok());
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
        let network = LabelledNetwork::create(&docker, &stack, "test/jitsi-runtime")
            .await
            .unwrap();
        let fixed = reserve_loopback_port().unwrap();
        let spec =
            |service: Service, env: &[(&'static str, &str)], waits: Vec<WaitSpec>| ContainerSpec {
                service,
                name: format!("jh-{}-{stack}-{service}", docker::run_id()),
                stage: 1,
                image: ImageSpec {
                    repository: REPO.into(),
                    tag: "13".into(),
                    fallback_repository: REPO.into(),
                },
                env: env
                    .iter()
                    .map(|(k, v)| (*k, super::super::plan::EnvValue::Plain((*v).into())))
                    .collect(),
                ports: vec![
                    super::super::plan::PortSpec {
                        container: 5280,
                        host: HostPort::Random,
                        purpose: "",
                    },
                    super::super::plan::PortSpec {
                        container: 5347,
                        host: HostPort::Fixed(fixed),
                        purpose: "",
                    },
                ],
                tmpfs: BTreeMap::from([("/scratch", "size=1M,mode=1777")]),
                waits,
            };
        let good = spec(
            Service::Prosody,
            &[("JICOFO_COMPONENT_SECRET", "x")],
            vec![
                WaitSpec::Http {
                    port: 5280,
                    path: "/xmpp-websocket",
                    status: 200,
                },
                WaitSpec::Log {
                    contains: "Serving 'bosh'",
                },
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
            &WaitSpec::Log {
                contains: "never printed",
            },
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
        let bad = spec(
            Service::Jicofo,
            &[],
            vec![WaitSpec::Http {
                port: 5280,
                path: "/",
                status: 200,
            }],
        );
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
        for name in [&good.name, &bad.name] {
            assert!(
                docker.inspect_container(name, None).await.is_err(),
                "{name} left behind"
            );
        }
        let _ = std::fs::remove_dir_all(&artifacts);
    }
}
