//! One partition of the simulated network: the nodes it owns, their events,
//! and the loop that plays one time window of them.
//!
//! Node `i` belongs to shard `i % shards` (a power of two). Within a window no event of one
//! node can cause an event at another node in the same window (every
//! message, link change and close takes at least the window's length), so
//! shards play a window independently, possibly on separate threads. What
//! one shard sends to another waits in its outbox until the window ends.
//!
//! Events are ordered by (time, creator, creator's counter), which does not
//! depend on how nodes are spread over shards: a run gives the same result
//! with any number of shards.

use crate::queue::{Entry, Queue};
use chordphone_overlay::{
    Event, Id, LinkChange, Message, Mode, Node, NodeId, QueryId, QueryNo, Reply, Request, Time,
};
use core::time::Duration;
use std::collections::BTreeMap;

/// What can happen at an instant, at one node.
#[derive(Debug)]
pub enum Ev {
    /// Boxed: the queue moves entries around, and messages can be large.
    Deliver {
        to: u32,
        from: u32,
        msg: Box<Message>,
    },
    /// One side of a new link: `node` learns it is linked to `peer`. The
    /// side of the node that asked for it is the `initiator`.
    LinkUp {
        node: u32,
        peer: u32,
        gen: u64,
        initiator: bool,
    },
    /// `peer` died; `to` notices its link is gone.
    LinkDown {
        to: u32,
        peer: u32,
    },
    /// An orderly close by `peer`: what it sent before arrives first. Only
    /// the link of that generation closes (a new one may exist by then).
    Closed {
        to: u32,
        peer: u32,
        gen: u64,
    },
    /// `peer` saw the close of `to`: `to` may forget its side. Until then
    /// the closing side still takes what the peer sent before it knew, as a
    /// data channel or WebSocket being closed does.
    CloseAck {
        to: u32,
        peer: u32,
        gen: u64,
    },
    Timer {
        node: u32,
    },
    /// The scenario starts the lookup of a key at a node.
    Lookup {
        node: u32,
        key: Box<Id>,
        slot: u32,
    },
}

impl Ev {
    /// The node the event happens at.
    pub fn node(&self) -> u32 {
        match self {
            Ev::Deliver { to, .. }
            | Ev::LinkDown { to, .. }
            | Ev::Closed { to, .. }
            | Ev::CloseAck { to, .. } => *to,
            Ev::LinkUp { node, .. } | Ev::Timer { node } | Ev::Lookup { node, .. } => *node,
        }
    }

    fn kind(&self) -> usize {
        match self {
            Ev::Deliver { .. } => 0,
            Ev::LinkUp { .. } => 1,
            Ev::LinkDown { .. } => 2,
            Ev::Closed { .. } | Ev::CloseAck { .. } => 3,
            Ev::Timer { .. } => 4,
            Ev::Lookup { .. } => 5,
        }
    }
}

/// One simulated node.
#[derive(Debug)]
pub struct SimNode {
    pub id: NodeId,
    pub node: Option<Node>,
    /// This node's side of its open links: peers, and beside them each
    /// link's generation. Peers alone are scanned on every delivery: a few
    /// cache lines read at once instead of a binary search's chain of misses.
    link_peers: Vec<u32>,
    link_sides: Vec<Side>,
    pub joined: bool,
    /// Counters of a node that died, kept for totals.
    pub final_msgs_sent: u64,
    /// Events this node created: the tie-breaker of their order.
    pub(crate) created: u32,
    /// Reports this node made: their order at one instant.
    reported: u32,
    /// Hash of what this node received, in order.
    pub(crate) trace: u64,
}

impl SimNode {
    pub(crate) fn new(id: NodeId, node: Node) -> SimNode {
        SimNode {
            id,
            node: Some(node),
            link_peers: Vec::new(),
            link_sides: Vec::new(),
            joined: false,
            final_msgs_sent: 0,
            created: 0,
            reported: 0,
            trace: FNV_OFFSET,
        }
    }

    fn link_pos(&self, peer: u32) -> Option<usize> {
        self.link_peers.iter().position(|p| *p == peer)
    }

    /// The generation of this side's link to `peer`, open or closing.
    pub(crate) fn link_gen(&self, peer: u32) -> Option<u64> {
        self.link_pos(peer).map(|i| self.link_sides[i].gen)
    }

