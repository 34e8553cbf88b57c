//! `jitsi-harness report merge FILE...`: the JSON documents of sharded runs as one run — the same verdict
//! (text or JSON), reports and exit code as an unsharded run of the same matrix.

use harness::report;

use crate::args::{Format, ReportCommand};
use crate::exit::{self, Exit};

use super::run::{check_report_paths, write_reports};

/// Runs a `report` subcommand and returns its exit code.
pub fn report(command: &ReportCommand) -> Result<u8, Exit> {
    match command {
        ReportCommand::Merge {
            files,
            format,
            reports,
        } => {
            check_report_paths(reports)?;
            let (stacks, results) = report::merge::merge(files).map_err(|e| {
                eprintln!("jitsi-harness: {e}");
                Exit(exit::BAD_INPUT)
            })?;
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&report::json(&results, &stacks))
                        .unwrap_or_default()
                ),
                Format::Text => print!("{}", report::text(&results, &stacks)),
            }
            let mut code = exit::of(&results);
            if let Err(e) = write_reports(reports, &results, &stacks) {
                eprintln!("jitsi-harness: {e}");
                code = code.max(exit::INFRASTRUCTURE);
            }
            Ok(code)
        }
    }
}
