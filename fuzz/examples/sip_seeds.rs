//! Writes seeds for the `sip_input` target: every message two user agents
//! exchange while setting up the driver's calls (so Call-IDs, tags and
//! branches match live dialogs), and the RFC 4475 torture messages.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example sip_seeds -- fuzz/corpus`
//! (scripts/fuzz.sh does this). Seeds are named by content.

#[path = "../src/sip_driver.rs"]
mod sip_driver;

use std::path::Path;

fn frame(ctl: u8, bytes: &[u8]) -> Vec<u8> {
    let len = bytes.len().min(usize::from(u16::MAX));
    let mut out = vec![ctl];
    out.extend_from_slice(&(len as u16).to_le_bytes());
    out.extend_from_slice(&bytes[..len]);
    out
}

fn write(dir: &Path, seed: &[u8]) {
    // FNV-1a of the content names the file.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    let path = dir.join(format!("seed-{h:016x}"));
    if !path.exists() {
        std::fs::write(path, seed).expect("write seed");
    }
}

fn main() {
    let root = std::env::args().nth(1).unwrap_or_else(|| "fuzz/corpus".to_owned());
    let dir = Path::new(&root).join("sip_input");
    std::fs::create_dir_all(&dir).expect("corpus directory");
    let rig = sip_driver::Rig::new(chordphone_sip::Transport::Overlay);
    let mut n = 0;
    for (from, bytes) in &rig.sent {
        // Delivered again to the side that received it (a retransmission or
        // a replay), on the overlay (ctl bits 1-3 = 5).
        let to = 1 - *from as u8;
        write(&dir, &frame(to | (5 << 1), bytes));
        // The same as a UDP datagram, then a hang-up.
        let mut two = frame(to, bytes);
        two.extend_from_slice(&frame(0xFF, b""));
        write(&dir, &two);
        n += 2;
    }
    let torture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/sip/tests/data/rfc4475");
    if let Ok(entries) = std::fs::read_dir(torture) {
        for e in entries.flatten() {
            if let Ok(bytes) = std::fs::read(e.path()) {
                write(&dir, &frame(0, &bytes));
                write(&dir, &frame(1 | (1 << 1), &bytes));
                n += 2;
            }
        }
    }
    for (from, bytes) in &rig.sent {
        let line = String::from_utf8_lossy(bytes.split(|b| *b == b'\r').next().unwrap_or(b""));
        eprintln!("  set-up: {from} sent {line}");
    }
    println!("sip_seeds: {n} seeds in {}", dir.display());
}
