//! The scenario a `chord-sim` run plays: building the ring, failures or
//! churn, lookups and records, and the checks after it. The figures it
//! reports are computed in `figures`.

use crate::figures::{self, Measured, Outcome, Tally};
use crate::follow::Follow;
use crate::net::Net;
use crate::shard::Said;
use crate::truth::Truth;
use chordphone_overlay::{
    Answer, Config, Event, Id, Identity, Kind, NodeId, QueryId, Time, FINGERS,
};
use core::time::Duration;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};

/// What to simulate.
#[derive(Clone, Debug)]
pub struct Params {
    pub nodes: usize,
    pub seed: u64,
    pub lookups: usize,
    pub successors: usize,
    pub replicas: usize,
    pub records: usize,
    pub fail_fraction: Option<f64>,
    pub churn_session_s: Option<f64>,
    pub duration_s: Option<f64>,
    pub latency_ms: f64,
    pub loss: f64,
    /// Start from correctly computed tables instead of joins.
    pub static_tables: bool,
    pub max_links: usize,
    /// Shards of the network, each played on its own thread. The figures
    /// do not depend on it.
    pub threads: usize,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            nodes: 100,
            seed: 1,
            lookups: 1000,
            successors: 8,
            replicas: 3,
            records: 0,
            fail_fraction: None,
            churn_session_s: None,
            duration_s: None,
            latency_ms: 50.0,
            loss: 0.0,
            static_tables: false,
            max_links: 64,
            threads: 1,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Query {
    Lookup {
        key: Id,
        survived: bool,
        counted: bool,
        owner_at_issue: Option<NodeId>,
    },
    Put,
    Get {
        record: usize,
    },
}

struct Driver {
    p: Params,
    net: Net,
    rng: ChaCha8Rng,
    config: Config,
    outstanding: BTreeMap<(u32, QueryId), Query>,
    /// The answers seen so far, counted for the figures.
    tally: Tally,
    lookups_issued: usize,
    /// When the next measured lookup starts.
    next_lookup: Option<Time>,
    /// Lookups started in the window being played, by slot.
    starts: Vec<Query>,
    /// When the next churn departure and arrival happen.
    next_churn: Option<Time>,
    lookup_gap: Duration,
    lookups_end: Time,
    churn_until: Time,
    pre_failure: Option<Truth>,
    record_keys: Vec<(Id, Vec<u8>)>,
    final_wrong: Vec<String>,
    /// Live, joined nodes: the truth, and the same as a list to draw from.
    truth: Truth,
    live: Vec<u32>,
    live_pos: Vec<Option<usize>>,
    join_retry: Vec<u32>,
    /// Measured lookups in flight, by origin and key: which nodes answered
    /// them as owners, and when (`Said::Answered`).
    answers: BTreeMap<(u32, Id), Vec<(NodeId, Time)>>,
    /// Records whose copies are traced (debug output only).
    follow: Follow,
    follow_next: Time,
}

/// Runs a scenario and reports what happened.
pub fn run(p: &Params) -> Outcome {
    // The one real clock: the harness measures its own wall time.
    #[allow(clippy::disallowed_methods)]
    let wall = std::time::Instant::now();
    let mut d = Driver::new(p.clone());
    let mut violations = Vec::new();
    let debug = std::env::var_os("CHORD_SIM_DEBUG").is_some();
    let lap = |phase: &str| {
        if debug {
            eprintln!("{phase} done after {} ms", wall.elapsed().as_millis());
        }
    };

    let t0 = d.net.now;
    d.build();
    lap("build");
    let converged_at = d.run_until_converged(Duration::from_secs(if p.static_tables {
        120
    } else {
        1800
    }));
    if converged_at.is_none() {
        violations.push(format!(
            "ring did not converge after building: {}",
            d.convergence_errors(3).join("; ")
        ));
    }
    let converge_s = d.net.now.saturating_since(t0).as_secs_f64();
    lap("convergence");

    // Maintenance traffic over a quiet window: every message is upkeep.
    let quiet = Duration::from_secs(10);
    let before = d.total_msgs_sent();
    let n_live = d.truth().live.len().max(1);
    let q_end = d.net.now + quiet;
    d.run_until(q_end);
    let maintenance = (d.total_msgs_sent() - before) as f64 / n_live as f64 / quiet.as_secs_f64();

    lap("quiet window");
    d.store_records();

    // The measured phase: failure or churn, with lookups spread over it.
    let duration = Duration::from_secs_f64(p.duration_s.unwrap_or(60.0));
    let mut all_copies_dead = 0;
    let under_replicated = d.under_replicated();
    if let Some(frac) = p.fail_fraction {
        d.pre_failure = Some(d.truth().clone());
        all_copies_dead = d.fail_at_once(frac);
    }
    let start = d.net.now;
    d.lookups_end = start + duration;
    if p.lookups > 0 {
        d.lookup_gap = duration / p.lookups as u32;
        d.next_lookup = Some(start);
    }
    if p.churn_session_s.is_some() {
        d.churn_until = start + duration;
        d.schedule_churn();
    }
    d.run_until(start + duration);
    // Let the last lookups finish.
    d.wait_outstanding(d.config.route_timeout + Duration::from_secs(2));

    // Settle, then check invariants.
    lap("measured phase");
    let converged = d.run_until_converged(Duration::from_secs(900)).is_some();
    lap("settling");
    if !converged {
        violations.push(format!(
            "ring did not converge after settling: {}",
            d.convergence_errors(3).join("; ")
        ));
    }
    d.final_lookups(200.min(p.nodes * 4));
    violations.extend(d.final_wrong.iter().take(5).cloned());
    d.check_records();
    lap("final checks");

    if std::env::var_os("CHORD_SIM_DEBUG").is_some() {
        eprintln!(
            "events by kind (deliver, link up, link down, close and its ack, timer, lookup start): {:?}",
            d.net.by_kind()
        );
    }
    let links_mean = {
        let live: Vec<usize> = d
            .net
            .nodes()
            .filter(|(_, n)| n.node.is_some())
            .map(|(_, n)| n.link_count())
            .collect();
        live.iter().sum::<usize>() as f64 / live.len().max(1) as f64
    };
    let measured = Measured {
        maintenance,
        all_copies_dead,
        under_replicated,
        keys_per_node_max_over_mean: d.truth().max_over_mean_arc(),
        converged,
        converge_s,
        links_mean,
        hop_timeouts_total: d
            .net
            .nodes()
            .filter_map(|(_, n)| n.node.as_ref())
            .map(|n| n.stats().hop_timeouts)
            .sum(),
        violations,
        sim_events: d.net.events_processed(),
        virtual_s: d.net.now.saturating_since(t0).as_secs_f64(),
        trace_hash: d.net.trace(),
        wall_ms: wall.elapsed().as_millis() as u64,
    };
    figures::outcome(p, &d.tally, measured)
}

impl Driver {
    fn new(p: Params) -> Driver {
        let start = Time(1_700_000_000_000_000);
        let net = Net::new(
            p.seed,
            Duration::from_secs_f64(p.latency_ms / 1000.0),
            p.loss,
            start,
            p.threads,
        );
        let config = Config {
            successors: p.successors,
            replicas: p.replicas,
            max_links: p.max_links,
            ..Config::default()
        };
        Driver {
            rng: ChaCha8Rng::seed_from_u64(p.seed ^ 0x005e_ed0f_c40d),
            net,
            config,
            outstanding: BTreeMap::new(),
            tally: Tally::default(),
            lookups_issued: 0,
            next_lookup: None,
            starts: Vec::new(),
            next_churn: None,
            lookup_gap: Duration::ZERO,
            lookups_end: start,
            churn_until: start,
            pre_failure: None,
            record_keys: Vec::new(),
            final_wrong: Vec::new(),
            truth: Truth::default(),
            live: Vec::new(),
            live_pos: Vec::new(),
            join_retry: Vec::new(),
            answers: BTreeMap::new(),
            follow: Follow::default(),
            follow_next: start,
            p,
        }
    }

