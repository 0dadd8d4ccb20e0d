//! The overlay node state machine.
//!
//! See the crate documentation for the run loop. This module holds the
//! node's state and its public API; the protocol parts live beside it:
//! `route` (recursive routing with per-hop acks and retries), `join`,
//! `stabilize`, `fingers` and `leave` (ring upkeep), `links`, `budget` and
//! `hold` (the links held, which ones to want, and those an application
//! keeps open), `replicate` (record placement and repair) and `app` (the
//! application channel).

mod app;
mod budget;
mod fingers;
mod hold;
mod join;
mod leave;
mod links;
mod pred_check;
mod reach;
mod replicate;
pub(crate) mod ring;
mod route;
mod signed;
mod stabilize;

use crate::app::ServiceId;
use crate::config::Config;
use crate::event::{Answer, AttachToken, Event, LocalError, Output, QueryError, QueryId, Transmit};
use crate::id::{Id, NodeId};
use crate::identity::Identity;
use crate::record::{Kind, Record};
use crate::stats::Stats;
use crate::store::Store;
use crate::time::Time;
use crate::vecmap::VecMap;
use crate::vecmap::VecSet;
use crate::wire::{Message, Mode, Request, WireError, MAX_ATTACH};
use core::time::Duration;
use links::Links;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use ring::Ring;
use route::{Pending, Purpose, Upstream};
use std::collections::VecDeque;

/// Period of housekeeping (idle links, expired records, forgotten deaths).
const SWEEP_INTERVAL: Duration = Duration::from_secs(5);

/// How long a peer that refused a link (over its budget) is not asked again.
const BUSY_BACKOFF: Duration = Duration::from_secs(10);

/// A change of a link reported by the shell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkChange {
    /// The link is open (opened by either side).
    Up,
    /// The link closed or could not be opened.
    Down,
    /// The link cannot be had now (the peer is alive but out of reach this
    /// way, e.g. a server cannot dial a browser): no failure, the node asks
    /// again after a while.
    Refused,
    /// The link could not be set up (ICE failed, the set-up timed out):
    /// no sign that the peer died. It stays in the ring view, requests go
    /// around it, and the node asks again after a back-off that grows with
    /// each failure in a row (up to a bound).
    Unreachable,
}

/// Where the node is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Not in a ring: call `create` or `join`.
    Idle,
    /// A join request is on its way.
    Joining,
    /// Part of a ring.
    Joined,
    /// Left the ring; inputs are ignored.
    Left,
}

/// A snapshot of the node's view, for a UI or a test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// This node.
    pub id: NodeId,
    /// Where it is in its life.
    pub phase: Phase,
    /// Its predecessor.
    pub predecessor: Option<NodeId>,
    /// Its successor list, closest first.
    pub successors: Vec<NodeId>,
    /// Its distinct fingers, in ring order.
    pub fingers: Vec<NodeId>,
    /// Open links.
    pub links: Vec<NodeId>,
    /// Records stored (own and replicas, tombstones included).
    pub records: usize,
}

/// One Chord node. Feed it inputs with `now`; drain transmits, events and
/// the next timeout after every input.
///
/// What routing a message touches (ring, links, pending requests, counters,
/// the routing limits, the timers `poll_timeout` reads) is kept in this
/// struct; the rest lives behind `cold`, so that a node whose state is not in
/// the cache costs few memory loads per message.
#[derive(Debug)]
pub struct Node {
    phase: Phase,
    ring: Ring,
    links: Links,
    stats: Stats,
    limits: RouteLimits,

    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,

    /// Routed requests waiting for an answer, by our hop-local number.
    pending: VecMap<u64, Pending>,
    next_no: u64,

    /// Nodes found dead, and until when they stay out of the tables.
    dead: VecMap<NodeId, Time>,
    /// Peers not asked for a link until then: they refused one (over
    /// budget), or could not be reached (see `reach`).
    busy: VecMap<NodeId, Time>,

    // Ring upkeep.
    /// A stabilization sent to the successor, waiting for its answer.
    stab_wait: Option<StabWait>,
    /// A finger probe in flight.
    probe_wait: Option<ProbeWait>,
    finger_burst: bool,
    /// While joining: placed in the ring, waiting until this deadline for the
    /// successor to take us as predecessor.
    confirming: Option<Time>,

    // Timers.
    next_stabilize: Time,
    next_finger: Time,
    next_sweep: Time,
    ring_dirty: bool,

