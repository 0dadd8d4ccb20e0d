//! Bundle-size probe, baseline: what any wasm32 program reading input
//! carries (std, allocator, I/O stubs). See the crate README.
use std::io::Read;

fn main() {
    let mut input = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut input);
    std::process::exit(input.len() as i32);
}
