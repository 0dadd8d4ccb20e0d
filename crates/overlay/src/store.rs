//! The local record store of one node, with the ownership and version rules.
//!
//! Every replica applies the same rules, so they converge without asking
//! the writer: a slot is `(key, Single)` or `(key, Multi, writer)`; a slot
//! taken by one signer refuses every other signer until its record expires;
//! a higher version replaces a lower one; two different records with the same
//! version (concurrent writes from one key pair, e.g. two tabs) resolve to the
//! one with the larger signature bytes, which every replica computes alike.

use crate::id::Id;
use crate::identity::PUBLIC_KEY_BYTES;
use crate::record::{Kind, Record};
use crate::time::Time;
use core::ops::Bound;
use std::collections::BTreeMap;

/// Why a record was refused.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize,
)]
pub enum StoreError {
    /// The signature does not match the writer and contents.
    #[error("record signature is invalid")]
    BadSignature,
    /// The key is held by a different signer.
    #[error("key is owned by another signer")]
    NotOwner,
    /// A record with this or a newer version is already stored.
    #[error("a newer or equal version is already stored")]
    StaleVersion,
    /// The record has already expired.
    #[error("record has expired")]
    Expired,
    /// The record lives longer than this node accepts.
    #[error("record lifetime exceeds the maximum")]
    TtlTooLong,
    /// The value is larger than this node accepts.
    #[error("record value is too large")]
    TooLarge,
    /// The node holds as many records as it is configured to.
    #[error("store is full")]
    Full,
}

/// What a successful put did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// A new slot was filled.
    Inserted,
    /// An older record in the slot was replaced.
    Replaced,
    /// The identical record was already stored.
    Unchanged,
}

/// Limits a store enforces.
#[derive(Clone, Copy, Debug)]
pub struct StoreLimits {
    /// Largest value in bytes.
    pub max_value: usize,
    /// Longest lifetime accepted, measured from `now`.
    pub max_ttl: core::time::Duration,
    /// Most records (slots, tombstones included) held at once.
    pub max_records: usize,
}

type Slot = (Id, Kind, [u8; PUBLIC_KEY_BYTES]);

/// Records held by one node, ordered by key for range hand-over.
#[derive(Debug)]
pub struct Store {
    limits: StoreLimits,
    slots: BTreeMap<Slot, Record>,
}

impl Store {
    /// An empty store.
    pub fn new(limits: StoreLimits) -> Store {
        Store {
            limits,
            slots: BTreeMap::new(),
        }
    }

    /// Number of slots held, tombstones included.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Checks and stores a record. Changes nothing on error.
    pub fn put(&mut self, record: Record, now: Time) -> Result<PutOutcome, StoreError> {
        if record.expires <= now {
            return Err(StoreError::Expired);
        }
        if record.expires > now + self.limits.max_ttl {
            return Err(StoreError::TtlTooLong);
        }
        if record
            .value
            .as_ref()
            .is_some_and(|v| v.len() > self.limits.max_value)
        {
            return Err(StoreError::TooLarge);
        }
        let slot = slot_of(&record);
        let existing = self.live_owner_of(&slot, now);
        if let Some(old) = existing {
            if old.writer != record.writer {
                return Err(StoreError::NotOwner);
            }
            if *old == record {
                // Replicas resend what they hold; skip the signature check.
                return Ok(PutOutcome::Unchanged);
            }
            if record.version < old.version
                || (record.version == old.version && record.sig.0 <= old.sig.0)
            {
                return Err(StoreError::StaleVersion);
            }
        }
        if !record.verify() {
            return Err(StoreError::BadSignature);
        }
        let replaced = self.slots.contains_key(&slot);
        if !replaced && self.slots.len() >= self.limits.max_records {
            self.expire(now);
            if self.slots.len() >= self.limits.max_records {
                return Err(StoreError::Full);
            }
        }
        self.slots.insert(slot, record);
        Ok(if replaced {
            PutOutcome::Replaced
        } else {
            PutOutcome::Inserted
        })
    }

    /// The record in a slot if it is still live (expired ones do not count:
    /// once a record expires, its key is free for anyone).
    fn live_owner_of(&self, slot: &Slot, now: Time) -> Option<&Record> {
        // `slot_of` already maps every writer of a single-valued key to one slot.
        self.slots.get(slot).filter(|r| r.expires > now)
    }

