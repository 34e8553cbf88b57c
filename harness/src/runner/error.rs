//! Why a scenario could not be run to its end: where it stopped (the step), who failed (if a
//! participant did), and what happened. A changed timeline is not an error.

use std::fmt;

use crate::participant::{ParticipantError, SetupError};
use crate::scenario::{Scenario, Step};

/// The step a run stopped at, as the scenario file names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepRef {
    /// 0-based index in the scenario.
    pub index: usize,
    /// `join alice`, `leave bob`, …
    pub label: String,
    /// `scenarios/x.toml:14`.
    pub location: String,
}

impl StepRef {
    /// `step` of `scenario`.
    pub fn new(scenario: &Scenario, step: &Step) -> Self {
        StepRef {
            index: step.index,
            label: step.label(),
            location: scenario.location(step),
        }
    }
}

impl fmt::Display for StepRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "step {} `{}` ({})",
            self.index + 1,
            self.label,
            self.location
        )
    }
}

/// What went wrong.
#[derive(Debug)]
pub enum RunErrorKind {
    /// A participant failed (not a refusal by the deployment: those are observations).
    Participant(Box<ParticipantError>),
    /// A participant could not be set up (token, guest domain, web page).
    Setup(SetupError),
    /// A participant's connection died during the step.
    ConnectionLost {
        /// The participant's own account of it.
        reason: String,
    },
    /// The stack cannot do what the step asks.
    Unsupported {
        /// What, in words.
        what: String,
    },
    /// A container of the stack exited, restarted or was paused during the step, and the scenario did
    /// not ask for it: the cause of whatever the participants saw.
    ContainerFault {
        /// The service (`prosody`).
        service: String,
        /// What happened, e.g. `prosody exited (137)`.
        what: String,
        /// The last lines of the service's output.
        log_tail: String,
    },
    /// A fault step (`restart`, `stop`, `pause`) could not be carried out.
    Fault(crate::stack::FaultError),
    /// The run was cancelled (a signal).
    Cancelled,
}

/// Why a scenario could not be run to its end.
#[derive(Debug)]
pub struct RunError {
    /// The step it stopped at.
    pub at: StepRef,
    /// The participant who failed, when one did.
    pub who: Option<String>,
    /// What happened.
    pub kind: RunErrorKind,
}

impl RunError {
    /// A failure of `kind` at `at`, by `who`.
    pub fn new(at: StepRef, who: Option<&str>, kind: RunErrorKind) -> Self {
        RunError {
            at,
            who: who.map(str::to_owned),
            kind,
        }
    }

    /// Whether the harness or its infrastructure failed (as opposed to Jitsi behaving differently).
    pub fn is_infrastructure(&self) -> bool {
        !self.is_cancelled()
    }

    /// Whether the failure is a participant's that a container fault may explain (a lost connection, a
    /// failed request).
    pub fn may_be_symptom(&self) -> bool {
        matches!(
            self.kind,
            RunErrorKind::ConnectionLost { .. } | RunErrorKind::Participant(_)
        )
    }

    /// Whether the run was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.kind, RunErrorKind::Cancelled)
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = self.who.as_deref().unwrap_or("a participant");
        let at = &self.at;
        match &self.kind {
            RunErrorKind::Participant(e) => write!(f, "{at}: {who} failed: {e}"),
            RunErrorKind::Setup(e) => write!(f, "{at}: {e}"),
            RunErrorKind::ConnectionLost { reason } => {
                write!(f, "{at}: {who}'s connection died: {reason}")
            }
            RunErrorKind::Unsupported { what } => write!(f, "{at}: {what}"),
            RunErrorKind::ContainerFault {
                service,
                what,
                log_tail,
            } => {
                write!(f, "{what} during {at}")?;
                if log_tail.trim().is_empty() {
                    write!(f, "; {service} logged nothing")
                } else {
                    write!(
                        f,
                        "; last lines of {service}'s log:\n{}",
                        log_tail.trim_end()
                    )
                }
            }
            RunErrorKind::Fault(e) => write!(f, "{at}: {e}"),
            RunErrorKind::Cancelled => f.write_str("interrupted"),
        }
    }
}

impl std::error::Error for RunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            RunErrorKind::Participant(e) => Some(e.as_ref()),
            RunErrorKind::Setup(e) => Some(e),
            RunErrorKind::Fault(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::participant::BotError;

    fn at() -> StepRef {
        StepRef {
            index: 2,
            label: "leave alice".into(),
            location: "scenarios/x.toml:14".into(),
        }
    }

    #[test]
    fn messages_name_the_step_the_participant_and_the_cause() {
        let lost = RunError::new(
            at(),
            Some("bob"),
            RunErrorKind::ConnectionLost {
                reason: "reset".into(),
            },
        );
        assert_eq!(
            lost.to_string(),
            "step 3 `leave alice` (scenarios/x.toml:14): bob's connection died: reset"
        );
        assert!(lost.is_infrastructure());
        let failed = RunError::new(
            at(),
            Some("alice"),
            RunErrorKind::Participant(Box::new(BotError::Gone { reason: None }.into())),
        );
        assert_eq!(
            failed.to_string(),
            "step 3 `leave alice` (scenarios/x.toml:14): alice failed: the bot is no longer connected"
        );
        assert!(std::error::Error::source(&failed).is_some());
        let setup = RunError::new(
            at(),
            Some("eve"),
            RunErrorKind::Setup(SetupError::NoGuests { name: "eve".into() }),
        );
        assert!(setup
            .to_string()
            .starts_with("step 3 `leave alice` (scenarios/x.toml:14): eve joins as a guest"));
        let fault = RunError::new(
            at(),
            None,
            RunErrorKind::ContainerFault {
                service: "prosody".into(),
                what: "prosody exited (137)".into(),
                log_tail: "c2s closed\n".into(),
            },
        );
        assert_eq!(
            fault.to_string(),
            "prosody exited (137) during step 3 `leave alice` (scenarios/x.toml:14); \
             last lines of prosody's log:\nc2s closed"
        );
        assert!(fault.is_infrastructure());
        let cancelled = RunError::new(at(), None, RunErrorKind::Cancelled);
        assert_eq!(cancelled.to_string(), "interrupted");
        assert!(!cancelled.is_infrastructure() && cancelled.is_cancelled());
    }
}
