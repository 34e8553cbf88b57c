//! The one way an integration trial is skipped (`harness = false` binaries, libtest-mimic): decided while
//! the binary lists its trials, with the reason, never at run time as a pass.
//!
//! A trial whose prerequisite is missing is listed as ignored, so nextest reports it as skipped (`SKIP`,
//! shown by the `ci` profile's `status-level = "skip"`); the reason is printed on stderr when the binary
//! lists its ignored trials (`<binary> --list --ignored`, which `./just test` runs after the suite to print
//! every skip with its reason). Where the prerequisite is required (CI, or an explicit variable), the
//! trial is not ignored but fails with the reason. Forced with `--run-ignored`, a skipped trial fails
//! with its reason too: it cannot pass without running.
#![allow(dead_code)]

use libtest_mimic::{Arguments, Failed, Trial};

/// Whether `CI` is set: a missing browser, Docker or fixture image then fails instead of skipping.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// `body` as a trial named `name`, or, when `missing` names an unmet prerequisite, a skipped trial with
/// that reason (a failing one when `required`).
pub fn trial(
    args: &Arguments,
    name: impl Into<String>,
    missing: Option<&str>,
    required: bool,
    body: impl FnOnce() -> Result<(), Failed> + Send + 'static,
) -> Trial {
    let name = name.into();
    match missing {
        None => Trial::test(name, body),
        Some(reason) if required => {
            let reason = format!("{reason} (required here: CI is set)");
            Trial::test(name, move || Err(Failed::from(reason)))
        }
        Some(reason) => {
            if args.list && args.ignored {
                eprintln!("{name}: skipped: {reason}");
            }
            let reason = format!("not runnable here: {reason}");
            Trial::test(name, move || Err(Failed::from(reason))).with_ignored_flag(true)
        }
    }
}
