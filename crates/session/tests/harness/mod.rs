//! A deterministic network of sessions on a virtual clock.
//!
//! The sessions are real `chordphone_session::Session`s with real overlay
//! nodes; only the transports are played here. The harness is their shell:
//! - `Open::WebSocket { url }`: the node whose `public_url` is `url` accepts
//!   one latency later and the dialler hears `opened`; no such node, or a
//!   dead one, and the dialler hears `failed`.
//! - `Open::Offer`: the local description is "offer <node> <link>";
//!   `Open::Answer`: the answerer's is "answer <node> <link>", and the pair
//!   is noted. `ApplyAnswer` of that answer opens the data channel: both
//!   ends hear `opened` one latency later.
//! - `Send`: the frame arrives at the other end one latency later, in order.
//! - `Close`: the other end hears `closed` after the frames sent before.
//!
//! Nothing depends on wall time or hash order, so a test always plays the
//! same way.

#![allow(dead_code, clippy::unwrap_used)]

use chordphone_overlay::{Identity, NodeId, Phase, Time};
use chordphone_session::{Config, Event, LinkId, Open, Output, Session};
use core::time::Duration;
use std::collections::BTreeMap;

/// Where the virtual clock starts (a realistic epoch time).
pub const START: Time = Time(1_700_000_000_000_000);
/// One-way delay of every frame and transport step.
pub const LATENCY: Duration = Duration::from_millis(10);

/// One end of a transport: (node index, link id).
type End = (usize, LinkId);

#[derive(Debug)]
enum Action {
    Accept { from: End, to: usize },
    Opened(End),
    Failed(End),
    Described(End, String),
    Frame(End, Vec<u8>),
    Closed(End),
}

impl Action {
    /// The node that handles it.
    fn node(&self) -> usize {
        match self {
            Action::Accept { to, .. } => *to,
            Action::Opened((n, _))
            | Action::Failed((n, _))
            | Action::Described((n, _), _)
            | Action::Frame((n, _), _)
            | Action::Closed((n, _)) => *n,
        }
    }
}

/// One participant.
#[derive(Debug)]
pub struct Host {
    pub session: Session,
    pub alive: bool,
    /// Busy until then (a tab whose event loop is blocked): what arrives
    /// waits, and its timers do not run.
    pub busy_until: Time,
    /// Everything the session reported.
    pub events: Vec<Event>,
}

/// The network.
#[derive(Debug)]
pub struct Net {
    pub now: Time,
    pub hosts: Vec<Host>,
    /// Open transports: each end names the other.
    pipes: BTreeMap<End, End>,
    /// Answers gathered and not yet applied: answerer end -> offerer end.
    answers: BTreeMap<End, End>,
    /// Pairs of nodes between which ICE finds no path.
    blocked: Vec<(usize, usize)>,
    queue: BTreeMap<(Time, u64), Action>,
    seq: u64,
}

impl Net {
    pub fn new() -> Net {
        Net {
            now: START,
            hosts: Vec::new(),
            pipes: BTreeMap::new(),
            answers: BTreeMap::new(),
            blocked: Vec::new(),
            queue: BTreeMap::new(),
            seq: 0,
        }
    }

    /// Adds a node with identity seed `[n + 1; 32]`; returns its index.
    pub fn add(&mut self, config: Config) -> usize {
        let i = self.hosts.len();
        let byte = u8::try_from(i + 1).unwrap();
        let session = Session::new(
            Identity::from_seed([byte; 32]),
            config,
            [byte; 32],
            self.now,
        );
        self.hosts.push(Host {
            session,
            alive: true,
            busy_until: START,
            events: Vec::new(),
        });
        i
    }

    /// A server at `ws://server<i>` that starts a ring of its own.
    pub fn add_server(&mut self) -> usize {
        let i = self.add_lone_server();
        self.call(i, |s, now| s.node_mut().create(now));
        i
    }

    /// A server at `ws://server<i>` that has not created or joined a ring.
    pub fn add_lone_server(&mut self) -> usize {
        let url = format!("ws://server{}", self.hosts.len());
        self.add(Config::server(url))
    }

