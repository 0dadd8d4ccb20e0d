//! Records read from `service:relay`: the relay offer reader must never
//! panic and must accept only signed offers of a plain URL.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| chordphone_fuzz::check_relay_offer(data));
