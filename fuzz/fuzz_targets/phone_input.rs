//! Remote bytes into a registered phone with a call ringing (see
//! `src/phone_driver.rs`): raw payloads at the gate, and SIP sealed by a
//! proven sender into the user agent and the call table.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../src/phone_driver.rs"]
mod phone_driver;

fuzz_target!(|data: &[u8]| phone_driver::run(data));
