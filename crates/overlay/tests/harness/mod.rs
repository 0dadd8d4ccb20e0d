//! A small deterministic network for overlay nodes, on a virtual clock.
//!
//! In the spirit of quinn-proto's test `Pair`: the nodes are real
//! `chordphone_overlay::Node`s, the "network" is a queue of actions ordered by
//! (virtual time, sequence number), and the clock only moves when the harness
//! jumps to the next queued action or node timeout. Nothing depends on wall
//! time or on hash order, so the same test always produces the same trace.
//!
//! The shell contract the harness plays:
//! - `Event::Connect(peer)`: after one round trip the link is up on both sides
//!   (if the peer exists, is alive and has not left); otherwise the requester
//!   hears `LinkChange::Down` after [`DOWN_DELAY`].
//! - `Event::Disconnect(peer)`: the closing side stops listening at once; what
//!   it sent before still arrives (an ordered channel), then the other side
//!   hears `Down` one latency later.
//! - Messages travel one [`LATENCY`] and arrive only over the link (and link
//!   generation) they were sent on, through the real codec.
//! - A killed node goes silent; its peers hear `Down` after [`DOWN_DELAY`].
//! - With [`Net::signalled`] set, links are negotiated as browsers do: a
//!   `Connect` becomes an attach routed through the ring, and the link opens
//!   when its answer arrives; a failed attach is a failed connect.
//! - With [`Net::tamper`] set, every message is handed to it before it is
//!   encoded and sent: a test plays a hop that changes what it forwards.

use chordphone_overlay::{
    Answer, Config, Event, Id, Identity, LinkChange, Message, Node, NodeId, Phase, QueryError,
    QueryId, Time,
};
use core::time::Duration;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Where the virtual clock starts: a realistic epoch time, so that record
/// expiry arithmetic is exercised with real magnitudes.
pub const START: Time = Time(1_700_000_000_000_000);
/// One-way delay of every message and link notification.
pub const LATENCY: Duration = Duration::from_millis(10);
/// How long a shell takes to notice a dead peer or a failed connect.
pub const DOWN_DELAY: Duration = Duration::from_secs(2);
/// What a signalled connect sends, and what its answer carries.
const LINK_OFFER: &[u8] = b"link offer";
const LINK_ANSWER: &[u8] = b"link answer";
/// Inputs handled without the clock moving before we call it a livelock
/// (e.g. a node whose `poll_timeout` stays in the past forever).
const MAX_STEPS_PER_INSTANT: u32 = 100_000;

/// One simulated participant.
#[derive(Debug)]
pub struct Peer {
    pub node: Node,
    /// False once killed: receives nothing, its timers no longer run.
    pub alive: bool,
}

/// A link between two nodes as the network sees it. A new generation replaces
/// an old link, so that stale messages and notifications of the old one are
/// recognisably stale.
#[derive(Debug)]
struct LinkState {
    gen: u64,
    /// Which side (lower index first) has closed it and stopped listening.
    closed: [bool; 2],
}

#[derive(Debug)]
enum Action {
    /// A frame arrives at `to`, if link generation `gen` still carries it.
    Deliver {
        from: usize,
        to: usize,
        gen: u64,
        bytes: Vec<u8>,
    },
    /// A connect attempt by `from` finishes (one round trip after the request).
    ConnectDone {
        from: usize,
        to: NodeId,
        attempt: u64,
    },
    /// `to` learns that its link to `peer` is down: a link of generation
    /// `Some(gen)` closed or died, or (`None`) a connect attempt failed.
    LinkDown {
        to: usize,
        peer: NodeId,
        gen: Option<u64>,
    },
}

/// Changes messages in flight: called with (sender index, receiver index,
/// message) for every message before it is encoded.
pub struct Tamper(pub Box<TamperFn>);

/// What a [`Tamper`] calls.
pub type TamperFn = dyn FnMut(usize, usize, &mut Message);

impl std::fmt::Debug for Tamper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tamper(..)")
    }
}

