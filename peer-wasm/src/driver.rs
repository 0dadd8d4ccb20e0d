//! The one task that owns the overlay node.
//!
//! Everything else (transport callbacks, WebRTC's asynchronous steps, the
//! page, `window.chordphone`) only queues inputs in the [`Inbox`]. The task
//! takes them in order, handles each with the real current time, drains the
//! node's transmits and events after every input, then sleeps until the
//! next input or the one earliest deadline (a single `setTimeout`).

use crate::clock;
use crate::health;
use crate::inbox::Inbox;
use crate::input::{Input, LinkId, Op};
use crate::links::Link;
use crate::page::Page;
use crate::requests::{Pending, Waiter};
use crate::small_map::SmallMap;
use crate::storage;
use crate::urls::health_url;
use crate::view::{Route, State, View};
use chordphone_overlay::{Config, Event, Identity, Node, NodeId, Output, Phase, QueryId, Time};
use core::time::Duration;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::JsCast;

/// How often the server's health is checked.
const HEALTH_INTERVAL: Duration = Duration::from_secs(5);
/// How soon the server is checked again after its link broke off.
const LOST_RECHECK: Duration = Duration::from_secs(1);
/// First and longest wait before joining again.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// The page is redrawn at most this often.
const DRAW_INTERVAL: Duration = Duration::from_millis(250);
/// Longest display name kept.
const MAX_NAME: usize = 64;
/// Shortest time between two calls of the node's timer. No overlay timer
/// needs finer steps (the shortest hop timeout is 150 ms), and a deadline
/// that keeps landing in the past (a core bug) then costs at most 20 rounds
/// a second instead of a busy loop that floods the neighbours.
const MIN_TICK: Duration = Duration::from_millis(50);

/// The overlay settings of a browser tab. A tab's event loop can stall for
/// hundreds of milliseconds (a busy page, a throttled background tab), and
/// one missed hop acknowledgement makes the core give a neighbour up: the
/// hop timeout never goes below half a second. WebRTC set-up (gathering,
/// one attach round trip through the ring, ICE, DTLS) gets ten seconds.
fn node_config() -> Config {
    Config {
        rto_min: Duration::from_millis(500),
        connect_timeout: Duration::from_secs(10),
        ..Config::default()
    }
}

/// The state the task owns.
#[derive(Debug)]
pub struct Shell {
    pub(crate) node: Node,
    pub(crate) identity: Identity,
    pub(crate) inbox: Inbox<Input>,
    pub(crate) view: Rc<RefCell<View>>,
    pub(crate) page: Option<Page>,

    /// Every transport, by its id.
    pub(crate) links: SmallMap<LinkId, Link>,
    /// The one transport for each peer (being set up or up).
    pub(crate) toward: SmallMap<NodeId, LinkId>,
    pub(crate) next_link: LinkId,

    /// Requests started by this shell, by the node's query id.
    pub(crate) queries: SmallMap<QueryId, Pending>,
    /// `link()` calls waiting for a link to come up, by peer.
    pub(crate) waiters: SmallMap<NodeId, Vec<Waiter>>,
    pub(crate) route: Option<Route>,
    pub(crate) notice: String,

    pub(crate) server_url: String,
    health_url: Option<String>,
    /// The bootstrap WebSocket while it is being set up or up.
    pub(crate) bootstrap: Option<LinkId>,
    /// The bootstrap server's node id, once proven.
    pub(crate) server: Option<NodeId>,
    /// The display name, once the person asked to join.
    pub(crate) name: Option<String>,
    server_reachable: bool,
    /// The server run last seen by a health check.
    server_instance: Option<String>,
    health_inflight: bool,
    next_health: Time,
    join_at: Option<Time>,
    backoff: Duration,
    dirty: bool,
    last_draw: Time,
    /// When the node's timer last ran.
    last_tick: Time,

    timer: Timer,
}

/// The single `setTimeout` that wakes the task.
struct Timer {
    handle: Option<i32>,
    at: Option<Time>,
    callback: Closure<dyn FnMut()>,
}

impl core::fmt::Debug for Timer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Timer").field("at", &self.at).finish()
    }
}

impl Timer {
    fn new(inbox: &Inbox<Input>) -> Timer {
        let i = inbox.clone();
        Timer {
            handle: None,
            at: None,
            callback: Closure::<dyn FnMut()>::new(move || i.fire_timer()),
        }
    }

    fn fired(&mut self) {
        self.handle = None;
        self.at = None;
    }

    /// Wakes the task at `at` (replacing any earlier setting).
    fn arm(&mut self, at: Time, now: Time) {
        if self.at == Some(at) && self.handle.is_some() {
            return;
        }
        let Some(window) = web_sys::window() else {
            return;
        };
        if let Some(h) = self.handle.take() {
            window.clear_timeout_with_handle(h);
        }
        // Round up so that the task wakes after the deadline, not just before.
        let ms = at.saturating_since(now).as_micros().div_ceil(1000);
        let ms = i32::try_from(ms).unwrap_or(i32::MAX);
        self.handle = window
            .set_timeout_with_callback_and_timeout_and_arguments_0(
                self.callback.as_ref().unchecked_ref(),
                ms,
            )
            .ok();
        self.at = Some(at);
    }
}

