//! The toll-fraud guard: per caller identity, calls at once, calls started
//! in the last hour, and minutes used per UTC day, all on the caller's
//! clock. A stolen or scripted identity can only spend what its limits
//! allow; every refusal says which limit it hit.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use chordphone_sip::Time;

use crate::config::LimitsConfig;

const HOUR: Duration = Duration::from_secs(3600);
const DAY_MICROS: u64 = 86_400 * 1_000_000;
const MINUTE_MICROS: u64 = 60 * 1_000_000;

/// Which limit refused a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LimitHit {
    /// Too many calls at once.
    Concurrent,
    /// Too many calls started in the last hour.
    PerHour,
    /// No minutes left today.
    MinutesPerDay,
    /// The identity table is full (too many callers at once).
    Table,
}

impl LimitHit {
    /// Words for the caller and the log.
    pub fn why(self) -> &'static str {
        match self {
            LimitHit::Concurrent => "too many calls to the phone network at once",
            LimitHit::PerHour => "too many calls to the phone network this hour",
            LimitHit::MinutesPerDay => "no minutes to the phone network left today",
            LimitHit::Table => "the gateway is serving too many callers",
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Usage {
    active: u32,
    /// Start times of the calls of the last hour (at most `calls_per_hour`).
    starts: VecDeque<Time>,
    /// The UTC day `minutes_used` counts for.
    day: u64,
    /// Microseconds of answered calls that ended today.
    used: u64,
}

impl Usage {
    fn roll(&mut self, now: Time) {
        let day = now.0 / DAY_MICROS;
        if day != self.day {
            self.day = day;
            self.used = 0;
        }
        while self
            .starts
            .front()
            .is_some_and(|t| now.saturating_since(*t) >= HOUR)
        {
            self.starts.pop_front();
        }
    }

    fn idle(&self) -> bool {
        self.active == 0 && self.starts.is_empty() && self.used == 0
    }
}

/// The guard's per-identity counters.
#[derive(Clone, Debug)]
pub struct Limits {
    config: LimitsConfig,
    usage: BTreeMap<String, Usage>,
}

impl Limits {
    /// Counters under `config`.
    pub fn new(config: LimitsConfig) -> Limits {
        Limits {
            config,
            usage: BTreeMap::new(),
        }
    }

    /// Admits a new call by `identity` at `now` (counted as active until
    /// [`end`](Self::end)), or says which limit it hits. On success, the
    /// longest the call may last once answered (`None`: no minute limit).
    pub fn admit(&mut self, identity: &str, now: Time) -> Result<Option<Duration>, LimitHit> {
        if !self.usage.contains_key(identity) {
            if self.usage.len() >= self.config.max_identities {
                self.usage.retain(|_, u| {
                    u.roll(now);
                    !u.idle()
                });
            }
            if self.usage.len() >= self.config.max_identities {
                return Err(LimitHit::Table);
            }
        }
        let c = &self.config;
        let u = self.usage.entry(identity.to_owned()).or_default();
        u.roll(now);
        if c.concurrent_calls > 0 && u.active >= c.concurrent_calls {
            return Err(LimitHit::Concurrent);
        }
        if c.calls_per_hour > 0 && u.starts.len() >= c.calls_per_hour as usize {
            return Err(LimitHit::PerHour);
        }
        let budget = if c.minutes_per_day > 0 {
            let left = (u64::from(c.minutes_per_day) * MINUTE_MICROS).saturating_sub(u.used);
            if left == 0 {
                return Err(LimitHit::MinutesPerDay);
            }
            Some(Duration::from_micros(left))
        } else {
            None
        };
        u.active += 1;
        if c.calls_per_hour > 0 {
            u.starts.push_back(now);
        }
        Ok(budget)
    }

    /// A call admitted for `identity` ended; it was answered for `talked`.
    pub fn end(&mut self, identity: &str, talked: Duration, now: Time) {
        if let Some(u) = self.usage.get_mut(identity) {
            u.roll(now);
            u.active = u.active.saturating_sub(1);
            let micros = u64::try_from(talked.as_micros()).unwrap_or(u64::MAX);
            u.used = u.used.saturating_add(micros);
        }
    }

    /// Calls `identity` has at once.
    pub fn active(&self, identity: &str) -> u32 {
        self.usage.get(identity).map_or(0, |u| u.active)
    }

    /// Identities tracked.
    pub fn identities(&self) -> usize {
        self.usage.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Time = Time(1_700_000_000_000_000);

    fn limits(concurrent: u32, per_hour: u32, minutes: u32) -> Limits {
        Limits::new(LimitsConfig {
            concurrent_calls: concurrent,
            calls_per_hour: per_hour,
            minutes_per_day: minutes,
            max_identities: 3,
        })
    }

    #[test]
    fn concurrent_calls_are_capped_per_identity() {
        let mut l = limits(2, 0, 0);
        assert_eq!(l.admit("a", T0), Ok(None));
        assert_eq!(l.admit("a", T0), Ok(None));
        assert_eq!(l.admit("a", T0), Err(LimitHit::Concurrent));
        // Another identity has its own count.
        assert_eq!(l.admit("b", T0), Ok(None));
        l.end("a", Duration::ZERO, T0);
        assert_eq!(l.admit("a", T0), Ok(None));
        assert_eq!(l.active("a"), 2);
    }

    #[test]
    fn calls_per_hour_slide_with_the_clock() {
        let mut l = limits(0, 3, 0);
        for i in 0..3 {
            assert!(l.admit("a", T0 + Duration::from_secs(i * 60)).is_ok());
        }
        assert_eq!(
            l.admit("a", T0 + Duration::from_secs(3599)),
            Err(LimitHit::PerHour)
        );
        // An hour after the first call, one slot is free again.
        assert!(l.admit("a", T0 + HOUR).is_ok());
        assert_eq!(l.admit("a", T0 + HOUR), Err(LimitHit::PerHour));
    }

    #[test]
    fn minutes_per_day_are_spent_and_renewed_at_midnight() {
        let mut l = limits(0, 0, 10);
        let day_start = Time((T0.0 / DAY_MICROS + 1) * DAY_MICROS);
        let t = day_start + Duration::from_secs(3600);
        assert_eq!(l.admit("a", t), Ok(Some(Duration::from_secs(600))));
        l.end("a", Duration::from_secs(420), t);
        assert_eq!(l.admit("a", t), Ok(Some(Duration::from_secs(180))));
        l.end("a", Duration::from_secs(180), t);
        assert_eq!(l.admit("a", t), Err(LimitHit::MinutesPerDay));
        let tomorrow = day_start + Duration::from_secs(86_400);
        assert_eq!(l.admit("a", tomorrow), Ok(Some(Duration::from_secs(600))));
    }

    #[test]
    fn the_table_is_bounded_and_idle_identities_make_room() {
        let mut l = limits(1, 0, 0);
        for id in ["a", "b", "c"] {
            assert!(l.admit(id, T0).is_ok());
        }
        assert_eq!(l.admit("d", T0), Err(LimitHit::Table));
        l.end("a", Duration::ZERO, T0);
        assert!(l.admit("d", T0).is_ok());
        assert_eq!(l.identities(), 3);
    }
}
