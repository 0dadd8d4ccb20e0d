//! The TURN core driven directly: a virtual clock, two clients, relay
//! sockets "opened" by the test.

#![allow(clippy::unwrap_used)]

use chordphone_relay::client::{self, Auth};
use chordphone_relay::stun::{attr, Class, Message};
use chordphone_relay::{credential, Client, Config, Output, Refusal, Relay, Transport};
use core::net::SocketAddr;
use core::time::Duration;

const SECRET: &[u8] = b"test secret";
const T0: Duration = Duration::from_secs(1_800_000_000);

fn udp(a: &str) -> Client {
    Client {
        transport: Transport::Udp,
        addr: a.parse().unwrap(),
    }
}

struct Harness {
    relay: Relay,
    now: Duration,
    next_port: u16,
    relay_ip: &'static str,
    tid: u8,
}

impl Harness {
    fn new(config: Config) -> Harness {
        Harness {
            relay: Relay::new(
                Config {
                    secret: SECRET.to_vec(),
                    ..config
                },
                [9; 32],
            ),
            now: T0,
            next_port: 50_000,
            relay_ip: "127.0.0.1",
            tid: 0,
        }
    }

    fn tid(&mut self) -> [u8; 12] {
        self.tid += 1;
        [self.tid; 12]
    }

    /// Feeds a client message; opens relay sockets on 127.0.0.1 as asked;
    /// returns what went to clients and peers.
    fn feed(&mut self, c: Client, bytes: &[u8]) -> Vec<Output> {
        self.relay.handle_client(c, bytes, self.now);
        self.drain()
    }

    fn drain(&mut self) -> Vec<Output> {
        let mut outs = Vec::new();
        while let Some(o) = self.relay.poll_output() {
            if let Output::OpenRelay { client, .. } = o {
                let addr: SocketAddr = format!("{}:{}", self.relay_ip, self.next_port)
                    .parse()
                    .unwrap();
                self.next_port += 1;
                self.relay.relay_opened(client, Ok(addr), self.now);
            } else {
                outs.push(o);
            }
        }
        outs
    }

    /// The one reply to `c`.
    fn reply(&mut self, c: Client, bytes: &[u8]) -> Vec<u8> {
        let outs = self.feed(c, bytes);
        match outs.as_slice() {
            [Output::ToClient { client, data }] if *client == c => data.clone(),
            other => panic!("expected one reply, got {other:?}"),
        }
    }

    /// Allocates for `c` with a credential for `user` valid for `life`
    /// seconds from now: the error code, or the relay address and auth.
    fn allocate(
        &mut self,
        c: Client,
        user: &str,
        life: i64,
        secret: &[u8],
    ) -> Result<(SocketAddr, Auth), u16> {
        let issued = (self.now.as_secs() as i64 - 3600) as u64;
        let lifetime = (3600 + life) as u64;
        let cred = credential::issue(secret, user, issued, lifetime).unwrap();
        let tid = self.tid();
        let first = self.reply(c, &client::allocate(tid, None));
        let m = Message::decode(&first).unwrap();
        assert_eq!(m.error_code(), Some(401));
        let auth = Auth::from_challenge(&cred.username, &cred.password, &m).unwrap();
        let tid = self.tid();
        let second = self.reply(c, &client::allocate(tid, Some(&auth)));
        let m = Message::decode(&second).unwrap();
        match m.class {
            Class::Success => {
                assert!(m.check_integrity(&auth.key), "responses are signed");
                Ok((m.xor_address(attr::XOR_RELAYED_ADDRESS).unwrap(), auth))
            }
            _ => Err(m.error_code().unwrap()),
        }
    }

    fn permit(&mut self, c: Client, peer: SocketAddr, auth: &Auth) -> Option<u16> {
        let tid = self.tid();
        let r = self.reply(c, &client::create_permission(tid, peer, auth));
        Message::decode(&r).unwrap().error_code()
    }
}