    cold: Box<Cold>,
}

/// A stabilization waiting for the successor's answer.
#[derive(Clone, Copy, Debug)]
struct StabWait {
    /// The successor asked.
    peer: NodeId,
    /// The sequence number its answer must carry.
    seq: u32,
    /// Unanswered by then, the successor is taken for dead.
    deadline: Time,
}

/// A finger probe waiting for the finger's answer.
#[derive(Clone, Copy, Debug)]
struct ProbeWait {
    /// The finger table entry being checked.
    finger: usize,
    /// The node in that entry, asked.
    peer: NodeId,
    /// The sequence number its answer must carry.
    seq: u32,
    /// Unanswered by then, the finger is taken for dead.
    deadline: Time,
}

/// The parts of the configuration read for every routed message, copied
/// out of [`Config`] so that they sit next to the rest of the hot state.
#[derive(Debug)]
struct RouteLimits {
    route_timeout: Duration,
    connect_timeout: Duration,
    rto_initial: Duration,
    rto_min: Duration,
    rto_max: Duration,
    max_pending: usize,
    max_attempts: usize,
    link_queue: usize,
    hop_limit: u8,
}

impl RouteLimits {
    fn of(c: &Config) -> RouteLimits {
        RouteLimits {
            route_timeout: c.route_timeout,
            connect_timeout: c.connect_timeout,
            rto_initial: c.rto_initial,
            rto_min: c.rto_min,
            rto_max: c.rto_max,
            max_pending: c.max_pending,
            max_attempts: c.max_attempts,
            link_queue: c.link_queue,
            hop_limit: c.hop_limit,
        }
    }
}

/// Node state that routing does not touch: identity, configuration, records,
/// randomness, join and upkeep bookkeeping.
#[derive(Debug)]
struct Cold {
    identity: Identity,
    config: Config,
    store: Store,
    rng: ChaCha8Rng,

    next_query: u64,
    /// Attach requests delivered to the shell, waiting for its answer.
    attach_waiting: VecMap<AttachToken, AttachWait>,
    next_token: u64,
    /// Services this node accepts application messages for.
    services: VecSet<ServiceId>,
    /// Peers whose links an application holds open, with the count of holds.
    holds: VecMap<NodeId, u32>,
    /// Peers a link could not be set up to lately.
    out_of_reach: VecMap<NodeId, reach::OutOfReach>,

    pred_heard: Time,
    /// A probe of a predecessor that missed a round, waiting for its answer.
    pred_probe: Option<pred_check::PredProbe>,
    stab_seq: u32,
    finger_cursor: usize,
    finger_inflight: bool,
    /// Finger refreshes done, to make every few of them a full lookup.
    finger_rounds: u64,
    self_check_due: bool,
    /// Nodes a joining node may send its join through.
    join_candidates: Vec<NodeId>,
    record_version: u64,
    /// Successors found dead lately, and until when that counts: each one
    /// widens the run of successors kept linked (see `linked_successors`).
    succ_losses: usize,
    succ_losses_until: Time,
    /// What replication last saw: (predecessor, replica targets).
    replicated_view: (Option<NodeId>, Vec<NodeId>),
    next_replicate: Time,
}

/// An attach request handed to the shell, waiting for `attach_reply`.
#[derive(Debug)]
struct AttachWait {
    /// Where the answer goes.
    up: Upstream,
    /// Hops the request took, echoed in the answer.
    hops: u8,
    /// Hop timeouts on its way, echoed in the answer.
    timeouts: u8,
    /// After this the asker has given up: the entry is dropped.
    until: Time,
}

