//! The progress display of `run`: each run event's line (rendered by `harness::report::progress`) on
//! stderr, above a bar when stderr is a terminal.

use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};

use harness::report::progress::line;
use harness::runner::events::{Reporter, RunEvent};

/// Makes the reporter `run` installs: `total` scenario runs are expected.
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
    let reporter: Reporter = Arc::new(move |event: &RunEvent<'_>| {
        if matches!(event, RunEvent::ScenarioFinished { .. }) {
            b.inc(1);
        }
        if let Some(line) = line(event, verbose) {
            if b.is_hidden() {
                eprintln!("{line}");
            } else {
                b.println(line);
            }
        }
    });
    (reporter, bar)
}