    /// The generation of this side's link to `peer` if it is open.
    fn open_link(&self, peer: u32) -> Option<u64> {
        let i = self.link_pos(peer)?;
        let side = self.link_sides[i];
        (!side.closing).then_some(side.gen)
    }

    /// Opens this side of a link, or gives an existing one a new generation.
    pub(crate) fn set_link(&mut self, peer: u32, gen: u64) {
        let side = Side {
            gen,
            closing: false,
        };
        match self.link_pos(peer) {
            Some(i) => self.link_sides[i] = side,
            None => {
                self.link_peers.push(peer);
                self.link_sides.push(side);
            }
        }
    }

    fn mark_closing(&mut self, peer: u32) {
        if let Some(i) = self.link_pos(peer) {
            self.link_sides[i].closing = true;
        }
    }

    pub(crate) fn unlink(&mut self, peer: u32) {
        if let Some(i) = self.link_pos(peer) {
            self.link_peers.swap_remove(i);
            self.link_sides.swap_remove(i);
        }
    }

    /// How many links this side holds.
    pub fn link_count(&self) -> usize {
        self.link_peers.len()
    }

    /// The ordering key of the next event this node creates.
    fn next_key(&mut self, me: u32) -> u64 {
        order_key(me, &mut self.created)
    }
}

/// One side of a link.
#[derive(Debug, Clone, Copy)]
struct Side {
    gen: u64,
    /// This node closed the link and waits for the peer to have seen it.
    closing: bool,
}

/// What a node reported that the scenario cares about.
#[derive(Debug)]
pub enum Said {
    Event(Event),
    /// The lookup of scenario slot `slot` started under query id `qid`.
    LookupStarted {
        slot: u32,
        qid: QueryId,
    },
    /// This node answered, as the owner of `key`, a lookup that `origin`
    /// started: the moment the request reached the node it names.
    Answered {
        origin: NodeId,
        key: Id,
    },
}

/// A report with its place in the canonical order.
#[derive(Debug)]
pub struct Report {
    pub at: Time,
    pub node: u32,
    pub n: u32,
    pub said: Said,
}

/// What every shard reads and none changes during a window.
#[derive(Debug)]
pub struct Shared {
    pub ids: Vec<NodeId>,
    pub alive: Vec<bool>,
    pub index: BTreeMap<NodeId, u32>,
    pub latency: Duration,
    pub loss: f64,
    pub seed: u64,
    /// log2 of the number of shards.
    pub shard_bits: u32,
}

impl Shared {
    /// One-way latency between two nodes: fixed per pair, spread around the mean.
    pub fn latency(&self, a: u32, b: u32) -> Duration {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        let frac = (mix64((u64::from(lo) << 32 | u64::from(hi)) ^ self.seed) % 1000) as f64;
        // Uniform in [0.5, 1.5) of the mean.
        self.latency.mul_f64(frac / 1000.0 + 0.5)
    }

    /// The shortest time any event takes from one node to another.
    pub fn lookahead(&self) -> Duration {
        self.latency / 2
    }

    pub fn shard_of(&self, node: u32) -> usize {
        (node & ((1 << self.shard_bits) - 1)) as usize
    }

    /// Where a node sits in its shard.
    pub fn local(&self, node: u32) -> usize {
        (node >> self.shard_bits) as usize
    }
}

/// The ordering key of the next event a creator makes: who, then how many
/// it made before. It does not depend on shards or threads.
pub fn order_key(creator: u32, created: &mut u32) -> u64 {
    *created = created.wrapping_add(1);
    u64::from(creator) << 32 | u64::from(*created)
}

pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x100_0000_01b3;

/// Mixes a value into an FNV-1a hash over 64-bit words.
pub fn fnv(h: u64, v: u64) -> u64 {
    (h ^ v).wrapping_mul(FNV_PRIME)
}

/// A well-spread 64-bit hash of a 64-bit value (the MurmurHash3 finalizer).
pub fn mix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// No time: a node without a timer, or without a deadline.
const NEVER: Time = Time(u64::MAX);