impl Node {
    /// A node that is not yet in a ring. `seed` drives every random choice
    /// (timer jitter, query numbers) so that runs replay exactly.
    pub fn new(identity: Identity, config: Config, seed: u64, now: Time) -> Node {
        let me = identity.node_id();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let next_no = rng.next_u64() >> 16;
        Node {
            phase: Phase::Idle,
            ring: Ring::new(me, config.successors),
            links: Links::default(),
            stats: Stats::default(),
            limits: RouteLimits::of(&config),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            pending: VecMap::new(),
            next_no,
            dead: VecMap::new(),
            busy: VecMap::new(),
            stab_wait: None,
            probe_wait: None,
            finger_burst: false,
            confirming: None,
            next_stabilize: now,
            next_finger: now,
            next_sweep: now,
            ring_dirty: false,
            cold: Box::new(Cold {
                store: Store::new(config.store),
                identity,
                rng,
                next_query: 1,
                attach_waiting: VecMap::new(),
                next_token: 1,
                services: VecSet::new(),
                holds: VecMap::new(),
                out_of_reach: VecMap::new(),
                pred_heard: now,
                pred_probe: None,
                stab_seq: 0,
                finger_cursor: 0,
                finger_inflight: false,
                finger_rounds: 0,
                self_check_due: false,
                join_candidates: Vec::new(),
                record_version: 0,
                succ_losses: 0,
                succ_losses_until: now,
                replicated_view: (None, Vec::new()),
                next_replicate: now + config.replicate_interval,
                config,
            }),
        }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.ring.me
    }

    /// The identity (for signing and persisting).
    pub fn identity(&self) -> &Identity {
        &self.cold.identity
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.cold.config
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Where the node is in its life.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The node's view of the ring.
    pub fn status(&self) -> Status {
        Status {
            id: self.ring.me,
            phase: self.phase,
            predecessor: self.ring.pred,
            successors: self.ring.succ.clone(),
            fingers: self.ring.distinct_fingers(),
            links: self.links.up_peers().collect(),
            records: self.cold.store.len(),
        }
    }

    /// The finger table: entry i approximates successor(id + 2^(FIRST_BIT + i)).
    pub fn fingers(&self) -> &[Option<NodeId>] {
        &self.ring.fingers
    }

    /// The records this node holds (owned and replicas).
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.cold.store.iter()
    }

    /// Starts a new ring with this node alone in it.
    pub fn create(&mut self, now: Time) {
        if self.phase == Phase::Idle {
            self.phase = Phase::Joined;
            self.events.push_back(Event::Joined);
            self.schedule_upkeep(now);
        }
    }

    /// Places the node with ring tables computed from outside (the simulator
    /// builds very large rings this way). Links are opened on demand.
    pub fn install_tables(
        &mut self,
        predecessor: Option<NodeId>,
        successors: &[NodeId],
        fingers: &[Option<NodeId>],
        now: Time,
    ) {
        self.ring.pred = predecessor;
        self.ring
            .set_successors(successors.iter().copied(), &|_| false);
        for (slot, f) in self.ring.fingers.iter_mut().zip(fingers) {
            *slot = *f;
        }
        self.phase = Phase::Joined;
        self.cold.pred_heard = now;
        self.cold.replicated_view = (self.ring.pred, self.replica_targets());
        self.schedule_upkeep(now);
    }

    /// Asks for the owner of `key`. The answer comes as `Event::QueryDone`.
    pub fn lookup(&mut self, key: Id, now: Time) -> QueryId {
        self.start_query(key, Mode::ToKey, Request::Lookup, now)
    }

    /// Like [`Node::lookup`], but the answer is [`Answer::Route`]: the owner
    /// and every node the request passed through (for showing the route).
    pub fn trace(&mut self, key: Id, now: Time) -> QueryId {
        self.start_query(key, Mode::ToKey, Request::Trace { path: Vec::new() }, now)
    }

    /// Reads the live records under `key`.
    pub fn get(&mut self, key: Id, kind: Kind, now: Time) -> QueryId {
        self.start_query(key, Mode::ToKey, Request::Get { kind }, now)
    }

    /// Stores `value` under `key`, signed by this node, for `ttl`.
    pub fn put(
        &mut self,
        key: Id,
        kind: Kind,
        value: Vec<u8>,
        ttl: Duration,
        now: Time,
    ) -> Result<QueryId, LocalError> {
        if value.len() > self.cold.config.store.max_value {
            return Err(LocalError::TooLarge);
        }
        self.put_record(key, kind, Some(value), ttl, now)
    }

    /// Removes this node's value under `key` (a signed tombstone replaces it
    /// for `ttl`, so that no replica brings it back).
    pub fn remove(
        &mut self,
        key: Id,
        kind: Kind,
        ttl: Duration,
        now: Time,
    ) -> Result<QueryId, LocalError> {
        self.put_record(key, kind, None, ttl, now)
    }