    fn new_identity(&mut self) -> Identity {
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        Identity::from_seed(seed)
    }

    fn random_id(&mut self) -> Id {
        let mut b = [0u8; 20];
        self.rng.fill_bytes(&mut b);
        Id(b)
    }

    fn truth(&self) -> &Truth {
        &self.truth
    }

    fn mark_joined(&mut self, i: u32, at: Time) {
        if self.live_pos.len() <= i as usize {
            self.live_pos.resize(i as usize + 1, None);
        }
        if self.live_pos[i as usize].is_none() && self.net.alive(i) {
            self.live_pos[i as usize] = Some(self.live.len());
            self.live.push(i);
            self.truth.insert(self.net.node(i).id, at);
        }
    }

    fn kill(&mut self, i: u32) {
        self.net.kill(i);
        if let Some(pos) = self.live_pos.get_mut(i as usize).and_then(Option::take) {
            self.live.swap_remove(pos);
            if let Some(&moved) = self.live.get(pos) {
                self.live_pos[moved as usize] = Some(pos);
            }
            let now = self.net.now;
            self.truth.remove(&self.net.node(i).id, now);
        }
    }

    fn random_live(&mut self) -> Option<u32> {
        if self.live.is_empty() {
            return None;
        }
        Some(self.live[(self.rng.next_u64() % self.live.len() as u64) as usize])
    }

