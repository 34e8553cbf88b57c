//! Docker plumbing shared by the container backends (`fixture`, `jitsi`): one engine connection with a
//! clear error when there is none, labels on every container and network, labelled per-run networks,
//! ports published on 127.0.0.1 only, container logs followed into the artifacts folder, and the sweep of
//! leftovers from runs that were killed. Every container and network carries `jitsi-harness.*` labels
//! (run id, pid, pid namespace, start time, stack), in the manner of testcontainers' `org.testcontainers.*`
//! labels, so that what a SIGKILLed run left behind can be found and removed by the next one.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use testcontainers::bollard::models::{NetworkCreateRequest, PortBinding};
use testcontainers::bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder,
};
use testcontainers::bollard::Docker;
use testcontainers::core::logs::consumer::LogConsumer;
use testcontainers::core::logs::LogFrame;
use testcontainers::{ContainerRequest, Image, ImageExt};

/// Label on every container and network: the run that created it.
pub const LABEL_RUN: &str = "jitsi-harness.run-id";
/// Label: the pid of the process that created it (a leftover whose process is gone is swept).
pub const LABEL_PID: &str = "jitsi-harness.pid";
/// Label: unix seconds when it was created (anything older than [`MAX_AGE`] is swept).
pub(crate) const LABEL_STARTED: &str = "jitsi-harness.started";
/// Label: where that pid lives — host name and pid namespace. A pid is only checked for liveness by a
/// process that shares it; other machines or containers sharing the engine only sweep by age.
pub(crate) const LABEL_PIDNS: &str = "jitsi-harness.pidns";
/// Label: the stack it belongs to, e.g. `fixture:13/jwt-auto-owner`.
pub const LABEL_STACK: &str = "jitsi-harness.stack";

/// Label: the stack was started with `--keep-stack`; the automatic sweep leaves it alone.
pub(crate) const LABEL_KEEP: &str = "jitsi-harness.keep";

/// Leftovers older than this are removed even if their process still seems alive (pid reuse).
pub(crate) const MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// How long a call to the engine may take before we call it unreachable.
const ENGINE_DEADLINE: Duration = Duration::from_secs(10);

/// What went wrong talking to Docker.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// No engine answers.
    #[error("cannot reach the Docker engine: {reason}; {hint}")]
    Unavailable {
        /// What the connection or the ping reported.
        reason: String,
        /// How to make an engine reachable.
        hint: &'static str,
    },
    /// A required image is not on this machine.
    #[error("image `{image}` is not present locally; {hint}")]
    ImageMissing {
        /// `repository:tag`.
        image: String,
        /// How to get it.
        hint: String,
    },
    /// An engine call failed.
    #[error("docker {op} failed")]
    Api {
        /// The operation, e.g. `remove network jitsi-harness-…`.
        op: String,
        /// The engine's error.
        #[source]
        source: testcontainers::bollard::errors::Error,
    },
}

const ENGINE_HINT: &str =
    "start it (e.g. `systemctl start docker`), make sure you may use its socket \
(root or the `docker` group), or point DOCKER_HOST at it";

/// This process's run id: an 8-hex-digit random value, the same for every stack this process starts.
pub fn run_id() -> &'static str {
    static RUN_ID: OnceLock<String> = OnceLock::new();
    RUN_ID.get_or_init(|| {
        let id = uuid::Uuid::new_v4().simple().to_string();
        id[..8].to_owned()
    })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// This process's host name and pid namespace, e.g. `ci-runner-3/pid:[4026531836]`.
pub(crate) fn pid_namespace() -> &'static str {
    static NS: OnceLock<String> = OnceLock::new();
    NS.get_or_init(|| {
        let host = crate::process::hostname().unwrap_or_default();
        let ns = crate::process::own_pid_namespace().unwrap_or_default();
        format!("{host}/{ns}")
    })
}

/// The labels every resource of `stack` carries — containers and networks alike, so that a sweep
/// treats a stack as one thing. `keep` (`--keep-stack`) adds [`LABEL_KEEP`]: the automatic sweep then
/// leaves the whole stack alone and `clean --kept` removes the whole stack.
pub(crate) fn run_labels(stack: &str, keep: bool) -> Vec<(String, String)> {
    let mut labels = vec![
        (LABEL_RUN.to_owned(), run_id().to_owned()),
        (LABEL_PID.to_owned(), std::process::id().to_string()),
        (LABEL_PIDNS.to_owned(), pid_namespace().to_owned()),
        (LABEL_STARTED.to_owned(), unix_now().to_string()),
        (LABEL_STACK.to_owned(), stack.to_owned()),
    ];
    if keep {
        labels.push((LABEL_KEEP.to_owned(), "1".to_owned()));
    }
    labels
}