    fn put_record(
        &mut self,
        key: Id,
        kind: Kind,
        value: Option<Vec<u8>>,
        ttl: Duration,
        now: Time,
    ) -> Result<QueryId, LocalError> {
        if self.phase == Phase::Left {
            return Err(LocalError::Left);
        }
        if ttl.is_zero() || ttl > self.cold.config.store.max_ttl {
            return Err(LocalError::BadTtl);
        }
        // Versions follow this node's clock so that a later write wins even
        // from another tab that shares the identity.
        self.cold.record_version = (self.cold.record_version + 1).max(now.as_micros());
        let record = Record::sign(
            &self.cold.identity,
            key,
            kind,
            self.cold.record_version,
            now + ttl,
            value,
        );
        Ok(self.start_query(key, Mode::ToKey, Request::Put(Box::new(record)), now))
    }

    /// Sends opaque link negotiation data to the node `target`; its answer
    /// comes as `Answer::Attached`.
    pub fn attach(
        &mut self,
        target: NodeId,
        data: Vec<u8>,
        now: Time,
    ) -> Result<QueryId, LocalError> {
        if data.len() > MAX_ATTACH {
            return Err(LocalError::PayloadTooLarge);
        }
        Ok(self.start_query(target, Mode::ToNode, Request::Attach { data }, now))
    }

    /// Answers an `Event::AttachRequest`.
    pub fn attach_reply(
        &mut self,
        token: AttachToken,
        data: Vec<u8>,
        now: Time,
    ) -> Result<(), LocalError> {
        if data.len() > MAX_ATTACH {
            return Err(LocalError::PayloadTooLarge);
        }
        let wait = self
            .cold
            .attach_waiting
            .remove(&token)
            .ok_or(LocalError::UnknownToken)?;
        self.answer(
            wait.up,
            wait.hops,
            wait.timeouts,
            crate::wire::Reply::Attached { data },
            now,
        );
        self.after_input(now);
        Ok(())
    }

    /// Tells the ring about a linked peer that may belong to another ring,
    /// e.g. a server that restarted and made a ring of its own while this
    /// node's ring lived on without it. The node finds where the peer's id
    /// falls in its ring and tells the peer its neighbours there; both rings
    /// then merge through ordinary stabilization. Harmless when the peer is
    /// already a member.
    pub fn introduce(&mut self, peer: NodeId, now: Time) {
        if self.phase != Phase::Joined || !self.links.is_up(&peer) {
            return;
        }
        self.originate(
            peer,
            Mode::ToKey,
            Request::Join,
            route::Purpose::Introduce(peer),
            None,
            now,
        );
        self.after_input(now);
    }

    /// Leaves the ring gracefully: neighbours learn of each other and the
    /// successor receives this node's records.
    pub fn leave(&mut self, now: Time) {
        if self.phase == Phase::Left {
            return;
        }
        self.do_leave(now);
        self.after_input(now);
    }

    /// Bytes from a linked neighbour: decoded, checked, handled. Malformed
    /// frames are counted and dropped.
    pub fn handle_bytes(&mut self, from: NodeId, bytes: &[u8], now: Time) -> Result<(), WireError> {
        match Message::decode(bytes) {
            Ok(msg) => {
                self.handle_message(from, msg, now);
                Ok(())
            }
            Err(e) => {
                self.stats.dropped_malformed += 1;
                Err(e)
            }
        }
    }

    /// A decoded message from a linked neighbour.
    pub fn handle_message(&mut self, from: NodeId, msg: Message, now: Time) {
        if self.phase == Phase::Left || from == self.ring.me {
            return;
        }
        if msg.check_limits().is_err() {
            self.stats.dropped_malformed += 1;
            return;
        }
        self.stats.msgs_received += 1;
        self.links.touch(&from, now);
        // Any member we hear from may be a closer successor; a newcomer
        // asking to join is not a member yet.
        if !matches!(&msg, Message::Route(r) if matches!(r.request, Request::Join)) {
            self.consider_successor(from);
        }
        match msg {
            Message::Stabilize { seq } => self.on_stabilize(from, seq, now),
            Message::StabilizeReply {
                seq,
                predecessor,
                successors,
            } => self.on_stabilize_reply(from, seq, predecessor, successors, now),
            Message::Leave {
                predecessor,
                successors,
            } => self.on_leave(from, predecessor, successors, now),
            Message::Notify => self.on_notify(from, now),
            Message::Probe { seq } => self.on_probe(from, seq, now),
            Message::ProbeReply { seq, predecessor } => {
                if !self.on_pred_probe_reply(from, seq, now) {
                    self.on_probe_reply(from, seq, predecessor, now)
                }
            }
            Message::Neighbours {
                predecessor,
                successors,
            } => self.on_neighbours(predecessor, successors),
            Message::Close { reason } => self.links.mark_closing(&from, reason),
            Message::Route(route) => self.on_route(from, route, now),
            Message::RouteAck { no } => self.on_route_ack(from, no, now),
            Message::RouteReply {
                no,
                hops,
                timeouts,
                reply,
            } => self.on_route_reply(from, no, hops, timeouts, reply, now),
            Message::Replicate {
                records,
                copies_left,
            } => self.on_replicate(from, records, copies_left, now),
        }
        self.after_input(now);
    }