    /// A browser tab that joins through `server`.
    pub fn add_browser(&mut self, server: usize) -> usize {
        self.add_browser_with(server, Config::browser())
    }

    pub fn add_browser_with(&mut self, server: usize, config: Config) -> usize {
        let url = self.hosts[server]
            .session
            .config()
            .public_url
            .clone()
            .unwrap();
        let i = self.add(config);
        self.hosts[i].session.set_bootstrap(vec![url]);
        self.call(i, |s, now| s.join(now));
        i
    }

    pub fn id(&self, i: usize) -> NodeId {
        self.hosts[i].session.id()
    }

    pub fn session(&self, i: usize) -> &Session {
        &self.hosts[i].session
    }

    /// Runs `f` on node `i`'s session at the current time, then carries out
    /// its outputs.
    pub fn call<R>(&mut self, i: usize, f: impl FnOnce(&mut Session, Time) -> R) -> R {
        let now = self.now;
        let r = f(&mut self.hosts[i].session, now);
        self.drain(i);
        r
    }

    /// Node `i` goes silent: its transports stay open but carry nothing.
    pub fn kill(&mut self, i: usize) {
        self.hosts[i].alive = false;
    }

    /// Node `i` is busy for `d` (a tab starting up or blocked): it neither
    /// runs timers nor handles what arrives, which waits for it in order.
    pub fn stall(&mut self, i: usize, d: Duration) {
        self.hosts[i].busy_until = self.now + d;
    }

    /// True once every live node has joined.
    pub fn all_joined(&self) -> bool {
        self.hosts
            .iter()
            .filter(|h| h.alive)
            .all(|h| h.session.node().phase() == Phase::Joined)
    }

