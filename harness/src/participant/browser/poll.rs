//! The one wait loop of the browser participant: look, and if it is not there yet, look again after an
//! interval, until a deadline. Used for the page's join and leave, chromedriver's `/status`, its exit
//! and its processes' exits, and the removal of a user-data-dir Chromium may still write to.

use std::future::Future;
use std::time::{Duration, Instant};

/// One look at what is being waited for.
pub(super) enum Look<T> {
    /// It happened.
    Done(T),
    /// Not yet; what was seen instead (kept for the timeout's message).
    NotYet(String),
}

/// Why [`poll_until`] stopped without [`Look::Done`].
pub(super) enum Waited<E> {
    /// A look failed; waiting any longer is pointless.
    Failed(E),
    /// The deadline came; what the last look saw.
    TimedOut { last: String },
}

/// Calls `look` until it says [`Look::Done`] (→ `Ok`), fails (→ [`Waited::Failed`]), or `limit` has
/// passed since the call (→ [`Waited::TimedOut`]). Between looks it sleeps `interval`; it never sleeps
/// past the deadline, so the last look comes no later than `limit` after the call (plus one look's own
/// time). The interval is the caller's: each says why it picked its own.
pub(super) async fn poll_until<T, E, F, Fut>(
    limit: Duration,
    interval: Duration,
    mut look: F,
) -> Result<T, Waited<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Look<T>, E>>,
{
    let end = Instant::now() + limit;
    loop {
        let last = match look().await {
            Ok(Look::Done(value)) => return Ok(value),
            Ok(Look::NotYet(last)) => last,
            Err(e) => return Err(Waited::Failed(e)),
        };
        if Instant::now() + interval >= end {
            return Err(Waited::TimedOut { last });
        }
        tokio::time::sleep(interval).await;
    }
}

/// [`poll_until`] for a plain condition: whether `done` held within `limit`.
pub(super) async fn poll_until_true(
    limit: Duration,
    interval: Duration,
    mut done: impl FnMut() -> bool,
) -> bool {
    poll_until(limit, interval, || {
        let look = if done() {
            Look::Done(())
        } else {
            Look::NotYet(String::new())
        };
        std::future::ready(Ok::<_, std::convert::Infallible>(look))
    })
    .await
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stops_when_done_failed_or_late() {
        let mut n = 0;
        let r: Result<u32, Waited<()>> =
            poll_until(Duration::from_secs(5), Duration::from_millis(1), || {
                n += 1;
                let look = if n == 3 {
                    Look::Done(n)
                } else {
                    Look::NotYet(format!("n={n}"))
                };
                std::future::ready(Ok(look))
            })
            .await;
        assert!(matches!(r, Ok(3)));

        let r: Result<(), Waited<&str>> =
            poll_until(Duration::from_secs(5), Duration::from_millis(1), || {
                std::future::ready(Err("broken"))
            })
            .await;
        assert!(matches!(r, Err(Waited::Failed("broken"))));

        let t0 = Instant::now();
        let r: Result<(), Waited<()>> = poll_until(
            Duration::from_millis(200),
            Duration::from_millis(50),
            || std::future::ready(Ok(Look::NotYet("still loading".into()))),
        )
        .await;
        assert!(matches!(r, Err(Waited::TimedOut { ref last }) if last == "still loading"));
        assert!(
            t0.elapsed() >= Duration::from_millis(100),
            "{:?}",
            t0.elapsed()
        );

        assert!(
            !poll_until_true(Duration::from_millis(30), Duration::from_millis(5), || {
                false
            })
            .await
        );
        assert!(
            poll_until_true(Duration::from_millis(30), Duration::from_millis(5), || true).await
        );
    }
}