/// The network, its nodes and everything they reported.
#[derive(Debug)]
pub struct Net {
    pub now: Time,
    pub peers: Vec<Peer>,
    /// Every event of every node: (when, node index, event).
    pub trace: Vec<(Time, usize, Event)>,
    /// Frames sent to a node that had closed or lost the link meanwhile.
    pub lost_frames: u64,
    /// Checked after every step (e.g. a bound every node must respect).
    pub invariant: Option<fn(&Net)>,
    /// Links are negotiated through the ring (attach) instead of dialled.
    pub signalled: bool,
    /// Links opened by a successful attach.
    pub signalled_links: u64,
    /// Sees (and may change) every message before it is sent.
    pub tamper: Option<Tamper>,
    /// Attach queries that negotiate a link: (requester, query) -> peer.
    negotiating: BTreeMap<(usize, QueryId), NodeId>,
    index: BTreeMap<NodeId, usize>,
    links: BTreeMap<(usize, usize), LinkState>,
    /// Open connect attempts: (requester, target) -> attempt number.
    attempts: BTreeMap<(usize, NodeId), u64>,
    queue: BTreeMap<(Time, u64), Action>,
    seq: u64,
    instant_steps: u32,
}

/// The ordered pair key of a link and which side of it `a` is.
fn pair(a: usize, b: usize) -> ((usize, usize), usize) {
    if a < b {
        ((a, b), 0)
    } else {
        ((b, a), 1)
    }
}

impl Net {
    /// `n` idle nodes with identities from seeds `[1; 32]`, `[2; 32]`, ...
    pub fn new(n: usize, config: &Config) -> Net {
        let mut net = Net {
            now: START,
            peers: Vec::new(),
            trace: Vec::new(),
            lost_frames: 0,
            invariant: None,
            signalled: false,
            signalled_links: 0,
            tamper: None,
            negotiating: BTreeMap::new(),
            index: BTreeMap::new(),
            links: BTreeMap::new(),
            attempts: BTreeMap::new(),
            queue: BTreeMap::new(),
            seq: 0,
            instant_steps: 0,
        };
        for i in 0..n {
            let byte = u8::try_from(i + 1).expect("fewer than 255 nodes");
            let node = Node::new(
                Identity::from_seed([byte; 32]),
                config.clone(),
                i as u64 + 1,
                START,
            );
            net.index.insert(node.id(), i);
            net.peers.push(Peer { node, alive: true });
        }
        net
    }

    /// `n` nodes in one ring: node 0 creates it, the others join through it
    /// one after another, then the ring is given time to converge.
    pub fn ring(n: usize, config: &Config) -> Net {
        let mut net = Net::new(n, config);
        net.form_ring();
        net
    }

    /// Forms the ring of [`Net::ring`] out of idle nodes.
    pub fn form_ring(&mut self) {
        self.form_ring_of(self.peers.len());
    }

    /// Forms a ring of the first `n` nodes; the others stay idle.
    pub fn form_ring_of(&mut self, n: usize) {
        self.join_first(n);
        let ok = self.run_until(Net::ring_ok, Duration::from_secs(120));
        assert!(ok, "ring of {n} did not converge\n{}", self.report());
        // Successor lists fill in over a few more stabilization rounds; tests
        // of record placement need them complete.
        let ok = self.run_until(Net::lists_ok, Duration::from_secs(60));
        assert!(
            ok,
            "successor lists of {n} did not converge\n{}",
            self.report()
        );
    }

    /// Node 0 creates a ring; every other node links to it and joins through
    /// it as soon as the previous one is in.
    pub fn join_all(&mut self) {
        self.join_first(self.peers.len());
    }

    /// Like [`Net::join_all`], for the first `n` nodes only.
    pub fn join_first(&mut self, n: usize) {
        self.call(0, |node, now| node.create(now));
        let bootstrap = self.id(0);
        for i in 1..n {
            self.link(i, 0);
            self.call(i, |node, now| node.join(bootstrap, now));
            let joined = self.run_until(
                |n| n.peers[i].node.phase() == Phase::Joined,
                Duration::from_secs(10),
            );
            assert!(joined, "node {i} did not join\n{}", self.report());
        }
    }