impl Shell {
    /// A shell for a node with this identity, not yet joined.
    pub fn new(
        identity: Identity,
        rng_seed: u64,
        server_url: String,
        inbox: Inbox<Input>,
        view: Rc<RefCell<View>>,
        page: Option<Page>,
        now: Time,
    ) -> Shell {
        let node = Node::new(identity.clone(), node_config(), rng_seed, now);
        Shell {
            node,
            identity,
            timer: Timer::new(&inbox),
            inbox,
            view,
            page,
            links: SmallMap::default(),
            toward: SmallMap::default(),
            next_link: 1,
            queries: SmallMap::default(),
            waiters: SmallMap::default(),
            route: None,
            notice: String::new(),
            health_url: health_url(&server_url),
            server_url,
            bootstrap: None,
            server: None,
            name: None,
            server_reachable: true,
            server_instance: None,
            health_inflight: false,
            next_health: now,
            join_at: None,
            backoff: BACKOFF_MIN,
            dirty: true,
            last_draw: Time(0),
            last_tick: Time(0),
        }
    }

    /// The run loop: wait, handle, drain, publish, sleep.
    pub async fn run(mut self) {
        let inbox = self.inbox.clone();
        let now = clock::now();
        self.on_tick(now);
        self.publish(now);
        loop {
            let batch = inbox.next().await;
            if batch.timer {
                self.timer.fired();
            }
            for input in batch.inputs {
                let now = clock::now();
                self.on_input(input, now);
                self.drain(now);
            }
            let now = clock::now();
            self.on_tick(now);
            self.publish(now);
        }
    }

    /// Sends what the node wants sent and acts on its events, until both
    /// queues are empty (acting on an event may queue more).
    pub(crate) fn drain(&mut self, now: Time) {
        while let Some(out) = self.node.poll_output() {
            match out {
                Output::Transmit(t) => self.transmit(t, now),
                Output::Event(e) => self.on_event(e, now),
            }
        }
    }

    fn on_input(&mut self, input: Input, now: Time) {
        match input {
            Input::Opened(l) => self.on_opened(l),
            Input::Frame(l, bytes) => self.on_frame(l, &bytes, now),
            Input::Bad(l, why) => self.fail_link(l, why, now),
            Input::Closed(l, why) => self.fail_link(l, &why, now),
            Input::Lost(l, why) => {
                if self.bootstrap == Some(l) {
                    // The server may be gone for a moment only (a restart):
                    // check soon, so that its return is noticed even if it
                    // comes back before the next regular check.
                    self.server_reachable = false;
                    self.next_health = self.next_health.min(now + LOST_RECHECK);
                    self.dirty = true;
                }
                self.fail_link(l, &why, now);
            }
            Input::OfferReady(l, sdp) => self.on_offer_ready(l, sdp, now),
            Input::AnswerReady(l, token, sdp) => self.on_answer_ready(l, token, sdp, now),
            Input::RtcFailed(l, why) => self.on_rtc_failed(l, &why, now),
            Input::Health(instance) => self.on_health(instance, now),
            Input::Join(name) => self.on_join(&name, now),
            Input::PageLookup(key) => self.page_lookup(key, now),
            Input::Redraw => self.dirty = true,
            Input::Api(op, reply) => match op {
                Op::Lookup(key) => self.api_lookup(key, reply, now),
                Op::Put(key, value) => self.api_put(&key, value, reply, now),
                Op::Get(key) => self.api_get(&key, reply, now),
                Op::Link(hex) => self.api_link(&hex, reply, now),
            },
        }
    }

    fn on_event(&mut self, e: Event, now: Time) {
        match e {
            Event::Connect(peer) => self.connect(peer, now),
            Event::Disconnect(peer) => self.disconnect(peer, now),
            Event::Joined => {
                self.backoff = BACKOFF_MIN;
                self.join_at = None;
                self.notice.clear();
                self.dirty = true;
            }
            Event::JoinFailed(why) => {
                self.notice = format!("Joining failed ({why}); trying again.");
                self.schedule_join(now);
            }
            Event::Left | Event::RingChanged => self.dirty = true,
            Event::QueryDone {
                id,
                hops,
                elapsed,
                outcome,
                ..
            } => self.on_query_done(id, hops, elapsed, outcome, now),
            Event::AttachRequest { token, from, data } => {
                self.on_attach_request(token, from, &data, now)
            }
            // The tab serves no application service yet, so none arrive.
            Event::App { .. } => {}
        }
    }

    /// The person chose a name: join (or rename if already in).
    fn on_join(&mut self, name: &str, now: Time) {
        let name: String = name.trim().chars().take(MAX_NAME).collect();
        if name.is_empty() {
            self.notice = "Choose a display name first.".to_owned();
            self.dirty = true;
            return;
        }
        storage::save_name(&name);
        self.name = Some(name);
        self.dirty = true;
        if self.node.phase() == Phase::Idle {
            self.try_join(now);
        }
    }

