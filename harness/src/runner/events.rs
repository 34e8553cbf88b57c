//! What the runner reports while it works. The runner never prints: progress lines, the verdict table,
//! JSON and JUnit are consumers of these events (nextest's reporter design).

use std::sync::Arc;
use std::time::Duration;

use crate::stack::StackTarget;
use crate::timeline::StepRecord;

use super::matrix::ScenarioResult;

/// One thing that happened during a run.
#[derive(Debug)]
pub enum RunEvent<'a> {
    StackStarting {
        target: &'a StackTarget,
        variant: &'a str,
    },
    StackReady {
        target: &'a StackTarget,
        variant: &'a str,
        took: Duration,
    },
    StackFailed {
        target: &'a StackTarget,
        variant: &'a str,
        error: &'a str,
    },
    /// A free-form line from a stack (image pulls, readiness).
    StackProgress {
        line: &'a str,
    },
    ScenarioStarted {
        scenario: &'a str,
        variant: &'a str,
        target: &'a StackTarget,
    },
    StepFinished {
        scenario: &'a str,
        variant: &'a str,
        target: &'a StackTarget,
        record: &'a StepRecord,
    },
    ScenarioFinished {
        result: &'a ScenarioResult,
    },
    /// A signal arrived; stacks are being closed.
    Cancelling,
}

/// A consumer of run events.
pub type Reporter = Arc<dyn Fn(&RunEvent<'_>) + Send + Sync>;
