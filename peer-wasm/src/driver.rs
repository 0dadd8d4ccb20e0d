//! The one task that owns the session (the overlay node and its links).
//!
//! Everything else (transport callbacks, WebRTC's asynchronous steps, the
//! page, `window.chordphone`) only queues inputs in the [`Inbox`]. The task
//! takes them in order, hands each to the session with the real current
//! time, carries out the session's outputs after every input, then sleeps
//! until the next input or the one earliest deadline (a single
//! `setTimeout`).

use crate::calls::Calls;
use crate::clock;
use crate::health;
use crate::ice;
use crate::inbox::Inbox;
use crate::input::{Input, LinkId, Op};
use crate::links::{view_peers, Applied, Transports};
use crate::log;
use crate::media::Media;
use crate::notes::{Notes, NOTE_SERVICE};
use crate::page::Page;
use crate::phone::{PhoneOp, PhoneShell};
use crate::requests::{PageChange, Requests};
use crate::storage;
use crate::urls::health_url;
use crate::view::{Route, State, View};
use chordphone_overlay::{Event as NodeEvent, Identity, Phase, Time};
use chordphone_session::{Config, Event, Session};
use core::time::Duration;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::JsCast;

/// How often the server's health is checked.
const HEALTH_INTERVAL: Duration = Duration::from_secs(5);
/// How soon the server is checked again after its link broke off.
const LOST_RECHECK: Duration = Duration::from_secs(1);
/// The page is redrawn at most this often.
const DRAW_INTERVAL: Duration = Duration::from_millis(250);
/// Longest display name kept.
const MAX_NAME: usize = 64;
/// Shortest time between two calls of the node's timer. No overlay timer
/// needs finer steps (the shortest hop timeout is 150 ms), and a deadline
/// that keeps landing in the past (a core bug) then costs at most 20 rounds
/// a second instead of a busy loop that floods the neighbours.
const MIN_TICK: Duration = Duration::from_millis(50);

/// What the page and the API read: the node, the notes, the calls.
pub type Snapshots = (Rc<RefCell<View>>, Rc<RefCell<Notes>>, Rc<RefCell<Calls>>);

/// The state the task owns.
#[derive(Debug)]
pub struct Shell {
    session: Session,
    inbox: Inbox<Input>,
    view: Rc<RefCell<View>>,
    /// Notes received, shared with `window.chordphone.notes()`.
    notes: Rc<RefCell<Notes>>,
    page: Option<Page>,
    /// The phone core and the calls' media.
    phone: PhoneShell,
    media: Media,

    /// The browser object behind each link of the session.
    transports: Transports,
    /// Requests started here and `link()` calls waiting.
    requests: Requests,
    route: Option<Route>,
    notice: String,

