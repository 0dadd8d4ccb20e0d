//! Bytes a peer sends on a link before and beside overlay frames: control
//! frames, the identity handshake, attach signalling payloads.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| chordphone_fuzz::check_link(data));
