//! Our time (`chordphone_sip::Time`, microseconds from the shell) and the
//! `std::time::Instant` that str0m takes.
//!
//! str0m reads no clock itself but wants `Instant`s. The shell hands the
//! bridge one `Instant` with the `Time` it corresponds to, once, at
//! construction; every later `Time` maps onto that base by offset. So the
//! core never reads a clock, and a test or benchmark can run on virtual time.

use chordphone_sip::Time;
use core::time::Duration;
use std::time::Instant;

/// Maps `Time` onto `Instant` and back around one base pair.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    base_instant: Instant,
    base_time: Time,
}

impl Clock {
    pub(crate) fn new(base_instant: Instant, base_time: Time) -> Clock {
        Clock {
            base_instant,
            base_time,
        }
    }

    /// The `Instant` of `t`; a time before the base maps to the base.
    pub(crate) fn instant(&self, t: Time) -> Instant {
        let since = Duration::from_micros(t.0.saturating_sub(self.base_time.0));
        // An Instant cannot hold every u64 of microseconds; a time that far
        // out is treated as the base rather than panicking.
        self.base_instant
            .checked_add(since)
            .unwrap_or(self.base_instant)
    }

    /// The `Time` of `i`; an instant before the base maps to the base.
    pub(crate) fn time(&self, i: Instant) -> Time {
        self.base_time + i.saturating_duration_since(self.base_instant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    // A base is all the test needs; nothing here is timed.
    #[allow(clippy::disallowed_methods)]
    fn maps_both_ways_around_the_base() {
        let base = Instant::now();
        let clock = Clock::new(base, Time(1_000_000));
        let t = Time(3_500_000);
        assert_eq!(clock.instant(t), base + Duration::from_millis(2500));
        assert_eq!(clock.time(clock.instant(t)), t);
        assert_eq!(clock.instant(Time(0)), base);
        // Far out of an Instant's range: no panic.
        let _ = clock.instant(Time(u64::MAX));
    }
}