/// Connects to the engine (DOCKER_HOST or the local socket) and checks it answers.
pub async fn connect() -> Result<Docker, DockerError> {
    let docker = Docker::connect_with_defaults().map_err(|e| DockerError::Unavailable {
        reason: e.to_string(),
        hint: ENGINE_HINT,
    })?;
    match tokio::time::timeout(ENGINE_DEADLINE, docker.ping()).await {
        Ok(Ok(_)) => Ok(docker),
        Ok(Err(e)) => Err(DockerError::Unavailable {
            reason: e.to_string(),
            hint: ENGINE_HINT,
        }),
        Err(_) => Err(DockerError::Unavailable {
            reason: format!("no answer to ping within {} s", ENGINE_DEADLINE.as_secs()),
            hint: ENGINE_HINT,
        }),
    }
}

/// Whether `image` (`repo:tag`) is present locally.
pub async fn image_present(docker: &Docker, image: &str) -> Result<bool, DockerError> {
    match docker.inspect_image(image).await {
        Ok(_) => Ok(true),
        Err(testcontainers::bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }) => Ok(false),
        Err(source) => Err(DockerError::Api {
            op: format!("inspect image {image}"),
            source,
        }),
    }
}

/// Label value of an image, if the image exists and has it.
pub(crate) async fn image_label(docker: &Docker, image: &str, label: &str) -> Option<String> {
    let inspect = docker.inspect_image(image).await.ok()?;
    inspect.config?.labels?.get(label).cloned()
}

/// Publishes `ports` (tcp) of a container on 127.0.0.1 only, each on a free host port.
///
/// testcontainers binds published ports on every interface; a test stack (open rooms, known secrets in
/// its env) must not be reachable from other machines, so the port bindings are rewritten after
/// testcontainers applied its defaults.
pub(crate) fn publish_on_loopback<I: Image>(
    request: ContainerRequest<I>,
    ports: &[u16],
) -> ContainerRequest<I> {
    let ports = ports.to_vec();
    request.with_host_config_modifier(move |host| {
        host.publish_all_ports = Some(false);
        host.port_bindings = Some(
            ports
                .iter()
                .map(|p| {
                    (
                        format!("{p}/tcp"),
                        Some(vec![PortBinding {
                            host_ip: Some("127.0.0.1".to_owned()),
                            host_port: Some(String::new()),
                        }]),
                    )
                })
                .collect(),
        );
    })
}

/// Adds the run labels (and the keep label with `keep`) to a container request.
pub(crate) fn with_run_labels<I: Image>(
    request: ContainerRequest<I>,
    stack: &str,
    keep: bool,
) -> ContainerRequest<I> {
    request.with_labels(run_labels(stack, keep))
}

/// A user-defined bridge network owned by one stack: created with the run labels, removed by
/// [`LabelledNetwork::close`] or, as a fallback, on drop.
#[derive(Debug)]
pub(crate) struct LabelledNetwork {
    name: String,
    removed: bool,
}