    pub fn id(&self, i: usize) -> NodeId {
        self.peers[i].node.id()
    }

    pub fn node(&self, i: usize) -> &Node {
        &self.peers[i].node
    }

    pub fn index_of(&self, id: &NodeId) -> Option<usize> {
        self.index.get(id).copied()
    }

    // ---- driving nodes ----------------------------------------------------

    /// Calls into node `i` at the current time, then handles whatever it
    /// asked for (as a shell must after every input).
    pub fn call<R>(&mut self, i: usize, f: impl FnOnce(&mut Node, Time) -> R) -> R {
        let now = self.now;
        let r = f(&mut self.peers[i].node, now);
        self.drain(i);
        r
    }

    /// Opens a link between `a` and `b` at once, as a shell does with its
    /// bootstrap node before joining.
    pub fn link(&mut self, a: usize, b: usize) {
        self.open_link(a, b);
    }

    /// Node `i` crashes: it hears nothing more, and its peers notice after
    /// [`DOWN_DELAY`].
    pub fn kill(&mut self, i: usize) {
        self.peers[i].alive = false;
        let id = self.id(i);
        let mine: Vec<((usize, usize), u64)> = self
            .links
            .iter()
            .filter(|((a, b), _)| *a == i || *b == i)
            .map(|(k, l)| (*k, l.gen))
            .collect();
        for ((a, b), gen) in mine {
            let other = if a == i { b } else { a };
            self.schedule(
                DOWN_DELAY,
                Action::LinkDown {
                    to: other,
                    peer: id,
                    gen: Some(gen),
                },
            );
        }
    }

    /// Node `i` leaves gracefully.
    pub fn leave(&mut self, i: usize) {
        self.call(i, |node, now| node.leave(now));
    }

    /// Starts a request on node `i` and runs until its answer (at most 30
    /// virtual seconds: more than the route timeout).
    pub fn query(
        &mut self,
        i: usize,
        start: impl FnOnce(&mut Node, Time) -> QueryId,
    ) -> Result<Answer, QueryError> {
        let q = self.call(i, start);
        let done = self.run_until(|n| n.outcome(i, q).is_some(), Duration::from_secs(30));
        assert!(
            done,
            "query {q} of node {i} got no answer\n{}",
            self.report()
        );
        self.outcome(i, q).expect("checked above")
    }

    /// The answer of request `q` of node `i`, if it has come.
    pub fn outcome(&self, i: usize, q: QueryId) -> Option<Result<Answer, QueryError>> {
        self.events(i).find_map(|e| match e {
            Event::QueryDone { id, outcome, .. } if *id == q => Some(outcome.clone()),
            _ => None,
        })
    }

    /// Everything node `i` reported so far.
    pub fn events(&self, i: usize) -> impl Iterator<Item = &Event> {
        self.trace
            .iter()
            .filter(move |(_, n, _)| *n == i)
            .map(|(_, _, e)| e)
    }

    // ---- the clock ------------------------------------------------------------

    /// Runs until `done` holds (checked before every step) or `max` virtual
    /// time has passed. Returns whether `done` held.
    pub fn run_until(&mut self, mut done: impl FnMut(&Net) -> bool, max: Duration) -> bool {
        let deadline = self.now + max;
        loop {
            if done(self) {
                return true;
            }
            match self.next_wake() {
                Some(t) if t <= deadline => self.step(t),
                _ => {
                    self.now = deadline;
                    return done(self);
                }
            }
        }
    }

