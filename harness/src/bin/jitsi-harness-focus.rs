//! The fixture stack's focus stand-in (see `harness::standin::focus`). Runs inside the fixture's focus
//! container; configured by env with docker-jitsi-meet's names.

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    match harness::standin::focus::run_from_env().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jitsi-harness-focus: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
