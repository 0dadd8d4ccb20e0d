//! Remote SIP bytes into two user agents with calls up (see
//! `src/sip_driver.rs`): parsing, validation, transactions, dialogs.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../src/sip_driver.rs"]
mod sip_driver;

fuzz_target!(|data: &[u8]| sip_driver::run(data));
