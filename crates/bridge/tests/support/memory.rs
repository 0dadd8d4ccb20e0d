//! The bridge and a str0m browser peer connected in memory on a virtual
//! clock (no sockets, no waiting): for the benchmark and for tests of what
//! takes long in real time.
// Each includer uses its own part of this.
#![allow(dead_code)]

use super::browser::BrowserPeer;
use chordphone_bridge::rtp::{self, RtpPacket};
use chordphone_bridge::{Bridge, BridgeConfig, BridgeEvent, Leg, MediaCall};
use chordphone_sip::Time;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

pub const IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
pub const CALL: MediaCall = MediaCall(1);

/// A bridge with room for the memory measurement's calls (no sockets are bound).
pub fn new_bridge(base: Instant) -> Bridge {
    let config = BridgeConfig {
        bind_ip: IP,
        advertise_ip: IP,
        ports: (20000, 29999),
        max_calls: 10_000,
        seed: 1,
    };
    Bridge::new(config, base, Time(0)).unwrap()
}

pub struct Setup {
    pub base: Instant,
    /// Virtual time since `base`.
    pub at: Duration,
    pub bridge: Bridge,
    pub browser: BrowserPeer,
    pub browser_local: SocketAddr,
    pub trunk_local: SocketAddr,
    pub trunk: SocketAddr,
}

impl Setup {
    pub fn now(&self) -> Time {
        Time(u64::try_from(self.at.as_micros()).unwrap())
    }

    pub fn instant(&self) -> Instant {
        self.base + self.at
    }

    /// Carries datagrams both ways until neither side has any.
    pub fn exchange(&mut self) {
        loop {
            let mut moved = false;
            while let Some(t) = self.bridge.poll_transmit() {
                moved = true;
                if t.to == self.browser.addr {
                    let now = self.instant();
                    self.browser.receive(t.from, &t.bytes, now);
                }
            }
            for (to, bytes) in std::mem::take(&mut self.browser.outgoing) {
                moved = true;
                let now = self.now();
                self.bridge
                    .handle_datagram(to, self.browser.addr, &bytes, now);
            }
            if !moved {
                return;
            }
        }
    }

    pub fn connect() -> Setup {
        let base = Instant::now();
        let bridge = new_bridge(base);
        let browser = BrowserPeer::new("127.0.0.1:50000".parse().unwrap(), base);
        let trunk: SocketAddr = "127.0.0.1:6000".parse().unwrap();
        let mut s = Setup {
            base,
            at: Duration::ZERO,
            bridge,
            browser,
            browser_local: trunk,
            trunk_local: trunk,
            trunk,
        };
        let (offer, pending) = s.browser.offer();
        let media = s.bridge.outbound(CALL, &offer, s.now()).unwrap();
        s.browser.accept_answer(pending, &media.webrtc_answer);
        let answer = "c=IN IP4 127.0.0.1\r\nm=audio 6000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
        s.bridge.rtp_answer(CALL, answer, s.now()).unwrap();
        while let Some(e) = s.bridge.poll_event() {
            if let BridgeEvent::Bind { leg, local, .. } = e {
                match leg {
                    Leg::Browser => s.browser_local = local,
                    Leg::Trunk => s.trunk_local = local,
                }
            }
        }
        while !s.browser.connected {
            s.exchange();
            s.tick(Duration::from_millis(5));
            assert!(s.at < Duration::from_secs(10), "no connection");
        }
        // The trunk's first packet latches the leg.
        s.trunk_packet(0);
        s.exchange();
        s
    }

    pub fn tick(&mut self, by: Duration) {
        self.at += by;
        let now = self.now();
        if self.bridge.poll_timeout().is_some_and(|t| t <= now) {
            self.bridge.handle_timeout(now);
        }
        let now = self.instant();
        self.browser.timeout(now);
    }

    pub fn trunk_packet(&mut self, n: u32) {
        let bytes = trunk_bytes(n);
        let now = self.now();
        self.bridge
            .handle_datagram(self.trunk_local, self.trunk, &bytes, now);
    }
}

/// A PCMU packet from the trunk, the `n`th of its stream.
pub fn trunk_bytes(n: u32) -> Vec<u8> {
    rtp::write(&RtpPacket {
        marker: false,
        pt: 0,
        seq: (n & 0xffff) as u16,
        timestamp: n.wrapping_mul(160),
        ssrc: 0x7e57,
        payload: &[0xd5; 160],
    })
}
