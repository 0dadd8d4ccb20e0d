//! Remote records into a registered phone's contact list and presence
//! watch (see `src/records_driver.rs`): stored lists, sealed lists and
//! presence values built from the input, signed by the keys a reader
//! checks, so the decoders behind the signatures are reached.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../src/records_driver.rs"]
mod records_driver;

fuzz_target!(|data: &[u8]| records_driver::run(data));
