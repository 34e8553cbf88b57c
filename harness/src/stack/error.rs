//! [`StackError`]: why a stack could not be started, reached or closed, for every backend.

use super::docker;

/// Why a stack could not be started, reached or closed.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// The Docker engine is unreachable, an image is missing, or an engine call failed.
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
