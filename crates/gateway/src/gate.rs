//! The gateway's door to the overlay: sealed SIP from tabs is opened and
//! its sender proven exactly as a phone proves a caller (the phone core's
//! seal, claim and replay checks), and one more step a phone does not
//! need: before a name may spend the gateway's trunks, the claim it signed
//! with must be the one the overlay holds for that name (first come, first
//! served). A self-made claim on someone else's name, or on a name nobody
//! registered, is "not a registered identity" and gets 403.
//!
//! The overlay lookup is the shell's (a `get` of [`claim_key`]); messages
//! wait for it in a bounded queue, and answers are remembered for
//! [`VERIFIED_FOR`].
//!
//! Replies are sealed with the gateway's own claim (a name it signs for
//! itself, never stored): tabs accept them because they come from the
//! gateway node they called through, not because of the name.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use chordphone_overlay::{node_id_of, verify, Id, Identity, NodeId, Record, Time};
use chordphone_phone::seal::{open, seal, sign_sip, sip_signed_bytes, Inner, OpenError, SealError};
use chordphone_phone::{claim_key, claim_record, claimed_aor, find_claim, Replays, CLAIM_TTL};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// How long a name's claim, checked against the overlay, stays trusted.
pub const VERIFIED_FOR: Duration = Duration::from_secs(600);
/// How long a name nobody holds (or the lookup failed) stays untrusted
/// without asking again: a flood of forged messages costs one lookup a minute.
pub const UNREGISTERED_FOR: Duration = Duration::from_secs(60);
/// Names remembered as checked, at most.
pub const MAX_VERIFIED: usize = 4096;
/// Messages waiting for a claim lookup, at most.
pub const MAX_WAITING: usize = 256;
/// Node keys remembered (to seal replies), at most.
pub const MAX_KEYS: usize = 4096;

/// Why the gate dropped a payload (counted; nothing is answered).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dropped {
    /// Not an envelope, not for us, or malformed inside.
    Open(OpenError),
    /// The sender's node key is not the node that sent it.
    WrongNodeKey,
    /// A replay, or sealed outside the replay window.
    Replayed,
    /// Too many messages wait for claim lookups.
    Busy,
}

/// What to do with an opened payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Opened {
    /// Hand it to [`Gateway::handle_caller`](crate::Gateway::handle_caller):
    /// `identity` is the proven name, `None` for a sender that proved none.
    Deliver {
        /// The node that sent it.
        from: NodeId,
        /// The proven AOR.
        identity: Option<String>,
        /// The SIP message.
        sip: Vec<u8>,
    },
    /// It waits: look the claim of `aor` up (`get(claim_key(aor), Single)`)
    /// and report with [`Gate::claim_found`].
    Lookup {
        /// The name.
        aor: String,
        /// Where its claim lives.
        key: Id,
    },
    /// It waits for a lookup already under way.
    Waiting,
}

/// Counters of the gate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GateStats {
    /// Payloads that opened and were handed on.
    pub delivered: u64,
    /// Payloads dropped, any reason.
    pub dropped: u64,
    /// Senders whose claim or signature did not prove a name.
    pub unproven: u64,
    /// Claims that are not the one the overlay holds.
    pub not_registered: u64,
    /// Replies that could not be sealed (no key known, too large).
    pub unsealable: u64,
}

#[derive(Debug)]
struct Wait {
    from: NodeId,
    aor: String,
    writer: [u8; 32],
    sip: Vec<u8>,
}

/// The gate (see the module doc).
pub struct Gate {
    node: Identity,
    claim: Record,
    claim_aor: String,
    replays: Replays,
    keys: BTreeMap<NodeId, [u8; 32]>,
    /// Name → (the writer the overlay holds for it, if any; until when we
    /// trust that).
    verified: BTreeMap<String, (Option<[u8; 32]>, Time)>,
    waiting: VecDeque<Wait>,
    rng: ChaCha20Rng,
    stats: GateStats,
}

