//! Keeping the ring right: join, stabilization with notify, finger refresh,
//! graceful leave, and the link budget.

use super::route::Purpose;
use super::{Node, Phase};
use crate::event::{Answer, Event, QueryError};
use crate::id::NodeId;
use crate::node::ring::FINGERS;
use crate::time::Time;
use crate::wire::{CloseReason, Message, Mode, Reply, Request, RouteError};
use rand_core::RngCore;

/// One finger refresh in this many is a full lookup rather than a probe.
const FULL_LOOKUP_EVERY: u64 = 8;
use std::collections::BTreeSet;

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
                let list = core::iter::once(owner).chain(successors);
                self.ring.set_successors(list, &|_| false);
                // The owner's predecessor becomes ours; in a ring of one the
                // owner itself is.
                self.ring.pred = predecessor.filter(|p| *p != me).or(Some(owner));
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
    fn confirm_join(&mut self, successor_pred: Option<NodeId>, now: Time) {
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

    /// One stabilization round: ask the successor for its view (which also
    /// notifies it of us), and drop a predecessor that went silent.
    pub(super) fn stabilize(&mut self, now: Time) {
        self.check_stabilize_wait(now);
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
    fn send_stabilize(&mut self, now: Time) {
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
        self.stab_wait = Some((succ, seq, now + wait));
        if !self.send(succ, Message::Stabilize { seq }, now) {
            self.stab_wait = None;
        }
    }

    pub(super) fn check_stabilize_wait(&mut self, now: Time) {
        if let Some((s, _, deadline)) = self.stab_wait {
            if now >= deadline {
                self.stats.hop_timeouts += 1;
                self.peer_failed(s, now);
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
    fn self_check(&mut self, now: Time) {
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
            Some((s, q, _)) if s == from && q == seq => {}
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
            self.probe_wait = Some((i, f, seq, now + rto));
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
        let Some((i, peer, want, _)) = self.probe_wait else {
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
        if let Some((_, peer, _, deadline)) = self.probe_wait {
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

    /// Leaves: neighbours learn of each other, the successor gets our records.
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

    /// Who we want links to, most important first: the successor, the
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
    pub(super) fn essential_set(&self) -> BTreeSet<NodeId> {
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
        let keep: BTreeSet<NodeId> = self.essential_ranked().into_iter().take(budget).collect();
        // A stranger only displaces a link no request is waiting on; a
        // neighbour displaces any link outside the protected top, even one
        // being opened (the requests on it are routed elsewhere).
        let busy_routes: BTreeSet<NodeId> = if neighbour {
            BTreeSet::new()
        } else {
            self.pending.values().filter_map(|p| p.next).collect()
        };
        let victim = self
            .links
            .eviction_candidate(&|p| keep.contains(p) || busy_routes.contains(p), neighbour);
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