/// One partition: its nodes, its events, what it sends to the others.
/// Aligned so that two shards played on two cores never share a cache line.
#[derive(Debug)]
#[repr(align(128))]
pub struct Shard {
    /// Node `i` of the network is `nodes[i / shards]` of shard `i % shards`.
    pub nodes: Vec<SimNode>,
    /// Per node, beside `nodes` and dense: when its timer event is due and
    /// when the node itself next wants `handle_timeout`. Most timer events
    /// find that an acknowledgement moved the deadline later; they are
    /// answered from these arrays without touching the node's state.
    timer_at: Vec<Time>,
    due: Vec<Time>,
    queue: Queue<Ev>,
    now: Time,
    /// Events for other shards, by shard, delivered when the window ends.
    pub outbox: Vec<Vec<Entry<Ev>>>,
    pub reports: Vec<Report>,
    pub events_processed: u64,
    pub by_kind: [u64; 6],
    /// How long until the peers of a dead node see their links drop.
    link_detect: Duration,
    /// The lookup being delivered, while its receiver runs: who sent it,
    /// under which number, who started it and for which key. An owner's
    /// answer to it is reported (`Said::Answered`).
    delivering: Option<(NodeId, QueryNo, NodeId, Id)>,
}

impl Shard {
    pub fn new(shards: usize, start: Time, link_detect: Duration) -> Shard {
        Shard {
            nodes: Vec::new(),
            timer_at: Vec::new(),
            due: Vec::new(),
            queue: Queue::new(start),
            now: start,
            outbox: (0..shards).map(|_| Vec::new()).collect(),
            reports: Vec::new(),
            events_processed: 0,
            by_kind: [0; 6],
            link_detect,
            delivering: None,
        }
    }

    pub fn node(&self, sh: &Shared, i: u32) -> &SimNode {
        &self.nodes[sh.local(i)]
    }

    pub fn node_mut(&mut self, sh: &Shared, i: u32) -> &mut SimNode {
        &mut self.nodes[sh.local(i)]
    }

    /// Adds a node (the next of this shard).
    pub fn add(&mut self, node: SimNode) {
        self.nodes.push(node);
        self.timer_at.push(NEVER);
        self.due.push(NEVER);
    }

    /// Takes an event addressed to this shard.
    pub fn push(&mut self, e: Entry<Ev>) {
        self.queue.push(e.at, e.seq, e.item);
    }

    /// Schedules an event that node `me` (of this shard) creates.
    fn emit(&mut self, sh: &Shared, me: u32, at: Time, ev: Ev) {
        let seq = self.node_mut(sh, me).next_key(me);
        let dest = sh.shard_of(ev.node());
        if dest == sh.shard_of(me) {
            self.queue.push(at, seq, ev);
        } else {
            self.outbox[dest].push(Entry { at, seq, item: ev });
        }
    }

    fn report(&mut self, sh: &Shared, node: u32, said: Said) {
        let at = self.now;
        let sn = self.node_mut(sh, node);
        sn.reported = sn.reported.wrapping_add(1);
        let n = sn.reported;
        self.reports.push(Report { at, node, n, said });
    }

    /// Plays every event before `end`.
    pub fn run(&mut self, sh: &Shared, end: Time) {
        while let Some(at) = self.queue.peek_at() {
            if at >= end {
                break;
            }
            let Some(entry) = self.queue.pop() else {
                break;
            };
            self.now = entry.at.max(self.now);
            self.events_processed += 1;
            self.by_kind[entry.item.kind()] += 1;
            self.handle(sh, entry.at, entry.item);
        }
        self.now = self.now.max(end);
    }

