//! A test double of the overlay for phones on a virtual clock: a record
//! store with the real ownership rules (the overlay's own `Store`), and an
//! application channel that hands each sealed payload to the target
//! phone's `handle_app`, answering the sender `Delivered`, or
//! `Route(NoSuchNode)` when the target is gone. Every hop takes 10 ms.
//! The shell's media side is played too: offers and answers are made at
//! once from small SDP texts, so the tests can follow them end to end.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use chordphone_overlay::{
    Answer, Id, Identity, Kind, NodeId, QueryError, Record, RouteError, Store, StoreLimits, Time,
};
use chordphone_phone::{
    Action, CallId, CallState, CallView, Config, Direction, Media, Phone, PhoneEvent, Token,
};

pub const T0: Time = Time(1_700_000_000_000_000);
const HOP: Duration = Duration::from_millis(10);

/// What happens on the virtual clock.
#[derive(Debug)]
enum Job {
    Outcome {
        phone: usize,
        token: Token,
        outcome: Result<Answer, QueryError>,
    },
    App {
        to: usize,
        from: NodeId,
        payload: Vec<u8>,
    },
    Sdp {
        phone: usize,
        call: CallId,
        sdp: String,
    },
}

/// Changes a payload on its way (`false` drops it).
pub type Tap = Box<dyn FnMut(usize, NodeId, &mut Vec<u8>) -> bool>;

pub struct Net {
    pub now: Time,
    pub phones: Vec<Option<Phone>>,
    pub nodes: Vec<NodeId>,
    pub store: Store,
    /// Every event each phone emitted, in order.
    pub events: Vec<Vec<PhoneEvent>>,
    /// Every media action each phone asked for.
    pub media: Vec<Vec<Media>>,
    /// Hold and Release actions of each phone.
    pub links: Vec<Vec<Action>>,
    /// The SDP each phone made, by call.
    pub made: Vec<Vec<(CallId, String)>>,
    /// Whether the shell answers media requests by itself.
    pub auto_media: bool,
    pub tap: Option<Tap>,
    jobs: BTreeMap<(Time, u64), Job>,
    seq: u64,
    versions: Vec<u64>,
}

impl Net {
    pub fn new() -> Net {
        Net {
            now: T0,
            phones: Vec::new(),
            nodes: Vec::new(),
            store: Store::new(StoreLimits {
                max_value: 4096,
                max_ttl: Duration::from_secs(24 * 3600),
                max_records: 100_000,
            }),
            events: Vec::new(),
            media: Vec::new(),
            links: Vec::new(),
            made: Vec::new(),
            auto_media: true,
            tap: None,
            jobs: BTreeMap::new(),
            seq: 0,
            versions: Vec::new(),
        }
    }

    /// Adds a phone for the user key `user` (its node key is its own).
    pub fn add(&mut self, user: u8) -> usize {
        self.add_with(user, |_| {})
    }

    pub fn add_with(&mut self, user: u8, tweak: impl FnOnce(&mut Config)) -> usize {
        let i = self.phones.len();
        let node = Identity::from_seed([100 + i as u8; 32]);
        let mut config = Config::new(node.clone(), user_identity(user), 1000 + i as u64);
        tweak(&mut config);
        self.nodes.push(node.node_id());
        self.phones.push(Some(Phone::new(config)));
        self.events.push(Vec::new());
        self.media.push(Vec::new());
        self.links.push(Vec::new());
        self.made.push(Vec::new());
        self.versions.push(0);
        i
    }

    pub fn phone(&mut self, i: usize) -> &mut Phone {
        self.phones[i].as_mut().expect("phone is gone")
    }

    /// The phone's tab closes: its node leaves the ring.
    pub fn remove(&mut self, i: usize) {
        self.phones[i] = None;
    }

    /// Registers phone `i` as `name` and runs until it settles.
    pub fn register(&mut self, i: usize, name: &str) {
        let now = self.now;
        self.phone(i).register(name, now).unwrap();
        self.run_ms(200);
    }

    pub fn call(&mut self, i: usize, target: &str) -> CallId {
        let now = self.now;
        let c = self.phone(i).call(target, now).unwrap();
        self.pump();
        c
    }

