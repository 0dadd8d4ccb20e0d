//! Recursive routing with hop-by-hop responsibility.
//!
//! A request travels from node to node towards the owner of its target. Each
//! hop acknowledges at once and keeps a small entry until the answer comes
//! back along the same path, so the node before a dead or slow hop notices
//! within one acknowledgement timeout and tries its next best neighbour
//! (another finger, the next successor), telling later hops whom to avoid.
//! Every entry has a deadline, every request a hop limit.

use super::{Node, Phase};
use crate::event::{Answer, AttachToken, QueryError, QueryId};
use crate::id::{Id, NodeId};
use crate::store::PutOutcome;
use crate::time::Time;
use crate::wire::{Message, Mode, Reply, Request, Route, RouteError, MAX_AVOID, MAX_LIST};

/// Who waits for the answer of a routed request.
#[derive(Clone, Copy, Debug)]
pub(super) enum Upstream {
    /// This node started it.
    Local(Purpose, Time),
    /// A neighbour forwarded it under its number.
    Remote(NodeId, u64),
}

/// Why this node started a request.
#[derive(Clone, Copy, Debug)]
pub(super) enum Purpose {
    /// For the shell (its query id).
    User(QueryId),
    /// To join the ring.
    Join,
    /// To refresh finger `i`.
    Finger(usize),
    /// To check that the ring routes our own id to us.
    SelfCheck,
    /// To find where a linked peer belongs in our ring (it may come from
    /// another ring).
    Introduce(NodeId),
}

/// A request this node is responsible for until its answer arrives.
#[derive(Debug)]
pub(super) struct Pending {
    pub up: Upstream,
    pub route: Route,
    pub next: Option<NodeId>,
    pub acked: bool,
    pub sent_at: Time,
    pub hop_deadline: Time,
    pub expires: Time,
    pub tried: Vec<NodeId>,
    /// Times this request waited for the tables to refill after running
    /// out of next hops.
    pub parked: u8,
}

/// How long a request that ran out of next hops waits before trying again
/// (stabilization refills the tables meanwhile), and how often it may.
const PARK_DELAY: core::time::Duration = core::time::Duration::from_secs(1);
const MAX_PARKS: u8 = 3;

/// Where a request goes from here.
enum Step {
    Local,
    Forward(NodeId, bool),
    Fail(RouteError),
}

impl Node {
    /// Starts a request from this node.
    pub(super) fn originate(
        &mut self,
        target: Id,
        mode: Mode,
        request: Request,
        purpose: Purpose,
        first_hop: Option<NodeId>,
        now: Time,
    ) {
        let route = Route {
            no: 0,
            target,
            mode,
            last_hop: false,
            hops: 0,
            timeouts: 0,
            avoid: Vec::new(),
            origin: self.ring.me,
            request,
        };
        let up = Upstream::Local(purpose, now);
        if self.pending.len() >= self.limits.max_pending {
            self.stats.dropped_overload += 1;
            self.finish_local(purpose, now, 0, 0, now, Err(QueryError::Overloaded));
            return;
        }
        let no = self.insert_pending(up, route, now);
        match first_hop {
            Some(hop) => self.forward(no, hop, false, now),
            None => self.dispatch(no, now),
        }
    }

    fn insert_pending(&mut self, up: Upstream, route: Route, now: Time) -> u64 {
        let no = self.next_no;
        self.next_no = self.next_no.wrapping_add(1);
        let expires = now + self.limits.route_timeout;
        self.pending.insert(
            no,
            Pending {
                up,
                route,
                next: None,
                acked: false,
                sent_at: now,
                hop_deadline: expires,
                expires,
                tried: Vec::new(),
                parked: 0,
            },
        );
        no
    }

