//! Progress while a run goes: one line per stack event and per step on stderr, and a bar on a terminal.

use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};

use crate::runner::events::{Reporter, RunEvent};
use crate::runner::matrix::Verdict;

/// Makes the reporter the binary installs: `total` scenario runs are expected.
pub fn reporter(total: u64, verbose: bool) -> (Reporter, ProgressBar) {
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {pos}/{len} scenario runs {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    } else {
        ProgressBar::hidden()
    };
    let b = bar.clone();
    let print = move |line: String| {
        if b.is_hidden() {
            eprintln!("{line}");
        } else {
            b.println(line);
        }
    };
    let b = bar.clone();
    let reporter: Reporter = Arc::new(move |event: &RunEvent<'_>| match event {
        RunEvent::StackStarting { target, variant } => {
            print(format!("[{target} {variant}] starting stack"))
        }
        RunEvent::StackReady {
            target,
            variant,
            took,
        } => print(format!(
            "[{target} {variant}] stack ready in {:.1} s",
            took.as_secs_f64()
        )),
        RunEvent::StackFailed {
            target,
            variant,
            error,
        } => print(format!(
            "[{target} {variant}] stack FAILED: {}",
            error.lines().next().unwrap_or("")
        )),
        RunEvent::StackProgress { line } => {
            if verbose {
                print(format!("  {line}"));
            }
        }
        RunEvent::ScenarioStarted { .. } => {}
        RunEvent::StepFinished {
            scenario,
            variant,
            target,
            record,
        } => {
            if verbose {
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
                print(format!(
                    "[{target} {variant}] {scenario} {}. {} -> moderators: {moderators}{}",
                    record.index + 1,
                    record.label,
                    if record.converged {
                        ""
                    } else {
                        " (not converged)"
                    }
                ));
            }
        }
        RunEvent::ScenarioFinished { result } => {
            b.inc(1);
            let mark = match result.verdict {
                Verdict::Same => "same",
                Verdict::Changed => "CHANGED",
                Verdict::New => "new",
                Verdict::Failed => "FAILED",
            };
            print(format!(
                "[{} {}] {} {mark} ({:.1} s)",
                result.target,
                result.variant,
                result.scenario,
                result.took.as_secs_f64()
            ));
        }
        RunEvent::Cancelling => print("interrupted: closing stacks".into()),
    });
    (reporter, bar)
}
