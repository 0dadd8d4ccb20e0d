//! The simulated network: nodes spread over shards, links, latency, loss,
//! and time advancing window by window.
//!
//! Links behave like the ones chordphone really uses (WebRTC data channels,
//! WebSockets): reliable and ordered while they exist. Loss therefore shows
//! up as delay (a retransmission after a timeout), not as a missing message;
//! a message in flight on a link that closes, or to a node that died, is lost.
//!
//! Time advances in windows no longer than the shortest one-way latency
//! (the lookahead). Shards play a window in parallel; between windows the
//! scenario reads reports and acts (kills, joins, queries), and what shards
//! sent each other is handed over. Results do not depend on the number of
//! shards or threads.

use crate::queue::Entry;
use crate::shard::{fnv, order_key, Ev, Report, Shard, Shared, SimNode, FNV_OFFSET};
use chordphone_overlay::{Config, Id, Identity, LinkChange, Node, NodeId, Time};
use core::time::Duration;
use std::collections::BTreeMap;

/// The ordering key creator of events the scenario makes between windows.
const DRIVER: u32 = u32::MAX;

/// A window is played on several threads only if the one before it had at
/// least this many events: below that, starting threads costs more than it
/// saves (a small ring has a few dozen events per window).
const PARALLEL_MIN_EVENTS: u64 = 2000;

#[derive(Debug)]
pub struct Net {
    pub now: Time,
    shards: Vec<Shard>,
    shared: Shared,
    created: u32,
    /// What the scenario mixed in (answers it saw).
    driver_trace: u64,
    /// Events played in the last window.
    last_window: u64,
}

impl Net {
    /// A network played on up to `threads` threads, one shard each (the
    /// largest power of two not above it).
    pub fn new(seed: u64, latency: Duration, loss: f64, start: Time, threads: usize) -> Net {
        // Without latency there is no lookahead: nodes could act on each
        // other within any window, so one shard plays everything.
        let shard_bits = if latency < Duration::from_micros(2) {
            0
        } else {
            threads.clamp(1, 64).ilog2()
        };
        let shards = 1usize << shard_bits;
        let link_detect = Duration::from_secs(5);
        Net {
            now: start,
            shards: (0..shards)
                .map(|_| Shard::new(shards, start, link_detect))
                .collect(),
            shared: Shared {
                ids: Vec::new(),
                alive: Vec::new(),
                index: BTreeMap::new(),
                latency,
                loss,
                seed,
                shard_bits,
            },
            created: 0,
            driver_trace: FNV_OFFSET,
            last_window: 0,
        }
    }

    /// The longest window: no event crosses between nodes faster.
    pub fn lookahead(&self) -> Duration {
        self.shared.lookahead().max(Duration::from_millis(1))
    }

    /// Mixes a value into the trace hash.
    pub fn mix(&mut self, v: u64) {
        self.driver_trace = fnv(self.driver_trace, v);
    }

    /// The hash of everything every node received and every answer the
    /// scenario saw.
    pub fn trace(&self) -> u64 {
        let nodes = (0..self.len()).fold(self.driver_trace, |h, i| fnv(h, self.node(i).trace));
        fnv(nodes, self.events_processed())
    }

    pub fn events_processed(&self) -> u64 {
        self.shards.iter().map(|s| s.events_processed).sum()
    }

    pub fn by_kind(&self) -> [u64; 6] {
        let mut k = [0; 6];
        for s in &self.shards {
            for (a, b) in k.iter_mut().zip(s.by_kind) {
                *a += b;
            }
        }
        k
    }

    /// Number of nodes ever added.
    pub fn len(&self) -> u32 {
        self.shared.ids.len() as u32
    }

    pub fn node(&self, i: u32) -> &SimNode {
        self.shards[self.shared.shard_of(i)].node(&self.shared, i)
    }

    fn node_mut(&mut self, i: u32) -> &mut SimNode {
        self.shards[self.shared.shard_of(i)].node_mut(&self.shared, i)
    }