    health_url: Option<String>,
    /// The display name, once the person asked to join.
    name: Option<String>,
    server_reachable: bool,
    /// The server run last seen by a health check.
    server_instance: Option<String>,
    health_inflight: bool,
    next_health: Time,
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
        (identity, user, seed): (Identity, [u8; 32], [u8; 32]),
        server_url: String,
        inbox: Inbox<Input>,
        (view, notes, calls): Snapshots,
        page: Option<Page>,
        now: Time,
    ) -> Shell {
        let health_url = health_url(&server_url);
        let transport_inbox = inbox.clone();
        let phone_seed = u64::from_le_bytes([
            seed[0], seed[1], seed[2], seed[3], seed[4], seed[5], seed[6], seed[7],
        ]);
        let phone = PhoneShell::new(identity.clone(), user, phone_seed, calls);
        let mut session = Session::new(identity, Config::browser(), seed, now);
        session.set_bootstrap(vec![server_url]);
        session.node_mut().serve(NOTE_SERVICE);
        PhoneShell::serve(&mut session);
        Shell {
            session,
            phone,
            media: Media::new(inbox.clone()),
            timer: Timer::new(&inbox),
            inbox,
            view,
            notes,
            page,
            transports: Transports::new(transport_inbox),
            requests: Requests::default(),
            route: None,
            notice: String::new(),
            health_url,
            name: None,
            server_reachable: true,
            server_instance: None,
            health_inflight: false,
            next_health: now,
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

    /// Carries out what the session wants done, until it wants nothing
    /// more (carrying out an output may queue more).
    fn drain(&mut self, now: Time) {
        loop {
            let mut any = false;
            while let Some(out) = self.session.poll_output() {
                any = true;
                match self.transports.apply(out) {
                    Applied::Done => {}
                    Applied::Event(e) => self.on_session_event(e, now),
                    Applied::Failed(link, why) => self.session.handle_failed(link, &why, now),
                    Applied::Broken(link, why) => self.session.handle_closed(link, why, now),
                }
            }
            // The phone's actions become node requests, and the node's
            // answers feed the phone: go on until both are quiet.
            if self.phone.drain(&mut self.session, &mut self.media, now) {
                self.dirty = true;
            } else if !any {
                return;
            }
        }
    }

    fn on_session_event(&mut self, e: Event, now: Time) {
        match e {
            Event::Overlay(e) => self.on_node_event(e, now),
            Event::LinkUp {
                peer,
                transport,
                bootstrap,
                ..
            } => {
                log::info(&format!(
                    "link up: {} ({})",
                    log::short(&peer.id),
                    transport.name()
                ));
                if bootstrap {
                    self.server_reachable = true;
                }
                self.requests.link_up(peer.id, now);
            }
            Event::LinkFailed { peer, reason } => {
                log::info(&format!("no link to {}: {reason}", log::short(&peer)));
                self.requests.link_failed(peer, &reason.to_string());
            }
            Event::BootstrapLost { why } => {
                log::info(&format!("server link closed: {why}"));
                if self.session.node().phase() != Phase::Joined {
                    self.notice = format!("Cannot reach the server: {why}");
                }
                self.dirty = true;
            }
            Event::Misbehaved { what, .. } => {
                self.notice = format!("A peer {what}; link closed.");
            }
        }
    }

    fn page_change(&mut self, change: Option<PageChange>) {
        match change {
            Some(PageChange::Route(route)) => {
                self.notice.clear();
                self.route = Some(route);
            }
            Some(PageChange::Notice(text)) => self.notice = text,
            None => return,
        }
        self.dirty = true;
    }

    fn on_input(&mut self, input: Input, now: Time) {
        match input {
            Input::Opened(l) => self.session.handle_opened(l, now),
            Input::Frame(l, bytes) => self.session.handle_frame(l, &bytes, now),
            Input::Bad(l, why) => self.close_transport(l, why, now),
            Input::Closed(l, why) => self.close_transport(l, &why, now),
            Input::Lost(l, why) => {
                if self.session.is_bootstrap_link(l) {
                    // The server may be gone for a moment only (a restart):
                    // check soon, so that its return is noticed even if it
                    // comes back before the next regular check.
                    self.server_reachable = false;
                    self.next_health = self.next_health.min(now + LOST_RECHECK);
                    self.dirty = true;
                }
                self.close_transport(l, &why, now);
            }
            Input::Described(l, sdp) => self.session.handle_description(l, sdp, now),
            Input::RtcFailed(l, why) => {
                self.transports.remove(l);
                self.session
                    .handle_failed(l, &format!("WebRTC: {why}"), now);
            }
            Input::Health(instance) => self.on_health(instance, now),
            Input::Join(name) => self.on_join(&name, now),
            Input::PageLookup(key) => {
                let change = self.requests.page_lookup(&mut self.session, key, now);
                self.page_change(change);
            }
            Input::Redraw => self.dirty = true,
            Input::Api(op, reply) => match op {
                Op::Lookup(key) => self.requests.api_lookup(&mut self.session, key, reply, now),
                Op::Put(key, value) => {
                    self.requests
                        .api_put(&mut self.session, &key, value, reply, now)
                }
                Op::Get(key) => self.requests.api_get(&mut self.session, &key, reply, now),
                Op::Link(hex) => self.requests.api_link(&mut self.session, &hex, reply, now),
                Op::Note { to, text, service } => {
                    self.requests
                        .api_send(&mut self.session, (&to, text, service), reply, now)
                }
            },
            Input::Phone(op, reply) => {
                if let PhoneOp::Register(name) = &op {
                    // A name to be reached under: join the ring first if
                    // this tab has not asked to yet.
                    if self.name.is_none() {
                        let name = name.clone();
                        self.on_join(&name, now);
                    }
                }
                let joined = self.session.node().phase() == Phase::Joined;
                self.phone.op(op, reply, joined, &mut self.media, now);
                self.dirty = true;
            }
            Input::Media(call, out) => self.phone.media_done(call, out, now),
            Input::Path(link, relayed) => {
                self.transports.set_path(link, relayed);
                self.dirty = true;
            }
            Input::FindRelays(reply) => self.requests.find_relays(&mut self.session, reply, now),
            Input::Quality(call, q) => {
                self.phone.calls.borrow_mut().set_quality(call, q);
                if q.broken {
                    self.phone.path_broken(call, now);
                }
                self.dirty = true;
            }
        }
    }

    /// A transport closed or broke the link's rules: drop it and tell the
    /// session.
    fn close_transport(&mut self, link: LinkId, why: &str, now: Time) {
        self.transports.remove(link);
        self.session.handle_closed(link, why, now);
    }

    /// An event of the overlay node.
    fn on_node_event(&mut self, e: NodeEvent, now: Time) {
        match e {
            NodeEvent::Joined => {
                self.notice.clear();
                self.dirty = true;
                self.phone.joined(now);
            }
            NodeEvent::JoinFailed(why) => {
                self.notice = format!("Joining failed ({why}); trying again.");
                self.dirty = true;
            }
            NodeEvent::QueryDone {
                id,
                hops,
                elapsed,
                outcome,
                ..
            } => {
                if !self.phone.outcome(id, &outcome, now) {
                    let me = self.session.id();
                    let change = self.requests.done(id, (hops, elapsed), outcome, (me, now));
                    self.page_change(change);
                }
            }
            NodeEvent::App {
                from,
                service,
                payload,
            } if self.phone.app(from, service, &payload, now) => {}
            NodeEvent::App {
                from,
                service,
                payload,
            } if service == NOTE_SERVICE => {
                log::info(&format!("note from {}", log::short(&from)));
                self.notes.borrow_mut().receive(from, &payload);
            }
            _ => self.dirty = true,
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
        self.session.join(now);
        self.drain(now);
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
        let phase = self.session.node().phase();
        // The server is back after an outage while this node lived on in
        // the ring: link to it again so that it rejoins this ring. Only on
        // the change, never in a loop.
        if returned && phase == Phase::Joined && !self.session.bootstrap_open() {
            self.session.open_bootstrap(now);
            self.drain(now);
        }
        // Back after an outage and still outside the ring: join at once.
        if ok && phase == Phase::Idle && !self.session.bootstrap_open() {
            self.session.hurry_join(now);
        }
    }

    /// Everything that is due: the node's timer and the shell's own.
    fn on_tick(&mut self, now: Time) {
        if self.session.poll_timeout().is_some_and(|t| t <= now) && now >= self.last_tick + MIN_TICK
        {
            self.last_tick = now;
            self.session.handle_timeout(now);
            self.drain(now);
        }
        if self.phone.poll_timeout().is_some_and(|t| t <= now) {
            self.phone.tick(&mut self.session, now);
            self.drain(now);
        }
        self.media.sample_due(now);
        self.transports.sample_due(now);
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
        self.requests.expire(now);
    }

    /// Rebuilds the snapshot, redraws the page when due, and sets the timer.
    fn publish(&mut self, now: Time) {
        let s = self.session.node().status();
        let joined = s.phase == Phase::Joined;
        let fresh = View {
            id: s.id,
            name: self.name.clone().unwrap_or_default(),
            state: State::of(joined, self.server_reachable),
            joined,
            predecessor: s.predecessor,
            successors: s.successors,
            fingers: s.fingers,
            peers: view_peers(&self.session),
            relayed: self.transports.relayed_peers(),
            records: s.records,
            route: self.route.clone(),
            notice: self.notice.clone(),
            relay_refused: ice::refusal(),
        };
        {
            let mut v = self.view.borrow_mut();
            if *v != fresh {
                self.dirty = true;
                *v = fresh;
            }
        }
        let mut wake = self
            .session
            .poll_timeout()
            .map(|t| t.max(self.last_tick + MIN_TICK));
        let mut at = |t: Time| wake = Some(wake.map_or(t, |w| w.min(t)));
        at(self.next_health);
        for t in [
            self.requests.next_deadline(),
            self.phone.poll_timeout(),
            self.media.next_deadline(),
            self.transports.next_deadline(),
        ]
        .into_iter()
        .flatten()
        {
            at(t);
        }
        self.phone.forget_old();
        if self.dirty && self.page.as_ref().is_some_and(Page::visible) {
            let due = self.last_draw + DRAW_INTERVAL;
            if now >= due {
                self.dirty = false;
                self.last_draw = now;
                if let Some(page) = &self.page {
                    page.render(&self.view.borrow(), self.name.is_some());
                    page.render_phone(&self.phone.calls.borrow(), now);
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
