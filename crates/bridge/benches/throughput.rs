//! Packets per second through one call's bridge, each direction, and memory
//! per call. A bench binary (`cargo bench -p chordphone-bridge`): prints
//! the median of several runs.
//!
//! The browser is a str0m peer (full ICE, DTLS-SRTP) connected to the bridge
//! in memory on a virtual clock, so only the bridge's and str0m's work is
//! measured, not the kernel's sockets. Browser to trunk: SRTP in, plain RTP
//! out; trunk to browser: plain RTP in, SRTP out. The packets are made
//! before the clock starts.
// A benchmark reads the wall clock to time itself.
#![allow(clippy::disallowed_methods, clippy::unwrap_used)]

#[path = "../tests/support/browser.rs"]
mod browser;
#[path = "../tests/support/memory.rs"]
mod memory;

use browser::BrowserPeer;
use chordphone_bridge::MediaCall;
use chordphone_sip::Time;
use memory::{new_bridge, trunk_bytes, Setup};
use std::time::{Duration, Instant};

const RUNS: usize = 7;
const PACKETS: usize = 20_000;
const MEMORY_CALLS: u64 = 200;
/// 20 ms of audio a packet.
const PTIME: Duration = Duration::from_millis(20);

impl Setup {
    /// Moves virtual time on by one packet time; the peer's own traffic
    /// (its ICE checks, RTCP) and the bridge's replies are carried untimed.
    fn next_packet_time(&mut self) {
        self.at += PTIME;
        let now = self.instant();
        self.browser.timeout(now);
    }

    /// Runs the bridge on what the peer sent; returns how many datagrams
    /// went to the trunk and to the browser. Replies to the peer are
    /// delivered to it.
    fn bridge_round(&mut self, timed: &mut Duration) -> (usize, usize) {
        let datagrams = std::mem::take(&mut self.browser.outgoing);
        let (mut to_trunk, mut to_browser) = (0, 0);
        let started = Instant::now();
        let now = self.now();
        for (to, bytes) in &datagrams {
            self.bridge
                .handle_datagram(*to, self.browser.addr, bytes, now);
        }
        if self.bridge.poll_timeout().is_some_and(|t| t <= now) {
            self.bridge.handle_timeout(now);
        }
        let mut replies = Vec::new();
        while let Some(t) = self.bridge.poll_transmit() {
            if t.to == self.trunk {
                to_trunk += 1;
            } else {
                to_browser += 1;
                replies.push(t);
            }
        }
        *timed += started.elapsed();
        let now = self.instant();
        for t in replies {
            self.browser.receive(t.from, &t.bytes, now);
        }
        (to_trunk, to_browser)
    }
}

/// Browser to trunk: SRTP from the peer into the bridge, RTP out.
fn browser_to_trunk(s: &mut Setup, run: usize) -> f64 {
    let first = (run * PACKETS) as u64 + 1;
    let mut timed = Duration::ZERO;
    let mut sent = 0;
    for i in 0..PACKETS as u64 {
        s.next_packet_time();
        let seq = first + i;
        let now = s.instant();
        s.browser
            .send_rtp(0, seq, (seq * 160) as u32, false, &[0x55; 160], now);
        sent += s.bridge_round(&mut timed).0;
    }
    assert!(
        sent >= PACKETS * 99 / 100,
        "only {sent} reached the trunk: {:?}",
        s.bridge.counters()
    );
    PACKETS as f64 / timed.as_secs_f64()
}

/// Trunk to browser: plain RTP into the bridge, SRTP out.
fn trunk_to_browser(s: &mut Setup, run: usize) -> f64 {
    let first = (run * PACKETS) as u32 + 1;
    let mut timed = Duration::ZERO;
    let received = s.browser.received.len();
    for i in 0..PACKETS as u32 {
        s.next_packet_time();
        let bytes = trunk_bytes(first + i);
        let started = Instant::now();
        let now = s.now();
        s.bridge
            .handle_datagram(s.trunk_local, s.trunk, &bytes, now);
        timed += started.elapsed();
        s.bridge_round(&mut timed);
    }
    let got = s.browser.received.len() - received;
    s.browser.received.clear();
    assert!(
        got >= PACKETS * 99 / 100,
        "only {got} reached the browser: {:?}",
        s.bridge.counters()
    );
    PACKETS as f64 / timed.as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Resident memory of this process in bytes (Linux).
fn rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Memory per call: calls set up with a browser offer each (the bridge's
/// state after negotiation, before traffic).
fn memory_per_call(offer: &str) -> Option<f64> {
    let mut bridge = new_bridge(Instant::now());
    // One call first, so that one-time allocations are not counted.
    bridge.outbound(MediaCall(0), offer, Time(0)).unwrap();
    let before = rss()?;
    for i in 1..=MEMORY_CALLS {
        bridge.outbound(MediaCall(i), offer, Time(0)).unwrap();
    }
    while bridge.poll_event().is_some() {}
    while bridge.poll_transmit().is_some() {}
    let after = rss()?;
    Some((after.saturating_sub(before)) as f64 / MEMORY_CALLS as f64)
}

fn main() {
    // `cargo test --benches` runs this once as a smoke test with `--bench`
    // absent: keep it short then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let runs = if quick { 1 } else { RUNS };
    let mut s = Setup::connect();
    let mut up = Vec::new();
    let mut down = Vec::new();
    for run in 0..runs {
        up.push(browser_to_trunk(&mut s, run));
        down.push(trunk_to_browser(&mut s, run));
    }
    let up = median(up);
    let down = median(down);
    // A G.711 call at 20 ms is 50 packets a second each way.
    let core_per_call = 50.0 / up + 50.0 / down;
    println!("bridge: {PACKETS} packets a run, median of {runs} runs (one core)");
    println!("  browser -> trunk (SRTP in, RTP out): {up:.0} packets/s");
    println!("  trunk -> browser (RTP in, SRTP out): {down:.0} packets/s");
    println!(
        "  CPU per call (50 packets/s each way): {:.3} % of a core, so about {:.0} calls a core",
        core_per_call * 100.0,
        1.0 / core_per_call
    );
    let mut peer = BrowserPeer::new("127.0.0.1:50001".parse().unwrap(), Instant::now());
    let (offer, _) = peer.offer();
    match memory_per_call(&offer) {
        Some(bytes) => println!(
            "  memory per call (negotiated, {MEMORY_CALLS} calls): {:.1} KiB",
            bytes / 1024.0
        ),
        None => println!("  memory per call: /proc/self/statm not readable"),
    }
}