    fn handle(&mut self, sh: &Shared, at: Time, ev: Ev) {
        match ev {
            Ev::Deliver { to, from, msg } => {
                let sn = self.node_mut(sh, to);
                if sn.link_gen(from).is_none() {
                    return;
                }
                sn.trace = fnv(sn.trace, u64::from(from));
                let from_id = sh.ids[from as usize];
                self.delivering = match &*msg {
                    Message::Route(r)
                        if r.mode == Mode::ToKey && matches!(r.request, Request::Lookup) =>
                    {
                        Some((from_id, r.no, r.origin, r.target))
                    }
                    _ => None,
                };
                self.with_node(sh, to, |n, now| n.handle_message(from_id, *msg, now));
                self.delivering = None;
            }
            Ev::LinkUp {
                node,
                peer,
                gen,
                initiator,
            } => {
                if !sh.alive[node as usize] || !sh.alive[peer as usize] {
                    return;
                }
                let sn = self.node_mut(sh, node);
                let was = sn.link_gen(peer);
                sn.set_link(peer, gen);
                // The side that asked hears the answer even if a link from
                // the other side got there first.
                if was.is_none() || initiator {
                    let pid = sh.ids[peer as usize];
                    self.with_node(sh, node, |n, now| n.handle_link(pid, LinkChange::Up, now));
                }
            }
            Ev::LinkDown { to, peer } => {
                if self.node(sh, to).link_gen(peer).is_some() {
                    // Re-linked meanwhile: this drop is stale.
                    return;
                }
                let pid = sh.ids[peer as usize];
                self.with_node(sh, to, |n, now| n.handle_link(pid, LinkChange::Down, now));
            }
            Ev::Closed { to, peer, gen } => {
                let sn = self.node_mut(sh, to);
                if sn.link_gen(peer) != Some(gen) {
                    return;
                }
                sn.unlink(peer);
                let pid = sh.ids[peer as usize];
                self.with_node(sh, to, |n, now| n.handle_link(pid, LinkChange::Down, now));
                let ack = Ev::CloseAck {
                    to: peer,
                    peer: to,
                    gen,
                };
                self.emit(sh, to, self.now + sh.latency(to, peer), ack);
            }
            Ev::CloseAck { to, peer, gen } => {
                // A link opened again since keeps its new generation.
                let sn = self.node_mut(sh, to);
                if sn.link_gen(peer) == Some(gen) {
                    sn.unlink(peer);
                }
            }
            Ev::Timer { node } => {
                let l = sh.local(node);
                if self.timer_at[l] != at {
                    return;
                }
                self.timer_at[l] = NEVER;
                // The node's deadline may have moved later since this timer
                // was set (an acknowledgement arrived): wait for it instead
                // of waking the node for nothing.
                let due = self.due[l];
                if due > at && due != NEVER {
                    self.set_timer(sh, node, due);
                } else {
                    self.with_node(sh, node, |n, now| n.handle_timeout(now));
                }
            }
            Ev::Lookup { node, key, slot } => {
                let now = self.now;
                let sn = self.node_mut(sh, node);
                let Some(qid) = sn.node.as_mut().map(|n| n.lookup(*key, now)) else {
                    return;
                };
                // Reported before the node is drained: a lookup answered at
                // once must be known before its answer.
                self.report(sh, node, Said::LookupStarted { slot, qid });
                self.drain(sh, node);
            }
        }
    }

    /// Runs one node input and routes everything it produced.
    pub fn with_node(&mut self, sh: &Shared, i: u32, f: impl FnOnce(&mut Node, Time)) {
        let now = self.now;
        let Some(node) = self.node_mut(sh, i).node.as_mut() else {
            return;
        };
        f(node, now);
        self.drain(sh, i);
    }

    fn drain(&mut self, sh: &Shared, i: u32) {
        let now = self.now;
        loop {
            let Some(node) = self.node_mut(sh, i).node.as_mut() else {
                return;
            };
            if let Some(t) = node.poll_transmit() {
                let Some(&to) = sh.index.get(&t.to) else {
                    continue;
                };
                if self.node(sh, i).link_gen(to).is_none() {
                    // The core thinks a link is up that the network already
                    // closed: the message is lost, the LinkDown is on its way.
                    continue;
                }
                if let Some((up, no, origin, key)) = self.delivering {
                    let answered = matches!(&t.msg, Message::RouteReply { no: n, reply: Reply::Owner { owner }, .. }
                        if *n == no && t.to == up && *owner == sh.ids[i as usize]);
                    if answered {
                        self.report(sh, i, Said::Answered { origin, key });
                    }
                }
                let mut delay = sh.latency(i, to);
                if sh.loss > 0.0 {
                    let sn = self.node_mut(sh, i);
                    let mut draw = 0u64;
                    loop {
                        draw += 1;
                        let h = mix64(
                            sh.seed ^ mix64(u64::from(i) << 32 ^ u64::from(sn.created)) ^ draw,
                        );
                        if (h as f64 / u64::MAX as f64) >= sh.loss {
                            break;
                        }
                        // A lost segment is resent after a retransmission timeout.
                        delay += Duration::from_millis(200).max(sh.latency * 3);
                    }
                }
                let ev = Ev::Deliver {
                    to,
                    from: i,
                    msg: Box::new(t.msg),
                };
                self.emit(sh, i, now + delay, ev);
                continue;
            }
            if let Some(e) = node.poll_event() {
                self.on_event(sh, i, e);
                continue;
            }
            break;
        }
        let due = self
            .node(sh, i)
            .node
            .as_ref()
            .and_then(Node::poll_timeout)
            .map_or(NEVER, |t| t.max(now));
        let l = sh.local(i);
        self.due[l] = due;
        if due < self.timer_at[l] {
            self.set_timer(sh, i, due);
        }
    }