    fn total_msgs_sent(&self) -> u64 {
        self.net
            .nodes()
            .map(|(_, n)| {
                n.node
                    .as_ref()
                    .map_or(n.final_msgs_sent, |x| x.stats().msgs_sent)
            })
            .sum()
    }

    fn build(&mut self) {
        let n = self.p.nodes;
        let idents: Vec<Identity> = (0..n).map(|_| self.new_identity()).collect();
        let mut idx = Vec::with_capacity(n);
        for ident in idents {
            idx.push(self.net.add_node(ident, self.config.clone()));
        }
        if self.p.static_tables {
            let truth = Truth {
                live: self.net.nodes().map(|(_, s)| s.id).collect(),
                ..Truth::default()
            };
            for &i in &idx {
                let id = self.net.node(i).id;
                let pred = truth.predecessor(&id);
                let succ = truth.successors(&id, self.p.successors);
                let fingers: Vec<Option<NodeId>> = (0..FINGERS)
                    .map(|f| {
                        let start = id.add_pow2(chordphone_overlay::FIRST_BIT + f);
                        truth.owner(&start).filter(|o| *o != id)
                    })
                    .collect();
                self.net.with_node(i, |node, now| {
                    node.install_tables(pred, &succ, &fingers, now)
                });
                self.net.set_joined(i);
                let now = self.net.now;
                self.mark_joined(i, now);
            }
            // Each node keeps the link it came in on, as a node that joined
            // keeps the link to its bootstrap: one to a random member.
            for &i in &idx {
                let other = idx[(self.rng.next_u64() % idx.len() as u64) as usize];
                if other != i {
                    self.net.link_now(i, other);
                }
            }
            return;
        }
        self.net.with_node(idx[0], |node, now| node.create(now));
        self.process_reports();
        let gap = Duration::from_millis(20);
        for &i in &idx[1..] {
            let at = self.net.now + gap;
            self.run_until(at);
            self.join_new(i);
        }
    }

    /// A fresh node links to a random member (as a tab reaches the server)
    /// and joins through it.
    fn join_new(&mut self, i: u32) {
        let Some(b) = self.random_live() else {
            return;
        };
        self.net.link_now(i, b);
        let bid = self.net.node(b).id;
        self.net.with_node(i, |node, now| node.join(bid, now));
    }

    /// Plays the network until `t`, window by window; between windows,
    /// reads what nodes reported and does what the scenario does at that
    /// time (churn, starting lookups, retrying joins).
    fn run_until(&mut self, t: Time) {
        loop {
            if self.next_churn.is_some_and(|c| c <= self.net.now) {
                self.churn();
            }
            if self.net.now >= t {
                break;
            }
            let mut end = t.min(self.net.now + self.net.lookahead());
            if let Some(c) = self.next_churn {
                end = end.min(c);
            }
            self.start_lookups(end);
            self.net.run_window(end);
            self.process_reports();
            for i in core::mem::take(&mut self.join_retry) {
                if self.net.alive(i) {
                    self.join_new(i);
                }
            }
            if self.follow.is_on() && self.net.now >= self.follow_next {
                self.follow.check(&self.net, &self.truth);
                self.follow_next = self.net.now + Duration::from_millis(100);
            }
        }
    }