#[test]
fn two_clients_reach_each_other_through_their_loopback_relay_addresses() {
    let mut h = Harness::new(Config::default());
    let (a, b) = (udp("192.0.2.10:4000"), udp("192.0.2.11:4000"));
    let (ra, auth_a) = h.allocate(a, "alice", 600, SECRET).unwrap();
    let (rb, auth_b) = h.allocate(b, "bob", 600, SECRET).unwrap();
    // Loopback is refused by default, but these are our own relays.
    assert_eq!(h.permit(a, rb, &auth_a), None);
    assert_eq!(h.permit(b, ra, &auth_b), None);
    let outs = h.feed(a, &client::send([1; 12], rb, b"hello"));
    assert_eq!(
        outs,
        [Output::ToPeer {
            relay: ra,
            peer: rb,
            data: b"hello".to_vec()
        }]
    );
    // The datagram arrives at b's relay socket from a's relay address.
    h.relay.handle_peer(rb, ra, b"hello", h.now);
    let outs = h.drain();
    let [Output::ToClient { client, data }] = outs.as_slice() else {
        panic!("{outs:?}")
    };
    assert_eq!(*client, b);
    assert_eq!(client::data_indication(data), Some((ra, b"hello".to_vec())));
    // Another loopback port, not a relay of ours, is refused.
    let other: SocketAddr = "127.0.0.1:6379".parse().unwrap();
    assert!(h.feed(a, &client::send([2; 12], other, b"x")).is_empty());
    assert_eq!(h.relay.stats().refusals(Refusal::ForbiddenPeer), 1);
}

#[test]
fn forged_expired_and_stale_credentials_are_refused() {
    let mut h = Harness::new(Config::default());
    assert_eq!(
        h.allocate(udp("192.0.2.1:1"), "eve", 600, b"wrong")
            .unwrap_err(),
        401
    );
    assert_eq!(h.relay.stats().refusals(Refusal::BadCredential), 1);
    assert_eq!(
        h.allocate(udp("192.0.2.1:2"), "old", -1, SECRET)
            .unwrap_err(),
        401
    );
    assert_eq!(h.relay.stats().refusals(Refusal::Expired), 1);
    // A nonce from long ago: 438, with a new one.
    let c = udp("192.0.2.1:3");
    let (_, auth) = h.allocate(c, "carol", 100_000, SECRET).unwrap();
    h.now += Duration::from_secs(7200);
    let r = h.reply(c, &client::refresh([7; 12], 600, &auth));
    assert_eq!(Message::decode(&r).unwrap().error_code(), Some(438));
    assert_eq!(h.relay.stats().allocations, 1);
    assert_eq!(h.relay.stats().allocated, 1);
}

#[test]
fn private_peers_are_refused_unless_allowed() {
    let mut h = Harness::new(Config::default());
    h.relay_ip = "203.0.113.1";
    let c = udp("192.0.2.1:1");
    let (_, auth) = h.allocate(c, "u", 600, SECRET).unwrap();
    for peer in ["127.0.0.1:9", "10.0.0.1:9", "169.254.169.254:80", "[::1]:9"] {
        assert_eq!(
            h.permit(c, peer.parse().unwrap(), &auth),
            Some(403),
            "{peer}"
        );
    }
    assert_eq!(h.permit(c, "198.51.100.7:9".parse().unwrap(), &auth), None);
    let mut h = Harness::new(Config {
        allow_loopback: true,
        ..Config::default()
    });
    h.relay_ip = "203.0.113.1";
    let (_, auth) = h.allocate(c, "u", 600, SECRET).unwrap();
    assert_eq!(h.permit(c, "127.0.0.1:9".parse().unwrap(), &auth), None);
    assert_eq!(h.permit(c, "10.0.0.1:9".parse().unwrap(), &auth), Some(403));
}

