//! A joined node fed arbitrary frames from a linked neighbour must never
//! panic, and every message it then sends must encode and decode.
//!
//! Input: up to 64 frames, each `[step][len: u16 LE][len bytes]` (a shorter
//! tail is the last frame). After each frame the clock moves on by `step` ms
//! (0..=255) and due timers run, so sequences of messages (a request, then
//! replies to what the node sent) and the node's deadlines are exercised.
//! See `chordphone_fuzz::run_node`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    chordphone_fuzz::run_node(data, |_, _| {});
});
