//! Signals → cancellation (STYLE.md 2.6). The first SIGINT/SIGTERM cancels the run: every wait selects on
//! the token, stacks close in order, the process exits 130. A second signal — or the run not finishing
//! within a grace period — removes every container and network of this run at once and exits 130.

use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

use crate::stack::docker;

/// Exit code after an interruption (128 + SIGINT).
pub const INTERRUPTED: u8 = 130;

/// Installs the handler on the current runtime; returns the token the run must honour.
pub fn install(grace: Duration) -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            tracing::warn!("cannot install signal handlers: Ctrl-C will not clean up gracefully");
            return;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        eprintln!(
            "\ninterrupted: closing stacks (press Ctrl-C again to remove containers immediately)"
        );
        cancel.cancel();
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
            _ = tokio::time::sleep(grace) => {}
        }
        emergency_cleanup();
        std::process::exit(i32::from(INTERRUPTED));
    });
    token
}

/// Removes everything this process started, now (blocking; safe from any context).
pub fn emergency_cleanup() {
    docker::block_on_side_runtime(async {
        match docker::connect().await {
            Ok(d) => match docker::remove_run(&d, docker::run_id()).await {
                Ok(s) if !s.containers.is_empty() || !s.networks.is_empty() => eprintln!(
                    "removed {} container(s) and {} network(s) of this run",
                    s.containers.len(),
                    s.networks.len()
                ),
                Ok(_) => {}
                Err(e) => eprintln!("cleanup failed: {e}"),
            },
            Err(e) => eprintln!("cleanup failed: {e}"),
        }
    });
}
