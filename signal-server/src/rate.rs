//! Token buckets: per connection, `rate` messages per second on average
//! with bursts of up to twice that; per client address at `/ice`, a number
//! per minute.

use chordphone_overlay::Time;

/// Tokens are kept in millionths so that refills need no floating point.
const SCALE: u64 = 1_000_000;

/// One connection's allowance.
#[derive(Debug)]
pub struct Bucket {
    tokens: u64,
    capacity: u64,
    /// Millionths of a token added per microsecond, times a million:
    /// tokens per second.
    per_second_scaled: u64,
    last: Time,
}

impl Bucket {
    /// A full bucket.
    pub fn new(rate: u32, now: Time) -> Bucket {
        let per_second = u64::from(rate.max(1));
        let capacity = per_second.saturating_mul(2).saturating_mul(SCALE);
        Bucket {
            tokens: capacity,
            capacity,
            per_second_scaled: per_second.saturating_mul(SCALE),
            last: now,
        }
    }

    /// A full bucket of `rate` tokens, refilled at `rate` per minute.
    pub fn per_minute(rate: u32, now: Time) -> Bucket {
        let rate = u64::from(rate.max(1));
        let capacity = rate.saturating_mul(SCALE);
        Bucket {
            tokens: capacity,
            capacity,
            per_second_scaled: rate.saturating_mul(SCALE) / 60,
            last: now,
        }
    }

    /// Whether it has refilled completely (so forgetting it changes nothing).
    pub fn is_full(&mut self, now: Time) -> bool {
        self.refill(now);
        self.tokens >= self.capacity
    }

    /// Takes one token; false if the connection is over its rate.
    pub fn take(&mut self, now: Time) -> bool {
        self.refill(now);
        if self.tokens >= SCALE {
            self.tokens -= SCALE;
            true
        } else {
            false
        }
    }

    fn refill(&mut self, now: Time) {
        // A clock that steps back refills nothing; one that jumps ahead
        // refills at most to the burst.
        let elapsed_us = now.0.saturating_sub(self.last.0);
        if now > self.last {
            self.last = now;
        }
        let refill = elapsed_us.saturating_mul(self.per_second_scaled) / SCALE;
        self.tokens = self.tokens.saturating_add(refill).min(self.capacity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_steady_rate() {
        let t0 = Time(1_000_000);
        let mut b = Bucket::new(10, t0);
        assert_eq!((0..30).filter(|_| b.take(t0)).count(), 20);
        // Half a second refills five.
        let t1 = Time(1_500_000);
        assert_eq!((0..30).filter(|_| b.take(t1)).count(), 5);
        // Time going backwards refills nothing.
        assert!(!b.take(Time(0)));
    }

    #[test]
    fn per_minute() {
        let t0 = Time(1_000_000);
        let mut b = Bucket::per_minute(6, t0);
        assert_eq!((0..10).filter(|_| b.take(t0)).count(), 6);
        assert!(!b.is_full(t0));
        // Ten seconds refill one.
        let t1 = Time(11_000_000);
        assert_eq!((0..10).filter(|_| b.take(t1)).count(), 1);
        assert!(b.is_full(Time(71_000_000)));
    }
}
