//! The phone core (`chordphone-phone`) wired to the overlay node, the media
//! and the screens.
//!
//! The core is sans-IO: it is handed the node's answers and the app
//! messages of [`SIP_SERVICE`], and asks for things with actions. Here each
//! action becomes a node request (its `QueryId` kept against the core's
//! `Token` until the node's `QueryDone` brings the outcome back), a link
//! hold or release, a media step, or a change of the snapshot that the
//! screens and `window.chordphone` read. Requests from people and programs
//! arrive as [`PhoneOp`]s with an optional Promise to settle.

use crate::calls::{aor_of, parse_call_id, user_part, Calls, Message, Status};
use crate::input::Reply;
use crate::log;
use crate::media::{Media, Tone};
use crate::storage;
use chordphone_overlay::{
    Answer, Identity, LocalError, NodeId, QueryError, QueryId, StoreError, Time, VecMap,
};
use chordphone_phone::{
    Action, CallId, CallState, Config, Direction, Phone, PhoneEvent, Presence, Token, SIP_SERVICE,
};
use chordphone_session::Session;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsValue;

/// Messages waiting for their outcome, at most.
const MAX_SENDING: usize = 64;
/// How long a link stays held after the call that held it ended: the last
/// messages of the call (a BYE and its 200) still travel on it, and a link
/// let go at once may be closed under them as idle.
const RELEASE_DELAY: core::time::Duration = core::time::Duration::from_secs(5);
/// Shortest time between two ICE restarts of a call: a restart takes a
/// re-INVITE through the ring and a round of connectivity checks.
const RESTART_EVERY: core::time::Duration = core::time::Duration::from_secs(5);
/// Releases waiting, at most (one per call the core holds a link for).
const MAX_RELEASES: usize = 64;
/// Node requests of the phone in flight, at most (the core bounds its own
/// queue; this guards the table against a core bug).
const MAX_TOKENS: usize = 256;

/// A phone request from the page or `window.chordphone`.
#[derive(Debug)]
pub enum PhoneOp {
    /// Claim a name and register this tab under it.
    Register(String),
    /// Call a name or `sip:` URI.
    Call(String),
    /// Answer, decline, hang up, hold or resume a call (the most recent
    /// fitting live call when no id is given).
    Answer(Option<String>),
    Reject(Option<String>),
    Hangup(Option<String>),
    Hold(Option<String>),
    Resume(Option<String>),
    /// Microphone muted or not.
    Mute(bool),
    /// Camera on or off.
    Camera(bool),
    /// Dial-pad keys (checked: `0-9 * # A-D`) into a call.
    Keys(String, Option<String>),
    /// An instant message: target, text.
    Message(String, String),
    /// Open the chat with this person (the page's Message button).
    Chat(String),
    /// Add (or rename) a contact: target, display name.
    AddContact(String, Option<String>),
    /// Remove a contact.
    RemoveContact(String),
    /// Set this device's presence: `online`, `away` or `busy`.
    Presence(String),
    /// The page goes away: this device's binding is removed.
    Leave,
    /// The person's identity was imported: its seed.
    User([u8; 32]),
}

/// Settles an optional Promise.
fn settle(reply: Option<Reply>, out: Result<JsValue, String>) {
    if let Some(r) = reply {
        match out {
            Ok(v) => r.ok(&v),
            Err(e) => r.err(&e),
        }
    }
}

/// A local refusal of the node, as the outcome the core expects.
fn refused(e: LocalError) -> QueryError {
    match e {
        LocalError::TooLarge | LocalError::PayloadTooLarge => {
            QueryError::Store(StoreError::TooLarge)
        }
        LocalError::BadTtl => QueryError::Store(StoreError::TtlTooLong),
        _ => QueryError::NotJoined,
    }
}

