//! Bundle-size probe: sipx-sip's parser, validation and serialiser only,
//! on input the optimiser cannot see. See the crate README.
use std::io::Read;

use chordphone_sip::sipx_sip::{parse_frame, validate, Limits};

fn main() {
    let mut input = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut input);
    let code = match parse_frame(input.into(), &Limits::stream()) {
        Ok(m) => validate(&m).len() as i32 + m.to_bytes().len() as i32,
        Err(_) => -1,
    };
    std::process::exit(code);
}