    /// Lets `d` of virtual time pass.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(|_| false, d);
    }

    /// The next instant something happens: a queued action or a node timer
    /// (a timer in the past means "now").
    fn next_wake(&self) -> Option<Time> {
        let net = self.queue.keys().next().map(|(t, _)| *t);
        let timers = self
            .peers
            .iter()
            .filter(|p| p.alive)
            .filter_map(|p| p.node.poll_timeout())
            .map(|t| t.max(self.now));
        net.into_iter().chain(timers).min()
    }

    /// Handles one thing due at `t`: network actions first, then the timer of
    /// the lowest-numbered node, so that ties resolve the same way every run.
    fn step(&mut self, t: Time) {
        if t == self.now {
            self.instant_steps += 1;
            assert!(
                self.instant_steps < MAX_STEPS_PER_INSTANT,
                "livelock: {MAX_STEPS_PER_INSTANT} steps without the clock moving at {t:?}\n{}",
                self.report()
            );
        } else {
            self.instant_steps = 0;
        }
        self.now = t;
        let action = match self.queue.first_entry() {
            Some(entry) if entry.key().0 <= t => Some(entry.remove()),
            _ => None,
        };
        if let Some(action) = action {
            self.act(action);
        } else {
            self.fire_timer(t);
        }
        if let Some(check) = self.invariant {
            check(self);
        }
    }

    /// Calls `handle_timeout` on the first node whose timer is due at `t`.
    fn fire_timer(&mut self, t: Time) {
        let due = (0..self.peers.len()).find(|&i| {
            let p = &self.peers[i];
            p.alive && p.node.poll_timeout().is_some_and(|w| w <= t)
        });
        if let Some(i) = due {
            self.call(i, |node, now| node.handle_timeout(now));
        }
    }

    fn schedule(&mut self, after: Duration, action: Action) {
        self.seq += 1;
        self.queue.insert((self.now + after, self.seq), action);
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::Deliver {
                from,
                to,
                gen,
                bytes,
            } => {
                let (key, side) = pair(to, from);
                let open = self
                    .links
                    .get(&key)
                    .is_some_and(|l| l.gen == gen && !l.closed[side]);
                if !open || !self.peers[to].alive {
                    self.lost_frames += 1;
                    return;
                }
                let from_id = self.id(from);
                self.call(to, |node, now| node.handle_bytes(from_id, &bytes, now))
                    .expect("frames a node built decode");
            }
            Action::ConnectDone { from, to, attempt } => {
                if self.attempts.get(&(from, to)) != Some(&attempt) || !self.peers[from].alive {
                    return; // given up meanwhile, or the requester died
                }
                self.attempts.remove(&(from, to));
                match self.index_of(&to) {
                    Some(j) if self.peers[j].alive && self.peers[j].node.phase() != Phase::Left => {
                        let (key, _) = pair(from, j);
                        let both_open = self
                            .links
                            .get(&key)
                            .is_some_and(|l| l.closed == [false, false]);
                        // Already opened by the other side meanwhile: both know.
                        if !both_open {
                            self.open_link(from, j);
                        }
                    }
                    _ => self.schedule(
                        DOWN_DELAY,
                        Action::LinkDown {
                            to: from,
                            peer: to,
                            gen: None,
                        },
                    ),
                }
            }
            Action::LinkDown { to, peer, gen } => {
                let Some(j) = self.index_of(&peer) else {
                    self.call(to, |node, now| {
                        node.handle_link(peer, LinkChange::Down, now)
                    });
                    return;
                };
                let (key, _) = pair(to, j);
                match (gen, self.links.get(&key)) {
                    // The link this notice is about is still the current one.
                    (Some(g), Some(l)) if l.gen == g => {
                        self.links.remove(&key);
                    }
                    // A failed connect, and no link was made some other way.
                    (None, None) => {}
                    _ => return,
                }
                if self.peers[to].alive {
                    self.call(to, |node, now| {
                        node.handle_link(peer, LinkChange::Down, now)
                    });
                }
            }
        }
    }

    fn open_link(&mut self, a: usize, b: usize) {
        self.seq += 1;
        let (key, _) = pair(a, b);
        self.links.insert(
            key,
            LinkState {
                gen: self.seq,
                closed: [false, false],
            },
        );
        let (ida, idb) = (self.id(a), self.id(b));
        self.call(a, |node, now| node.handle_link(idb, LinkChange::Up, now));
        self.call(b, |node, now| node.handle_link(ida, LinkChange::Up, now));
    }

    /// Handles everything node `i` wants done after an input.
    fn drain(&mut self, i: usize) {
        loop {
            if let Some(t) = self.peers[i].node.poll_transmit() {
                self.send(i, t.to, &t.msg);
            } else if let Some(e) = self.peers[i].node.poll_event() {
                self.on_event(i, e);
            } else {
                break;
            }
        }
    }

    fn send(&mut self, from: usize, to: NodeId, msg: &Message) {
        let Some(j) = self.index_of(&to) else {
            self.lost_frames += 1;
            return;
        };
        let bytes = match &mut self.tamper {
            Some(Tamper(f)) => {
                let mut msg = msg.clone();
                f(from, j, &mut msg);
                msg.encode()
            }
            None => msg.encode(),
        }
        .expect("nodes never build oversized frames");
        let (key, side) = pair(from, j);
        match self.links.get(&key) {
            Some(l) if !l.closed[side] => {
                let gen = l.gen;
                self.schedule(
                    LATENCY,
                    Action::Deliver {
                        from,
                        to: j,
                        gen,
                        bytes,
                    },
                );
            }
            // The node sent on a link the network no longer has (the Down
            // notice is on its way): lost, as on a real network.
            _ => self.lost_frames += 1,
        }
    }

    fn on_event(&mut self, i: usize, e: Event) {
        match &e {
            Event::Connect(peer) if self.signalled => {
                let peer = *peer;
                let q = self.call(i, |node, now| node.attach(peer, LINK_OFFER.to_vec(), now));
                match q {
                    Ok(q) => {
                        self.negotiating.insert((i, q), peer);
                        // The attach may have failed at once (reported
                        // during the call above, before we knew its id).
                        self.settle_negotiation(i, q);
                    }
                    Err(_) => self.schedule(
                        DOWN_DELAY,
                        Action::LinkDown {
                            to: i,
                            peer,
                            gen: None,
                        },
                    ),
                }
            }
            Event::AttachRequest { token, data, .. } if self.signalled && data == LINK_OFFER => {
                let token = *token;
                self.call(i, |node, now| {
                    node.attach_reply(token, LINK_ANSWER.to_vec(), now)
                })
                .expect("the token was just handed out");
            }
            Event::QueryDone { id, .. } if self.negotiating.contains_key(&(i, *id)) => {
                let id = *id;
                self.trace.push((self.now, i, e));
                self.settle_negotiation(i, id);
                return;
            }
            Event::Connect(peer) => {
                self.seq += 1;
                self.attempts.insert((i, *peer), self.seq);
                let attempt = self.seq;
                self.schedule(
                    LATENCY * 2,
                    Action::ConnectDone {
                        from: i,
                        to: *peer,
                        attempt,
                    },
                );
            }
            Event::Disconnect(peer) => {
                // A pending attempt is abandoned; an open link closes on our
                // side now and on theirs one latency later.
                self.attempts.remove(&(i, *peer));
                if let Some(j) = self.index_of(peer) {
                    let (key, side) = pair(i, j);
                    let me = self.id(i);
                    if let Some(l) = self.links.get_mut(&key) {
                        if !l.closed[side] {
                            l.closed[side] = true;
                            let gen = l.gen;
                            self.schedule(
                                LATENCY,
                                Action::LinkDown {
                                    to: j,
                                    peer: me,
                                    gen: Some(gen),
                                },
                            );
                        }
                    }
                }
            }
            _ => {}
        }
        self.trace.push((self.now, i, e));
    }

    /// Opens the link a finished attach negotiated, or reports the connect
    /// failed. Does nothing while the attach is still under way.
    fn settle_negotiation(&mut self, i: usize, q: QueryId) {
        let Some(outcome) = self.outcome(i, q) else {
            return;
        };
        let Some(peer) = self.negotiating.remove(&(i, q)) else {
            return;
        };
        let j = self.index_of(&peer);
        match (outcome, j) {
            (Ok(Answer::Attached(data)), Some(j)) if data == LINK_ANSWER && self.peers[j].alive => {
                let (key, _) = pair(i, j);
                let open = self
                    .links
                    .get(&key)
                    .is_some_and(|l| l.closed == [false, false]);
                if !open {
                    self.signalled_links += 1;
                    self.open_link(i, j);
                }
            }
            _ => self.schedule(
                DOWN_DELAY,
                Action::LinkDown {
                    to: i,
                    peer,
                    gen: None,
                },
            ),
        }
    }

    // ---- the truth, to check the nodes against --------------------------------

    /// Nodes alive and in the ring.
    pub fn live(&self) -> Vec<usize> {
        (0..self.peers.len())
            .filter(|&i| self.peers[i].alive && self.peers[i].node.phase() == Phase::Joined)
            .collect()
    }

    /// Ids of the live nodes in ring order.
    pub fn sorted_live_ids(&self) -> Vec<NodeId> {
        let mut ids: Vec<NodeId> = self.live().into_iter().map(|i| self.id(i)).collect();
        ids.sort();
        ids
    }

    /// The true owner of `key`: the first live id at or after it, wrapping.
    pub fn owner_of(&self, key: &Id) -> NodeId {
        let ids = self.sorted_live_ids();
        *ids.iter()
            .find(|id| *id >= key)
            .or(ids.first())
            .expect("a live node")
    }

    /// The live node `k` places after `id` in ring order.
    pub fn true_successor(&self, id: &NodeId, k: usize) -> NodeId {
        let ids = self.sorted_live_ids();
        let pos = ids.iter().position(|x| x == id).expect("id is live");
        ids[(pos + k) % ids.len()]
    }

    /// Every live node has the right successor and predecessor.
    pub fn ring_ok(&self) -> bool {
        let live = self.live();
        live.len() >= 2
            && live.iter().all(|&i| {
                let s = self.node(i).status();
                let id = self.id(i);
                s.successors.first() == Some(&self.true_successor(&id, 1))
                    && s.predecessor == Some(self.true_successor(&id, live.len() - 1))
            })
    }

    /// Every live node's successor list holds exactly the next live nodes
    /// (as many as the list has room for) and no node that is gone.
    pub fn lists_ok(&self) -> bool {
        let live = self.live();
        self.ring_ok()
            && live.iter().all(|&i| {
                let node = self.node(i);
                let id = self.id(i);
                let len = node.config().successors.min(live.len() - 1);
                let want: Vec<NodeId> = (1..=len).map(|k| self.true_successor(&id, k)).collect();
                node.status().successors == want
            })
    }

    /// The ring as each node sees it, in ring order, for failure messages.
    pub fn report(&self) -> String {
        let mut order: Vec<usize> = (0..self.peers.len()).collect();
        order.sort_by_key(|&i| self.id(i));
        let name = |id: &NodeId| match self.index_of(id) {
            Some(j) => format!("n{j}"),
            None => format!("{id:?}"),
        };
        let names = |ids: &[NodeId]| ids.iter().map(name).collect::<Vec<_>>().join(",");
        let mut out = format!("at +{:?}:\n", self.now.saturating_since(START));
        for i in order {
            let s = self.node(i).status();
            let _ = writeln!(
                out,
                "  n{i} {:?} alive={} {:?} pred={} succ=[{}] fingers=[{}] links=[{}] records={} {:?}",
                s.id,
                self.peers[i].alive,
                s.phase,
                s.predecessor.as_ref().map_or("-".into(), name),
                names(&s.successors),
                names(&s.fingers),
                names(&s.links),
                s.records,
                self.node(i).stats(),
            );
        }
        out
    }
}