    /// A request arrived from a neighbour.
    pub(super) fn on_route(&mut self, from: NodeId, route: Route, now: Time) {
        // A node still joining owns nothing yet and the sender tries
        // elsewhere; but one already placed and waiting for its successor
        // takes joins (newcomers next to it are placed against it the same
        // way, and confirmed by it once it is confirmed).
        let placed_join = self.confirming.is_some() && matches!(route.request, Request::Join);
        // A joining node negotiates its first links: it takes attaches for
        // itself (not for others: it routes nothing yet).
        let own_attach = self.phase == Phase::Joining
            && route.target == self.ring.me
            && matches!(route.request, Request::Attach { .. });
        let refusal = if self.phase != Phase::Joined && !placed_join && !own_attach {
            Some(RouteError::Refused)
        } else if route.hops >= self.limits.hop_limit {
            Some(RouteError::HopLimit)
        } else if self.pending.len() >= self.limits.max_pending {
            self.stats.dropped_overload += 1;
            Some(RouteError::Refused)
        } else {
            None
        };
        if let Some(e) = refusal {
            self.push_reply(from, route.no, route.hops, route.timeouts, Reply::Failed(e));
            return;
        }
        let their_no = route.no;
        let no = self.insert_pending(Upstream::Remote(from, their_no), route, now);
        match self.step(no) {
            Step::Local => self.deliver(no, now),
            step => {
                // Acknowledge at once: the sender learns we are alive and
                // hands responsibility to us.
                self.push_transmit(from, Message::RouteAck { no: their_no });
                self.stats.forwarded += 1;
                self.apply(no, step, now);
            }
        }
    }

    /// Chooses the next step for a pending request.
    fn step(&self, no: u64) -> Step {
        let Some(p) = self.pending.get(&no) else {
            return Step::Fail(RouteError::NoRoute);
        };
        let r = &p.route;
        let avoid = |n: &NodeId| self.is_dead(n) || p.tried.contains(n) || r.avoid.contains(n);
        let t = r.target;
        if matches!(r.request, Request::Attach { .. }) {
            return self.step_attach(&t, r.last_hop, &avoid);
        }
        if r.mode == Mode::ToNode {
            if t == self.ring.me {
                return Step::Local;
            }
            if self.links.is_up(&t) && !avoid(&t) {
                return Step::Forward(t, true);
            }
            if self.ring.owns(&t, r.last_hop, &avoid) {
                return Step::Fail(RouteError::NoSuchNode);
            }
        } else if self.ring.owns(&t, r.last_hop, &avoid) {
            return Step::Local;
        }
        if r.last_hop {
            // The sender thought we own the target but it lies behind our
            // predecessor: the predecessor is closer.
            if let Some(pred) = self.ring.live_pred(&avoid) {
                if !t.in_half_open(&pred, &self.ring.me) {
                    return Step::Forward(pred, true);
                }
            }
        }
        // Among the routing table (fingers and successors), an open link
        // that makes progress beats a closer node we would first have to
        // connect to: connecting to a node that has died costs a whole
        // connect timeout. Other open links (peers that linked to us) are
        // not used for routing, so hops follow Chord's table alone.
        let best_linked = self
            .ring
            .closest_preceding(&t, &|n| !avoid(n) && self.links.is_up(n));
        if let Some(owner) = self.ring.owner_among_successors(&t, &avoid) {
            if self.links.is_up(&owner) {
                return Step::Forward(owner, true);
            }
            // The owner is a farther successor we have no link to: a linked
            // node before the key (a nearer successor) takes it there over
            // its own links.
            return match best_linked {
                Some(n) => Step::Forward(n, false),
                None => Step::Forward(owner, true),
            };
        }
        let choice = best_linked.or_else(|| {
            let usable =
                |n: &NodeId| !avoid(n) && (self.links.contains(n) || !self.busy.contains_key(n));
            self.ring.closest_preceding(&t, &usable)
        });
        match choice {
            Some(n) => Step::Forward(n, false),
            None => match self.ring.succ.iter().find(|s| !avoid(s)) {
                Some(s) => Step::Forward(*s, false),
                None => Step::Fail(RouteError::NoRoute),
            },
        }
    }

