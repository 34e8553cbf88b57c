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

/// For processes without a graceful path (test binaries): on the first SIGINT/SIGTERM/SIGQUIT, remove
/// everything this process started and exit 130. Installed once per process; a dedicated thread, so it
/// works whatever runtime (if any) the process uses. nextest sends SIGTERM to a test that timed out.
pub fn guard_process() {
    static GUARD: std::sync::Once = std::sync::Once::new();
    GUARD.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("jitsi-harness-signal-guard".into())
            .spawn(|| {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async {
                    let (Ok(mut int), Ok(mut term), Ok(mut quit)) = (
                        signal(SignalKind::interrupt()),
                        signal(SignalKind::terminate()),
                        signal(SignalKind::quit()),
                    ) else {
                        return;
                    };
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                        _ = quit.recv() => {}
                    }
                    eprintln!("signal received: removing this process's containers");
                    emergency_cleanup();
                    std::process::exit(i32::from(INTERRUPTED));
                });
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start the signal guard: {e}");
        }
    });
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
