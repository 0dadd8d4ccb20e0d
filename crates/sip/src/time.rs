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
        // In u64, saturating: `as_micros` would be u128 arithmetic, which
        // wasm32 does in library calls.
        let micros = d
            .as_secs()
            .saturating_mul(1_000_000)
            .saturating_add(u64::from(d.subsec_micros()));
        Time(self.0.saturating_add(micros))
    }
}

#[cfg(test)]
mod tests {
    use super::{Duration, Time};

    #[test]
    fn adding_saturates_and_keeps_microseconds() {
        assert_eq!(Time(5) + Duration::from_nanos(2_999), Time(7));
        assert_eq!(Time(1) + Duration::from_millis(1500), Time(1_500_001));
        assert_eq!(Time(1) + Duration::from_secs(u64::MAX), Time(u64::MAX));
        assert_eq!(
            Time(u64::MAX - 1) + Duration::from_micros(5),
            Time(u64::MAX)
        );
    }
}
