//! Bytes a peer sends on a connection it opened to a server: the identity
//! handshake, then overlay frames, through the session that owns the link.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| chordphone_fuzz::check_session(data));