    /// A link came up or went down.
    pub fn handle_link(&mut self, peer: NodeId, change: LinkChange, now: Time) {
        if self.phase == Phase::Left || peer == self.ring.me {
            return;
        }
        match change {
            LinkChange::Up => self.on_link_up(peer, now),
            LinkChange::Down => self.on_link_down(peer, now),
            LinkChange::Refused => self.on_link_refused(peer, now),
            LinkChange::Unreachable => self.on_link_unreachable(peer, now),
        }
        self.after_input(now);
    }

    /// Time passed: run whatever is due.
    pub fn handle_timeout(&mut self, now: Time) {
        if self.phase == Phase::Left {
            return;
        }
        if self.phase == Phase::Joined {
            // Periodic upkeep rides on the stabilization tick: whatever is
            // due within half a period runs with it, so a node wakes about
            // once per period instead of once per task.
            let stabilize_due = now >= self.next_stabilize;
            let horizon = now + self.cold.config.stabilize_interval / 2;
            if stabilize_due {
                self.stabilize(now);
                self.next_stabilize = now + self.jitter(self.cold.config.stabilize_interval);
            }
            if now >= self.next_finger || (stabilize_due && self.next_finger <= horizon) {
                self.fix_next_finger(now);
                self.next_finger = now + self.jitter(self.cold.config.finger_interval);
            }
            if stabilize_due && self.cold.next_replicate <= horizon {
                self.replicate_all(now);
                self.cold.next_replicate = now + self.jitter(self.cold.config.replicate_interval);
            }
            if stabilize_due && self.next_sweep <= horizon {
                self.sweep(now);
                self.next_sweep = now + SWEEP_INTERVAL;
            }
        } else if now >= self.next_sweep {
            self.sweep(now);
            self.next_sweep = now + SWEEP_INTERVAL;
        }
        if self.phase == Phase::Joining {
            self.join_upkeep(now);
        }
        if self.next_deadline().is_some_and(|t| now >= t) {
            self.check_deadlines(now);
        }
        self.after_input(now);
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the shell.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next thing to do, transmits before events: a shell that acts on
    /// an event (which may queue more) drains everything with one loop.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.poll_transmit()
            .map(Output::Transmit)
            .or_else(|| self.poll_event().map(Output::Event))
    }

    /// When `handle_timeout` must be called next.
    pub fn poll_timeout(&self) -> Option<Time> {
        if self.phase == Phase::Left {
            return None;
        }
        let mut t = if self.phase == Phase::Joined {
            // Other periodic tasks run on the stabilization tick; only a
            // finger refresh asked for at once (right after joining) wakes
            // the node by itself.
            self.next_stabilize.min(if self.finger_burst {
                self.next_finger
            } else {
                self.next_stabilize
            })
        } else {
            self.next_sweep
        };
        if let Some(deadline) = self.confirming {
            t = t.min(self.next_stabilize).min(deadline);
        }
        if let Some(w) = self.next_deadline() {
            t = t.min(w);
        }
        Some(t)
    }

    // ---- shared plumbing ------------------------------------------------

    fn start_query(&mut self, target: Id, mode: Mode, request: Request, now: Time) -> QueryId {
        let id = QueryId(self.cold.next_query);
        self.cold.next_query += 1;
        // Attach negotiates links, so a joining node that has its bootstrap
        // link may use it to reach its new neighbours. So may a read: a
        // node that can only link through a relay reads where relays are
        // (`service:relay`) before it can link to its neighbours and finish
        // joining.
        let early = matches!(request, Request::Attach { .. } | Request::Get { .. })
            && self.phase == Phase::Joining
            && self.links.up_peers().next().is_some();
        if self.phase != Phase::Joined && !early {
            self.finish_local(
                Purpose::User(id),
                now,
                0,
                0,
                now,
                Err(QueryError::NotJoined),
            );
            return id;
        }
        self.originate(target, mode, request, Purpose::User(id), None, now);
        self.after_input(now);
        id
    }