    /// Runs until `done` or `max` virtual time passed; true if done.
    pub fn run_until(&mut self, mut done: impl FnMut(&Net) -> bool, max: Duration) -> bool {
        let end = self.now + max;
        while !done(self) {
            let Some(t) = self.next_wake() else {
                return false;
            };
            if t > end {
                self.now = end;
                return done(self);
            }
            self.step(t);
        }
        true
    }

    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.run_until(|n| n.now >= end, d);
    }

    fn next_wake(&self) -> Option<Time> {
        let queued = self.queue.keys().next().map(|(t, _)| *t);
        let timers = self
            .hosts
            .iter()
            .filter(|h| h.alive)
            .filter_map(|h| h.session.poll_timeout().map(|t| t.max(h.busy_until)))
            .min();
        [queued, timers].into_iter().flatten().min()
    }

    fn step(&mut self, t: Time) {
        self.now = self.now.max(t);
        if let Some(key) = self.queue.keys().next().copied().filter(|(at, _)| *at <= t) {
            let action = self.queue.remove(&key).unwrap();
            let busy_until = self.hosts[action.node()].busy_until;
            if busy_until > self.now {
                // Handled once the node is free again; the sequence number
                // keeps it behind what was sent before it.
                self.queue.insert((busy_until, key.1), action);
            } else {
                self.act(action);
            }
            return;
        }
        for i in 0..self.hosts.len() {
            let h = &mut self.hosts[i];
            if h.alive
                && h.busy_until <= self.now
                && h.session.poll_timeout().is_some_and(|d| d <= self.now)
            {
                h.session.handle_timeout(self.now);
                self.drain(i);
            }
        }
    }

    fn schedule(&mut self, action: Action) {
        self.seq += 1;
        self.queue.insert((self.now + LATENCY, self.seq), action);
    }

    fn act(&mut self, action: Action) {
        let now = self.now;
        let node = action.node();
        if !self.hosts[node].alive {
            return;
        }

        let s = &mut self.hosts[node].session;
        match action {
            Action::Accept { from, to } => {
                let link = s.accept(now);
                self.pipes.insert(from, (to, link));
                self.pipes.insert((to, link), from);
                self.schedule(Action::Opened(from));
            }
            Action::Opened((_, l)) => s.handle_opened(l, now),
            Action::Failed((_, l)) => s.handle_failed(l, "unreachable", now),
            Action::Described((_, l), sdp) => s.handle_description(l, sdp, now),
            Action::Frame((_, l), bytes) => s.handle_frame(l, &bytes, now),
            Action::Closed((_, l)) => s.handle_closed(l, "closed by the peer", now),
        }
        self.drain(node);
    }

    /// Carries out node `i`'s outputs.
    fn drain(&mut self, i: usize) {
        while let Some(out) = self.hosts[i].session.poll_output() {
            match out {
                Output::Open { link, how } => self.open((i, link), how),
                Output::ApplyAnswer { link, sdp } => {
                    let answerer = parse_end(&sdp, "answer");
                    if answerer.is_some_and(|a| self.answers.get(&a) == Some(&(i, link))) {
                        let a = answerer.unwrap();
                        self.answers.remove(&a);
                        if self.blocked.contains(&(i.min(a.0), i.max(a.0))) {
                            // ICE fails silently: the channel never opens.
                            continue;
                        }
                        self.pipes.insert((i, link), a);
                        self.pipes.insert(a, (i, link));
                        self.schedule(Action::Opened((i, link)));
                        self.schedule(Action::Opened(a));
                    }
                }
                Output::Send { link, frame } => {
                    if let Some(&to) = self.pipes.get(&(i, link)) {
                        self.schedule(Action::Frame(to, frame));
                    }
                }
                Output::Close { link, .. } => {
                    if let Some(to) = self.pipes.remove(&(i, link)) {
                        self.pipes.remove(&to);
                        self.schedule(Action::Closed(to));
                    }
                }
                Output::Event(e) => self.hosts[i].events.push(e),
            }
        }
    }

    fn open(&mut self, end: End, how: Open) {
        match how {
            Open::WebSocket { url } => {
                let target = self.hosts.iter().position(|h| {
                    h.alive && h.session.config().public_url.as_deref() == Some(url.as_str())
                });
                match target {
                    Some(to) => self.schedule(Action::Accept { from: end, to }),
                    None => self.schedule(Action::Failed(end)),
                }
            }
            Open::Offer => {
                let sdp = format!("offer {} {}", end.0, end.1 .0);
                self.schedule(Action::Described(end, sdp));
            }
            Open::Answer { sdp } => {
                if let Some(offerer) = parse_end(&sdp, "offer") {
                    self.answers.insert(end, offerer);
                }
                let sdp = format!("answer {} {}", end.0, end.1 .0);
                self.schedule(Action::Described(end, sdp));
            }
        }
    }

    /// From now on, WebRTC between `a` and `b` never connects (a NAT or
    /// firewall between them).
    pub fn block(&mut self, a: usize, b: usize) {
        self.blocked.push((a.min(b), a.max(b)));
    }

    /// Transports of node `i` the harness holds open.
    pub fn open_transports(&self, i: usize) -> usize {
        self.pipes.keys().filter(|(n, _)| *n == i).count()
    }

    /// Cuts node `i`'s end of its transport to `peer` without a word to
    /// the other end, as a tab that lost a peer connection's state does:
    /// `i` hears the close, the other end keeps its half open.
    pub fn cut_one_side(&mut self, i: usize, peer: NodeId) {
        let ends: Vec<End> = self
            .pipes
            .keys()
            .filter(|(n, _)| *n == i)
            .copied()
            .collect();
        for end in ends {
            let up_to_peer = self.hosts[i]
                .session
                .peers()
                .iter()
                .any(|(p, _)| p.id == peer);
            if !up_to_peer {
                continue;
            }
            let other = self.pipes[&end];
            if self.hosts[other.0].session.id() != peer {
                continue;
            }
            self.pipes.remove(&end);
            // The far end's frames now go nowhere.
            self.pipes.remove(&other);
            let now = self.now;
            self.hosts[i].session.handle_closed(end.1, "lost", now);
            self.drain(i);
        }
    }
}

fn parse_end(sdp: &str, kind: &str) -> Option<End> {
    let mut words = sdp.split(' ');
    if words.next()? != kind {
        return None;
    }
    let node = words.next()?.parse().ok()?;
    let link = words.next()?.parse().ok()?;
    Some((node, LinkId(link)))
}
