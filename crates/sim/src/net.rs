//! The simulated network: nodes, links, latency, loss, and the event queue.
//!
//! Links behave like the ones chordphone really uses (WebRTC data channels,
//! WebSockets): reliable and ordered while they exist. Loss therefore shows
//! up as delay (a retransmission after a timeout), not as a missing message;
//! a message in flight on a link that closes, or to a node that died, is lost.

use crate::queue::Queue;
use chordphone_overlay::{Event, Identity, LinkChange, Message, Node, NodeId, Time};
use core::time::Duration;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use std::collections::BTreeMap;

/// What can happen at an instant.
#[derive(Debug)]
pub enum Ev {
    /// Boxed: the queue moves entries around, and messages can be large.
    Deliver {
        to: u32,
        from: u32,
        msg: Box<Message>,
    },
    LinkUp {
        a: u32,
        b: u32,
    },
    LinkDown {
        to: u32,
        peer: u32,
    },
    /// An orderly close by `peer`: what it sent before arrives first.
    /// An orderly close by `peer`: what it sent before arrives first. Only
    /// the link of that generation closes (a new one may exist by then).
    Closed {
        to: u32,
        peer: u32,
        gen: u64,
    },
    Timer {
        node: u32,
    },
    /// Scenario hook (lookups, churn, failures), handled by the driver.
    Tick(u32),
}

/// One simulated node.
pub struct SimNode {
    pub id: NodeId,
    pub node: Option<Node>,
    /// Open links as (peer, generation), sorted by peer.
    pub links: Vec<(u32, u64)>,
    pub timer_at: Option<Time>,
    pub joined: bool,
    /// Counters of a node that died, kept for totals.
    pub final_msgs_sent: u64,
}

/// Something a node reported that the scenario cares about.
#[derive(Debug)]
pub struct Report {
    pub node: u32,
    pub event: Event,
}

pub struct Net {
    pub now: Time,
    pub nodes: Vec<SimNode>,
    pub index: BTreeMap<NodeId, u32>,
    queue: Queue<Ev>,
    seq: u64,
    pub rng: ChaCha8Rng,
    latency: Duration,
    loss: f64,
    seed: u64,
    /// How long until the peers of a dead node see their links drop.
    pub link_detect: Duration,
    pub reports: Vec<Report>,
    pub trace: u64,
    pub events_processed: u64,
    pub by_kind: [u64; 6],
    next_gen: u64,
}

const FNV_PRIME: u64 = 0x100_0000_01b3;

impl Net {
    pub fn new(seed: u64, latency: Duration, loss: f64, start: Time) -> Net {
        Net {
            now: start,
            nodes: Vec::new(),
            index: BTreeMap::new(),
            queue: Queue::new(start),
            seq: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
            latency,
            loss,
            seed,
            link_detect: Duration::from_secs(5),
            reports: Vec::new(),
            trace: 0xcbf2_9ce4_8422_2325,
            events_processed: 0,
            by_kind: [0; 6],
            next_gen: 0,
        }
    }

    /// Mixes a value into the trace hash (FNV-1a over 64-bit words).
    pub fn mix(&mut self, v: u64) {
        self.trace = (self.trace ^ v).wrapping_mul(FNV_PRIME);
    }

    pub fn schedule(&mut self, at: Time, ev: Ev) {
        self.seq += 1;
        self.queue.push(at, self.seq, ev);
    }

