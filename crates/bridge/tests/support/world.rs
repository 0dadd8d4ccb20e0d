//! The shell around the bridge for the socket tests: real UDP sockets on
//! loopback, the wall clock, a str0m peer as the browser and two sockets
//! as the trunk (the one its SDP names, and the one it really sends from).
// Each test binary uses its own part of this.
#![allow(dead_code)]

use super::browser::BrowserPeer;
use chordphone_bridge::rtp::{self, RtpPacket};
use chordphone_bridge::sdp;
use chordphone_bridge::{Bridge, BridgeConfig, BridgeEvent, Leg, MediaCall};
use chordphone_sip::Time;
use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Generous: each wait is for something that takes milliseconds.
pub const WAIT: Duration = Duration::from_secs(10);
pub const CALL: MediaCall = MediaCall(7);

pub fn bound() -> UdpSocket {
    let s = UdpSocket::bind((LOOPBACK, 0)).unwrap();
    s.set_nonblocking(true).unwrap();
    s
}

/// A UDP port range of its own for each test (below Linux's ephemeral
/// ports, so that no socket bound to port 0 can be in the way): two a call.
pub fn config(first_port: u16) -> BridgeConfig {
    BridgeConfig {
        bind_ip: LOOPBACK,
        advertise_ip: LOOPBACK,
        ports: (first_port, first_port + 9),
        max_calls: 4,
        seed: 42,
    }
}

/// The shell, the browser and the trunk in one loop.
pub struct World {
    pub start: Instant,
    pub bridge: Bridge,
    pub bridge_sockets: BTreeMap<SocketAddr, UdpSocket>,
    pub events: Vec<BridgeEvent>,
    pub browser: BrowserPeer,
    pub browser_socket: UdpSocket,
    /// The address the trunk's SDP names.
    pub trunk_signalled: UdpSocket,
    /// Where the trunk really sends from (NAT, a media server): another port.
    pub trunk_real: UdpSocket,
    /// Packets that arrived at the trunk sockets: (which, bytes).
    pub at_trunk: Vec<(SocketAddr, Vec<u8>)>,
}

impl World {
    pub fn new(first_port: u16) -> World {
        let start = Instant::now();
        let browser_socket = bound();
        let browser_addr = browser_socket.local_addr().unwrap();
        World {
            start,
            bridge: Bridge::new(config(first_port), start, Time(1_000_000)).unwrap(),
            bridge_sockets: BTreeMap::new(),
            events: Vec::new(),
            browser: BrowserPeer::new(browser_addr, start),
            browser_socket,
            trunk_signalled: bound(),
            trunk_real: bound(),
            at_trunk: Vec::new(),
        }
    }

    pub fn now(&self) -> Time {
        Time(1_000_000 + u64::try_from(self.start.elapsed().as_micros()).unwrap())
    }

    /// One round of IO; true if anything moved.
    pub fn step(&mut self) -> bool {
        let mut moved = false;
        while let Some(e) = self.bridge.poll_event() {
            moved = true;
            match &e {
                BridgeEvent::Bind { local, .. } => {
                    let s = UdpSocket::bind(local).unwrap();
                    s.set_nonblocking(true).unwrap();
                    self.bridge_sockets.insert(*local, s);
                }
                BridgeEvent::Unbind { local, .. } => {
                    self.bridge_sockets.remove(local);
                }
                _ => {}
            }
            self.events.push(e);
        }
        while let Some(t) = self.bridge.poll_transmit() {
            moved = true;
            self.bridge_sockets[&t.from]
                .send_to(&t.bytes, t.to)
                .unwrap();
        }
        for (to, bytes) in self.browser.outgoing.drain(..) {
            moved = true;
            self.browser_socket.send_to(&bytes, to).unwrap();
        }
        let mut buf = [0u8; 2048];
        let mut arrived = Vec::new();
        for (local, s) in &self.bridge_sockets {
            while let Some((n, from)) = recv(s, &mut buf) {
                arrived.push((*local, from, buf[..n].to_vec()));
            }
        }
        for (local, from, bytes) in arrived {
            moved = true;
            let now = self.now();
            self.bridge.handle_datagram(local, from, &bytes, now);
        }
        while let Some((n, from)) = recv(&self.browser_socket, &mut buf) {
            moved = true;
            self.browser.receive(from, &buf[..n], Instant::now());
        }
        for s in [&self.trunk_signalled, &self.trunk_real] {
            while let Some((n, _)) = recv(s, &mut buf) {
                moved = true;
                self.at_trunk
                    .push((s.local_addr().unwrap(), buf[..n].to_vec()));
            }
        }
        let now = self.now();
        if self.bridge.poll_timeout().is_some_and(|t| t <= now) {
            self.bridge.handle_timeout(now);
        }
        self.browser.timeout(Instant::now());
        moved
    }