impl core::fmt::Debug for Gate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Gate")
            .field("node", &self.node.node_id())
            .field("aor", &self.claim_aor)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Gate {
    /// The gate of the node `node`, answering as `aor`
    /// (`sip:pstn-gateway@chordphone`).
    pub fn new(node: Identity, aor: &str, seed: u64, now: Time) -> Gate {
        let claim = claim_record(&node, aor, now.as_micros(), now + CLAIM_TTL);
        Gate {
            node,
            claim,
            claim_aor: aor.to_owned(),
            replays: Replays::default(),
            keys: BTreeMap::new(),
            verified: BTreeMap::new(),
            waiting: VecDeque::new(),
            rng: ChaCha20Rng::seed_from_u64(seed),
            stats: GateStats::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> &GateStats {
        &self.stats
    }

    /// Opens a payload `from` sent on the SIP service.
    pub fn open(&mut self, from: NodeId, payload: &[u8], now: Time) -> Result<Opened, Dropped> {
        let r = self.open_inner(from, payload, now);
        if r.is_err() {
            self.stats.dropped += 1;
        }
        r
    }

    fn open_inner(&mut self, from: NodeId, payload: &[u8], now: Time) -> Result<Opened, Dropped> {
        let inner = open(payload, &from, &self.node).map_err(Dropped::Open)?;
        if node_id_of(&inner.node_key) != from {
            return Err(Dropped::WrongNodeKey);
        }
        let me = self.node.node_id();
        let signed = sip_signed_bytes(&from, &me, inner.sent, &inner.sip);
        let aor = claimed_aor(&inner.claim, now)
            .filter(|_| verify(&inner.claim.writer, &signed, &inner.user_sig.0));
        // Only signed messages reach the replay memory.
        if aor.is_some()
            && self
                .replays
                .check(&inner.user_sig, inner.sent, now)
                .is_err()
        {
            return Err(Dropped::Replayed);
        }
        self.learn_key(from, inner.node_key);
        let Some(aor) = aor else {
            self.stats.unproven += 1;
            return Ok(self.deliver(from, None, inner.sip));
        };
        let writer = inner.claim.writer;
        match self.verified.get(&aor) {
            Some((w, until)) if *until > now => {
                let identity = (*w == Some(writer)).then_some(aor);
                if identity.is_none() {
                    self.stats.not_registered += 1;
                }
                return Ok(self.deliver(from, identity, inner.sip));
            }
            _ => {}
        }
        if self.waiting.len() >= MAX_WAITING {
            return Err(Dropped::Busy);
        }
        let asked = self.waiting.iter().any(|w| w.aor == aor);
        self.waiting.push_back(Wait {
            from,
            aor: aor.clone(),
            writer,
            sip: inner.sip,
        });
        Ok(if asked {
            Opened::Waiting
        } else {
            Opened::Lookup {
                key: claim_key(&aor),
                aor,
            }
        })
    }

    /// The overlay's records under the claim key of `aor` (empty if the
    /// lookup failed: nobody is trusted then). Returns the messages that
    /// waited for it, each with its verdict.
    pub fn claim_found(&mut self, aor: &str, records: &[Record], now: Time) -> Vec<Opened> {
        let holder = find_claim(records, aor, now).map(|r| r.writer);
        if self.verified.len() >= MAX_VERIFIED {
            self.verified.retain(|_, (_, until)| *until > now);
        }
        if self.verified.len() < MAX_VERIFIED {
            let trust = if holder.is_some() {
                VERIFIED_FOR
            } else {
                UNREGISTERED_FOR
            };
            self.verified.insert(aor.to_owned(), (holder, now + trust));
        }
        let (mine, rest): (Vec<Wait>, Vec<Wait>) =
            self.waiting.drain(..).partition(|w| w.aor == aor);
        self.waiting = rest.into();
        mine.into_iter()
            .map(|w| {
                let identity = (holder == Some(w.writer)).then(|| w.aor.clone());
                if identity.is_none() {
                    self.stats.not_registered += 1;
                }
                self.deliver(w.from, identity, w.sip)
            })
            .collect()
    }

    fn deliver(&mut self, from: NodeId, identity: Option<String>, sip: Vec<u8>) -> Opened {
        self.stats.delivered += 1;
        Opened::Deliver {
            from,
            identity,
            sip,
        }
    }

    fn learn_key(&mut self, node: NodeId, key: [u8; 32]) {
        if self.keys.len() >= MAX_KEYS && !self.keys.contains_key(&node) {
            // Forget one at random: a flood of new senders cannot pin the table.
            let skip = (self.rng.next_u64() % self.keys.len() as u64) as usize;
            if let Some(k) = self.keys.keys().nth(skip).copied() {
                self.keys.remove(&k);
            }
        }
        self.keys.insert(node, key);
    }

    /// Seals `sip` for the node `to` (whose key arrived with its messages).
    pub fn seal(&mut self, to: NodeId, sip: Vec<u8>, now: Time) -> Result<Vec<u8>, SealError> {
        let Some(key) = self.keys.get(&to).copied() else {
            self.stats.unsealable += 1;
            return Err(SealError::BadKey);
        };
        if self.claim.expires <= now + Duration::from_secs(3600) {
            let version = self.claim.version.saturating_add(1).max(now.as_micros());
            self.claim = claim_record(&self.node, &self.claim_aor, version, now + CLAIM_TTL);
        }
        let me = self.node.node_id();
        let inner = Inner {
            node_key: self.node.public_key(),
            claim: self.claim.clone(),
            sent: now,
            user_sig: sign_sip(&self.node, &me, &to, now, &sip),
            sip,
        };
        let mut secret = [0u8; 32];
        self.rng.fill_bytes(&mut secret);
        seal(&inner, &me, &key, secret).inspect_err(|_| self.stats.unsealable += 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chordphone_overlay::Kind;

    const NOW: Time = Time(1_700_000_000_000_000);

    fn sealed_from(
        user: &Identity,
        node: &Identity,
        claim: &Record,
        gw: &Identity,
        sip: &[u8],
        t: Time,
    ) -> Vec<u8> {
        let inner = Inner {
            node_key: node.public_key(),
            claim: claim.clone(),
            sent: t,
            user_sig: sign_sip(user, &node.node_id(), &gw.node_id(), t, sip),
            sip: sip.to_vec(),
        };
        seal(&inner, &node.node_id(), &gw.public_key(), [7; 32]).unwrap()
    }

    #[test]
    fn only_the_registered_holder_of_a_name_is_proven() {
        let gw_node = Identity::from_seed([1; 32]);
        let mut gate = Gate::new(
            Identity::from_seed([1; 32]),
            "sip:pstn-gateway@chordphone",
            3,
            NOW,
        );
        let alice = Identity::from_seed([2; 32]);
        let tab = Identity::from_seed([3; 32]);
        let claim = claim_record(&alice, "sip:alice@chordphone", 1, NOW + CLAIM_TTL);
        let p = sealed_from(&alice, &tab, &claim, &gw_node, b"INVITE 1", NOW);
        let Ok(Opened::Lookup { aor, key }) = gate.open(tab.node_id(), &p, NOW) else {
            panic!("a lookup first");
        };
        assert_eq!(key, claim_key("sip:alice@chordphone"));
        // The same payload again is a replay.
        assert_eq!(gate.open(tab.node_id(), &p, NOW), Err(Dropped::Replayed));
        let out = gate.claim_found(&aor, std::slice::from_ref(&claim), NOW);
        assert_eq!(
            out,
            vec![Opened::Deliver {
                from: tab.node_id(),
                identity: Some("sip:alice@chordphone".into()),
                sip: b"INVITE 1".to_vec()
            }]
        );
        // Now remembered: no lookup.
        let p2 = sealed_from(
            &alice,
            &tab,
            &claim,
            &gw_node,
            b"ACK",
            NOW + Duration::from_secs(1),
        );
        assert!(matches!(
            gate.open(tab.node_id(), &p2, NOW),
            Ok(Opened::Deliver {
                identity: Some(_),
                ..
            })
        ));
        // Mallory signs a claim on alice's name with her own key: valid
        // signature, but not the claim the overlay holds.
        let mallory = Identity::from_seed([4; 32]);
        let forged = claim_record(&mallory, "sip:alice@chordphone", 9, NOW + CLAIM_TTL);
        let p3 = sealed_from(&mallory, &tab, &forged, &gw_node, b"INVITE 2", NOW);
        assert!(matches!(
            gate.open(tab.node_id(), &p3, NOW),
            Ok(Opened::Deliver { identity: None, .. })
        ));
        // A name nobody registered: the lookup finds nothing.
        let ghost = claim_record(&mallory, "sip:ghost@chordphone", 1, NOW + CLAIM_TTL);
        let p4 = sealed_from(&mallory, &tab, &ghost, &gw_node, b"INVITE 3", NOW);
        assert!(matches!(
            gate.open(tab.node_id(), &p4, NOW),
            Ok(Opened::Lookup { .. })
        ));
        let out = gate.claim_found("sip:ghost@chordphone", &[], NOW);
        assert!(matches!(&out[..], [Opened::Deliver { identity: None, .. }]));
        // ...and is not asked about again for a while.
        let p4b = sealed_from(&mallory, &tab, &ghost, &gw_node, b"INVITE 3b", NOW);
        assert!(matches!(
            gate.open(tab.node_id(), &p4b, NOW),
            Ok(Opened::Deliver { identity: None, .. })
        ));
        assert_eq!(gate.stats().not_registered, 3);
        // A signature by another key than the claim's proves nothing.
        let p5 = sealed_from(&mallory, &tab, &claim, &gw_node, b"INVITE 4", NOW);
        assert!(matches!(
            gate.open(tab.node_id(), &p5, NOW),
            Ok(Opened::Deliver { identity: None, .. })
        ));
        // Garbage and a wrong origin are dropped.
        assert!(matches!(
            gate.open(tab.node_id(), b"junk", NOW),
            Err(Dropped::Open(_))
        ));
        assert!(gate.open(mallory.node_id(), &p2, NOW).is_err());
        let _ = Kind::Single;
    }

    #[test]
    fn replies_are_sealed_to_known_senders_only() {
        let gw_node = Identity::from_seed([1; 32]);
        let mut gate = Gate::new(
            Identity::from_seed([1; 32]),
            "sip:pstn-gateway@chordphone",
            3,
            NOW,
        );
        let tab = Identity::from_seed([3; 32]);
        assert!(gate
            .seal(tab.node_id(), b"SIP/2.0 100".to_vec(), NOW)
            .is_err());
        let alice = Identity::from_seed([2; 32]);
        let claim = claim_record(&alice, "sip:alice@chordphone", 1, NOW + CLAIM_TTL);
        let p = sealed_from(&alice, &tab, &claim, &gw_node, b"INVITE", NOW);
        gate.open(tab.node_id(), &p, NOW).unwrap();
        let reply = gate
            .seal(tab.node_id(), b"SIP/2.0 180".to_vec(), NOW)
            .unwrap();
        let inner = open(&reply, &gw_node.node_id(), &tab).unwrap();
        assert_eq!(inner.sip, b"SIP/2.0 180");
        assert_eq!(
            claimed_aor(&inner.claim, NOW).as_deref(),
            Some("sip:pstn-gateway@chordphone")
        );
    }
}
