//! The one place that reads the system clock.
//!
//! The overlay core takes `now` from its shell. Record expiry is absolute
//! and travels between nodes, so every shell uses wall-clock microseconds
//! since the Unix epoch (see `docs/shells.md`).

use chordphone_overlay::Time;

/// Now, as the overlay counts time.
// The workspace bans clocks so that the sans-IO cores stay deterministic;
// the server is the shell that owns the clock, so it reads it here, once.
#[allow(clippy::disallowed_methods)]
pub fn now() -> Time {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Time(u64::try_from(since_epoch.as_micros()).unwrap_or(u64::MAX))
}

/// Now, as time since the Unix epoch (what TURN credentials count in).
pub fn since_epoch() -> core::time::Duration {
    core::time::Duration::from_micros(now().as_micros())
}
