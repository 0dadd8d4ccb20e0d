//! Joining a ring: the join request, placement, and the successor's
//! confirmation that ends it.

use super::route::Purpose;
use super::{Node, Phase};
use crate::event::{Event, QueryError};
use crate::id::NodeId;
use crate::time::Time;
use crate::wire::{Mode, Reply, Request, RouteError};

impl Node {
    /// Joins the ring through `bootstrap`, a node this node has (or will
    /// get) a link to. The answer comes as `Event::Joined` or `JoinFailed`.
    pub fn join(&mut self, bootstrap: NodeId, now: super::Time) {
        if self.phase != Phase::Idle {
            return;
        }
        self.phase = Phase::Joining;
        self.cold.join_candidates = vec![bootstrap];
        let me = self.ring.me;
        self.originate(
            me,
            Mode::ToKey,
            Request::Join,
            Purpose::Join,
            Some(bootstrap),
            now,
        );
        self.after_input(now);
    }

    pub(super) fn on_join_reply(&mut self, reply: Reply, now: Time) {
        if self.phase != Phase::Joining {
            return;
        }
        match reply {
            Reply::Joined {
                owner,
                predecessor,
                successors,
            } if owner != self.ring.me => {
                let me = self.ring.me;
                let alone = successors.is_empty();
                let list = core::iter::once(owner).chain(successors);
                self.ring.set_successors(list, &|_| false);
                // The owner's predecessor becomes ours; in a ring of one (it
                // has no successor) the owner itself is. An owner that lost
                // its predecessor (it died, or went silent) does not make
                // itself ours: our range would then reach round the whole
                // ring to it, and we would answer for keys of every other
                // node until our true predecessor stabilizes with us.
                self.ring.pred = predecessor.filter(|p| *p != me).or(alone.then_some(owner));
                for n in self.ring.succ.clone() {
                    self.ring.learn(n);
                }
                if let Some(p) = self.ring.pred {
                    self.ring.learn(p);
                }
                // Not joined yet: the successor must first take us as its
                // predecessor, or lookups would find two owners for our
                // range. Stabilize with it at once; `confirm_join` ends it.
                self.cold.pred_heard = now;
                self.confirming = Some(now + self.limits.route_timeout);
                self.next_stabilize = now;
            }
            Reply::Failed(e) => {
                self.phase = Phase::Idle;
                self.events
                    .push_back(Event::JoinFailed(QueryError::Route(e)));
            }
            _ => {
                self.phase = Phase::Idle;
                self.events
                    .push_back(Event::JoinFailed(QueryError::Route(RouteError::Refused)));
            }
        }
    }

    /// The successor answered our stabilization while we join: if it took
    /// us as its predecessor, we own our range and are part of the ring.
    pub(super) fn confirm_join(&mut self, successor_pred: Option<NodeId>, now: Time) {
        if self.confirming.is_none() || self.phase != Phase::Joining {
            return;
        }
        if successor_pred != Some(self.ring.me) {
            // Another node sits between and became our successor above: ask
            // it next, without waiting a whole period. If it did not (we
            // hold it for dead, say), keep the usual pace: hurrying would
            // stabilize as fast as the answers come back.
            if successor_pred.is_some() && self.ring.succ.first() == successor_pred.as_ref() {
                self.next_stabilize = now;
            }
            return;
        }
        self.confirming = None;
        self.phase = Phase::Joined;
        self.events.push_back(Event::Joined);
        self.schedule_upkeep(now);
        // Fill the fingers in one quick round.
        self.next_finger = now;
        self.finger_burst = true;
        self.cold.finger_cursor = 0;
        self.ring_dirty = true;
    }

    /// While joining: stabilize until the successor confirms, or give up.
    pub(super) fn join_upkeep(&mut self, now: Time) {
        let Some(deadline) = self.confirming else {
            return;
        };
        if now >= deadline {
            self.confirming = None;
            self.phase = Phase::Idle;
            self.ring = super::ring::Ring::new(self.ring.me, self.cold.config.successors);
            self.events
                .push_back(Event::JoinFailed(QueryError::Timeout));
            return;
        }
        if now >= self.next_stabilize {
            self.check_stabilize_wait(now);
            self.send_stabilize(now);
            self.next_stabilize = now + self.cold.config.stabilize_interval / 4;
        }
    }
}
