//! The phone fuzz driver (included by path by the `phone_input` target).
//!
//! Bob's phone, registered (its overlay requests answered at once), with a
//! call from Alice ringing. Each fuzz frame is `[ctl: u8][len: u16 LE][bytes]`:
//! with bit 0 of `ctl` clear the bytes reach `handle_app` as they are (an
//! envelope, garbage, anything); with it set they are SIP, sealed from
//! Alice's node with her valid claim and signature, so they pass the gate
//! and reach the user agent. Bits 1-2 pick the origin (Alice, another node,
//! Bob himself) for raw bytes; bits 4-7 move the clock by that many 100 ms
//! and run due timers. At the end the clock jumps past every timer and the
//! ended calls' lifetime.
//!
//! Checked: nothing panics; the action queue stays bounded; every
//! payload the phone sends is a sealed envelope Alice's node can open.

#![allow(dead_code)]

use std::time::Duration;

use chordphone_overlay::{Answer, Identity, NodeId, Time};
use chordphone_phone::seal::{open, seal, sign_sip, Inner};
use chordphone_phone::{claim_record, Action, Config, Phone, MAX_ACTIONS};

const T0: Time = Time(1_700_000_000_000_000);

pub struct Rig {
    pub bob: Phone,
    pub now: Time,
    alice_node: Identity,
    alice_user: Identity,
    bob_key: [u8; 32],
    other: NodeId,
    sent: u64,
}

impl Rig {
    pub fn new() -> Rig {
        let bob_node = Identity::from_seed([2; 32]);
        let bob_key = bob_node.public_key();
        let mut bob = Phone::new(Config::new(bob_node, Identity::from_seed([12; 32]), 7));
        let _ = bob.register("bob", T0);
        let mut rig = Rig {
            bob,
            now: T0,
            alice_node: Identity::from_seed([1; 32]),
            alice_user: Identity::from_seed([11; 32]),
            bob_key,
            other: Identity::from_seed([4; 32]).node_id(),
            sent: 0,
        };
        // The claim, then the binding.
        rig.drain();
        rig.drain();
        let invite = invite();
        rig.sealed(&invite);
        // The set-up must reach a ringing call, or the fuzzer explores less
        // than it seems to.
        assert_eq!(rig.bob.calls().len(), 1, "the set-up call does not ring");
        rig
    }

    /// Answers the phone's overlay requests (stores succeed, gets find
    /// nothing) and checks what it sends.
    fn drain(&mut self) {
        let mut n = 0;
        let mut outcomes = Vec::new();
        while let Some(a) = self.bob.poll_action() {
            n += 1;
            assert!(n <= 4 * MAX_ACTIONS, "the action queue grows without bound");
            match a {
                Action::Put { token, .. }
                | Action::PutOwn { token, .. }
                | Action::RemoveOwn { token, .. } => {
                    outcomes.push((token, Ok(Answer::Stored)));
                }
                Action::Get { token, .. } => {
                    outcomes.push((token, Ok(Answer::Records(Vec::new()))))
                }
                Action::Send { token, to, payload } => {
                    if to == self.alice_node.node_id() {
                        let me = chordphone_overlay::node_id_of(&self.bob_key);
                        assert!(
                            open(&payload, &me, &self.alice_node).is_ok(),
                            "a sent payload does not open"
                        );
                    }
                    outcomes.push((token, Ok(Answer::Delivered)));
                }
                _ => {}
            }
        }
        for (token, outcome) in outcomes {
            self.bob.handle_outcome(token, outcome, self.now);
        }
    }

    /// `sip` sealed from Alice's node to Bob with Alice's claim.
    pub fn sealed(&mut self, sip: &[u8]) {
        let aor = "sip:alice@chordphone";
        let claim = claim_record(
            &self.alice_user,
            aor,
            1,
            T0 + Duration::from_secs(24 * 3600),
        );
        let from = self.alice_node.node_id();
        let to = chordphone_overlay::node_id_of(&self.bob_key);
        let inner = Inner {
            node_key: self.alice_node.public_key(),
            claim,
            sent: self.now,
            user_sig: sign_sip(&self.alice_user, &from, &to, self.now, sip),
            sip: sip.to_vec(),
        };
        self.sent += 1;
        let mut secret = [5u8; 32];
        secret[..8].copy_from_slice(&self.sent.to_le_bytes());
        if let Ok(payload) = seal(&inner, &from, &self.bob_key, secret) {
            self.bob.handle_app(from, &payload, self.now);
        }
        self.drain();
    }

    pub fn raw(&mut self, origin: u8, bytes: &[u8]) {
        let from = match origin {
            0 => self.alice_node.node_id(),
            1 => self.other,
            _ => chordphone_overlay::node_id_of(&self.bob_key),
        };
        self.bob.handle_app(from, bytes, self.now);
        self.drain();
    }

    pub fn advance(&mut self, by: Duration) {
        self.now = self.now + by;
        for _ in 0..10_000 {
            match self.bob.poll_timeout() {
                Some(t) if t <= self.now => {
                    self.bob.handle_timeout(self.now);
                    self.drain();
                }
                _ => break,
            }
        }
    }
}

/// An INVITE from Alice to Bob with an SDP offer.
pub fn invite() -> Vec<u8> {
    let body = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendrecv\r\n";
    format!(
        "INVITE sip:bob@chordphone SIP/2.0\r\nVia: SIP/2.0/P2P a.invalid;branch=z9hG4bKfuzz1\r\nMax-Forwards: 70\r\nFrom: <sip:alice@chordphone>;tag=a1\r\nTo: <sip:bob@chordphone>\r\nCall-ID: fuzzcall\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@a.invalid>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

pub fn run(data: &[u8]) {
    let mut rig = Rig::new();
    let mut rest = data;
    for _ in 0..64 {
        let [ctl, lo, hi, tail @ ..] = rest else {
            break;
        };
        let len = usize::from(u16::from_le_bytes([*lo, *hi])).min(tail.len());
        let (bytes, next) = tail.split_at(len);
        rest = next;
        if ctl & 1 == 1 {
            rig.sealed(bytes);
        } else {
            rig.raw((ctl >> 1) & 3, bytes);
        }
        rig.advance(Duration::from_millis(100 * u64::from(ctl >> 4)));
    }
    rig.advance(Duration::from_secs(200));
    rig.advance(Duration::from_secs(200));
}