    /// The next hop of an attach request. Attach negotiates links, so it
    /// travels over open links only: a hop that first had to be connected
    /// would itself need an attach, and the target is never linked yet.
    /// Greedy over open links towards the target; a node that has no link
    /// before the target hands it, as a last hop, to its first link past
    /// the target, which (as the target's successor) is linked to it or
    /// knows that no such node is in the ring.
    fn step_attach(&self, t: &NodeId, last_hop: bool, avoid: &dyn Fn(&NodeId) -> bool) -> Step {
        if *t == self.ring.me {
            return Step::Local;
        }
        if self.links.is_up(t) && !avoid(t) {
            return Step::Forward(*t, true);
        }
        if last_hop {
            return Step::Fail(RouteError::NoSuchNode);
        }
        let me = self.ring.me;
        let open = || self.links.up_peers().filter(|n| !avoid(n));
        let before = open()
            .filter(|n| n.in_open(&me, t))
            .min_by_key(|n| n.distance_to(t));
        if let Some(n) = before {
            return Step::Forward(n, false);
        }
        match open().min_by_key(|n| t.distance_to(n)) {
            Some(n) => Step::Forward(n, true),
            None => Step::Fail(RouteError::NoRoute),
        }
    }

    fn apply(&mut self, no: u64, step: Step, now: Time) {
        match step {
            Step::Local => self.deliver(no, now),
            Step::Forward(next, last) => self.forward(no, next, last, now),
            Step::Fail(e) => self.fail(no, e, now),
        }
    }

    /// Re-evaluates a pending request (first time or after a failed hop).
    pub(super) fn dispatch(&mut self, no: u64, now: Time) {
        let attach = self
            .pending
            .get(&no)
            .is_some_and(|p| matches!(p.route.request, Request::Attach { .. }));
        if self.phase == Phase::Joining && !attach {
            // A joining node knows no ring: its join goes through the nodes
            // it was pointed at (a bootstrap that refused us named others).
            let tried = self
                .pending
                .get(&no)
                .map(|p| p.tried.clone())
                .unwrap_or_default();
            let next = self
                .cold
                .join_candidates
                .iter()
                .find(|c| !tried.contains(c) && !self.is_dead(c))
                .copied();
            match next {
                Some(c) => self.forward(no, c, false, now),
                None => self.fail(no, RouteError::NoRoute, now),
            }
            return;
        }
        let step = self.step(no);
        self.apply(no, step, now);
    }

    fn forward(&mut self, no: u64, next: NodeId, last_hop: bool, now: Time) {
        let wait = if self.links.is_up(&next) {
            self.rto(&next)
        } else {
            self.limits.connect_timeout + self.rto(&next)
        };
        let Some(p) = self.pending.get_mut(&no) else {
            return;
        };
        if p.tried.len() >= self.limits.max_attempts {
            self.fail(no, RouteError::NoRoute, now);
            return;
        }
        p.tried.push(next);
        p.next = Some(next);
        p.acked = false;
        p.sent_at = now;
        let mut out = p.route.clone();
        out.no = no;
        out.last_hop = last_hop;
        out.hops = out.hops.saturating_add(1);
        if let Request::Trace { path } = &mut out.request {
            if path.len() < MAX_LIST {
                path.push(self.ring.me);
            }
        }
        let hop_deadline = (now + wait).min(p.expires);
        p.hop_deadline = hop_deadline;
        let dial_ahead = last_hop && !self.links.is_up(&next) && self.ring.succ.contains(&next);
        if dial_ahead {
            self.dial_successors_after(next, now);
        }
        if !self.send(next, Message::Route(out), now) {
            // No link and none to be had: not a failure of the peer.
            self.dispatch(no, now);
        }
    }

    fn fail(&mut self, no: u64, e: RouteError, now: Time) {
        if e == RouteError::NoRoute && self.park(no, now) {
            return;
        }
        if let Some(p) = self.pending.remove(&no) {
            self.answer(p.up, p.route.hops, p.route.timeouts, Reply::Failed(e), now);
        }
    }

    /// A joined node that ran out of next hops (every one tried or found
    /// dead, as after many nodes failed at once) keeps the request a little
    /// while instead of failing it: stabilization refills the tables, and
    /// the request is dispatched afresh while its deadline allows.
    fn park(&mut self, no: u64, now: Time) -> bool {
        if self.phase != Phase::Joined {
            return false;
        }
        let Some(p) = self.pending.get_mut(&no) else {
            return false;
        };
        if p.parked >= MAX_PARKS || now + PARK_DELAY * 2 > p.expires {
            return false;
        }
        p.parked += 1;
        p.next = None;
        p.acked = false;
        p.tried.clear();
        p.hop_deadline = now + PARK_DELAY;
        true
    }

