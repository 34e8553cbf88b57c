//! Watching a running stack's containers, and breaking them on purpose.
//!
//! [`ContainerWatch`] follows the engine's event stream (`GET /events`, filtered to the stack's container
//! ids) and hands out what matters to a run: a container that exited, restarted, was paused or ran out of
//! memory, named by its service (`prosody`, `focus`, `jicofo`, …). The runner uses it to name a fault by its
//! cause instead of by its symptom (a participant's lost connection, seconds later).
//!
//! [`Fault`] is what a scenario step can do to a service on purpose (`restart`, `stop`, `pause`); the
//! backends carry it out with [`inject`] and say which services it touched, so the runner knows which
//! events it asked for.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use testcontainers::bollard::query_parameters::{
    EventsOptions, RestartContainerOptions, StopContainerOptions,
};
use testcontainers::bollard::Docker;
use tokio::sync::mpsc;

/// One container of a running stack, by the service it plays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceContainer {
    /// The service, as scenarios name it: `prosody`, `focus` (fixture); `prosody`, `jicofo`, `jvb`, `web`.
    pub service: String,
    /// The container's name.
    pub name: String,
    /// The container's id.
    pub id: String,
}

/// What happened to a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContainerChange {
    /// It exited, with this code (137: killed by SIGKILL, 143: SIGTERM).
    Exited {
        /// The exit code, when the engine gave one.
        code: Option<i64>,
    },
    /// It was restarted.
    Restarted,
    /// It was paused (its processes are frozen; connections go silent).
    Paused,
    /// The kernel killed it for lack of memory.
    OutOfMemory,
}

/// A change of one of the stack's containers, as the engine reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerEvent {
    /// The service (`prosody`).
    pub service: String,
    /// The container's name.
    pub container: String,
    /// What happened.
    pub change: ContainerChange,
    /// When, by the engine's clock.
    pub at: SystemTime,
}

impl fmt::Display for ContainerEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let service = &self.service;
        match &self.change {
            ContainerChange::Exited { code: Some(code) } => write!(f, "{service} exited ({code})"),
            ContainerChange::Exited { code: None } => write!(f, "{service} exited"),
            ContainerChange::Restarted => write!(f, "{service} restarted"),
            ContainerChange::Paused => write!(f, "{service} was paused"),
            ContainerChange::OutOfMemory => write!(f, "{service} ran out of memory"),
        }
    }
}

impl ContainerEvent {
    /// Maps one engine event of `containers`; `None` for actions that do not interrupt a service
    /// (`start`, `unpause`, `exec_*`, …) and for containers not watched. `kill` is not reported itself:
    /// a container that dies of the signal reports `die` next.
    pub fn from_engine(
        message: &testcontainers::bollard::models::EventMessage,
        containers: &[ServiceContainer],
    ) -> Option<ContainerEvent> {
        let actor = message.actor.as_ref()?;
        let id = actor.id.as_deref()?;
        let container = containers.iter().find(|c| c.id == id)?;
        let attributes = actor.attributes.clone().unwrap_or_default();
        let change = match message.action.as_deref()? {
            "die" => ContainerChange::Exited {
                code: attributes.get("exitCode").and_then(|c| c.parse().ok()),
            },
            "restart" => ContainerChange::Restarted,
            "pause" => ContainerChange::Paused,
            "oom" => ContainerChange::OutOfMemory,
            _ => return None,
        };
        let at = match (message.time_nano, message.time) {
            (Some(nanos), _) if nanos > 0 => UNIX_EPOCH + Duration::from_nanos(nanos as u64),
            (_, Some(secs)) if secs > 0 => UNIX_EPOCH + Duration::from_secs(secs as u64),
            _ => SystemTime::now(),
        };
        Some(ContainerEvent {
            service: container.service.clone(),
            container: container.name.clone(),
            change,
            at,
        })
    }
}

