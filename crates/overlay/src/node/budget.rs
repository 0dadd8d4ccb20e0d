//! The link budget: which links a node wants (its essential neighbours),
//! opening them, and making room by closing the least useful one.

use super::Node;
use crate::event::Event;
use crate::id::NodeId;
use crate::node::ring::FINGERS;
use crate::time::Time;
use crate::vecmap::VecSet;
use crate::wire::CloseReason;

impl Node {
    /// predecessor, the next successors, then fingers from the farthest.
    pub(super) fn essential_ranked(&self) -> Vec<NodeId> {
        let mut out: Vec<NodeId> =
            Vec::with_capacity(self.cold.config.linked_successors + FINGERS / 2);
        let mut push = |n: NodeId| {
            if !out.contains(&n) {
                out.push(n);
            }
        };
        if let Some(s) = self.ring.succ.first() {
            push(*s);
        }
        if let Some(p) = self.ring.pred {
            push(p);
        }
        for s in self.ring.succ.iter().take(self.linked_successors()) {
            push(*s);
        }
        for f in self.ring.distinct_fingers().into_iter().rev() {
            push(f);
        }
        out
    }

    /// How many successors are kept linked: the configured number, plus one
    /// for every successor found dead lately. When many nodes die at once a
    /// run of successors may be gone; proving each dead takes a connect
    /// timeout, so the ones after the lost are dialled at once, in parallel,
    /// instead of one by one as each before them is found dead.
    fn linked_successors(&self) -> usize {
        self.cold
            .config
            .linked_successors
            .saturating_add(self.cold.succ_losses)
    }

    /// The links the budget protects: the top of the ranking.
    pub(super) fn essential_set(&self) -> VecSet<NodeId> {
        self.essential_ranked()
            .into_iter()
            .take(self.cold.config.max_links)
            .collect()
    }

    /// Opens links to essential neighbours that lack one.
    pub(super) fn ensure_links(&mut self, now: Time) {
        let wanted: Vec<NodeId> = self
            .essential_ranked()
            .into_iter()
            .take(self.cold.config.max_links)
            .filter(|n| !self.links.contains(n) && !self.is_dead(n) && !self.busy.contains_key(n))
            .collect();
        for n in wanted {
            let _ = self.try_connect(n, now);
        }
    }

    /// A request must go to `succ`, a successor we have no link to: the
    /// nearer ones are gone, and after many nodes died at once the ones
    /// after it may be too. Dialling them one after another costs a whole
    /// connect timeout each; dial every successor from `succ` up to the
    /// first open link at once, so that a run of dead successors costs one.
    pub(super) fn dial_successors_after(&mut self, succ: NodeId, now: Time) {
        let ahead: Vec<NodeId> = self
            .ring
            .succ
            .iter()
            .skip_while(|s| **s != succ)
            .skip(1)
            .take_while(|s| !self.links.is_up(s))
            .copied()
            .collect();
        for s in ahead {
            let _ = self.try_connect(s, now);
        }
    }

    /// Asks the shell for a link if the budget allows (closing an unneeded
    /// one if that makes room). False if no link can be had.
    pub(super) fn try_connect(&mut self, peer: NodeId, now: Time) -> bool {
        if self.links.contains(&peer) {
            return true;
        }
        if self.is_dead(&peer) || self.busy.contains_key(&peer) || peer == self.ring.me {
            return false;
        }
        if self.links.len() >= self.cold.config.max_links && !self.make_room(now) {
            return false;
        }
        let deadline = now + self.limits.connect_timeout;
        self.links.start_connect(peer, now, deadline);
        self.events.push_back(Event::Connect(peer));
        true
    }

    /// Closes the least recently used link that is not essential.
    pub(super) fn make_room(&mut self, now: Time) -> bool {
        self.make_room_for(None, now)
    }

    /// Like `make_room`, for a link `peer` opened to us: a peer that would
    /// be our predecessor or a near successor may push out the lowest
    /// ranked essential link.
    pub(super) fn make_room_for(&mut self, peer: Option<NodeId>, now: Time) -> bool {
        let me = self.ring.me;
        let neighbour = peer.is_some_and(|p| {
            self.ring.pred.is_none_or(|q| p.in_open(&q, &me))
                || self
                    .ring
                    .succ
                    .get(self.cold.config.linked_successors.saturating_sub(1))
                    .is_none_or(|s| p.in_open(&me, s))
        });
        let budget = if neighbour {
            self.cold.config.max_links.saturating_sub(1)
        } else {
            self.cold.config.max_links
        };
        let keep: VecSet<NodeId> = self.essential_ranked().into_iter().take(budget).collect();
        // A stranger only displaces a link no request is waiting on; a
        // neighbour displaces any link outside the protected top, even one
        // being opened (the requests on it are routed elsewhere).
        let busy_routes: VecSet<NodeId> = if neighbour {
            VecSet::new()
        } else {
            self.pending.values().filter_map(|p| p.next).collect()
        };
        let victim = self.links.eviction_candidate(
            &|p| keep.contains(p) || busy_routes.contains(p) || self.is_held(p),
            neighbour,
        );
        match victim {
            Some(victim) => {
                self.close_link(victim, CloseReason::Busy);
                self.reroute_via(victim, now);
                true
            }
            None => false,
        }
    }
}