    /// Live values under a key: at most one for `Single`, one per signer for
    /// `Multi`. Tombstones are not returned.
    pub fn get(&self, key: &Id, kind: Kind, now: Time) -> Vec<Record> {
        let lo = (*key, kind, [0u8; PUBLIC_KEY_BYTES]);
        let hi = (*key, kind, [0xffu8; PUBLIC_KEY_BYTES]);
        self.slots
            .range(lo..=hi)
            .map(|(_, r)| r)
            .filter(|r| r.expires > now && !r.is_tombstone())
            .cloned()
            .collect()
    }

    /// Drops expired records; returns how many.
    pub fn expire(&mut self, now: Time) -> usize {
        let before = self.slots.len();
        self.slots.retain(|_, r| r.expires > now);
        before - self.slots.len()
    }

    /// Records whose key lies in the ring interval (from, to], tombstones
    /// included (replicas must learn of removals too).
    pub fn in_range(&self, from: &Id, to: &Id) -> Vec<Record> {
        let mut out = Vec::new();
        self.for_each_in_range(from, to, |r| out.push(r.clone()));
        out
    }

    /// Calls `f` for each record with key in (from, to].
    pub fn for_each_in_range(&self, from: &Id, to: &Id, mut f: impl FnMut(&Record)) {
        let hi = |id: &Id| (*id, Kind::Multi, [0xffu8; PUBLIC_KEY_BYTES]);
        let mut visit = |a: Bound<Slot>, b: Bound<Slot>| {
            for (_, r) in self.slots.range((a, b)) {
                f(r);
            }
        };
        if from == to {
            // The whole ring.
            visit(Bound::Unbounded, Bound::Unbounded);
        } else if from < to {
            visit(Bound::Excluded(hi(from)), Bound::Included(hi(to)));
        } else {
            visit(Bound::Excluded(hi(from)), Bound::Unbounded);
            visit(Bound::Unbounded, Bound::Included(hi(to)));
        }
    }

    /// Every record held.
    pub fn iter(&self) -> impl Iterator<Item = &Record> {
        self.slots.values()
    }
}

