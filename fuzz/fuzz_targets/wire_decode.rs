//! Frames from the network: `Message::decode` must never panic, and
//! whatever it accepts must survive an encode/decode round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| chordphone_fuzz::check_wire(data));
