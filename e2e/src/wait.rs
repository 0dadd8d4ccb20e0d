//! Waiting on conditions by polling, with generous bounds: the ring settles
//! on its own schedule, and a check that fails says what it saw last.

use std::time::{Duration, Instant};

/// How long a ring may take to settle after a change. The slowest change
/// measured is a restarted server rejoining the ring that lived on without
/// it (16-50 s here): nodes that learn of it second-hand ignore it until
/// they forget it died (the overlay's `dead_memory`, 30 s).
pub const BOUND: Duration = Duration::from_secs(120);
/// Time between two checks.
pub const POLL: Duration = Duration::from_millis(250);

/// Calls `probe` every [`POLL`] until it returns `Ok`, or fails after
/// `bound` with the last error (which should describe every node).
pub async fn until<T>(
    what: &str,
    bound: Duration,
    mut probe: impl AsyncFnMut() -> crate::Result<T>,
) -> crate::Result<T> {
    let start = Instant::now();
    loop {
        let round = Instant::now();
        match probe().await {
            Ok(v) => return Ok(v),
            Err(e) if start.elapsed() >= bound => {
                return Err(format!(
                    "timed out after {:.1} s waiting for {what}; last check:\n{e}",
                    start.elapsed().as_secs_f64()
                ))
            }
            Err(_) => {}
        }
        tokio::time::sleep(POLL.saturating_sub(round.elapsed())).await;
    }
}

/// `unwrap` for harness results, printing the message as written (with
/// its line breaks) rather than debug-quoted.
pub trait OrPanic<T> {
    /// The value, or a panic with the error message.
    fn or_panic(self) -> T;
}

impl<T> OrPanic<T> for crate::Result<T> {
    #[track_caller]
    fn or_panic(self) -> T {
        match self {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }
}