/// The phone and what it waits for.
#[derive(Debug)]
pub struct PhoneShell {
    phone: Phone,
    node: Identity,
    /// The phone's node requests in flight.
    tokens: VecMap<QueryId, Token>,
    /// The `register()` Promise waiting.
    register: Option<Reply>,
    /// A registration asked for before the node was in the ring.
    deferred: Option<(String, Option<Reply>)>,
    /// `send()` Promises, by message id.
    sending: VecMap<u32, Reply>,
    /// An imported user key, taken up once the old phone said goodbye.
    next_user: Option<[u8; 32]>,
    /// Link holds to give back, and when.
    releases: Vec<(NodeId, Time)>,
    /// Calls whose media path broke, and when ICE was last restarted.
    restarted: VecMap<u32, Time>,
    /// What the screens and the API show.
    pub calls: Rc<RefCell<Calls>>,
}

fn config(node: &Identity, user: [u8; 32], seed: u64) -> Config {
    Config::new(node.clone(), Identity::from_seed(user), seed)
}

impl PhoneShell {
    pub fn new(node: Identity, user: [u8; 32], seed: u64, calls: Rc<RefCell<Calls>>) -> PhoneShell {
        calls.borrow_mut().user = user_hex(&user);
        PhoneShell {
            phone: Phone::new(config(&node, user, seed)),
            node,
            tokens: VecMap::new(),
            register: None,
            deferred: None,
            sending: VecMap::new(),
            next_user: None,
            releases: Vec::new(),
            restarted: VecMap::new(),
            calls,
        }
    }

    /// A call's media path is down (read once a second while it is): the
    /// side that placed the call restarts ICE, at most every
    /// [`RESTART_EVERY`] while the path stays down; the other side answers
    /// the re-offer (see `Phone::restart_media`).
    pub fn path_broken(&mut self, call: u32, now: Time) {
        let id = CallId(call);
        let outgoing = self
            .phone
            .calls()
            .iter()
            .any(|c| c.id == id && c.direction == Direction::Out);
        if !outgoing
            || self
                .restarted
                .get(&call)
                .is_some_and(|t| now < *t + RESTART_EVERY)
        {
            return;
        }
        if self.phone.restart_media(id, now).is_ok() {
            log::info(&format!("media path of call c{call} broke: restarting ICE"));
            // Calls end within minutes of each other: only the live ones'
            // entries are worth keeping.
            let live: Vec<u32> = self.phone.calls().iter().map(|c| c.id.0).collect();
            self.restarted.retain(|c, _| live.contains(c));
            self.restarted.insert(call, now);
        }
    }

    /// The node serves the phone's messages.
    pub fn serve(session: &mut Session) {
        session.node_mut().serve(SIP_SERVICE);
    }

    /// Whether an app message is for the phone: then it took it.
    pub fn app(
        &mut self,
        from: NodeId,
        service: chordphone_overlay::ServiceId,
        payload: &[u8],
        now: Time,
    ) -> bool {
        if service != SIP_SERVICE {
            return false;
        }
        self.phone.handle_app(from, payload, now);
        true
    }

    /// Whether a finished query was the phone's: then it took the outcome.
    pub fn outcome(
        &mut self,
        id: QueryId,
        outcome: &Result<Answer, QueryError>,
        now: Time,
    ) -> bool {
        let Some(token) = self.tokens.remove(&id) else {
            return false;
        };
        self.phone.handle_outcome(token, outcome.clone(), now);
        true
    }

    /// The node is in the ring: a registration asked for earlier starts.
    pub fn joined(&mut self, now: Time) {
        if let Some((name, reply)) = self.deferred.take() {
            self.start_register(&name, reply, now);
        }
    }