    /// Reports the end of a request this node started.
    fn finish_local(
        &mut self,
        purpose: Purpose,
        started: Time,
        hops: u8,
        timeouts: u8,
        now: Time,
        outcome: Result<Answer, QueryError>,
    ) {
        match purpose {
            Purpose::User(id) => {
                if outcome.is_ok() {
                    self.stats.queries_ok += 1;
                } else {
                    self.stats.queries_failed += 1;
                }
                self.events.push_back(Event::QueryDone {
                    id,
                    hops,
                    timeouts,
                    elapsed: now.saturating_since(started),
                    outcome,
                });
            }
            Purpose::Finger(i) => self.on_finger_result(i, outcome),
            Purpose::SelfCheck => self.on_self_check(outcome, now),
            Purpose::Join | Purpose::Introduce(_) => {}
        }
    }

    /// Queues a message for a neighbour, opening a link if needed. False if
    /// it can be neither sent nor queued (no link to be had, queue full);
    /// the message is then dropped.
    fn send(&mut self, to: NodeId, msg: Message, now: Time) -> bool {
        let msg = match self.links.send(&to, msg, now, self.limits.link_queue) {
            links::Sent::Now(msg) => {
                self.push_transmit(to, msg);
                return true;
            }
            links::Sent::Queued => return true,
            links::Sent::QueueFull(_) => {
                self.stats.dropped_overload += 1;
                return false;
            }
            links::Sent::NoLink(msg) => msg,
        };
        if !self.try_connect(to, now) {
            return false;
        }
        match self.links.send(&to, msg, now, self.limits.link_queue) {
            links::Sent::Now(msg) => {
                self.push_transmit(to, msg);
                true
            }
            links::Sent::Queued => true,
            links::Sent::QueueFull(_) | links::Sent::NoLink(_) => false,
        }
    }

    fn push_transmit(&mut self, to: NodeId, msg: Message) {
        self.stats.msgs_sent += 1;
        if msg.is_maintenance() {
            self.stats.maintenance_sent += 1;
        }
        self.transmits.push_back(Transmit { to, msg });
    }

    fn is_dead(&self, node: &NodeId) -> bool {
        self.dead.contains_key(node)
    }

    /// A peer stopped answering or its link failed: forget it, route around it.
    fn peer_failed(&mut self, peer: NodeId, now: Time) {
        if self.dead.len() < 4096 {
            self.dead.insert(peer, now + self.cold.config.dead_memory);
        }
        if self.ring.succ.contains(&peer) {
            self.cold.succ_losses = self.cold.succ_losses.saturating_add(1);
            self.cold.succ_losses_until = now + self.cold.config.dead_memory;
        }
        if self.ring.remove(&peer) {
            self.ring_dirty = true;
        }
        self.forget_waits_on(peer);
        if self.links.remove(&peer).is_some() {
            self.stats.links_lost += 1;
            self.events.push_back(Event::Disconnect(peer));
        }
        self.reroute_via(peer, now);
    }

    /// The acknowledgement timeout for a peer, from its measured round trip.
    fn rto(&self, peer: &NodeId) -> Duration {
        let c = &self.limits;
        self.links.rto(peer, c.rto_initial, c.rto_min, c.rto_max)
    }

    /// A fresh sequence number for stabilization and probes.
    fn next_seq(&mut self) -> u32 {
        self.cold.stab_seq = self.cold.stab_seq.wrapping_add(1);
        self.cold.stab_seq
    }

    /// Stops waiting for a stabilization or probe answer from `peer`.
    fn forget_waits_on(&mut self, peer: NodeId) {
        if self.stab_wait.is_some_and(|w| w.peer == peer) {
            self.stab_wait = None;
        }
        if self.probe_wait.is_some_and(|w| w.peer == peer) {
            self.probe_wait = None;
            self.cold.finger_inflight = false;
        }
        self.forget_pred_probe(peer);
    }

