//! What the runner reports while it works. The runner never prints: progress lines, the verdict table,
//! JSON and JUnit are consumers of these events (as in nextest-rs/nextest
//! `nextest-runner/src/reporter/events.rs`). Events depend only on the outcome, the timeline and the
//! stack target.

use std::sync::Arc;
use std::time::Duration;

use crate::stack::StackTarget;
use crate::timeline::StepRecord;

use super::outcome::ScenarioResult;

/// One thing that happened during a run.
#[derive(Debug)]
pub enum RunEvent<'a> {
    /// A stack for `variant` is being started.
    StackStarting {
        /// The stack's target (local Docker or a remote deployment).
        target: &'a StackTarget,
        /// The stack variant's name.
        variant: &'a str,
    },
    /// The stack answers; `took` since it started.
    StackReady {
        /// The stack's target (local Docker or a remote deployment).
        target: &'a StackTarget,
        /// The stack variant's name.
        variant: &'a str,
        /// How long the start took.
        took: Duration,
    },
    /// The stack did not start; every scenario of its group fails.
    StackFailed {
        /// The stack's target (local Docker or a remote deployment).
        target: &'a StackTarget,
        /// The stack variant's name.
        variant: &'a str,
        /// Why it did not start.
        error: &'a str,
    },
    /// A free-form line from a stack (image pulls, readiness).
    StackProgress {
        /// The line, as the stack printed it.
        line: &'a str,
    },
    /// A scenario began on a started stack.
    ScenarioStarted {
        /// The scenario's name.
        scenario: &'a str,
        /// The stack variant's name.
        variant: &'a str,
        /// The stack's target (local Docker or a remote deployment).
        target: &'a StackTarget,
    },
    /// A step settled (or ran out of time) and was recorded.
    StepFinished {
        /// The scenario's name.
        scenario: &'a str,
        /// The stack variant's name.
        variant: &'a str,
        /// The stack's target (local Docker or a remote deployment).
        target: &'a StackTarget,
        /// What the step saw.
        record: &'a StepRecord,
    },
    /// A scenario ended; its outcome is judged.
    ScenarioFinished {
        /// The scenario's judged result.
        result: &'a ScenarioResult,
    },
    /// A signal arrived: the run is cancelled and stacks are being closed (a second signal removes
    /// everything at once).
    Cancelling,
}

/// A consumer of run events.
pub type Reporter = Arc<dyn Fn(&RunEvent<'_>) + Send + Sync>;