    pub fn with<R>(&mut self, i: usize, f: impl FnOnce(&mut Phone, Time) -> R) -> R {
        let now = self.now;
        let r = f(self.phone(i), now);
        self.pump();
        r
    }

    /// Hands phone `to` a payload as if the overlay brought it from `from`.
    pub fn inject(&mut self, from: NodeId, to: usize, payload: &[u8]) {
        let now = self.now;
        self.phone(to).handle_app(from, payload, now);
        self.pump();
    }

    /// The node identity of phone `i`.
    pub fn node_identity(&self, i: usize) -> Identity {
        Identity::from_seed([100 + i as u8; 32])
    }

    /// The live records under a key.
    pub fn records(&self, key: Id, kind: Kind) -> Vec<Record> {
        self.store.get(&key, kind, self.now)
    }

    /// The reason a call ended with, if it did.
    pub fn reason(&self, i: usize, call: CallId) -> Option<String> {
        let v = self.view(i, call);
        (v.state == CallState::Ended).then(|| v.reason.unwrap_or_default())
    }

    pub fn view(&self, i: usize, call: CallId) -> CallView {
        self.phones[i]
            .as_ref()
            .expect("phone")
            .calls()
            .into_iter()
            .find(|c| c.id == call)
            .expect("call is known")
    }

    pub fn state(&self, i: usize, call: CallId) -> CallState {
        self.view(i, call).state
    }

    /// The newest call ringing in on phone `i`.
    pub fn incoming(&self, i: usize) -> CallId {
        self.phones[i]
            .as_ref()
            .expect("phone")
            .calls()
            .into_iter()
            .filter(|c| c.direction == Direction::In)
            .map(|c| c.id)
            .max()
            .expect("a call came in")
    }

    pub fn has(&self, i: usize, f: impl Fn(&PhoneEvent) -> bool) -> bool {
        self.events[i].iter().any(f)
    }

    pub fn refusals(&self, i: usize) -> usize {
        self.events[i]
            .iter()
            .filter(|e| matches!(e, PhoneEvent::Refused { .. }))
            .count()
    }

