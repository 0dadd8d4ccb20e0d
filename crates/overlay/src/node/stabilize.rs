//! Keeping the ring right: stabilization with notify, neighbours' views,
//! the self check that finds a split ring, and introductions of peers
//! from another ring.

use super::route::Purpose;
use super::{Node, Phase, StabWait};
use crate::event::{Answer, QueryError};
use crate::id::NodeId;
use crate::time::Time;
use crate::wire::{Message, Mode, Reply, Request};
use rand_core::RngCore;

impl Node {
    /// One round: check on the predecessor, ask the successor for its view
    /// (which notifies it of us), and drop a predecessor that went silent.
    pub(super) fn stabilize(&mut self, now: Time) {
        self.check_stabilize_wait(now);
        self.check_predecessor(now);
        let silent = self.cold.config.stabilize_interval * 4;
        if let Some(p) = self
            .ring
            .pred
            .filter(|_| now.saturating_since(self.cold.pred_heard) > silent)
        {
            // Our predecessor no longer stabilizes with us: it died or found
            // a closer successor. Either way it is not ours any more. If it
            // is alive and took a successor beyond us by mistake (after many
            // joins at once), our view tells it of us: any member it hears
            // from between it and its successor becomes its successor.
            self.ring.pred = None;
            self.ring_dirty = true;
            if self.links.is_up(&p) && !self.is_dead(&p) {
                let view = Message::Neighbours {
                    predecessor: None,
                    successors: self.ring.succ.clone(),
                };
                self.send(p, view, now);
            }
        }
        if self.ring.succ.is_empty() {
            if let Some(p) = self.ring.pred {
                // Ring of two whose successor entry was lost.
                self.ring.succ.push(p);
                self.ring_dirty = true;
            } else {
                return;
            }
        }
        self.send_stabilize(now);
    }

    /// Asks the successor for its view (which also notifies it of us),
    /// unless an answer is still awaited.
    pub(super) fn send_stabilize(&mut self, now: Time) {
        if self.stab_wait.is_some() {
            return;
        }
        let Some(&succ) = self.ring.succ.first() else {
            return;
        };
        let seq = self.next_seq();
        let rto = self.rto(&succ);
        let wait = if self.links.is_up(&succ) {
            rto.max(self.cold.config.stabilize_interval)
        } else {
            self.limits.connect_timeout + rto
        };
        self.stab_wait = Some(StabWait {
            peer: succ,
            seq,
            deadline: now + wait,
        });
        if !self.send(succ, Message::Stabilize { seq }, now) {
            self.stab_wait = None;
        }
    }

    pub(super) fn check_stabilize_wait(&mut self, now: Time) {
        if let Some(w) = self.stab_wait {
            if now >= w.deadline {
                self.stats.hop_timeouts += 1;
                self.peer_failed(w.peer, now);
                self.stab_wait = None;
            }
        }
    }

    /// A node says it is our predecessor and asks for our view.
    pub(super) fn on_stabilize(&mut self, from: NodeId, seq: u32, now: Time) {
        if !self.in_ring() {
            return;
        }
        self.consider_predecessor(from, now);
        if self.ring.succ.is_empty() {
            // We were alone: the newcomer is our successor too.
            self.ring.succ.push(from);
            self.ring_dirty = true;
        }
        let reply = Message::StabilizeReply {
            seq,
            predecessor: self.ring.pred,
            successors: self.ring.succ.clone(),
        };
        self.send(from, reply, now);
    }

    /// Chord's notify: `from` believes it is our predecessor. It is, if it
    /// lies between our predecessor and us (or we have none).
    fn consider_predecessor(&mut self, from: NodeId, now: Time) {
        let me = self.ring.me;
        // A predecessor that missed two rounds has most likely died: the
        // node notifying us now (from farther back) is its predecessor
        // taking over, and our range grows at once instead of after the
        // silence timeout.
        let silent =
            now.saturating_since(self.cold.pred_heard) > self.cold.config.stabilize_interval * 2;
        let replace = match self.ring.pred {
            None => true,
            Some(p) => p == from || self.is_dead(&p) || from.in_open(&p, &me) || silent,
        };
        if replace {
            let old = self.ring.pred;
            if old != Some(from) {
                self.ring.pred = Some(from);
                self.ring.learn(from);
                self.ring_dirty = true;
                self.hand_over_to_predecessor(old, from, now);
                self.measure_predecessor(from, now);
            }
            self.cold.pred_heard = now;
        }
    }

    /// A node that may be our predecessor; answer with our view so that it
    /// can find its true successor.
    pub(super) fn on_notify(&mut self, from: NodeId, now: Time) {
        if !self.in_ring() {
            return;
        }
        self.consider_predecessor(from, now);
        let view = Message::Neighbours {
            predecessor: self.ring.pred,
            successors: self.ring.succ.clone(),
        };
        self.send(from, view, now);
    }