    fn run_until_converged(&mut self, limit: Duration) -> Option<Time> {
        let end = self.net.now + limit;
        let step = Duration::from_secs(5);
        loop {
            if self.convergence_errors(1).is_empty() {
                return Some(self.net.now);
            }
            if self.net.now >= end {
                return None;
            }
            if std::env::var_os("CHORD_SIM_DEBUG").is_some() {
                eprintln!(
                    "t={:?} {:?}",
                    self.net.now.0 / 1_000_000 % 100_000,
                    self.convergence_errors(2)
                );
                for (_, sn) in self.net.nodes() {
                    if let (Some(n), true) = (&sn.node, sn.joined) {
                        let st = n.status();
                        let want = self.truth.successor(&sn.id);
                        if st.successors.first().copied() != want {
                            eprintln!(
                                "  bad succ0 {:?} has {:?} want {:?} pred {:?}",
                                sn.id,
                                st.successors.first(),
                                want,
                                st.predecessor
                            );
                        }
                    }
                }
                if let Ok(w) = std::env::var("CHORD_SIM_WATCH") {
                    for (_, sn) in self.net.nodes() {
                        if w.split(',').any(|p| sn.id.to_hex().starts_with(p)) {
                            if let Some(n) = &sn.node {
                                let st = n.status();
                                eprintln!(
                                    "  {:?} {:?} pred={:?} succ={:?} links={:?} stats={:?}",
                                    st.id,
                                    st.phase,
                                    st.predecessor,
                                    st.successors,
                                    st.links.len(),
                                    n.stats()
                                );
                            }
                        }
                    }
                }
            }
            let next = self.net.now + step;
            self.run_until(next);
        }
    }

    /// What is still wrong with the ring: successor lists, predecessors and
    /// fingers against the truth.
    fn convergence_errors(&self, max: usize) -> Vec<String> {
        let truth = &self.truth;
        let mut errs = Vec::new();
        for (_, sn) in self.net.nodes() {
            let (Some(node), true) = (sn.node.as_ref(), sn.joined) else {
                continue;
            };
            let id = sn.id;
            let st = node.status();
            let want_succ = truth.successors(&id, self.p.successors);
            if st.successors != want_succ {
                errs.push(format!(
                    "{id:?}: successors {:?} want {:?}",
                    &st.successors, &want_succ
                ));
            } else if truth.live.len() > 1 && st.predecessor != truth.predecessor(&id) {
                errs.push(format!(
                    "{id:?}: predecessor {:?} want {:?}",
                    st.predecessor,
                    truth.predecessor(&id)
                ));
            } else {
                for (f, have) in node.fingers().iter().enumerate() {
                    let start = id.add_pow2(chordphone_overlay::FIRST_BIT + f);
                    let want = truth.owner(&start).filter(|o| *o != id);
                    if *have != want {
                        errs.push(format!("{id:?}: finger {f} {have:?} want {want:?}"));
                        break;
                    }
                }
            }
            if errs.len() >= max {
                break;
            }
        }
        errs
    }

    fn store_records(&mut self) {
        for j in 0..self.p.records {
            let key = Id::for_key(&format!("record-{}-{j}", self.p.seed));
            let value = format!("value-{j}").into_bytes();
            self.record_keys.push((key, value.clone()));
            let Some(i) = self.random_live() else {
                break;
            };
            let mut qid = None;
            self.net.with_node(i, |node, now| {
                qid = node
                    .put(key, Kind::Single, value, Duration::from_secs(6 * 3600), now)
                    .ok();
            });
            if let Some(q) = qid {
                self.outstanding.insert((i, q), Query::Put);
            }
            let at = self.net.now + Duration::from_millis(2);
            self.run_until(at);
        }
        if self.p.records == 0 {
            return;
        }
        self.wait_outstanding(Duration::from_secs(60));
        self.follow = Follow::from_env(&self.record_keys);
        // Let replication finish.
        let at = self.net.now + Duration::from_secs(10);
        self.run_until(at);
    }

