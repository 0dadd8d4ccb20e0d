//! Leaving gracefully, and a neighbour's leaving.

use super::{Node, Phase};
use crate::event::Event;
use crate::id::NodeId;
use crate::time::Time;
use crate::wire::{CloseReason, Message};

impl Node {
    pub(super) fn do_leave(&mut self, now: Time) {
        if self.phase == Phase::Joined {
            let pred = self.ring.pred;
            let succ = self.ring.succ.clone();
            if let Some(s) = succ.first().copied() {
                let records: Vec<_> = self.cold.store.iter().cloned().collect();
                self.push_records(s, records, 0, now);
                self.send(
                    s,
                    Message::Leave {
                        predecessor: pred,
                        successors: succ.clone(),
                    },
                    now,
                );
            }
            if let Some(p) = pred {
                if Some(p) != succ.first().copied() {
                    self.send(
                        p,
                        Message::Leave {
                            predecessor: pred,
                            successors: succ,
                        },
                        now,
                    );
                }
            }
        }
        let peers: Vec<NodeId> = self.links.iter().map(|(p, _)| *p).collect();
        for p in peers {
            self.close_link(p, CloseReason::Leaving);
        }
        self.phase = Phase::Left;
        self.pending.clear();
        self.events.push_back(Event::Left);
    }

    pub(super) fn on_leave(
        &mut self,
        from: NodeId,
        predecessor: Option<NodeId>,
        successors: Vec<NodeId>,
        now: Time,
    ) {
        let me = self.ring.me;
        self.links.mark_closing(&from, CloseReason::Leaving);
        self.dead.insert(from, now + self.cold.config.dead_memory);
        let was_pred = self.ring.pred == Some(from);
        self.ring.remove(&from);
        if was_pred {
            self.ring.pred = predecessor.filter(|p| *p != me && !self.is_dead(p));
            self.cold.pred_heard = now;
        }
        let mut cands = self.ring.succ.clone();
        cands.extend(successors);
        let dead = |n: &NodeId| self.dead.contains_key(n);
        self.ring.set_successors(cands, &dead);
        self.ring_dirty = true;
        self.reroute_via(from, now);
    }
}