    /// Runs the virtual clock for `ms` milliseconds.
    pub fn run_ms(&mut self, ms: u64) {
        let end = self.now + Duration::from_millis(ms);
        self.pump();
        for _ in 0..1_000_000 {
            let next_job = self.jobs.keys().next().map(|(t, _)| *t);
            let next_timer = self
                .phones
                .iter()
                .flatten()
                .filter_map(Phone::poll_timeout)
                .min();
            let next = [next_job, next_timer].into_iter().flatten().min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.step();
                }
                _ => break,
            }
        }
        self.now = end;
        self.step();
    }

    pub fn run_secs(&mut self, s: u64) {
        self.run_ms(s * 1000);
    }

    /// Everything due now: jobs, then timers.
    fn step(&mut self) {
        let now = self.now;
        while let Some(key) = self.jobs.keys().next().copied().filter(|(t, _)| *t <= now) {
            let Some(job) = self.jobs.remove(&key) else {
                break;
            };
            match job {
                Job::Outcome {
                    phone,
                    token,
                    outcome,
                } => {
                    if let Some(p) = self.phones[phone].as_mut() {
                        p.handle_outcome(token, outcome, now);
                    }
                }
                Job::App { to, from, payload } => {
                    if let Some(p) = self.phones[to].as_mut() {
                        p.handle_app(from, &payload, now);
                    }
                }
                Job::Sdp { phone, call, sdp } => {
                    if let Some(p) = self.phones[phone].as_mut() {
                        p.local_description(call, sdp, now);
                    }
                }
            }
            self.pump();
        }
        for i in 0..self.phones.len() {
            if let Some(p) = self.phones[i].as_mut() {
                if p.poll_timeout().is_some_and(|t| t <= now) {
                    p.handle_timeout(now);
                }
            }
        }
        self.pump();
    }

    fn later(&mut self, job: Job) {
        self.seq += 1;
        self.jobs.insert((self.now + HOP, self.seq), job);
    }

    /// Takes every phone's actions and plays the overlay and the shell.
    pub fn pump(&mut self) {
        for i in 0..self.phones.len() {
            while let Some(a) = self.phones[i].as_mut().and_then(Phone::poll_action) {
                self.act(i, a);
            }
        }
    }

    fn act(&mut self, i: usize, action: Action) {
        let now = self.now;
        match action {
            Action::Get { token, key, kind } => {
                let records = self.store.get(&key, kind, now);
                self.later(Job::Outcome {
                    phone: i,
                    token,
                    outcome: Ok(Answer::Records(records)),
                });
            }
            Action::Put { token, record } => self.store_put(i, token, record),
            Action::PutOwn {
                token,
                key,
                kind,
                value,
                ttl,
            } => {
                let record = self.own_record(i, key, kind, Some(value), ttl);
                self.store_put(i, token, record);
            }
            Action::RemoveOwn {
                token,
                key,
                kind,
                ttl,
            } => {
                let record = self.own_record(i, key, kind, None, ttl);
                self.store_put(i, token, record);
            }
            Action::Send {
                token,
                to,
                mut payload,
            } => {
                let target = self
                    .nodes
                    .iter()
                    .position(|n| *n == to)
                    .filter(|&t| self.phones[t].is_some());
                let Some(t) = target else {
                    self.later(Job::Outcome {
                        phone: i,
                        token,
                        outcome: Err(QueryError::Route(RouteError::NoSuchNode)),
                    });
                    return;
                };
                let keep = match self.tap.as_mut() {
                    Some(tap) => tap(i, to, &mut payload),
                    None => true,
                };
                let from = self.nodes[i];
                if keep {
                    self.later(Job::App {
                        to: t,
                        from,
                        payload,
                    });
                }
                self.later(Job::Outcome {
                    phone: i,
                    token,
                    outcome: Ok(Answer::Delivered),
                });
            }
            Action::Hold(_) | Action::Release(_) => self.links[i].push(action),
            Action::Media(m) => {
                if self.auto_media {
                    match &m {
                        Media::Offer { call, hold, .. } => {
                            let sdp = sdp(i, *call, if *hold { "sendonly" } else { "sendrecv" });
                            self.made[i].push((*call, sdp.clone()));
                            self.later(Job::Sdp {
                                phone: i,
                                call: *call,
                                sdp,
                            });
                        }
                        Media::Answer { call, offer } => {
                            let dir = if offer.contains("a=sendonly") {
                                "recvonly"
                            } else {
                                "sendrecv"
                            };
                            let sdp = sdp(i, *call, dir);
                            self.made[i].push((*call, sdp.clone()));
                            self.later(Job::Sdp {
                                phone: i,
                                call: *call,
                                sdp,
                            });
                        }
                        _ => {}
                    }
                }
                self.media[i].push(m);
            }
            Action::Event(e) => self.events[i].push(e),
        }
    }

    /// Stores a record with the overlay's own rules and answers the phone.
    fn store_put(&mut self, i: usize, token: Token, record: Record) {
        let outcome = self
            .store
            .put(record, self.now)
            .map(|_| Answer::Stored)
            .map_err(QueryError::Store);
        self.later(Job::Outcome {
            phone: i,
            token,
            outcome,
        });
    }

    fn own_record(
        &mut self,
        i: usize,
        key: Id,
        kind: Kind,
        value: Option<Vec<u8>>,
        ttl: Duration,
    ) -> Record {
        let node = Identity::from_seed([100 + i as u8; 32]);
        self.versions[i] = (self.versions[i] + 1).max(self.now.as_micros());
        Record::sign(&node, key, kind, self.versions[i], self.now + ttl, value)
    }
}

/// A user's key pair.
pub fn user_identity(user: u8) -> Identity {
    Identity::from_seed([user; 32])
}

/// A small SDP body naming who made it, for which call, with which direction.
pub fn sdp(phone: usize, call: CallId, direction: &str) -> String {
    format!(
        "v=0\r\no=- {phone} {} IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na={direction}\r\n",
        call.0
    )
}