    /// The phone's next deadline, or that of a link hold to give back.
    pub fn poll_timeout(&self) -> Option<Time> {
        let release = self.releases.iter().map(|(_, t)| *t).min();
        match (self.phone.poll_timeout(), release) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn tick(&mut self, session: &mut Session, now: Time) {
        if self.phone.poll_timeout().is_some_and(|t| t <= now) {
            self.phone.handle_timeout(now);
        }
        self.releases.retain(|(peer, at)| {
            if *at <= now {
                session.release(*peer);
            }
            *at > now
        });
    }

    /// A media step ended: the SDP made, or why the call cannot have media.
    pub fn media_done(&mut self, call: u32, out: Result<Option<String>, String>, now: Time) {
        match &out {
            Err(why) => log::info(&format!("media of call c{call} failed: {why}")),
            Ok(Some(_)) => log::info(&format!("media of call c{call}: description ready")),
            Ok(None) => {}
        }
        match out {
            Ok(Some(sdp)) => self.phone.local_description(CallId(call), sdp, now),
            Ok(None) => {}
            Err(why) => self.phone.media_failed(CallId(call), why, now),
        }
    }

    fn start_register(&mut self, name: &str, reply: Option<Reply>, now: Time) {
        match self.phone.register(name, now) {
            Ok(()) => {
                if let Some(old) = self.register.take() {
                    old.err("Replaced by a newer registration.");
                }
                self.register = reply;
                let mut c = self.calls.borrow_mut();
                c.registering = Some(name.trim().to_ascii_lowercase());
                c.register_error = None;
            }
            Err(e) => {
                let why = e.to_string();
                self.calls.borrow_mut().register_error = Some(why.clone());
                settle(reply, Err(why));
            }
        }
    }

    /// The call an op names, or the most recent fitting live one.
    fn which(&self, id: Option<String>, states: &[CallState]) -> Result<CallId, String> {
        match id {
            Some(s) => parse_call_id(&s).ok_or_else(|| "No such call.".to_owned()),
            None => self
                .calls
                .borrow()
                .pick(states)
                .ok_or_else(|| "There is no call.".to_owned()),
        }
    }

    /// Puts every active call but `keep` on hold (a second call is taken up).
    fn hold_others(&mut self, keep: CallId, now: Time) {
        let active: Vec<CallId> = self
            .calls
            .borrow()
            .calls
            .iter()
            .filter(|c| c.view.state == CallState::Active && c.view.id != keep)
            .map(|c| c.view.id)
            .collect();
        for c in active {
            let _ = self.phone.hold(c, now);
        }
    }

    /// Carries out a request.
    pub fn op(
        &mut self,
        op: PhoneOp,
        reply: Option<Reply>,
        joined: bool,
        media: &mut Media,
        now: Time,
    ) {
        let from_page = reply.is_none();
        self.calls.borrow_mut().notice = None;
        let done = |r: Result<(), chordphone_phone::PhoneError>| {
            r.map(|()| JsValue::TRUE).map_err(|e| e.to_string())
        };
        let out = match op {
            PhoneOp::Register(name) => {
                if joined {
                    self.start_register(&name, reply, now);
                } else {
                    if let Some((_, Some(old))) = self.deferred.take() {
                        old.err("Replaced by a newer registration.");
                    }
                    self.calls.borrow_mut().registering = Some(name.trim().to_ascii_lowercase());
                    self.deferred = Some((name, reply));
                }
                return;
            }
            PhoneOp::Call(target) => self
                .phone
                .call(&target, now)
                .map(|id| JsValue::from_str(&id.to_string()))
                .map_err(|e| e.to_string()),
            PhoneOp::Answer(id) => self.which(id, &[CallState::Incoming]).and_then(|id| {
                self.hold_others(id, now);
                done(self.phone.answer(id, now))
            }),
            PhoneOp::Reject(id) => self
                .which(id, &[CallState::Incoming])
                .and_then(|id| done(self.phone.reject(id, now))),
            PhoneOp::Hangup(id) => self
                .which(id, &[])
                .and_then(|id| done(self.phone.hangup(id, now))),
            PhoneOp::Hold(id) => self
                .which(id, &[CallState::Active])
                .and_then(|id| done(self.phone.hold(id, now))),
            PhoneOp::Resume(id) => self.which(id, &[CallState::Held]).and_then(|id| {
                self.hold_others(id, now);
                done(self.phone.resume(id, now))
            }),
            PhoneOp::Mute(on) => {
                media.mute(on);
                self.calls.borrow_mut().muted = on;
                Ok(JsValue::TRUE)
            }
            PhoneOp::Keys(keys, id) => self.which(id, &[CallState::Active]).and_then(|id| {
                if media.keys(id, &keys) {
                    Ok(JsValue::TRUE)
                } else {
                    Err("This call cannot send key presses.".to_owned())
                }
            }),
            PhoneOp::Camera(on) => {
                media.camera(on);
                self.calls.borrow_mut().camera_off = !on;
                Ok(JsValue::TRUE)
            }
            PhoneOp::Message(target, text) => {
                if self.sending.len() >= MAX_SENDING {
                    Err("Too many messages on their way; try again in a moment.".to_owned())
                } else {
                    match self.phone.send_message(&target, &text, now) {
                        Ok(id) => {
                            let from = self.phone.aor().unwrap_or_default().to_owned();
                            self.calls.borrow_mut().add_message(Message {
                                id: Some(id.0),
                                from,
                                to: aor_of(&target),
                                text,
                                at_ms: now.0 as f64 / 1000.0,
                                outgoing: true,
                                status: Status::Sending,
                                reason: None,
                            });
                            if let Some(r) = reply {
                                self.sending.insert(id.0, r);
                            }
                            return;
                        }
                        Err(e) => Err(e.to_string()),
                    }
                }
            }
            PhoneOp::Leave => {
                self.phone.unregister(now);
                Ok(JsValue::TRUE)
            }
            PhoneOp::AddContact(target, label) => {
                done(self.phone.add_contact(&target, label.as_deref(), now))
            }
            PhoneOp::RemoveContact(target) => done(self.phone.remove_contact(&target, now)),
            PhoneOp::Presence(state) => {
                done(Presence::parse_manual(&state).and_then(|s| self.phone.set_presence(s, now)))
            }
            PhoneOp::Chat(target) => {
                self.calls.borrow_mut().chat_with = Some(aor_of(&target));
                Ok(JsValue::TRUE)
            }
            PhoneOp::User(seed) => {
                self.new_user(seed, now);
                Ok(JsValue::TRUE)
            }
        };
        // A button or form has no Promise: the page says why it failed.
        if let (true, Err(why)) = (from_page, &out) {
            self.calls.borrow_mut().notice = Some(why.clone());
        }
        settle(reply, out);
    }

    /// Another person's identity now: this phone hangs up and unregisters
    /// (carried out by the next `drain`, which then swaps in a phone under
    /// the new user key, registered again under this tab's name if the new
    /// key may hold it).
    fn new_user(&mut self, user: [u8; 32], now: Time) {
        let live: Vec<CallId> = self
            .calls
            .borrow()
            .calls
            .iter()
            .filter(|c| c.live())
            .map(|c| c.view.id)
            .collect();
        for c in live {
            let _ = self.phone.hangup(c, now);
        }
        self.phone.unregister(now);
        self.next_user = Some(user);
    }

    /// Swaps in the phone of the new user once the old one said goodbye.
    fn swap_user(&mut self, user: [u8; 32], now: Time) {
        let name = self
            .calls
            .borrow()
            .aor
            .as_deref()
            .map(|a| user_part(a).to_owned());
        let seed = crate::storage::random_bytes::<8>().map_or(0, u64::from_le_bytes);
        self.phone = Phone::new(config(&self.node, user, seed));
        // The old phone's requests still finish; their outcomes are dropped.
        self.tokens.clear();
        {
            let mut c = self.calls.borrow_mut();
            c.user = user_hex(&user);
            c.aor = None;
            c.registering = None;
            c.calls.clear();
            c.contacts.clear();
        }
        if let Some(name) = name {
            self.start_register(&name, None, now);
        }
    }

    /// Carries out the core's actions until it has none; true if it had any.
    pub fn drain(&mut self, session: &mut Session, media: &mut Media, now: Time) -> bool {
        let mut any = false;
        loop {
            let Some(a) = self.phone.poll_action() else {
                match self.next_user.take() {
                    Some(user) => {
                        self.swap_user(user, now);
                        continue;
                    }
                    None => break,
                }
            };
            any = true;
            let node = session.node_mut();
            let (token, started) = match a {
                Action::Get { token, key, kind } => (token, Ok(node.get(key, kind, now))),
                Action::Put { token, record } => (token, node.put_signed(record, now)),
                Action::PutOwn {
                    token,
                    key,
                    kind,
                    value,
                    ttl,
                } => (token, node.put(key, kind, value, ttl, now)),
                Action::RemoveOwn {
                    token,
                    key,
                    kind,
                    ttl,
                } => (token, node.remove(key, kind, ttl, now)),
                Action::Send { token, to, payload } => {
                    (token, node.send_app(to, SIP_SERVICE, payload, now))
                }
                Action::Hold(peer) => {
                    session.hold(peer);
                    continue;
                }
                Action::Release(peer) => {
                    if self.releases.len() >= MAX_RELEASES {
                        session.release(peer);
                    } else {
                        self.releases.push((peer, now + RELEASE_DELAY));
                    }
                    continue;
                }
                Action::Media(m) => {
                    media.apply(m);
                    continue;
                }
                Action::Event(e) => {
                    self.event(e, media, now);
                    continue;
                }
            };
            match started {
                Ok(q) if self.tokens.len() < MAX_TOKENS => {
                    self.tokens.insert(q, token);
                }
                Ok(_) => self
                    .phone
                    .handle_outcome(token, Err(QueryError::Overloaded), now),
                Err(e) => self.phone.handle_outcome(token, Err(refused(e)), now),
            }
        }
        // Any step may have changed it (registered, a call connected).
        let presence = self.phone.presence();
        if self.calls.borrow().presence != presence {
            self.calls.borrow_mut().presence = presence;
        }
        any
    }

    fn event(&mut self, e: PhoneEvent, media: &mut Media, now: Time) {
        let mut c = self.calls.borrow_mut();
        match e {
            PhoneEvent::Registered { aor } => {
                storage::save_phone_name(user_part(&aor));
                c.registering = None;
                c.register_error = None;
                settle(self.register.take(), Ok(JsValue::from_str(&aor)));
                c.aor = Some(aor);
            }
            PhoneEvent::RegisterFailed { reason, .. } => {
                let why = reason.to_string();
                c.registering = None;
                c.register_error = Some(why.clone());
                settle(self.register.take(), Err(why));
            }
            PhoneEvent::CallChanged(view) => {
                log::info(&format!(
                    "call {} with {}: {}{}",
                    view.id,
                    view.peer,
                    view.state.as_str(),
                    view.reason
                        .as_deref()
                        .map_or(String::new(), |r| format!(" ({r})"))
                ));
                c.update(view);
                media.show(c.current().map(|c| c.view.id));
                // A call waiting rings too: the person must hear it.
                let tone = if c.incoming().next().is_some() {
                    Tone::Ringtone
                } else if c.current().is_none()
                    && c.dialing()
                        .is_some_and(|d| d.view.state == CallState::Ringing)
                {
                    Tone::Ringback
                } else {
                    Tone::Silent
                };
                media.ring(tone);
            }
            PhoneEvent::Message { from, text, at } => {
                let to = c.aor.clone().unwrap_or_default();
                if c.chat_with.is_none() {
                    c.chat_with = Some(from.clone());
                }
                c.add_message(Message {
                    id: None,
                    from,
                    to,
                    text,
                    at_ms: at.0 as f64 / 1000.0,
                    outgoing: false,
                    status: Status::Received,
                    reason: None,
                });
            }
            PhoneEvent::MessageWaiting { id, .. } => {
                c.message_waiting(id.0);
                // `send()` resolves with "waiting" rather than true.
                settle(
                    self.sending.remove(&id.0),
                    Ok(JsValue::from_str(Status::Waiting.as_str())),
                );
            }
            PhoneEvent::MessageDone { id, outcome } => {
                c.message_done(id.0, outcome.clone());
                settle(self.sending.remove(&id.0), outcome.map(|()| JsValue::TRUE));
            }
            PhoneEvent::ContactsChanged => c.contacts = self.phone.contacts(),
            PhoneEvent::Refused { from, why } => {
                log::info(&format!(
                    "refused a call message from {}: {why}",
                    log::short(&from)
                ));
            }
        }
        let _ = now;
    }

    /// Drops calls the core forgot (ended a while ago).
    pub fn forget_old(&self) {
        if self.calls.borrow().calls.is_empty() {
            return;
        }
        let known: Vec<CallId> = self.phone.calls().iter().map(|c| c.id).collect();
        self.calls.borrow_mut().retain(&known);
    }
}

/// The person's public key, as shown in `status().user`.
fn user_hex(seed: &[u8; 32]) -> String {
    crate::urls::to_hex(&Identity::from_seed(*seed).public_key())
}
