//! Documented exit codes, echoed in `--help` and the README, and how a run's results map to one.

use harness::runner::outcome::{ScenarioResult, Verdict};

/// Every timeline equals its golden snapshot and every expectation held.
pub const SAME: u8 = 0;
/// At least one timeline changed, has no golden snapshot yet or is flaky (`--repeat`), or an expectation
/// was not met.
pub const CHANGED: u8 = 1;
/// Bad input: arguments, a scenario or variants file, an unknown stack.
pub const BAD_INPUT: u8 = 2;
/// Infrastructure failure: Docker, a stack that did not start, a participant that failed.
pub const INFRASTRUCTURE: u8 = 3;
/// Interrupted (Ctrl-C / SIGTERM); containers were removed.
pub const INTERRUPTED: u8 = harness::runner::cancel::INTERRUPTED;

/// The exit codes, for `--help`.
pub const HELP: &str = "Exit codes: 0 every timeline same as its snapshot; 1 a timeline changed or is new, \
or an expectation of the scenario file was not met; 2 bad input; 3 infrastructure failure (Docker, stack \
start, a participant failed); 130 interrupted.";

/// A failure already explained to the user, with its exit code.
pub struct Exit(pub u8);

/// Prints `e` (with its source snippet and hints) and returns the exit for `code`.
pub fn report(e: miette::Report, code: u8) -> Exit {
    eprintln!("{e:?}");
    Exit(code)
}

/// The exit code of a finished run: a failure outweighs a changed, new or unmet result.
pub fn of(results: &[ScenarioResult]) -> u8 {
    let any = |v: Verdict| results.iter().any(|r| r.verdict() == v);
    if any(Verdict::Failed) {
        INFRASTRUCTURE
    } else if any(Verdict::Changed)
        || any(Verdict::New)
        || any(Verdict::Unmet)
        || any(Verdict::Flaky)
    {
        CHANGED
    } else {
        SAME
    }
}
