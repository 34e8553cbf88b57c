//! Progress while a run goes: the line each run event shows (one per stack event and per scenario, and
//! with `verbose` one per step). The binary writes them to stderr, above its progress bar on a terminal.

use crate::runner::events::RunEvent;
use crate::runner::outcome::Verdict;

/// What a cancelled run shows first (the signal handler reports it as [`RunEvent::Cancelling`]).
pub const CANCELLING: &str =
    "interrupted: closing stacks (press Ctrl-C again to remove containers immediately)";

/// The progress line of `event`, if it shows one; `verbose` adds stack chatter and every step.
pub fn line(event: &RunEvent<'_>, verbose: bool) -> Option<String> {
    match event {
        RunEvent::StackStarting { target, variant } => {
            Some(format!("[{target} {variant}] starting stack"))
        }
        RunEvent::StackReady {
            target,
            variant,
            took,
        } => Some(format!(
            "[{target} {variant}] stack ready in {:.1} s",
            took.as_secs_f64()
        )),
        RunEvent::StackFailed {
            target,
            variant,
            error,
        } => Some(format!(
            "[{target} {variant}] stack FAILED: {}",
            error.lines().next().unwrap_or("")
        )),
        // What `--keep-stack` left running, and how to reach it, shows whether verbose or not.
        RunEvent::StackProgress { line } if line.starts_with(crate::stack::KEPT_PREFIX) => {
            Some(format!("  {line}"))
        }
        RunEvent::StackProgress { line } => verbose.then(|| format!("  {line}")),
        RunEvent::ScenarioStarted { .. } => None,
        RunEvent::StepFinished {
            scenario,
            variant,
            target,
            record,
        } => verbose.then(|| {
            let moderators = record
                .moderators()
                .map(|m| {
                    if m.is_empty() {
                        "nobody".to_owned()
                    } else {
                        m.into_iter().collect::<Vec<_>>().join(", ")
                    }
                })
                .unwrap_or_else(|| "observers disagree".into());
            format!(
                "[{target} {variant}] {scenario} {}. {} -> moderators: {moderators}{}",
                record.index + 1,
                record.label,
                if record.converged {
                    ""
                } else {
                    " (not converged)"
                }
            )
        }),
        RunEvent::ScenarioFinished { result } => {
            let mark = match result.verdict() {
                Verdict::Same => "same",
                Verdict::Changed => "CHANGED",
                Verdict::New => "new",
                Verdict::Unmet => "UNMET",
                Verdict::Failed => "FAILED",
                Verdict::Flaky => "FLAKY",
                Verdict::Skipped => "skipped",
            };
            Some(format!(
                "[{} {}] {} {mark} ({:.1} s)",
                result.target,
                result.variant,
                result.scenario,
                result.took.as_secs_f64()
            ))
        }
        RunEvent::Cancelling => Some(format!("\n{CANCELLING}")),
    }
}