fn slot_of(r: &Record) -> Slot {
    match r.kind {
        // Single-valued keys share one slot regardless of the writer.
        Kind::Single => (r.key, Kind::Single, [0u8; PUBLIC_KEY_BYTES]),
        Kind::Multi => (r.key, Kind::Multi, r.writer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use core::time::Duration;

    fn store() -> Store {
        Store::new(StoreLimits {
            max_value: 64,
            max_ttl: Duration::from_secs(3600),
            max_records: 8,
        })
    }

    const NOW: Time = Time(1_000_000_000);

    fn rec(who: u8, key: &str, kind: Kind, version: u64, value: Option<&str>) -> Record {
        Record::sign(
            &Identity::from_seed([who; 32]),
            Id::for_key(key),
            kind,
            version,
            NOW + Duration::from_secs(60),
            value.map(|v| v.as_bytes().to_vec()),
        )
    }

    #[test]
    fn forged_signature_is_rejected_and_changes_nothing() {
        let mut s = store();
        let mut forged = rec(1, "alice", Kind::Single, 1, Some("a"));
        forged.value = Some(b"evil".to_vec());
        assert_eq!(s.put(forged, NOW), Err(StoreError::BadSignature));
        assert!(s.is_empty());
    }

    #[test]
    fn another_signer_cannot_overwrite_or_remove() {
        let mut s = store();
        assert_eq!(
            s.put(rec(1, "alice", Kind::Single, 1, Some("a")), NOW),
            Ok(PutOutcome::Inserted)
        );
        assert_eq!(
            s.put(rec(2, "alice", Kind::Single, 9, Some("b")), NOW),
            Err(StoreError::NotOwner)
        );
        assert_eq!(
            s.put(rec(2, "alice", Kind::Single, 9, None), NOW),
            Err(StoreError::NotOwner)
        );
        let got = s.get(&Id::for_key("alice"), Kind::Single, NOW);
        assert_eq!(got[0].value.as_deref(), Some(&b"a"[..]));
    }

    #[test]
    fn replayed_old_version_is_rejected() {
        let mut s = store();
        let v1 = rec(1, "k", Kind::Single, 1, Some("one"));
        let v2 = rec(1, "k", Kind::Single, 2, Some("two"));
        assert_eq!(s.put(v1.clone(), NOW), Ok(PutOutcome::Inserted));
        assert_eq!(s.put(v2.clone(), NOW), Ok(PutOutcome::Replaced));
        assert_eq!(s.put(v1, NOW), Err(StoreError::StaleVersion));
        assert_eq!(s.put(v2, NOW), Ok(PutOutcome::Unchanged));
        assert_eq!(s.get(&Id::for_key("k"), Kind::Single, NOW)[0].version, 2);
    }

    #[test]
    fn equal_versions_resolve_the_same_way_in_any_order() {
        let a = rec(1, "k", Kind::Single, 5, Some("from tab a"));
        let b = rec(1, "k", Kind::Single, 5, Some("from tab b"));
        let mut s1 = store();
        let mut s2 = store();
        let _ = s1.put(a.clone(), NOW);
        let _ = s1.put(b.clone(), NOW);
        let _ = s2.put(b, NOW);
        let _ = s2.put(a, NOW);
        assert_eq!(
            s1.get(&Id::for_key("k"), Kind::Single, NOW),
            s2.get(&Id::for_key("k"), Kind::Single, NOW)
        );
    }

    #[test]
    fn tombstone_hides_value_and_blocks_resurrection() {
        let mut s = store();
        let v1 = rec(1, "k", Kind::Single, 1, Some("v"));
        assert!(s.put(v1.clone(), NOW).is_ok());
        assert!(s.put(rec(1, "k", Kind::Single, 2, None), NOW).is_ok());
        assert!(s.get(&Id::for_key("k"), Kind::Single, NOW).is_empty());
        assert_eq!(s.put(v1, NOW), Err(StoreError::StaleVersion));
    }

    #[test]
    fn multi_keys_hold_one_value_per_signer() {
        let mut s = store();
        assert!(s
            .put(rec(1, "service:relay", Kind::Multi, 1, Some("r1")), NOW)
            .is_ok());
        assert!(s
            .put(rec(2, "service:relay", Kind::Multi, 1, Some("r2")), NOW)
            .is_ok());
        assert!(s
            .put(rec(2, "service:relay", Kind::Multi, 2, Some("r2b")), NOW)
            .is_ok());
        // A single-valued record under the same name does not block the service.
        assert!(s
            .put(rec(3, "service:relay", Kind::Single, 1, Some("squat")), NOW)
            .is_ok());
        let got = s.get(&Id::for_key("service:relay"), Kind::Multi, NOW);
        let mut values: Vec<_> = got
            .iter()
            .map(|r| r.value.clone().unwrap_or_default())
            .collect();
        values.sort();
        assert_eq!(values, vec![b"r1".to_vec(), b"r2b".to_vec()]);
    }

    #[test]
    fn limits_are_enforced() {
        let mut s = store();
        let big = "x".repeat(65);
        assert_eq!(
            s.put(rec(1, "k", Kind::Single, 1, Some(&big)), NOW),
            Err(StoreError::TooLarge)
        );
        let r = rec(1, "k", Kind::Single, 1, Some("v"));
        assert_eq!(s.put(r.clone(), r.expires), Err(StoreError::Expired));
        let far = Record::sign(
            &Identity::from_seed([1; 32]),
            Id::for_key("k"),
            Kind::Single,
            1,
            NOW + Duration::from_secs(7200),
            Some(b"v".to_vec()),
        );
        assert_eq!(s.put(far, NOW), Err(StoreError::TtlTooLong));
        for i in 0..8 {
            assert!(s
                .put(rec(1, &format!("k{i}"), Kind::Single, 1, Some("v")), NOW)
                .is_ok());
        }
        assert_eq!(
            s.put(rec(1, "k9", Kind::Single, 1, Some("v")), NOW),
            Err(StoreError::Full)
        );
    }

    #[test]
    fn expired_key_is_free_for_a_new_owner() {
        let mut s = store();
        assert!(s.put(rec(1, "k", Kind::Single, 1, Some("a")), NOW).is_ok());
        let later = NOW + Duration::from_secs(61);
        let fresh = Record::sign(
            &Identity::from_seed([2; 32]),
            Id::for_key("k"),
            Kind::Single,
            1,
            later + Duration::from_secs(60),
            Some(b"b".to_vec()),
        );
        assert_eq!(s.put(fresh, later), Ok(PutOutcome::Replaced));
    }

    #[test]
    fn range_wraps_around_zero() {
        let mut s = store();
        for name in ["a", "b", "c", "d", "e"] {
            assert!(s.put(rec(1, name, Kind::Single, 1, Some("v")), NOW).is_ok());
        }
        let all: Vec<Id> = s.iter().map(|r| r.key).collect();
        let (lo, hi) = (all[1], all[3]);
        let mid = s.in_range(&lo, &hi);
        assert_eq!(
            mid.iter().map(|r| r.key).collect::<Vec<_>>(),
            vec![all[2], all[3]]
        );
        let wrap = s.in_range(&hi, &lo);
        assert_eq!(wrap.len(), 3);
        assert_eq!(s.in_range(&lo, &lo).len(), 5);
    }
}
