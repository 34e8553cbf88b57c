//! Documented exit codes (STYLE.md 2.3), echoed in `--help` and the README.

/// Every timeline equals its golden snapshot.
pub const SAME: u8 = 0;
/// At least one timeline changed or has no golden snapshot yet.
pub const CHANGED: u8 = 1;
/// Bad input: arguments, a scenario or variants file, an unknown stack.
pub const BAD_INPUT: u8 = 2;
/// Infrastructure failure: Docker, a stack that did not start, a participant that failed.
pub const INFRASTRUCTURE: u8 = 3;
/// Interrupted (Ctrl-C / SIGTERM); containers were removed.
pub const INTERRUPTED: u8 = harness::runner::cancel::INTERRUPTED;

pub const HELP: &str = "Exit codes: 0 every timeline same as its snapshot; 1 a timeline changed or is new; \
2 bad input; 3 infrastructure failure (Docker, stack start, a participant failed); 130 interrupted.";
