//! Stand-ins for docker-jitsi-meet's `jicofo` and `jvb` images (see `harness::standin`). Runs inside
//! those images as `jitsi-harness-standin jicofo` / `jitsi-harness-standin jvb`; configured only by the
//! images' env; logs to stdout. A missing password prints upstream's `FATAL ERROR: …` line and exits 1,
//! as the images' config step does.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use harness::standin::{env::Env, jicofo, jvb, StartError};

#[derive(Parser)]
#[command(
    version,
    about = "Stand-ins for docker-jitsi-meet's jicofo and jvb images"
)]
struct Cli {
    #[command(subcommand)]
    program: Program,
}

#[derive(Subcommand)]
enum Program {
    /// The jicofo stand-in (env: JICOFO_AUTH_PASSWORD, XMPP_*, JICOFO_ENABLE_*, ENABLE_AUTO_OWNER, …).
    Jicofo,
    /// The jvb stand-in (env: JVB_AUTH_PASSWORD, JVB_AUTH_USER, XMPP_*, JVB_BREWERY_MUC, …).
    Jvb,
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

async fn run(program: Program) -> Result<(), StartError> {
    let env = Env::from_process();
    match program {
        Program::Jicofo => jicofo::run(jicofo::JicofoConfig::from_env(&env)?).await,
        Program::Jvb => jvb::run(jvb::JvbConfig::from_env(&env, &hostname())?).await,
    }
}

/// Resolves on SIGTERM or SIGINT; names the signal.
async fn terminated() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        },
        _ => std::future::pending().await,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    // As PID 1 in its container the process gets no default SIGTERM handling: without this, `docker stop`
    // waits its full grace period and then kills it. The images' s6 supervisor stops jicofo and jvb on
    // SIGTERM and the container exits 0; so does the stand-in.
    let outcome = tokio::select! {
        outcome = run(cli.program) => outcome,
        signal = terminated() => {
            println!("jitsi-harness-standin: {signal}, stopping");
            Ok(())
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        // Upstream's config step echoes the line to stdout and exits 1.
        Err(StartError::Fatal(line)) => {
            println!("{line}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("jitsi-harness-standin: {e}");
            ExitCode::FAILURE
        }
    }
}
