//! The SIP fuzz driver, shared by the `sip_input` target and the
//! `sip_seeds` example (both include this file by path).
//!
//! Two user agents, A (address 0) and B (address 1), on a virtual clock,
//! set up deterministically: one call from A to B answered and confirmed,
//! a second one ringing. Each fuzz frame is `[ctl: u8][len: u16 LE][bytes]`:
//! bit 0 of `ctl` picks who receives the bytes (as if from the other), bits
//! 1-3 the transport (UDP, TCP, TLS, WS, WSS, overlay), bits 4-7 how many
//! 100 ms the clock moves afterwards. `ctl` 0xFF instead makes A hang up its
//! calls and 0xFE makes B offer a re-INVITE. After each frame the two
//! exchange whatever they send, timers run, and at the end the clock jumps
//! far enough for every transaction to end.
//!
//! Checked: nothing panics; every message sipx-sip accepts re-serialises to
//! bytes that parse again to the same bytes; every message a user agent
//! sends parses.

#![allow(dead_code)]

use bytes::Bytes;
use chordphone_sip::sipx_sip::{parse_datagram, parse_frame, Limits};
use chordphone_sip::{CallId, Config, Event, Flow, Time, Transport, UserAgent};

pub const TRANSPORTS: [Transport; 6] = [
    Transport::Udp,
    Transport::Tcp,
    Transport::Tls,
    Transport::Ws,
    Transport::Wss,
    Transport::Overlay,
];

pub struct Rig {
    pub uas: [UserAgent<u32>; 2],
    pub now: Time,
    pub calls: Vec<(usize, CallId)>,
    /// Every message sent (for seeds).
    pub sent: Vec<(usize, Bytes)>,
    /// Events not yet looked at.
    pub events: [Vec<Event>; 2],
}

fn config(i: u32) -> Config {
    let host = format!("ua{i}.test:5060");
    let mut c = Config::new(
        &format!("sip:u{i}@example.test"),
        &format!("sip:u{i}@{host}"),
        &host,
    );
    c.session_expires = Some(core::time::Duration::from_secs(90));
    c
}

/// Checks what sipx-sip makes of `bytes` as the transport frames them.
pub fn check_codec(transport: Transport, bytes: &[u8]) {
    let buf = Bytes::copy_from_slice(bytes);
    let parsed = match transport {
        Transport::Udp => parse_datagram(buf, &Limits::datagram()),
        _ => parse_frame(buf, &Limits::stream()),
    };
    if let Ok(msg) = parsed {
        let out = msg.to_bytes();
        let again = parse_datagram(out.clone(), &Limits::stream())
            .unwrap_or_else(|e| panic!("re-serialised message does not parse: {e}"));
        assert_eq!(again.to_bytes(), out, "re-serialising is not stable");
    }
}

impl Rig {
    pub fn new(transport: Transport) -> Rig {
        let mut rig = Rig {
            uas: [UserAgent::new(config(0), 1), UserAgent::new(config(1), 2)],
            now: Time(1_000_000),
            calls: Vec::new(),
            sent: Vec::new(),
            events: [Vec::new(), Vec::new()],
        };
        let offer = Bytes::from_static(b"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n");
        let now = rig.now;
        if let Ok(c) = rig.uas[0].invite("sip:u1@example.test", Flow::new(transport, 1), Some(offer.clone()), now) {
            rig.calls.push((0, c));
        }
        rig.advance(300, transport);
        let incoming: Vec<CallId> = rig.take_incoming();
        if let Some(&c) = incoming.first() {
            let now = rig.now;
            let _ = rig.uas[1].ring(c, None, now);
            let _ = rig.uas[1].answer(c, offer.clone(), now);
            rig.calls.push((1, c));
        }
        rig.advance(300, transport);
        let now = rig.now;
        if let Ok(c) = rig.uas[0].invite("sip:u1@example.test", Flow::new(transport, 1), Some(offer), now) {
            rig.calls.push((0, c));
        }
        rig.advance(300, transport);
        for c in rig.take_incoming() {
            let now = rig.now;
            let _ = rig.uas[1].ring(c, None, now);
            rig.calls.push((1, c));
        }
        rig.advance(300, transport);
        rig
    }

    fn take_incoming(&mut self) -> Vec<CallId> {
        let mut out = Vec::new();
        for e in std::mem::take(&mut self.events[1]) {
            if let Event::Incoming { call, .. } = e {
                out.push(call);
            }
        }
        self.events[0].clear();
        out
    }

    /// Delivers what each sends to the other, up to `rounds` times.
    pub fn exchange(&mut self, transport: Transport, rounds: usize) {
        for _ in 0..rounds {
            let mut any = false;
            for i in 0..2 {
                while let Some(t) = self.uas[i].poll_transmit() {
                    any = true;
                    // What we send must always be valid SIP.
                    parse_datagram(t.bytes.clone(), &Limits::stream())
                        .unwrap_or_else(|e| panic!("user agent sent unparseable bytes: {e}"));
                    self.sent.push((i, t.bytes.clone()));
                    let to = (t.to.addr as usize).min(1);
                    let now = self.now;
                    self.uas[to].handle_input(Flow::new(transport, i as u32), &t.bytes, now);
                }
            }
            for (i, ua) in self.uas.iter_mut().enumerate() {
                while let Some(e) = ua.poll_event() {
                    // Bounded: the fuzz loop clears them after every frame.
                    if self.events[i].len() < 1024 {
                        self.events[i].push(e);
                    }
                }
            }
            if !any {
                break;
            }
        }
    }

    pub fn advance(&mut self, ms: u64, transport: Transport) {
        self.now = Time(self.now.0 + ms * 1000);
        for ua in &mut self.uas {
            ua.handle_timeout(self.now);
        }
        self.exchange(transport, 8);
    }
}

/// Runs one fuzz input.
pub fn run(data: &[u8]) {
    let mut rig = Rig::new(Transport::Overlay);
    let mut rest = data;
    let mut frames = 0;
    while rest.len() >= 3 && frames < 64 {
        frames += 1;
        let ctl = rest[0];
        let len = usize::from(u16::from_le_bytes([rest[1], rest[2]])).min(rest.len() - 3);
        let bytes = &rest[3..3 + len];
        rest = &rest[3 + len..];
        let transport = TRANSPORTS[usize::from((ctl >> 1) & 7) % TRANSPORTS.len()];
        match ctl {
            0xFF => {
                let now = rig.now;
                for (who, c) in rig.calls.clone() {
                    let _ = rig.uas[who].hangup(c, now);
                }
            }
            0xFE => {
                let now = rig.now;
                for (who, c) in rig.calls.clone() {
                    let _ = rig.uas[who].reinvite(c, Bytes::from_static(b"v=0\r\n"), now);
                }
            }
            _ => {
                check_codec(transport, bytes);
                let to = usize::from(ctl & 1);
                let now = rig.now;
                rig.uas[to].handle_input(Flow::new(transport, 1 - to as u32), bytes, now);
            }
        }
        rig.exchange(Transport::Overlay, 8);
        rig.advance(u64::from(ctl >> 4) * 100, Transport::Overlay);
        rig.events = [Vec::new(), Vec::new()];
    }
    rig.advance(100_000, Transport::Overlay);
    rig.advance(100_000, Transport::Overlay);
}