    /// Adds a node (not yet in any ring).
    pub fn add_node(&mut self, identity: Identity, config: chordphone_overlay::Config) -> u32 {
        let idx = self.nodes.len() as u32;
        let id = identity.node_id();
        let node_seed = self.seed ^ (u64::from(idx) + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let node = Node::new(identity, config, node_seed, self.now);
        self.nodes.push(SimNode {
            id,
            node: Some(node),
            links: Vec::new(),
            timer_at: None,
            joined: false,
            final_msgs_sent: 0,
        });
        self.index.insert(id, idx);
        idx
    }

    /// One-way latency between two nodes: fixed per pair, spread around the mean.
    fn latency(&self, a: u32, b: u32) -> Duration {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        let mut h = (u64::from(lo) << 32 | u64::from(hi)) ^ self.seed;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        // Uniform in [0.5, 1.5) of the mean.
        let frac = (h % 1000) as f64 / 1000.0 + 0.5;
        self.latency.mul_f64(frac)
    }

    fn link_gen(&self, a: u32, b: u32) -> Option<u64> {
        let v = &self.nodes[a as usize].links;
        v.binary_search_by_key(&b, |l| l.0).ok().map(|i| v[i].1)
    }

    fn linked(&self, a: u32, b: u32) -> bool {
        self.link_gen(a, b).is_some()
    }

    /// Opens a link (or replaces one that is closing) with a new generation.
    fn add_link(&mut self, a: u32, b: u32) {
        self.next_gen += 1;
        let gen = self.next_gen;
        for (x, y) in [(a, b), (b, a)] {
            let v = &mut self.nodes[x as usize].links;
            match v.binary_search_by_key(&y, |l| l.0) {
                Ok(pos) => v[pos].1 = gen,
                Err(pos) => v.insert(pos, (y, gen)),
            }
        }
    }

    pub fn alive(&self, i: u32) -> bool {
        self.nodes[i as usize].node.is_some()
    }

    /// Runs one node input and routes everything it produced.
    pub fn with_node(&mut self, i: u32, f: impl FnOnce(&mut Node, Time)) {
        let now = self.now;
        let Some(node) = self.nodes[i as usize].node.as_mut() else {
            return;
        };
        f(node, now);
        self.drain(i);
    }

    fn drain(&mut self, i: u32) {
        let now = self.now;
        loop {
            let Some(node) = self.nodes[i as usize].node.as_mut() else {
                return;
            };
            if let Some(t) = node.poll_transmit() {
                let Some(&to) = self.index.get(&t.to) else {
                    continue;
                };
                if !self.linked(i, to) {
                    // The core thinks a link is up that the network already
                    // closed: the message is lost, the LinkDown is on its way.
                    continue;
                }
                let mut delay = self.latency(i, to);
                while self.loss > 0.0 && (self.rng.next_u64() as f64 / u64::MAX as f64) < self.loss
                {
                    // A lost segment is resent after a retransmission timeout.
                    delay += Duration::from_millis(200).max(self.latency * 3);
                }
                self.schedule(
                    now + delay,
                    Ev::Deliver {
                        to,
                        from: i,
                        msg: Box::new(t.msg),
                    },
                );
                continue;
            }
            let Some(node) = self.nodes[i as usize].node.as_mut() else {
                return;
            };
            if let Some(e) = node.poll_event() {
                self.on_event(i, e);
                continue;
            }
            break;
        }
        let Some(node) = self.nodes[i as usize].node.as_ref() else {
            return;
        };
        if let Some(t) = node.poll_timeout() {
            let t = t.max(now);
            let sn = &mut self.nodes[i as usize];
            if sn.timer_at.is_none_or(|cur| t < cur) {
                sn.timer_at = Some(t);
                self.schedule(t, Ev::Timer { node: i });
            }
        }
    }

    fn on_event(&mut self, i: u32, e: Event) {
        match e {
            Event::Connect(peer) => {
                let Some(&to) = self.index.get(&peer) else {
                    return;
                };
                if self.linked(i, to) {
                    // Reopened while the old link is still closing: the new
                    // one replaces it.
                    self.add_link(i, to);
                    self.schedule(self.now, Ev::LinkUp { a: i, b: to });
                } else if self.alive(to) {
                    // Offer/answer and ICE: about two round trips.
                    let rtt = self.latency(i, to) * 2;
                    self.schedule(self.now + rtt * 2, Ev::LinkUp { a: i, b: to });
                }
                // A dead peer never answers: the core's connect timeout fires.
            }
            Event::Disconnect(peer) => {
                let Some(&to) = self.index.get(&peer) else {
                    return;
                };
                // The closing side is done with the link; messages it sent
                // before closing still arrive, then the other side sees it go.
                let Some(gen) = self.link_gen(i, to) else {
                    return;
                };
                let d = self.latency(i, to);
                self.schedule(self.now + d, Ev::Closed { to, peer: i, gen });
            }
            Event::Joined => {
                self.nodes[i as usize].joined = true;
                self.reports.push(Report {
                    node: i,
                    event: Event::Joined,
                });
            }
            e @ (Event::QueryDone { .. } | Event::JoinFailed(_)) => {
                self.reports.push(Report { node: i, event: e });
            }
            Event::AttachRequest { token, .. } => {
                let now = self.now;
                if let Some(n) = self.nodes[i as usize].node.as_mut() {
                    let _ = n.attach_reply(token, b"answer".to_vec(), now);
                }
            }
            Event::Left | Event::RingChanged => {}
        }
    }

    fn unlink(&mut self, a: u32, b: u32) {
        for (x, y) in [(a, b), (b, a)] {
            let v = &mut self.nodes[x as usize].links;
            if let Ok(pos) = v.binary_search_by_key(&y, |l| l.0) {
                v.remove(pos);
            }
        }
    }

    /// Creates a link at once (a bootstrap connection made outside the overlay).
    pub fn link_now(&mut self, a: u32, b: u32) {
        self.add_link(a, b);
        let (ia, ib) = (self.nodes[a as usize].id, self.nodes[b as usize].id);
        self.with_node(a, |n, now| n.handle_link(ib, LinkChange::Up, now));
        self.with_node(b, |n, now| n.handle_link(ia, LinkChange::Up, now));
    }

    /// The node dies at once, silently; its peers notice their links drop
    /// only after `link_detect`.
    pub fn kill(&mut self, i: u32) {
        let Some(node) = self.nodes[i as usize].node.take() else {
            return;
        };
        self.nodes[i as usize].final_msgs_sent = node.stats().msgs_sent;
        let peers = core::mem::take(&mut self.nodes[i as usize].links);
        for (p, _) in peers {
            let v = &mut self.nodes[p as usize].links;
            if let Ok(pos) = v.binary_search_by_key(&i, |l| l.0) {
                v.remove(pos);
            }
            self.schedule(self.now + self.link_detect, Ev::LinkDown { to: p, peer: i });
        }
    }

    /// Pops and handles the next event if it is due by `until`; returns the
    /// scenario ticks it met (the driver handles those).
    pub fn step(&mut self, until: Time) -> Option<Option<u32>> {
        let at = self.queue.peek_at()?;
        if at > until {
            return None;
        }
        let entry = self.queue.pop()?;
        self.now = entry.at.max(self.now);
        self.events_processed += 1;
        let kind = match &entry.item {
            Ev::Deliver { .. } => 0,
            Ev::LinkUp { .. } => 1,
            Ev::LinkDown { .. } => 2,
            Ev::Closed { .. } => 3,
            Ev::Timer { .. } => 4,
            Ev::Tick(_) => 5,
        };
        self.by_kind[kind] += 1;
        match entry.item {
            Ev::Deliver { to, from, msg } => {
                if !self.linked(to, from) {
                    return Some(None);
                }
                self.mix(u64::from(to) << 32 | u64::from(from));
                let from_id = self.nodes[from as usize].id;
                self.with_node(to, |n, now| n.handle_message(from_id, *msg, now));
            }
            Ev::LinkUp { a, b } => {
                if !self.alive(a) || !self.alive(b) {
                    return Some(None);
                }
                if !self.linked(a, b) {
                    self.add_link(a, b);
                    let ia = self.nodes[a as usize].id;
                    self.with_node(b, |n, now| n.handle_link(ia, LinkChange::Up, now));
                }
                let ib = self.nodes[b as usize].id;
                self.with_node(a, |n, now| n.handle_link(ib, LinkChange::Up, now));
            }
            Ev::LinkDown { to, peer } => {
                let pid = self.nodes[peer as usize].id;
                if self.linked(to, peer) {
                    // Re-linked meanwhile: this drop is stale.
                    return Some(None);
                }
                self.with_node(to, |n, now| n.handle_link(pid, LinkChange::Down, now));
            }
            Ev::Closed { to, peer, gen } => {
                if self.link_gen(to, peer) != Some(gen) {
                    return Some(None);
                }
                self.unlink(to, peer);
                let pid = self.nodes[peer as usize].id;
                self.with_node(to, |n, now| n.handle_link(pid, LinkChange::Down, now));
            }
            Ev::Timer { node } => {
                let sn = &mut self.nodes[node as usize];
                if sn.timer_at != Some(entry.at) {
                    return Some(None);
                }
                sn.timer_at = None;
                // The node's deadline may have moved later since this timer
                // was set (an acknowledgement arrived): wait for it instead
                // of waking the node for nothing.
                let due = sn.node.as_ref().and_then(Node::poll_timeout);
                match due {
                    Some(t) if t > entry.at => {
                        sn.timer_at = Some(t);
                        self.schedule(t, Ev::Timer { node });
                    }
                    _ => self.with_node(node, |n, now| n.handle_timeout(now)),
                }
            }
            Ev::Tick(k) => return Some(Some(k)),
        }
        Some(None)
    }
}
