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
        /// Take the images of `jitsi:` stacks from this registry prefix: PREFIX/<service>:<tag> (a mirror,
        /// a local registry, or the Jitsi-shaped local images `jitsi-harness.local/jitsi`).
        #[arg(long, env = "JITSI_HARNESS_REGISTRY", value_name = "PREFIX")]
        registry: Option<String>,
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
    /// Work with the JSON reports of runs.
    #[command(subcommand)]
    Report(ReportCommand),
    /// The first release whose timeline of one scenario differs from a good release's: a binary search
    /// over the known releases between --good and --bad, one stack at a time. Exit 0 found; 2 bad input or
    /// the same timeline on both ends (nothing to bisect); 3 a probe's stack or participant failed; 130
    /// interrupted.
    Bisect(BisectArgs),
    /// One scenario under every combination of variant knobs the stack's release can express: the
    /// combinations grouped by identical timeline, the knob values that decide each group, and the
    /// settings (docker-jitsi-meet env) that satisfy the scenario's expectations.
    Sweep(SweepArgs),
    /// Run one scenario and print its timeline with the cause of every owner/moderator change (jicofo's
    /// role manager, a participant's grant, a Prosody module, or unknown) and the evidence for it.
    Explain(ExplainArgs),
    /// Remove containers, networks, browser processes and their temp folders left by killed runs
    /// (and, with --kept, the stacks of --keep-stack runs).
    Clean {
        #[arg(long)]
        kept: bool,
    },
    /// Print a valid token (stdout only) for a room of a stack kept by `run --keep-stack`, to join the
    /// same live room by hand; `run --keep-stack` prints this command for each scenario's room.
    Token {
        /// The kept stack, e.g. fixture:13 or jitsi:stable-11146.
        #[arg(long)]
        stack: String,
        /// The variant it runs, when several stacks of that target are kept.
        #[arg(long)]
        variant: Option<String>,
        /// The room (node of the room JID), as `--keep-stack` printed it.
        #[arg(long)]
        room: String,
        /// The display name, and the token's user name.
        #[arg(long)]
        name: String,
        /// Add `context.user.moderator = true` (honoured only where a Prosody module reads it).
        #[arg(long)]
        moderator: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ReportCommand {
    /// Merge the JSON reports of sharded runs (`run --partition K/N --format json`) into the verdicts and
    /// reports of one unsharded run.
    Merge {
        /// The shards' JSON documents.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[command(flatten)]
        reports: ReportPaths,
    },
}

/// The report files a run (or a merge) writes besides its verdict.
#[derive(clap::Args, Debug, Default)]
pub struct ReportPaths {
    /// Also write the verdicts as JUnit XML to PATH (one testcase per scenario × variant × stack).
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Also write a Markdown summary to PATH (for $GITHUB_STEP_SUMMARY; kept under 1 MiB).
    #[arg(long, value_name = "PATH")]
    pub markdown: Option<PathBuf>,
    /// Also write a self-contained HTML report (DIR/index.html) with a timeline picture per scenario.
    #[arg(long, value_name = "DIR")]
    pub html: Option<PathBuf>,
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
    /// Leave the stacks running afterwards (prints how to reach and remove them, and per scenario its
    /// room and a command that mints a token for it).
    #[arg(long)]
    pub keep_stack: bool,
    /// Keep each scenario's last participants connected until Ctrl-C (exit 130; everything is cleaned
    /// up as always), so a person can join the same live room and look.
    #[arg(long)]
    pub hold: bool,
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
    /// Take the images of `jitsi:` stacks from this registry prefix: PREFIX/<service>:<tag> (a mirror, a
    /// local registry, or the Jitsi-shaped local images `jitsi-harness.local/jitsi`, whose results are
    /// snapshotted under snapshots/local-images/, never snapshots/jitsi/).
    #[arg(long, env = "JITSI_HARNESS_REGISTRY", value_name = "PREFIX")]
    pub registry: Option<String>,
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
    /// Run each timeline this many times; runs that differ make it `flaky` (with the differing runs).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub repeat: u16,
    /// Print every step as it settles.
    #[arg(long, short)]
    pub verbose: bool,
    #[command(flatten)]
    pub reports: ReportPaths,
    /// Run only shard K of N (1 ≤ K ≤ N) of the scenario × variant × stack matrix: its cells sorted,
    /// dealt round-robin, so N machines with 1/N … N/N together run it exactly once.
    #[arg(long, value_name = "K/N", value_parser = parse_partition)]
    pub partition: Option<(usize, usize)>,
}

/// How a sweep or an explain run starts its stacks (a subset of `run`'s options).
#[derive(clap::Args, Debug)]
pub struct StackOptions {
    /// Artifacts root; each run writes a folder inside (default: ./artifacts).
    #[arg(long, default_value = "artifacts")]
    pub artifacts: PathBuf,
    /// Take the images of `jitsi:` stacks from this registry prefix: PREFIX/<service>:<tag>.
    #[arg(long, env = "JITSI_HARNESS_REGISTRY", value_name = "PREFIX")]
    pub registry: Option<String>,
    /// Seconds a stack may take to become ready (1 to 3600).
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=MAX_STARTUP_SECS))]
    pub startup_timeout: u64,
    /// Milliseconds the room must stay unchanged before a step counts as settled (0 to 60000). Longer
    /// than `run`'s 300: a sweep runs stacks side by side, and a grant that comes late must not let a
    /// step settle on the state before it (jicofo authentication's grants to later joiners, seen
    /// 300+ ms after the join on a loaded 2-core machine).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(0..=MAX_SETTLE_MS))]
    pub settle_ms: u64,
    /// Stacks started at the same time.
    #[arg(long, default_value_t = 2)]
    pub parallel: usize,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Also write a self-contained HTML report (DIR/index.html).
    #[arg(long, value_name = "DIR")]
    pub html: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    /// The scenario (its file stem, e.g. first_joiner_moderator).
    #[arg(long)]
    pub scenario: String,
    /// Stacks, comma-separated (fixture:0.12, fixture:13, jitsi:stable-NNNN, …).
    #[arg(long, value_delimiter = ',', default_value = "fixture:0.12,fixture:13")]
    pub stack: Vec<String>,
    /// Knobs to vary, comma-separated: jicofo_auth, auto_owner, allow_empty_token, guests,
    /// token_affiliation, wait_for_host, lobby, anonymous_strict.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "jicofo_auth,auto_owner,allow_empty_token"
    )]
    pub knobs: Vec<String>,
    /// The variant the knobs are set on (default: the scenario's first).
    #[arg(long)]
    pub variant: Option<String>,
    #[command(flatten)]
    pub options: StackOptions,
}

