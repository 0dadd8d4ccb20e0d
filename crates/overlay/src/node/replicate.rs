//! Record placement: the owner of a key and its next k-1 successors hold a
//! copy. Copies move when the ring changes (a new predecessor takes its part,
//! a changed successor list gets the missing copies) and a periodic full
//! push repairs whatever an event missed.

use super::Node;
use crate::id::NodeId;
use crate::record::Record;
use crate::time::Time;
use crate::wire::{Message, MAX_FRAME};

/// Bytes of records per replication message, well under the frame limit.
const BATCH_BYTES: usize = MAX_FRAME / 2;

impl Node {
    /// The successors that hold copies of what this node owns.
    pub(super) fn replica_targets(&self) -> Vec<NodeId> {
        self.ring
            .succ
            .iter()
            .filter(|s| !self.is_dead(s))
            .take(self.config.replicas.saturating_sub(1))
            .copied()
            .collect()
    }

    /// Records this node is the owner of (its range (pred, me]).
    fn owned_records(&self) -> Vec<Record> {
        match self.ring.pred {
            Some(p) => self.store.in_range(&p, &self.ring.me),
            None if self.ring.succ.is_empty() => self.store.iter().cloned().collect(),
            None => Vec::new(),
        }
    }

    /// A record was stored here as owner: copy it to the replicas.
    pub(super) fn replicate_one(&mut self, record: Record, now: Time) {
        for t in self.replica_targets() {
            self.push_records(t, vec![record.clone()], now);
        }
    }

    /// The ring changed: give new replicas what they lack, and all replicas
    /// what we newly own if our range grew.
    pub(super) fn replicate_on_change(&mut self, now: Time) {
        let targets = self.replica_targets();
        let pred = self.ring.pred;
        let (old_pred, old_targets) = core::mem::replace(&mut self.replicated_view, (pred, targets.clone()));
        let Some(p) = pred else {
            return;
        };
        let grew = match old_pred {
            None => true,
            // The range grew if the new predecessor lies before the old one.
            Some(op) => op != p && !p.in_open(&op, &self.ring.me),
        };
        let fresh: Vec<NodeId> = if grew {
            targets
        } else {
            targets.into_iter().filter(|t| !old_targets.contains(t)).collect()
        };
        if fresh.is_empty() {
            return;
        }
        let owned = self.owned_records();
        if owned.is_empty() {
            return;
        }
        for t in fresh {
            self.push_records(t, owned.clone(), now);
        }
    }

    /// Anti-entropy: push everything we own to every replica, drop expired.
    pub(super) fn replicate_all(&mut self, now: Time) {
        self.store.expire(now);
        let owned = self.owned_records();
        if owned.is_empty() {
            return;
        }
        for t in self.replica_targets() {
            self.push_records(t, owned.clone(), now);
        }
    }

    /// A new predecessor took over part of our range: hand it those records.
    pub(super) fn hand_over_to_predecessor(&mut self, old: Option<NodeId>, new: NodeId, now: Time) {
        let records = match old {
            Some(o) if new.in_open(&o, &self.ring.me) => self.store.in_range(&o, &new),
            // Unknown or replaced predecessor: everything outside (new, me]
            // may belong to it or to nodes it replicates for.
            _ => self.store.in_range(&self.ring.me, &new),
        };
        if !records.is_empty() {
            self.push_records(new, records, now);
        }
    }

    /// Sends records in batches that fit a frame.
    pub(super) fn push_records(&mut self, to: NodeId, records: Vec<Record>, now: Time) {
        let mut batch = Vec::new();
        let mut bytes = 0;
        for r in records {
            let size = r.size() + 16;
            if bytes + size > BATCH_BYTES && !batch.is_empty() {
                let _ = self.send(to, Message::Replicate { records: core::mem::take(&mut batch) }, now);
                bytes = 0;
            }
            bytes += size;
            batch.push(r);
        }
        if !batch.is_empty() {
            let _ = self.send(to, Message::Replicate { records: batch }, now);
        }
    }

    /// Records pushed to us: each is checked by the store's rules.
    pub(super) fn on_replicate(&mut self, _from: NodeId, records: Vec<Record>, now: Time) {
        for r in records {
            if self.store.put(r, now).is_err() {
                self.stats.records_refused += 1;
            }
        }
    }
}