    fn wait_outstanding(&mut self, limit: Duration) {
        let end = self.net.now + limit;
        while !self.outstanding.is_empty() && self.net.now < end {
            let at = self.net.now + Duration::from_millis(500);
            self.run_until(at);
            let net = &self.net;
            self.outstanding.retain(|(i, _), _| net.alive(*i));
        }
    }

    /// Which nodes hold a copy of each record.
    fn holders(&self) -> BTreeMap<Id, Vec<u32>> {
        let mut holders: BTreeMap<Id, Vec<u32>> = BTreeMap::new();
        for (i, sn) in self.net.nodes() {
            if let Some(node) = &sn.node {
                for r in node.records() {
                    holders.entry(r.key).or_default().push(i);
                }
            }
        }
        holders
    }

    /// Records with fewer live copies than configured.
    fn under_replicated(&self) -> usize {
        let holders = self.holders();
        let want = self.p.replicas.min(self.live.len());
        if std::env::var_os("CHORD_SIM_DEBUG").is_some() {
            for (key, _) in self
                .record_keys
                .iter()
                .filter(|(key, _)| holders.get(key).map_or(0, Vec::len) < want)
                .take(3)
            {
                let h: Vec<NodeId> = holders
                    .get(key)
                    .map(|v| v.iter().map(|i| self.net.node(*i).id).collect())
                    .unwrap_or_default();
                let o = self.truth.owner(key);
                eprintln!(
                    "under-replicated {key:?}: holders {h:?}, owner {o:?} then {:?}",
                    o.map(|o| self.truth.successors(&o, 3))
                );
            }
        }
        self.record_keys
            .iter()
            .filter(|(key, _)| holders.get(key).map_or(0, Vec::len) < want)
            .count()
    }

    /// Fails a fraction of the nodes at once; returns how many records had
    /// every copy on a failed node.
    fn fail_at_once(&mut self, frac: f64) -> usize {
        let mut live = self.live.clone();
        let k = ((live.len() as f64) * frac).floor() as usize;
        let mut victims = BTreeSet::new();
        while victims.len() < k && !live.is_empty() {
            let pick = (self.rng.next_u64() % live.len() as u64) as usize;
            victims.insert(live.swap_remove(pick));
        }
        let holders = self.holders();
        let all_dead = self
            .record_keys
            .iter()
            .filter(|(key, _)| {
                holders
                    .get(key)
                    .is_none_or(|h| h.iter().all(|i| victims.contains(i)))
            })
            .count();
        for v in victims {
            self.kill(v);
        }
        all_dead
    }

    fn schedule_churn(&mut self) {
        let Some(session) = self.p.churn_session_s else {
            return;
        };
        // Departures form a Poisson process of rate N/T: exponential gaps.
        let mean_gap = session / self.p.nodes.max(1) as f64;
        let u = (self.rng.next_u64() as f64 + 1.0) / (u64::MAX as f64 + 2.0);
        let gap = Duration::from_secs_f64(-mean_gap * u.ln());
        let at = self.net.now + gap;
        self.next_churn = (at < self.churn_until).then_some(at);
    }

    /// One churn event: a random member leaves, a new node joins.
    fn churn(&mut self) {
        if let Some(v) = self.random_live() {
            self.kill(v);
        }
        let ident = self.new_identity();
        let i = self.net.add_node(ident, self.config.clone());
        self.join_new(i);
        self.schedule_churn();
    }

    /// Schedules the measured lookups that start before `end`, one every
    /// `lookup_gap`, all of them by `lookups_end`.
    fn start_lookups(&mut self, end: Time) {
        while let Some(at) = self.next_lookup.filter(|at| *at < end) {
            if let Some((i, key, query)) = self.new_lookup(true) {
                let slot = self.starts.len() as u32;
                self.starts.push(query);
                self.net.schedule_lookup(at, i, key, slot);
            }
            self.lookups_issued += 1;
            self.next_lookup = (self.lookups_issued < self.p.lookups)
                .then(|| (at + self.lookup_gap).min(self.lookups_end));
        }
    }

