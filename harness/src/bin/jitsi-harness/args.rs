//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Upgrade regression harness for Jitsi Meet moderator behaviour: runs join/leave scenarios against
/// versioned stacks, records who held moderator after each step, and compares with golden snapshots.
#[derive(Parser, Debug)]
#[command(name = "jitsi-harness", version, after_help = super::exit::HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Folder with the scenario files and variants.toml (default: ./scenarios, or the nearest parent's).
    #[arg(long, global = true, env = "JITSI_HARNESS_SCENARIOS")]
    pub scenarios: Option<PathBuf>,
}

/// The longest `--startup-timeout`, in seconds: an hour is more than any stack needs, even pulling images.
pub const MAX_STARTUP_SECS: u64 = 3600;
/// The longest `--settle-ms`: a minute; a step's deadline must be longer still.
pub const MAX_SETTLE_MS: u64 = 60_000;

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run scenarios on stacks and compare their timelines with the golden snapshots.
    Run(RunArgs),
    /// List scenarios and the variants they run under.
    List {
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Validate scenario files (all of them by default).
    Check {
        /// Scenario files to check.
        files: Vec<PathBuf>,
    },
    /// Print what a stack would start (containers, images, env, ports, waits), without Docker.
    Plan {
        /// e.g. jitsi:stable-11146 or fixture:13
        #[arg(long)]
        stack: String,
        /// A variant from variants.toml.
        #[arg(long)]
        variant: String,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// docker-jitsi-meet's stable releases (tag, date), newest first, from GitHub's releases API (cached for
    /// an hour; GITHUB_TOKEN raises the rate limit).
    Releases {
        /// Only releases newer than this tag, e.g. stable-11031.
        #[arg(long, conflicts_with = "new_since")]
        since: Option<String>,
        /// Only releases newer than the tag recorded in FILE (its first non-comment line): what a scheduled
        /// workflow has not tested yet.
        #[arg(long, value_name = "FILE")]
        new_since: Option<PathBuf>,
        /// Ask the API even if the cached list is fresh.
        #[arg(long)]
        refresh: bool,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Remove containers and networks left by killed runs (and, with --kept, by --keep-stack runs).
    Clean {
        #[arg(long)]
        kept: bool,
    },
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Stacks, comma-separated: fixture:0.12, fixture:13, jitsi:stable-NNNN[-N], jitsi:stable,
    /// jitsi:unstable[-YYYY-MM-DD], external:NAME.
    #[arg(long, value_delimiter = ',', default_value = "fixture:0.12,fixture:13")]
    pub stack: Vec<String>,
    /// Only scenarios whose name matches this glob.
    #[arg(long)]
    pub scenario: Option<String>,
    /// Leave the stacks running afterwards (prints how to reach and remove them).
    #[arg(long)]
    pub keep_stack: bool,
    /// Artifacts root; each run writes a folder inside (default: ./artifacts).
    #[arg(long, default_value = "artifacts")]
    pub artifacts: PathBuf,
    /// Golden snapshots root (default: snapshots/ next to the scenarios folder).
    #[arg(long)]
    pub snapshots: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Write changed and new timelines as the golden snapshots.
    #[arg(long)]
    pub accept: bool,
    /// Seconds a stack may take to become ready (1 to 3600).
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=MAX_STARTUP_SECS))]
    pub startup_timeout: u64,
    /// Milliseconds the room must stay unchanged before a step counts as settled (0 to 60000; shorter
    /// than every step's deadline).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(0..=MAX_SETTLE_MS))]
    pub settle_ms: u64,
    /// Stacks started at the same time.
    #[arg(long, default_value_t = 2)]
    pub parallel: usize,
    /// Print every step as it settles.
    #[arg(long, short)]
    pub verbose: bool,
}