impl LabelledNetwork {
    /// Creates `jitsi-harness-<run>-<suffix>`, labelled as its containers are ([`run_labels`]).
    pub async fn create(
        docker: &Docker,
        suffix: &str,
        stack: &str,
        keep: bool,
    ) -> Result<Self, DockerError> {
        let name = format!("jitsi-harness-{}-{suffix}", run_id());
        let labels: HashMap<String, String> = run_labels(stack, keep).into_iter().collect();
        docker
            .create_network(NetworkCreateRequest {
                name: name.clone(),
                driver: Some("bridge".to_owned()),
                labels: Some(labels),
                ..Default::default()
            })
            .await
            .map_err(|source| DockerError::Api {
                op: format!("create network {name}"),
                source,
            })?;
        Ok(LabelledNetwork {
            name,
            removed: false,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Gives up ownership: the network stays (`--keep-stack`). Returns its name.
    pub fn into_kept(mut self) -> String {
        self.removed = true;
        self.name.clone()
    }

    /// Removes the network (its containers must be gone first).
    pub async fn close(mut self, docker: &Docker) -> Result<(), DockerError> {
        self.removed = true;
        remove_network_retrying(docker, &self.name).await
    }
}

async fn remove_network_retrying(docker: &Docker, name: &str) -> Result<(), DockerError> {
    // A container removed a moment ago can still hold an endpoint: retry briefly.
    let mut last = None;
    for _ in 0..20 {
        match docker.remove_network(name).await {
            Ok(()) => return Ok(()),
            Err(testcontainers::bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                ..
            }) => return Ok(()),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    match last {
        Some(source) => Err(DockerError::Api {
            op: format!("remove network {name}"),
            source,
        }),
        None => Ok(()),
    }
}

impl Drop for LabelledNetwork {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let name = self.name.clone();
        block_on_side_runtime(async move {
            if let Ok(docker) = connect().await {
                if let Err(e) = remove_network_retrying(&docker, &name).await {
                    tracing::warn!("could not remove network {name} on drop: {e}");
                }
            }
        });
    }
}

/// Runs `fut` to completion on a fresh runtime in a helper thread and waits for it. Usable from `Drop`,
/// signal handlers and panics, inside or outside a tokio runtime.
pub(crate) fn block_on_side_runtime<F>(fut: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let worker = std::thread::spawn(move || {
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt.block_on(fut),
            Err(e) => tracing::warn!("cleanup runtime could not start: {e}"),
        }
    });
    let _ = worker.join();
}

/// The last lines of a container's output, kept for error messages, while the whole output goes to a file.
#[derive(Clone, Debug, Default)]
pub(crate) struct LogTail {
    lines: Arc<Mutex<VecDeque<String>>>,
}

/// How many lines [`LogTail`] keeps.
const TAIL_LINES: usize = 40;

impl LogTail {
    fn push(&self, line: String) {
        if let Ok(mut lines) = self.lines.lock() {
            if lines.len() == TAIL_LINES {
                lines.pop_front();
            }
            lines.push_back(line);
        }
    }

    /// The last `n` lines, oldest first, joined with newlines.
    pub fn last(&self, n: usize) -> String {
        match self.lines.lock() {
            Ok(lines) => {
                let skip = lines.len().saturating_sub(n);
                lines
                    .iter()
                    .skip(skip)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n")
            }
            Err(_) => String::new(),
        }
    }
}

/// Follows a container's stdout and stderr into `path` (created, appended) and a [`LogTail`].
/// Secrets in env never reach the log: the images do not echo their env.
pub(crate) fn log_consumer(path: &Path) -> (impl LogConsumer + 'static, LogTail) {
    let tail = LogTail::default();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .ok()
        .map(Mutex::new);
    if file.is_none() {
        tracing::warn!("cannot write container log to {}", path.display());
    }
    let consumer_tail = tail.clone();
    let consumer = move |frame: &LogFrame| {
        let (stream, bytes) = match frame {
            LogFrame::StdOut(b) => ("out", b),
            LogFrame::StdErr(b) => ("err", b),
        };
        let text = String::from_utf8_lossy(bytes);
        for line in text.lines() {
            let line = crate::redact::redact_url(line);
            if let Some(file) = &file {
                if let Ok(mut f) = file.lock() {
                    let _ = writeln!(f, "{stream} {line}");
                }
            }
            consumer_tail.push(line);
        }
    };
    (consumer, tail)
}

/// What [`sweep_leftovers`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sweep {
    /// Names of the removed containers.
    pub containers: Vec<String>,
    /// Names of the removed networks.
    pub networks: Vec<String>,
    /// Names of the removed volumes (the anonymous volumes of `jitsi:` stacks carry the same labels).
    pub volumes: Vec<String>,
}

fn pid_alive(pid: u32) -> bool {
    // kill(pid, 0): no signal sent, only existence and permission are checked.
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 has no side effect.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

fn is_leftover(labels: &HashMap<String, String>, only_run: Option<&str>) -> bool {
    let Some(run) = labels.get(LABEL_RUN) else {
        return false;
    };
    if let Some(only) = only_run {
        return run == only;
    }
    if run == run_id() || labels.contains_key(LABEL_KEEP) {
        return false;
    }
    // Only a process in the same pid namespace can tell whether that pid is gone.
    let same_namespace = labels.get(LABEL_PIDNS).map(String::as_str) == Some(pid_namespace());
    let pid_gone = same_namespace
        && labels
            .get(LABEL_PID)
            .and_then(|p| p.parse::<u32>().ok())
            .map(|p| !pid_alive(p))
            .unwrap_or(true);
    let too_old = labels
        .get(LABEL_STARTED)
        .and_then(|s| s.parse::<u64>().ok())
        .map(|s| unix_now().saturating_sub(s) > MAX_AGE.as_secs())
        .unwrap_or(true);
    pid_gone || too_old
}

/// Removes labelled containers and networks whose process is gone or that are older than a day (`MAX_AGE`)
/// (leftovers of a SIGKILLed or OOM-killed run). Never touches this process's own resources.
pub async fn sweep_leftovers(docker: &Docker) -> Result<Sweep, DockerError> {
    remove_labelled(docker, None).await
}

/// Sweeps leftovers once per process (the first stack start does it), logging what it removed.
pub(crate) async fn sweep_once(docker: &Docker) {
    static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    SWEPT
        .get_or_init(|| async {
            match sweep_leftovers(docker).await {
                Ok(s) if s.containers.is_empty() && s.networks.is_empty() => {}
                Ok(s) => tracing::warn!(
                    "removed leftovers of killed runs: containers {:?}, networks {:?}",
                    s.containers,
                    s.networks
                ),
                Err(e) => tracing::warn!("could not sweep leftovers: {e}"),
            }
        })
        .await;
}

/// Removes every resource a `--keep-stack` run left (`jitsi-harness clean --kept`).
pub async fn remove_kept(docker: &Docker) -> Result<Sweep, DockerError> {
    remove_labelled_where(docker, |labels| labels.contains_key(LABEL_KEEP)).await
}

/// Removes every container and network of run `run` (used on Ctrl-C and by `jitsi-harness clean`).
pub(crate) async fn remove_run(docker: &Docker, run: &str) -> Result<Sweep, DockerError> {
    remove_labelled(docker, Some(run)).await
}

async fn remove_labelled(docker: &Docker, only_run: Option<&str>) -> Result<Sweep, DockerError> {
    remove_labelled_where(docker, |labels| is_leftover(labels, only_run)).await
}

async fn remove_labelled_where(
    docker: &Docker,
    select: impl Fn(&HashMap<String, String>) -> bool,
) -> Result<Sweep, DockerError> {
    let filters: HashMap<&str, Vec<&str>> = HashMap::from([("label", vec![LABEL_RUN])]);
    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|source| DockerError::Api {
            op: "list containers".into(),
            source,
        })?;
    // A network belongs with its stack's containers: one whose stack has kept containers counts as kept
    // too, even without the keep label itself (earlier builds left kept networks without it; such
    // a network cannot be removed while its containers run, and trying cost every sweep 5 s).
    let kept_stacks: HashSet<(String, String)> = containers
        .iter()
        .filter_map(|c| c.labels.as_ref())
        .filter(|l| l.contains_key(LABEL_KEEP))
        .filter_map(|l| Some((l.get(LABEL_RUN)?.clone(), l.get(LABEL_STACK)?.clone())))
        .collect();
    let mut sweep = Sweep::default();
    let mut first_error = None;
    for c in containers {
        let labels = c.labels.unwrap_or_default();
        if !select(&labels) {
            continue;
        }
        let Some(id) = c.id else { continue };
        let name = c
            .names
            .and_then(|n| n.first().cloned())
            .unwrap_or_else(|| id.clone());
        match docker
            .remove_container(
                &id,
                Some(
                    RemoveContainerOptionsBuilder::new()
                        .force(true)
                        .v(true)
                        .build(),
                ),
            )
            .await
        {
            Ok(()) => sweep
                .containers
                .push(name.trim_start_matches('/').to_owned()),
            Err(testcontainers::bollard::errors::Error::DockerResponseServerError {
                status_code: 404 | 409,
                ..
            }) => {}
            Err(source) => {
                first_error.get_or_insert(DockerError::Api {
                    op: format!("remove container {name}"),
                    source,
                });
            }
        }
    }
    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .map_err(|source| DockerError::Api {
            op: "list networks".into(),
            source,
        })?;
    for n in networks {
        let mut labels = n.labels.unwrap_or_default();
        let stack_of = |l: &HashMap<String, String>| {
            Some((l.get(LABEL_RUN)?.clone(), l.get(LABEL_STACK)?.clone()))
        };
        if stack_of(&labels).is_some_and(|s| kept_stacks.contains(&s)) {
            labels.insert(LABEL_KEEP.to_owned(), "1".to_owned());
        }
        if !select(&labels) {
            continue;
        }
        let Some(name) = n.name else { continue };
        match remove_network_retrying(docker, &name).await {
            Ok(()) => sweep.networks.push(name),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    // After the containers: a volume in use cannot be removed. Removing a container with `v` already
    // removed its anonymous volumes; this finds those whose container went another way.
    let volumes = docker
        .list_volumes(Some(
            ListVolumesOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .map_err(|source| DockerError::Api {
            op: "list volumes".into(),
            source,
        });
    let volumes = match volumes {
        Ok(v) => v,
        Err(e) => {
            first_error.get_or_insert(e);
            Default::default()
        }
    };
    for v in volumes.volumes.unwrap_or_default() {
        if !select(&v.labels) {
            continue;
        }
        match docker
            .remove_volume(
                &v.name,
                Some(RemoveVolumeOptionsBuilder::new().force(true).build()),
            )
            .await
        {
            Ok(()) => sweep.volumes.push(v.name),
            Err(testcontainers::bollard::errors::Error::DockerResponseServerError {
                status_code: 404 | 409,
                ..
            }) => {}
            Err(source) => {
                first_error.get_or_insert(DockerError::Api {
                    op: format!("remove volume {}", v.name),
                    source,
                });
            }
        }
    }
    // One resource that cannot go must not keep the others: everything was tried before failing.
    match first_error {
        Some(e) => Err(e),
        None => Ok(sweep),
    }
}

/// Where a stack writes its container logs: `<artifacts>/<stack dir>/<container>.log`.
/// Built by [`crate::paths::join`]; a container name that is not a plain file name (never the case: the
/// backends name their containers) falls back to `container.log`.
pub(crate) fn log_path(dir: &Path, container: &str) -> PathBuf {
    crate::paths::join(dir, &[&format!("{container}.log")])
        .unwrap_or_else(|_| dir.join("container.log"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_run_is_never_a_leftover() {
        let labels: HashMap<String, String> = run_labels("x", false).into_iter().collect();
        assert!(!is_leftover(&labels, None));
        assert!(is_leftover(&labels, Some(run_id())));
    }

    #[test]
    fn dead_process_or_old_run_is_a_leftover() {
        let mut labels: HashMap<String, String> = run_labels("x", false).into_iter().collect();
        labels.insert(LABEL_RUN.into(), "other".into());
        // Our own pid is alive and the run is fresh: kept.
        assert!(!is_leftover(&labels, None));
        labels.insert(LABEL_PID.into(), u32::MAX.to_string());
        assert!(is_leftover(&labels, None));
        // Another machine's or container's dead-looking pid is not ours to judge: only age counts.
        labels.insert(LABEL_PIDNS.into(), "elsewhere/pid:[1]".into());
        assert!(!is_leftover(&labels, None));
        labels.insert(LABEL_PIDNS.into(), pid_namespace().into());
        labels.insert(LABEL_PID.into(), std::process::id().to_string());
        labels.insert(LABEL_STARTED.into(), "1".into());
        assert!(is_leftover(&labels, None));
        // Kept stacks survive the automatic sweep.
        labels.insert(LABEL_KEEP.into(), "1".into());
        assert!(!is_leftover(&labels, None));
        // Unlabelled resources are never ours.
        assert!(!is_leftover(&HashMap::new(), None));
    }

    #[test]
    fn a_kept_stack_is_labelled_kept_on_every_resource() {
        let kept: HashMap<String, String> = run_labels("x", true).into_iter().collect();
        assert_eq!(kept.get(LABEL_KEEP).map(String::as_str), Some("1"));
        let plain: HashMap<String, String> = run_labels("x", false).into_iter().collect();
        assert!(!plain.contains_key(LABEL_KEEP));
    }

    #[test]
    fn log_tail_keeps_the_last_lines() {
        let tail = LogTail::default();
        for i in 0..100 {
            tail.push(format!("line {i}"));
        }
        assert_eq!(tail.last(2), "line 98\nline 99");
        let kept = tail.last(100);
        assert!(kept.starts_with("line 60\n"), "{kept}");
    }
}
