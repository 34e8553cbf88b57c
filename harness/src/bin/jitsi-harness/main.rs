//! `jitsi-harness`: the command line. Parses arguments, sets up logging and the async runtime, and
//! dispatches to one command per file under `commands/`; each returns a documented exit code
//! (`exit.rs`). The binary is the only part of the crate that writes to the terminal or exits.

mod args;
mod commands;
mod exit;
mod progress;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::BAD_INPUT
            } else {
                exit::SAME
            });
        }
    };
    tracing_subscriber::fmt()
        // Every line is scrubbed of secrets and tokens, whatever a dependency logs (RUST_LOG=trace included).
        .with_writer(harness::redact::ScrubbingStderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("jitsi-harness: cannot start the async runtime: {e}");
            return ExitCode::from(exit::INFRASTRUCTURE);
        }
    };
    let code = runtime.block_on(dispatch(cli));
    // Dropping the runtime here, not in an async context, lets pending cleanups finish first.
    drop(runtime);
    ExitCode::from(code)
}

async fn dispatch(cli: Cli) -> u8 {
    let result = match &cli.command {
        Command::Run(args) => commands::run::run(&cli, args).await,
        Command::List { format } => commands::list::list(&cli, *format),
        Command::Check { files } => commands::check::check(&cli, files),
        Command::Plan {
            stack,
            variant,
            registry,
            format,
        } => commands::plan::plan(&cli, stack, variant, registry.as_deref(), *format),
        Command::Releases {
            since,
            new_since,
            refresh,
            format,
        } => {
            commands::releases::releases(since.as_deref(), new_since.as_deref(), *refresh, *format)
                .await
        }
        Command::Report(command) => commands::report::report(command),
        Command::Bisect(args) => commands::bisect::bisect(&cli, args).await,
        Command::Clean { kept } => commands::clean::clean(*kept).await,
        Command::Sweep(args) => commands::sweep::sweep(&cli, args).await,
        Command::Explain(args) => commands::explain::explain(&cli, args).await,
        Command::Token {
            stack,
            variant,
            room,
            name,
            moderator,
        } => commands::token::token(stack, variant.as_deref(), room, name, *moderator).await,
    };
    match result {
        Ok(code) | Err(exit::Exit(code)) => code,
    }
}
