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
        /// The target, e.g. `fixture:13`.
        stack: String,
        /// The variant's name.
        variant: String,
        /// Which knob, and why not.
        reason: String,
    },
    /// A container did not become ready in time; carries the last lines of its log.
    #[error("{container} was not ready within {} s (waiting for {condition}); last log lines:\n{log_tail}", waited.as_secs())]
    NotReady {
        /// The container's name.
        container: String,
        /// How long it was given.
        waited: std::time::Duration,
        /// The readiness condition, with the last attempt or how the container ended.
        condition: String,
        /// The last lines of the container's output.
        log_tail: String,
    },
    /// A container could not be created or started.
    #[error("could not start {container}: {source}")]
    Start {
        /// The container's name.
        container: String,
        /// What testcontainers reported.
        #[source]
        source: testcontainers::TestcontainersError,
    },
    /// An image could not be pulled from any registry.
    #[error("could not pull `{image}` (tried {tried}); {hint}")]
    Pull {
        /// `repository:tag` in the release's registry.
        image: String,
        /// Each reference tried, with why it failed.
        tried: String,
        /// How to get the images onto this machine.
        hint: String,
    },
    /// Something the stack needs on this machine is missing (binary, config, key).
    #[error("{what}; {hint}")]
    Missing {
        /// What is missing.
        what: String,
        /// What to do about it.
        hint: String,
    },
    /// I/O on the artifacts folder.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}