    /// A neighbour's view: every node in it is a successor candidate.
    pub(super) fn on_neighbours(&mut self, predecessor: Option<NodeId>, successors: Vec<NodeId>) {
        if self.phase == Phase::Joining && self.confirming.is_none() {
            // Our bootstrap is full: these nodes can take the join instead.
            for n in predecessor.into_iter().chain(successors) {
                if n != self.ring.me
                    && !self.cold.join_candidates.contains(&n)
                    && self.cold.join_candidates.len() < 16
                {
                    self.cold.join_candidates.push(n);
                }
            }
            return;
        }
        if !self.in_ring() {
            return;
        }
        for n in predecessor.into_iter().chain(successors) {
            self.consider_successor(n);
        }
    }

    /// Where an introduced peer's id falls in our ring: if another node
    /// owns it, the peer is not in our ring (or not yet known there); tell
    /// it its neighbours-to-be, which it takes as closer successors.
    pub(super) fn on_introduce_reply(&mut self, peer: NodeId, reply: Reply, now: Time) {
        let Reply::Joined {
            owner,
            predecessor,
            mut successors,
        } = reply
        else {
            return;
        };
        if owner == peer || !self.links.is_up(&peer) {
            return;
        }
        successors.insert(0, owner);
        successors.retain(|s| *s != peer);
        successors.truncate(crate::wire::MAX_LIST);
        let _ = self.send(
            peer,
            Message::Neighbours {
                predecessor,
                successors,
            },
            now,
        );
    }

    /// Any live node heard of that lies between us and our successor is a
    /// closer successor. This is what merges two rings that formed side by
    /// side: traffic from the other ring reveals its nodes.
    pub(super) fn consider_successor(&mut self, node: NodeId) {
        let closer = match self.ring.succ.first() {
            None => true,
            Some(s) => node.in_open(&self.ring.me, s),
        };
        if closer && self.in_ring() && node != self.ring.me && !self.is_dead(&node) {
            let mut cands = self.ring.succ.clone();
            cands.push(node);
            if self.ring.set_successors(cands, &|_| false) {
                self.ring.learn(node);
                self.ring_dirty = true;
            }
        }
    }

    /// Once per finger cycle: route a lookup of our own id from a far
    /// finger. If another node answers, the ring has split around us; that
    /// node learns of us, and we of its neighbourhood.
    pub(super) fn self_check(&mut self, now: Time) {
        let fingers = self.ring.distinct_fingers();
        let linked: Vec<NodeId> = fingers
            .into_iter()
            .filter(|f| self.links.is_up(f))
            .collect();
        if linked.is_empty() {
            return;
        }
        // The far half of the table: those routes cross most of the ring.
        let half = linked.len() / 2;
        let pick = half + (self.cold.rng.next_u64() as usize) % (linked.len() - half);
        let me = self.ring.me;
        self.originate(
            me,
            Mode::ToKey,
            Request::Lookup,
            Purpose::SelfCheck,
            Some(linked[pick]),
            now,
        );
    }

    pub(super) fn on_self_check(&mut self, outcome: Result<Answer, QueryError>, now: Time) {
        if let Ok(Answer::Owner(owner)) = outcome {
            if owner != self.ring.me {
                self.send(owner, Message::Notify, now);
            }
        }
    }

    pub(super) fn on_stabilize_reply(
        &mut self,
        from: NodeId,
        seq: u32,
        predecessor: Option<NodeId>,
        successors: Vec<NodeId>,
        now: Time,
    ) {
        match self.stab_wait {
            Some(w) if w.peer == from && w.seq == seq => {}
            _ => {
                self.stats.dropped_unknown_query += 1;
                return;
            }
        }
        self.stab_wait = None;
        let me = self.ring.me;
        let mut candidates = Vec::with_capacity(successors.len() + 2);
        if let Some(p) = predecessor {
            if p != me && p.in_open(&me, &from) && !self.is_dead(&p) {
                candidates.push(p);
            }
        }
        candidates.push(from);
        candidates.extend(successors.iter().copied().filter(|n| !self.is_dead(n)));
        // Nodes ahead of `from` are only known through it: keep our own
        // entries that lie before it (they may be newer than its view).
        let dead = |n: &NodeId| self.dead.contains_key(n);
        let changed = self.ring.set_successors(candidates.clone(), &dead);
        if changed {
            // Only a changed view can teach the fingers anything new.
            for n in candidates {
                self.ring.learn(n);
            }
            self.ring_dirty = true;
        }
        self.confirm_join(predecessor, now);
    }

    /// Joined, or placed and waiting for the successor to confirm: either
    /// way neighbours may stabilize with us.
    pub(super) fn in_ring(&self) -> bool {
        self.phase == Phase::Joined || self.confirming.is_some()
    }
}