/// The changes of a stack's containers, as they happen. Dropping it ends the engine subscription.
#[derive(Debug)]
pub struct ContainerWatch {
    events: Option<mpsc::UnboundedReceiver<ContainerEvent>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ContainerWatch {
    /// A watch that never reports anything (a stack without containers: `external:`).
    pub fn none() -> Self {
        ContainerWatch {
            events: None,
            task: None,
        }
    }

    /// Follows the engine's events for `containers`, from now on. The subscription asks for events
    /// since this second, so one that happens while the stream is being set up is not lost.
    pub fn follow(docker: Docker, containers: Vec<ServiceContainer>) -> Self {
        if containers.is_empty() {
            return ContainerWatch::none();
        }
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut filters = HashMap::new();
        filters.insert("type".to_owned(), vec!["container".to_owned()]);
        filters.insert(
            "container".to_owned(),
            containers.iter().map(|c| c.id.clone()).collect(),
        );
        let options = EventsOptions {
            since: Some(since.to_string()),
            until: None,
            filters: Some(filters),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut stream = docker.events(Some(options));
            while let Some(message) = stream.next().await {
                match message {
                    Ok(message) => {
                        if let Some(event) = ContainerEvent::from_engine(&message, &containers) {
                            tracing::debug!("container event: {event}");
                            if tx.send(event).is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!("the engine's event stream failed: {e}");
                        return;
                    }
                }
            }
        });
        ContainerWatch {
            events: Some(rx),
            task: Some(task),
        }
    }

    /// A change already delivered, without waiting (`None`: none yet).
    pub fn try_next(&mut self) -> Option<ContainerEvent> {
        self.events.as_mut()?.try_recv().ok()
    }

    /// The next change; pending for ever when nothing is watched or the stream has ended.
    pub async fn next(&mut self) -> ContainerEvent {
        if let Some(events) = &mut self.events {
            if let Some(event) = events.recv().await {
                return event;
            }
            self.events = None;
        }
        std::future::pending().await
    }
}

impl Drop for ContainerWatch {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// What a scenario step does to a service on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Stop and start it again (`docker restart`, 2 s grace before SIGKILL).
    Restart,
    /// Stop it for the rest of the run (`docker stop`, 2 s grace before SIGKILL).
    Stop,
    /// Freeze it for this long, then thaw it (`docker pause` / `unpause`).
    Pause(Duration),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Restart => f.write_str("restart"),
            Fault::Stop => f.write_str("stop"),
            Fault::Pause(d) => write!(f, "pause for {} ms", d.as_millis()),
        }
    }
}

/// Why a fault could not be injected.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// The stack has no such service, or cannot break it (an external deployment).
    #[error("{stack} cannot {fault} `{service}`: {reason}")]
    Unsupported {
        /// The target, e.g. `external:staging`.
        stack: String,
        /// The service asked for.
        service: String,
        /// The fault.
        fault: String,
        /// Why not, with the services it has.
        reason: String,
    },
    /// The engine refused.
    #[error("docker {op} failed: {source}")]
    Engine {
        /// e.g. `restart jitsi-harness-…-prosody`.
        op: String,
        /// The engine's error.
        #[source]
        source: testcontainers::bollard::errors::Error,
    },
    /// The service did not come back after a restart.
    #[error("{service} did not come back within {} s after the restart: {why}", waited.as_secs())]
    NotBack {
        /// The service.
        service: String,
        /// How long it was given.
        waited: Duration,
        /// What was last seen.
        why: String,
    },
}

/// Seconds a stopped or restarted container gets to exit on SIGTERM before SIGKILL.
const STOP_GRACE_SECS: i32 = 2;

/// Carries out `fault` on `container` through the engine; returns when the restart, stop or pause and
/// thaw are done (not when the service is ready again: the backends wait for that).
pub async fn inject(
    docker: &Docker,
    container: &ServiceContainer,
    fault: Fault,
) -> Result<(), FaultError> {
    let id = container.id.as_str();
    let engine = |op: &str| {
        let op = format!("{op} {}", container.name);
        move |source| FaultError::Engine { op, source }
    };
    match fault {
        Fault::Restart => docker
            .restart_container(
                id,
                Some(RestartContainerOptions {
                    signal: None,
                    t: Some(STOP_GRACE_SECS),
                }),
            )
            .await
            .map_err(engine("restart")),
        Fault::Stop => docker
            .stop_container(
                id,
                Some(StopContainerOptions {
                    signal: None,
                    t: Some(STOP_GRACE_SECS),
                }),
            )
            .await
            .map_err(engine("stop")),
        Fault::Pause(d) => {
            docker.pause_container(id).await.map_err(engine("pause"))?;
            tokio::time::sleep(d).await;
            docker
                .unpause_container(id)
                .await
                .map_err(engine("unpause"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testcontainers::bollard::models::{EventActor, EventMessage};

    fn message(action: &str, id: &str, exit: Option<&str>) -> EventMessage {
        let mut attributes = HashMap::new();
        if let Some(code) = exit {
            attributes.insert("exitCode".to_owned(), code.to_owned());
        }
        EventMessage {
            action: Some(action.into()),
            actor: Some(EventActor {
                id: Some(id.into()),
                attributes: Some(attributes),
            }),
            time_nano: Some(1_700_000_000_000_000_000),
            ..Default::default()
        }
    }

    #[test]
    fn engine_events_are_named_by_service() {
        let containers = [ServiceContainer {
            service: "prosody".into(),
            name: "jh-prosody".into(),
            id: "abc".into(),
        }];
        let died = ContainerEvent::from_engine(&message("die", "abc", Some("137")), &containers);
        assert_eq!(
            died.as_ref().map(ToString::to_string).as_deref(),
            Some("prosody exited (137)")
        );
        let paused = ContainerEvent::from_engine(&message("pause", "abc", None), &containers);
        assert_eq!(
            paused.map(|e| e.to_string()).as_deref(),
            Some("prosody was paused")
        );
        assert_eq!(
            ContainerEvent::from_engine(&message("kill", "abc", None), &containers),
            None
        );
        assert_eq!(
            ContainerEvent::from_engine(&message("die", "other", Some("1")), &containers),
            None
        );
    }
}