    /// The request ends here: answer it.
    fn deliver(&mut self, no: u64, now: Time) {
        let Some(p) = self.pending.remove(&no) else {
            return;
        };
        let Route {
            target,
            request,
            hops,
            timeouts,
            origin,
            ..
        } = p.route;
        let reply = match request {
            Request::Lookup => Reply::Owner {
                owner: self.ring.me,
            },
            Request::Trace { mut path } => {
                if path.len() < MAX_LIST {
                    path.push(self.ring.me);
                }
                Reply::Traced {
                    owner: self.ring.me,
                    path,
                }
            }
            Request::Join => Reply::Joined {
                owner: self.ring.me,
                predecessor: self.ring.pred,
                successors: self.ring.succ.clone(),
            },
            Request::Get { kind } => Reply::Records {
                records: self.cold.store.get(&target, kind, now),
            },
            Request::Put(record) => {
                if record.key != target {
                    Reply::Failed(RouteError::Refused)
                } else {
                    match self.cold.store.put((*record).clone(), now) {
                        Ok(outcome) => {
                            if outcome != PutOutcome::Unchanged {
                                self.replicate_one(*record, now);
                            }
                            Reply::Stored
                        }
                        Err(e) => {
                            self.stats.records_refused += 1;
                            Reply::Refused(e)
                        }
                    }
                }
            }
            Request::Attach { data } => {
                if origin == self.ring.me {
                    Reply::Failed(RouteError::NoSuchNode)
                } else {
                    // The shell answers later; acknowledge now so that the
                    // previous hop does not take us for dead meanwhile.
                    if let super::Upstream::Remote(peer, their_no) = p.up {
                        self.push_transmit(peer, Message::RouteAck { no: their_no });
                    }
                    let token = AttachToken(self.cold.next_token);
                    self.cold.next_token += 1;
                    let wait = super::AttachWait {
                        up: p.up,
                        hops,
                        timeouts,
                        until: now + self.limits.route_timeout,
                    };
                    self.cold.attach_waiting.insert(token, wait);
                    self.events.push_back(crate::event::Event::AttachRequest {
                        token,
                        from: origin,
                        data,
                    });
                    return;
                }
            }
            Request::App(m) => self.deliver_app(origin, target, *m),
            Request::Unknown { .. } => self.unsupported(),
        };
        self.answer(p.up, hops, timeouts, reply, now);
    }

    /// Sends an answer to whoever waits for it.
    pub(super) fn answer(&mut self, up: Upstream, hops: u8, timeouts: u8, reply: Reply, now: Time) {
        match up {
            Upstream::Remote(peer, no) => self.push_reply(peer, no, hops, timeouts, reply),
            Upstream::Local(purpose, started) => {
                if let Purpose::Join = purpose {
                    self.on_join_reply(reply, now);
                    return;
                }
                if let Purpose::Introduce(peer) = purpose {
                    self.on_introduce_reply(peer, reply, now);
                    return;
                }
                let outcome = match reply {
                    Reply::Owner { owner } => Ok(Answer::Owner(owner)),
                    Reply::Joined { owner, .. } => Ok(Answer::Owner(owner)),
                    Reply::Records { records } => Ok(Answer::Records(records)),
                    Reply::Stored => Ok(Answer::Stored),
                    Reply::Refused(e) => Err(QueryError::Store(e)),
                    Reply::Attached { data } => Ok(Answer::Attached(data)),
                    Reply::Failed(e) => Err(QueryError::Route(e)),
                    Reply::Traced { owner, path } => Ok(Answer::Route { owner, path }),
                    Reply::Delivered => Ok(Answer::Delivered),
                    Reply::Unsupported => Err(QueryError::Unsupported),
                    Reply::BadOrigin => Err(QueryError::BadOrigin),
                    Reply::Unknown { .. } => Err(QueryError::UnknownReply),
                };
                self.finish_local(purpose, started, hops, timeouts, now, outcome);
            }
        }
    }