#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    /// The scenario (its file stem, e.g. auto_owner_hands_over).
    #[arg(long)]
    pub scenario: String,
    /// The stack, e.g. fixture:13 or jitsi:stable-11146.
    #[arg(long)]
    pub stack: String,
    /// The variant (default: every variant the scenario names).
    #[arg(long)]
    pub variant: Option<String>,
    #[command(flatten)]
    pub options: StackOptions,
}

/// `K/N` with 1 ≤ K ≤ N.
fn parse_partition(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("`{s}`: expected K/N with 1 <= K <= N, e.g. 1/2");
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let (k, n) = (
        k.trim().parse::<usize>().map_err(|_| bad())?,
        n.trim().parse::<usize>().map_err(|_| bad())?,
    );
    if k == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

/// `bisect`: which releases, which scenario, and how each probe runs.
#[derive(clap::Args, Debug)]
pub struct BisectArgs {
    /// A release whose timeline is the reference, e.g. stable-10888 (older than --bad).
    #[arg(long, value_name = "TAG")]
    pub good: String,
    /// A release whose timeline differs from --good's, e.g. stable-11146.
    #[arg(long, value_name = "TAG")]
    pub bad: String,
    /// The scenario (its name, as `list` prints it).
    #[arg(long, value_name = "NAME")]
    pub scenario: String,
    /// The variant to run it under (needed when the scenario names several).
    #[arg(long)]
    pub variant: Option<String>,
    /// Take the images from this registry prefix: PREFIX/<service>:<tag> (a mirror, a local registry,
    /// or the Jitsi-shaped local images).
    #[arg(long, env = "JITSI_HARNESS_REGISTRY", value_name = "PREFIX")]
    pub registry: Option<String>,
    /// Artifacts root; the bisection writes a folder inside (default: ./artifacts).
    #[arg(long, default_value = "artifacts")]
    pub artifacts: PathBuf,
    /// Seconds each probe's stack may take to become ready (1 to 3600).
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=MAX_STARTUP_SECS))]
    pub startup_timeout: u64,
    /// Milliseconds the room must stay unchanged before a step counts as settled (0 to 60000).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(0..=MAX_SETTLE_MS))]
    pub settle_ms: u64,
    /// Print stack progress lines too.
    #[arg(long, short)]
    pub verbose: bool,
}