    /// A lookup of a random key from a random live node, and what the
    /// scenario needs to judge its answer.
    fn new_lookup(&mut self, counted: bool) -> Option<(u32, Id, Query)> {
        let i = self.random_live()?;
        let key = self.random_id();
        let survived = match &self.pre_failure {
            Some(pre) => pre
                .owner(&key)
                .is_some_and(|o| self.net.index_of(&o).is_some_and(|ix| self.net.alive(ix))),
            None => true,
        };
        let owner_at_issue = self.truth.owner(&key);
        let query = Query::Lookup {
            key,
            survived,
            counted,
            owner_at_issue,
        };
        Some((i, key, query))
    }

    /// Starts an uncounted lookup now.
    fn issue_lookup(&mut self) {
        let Some((i, key, query)) = self.new_lookup(false) else {
            return;
        };
        let mut qid = QueryId(0);
        self.net
            .with_node(i, |node, now| qid = node.lookup(key, now));
        self.outstanding.insert((i, qid), query);
    }

    fn final_lookups(&mut self, n: usize) {
        for _ in 0..n {
            self.issue_lookup();
            let at = self.net.now + Duration::from_millis(5);
            self.run_until(at);
        }
        self.wait_outstanding(self.config.route_timeout + Duration::from_secs(5));
    }

    fn check_records(&mut self) {
        for (j, _) in self.record_keys.clone().iter().enumerate() {
            let Some(i) = self.random_live() else {
                break;
            };
            let key = self.record_keys[j].0;
            let mut qid = QueryId(0);
            self.net
                .with_node(i, |node, now| qid = node.get(key, Kind::Single, now));
            self.outstanding.insert((i, qid), Query::Get { record: j });
            let at = self.net.now + Duration::from_millis(2);
            self.run_until(at);
        }
        self.wait_outstanding(self.config.route_timeout + Duration::from_secs(5));
        // A get that never answered counts as lost too.
        let unanswered = self
            .outstanding
            .values()
            .filter(|q| matches!(q, Query::Get { .. }))
            .count();
        self.tally.lost += unanswered;
        self.outstanding.clear();
    }