    /// Runs until `done` holds; panics after [`WAIT`].
    pub fn until(&mut self, what: &str, mut done: impl FnMut(&mut World) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !done(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            if !self.step() {
                // Nothing to do: yield the core briefly before looking again.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    /// Runs until the bridge reports `digit` from `from`.
    pub fn until_digit(&mut self, from: Leg, digit: char) {
        let wanted = BridgeEvent::Dtmf {
            call: CALL,
            from,
            digit,
        };
        self.until(&format!("{digit:?} from the {from:?} leg"), |w| {
            w.events.contains(&wanted)
        });
    }

    pub fn bridge_port(&self, leg: Leg) -> SocketAddr {
        self.events
            .iter()
            .find_map(|e| match e {
                BridgeEvent::Bind { leg: l, local, .. } if *l == leg => Some(*local),
                _ => None,
            })
            .unwrap()
    }

    /// The trunk sends an RTP packet from its real (not signalled) socket.
    pub fn trunk_sends(&self, pt: u8, seq: u16, ts: u32, marker: bool, payload: &[u8]) {
        let bytes = rtp::write(&RtpPacket {
            marker,
            pt,
            seq,
            timestamp: ts,
            ssrc: 0x7e57,
            payload,
        });
        self.trunk_real
            .send_to(&bytes, self.bridge_port(Leg::Trunk))
            .unwrap();
    }

    pub fn trunk_packets_at(&self, socket: &UdpSocket) -> Vec<(u8, bool, u16, u32, Vec<u8>)> {
        let addr = socket.local_addr().unwrap();
        self.at_trunk
            .iter()
            .filter(|(to, _)| *to == addr)
            .map(|(_, b)| {
                let p = rtp::parse(b).unwrap();
                (p.pt, p.marker, p.seq, p.timestamp, p.payload.to_vec())
            })
            .collect()
    }

    pub fn browser_sends_audio(&mut self, seq: u64, fill: u8) {
        let ts = u32::try_from(seq * 160).unwrap();
        self.browser
            .send_rtp(0, seq, ts, false, &[fill; 160], Instant::now());
    }
}

pub fn recv(s: &UdpSocket, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
    match s.recv_from(buf) {
        Ok(r) => Some(r),
        Err(e) if e.kind() == ErrorKind::WouldBlock => None,
        Err(e) => panic!("recv: {e}"),
    }
}

/// A browser calls out; the trunk answers with `trunk_media` as its RTP
/// address, or by default with the world's signalled socket (and then sends
/// from its other socket, as a trunk behind NAT would).
pub fn outbound_call(first_port: u16, trunk_media: Option<SocketAddr>) -> World {
    let mut w = World::new(first_port);
    let (offer, pending) = w.browser.offer();
    let now = w.now();
    let media = w.bridge.outbound(CALL, &offer, now).unwrap();
    // The browser's first G.711 codec (Opus is not bridged) and events.
    let rtp_offer = sdp::parse(&media.rtp_offer).unwrap();
    assert_eq!(rtp_offer.g711, vec![(sdp::G711::Pcmu, 0)]);
    assert_eq!(rtp_offer.telephone_event, Some(101));
    assert!((first_port..=first_port + 9).contains(&rtp_offer.port));
    assert!(media.webrtc_answer.contains("a=ice-lite"));
    w.browser.accept_answer(pending, &media.webrtc_answer);
    let signalled = trunk_media
        .unwrap_or_else(|| w.trunk_signalled.local_addr().unwrap())
        .port();
    let answer = format!(
        "v=0\r\no=trunk 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {signalled} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
    );
    let now = w.now();
    w.bridge.rtp_answer(CALL, &answer, now).unwrap();
    w.until("ICE and DTLS with the browser", |w| {
        w.browser.connected
            && w.events
                .contains(&BridgeEvent::BrowserConnected { call: CALL })
    });
    w
}
