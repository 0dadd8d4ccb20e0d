//! The phone records fuzz driver (included by path by the `phone_records`
//! target).
//!
//! Alice's phone, registered, with bob as a contact. The overlay answers
//! her reads of her contact list and of bob's presence with records built
//! from the fuzz input, signed by the keys a reader checks (the fuzzer
//! cannot forge Ed25519 signatures, so unsigned bytes would never get past
//! the first check). Each frame is `[ctl: u8][len: u16 LE][bytes]`; by
//! `ctl mod 4` the bytes become: a contact list value as stored (signed by
//! alice's user key, not sealed), a contact list sealed to alice's key (so
//! the list decoder sees them), a presence value written by some node
//! (bits 2-3 pick the node), or a presence value whose announcement holds
//! bob's real claim and a binding for the writing node, with the bytes as
//! its state and label. Bits 4-7 move the clock by that many seconds.
//!
//! Checked: nothing panics; the action queue stays bounded; the contact
//! list stays within its bounds; a read never shows bob in a state that no
//! trusted value said.

#![allow(dead_code)]

use std::time::Duration;

use chordphone_overlay::{Answer, Identity, Kind, Record, Time};
use chordphone_phone::seal::seal_bytes;
use chordphone_phone::{
    claim_record, contacts_key, presence_key, Action, Announcement, Binding, Config, Phone,
    Presence, MAX_ACTIONS, MAX_CONTACTS,
};

const T0: Time = Time(1_700_000_000_000_000);
const BOB: &str = "sip:bob@chordphone";

pub struct Rig {
    alice: Phone,
    user: Identity,
    bob_user: Identity,
    now: Time,
    /// The record the next reads of each kind get.
    contacts: Option<Record>,
    presence: Option<Record>,
    /// Every state a trusted value has said of bob.
    said: Vec<Presence>,
    version: u64,
}

impl Rig {
    pub fn new() -> Rig {
        let user = Identity::from_seed([11; 32]);
        let alice = Phone::new(Config::new(Identity::from_seed([1; 32]), user.clone(), 7));
        let mut rig = Rig {
            alice,
            user,
            bob_user: Identity::from_seed([12; 32]),
            now: T0,
            contacts: None,
            presence: None,
            said: Vec::new(),
            version: 1,
        };
        let _ = rig.alice.register("alice", T0);
        for _ in 0..4 {
            rig.drain();
        }
        assert!(rig.alice.aor().is_some(), "the set-up does not register");
        let _ = rig.alice.add_contact("bob", Some("Bob"), T0);
        rig.drain();
        assert_eq!(rig.alice.contacts().len(), 1, "the set-up has no contact");
        rig
    }

    /// Answers the phone's requests: stores succeed, reads get the records
    /// the frames made.
    fn drain(&mut self) {
        let mut n = 0;
        let mut outcomes = Vec::new();
        while let Some(a) = self.alice.poll_action() {
            n += 1;
            assert!(n <= 4 * MAX_ACTIONS, "the action queue grows without bound");
            match a {
                Action::Put { token, .. }
                | Action::PutOwn { token, .. }
                | Action::RemoveOwn { token, .. }
                | Action::Send { token, .. } => outcomes.push((token, Ok(Answer::Stored))),
                Action::Get { token, key, .. } => {
                    let r = if key == contacts_key(&self.user) {
                        self.contacts.clone()
                    } else if key == presence_key(BOB) {
                        self.presence.clone()
                    } else {
                        None
                    };
                    outcomes.push((token, Ok(Answer::Records(r.into_iter().collect()))));
                }
                _ => {}
            }
        }
        for (token, outcome) in outcomes {
            self.alice.handle_outcome(token, outcome, self.now);
        }
    }

    fn next_version(&mut self) -> u64 {
        self.version += 1;
        self.now.as_micros() + self.version
    }

    fn frame(&mut self, ctl: u8, bytes: &[u8]) {
        let expires = self.now + Duration::from_secs(60);
        let version = self.next_version();
        match ctl & 3 {
            0 | 1 => {
                let value = if ctl & 3 == 0 {
                    bytes.to_vec()
                } else {
                    let me = self.user.node_id();
                    let mut secret = [3u8; 32];
                    secret[..8].copy_from_slice(&version.to_le_bytes());
                    match seal_bytes(bytes, &me, &self.user.public_key(), secret) {
                        Ok(v) => v,
                        Err(_) => return,
                    }
                };
                let key = contacts_key(&self.user);
                let r = Record::sign(&self.user, key, Kind::Single, version, expires, Some(value));
                self.contacts = Some(r);
            }
            2 => {
                let node = Identity::from_seed([20 + ((ctl >> 2) & 3); 32]);
                let key = presence_key(BOB);
                let r = Record::sign(&node, key, Kind::Multi, version, expires, Some(bytes.to_vec()));
                self.presence = Some(r);
            }
            _ => {
                let node = Identity::from_seed([30 + ((ctl >> 2) & 3); 32]);
                let state = match bytes.first().map(|b| b % 5) {
                    Some(0) => Presence::Online,
                    Some(1) => Presence::Away,
                    Some(2) => Presence::Busy,
                    Some(3) => Presence::InCall,
                    _ => Presence::Offline,
                };
                let label = String::from_utf8_lossy(bytes.get(1..).unwrap_or_default());
                let a = Announcement {
                    state,
                    claim: claim_record(&self.bob_user, BOB, 1, expires),
                    binding: Binding::sign(&self.bob_user, node.public_key(), BOB, &label, expires),
                };
                let key = presence_key(BOB);
                let r = Record::sign(&node, key, Kind::Multi, version, expires, Some(a.encode()));
                if let Some(s) = chordphone_phone::trusted_state(&r, BOB, self.now) {
                    self.said.push(s);
                }
                self.presence = Some(r);
            }
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now = self.now + by;
        for _ in 0..10_000 {
            match self.alice.poll_timeout() {
                Some(t) if t <= self.now => {
                    self.alice.handle_timeout(self.now);
                    self.drain();
                }
                _ => break,
            }
        }
    }

    fn check(&self) {
        let contacts = self.alice.contacts();
        assert!(contacts.len() <= MAX_CONTACTS, "the list outgrows its bound");
        if let Some(bob) = contacts.iter().find(|c| c.aor == BOB) {
            // Only a value with bob's claim and binding may say anything.
            assert!(
                bob.presence == Presence::Offline || self.said.contains(&bob.presence),
                "bob shown {:?}, which no trusted value said",
                bob.presence
            );
        }
    }
}

pub fn run(data: &[u8]) {
    let mut rig = Rig::new();
    let mut rest = data;
    for _ in 0..32 {
        let [ctl, lo, hi, tail @ ..] = rest else {
            break;
        };
        let len = usize::from(u16::from_le_bytes([*lo, *hi])).min(tail.len());
        let (bytes, next) = tail.split_at(len);
        rest = next;
        rig.frame(*ctl, bytes);
        rig.advance(Duration::from_secs(u64::from(ctl >> 4)));
        rig.check();
    }
    rig.advance(Duration::from_secs(120));
    rig.check();
}
