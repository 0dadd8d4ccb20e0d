//! Record placement: the owner of a key and its next k-1 successors hold a
//! copy. Copies travel down the chain of successor links (each node passes
//! them to its own successor until k copies exist), so replication needs no
//! link beyond the one to the successor that every node keeps anyway. Copies
//! move when the ring changes (a new predecessor takes its part, a changed
//! successor list gets the missing copies) and a periodic full push repairs
//! whatever an event missed.

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
            .take(self.cold.config.replicas.saturating_sub(1))
            .copied()
            .collect()
    }

    /// Records this node is the owner of (its range (pred, me]). Without
    /// a predecessor (it died, or went silent) the range reaches back to
    /// the next live node before us, which we do not know: every record
    /// held from behind us may be ours now. Under churn the other holders
    /// of those records may be dying too, so they all go down the chain
    /// (a copy too many is harmless; one too few may be the last).
    fn owned_records(&self) -> Vec<Record> {
        match self.ring.pred {
            Some(p) => self.cold.store.in_range(&p, &self.ring.me),
            None => match self.ring.succ.last() {
                None => self.cold.store.iter().cloned().collect(),
                Some(last) => self.cold.store.in_range(last, &self.ring.me),
            },
        }
    }

    /// Copies beyond the successor's that a push down the chain asks for.
    fn chain_rest(&self) -> u8 {
        u8::try_from(self.cold.config.replicas.saturating_sub(2)).unwrap_or(u8::MAX)
    }

    /// Pushes owned records down the successor chain.
    fn push_chain(&mut self, records: Vec<Record>, now: Time) {
        if self.cold.config.replicas < 2 || records.is_empty() {
            return;
        }
        if let Some(s) = self.ring.succ.iter().find(|s| !self.is_dead(s)).copied() {
            let rest = self.chain_rest();
            self.push_records(s, records, rest, now);
        }
    }

    /// A record was stored here as owner: copy it to the replicas.
    pub(super) fn replicate_one(&mut self, record: Record, now: Time) {
        self.push_chain(vec![record], now);
    }

    /// The ring changed: give new replicas what they lack, and all replicas
    /// what we newly own if our range grew.
    pub(super) fn replicate_on_change(&mut self, now: Time) {
        let targets = self.replica_targets();
        let pred = self.ring.pred;
        let (old_pred, old_targets) =
            core::mem::replace(&mut self.cold.replicated_view, (pred, targets.clone()));
        let grew = match (old_pred, pred) {
            // The predecessor is gone: the range reaches back to whoever
            // comes before it.
            (Some(_), None) => true,
            (None, None) => false,
            (None, Some(_)) => true,
            // The range grew if the new predecessor lies before the old one.
            (Some(op), Some(p)) => op != p && !p.in_open(&op, &self.ring.me),
        };
        if grew || targets != old_targets {
            let owned = self.owned_records();
            self.push_chain(owned, now);
        }
        if targets.first() != old_targets.first() {
            self.pass_on_held_copies(pred, targets.first().copied(), now);
        }
    }

    /// Our first successor changed: the copies we hold for the nodes before
    /// us (records behind our predecessor) go to the new one as well. The
    /// owner would send them once it learns of the change from us, a
    /// stabilization later; under churn that round is when the last holders
    /// die (the simulator lost records whose owner died within a second of
    /// learning that the successor after next had died).
    fn pass_on_held_copies(&mut self, pred: Option<NodeId>, succ: Option<NodeId>, now: Time) {
        let (Some(p), Some(s)) = (pred, succ) else {
            // Without a predecessor everything held went down the chain above.
            return;
        };
        if self.cold.config.replicas < 3 {
            return;
        }
        let behind = self.cold.store.in_range(&self.ring.me, &p);
        if !behind.is_empty() {
            // Our predecessor's records want copies on us and the
            // replicas - 2 nodes after us.
            let rest = self.chain_rest().saturating_sub(1);
            self.push_records(s, behind, rest, now);
        }
    }

    /// Anti-entropy: push everything we own to every replica, drop expired.
    pub(super) fn replicate_all(&mut self, now: Time) {
        self.cold.store.expire(now);
        let owned = self.owned_records();
        self.push_chain(owned, now);
        // Copies of records before our range go back to the predecessor:
        // if an owner lost its copy (it joined while the hand-over went
        // astray), the copies behind it bring it back.
        if let Some(p) = self.ring.pred.filter(|p| !self.is_dead(p)) {
            let behind = self.cold.store.in_range(&self.ring.me, &p);
            if !behind.is_empty() {
                self.push_records(p, behind, 0, now);
            }
        }
    }

    /// A new predecessor took over part of our range: hand it those records.
    pub(super) fn hand_over_to_predecessor(&mut self, old: Option<NodeId>, new: NodeId, now: Time) {
        let records = match old {
            Some(o) if new.in_open(&o, &self.ring.me) => self.cold.store.in_range(&o, &new),
            // Unknown or replaced predecessor: everything outside (new, me]
            // may belong to it or to nodes it replicates for.
            _ => self.cold.store.in_range(&self.ring.me, &new),
        };
        if !records.is_empty() {
            self.push_records(new, records, 0, now);
        }
    }

    /// Sends records in batches that fit a frame.
    pub(super) fn push_records(
        &mut self,
        to: NodeId,
        records: Vec<Record>,
        copies_left: u8,
        now: Time,
    ) {
        let mut batch = Vec::new();
        let mut bytes = 0;
        for r in records {
            let size = r.size() + 16;
            if bytes + size > BATCH_BYTES && !batch.is_empty() {
                let records = core::mem::take(&mut batch);
                self.send(
                    to,
                    Message::Replicate {
                        records,
                        copies_left,
                    },
                    now,
                );
                bytes = 0;
            }
            bytes += size;
            batch.push(r);
        }
        if !batch.is_empty() {
            self.send(
                to,
                Message::Replicate {
                    records: batch,
                    copies_left,
                },
                now,
            );
        }
    }

    /// Records pushed to us: each is checked by the store's rules; those
    /// we hold are passed on down the chain if more copies are wanted.
    pub(super) fn on_replicate(
        &mut self,
        _from: NodeId,
        records: Vec<Record>,
        copies_left: u8,
        now: Time,
    ) {
        let mut kept = Vec::new();
        for r in records {
            match self.cold.store.put(r.clone(), now) {
                Ok(_) => kept.push(r),
                Err(_) => self.stats.records_refused += 1,
            }
        }
        // The chain is bounded by the configured copies, whatever a peer asks.
        let left = copies_left.min(self.chain_rest());
        if left > 0 && !kept.is_empty() {
            if let Some(s) = self.ring.succ.iter().find(|s| !self.is_dead(s)).copied() {
                self.push_records(s, kept, left - 1, now);
            }
        }
    }
}