    /// Schedules a timer event for a node. Its ordering key depends only on
    /// the node: the node's timer comes after what it created itself for
    /// the same instant.
    fn set_timer(&mut self, sh: &Shared, node: u32, at: Time) {
        self.timer_at[sh.local(node)] = at;
        let seq = u64::from(node) << 32 | u64::from(u32::MAX);
        self.queue.push(at, seq, Ev::Timer { node });
    }

    fn on_event(&mut self, sh: &Shared, i: u32, e: Event) {
        let now = self.now;
        match e {
            Event::Connect(peer) => {
                let Some(&to) = sh.index.get(&peer) else {
                    return;
                };
                if let Some(gen) = self.node(sh, i).open_link(to) {
                    // The network still has the link: it is up at once.
                    let ev = Ev::LinkUp {
                        node: i,
                        peer: to,
                        gen,
                        initiator: true,
                    };
                    self.emit(sh, i, now, ev);
                } else if sh.alive[to as usize] {
                    // Offer/answer and ICE: about two round trips. Both sides
                    // learn of the link at the same instant.
                    let at = now + sh.latency(i, to) * 4;
                    let gen = self.node_mut(sh, i).next_key(i);
                    for (node, peer, initiator) in [(i, to, true), (to, i, false)] {
                        let ev = Ev::LinkUp {
                            node,
                            peer,
                            gen,
                            initiator,
                        };
                        self.emit(sh, i, at, ev);
                    }
                }
                // A dead peer never answers: the core's connect timeout fires.
            }
            Event::Disconnect(peer) => {
                let Some(&to) = sh.index.get(&peer) else {
                    return;
                };
                // Messages this side sent before closing still arrive, then
                // the other side sees the link go. A link this side opens
                // again meanwhile is a new one.
                let Some(gen) = self.node(sh, i).open_link(to) else {
                    return;
                };
                self.node_mut(sh, i).mark_closing(to);
                let ev = Ev::Closed { to, peer: i, gen };
                self.emit(sh, i, now + sh.latency(i, to), ev);
            }
            Event::Joined => {
                self.node_mut(sh, i).joined = true;
                self.report(sh, i, Said::Event(Event::Joined));
            }
            e @ (Event::QueryDone { .. } | Event::JoinFailed(_)) => {
                self.report(sh, i, Said::Event(e));
            }
            Event::AttachRequest { token, .. } => {
                if let Some(n) = self.node_mut(sh, i).node.as_mut() {
                    let _ = n.attach_reply(token, b"answer".to_vec(), now);
                }
            }
            Event::Left | Event::RingChanged | Event::App { .. } => {}
        }
    }

    /// The node dies at once, silently: its side of every link goes, and
    /// the peers notice only after `link_detect`. Returns the peers, whose
    /// sides the caller removes (they may live in other shards).
    pub fn kill(&mut self, sh: &Shared, i: u32) -> Vec<u32> {
        let now = self.now;
        let sn = self.node_mut(sh, i);
        let Some(node) = sn.node.take() else {
            return Vec::new();
        };
        sn.final_msgs_sent = node.stats().msgs_sent;
        sn.link_sides.clear();
        let peers = core::mem::take(&mut sn.link_peers);
        for &p in &peers {
            let at = now + self.link_detect;
            self.emit(sh, i, at, Ev::LinkDown { to: p, peer: i });
        }
        peers
    }

    pub fn set_now(&mut self, now: Time) {
        self.now = self.now.max(now);
    }
}
