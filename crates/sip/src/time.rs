//! Time as the user agent sees it: a number the caller passes in.

use core::ops::Add;
use core::time::Duration;

/// An instant in microseconds on the shell's monotonic clock.
///
/// The same unit as `chordphone_overlay::Time` (`Time(overlay_time.0)` converts),
/// kept separate so this crate depends on nothing of the overlay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(pub u64);

impl Time {
    /// Builds a time from milliseconds.
    pub fn from_millis(ms: u64) -> Time {
        Time(ms.saturating_mul(1000))
    }

    /// Time elapsed since `earlier`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Time) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Time {
    type Output = Time;
    fn add(self, d: Duration) -> Time {
        Time(
            self.0
                .saturating_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
        )
    }
}