    /// Every node, in the order they were added.
    pub fn nodes(&self) -> impl Iterator<Item = (u32, &SimNode)> + '_ {
        (0..self.len()).map(|i| (i, self.node(i)))
    }

    pub fn index_of(&self, id: &NodeId) -> Option<u32> {
        self.shared.index.get(id).copied()
    }

    pub fn alive(&self, i: u32) -> bool {
        self.shared.alive.get(i as usize).copied().unwrap_or(false)
    }

    /// Adds a node (not yet in any ring).
    pub fn add_node(&mut self, identity: Identity, config: Config) -> u32 {
        let idx = self.len();
        let id = identity.node_id();
        let node_seed = self.shared.seed ^ (u64::from(idx) + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let node = Node::new(identity, config, node_seed, self.now);
        let shard = self.shared.shard_of(idx);
        self.shards[shard].add(SimNode::new(id, node));
        self.shared.ids.push(id);
        self.shared.alive.push(true);
        self.shared.index.insert(id, idx);
        idx
    }

    /// Marks a node as a ring member (placed from computed tables).
    pub fn set_joined(&mut self, i: u32) {
        self.node_mut(i).joined = true;
    }

    /// Runs one node input between windows and routes what it produced.
    pub fn with_node(&mut self, i: u32, f: impl FnOnce(&mut Node, Time)) {
        let shard = &mut self.shards[self.shared.shard_of(i)];
        shard.set_now(self.now);
        shard.with_node(&self.shared, i, f);
    }

    /// Creates a link at once (a bootstrap connection made outside the overlay).
    pub fn link_now(&mut self, a: u32, b: u32) {
        let gen = order_key(DRIVER, &mut self.created);
        self.node_mut(a).set_link(b, gen);
        self.node_mut(b).set_link(a, gen);
        let (ia, ib) = (self.shared.ids[a as usize], self.shared.ids[b as usize]);
        self.with_node(a, |n, now| n.handle_link(ib, LinkChange::Up, now));
        self.with_node(b, |n, now| n.handle_link(ia, LinkChange::Up, now));
    }

    /// The node dies at once, silently; its peers notice their links drop
    /// only after the link detection delay.
    pub fn kill(&mut self, i: u32) {
        if !self.alive(i) {
            return;
        }
        let shard = &mut self.shards[self.shared.shard_of(i)];
        shard.set_now(self.now);
        for p in shard.kill(&self.shared, i) {
            self.node_mut(p).unlink(i);
        }
        self.shared.alive[i as usize] = false;
    }

    /// Starts the lookup of `key` at `node` at time `at` (within the next
    /// window); the report names `slot`.
    pub fn schedule_lookup(&mut self, at: Time, node: u32, key: Id, slot: u32) {
        let seq = order_key(DRIVER, &mut self.created);
        let item = Ev::Lookup {
            node,
            key: Box::new(key),
            slot,
        };
        self.shards[self.shared.shard_of(node)].push(Entry { at, seq, item });
    }

    /// Hands over what shards sent each other.
    fn exchange(&mut self) {
        for from in 0..self.shards.len() {
            for to in 0..self.shards.len() {
                let out = core::mem::take(&mut self.shards[from].outbox[to]);
                for e in out {
                    self.shards[to].push(e);
                }
            }
        }
    }

    /// Plays every event before `end` (at most one lookahead away), then
    /// stands at `end`.
    pub fn run_window(&mut self, end: Time) {
        self.exchange();
        let shared = &self.shared;
        let before = self.events_processed();
        if self.shards.len() > 1 && self.last_window >= PARALLEL_MIN_EVENTS {
            std::thread::scope(|s| {
                let mut rest = self.shards.iter_mut();
                let first = rest.next();
                for shard in rest {
                    s.spawn(move || shard.run(shared, end));
                }
                if let Some(shard) = first {
                    shard.run(shared, end);
                }
            });
        } else {
            for shard in &mut self.shards {
                shard.run(shared, end);
            }
        }
        self.exchange();
        self.last_window = self.events_processed() - before;
        self.now = self.now.max(end);
    }

    /// What nodes reported since the last call, in an order that does not
    /// depend on the shards: by time, node, then the node's own order.
    pub fn take_reports(&mut self) -> Vec<Report> {
        let mut all: Vec<Report> = self
            .shards
            .iter_mut()
            .flat_map(|s| core::mem::take(&mut s.reports))
            .collect();
        all.sort_unstable_by_key(|r| (r.at, r.node, r.n));
        all
    }
}
