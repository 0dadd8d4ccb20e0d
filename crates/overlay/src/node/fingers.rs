//! Finger refresh: a cheap probe of the current finger, or a full lookup
//! of its start.

use super::route::Purpose;
use super::{Node, ProbeWait};
use crate::event::{Answer, QueryError};
use crate::id::NodeId;
use crate::node::ring::FINGERS;
use crate::time::Time;
use crate::wire::{Message, Mode, Request};

/// One finger refresh in this many is a full lookup rather than a probe.
const FULL_LOOKUP_EVERY: u64 = 8;

impl Node {
    /// Refreshes the next finger by a lookup of its start.
    pub(super) fn fix_next_finger(&mut self, now: Time) {
        if self.cold.finger_inflight || self.ring.succ.is_empty() {
            return;
        }
        let next = self.next_finger_index();
        if core::mem::take(&mut self.cold.self_check_due) {
            self.self_check(now);
        }
        let Some(i) = next else {
            return;
        };
        self.cold.finger_inflight = true;
        self.cold.finger_rounds += 1;
        // Usually a finger only needs checking: ask it for its predecessor
        // (two messages) instead of routing a lookup across the ring. Every
        // few rounds, and whenever the finger is missing or unlinked, a full
        // lookup finds it afresh.
        let probe_target = self.ring.fingers[i].filter(|f| {
            !self.finger_burst
                && self.cold.finger_rounds % FULL_LOOKUP_EVERY != 0
                && self.links.is_up(f)
                && !self.is_dead(f)
        });
        if let Some(f) = probe_target {
            let seq = self.next_seq();
            let rto = self.rto(&f);
            self.probe_wait = Some(ProbeWait {
                finger: i,
                peer: f,
                seq,
                deadline: now + rto,
            });
            self.push_transmit(f, Message::Probe { seq });
            self.links.touch(&f, now);
            return;
        }
        self.look_up_finger(i, now);
    }

    /// Finds finger `i` afresh: a lookup of its start.
    fn look_up_finger(&mut self, i: usize, now: Time) {
        self.cold.finger_inflight = true;
        let start = self.ring.finger_start(i);
        self.originate(
            start,
            Mode::ToKey,
            Request::Lookup,
            Purpose::Finger(i),
            None,
            now,
        );
    }

    /// A node checks whether we are still its finger.
    pub(super) fn on_probe(&mut self, from: NodeId, seq: u32, now: Time) {
        if self.in_ring() {
            let reply = Message::ProbeReply {
                seq,
                predecessor: self.ring.pred,
            };
            self.send(from, reply, now);
        }
    }

    /// A finger named its predecessor: if that lies between the finger's
    /// start and the finger, it is the better finger.
    pub(super) fn on_probe_reply(
        &mut self,
        from: NodeId,
        seq: u32,
        predecessor: Option<NodeId>,
        now: Time,
    ) {
        let Some(ProbeWait {
            finger: i,
            peer,
            seq: want,
            ..
        }) = self.probe_wait
        else {
            self.stats.dropped_unknown_query += 1;
            return;
        };
        if peer != from || want != seq {
            self.stats.dropped_unknown_query += 1;
            return;
        }
        self.probe_wait = None;
        self.cold.finger_inflight = false;
        let start = self.ring.finger_start(i);
        if let Some(p) = predecessor {
            let closer = start.distance_key(&p) < start.distance_key(&from);
            if p != self.ring.me && closer && !self.is_dead(&p) {
                // The finger is out of date: nodes joined before it. Find
                // the right one now with a full lookup.
                self.ring.fingers[i] = Some(p);
                self.ring.learn(p);
                self.ring_dirty = true;
                self.look_up_finger(i, now);
            }
        }
    }

    /// A finger probe went unanswered: the finger is gone.
    pub(super) fn check_probe_wait(&mut self, now: Time) {
        if let Some(ProbeWait { peer, deadline, .. }) = self.probe_wait {
            if now >= deadline {
                self.probe_wait = None;
                self.cold.finger_inflight = false;
                self.stats.hop_timeouts += 1;
                self.peer_failed(peer, now);
            }
        }
    }

    /// Fingers from the top down, skipping those the successor list already
    /// covers (their owner is known without asking).
    fn next_finger_index(&mut self) -> Option<usize> {
        let last = *self.ring.succ.last()?;
        let me = self.ring.me;
        for _ in 0..FINGERS {
            let i = FINGERS - 1 - (self.cold.finger_cursor % FINGERS);
            self.cold.finger_cursor += 1;
            let start = self.ring.finger_start(i);
            if start.in_half_open(&me, &last) {
                // This finger and all below it fall within the successor
                // list: their owners are known without asking. Fill them
                // and wrap around to the top.
                for j in (0..=i).rev() {
                    let start = self.ring.finger_start(j);
                    let owner = self.ring.owner_among_successors(&start, &|_| false);
                    if self.ring.fingers[j] != owner {
                        self.ring.fingers[j] = owner;
                        self.ring_dirty = true;
                    }
                }
                self.cold.finger_cursor = 0;
                if !self.finger_burst {
                    self.cold.self_check_due = true;
                }
                self.finger_burst = false;
                continue;
            }
            return Some(i);
        }
        None
    }

    pub(super) fn on_finger_result(&mut self, i: usize, outcome: Result<Answer, QueryError>) {
        self.cold.finger_inflight = false;
        if let Ok(Answer::Owner(owner)) = outcome {
            let value = (owner != self.ring.me).then_some(owner);
            if self.ring.fingers[i] != value && value.is_none_or(|o| !self.is_dead(&o)) {
                self.ring.fingers[i] = value;
                self.ring_dirty = true;
            }
        }
        if self.finger_burst {
            // Right after joining, fill the table without waiting a period:
            // a deadline in the past makes the shell call us back at once.
            self.next_finger = Time(0);
        }
    }
}