    /// Joins through the bootstrap server, connecting to it first if needed.
    fn try_join(&mut self, now: Time) {
        self.join_at = None;
        if self.name.is_none() || self.node.phase() != Phase::Idle {
            return;
        }
        match self.server {
            Some(server) if self.is_up(&server) => {
                self.node.join(server, now);
                self.drain(now);
            }
            _ => {
                if self.bootstrap.is_none() {
                    self.open_bootstrap(now);
                }
            }
        }
    }

    /// Tries joining again later, waiting longer each time.
    pub(crate) fn schedule_join(&mut self, now: Time) {
        if self.name.is_none() || self.node.phase() != Phase::Idle {
            return;
        }
        if self.join_at.is_none() {
            self.join_at = Some(now + self.backoff);
            self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        }
        self.dirty = true;
    }

    /// The bootstrap link finished its handshake with the server.
    pub(crate) fn on_bootstrap_up(&mut self, server: NodeId, now: Time) {
        self.server = Some(server);
        self.server_reachable = true;
        match self.node.phase() {
            Phase::Idle if self.name.is_some() => self.node.join(server, now),
            // Reconnected after an outage: the server may have restarted
            // alone and formed a ring of its own. Introducing it makes the
            // two rings one.
            Phase::Joined => self.node.introduce(server, now),
            _ => {}
        }
    }

    fn on_health(&mut self, instance: Option<String>, now: Time) {
        self.health_inflight = false;
        let ok = instance.is_some();
        // A new run of the server: it restarted, perhaps between two
        // checks, and knows nothing of the ring this node is in.
        let restarted = match (&instance, &self.server_instance) {
            (Some(new), Some(old)) => new != old,
            _ => false,
        };
        if instance.is_some() {
            self.server_instance = instance;
        }
        let returned = ok && (!self.server_reachable || restarted);
        if ok != self.server_reachable {
            self.dirty = true;
        }
        self.server_reachable = ok;
        // The server is back after an outage while this node lived on in
        // the ring: link to it again so that it rejoins this ring. Only on
        // the change, never in a loop.
        if returned && self.node.phase() == Phase::Joined && self.bootstrap.is_none() {
            self.open_bootstrap(now);
        }
        // Back after an outage and still outside the ring: join at once.
        if ok && self.node.phase() == Phase::Idle && self.bootstrap.is_none() {
            if let Some(at) = self.join_at {
                if at > now {
                    self.join_at = Some(now);
                }
            }
        }
    }

    /// Everything that is due: the node's timer and the shell's own.
    fn on_tick(&mut self, now: Time) {
        if self.node.poll_timeout().is_some_and(|t| t <= now) && now >= self.last_tick + MIN_TICK {
            self.last_tick = now;
            self.node.handle_timeout(now);
            self.drain(now);
        }
        if self.join_at.is_some_and(|t| t <= now) {
            self.try_join(now);
        }
        if now >= self.next_health {
            self.next_health = now + HEALTH_INTERVAL;
            if let Some(url) = &self.health_url {
                if self.health_inflight {
                    // The last check never came back.
                    self.server_reachable = false;
                }
                self.health_inflight = true;
                health::check(url, &self.inbox);
            }
        }
        self.expire_links(now);
        self.expire_waiters(now);
    }

    /// Rebuilds the snapshot, redraws the page when due, and sets the timer.
    fn publish(&mut self, now: Time) {
        let s = self.node.status();
        let joined = s.phase == Phase::Joined;
        let fresh = View {
            id: s.id,
            name: self.name.clone().unwrap_or_default(),
            state: State::of(joined, self.server_reachable),
            joined,
            predecessor: s.predecessor,
            successors: s.successors,
            fingers: s.fingers,
            peers: self.peers(),
            records: s.records,
            route: self.route.clone(),
            notice: self.notice.clone(),
        };
        {
            let mut v = self.view.borrow_mut();
            if *v != fresh {
                self.dirty = true;
                *v = fresh;
            }
        }
        let mut wake = self
            .node
            .poll_timeout()
            .map(|t| t.max(self.last_tick + MIN_TICK));
        let mut at = |t: Time| wake = Some(wake.map_or(t, |w| w.min(t)));
        at(self.next_health);
        if let Some(t) = self.join_at {
            at(t);
        }
        if let Some(t) = self
            .links
            .values()
            .filter(|l| !l.is_up())
            .map(|l| l.deadline)
            .min()
        {
            at(t);
        }
        if let Some(t) = self.waiters.values().flatten().map(|w| w.deadline).min() {
            at(t);
        }
        if self.dirty && self.page.as_ref().is_some_and(Page::visible) {
            let due = self.last_draw + DRAW_INTERVAL;
            if now >= due {
                self.dirty = false;
                self.last_draw = now;
                if let Some(page) = &self.page {
                    page.render(&self.view.borrow(), self.name.is_some());
                }
            } else {
                at(due);
            }
        }
        if let Some(t) = wake {
            self.timer.arm(t.max(now), now);
        }
    }
}
