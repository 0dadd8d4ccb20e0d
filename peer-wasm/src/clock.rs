//! The browser's clock as the overlay's [`Time`].
//!
//! `performance.timeOrigin + performance.now()` is wall-clock time (records
//! expire at absolute times that other nodes compare) that never steps
//! back while the page lives. Always read it afresh: background tabs fire
//! timers late, and the node must see the real time, not the one it asked
//! to be woken at.

use chordphone_overlay::Time;
use std::cell::Cell;

thread_local! {
    static LAST: Cell<u64> = const { Cell::new(0) };
}

/// Now, in microseconds since the Unix epoch, never earlier than a previous call.
pub fn now() -> Time {
    let ms = web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.time_origin() + p.now())
        .unwrap_or_else(js_sys::Date::now);
    // Float to integer casts saturate; a clock before 1970 reads as 0.
    let micros = (ms * 1000.0) as u64;
    let t = LAST.with(|last| {
        let t = micros.max(last.get());
        last.set(t);
        t
    });
    Time(t)
}
