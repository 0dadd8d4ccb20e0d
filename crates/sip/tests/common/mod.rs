//! A network of user agents on a virtual clock: reliable (every message
//! arrives after a fixed latency) or lossy UDP-like (a seeded share of
//! messages is dropped, so the transaction layer must retransmit).
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use chordphone_sip::{CallId, Config, Event, Flow, Time, Transport, UserAgent};

/// An address that fans out to several user agents (a forking proxy
/// without the proxy: every copy carries the caller's Via unchanged).
pub const FORK: u32 = 100;
/// An address nobody listens on.
pub const HOLE: u32 = 200;

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// The overlay route: reliable, framed.
    Reliable,
    /// UDP with loss.
    Lossy,
    /// TCP: reliable, each message delivered in small pieces of a byte stream.
    Stream,
}

#[derive(Debug)]
pub struct Net {
    pub now: Time,
    pub uas: Vec<UserAgent<u32>>,
    pub events: Vec<Vec<Event>>,
    pub transport: Transport,
    pub latency: Duration,
    /// Drop probability in percent (lossy nets).
    pub loss: u64,
    /// Messages in flight: (deliver at, sequence) -> (from, to, bytes).
    flight: BTreeMap<(Time, u64), (u32, u32, Bytes)>,
    seq: u64,
    rng: u64,
    pub fork: Vec<u32>,
    pub delivered: u64,
    pub dropped: u64,
    /// Drop everything this address sends (a device that died).
    pub mute: Option<u32>,
}

pub fn sdp(tag: &str) -> Bytes {
    Bytes::from(format!(
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns={tag}\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
    ))
}

pub fn config(name: &str, i: u32, transport: Transport) -> Config {
    let host = format!("ua{i}.test:5060");
    let scheme_t = match transport {
        Transport::Udp => "udp",
        _ => "tcp",
    };
    Config::new(
        &format!("sip:{name}@example.test"),
        &format!("sip:{name}@{host};transport={scheme_t}"),
        &host,
    )
}

impl Net {
    pub fn new(kind: Kind, names: &[&str]) -> Net {
        Net::with(kind, names, |_| {})
    }

    pub fn with(kind: Kind, names: &[&str], tweak: impl Fn(&mut Config)) -> Net {
        let transport = match kind {
            Kind::Reliable => Transport::Overlay,
            Kind::Lossy => Transport::Udp,
            Kind::Stream => Transport::Tcp,
        };
        let uas = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let mut c = config(n, i as u32, transport);
                tweak(&mut c);
                UserAgent::new(c, 1000 + i as u64)
            })
            .collect::<Vec<_>>();
        let events = uas.iter().map(|_| Vec::new()).collect();
        Net {
            now: Time::from_millis(1_000_000),
            uas,
            events,
            transport,
            latency: Duration::from_millis(20),
            loss: match kind {
                Kind::Reliable | Kind::Stream => 0,
                Kind::Lossy => 25,
            },
            flight: BTreeMap::new(),
            seq: 0,
            rng: 0x1234_5678,
            fork: Vec::new(),
            delivered: 0,
            dropped: 0,
            mute: None,
        }
    }

    pub fn flow(&self, to: u32) -> Flow<u32> {
        Flow::new(self.transport, to)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng % 100 < percent
    }

    /// Moves every UA's transmits onto the wire and its events into its log.
    pub fn drain(&mut self) {
        for i in 0..self.uas.len() {
            while let Some(t) = self.uas[i].poll_transmit() {
                let targets = if t.to.addr == FORK {
                    self.fork.clone()
                } else {
                    vec![t.to.addr]
                };
                for to in targets {
                    if self.mute == Some(i as u32) || (self.loss > 0 && self.chance(self.loss)) {
                        self.dropped += 1;
                        continue;
                    }
                    self.seq += 1;
                    self.flight.insert(
                        (self.now + self.latency, self.seq),
                        (i as u32, to, t.bytes.clone()),
                    );
                }
            }
            while let Some(e) = self.uas[i].poll_event() {
                self.events[i].push(e);
            }
        }
    }

    /// Runs the network until `dt` from now.
    pub fn run(&mut self, dt: Duration) {
        let end = self.now + dt;
        self.drain();
        for _ in 0..1_000_000 {
            let next_msg = self.flight.keys().next().map(|k| k.0);
            let next_timer = self.uas.iter().filter_map(|u| u.poll_timeout()).min();
            let next = match (next_msg, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => break,
            };
            if next > end {
                break;
            }
            self.now = self.now.max(next);
            while let Some((&(at, s), _)) = self.flight.iter().next() {
                if at > self.now {
                    break;
                }
                let (from, to, bytes) = self.flight.remove(&(at, s)).unwrap();
                if let Some(ua) = self.uas.get_mut(to as usize) {
                    self.delivered += 1;
                    let flow = Flow::new(self.transport, from);
                    if self.transport.is_stream() {
                        // A stream splits messages anywhere: 7-byte pieces.
                        for piece in bytes.chunks(7) {
                            ua.handle_input(flow.clone(), piece, self.now);
                        }
                    } else {
                        ua.handle_input(flow, &bytes, self.now);
                    }
                }
            }
            for ua in &mut self.uas {
                if ua.poll_timeout().is_some_and(|t| t <= self.now) {
                    ua.handle_timeout(self.now);
                }
            }
            self.drain();
        }
        self.now = end;
    }

    pub fn run_secs(&mut self, s: u64) {
        self.run(Duration::from_secs(s));
    }

    /// The events of UA `i` since the last call, taken out of its log.
    pub fn take(&mut self, i: usize) -> Vec<Event> {
        std::mem::take(&mut self.events[i])
    }

    /// The first incoming call at UA `i` (panics if none).
    pub fn incoming(&mut self, i: usize) -> CallId {
        self.events[i]
            .iter()
            .find_map(|e| match e {
                Event::Incoming { call, .. } => Some(*call),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no incoming call at {i}: {:?}", self.events[i]))
    }

    pub fn has(&self, i: usize, pred: impl Fn(&Event) -> bool) -> bool {
        self.events[i].iter().any(pred)
    }

    pub fn ended(&self, i: usize, call: CallId) -> Option<chordphone_sip::EndReason> {
        self.events[i].iter().find_map(|e| match e {
            Event::Ended { call: c, reason } if *c == call => Some(reason.clone()),
            _ => None,
        })
    }

    pub fn invite(&mut self, from: usize, to: u32) -> CallId {
        let flow = self.flow(to);
        let now = self.now;
        let c = self.uas[from]
            .invite("sip:bob@example.test", flow, Some(sdp("offer")), now)
            .unwrap();
        self.drain();
        c
    }
}