    fn push_reply(&mut self, to: NodeId, no: u64, hops: u8, timeouts: u8, reply: Reply) {
        // Replies go on the link the request came in on; if it has closed
        // meanwhile the previous hop's own timeout takes over.
        if self.links.is_up(&to) {
            self.push_transmit(
                to,
                Message::RouteReply {
                    no,
                    hops,
                    timeouts,
                    reply,
                },
            );
        }
    }

    pub(super) fn on_route_ack(&mut self, from: NodeId, no: u64, now: Time) {
        match self.pending.get_mut(&no) {
            Some(p) if p.next == Some(from) => {
                if !p.acked {
                    p.acked = true;
                    p.hop_deadline = p.expires;
                    let rtt = now.saturating_since(p.sent_at);
                    self.links.sample_rtt(&from, rtt);
                }
            }
            _ => self.stats.dropped_unknown_query += 1,
        }
    }

    pub(super) fn on_route_reply(
        &mut self,
        from: NodeId,
        no: u64,
        hops: u8,
        timeouts: u8,
        reply: Reply,
        now: Time,
    ) {
        let ok = self
            .pending
            .get(&no)
            .is_some_and(|p| p.next == Some(from) || p.tried.contains(&from));
        if !ok {
            self.stats.dropped_unknown_query += 1;
            return;
        }
        let Some(p) = self.pending.remove(&no) else {
            return;
        };
        if p.next == Some(from) && !p.acked {
            self.links
                .sample_rtt(&from, now.saturating_since(p.sent_at));
        }
        if let Reply::Failed(RouteError::Refused) = reply {
            // That hop could not take it (joining, overloaded): try another.
            let mut p = p;
            p.next = None;
            self.pending.insert(no, p);
            self.dispatch(no, now);
            return;
        }
        self.answer(p.up, hops, timeouts, reply, now);
    }

    /// Retries every request whose next hop was `peer`.
    pub(super) fn reroute_via(&mut self, peer: NodeId, now: Time) {
        let nos: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.next == Some(peer))
            .map(|(no, _)| *no)
            .collect();
        for no in nos {
            if let Some(p) = self.pending.get_mut(&no) {
                p.next = None;
            }
            self.dispatch(no, now);
        }
    }

    /// A link to `peer` just opened: what was queued has left now.
    pub(super) fn restart_hop_timers(&mut self, peer: NodeId, now: Time) {
        let rto = self.rto(&peer);
        for p in self.pending.values_mut() {
            if p.next == Some(peer) && !p.acked {
                p.sent_at = now;
                p.hop_deadline = (now + rto).min(p.expires);
            }
        }
    }

    /// Expired hop timers, request deadlines and connect attempts.
    pub(super) fn check_deadlines(&mut self, now: Time) {
        let mut timed_out_hops = Vec::new();
        let mut expired = Vec::new();
        let mut unparked = Vec::new();
        for (no, p) in self.pending.iter() {
            if p.expires <= now {
                expired.push(*no);
            } else if !p.acked && p.hop_deadline <= now {
                match p.next {
                    Some(next) => timed_out_hops.push((*no, next)),
                    None => unparked.push(*no),
                }
            }
        }
        for no in expired {
            if let Some(p) = self.pending.remove(&no) {
                match p.up {
                    Upstream::Local(purpose, started) => {
                        if let Purpose::Join = purpose {
                            self.on_join_reply(Reply::Failed(RouteError::NoRoute), now);
                        } else {
                            self.finish_local(
                                purpose,
                                started,
                                p.route.hops,
                                p.route.timeouts,
                                now,
                                Err(QueryError::Timeout),
                            );
                        }
                    }
                    Upstream::Remote(peer, their) => self.push_reply(
                        peer,
                        their,
                        p.route.hops,
                        p.route.timeouts,
                        Reply::Failed(RouteError::NoRoute),
                    ),
                }
            }
        }
        for (no, next) in timed_out_hops {
            // The entry may have moved on while handling an earlier timeout.
            let still = self
                .pending
                .get(&no)
                .is_some_and(|p| p.next == Some(next) && !p.acked);
            if !still {
                continue;
            }
            self.stats.hop_timeouts += 1;
            if let Some(p) = self.pending.get_mut(&no) {
                p.route.timeouts = p.route.timeouts.saturating_add(1);
                note_avoid(&mut p.route, next);
            }
            // One missed acknowledgement on an open link is taken as death.
            // Links are reliable and ordered, so a missing one rarely means
            // a slow peer; waiting for a second miss made every dead hop
            // cost another timeout, and measured worse in the simulator
            // (more timeouts per lookup, more failed lookups under churn).
            self.peer_failed(next, now);
        }
        for peer in self.links.connect_expired(now) {
            self.peer_failed(peer, now);
        }
        for no in unparked {
            if self.pending.get(&no).is_some_and(|p| p.next.is_none()) {
                self.dispatch(no, now);
            }
        }
        self.check_stabilize_wait(now);
        self.check_probe_wait(now);
        self.check_pred_probe(now);
    }

    /// The earliest deadline of pending requests, links being opened and
    /// the stabilization answer. Exact, so that the shell never wakes the
    /// node for nothing (an acknowledged hop moves its deadline later).
    pub(super) fn next_deadline(&self) -> Option<Time> {
        let mut w: Option<Time> = self.links.next_deadline();
        for p in self.pending.values() {
            let t = if p.acked {
                p.expires
            } else {
                p.hop_deadline.min(p.expires)
            };
            w = Some(w.map_or(t, |x| x.min(t)));
        }
        if let Some(t) = self.stab_wait.map(|s| s.deadline) {
            w = Some(w.map_or(t, |x| x.min(t)));
        }
        if let Some(t) = self.probe_wait.map(|p| p.deadline) {
            w = Some(w.map_or(t, |x| x.min(t)));
        }
        if let Some(t) = self.cold.pred_probe.map(|p| p.deadline()) {
            w = Some(w.map_or(t, |x| x.min(t)));
        }
        w
    }
}