    fn process_reports(&mut self) {
        let reports = self.net.take_reports();
        let starts = core::mem::take(&mut self.starts);
        for r in reports {
            let event = match r.said {
                Said::LookupStarted { slot, qid } => {
                    if let Some(q) = starts.get(slot as usize) {
                        self.outstanding.insert((r.node, qid), *q);
                        if let Query::Lookup { key, .. } = q {
                            self.answers.insert((r.node, *key), Vec::new());
                        }
                    }
                    continue;
                }
                Said::Answered { origin, key } => {
                    let by = self.net.node(r.node).id;
                    let from = self.net.index_of(&origin);
                    if let Some(seen) = from.and_then(|o| self.answers.get_mut(&(o, key))) {
                        seen.push((by, r.at));
                    }
                    continue;
                }
                Said::Event(e) => e,
            };
            if let Event::JoinFailed(e) = &event {
                // A real shell tries again through another member.
                self.tally.join_failures += 1;
                if std::env::var_os("CHORD_SIM_DEBUG").is_some() {
                    eprintln!("join failed at node {}: {e:?}", r.node);
                }
                self.join_retry.push(r.node);
                continue;
            }
            let Event::QueryDone {
                id,
                hops,
                timeouts,
                elapsed,
                outcome,
            } = event
            else {
                if let Event::Joined = event {
                    self.mark_joined(r.node, r.at);
                }
                continue;
            };
            let Some(q) = self.outstanding.remove(&(r.node, id)) else {
                continue;
            };
            self.net
                .mix(u64::from(r.node) << 32 ^ id.0 ^ u64::from(hops) << 56);
            match q {
                Query::Lookup {
                    key,
                    survived,
                    counted,
                    owner_at_issue,
                } => {
                    let truth = self.truth().owner(&key);
                    let named = match outcome {
                        Ok(Answer::Owner(o)) => Some(o),
                        _ => None,
                    };
                    // Right if the request reached the key's owner: the node
                    // it names owned the key at the moment it answered. A
                    // lookup must reach the new owner, whatever became of the
                    // old one; what happens to the ring while the answer
                    // travels back no node could have known.
                    let answered_at = self
                        .answers
                        .remove(&(r.node, key))
                        .and_then(|seen| {
                            seen.iter()
                                .rev()
                                .find(|(by, _)| Some(*by) == named)
                                .map(|(_, at)| *at)
                        })
                        .unwrap_or(r.at);
                    let owner_then = self.truth.owner_at(&key, answered_at);
                    let right = named.is_some() && named == owner_then;
                    // Judged as before as well, against the owner when the
                    // answer arrives: those that named the owner the key had
                    // when they started (a node joined in front of it, or it
                    // died, while the answer travelled back) are counted
                    // apart too.
                    let right_on_arrival = named.is_some() && named == truth;
                    let moved = named.is_some() && !right_on_arrival && named == owner_at_issue;
                    if counted && moved {
                        self.tally.owner_moved += 1;
                    }
                    if counted && named.is_some() && !right_on_arrival {
                        self.tally.wrong_on_arrival += 1;
                    }
                    if !counted {
                        self.tally.final_checked += 1;
                        if !right {
                            self.final_wrong.push(format!(
                                "final lookup of {key:?} answered {outcome:?}, owner is {truth:?}"
                            ));
                        }
                        continue;
                    }
                    self.tally.lookups_done += 1;
                    if survived {
                        self.tally.owner_survived += 1;
                    }
                    if right {
                        self.tally.hops.push(u32::from(hops));
                        self.tally.latencies_us.push(elapsed.as_micros() as u64);
                    } else {
                        match &outcome {
                            Ok(a) => {
                                self.tally.failed_wrong += 1;
                                if std::env::var_os("CHORD_SIM_DEBUG").is_some() {
                                    eprintln!(
                                        "wrong owner at {:?}: key {key:?} answered {a:?} at {:?} owner then {owner_then:?}, truth {truth:?} at issue {owner_at_issue:?} pred-of-truth {:?}",
                                        self.net.now.0 / 1000 % 10_000_000,
                                        answered_at.0 / 1000 % 10_000_000,
                                        truth.and_then(|t| self.truth.predecessor(&t))
                                    );
                                    let who = named.and_then(|n| self.net.index_of(&n));
                                    if let Some(n) =
                                        who.and_then(|w| self.net.node(w).node.as_ref())
                                    {
                                        let st = n.status();
                                        eprintln!(
                                            "  answerer {:?} (node {:?}, origin {}): pred {:?} succ {:?} stats {:?}",
                                            st.id, who, r.node, st.predecessor,
                                            &st.successors[..st.successors.len().min(3)],
                                            n.stats()
                                        );
                                    }
                                }
                            }
                            Err(e) => {
                                self.tally.failed_error += 1;
                                *self.tally.errors.entry(e.to_string()).or_default() += 1;
                                if std::env::var_os("CHORD_SIM_DEBUG").is_some() {
                                    eprintln!(
                                        "failed at {:?} ms: node {} key {key:?} {e} after {elapsed:?}, {hops} hops, {timeouts} timeouts",
                                        self.net.now.0 / 1000 % 10_000_000,
                                        r.node
                                    );
                                }
                            }
                        }
                        if survived {
                            self.tally.failed_survived += 1;
                        }
                    }
                    self.tally.timeouts += u64::from(timeouts);
                }
                Query::Put => {
                    if !matches!(outcome, Ok(Answer::Stored)) {
                        self.tally.puts_failed += 1;
                    }
                }
                Query::Get { record } => {
                    let want = &self.record_keys[record].1;
                    let found = matches!(&outcome, Ok(Answer::Records(rs)) if rs.iter().any(|x| x.value.as_ref() == Some(want)));
                    if !found {
                        if std::env::var_os("CHORD_SIM_DEBUG").is_some() {
                            let key = self.record_keys[record].0;
                            let h: Vec<NodeId> = self
                                .holders()
                                .get(&key)
                                .map(|v| v.iter().map(|i| self.net.node(*i).id).collect())
                                .unwrap_or_default();
                            eprintln!(
                                "lost {key:?}: {outcome:?} holders {h:?} owner {:?}",
                                self.truth.owner(&key)
                            );
                        }
                        self.tally.lost += 1;
                    }
                }
            }
        }
    }
}