    fn jitter(&mut self, base: Duration) -> Duration {
        // Uniform in [0.75, 1.25) of the base, so that nodes drift apart
        // instead of stabilizing in lock step.
        let micros = u64::try_from(base.as_micros()).unwrap_or(u64::MAX);
        let spread = micros / 2;
        let offset = if spread == 0 {
            0
        } else {
            self.cold.rng.next_u64() % spread
        };
        Duration::from_micros(micros - micros / 4 + offset)
    }

    fn schedule_upkeep(&mut self, now: Time) {
        let first = self.jitter(self.cold.config.stabilize_interval);
        self.next_stabilize = now + first / 2;
        let fing = self.jitter(self.cold.config.finger_interval);
        self.next_finger = now + fing / 2;
        let rep = self.jitter(self.cold.config.replicate_interval);
        self.cold.next_replicate = now + rep;
    }

    /// Work that follows any input: react to ring changes once.
    fn after_input(&mut self, now: Time) {
        if self.ring_dirty && self.phase == Phase::Joined {
            self.ring_dirty = false;
            self.ensure_links(now);
            self.replicate_on_change(now);
            self.events.push_back(Event::RingChanged);
        }
    }

    /// Periodic housekeeping: forget old deaths, close idle links, expire records.
    fn sweep(&mut self, now: Time) {
        self.dead.retain(|_, until| *until > now);
        self.busy.retain(|_, until| *until > now);
        self.cold.store.expire(now);
        self.cold.attach_waiting.retain(|_, w| w.until > now);
        self.forget_old_failures(now);
        if self.cold.succ_losses_until <= now {
            self.cold.succ_losses = 0;
        }
        if self.phase == Phase::Joined {
            let keep = self.essential_set();
            let before = now - self.cold.config.link_idle;
            let idle = self
                .links
                .idle(before, &|p| keep.contains(p) || self.is_held(p));
            for peer in idle {
                self.close_link(peer, crate::wire::CloseReason::Idle);
            }
            self.ensure_links(now);
        }
    }

    fn close_link(&mut self, peer: NodeId, reason: crate::wire::CloseReason) {
        if let Some(link) = self.links.remove(&peer) {
            if !link.is_connecting() {
                if reason == crate::wire::CloseReason::Busy {
                    // Evicted for budget: tell it who else is around.
                    let view = Message::Neighbours {
                        predecessor: self.ring.pred,
                        successors: self.ring.succ.clone(),
                    };
                    self.push_transmit(peer, view);
                }
                self.push_transmit(peer, Message::Close { reason });
            }
            self.stats.links_closed += 1;
            self.events.push_back(Event::Disconnect(peer));
        }
    }

    fn on_link_up(&mut self, peer: NodeId, now: Time) {
        let was_known = self.links.contains(&peer);
        if !was_known {
            // Opened by the peer: make room if over budget, else refuse.
            if self.links.len() >= self.cold.config.max_links
                && !self.make_room_for(Some(peer), now)
            {
                // Refuse, but say who is around so the peer can go on.
                let view = Message::Neighbours {
                    predecessor: self.ring.pred,
                    successors: self.ring.succ.clone(),
                };
                self.push_transmit(peer, view);
                self.push_transmit(
                    peer,
                    Message::Close {
                        reason: crate::wire::CloseReason::Busy,
                    },
                );
                self.events.push_back(Event::Disconnect(peer));
                return;
            }
        }
        self.dead.remove(&peer);
        self.reached(&peer);
        self.stats.links_opened += 1;
        let queued = self.links.up(peer, now);
        for msg in queued {
            self.push_transmit(peer, msg);
        }
        self.restart_hop_timers(peer, now);
    }

    fn on_link_down(&mut self, peer: NodeId, now: Time) {
        match self.links.get(&peer) {
            None => {}
            Some(l) if l.closing.is_some() => {
                // Closed on purpose by the peer: no failure. One over its
                // budget is left alone for a while before we ask again.
                if l.closing == Some(crate::wire::CloseReason::Busy) {
                    self.busy.insert(peer, now + BUSY_BACKOFF);
                }
                self.links.remove(&peer);
                // No answer will come on this link; ask again next round.
                self.forget_waits_on(peer);
                self.reroute_via(peer, now);
            }
            Some(_) => self.peer_failed(peer, now),
        }
    }

    fn on_link_refused(&mut self, peer: NodeId, now: Time) {
        if self.links.remove(&peer).is_some() {
            self.busy.insert(peer, now + BUSY_BACKOFF);
            self.forget_waits_on(peer);
            self.reroute_via(peer, now);
        }
    }
}