/// Adds a node found dead to the list later hops avoid. The list is short
/// and a request that starts right after many nodes died fills it with the
/// origin's dead fingers, far from the target. Later hops only choose among
/// nodes near the target (the closest before it, the successors after it),
/// so when the list is full the entry farthest from the target, in either
/// direction, gives way: the dead old owner found near the end must reach
/// the hops after it, or they try it again through a whole connect timeout.
fn note_avoid(route: &mut Route, dead: NodeId) {
    if route.avoid.contains(&dead) {
        return;
    }
    route.avoid.push(dead);
    if route.avoid.len() > MAX_AVOID {
        let t = route.target;
        let far = |n: &NodeId| n.distance_key(&t).min(t.distance_key(n));
        let farthest = (0..route.avoid.len()).max_by_key(|&i| (far(&route.avoid[i]), i));
        if let Some(i) = farthest {
            route.avoid.remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(v: u64) -> Id {
        Id::from_u64_top(v)
    }

    #[test]
    fn a_full_avoid_list_keeps_the_dead_nodes_nearest_the_target() {
        let mut route = Route {
            no: 0,
            target: id(1000),
            mode: Mode::ToKey,
            last_hop: false,
            hops: 0,
            timeouts: 0,
            avoid: Vec::new(),
            origin: id(1),
            request: Request::Lookup,
        };
        // The origin's dead fingers, far before the target, fill the list.
        for v in 0..MAX_AVOID as u64 {
            note_avoid(&mut route, id(100 + v));
        }
        note_avoid(&mut route, id(100));
        assert_eq!(route.avoid.len(), MAX_AVOID, "no duplicates");
        // The dead old owner, just past the target, still gets in, in
        // place of the entry farthest from the target.
        note_avoid(&mut route, id(1001));
        assert_eq!(route.avoid.len(), MAX_AVOID);
        assert!(route.avoid.contains(&id(1001)));
        assert!(!route.avoid.contains(&id(100)));
        // A node nearer the target than any other replaces the farthest again.
        note_avoid(&mut route, id(999));
        assert!(route.avoid.contains(&id(999)) && route.avoid.contains(&id(1001)));
        assert!(!route.avoid.contains(&id(101)));
    }
}