#[test]
fn allocations_and_bandwidth_are_limited_per_user() {
    let mut h = Harness::new(Config {
        max_allocations_per_user: 2,
        bandwidth: 1000,
        ..Config::default()
    });
    let (ra, auth) = h
        .allocate(udp("192.0.2.1:1"), "u/peer1", 600, SECRET)
        .unwrap();
    h.allocate(udp("192.0.2.1:2"), "u/peer2", 600, SECRET)
        .unwrap();
    // The account is the part before '/': a third peer name does not help.
    assert_eq!(
        h.allocate(udp("192.0.2.1:3"), "u/peer3", 600, SECRET)
            .unwrap_err(),
        486
    );
    assert!(h.allocate(udp("192.0.2.1:4"), "v", 600, SECRET).is_ok());
    let peer: SocketAddr = "198.51.100.7:9".parse().unwrap();
    let c = udp("192.0.2.1:1");
    assert_eq!(h.permit(c, peer, &auth), None);
    // Burst of 2,000 bytes: four 500-byte packets pass, the fifth not.
    let sent = (0..5)
        .filter(|_| {
            !h.feed(c, &client::send([3; 12], peer, &[0; 500]))
                .is_empty()
        })
        .count();
    assert_eq!(sent, 4);
    assert_eq!(h.relay.stats().refusals(Refusal::Bandwidth), 1);
    // A second later, 1,000 more.
    h.now += Duration::from_secs(1);
    assert!(!h
        .feed(c, &client::send([3; 12], peer, &[0; 500]))
        .is_empty());
    // Data from a peer without a permission is dropped.
    h.relay
        .handle_peer(ra, "198.51.100.8:9".parse().unwrap(), b"x", h.now);
    assert!(h.drain().is_empty());
    assert_eq!(h.relay.stats().refusals(Refusal::NoPermission), 1);
}

#[test]
fn allocations_expire_and_delete() {
    let mut h = Harness::new(Config::default());
    let c = udp("192.0.2.1:1");
    let (ra, auth) = h.allocate(c, "u", 600, SECRET).unwrap();
    // Deleting closes the relay socket, and answers.
    let outs = h.feed(c, &client::refresh([8; 12], 0, &auth));
    assert_eq!(outs[0], Output::CloseRelay { relay: ra });
    let Output::ToClient { data, .. } = &outs[1] else {
        panic!("{outs:?}")
    };
    assert_eq!(Message::decode(data).unwrap().class, Class::Success);
    let (rb, _) = h.allocate(c, "u", 600, SECRET).unwrap();
    assert_ne!(ra, rb);
    h.now += Duration::from_secs(601);
    h.relay.handle_timeout(h.now);
    assert_eq!(h.drain(), [Output::CloseRelay { relay: rb }]);
    assert_eq!(h.relay.stats().allocations, 0);
    assert_eq!(h.relay.poll_timeout(), None);
}

/// A small deterministic generator: the test needs no crate for it.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn hostile_bytes_never_panic_and_leave_the_relay_working() {
    let mut h = Harness::new(Config::default());
    let c = udp("192.0.2.1:1");
    let (ra, auth) = h.allocate(c, "u", 600, SECRET).unwrap();
    let peer: SocketAddr = "198.51.100.7:9".parse().unwrap();
    // Valid messages of every kind, as seeds for mutation.
    let seeds: Vec<Vec<u8>> = vec![
        client::allocate([1; 12], Some(&auth)),
        client::refresh([2; 12], 600, &auth),
        client::create_permission([3; 12], peer, &auth),
        client::channel_bind([4; 12], 0x4001, peer, &auth),
        client::send([5; 12], peer, b"data"),
        chordphone_relay::stun::encode_channel_data(0x4001, b"data", false),
    ];
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for i in 0..20_000 {
        let mut m = seeds[rng.below(seeds.len())].clone();
        for _ in 0..=rng.below(4) {
            match rng.below(4) {
                0 if !m.is_empty() => {
                    let at = rng.below(m.len());
                    m[at] = rng.next() as u8;
                }
                1 => m.truncate(rng.below(m.len() + 1)),
                2 => m.extend((0..rng.below(16)).map(|_| rng.next() as u8)),
                _ => {
                    // Length fields are where parsers go wrong.
                    if m.len() >= 4 {
                        m[2] = rng.next() as u8;
                        m[3] = rng.next() as u8;
                    }
                }
            }
        }
        let from = udp(&format!("192.0.2.{}:{}", 1 + i % 3, 1 + i % 2));
        h.feed(from, &m);
        h.relay.handle_peer(ra, peer, &m, h.now);
        h.drain();
        let _ = Message::decode(&m);
    }
    // The client's allocation still relays (once its bandwidth, spent on
    // what the mutations relayed, has refilled).
    h.now += Duration::from_secs(3);
    assert_eq!(h.permit(c, peer, &auth), None);
    let outs = h.feed(c, &client::send([6; 12], peer, b"still here"));
    assert_eq!(
        outs,
        [Output::ToPeer {
            relay: ra,
            peer,
            data: b"still here".to_vec()
        }]
    );
}
