//! Signals → cancellation. The first SIGINT/SIGTERM cancels the run: every wait selects on the token and
//! stacks close in order. A second signal — or the run not finishing within a grace period — asks for
//! everything of this run to be removed at once. Each is handed to the caller as an [`Interrupt`]: the
//! binary reports it, cleans up and exits (130); this module never prints nor exits the process, except
//! [`guard_process`], the whole-process guard of test binaries that have no graceful path.

use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

use crate::stack::docker::{self, DockerError, Sweep};

/// Exit code after an interruption (128 + SIGINT).
pub const INTERRUPTED: u8 = 130;

/// A signal the run received, as the caller of [`install`] is told of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interrupt {
    /// The first SIGINT/SIGTERM: the token is cancelled; stacks are being closed in order.
    Cancelling,
    /// A second signal, or the grace period after the first ran out: remove everything now and exit.
    Forced {
        /// The grace period ran out (rather than a second signal arriving).
        grace_expired: bool,
    },
}

/// Installs the handler on the current runtime; returns the token the run must honour. `on_interrupt`
/// is called once with [`Interrupt::Cancelling`] at the first signal, then once with
/// [`Interrupt::Forced`] at the second signal or after `grace` — from there on the caller owns the
/// process (it is expected to call [`emergency_cleanup`] and exit).
pub fn install(
    grace: Duration,
    on_interrupt: impl Fn(Interrupt) + Send + 'static,
) -> CancellationToken {
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
        cancel.cancel();
        on_interrupt(Interrupt::Cancelling);
        let grace_expired = tokio::select! {
            _ = int.recv() => false,
            _ = term.recv() => false,
            _ = tokio::time::sleep(grace) => true,
        };
        on_interrupt(Interrupt::Forced { grace_expired });
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
                    // A test process has no terminal owner to tell: this guard is its whole signal path.
                    eprintln!("signal received: removing this process's containers");
                    match emergency_cleanup() {
                        Ok(s) if !s.containers.is_empty() || !s.networks.is_empty() => {
                            eprintln!("{}", removed(&s))
                        }
                        Ok(_) => {}
                        Err(e) => eprintln!("cleanup failed: {e}"),
                    }
                    std::process::exit(i32::from(INTERRUPTED));
                });
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start the signal guard: {e}");
        }
    });
}

/// Removes every container and network this process started, now (blocking; safe from any context,
/// inside or outside a runtime).
pub fn emergency_cleanup() -> Result<Sweep, DockerError> {
    let (tx, rx) = std::sync::mpsc::channel();
    docker::block_on_side_runtime(async move {
        let swept = match docker::connect().await {
            Ok(d) => docker::remove_run(&d, docker::run_id()).await,
            Err(e) => Err(e),
        };
        let _ = tx.send(swept);
    });
    rx.recv().unwrap_or_else(|_| {
        Err(DockerError::Unavailable {
            reason: "the cleanup runtime did not start".into(),
            hint: "remove this run's containers with `jitsi-harness clean`",
        })
    })
}

/// `removed 2 container(s) and 1 network(s) of this run`, for a non-empty sweep's report.
pub fn removed(sweep: &Sweep) -> String {
    format!(
        "removed {} container(s) and {} network(s) of this run",
        sweep.containers.len(),
        sweep.networks.len()
    )
}
