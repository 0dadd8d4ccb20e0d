//! The user agent: calls, out-of-dialog requests and registrations over the
//! sipx-sip transaction layer, driven by inputs with `now` and drained of
//! transmits, events and one timeout.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use sipx_sip::headers::{CSeq, From, To};
use sipx_sip::session::{self, SessionExpires};
use sipx_sip::transaction::{Dispatch, Output, TuEvent};
use sipx_sip::{
    HeaderName, Message, Method, Request, RequestBuilder, Response, StreamParser, Timer, Timers,
    TransactionKey, TransactionLayer, Uri,
};

use crate::dialog::{call_id_of, cseq_of, tag_of, Dialog, DialogState};
use crate::failure::{EndReason, Failure, LocalError};
use crate::ids::{CallId, DialogId, RegistrationId, TransactionId};
use crate::msg::{self, add_header, response_to, set_body};
use crate::rng::Rng;
use crate::time::Time;
use crate::transport::{Flow, Transmit, Transport};

/// What the user agent advertises in `Allow`.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE";

/// Settings of one user agent.
#[derive(Clone, Debug)]
pub struct Config {
    /// Our address of record, e.g. `sip:alice@example.invalid` (From of our requests).
    pub local_uri: String,
    /// A display name for From, if any.
    pub display_name: Option<String>,
    /// Where the other side reaches us within a dialog (`Contact`).
    pub contact: String,
    /// Our `Via` sent-by (`host` or `host:port`).
    pub via_host: String,
    /// A `User-Agent` header, if any.
    pub user_agent: Option<String>,
    /// T1, T2, T4 of RFC 3261 (retransmission and timeout base).
    pub timers: Timers,
    /// An incoming call nobody answers is refused with 480 after this long.
    pub ring_timeout: Duration,
    /// An outgoing call nobody answers is cancelled after this long.
    pub invite_timeout: Duration,
    /// Ask for session timers (RFC 4028) on our INVITEs with this interval.
    pub session_expires: Option<Duration>,
    /// The shortest session interval we accept (Min-SE, at least 90 s).
    pub min_se: Duration,
    /// Calls at once; more incoming INVITEs get 486.
    pub max_calls: usize,
    /// Transactions at once; more incoming requests get 503 without state.
    pub max_transactions: usize,
    /// Largest message accepted on any transport (bytes).
    pub max_message_bytes: usize,
    /// Digest credentials for 401/407 challenges (the gateway's trunks).
    #[cfg(feature = "digest")]
    pub credentials: Option<crate::auth::Credentials>,
}

impl Config {
    /// Defaults around the given address of record, contact and Via sent-by.
    pub fn new(local_uri: &str, contact: &str, via_host: &str) -> Config {
        Config {
            local_uri: local_uri.to_owned(),
            display_name: None,
            contact: contact.to_owned(),
            via_host: via_host.to_owned(),
            user_agent: Some("chordphone".to_owned()),
            timers: Timers::default(),
            ring_timeout: Duration::from_secs(60),
            invite_timeout: Duration::from_secs(90),
            session_expires: None,
            min_se: Duration::from_secs(90),
            max_calls: 32,
            max_transactions: 1024,
            max_message_bytes: 64 * 1024,
            #[cfg(feature = "digest")]
            credentials: None,
        }
    }
}

/// What the user agent tells the app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Someone calls us: ring, then [`UserAgent::answer`] or [`UserAgent::reject`].
    Incoming {
        /// The new call.
        call: CallId,
        /// The caller's `From` (display name and URI, as received).
        from: String,
        /// The `To` of the INVITE.
        to: String,
        /// The SDP offer, if the INVITE carried one.
        offer: Option<Bytes>,
    },
    /// Our call makes progress: 180 Ringing or 183 with early media.
    Progress {
        /// The call.
        call: CallId,
        /// 180 or 183 (or another 1xx).
        code: u16,
        /// An SDP answer for early media, if any.
        body: Option<Bytes>,
    },
    /// Our call was answered: the 2xx arrived and we sent the ACK.
    Answered {
        /// The call.
        call: CallId,
        /// The SDP answer.
        answer: Option<Bytes>,
    },
    /// A call we answered is confirmed: the caller's ACK arrived.
    Connected {
        /// The call.
        call: CallId,
    },
    /// The other side offers a media change (re-INVITE: hold, resume, new
    /// media): answer with [`UserAgent::accept_reoffer`] or refuse with
    /// [`UserAgent::reject_reoffer`].
    Reoffer {
        /// The call.
        call: CallId,
        /// The new SDP offer.
        offer: Bytes,
    },
    /// Our media change was accepted.
    MediaChanged {
        /// The call.
        call: CallId,
        /// The SDP answer.
        answer: Bytes,
    },
    /// Our media change was refused; the call goes on unchanged.
    ReofferFailed {
        /// The call.
        call: CallId,
        /// Why.
        failure: Failure,
    },
    /// The call is over.
    Ended {
        /// The call.
        call: CallId,
        /// How it ended.
        reason: EndReason,
    },
    /// A MESSAGE arrived (answered 200 already).
    Message {
        /// The sender's `From`.
        from: String,
        /// Its Content-Type.
        content_type: String,
        /// Its body.
        body: Bytes,
    },
    /// A MESSAGE or OPTIONS of ours got its final answer.
    RequestDone {
        /// Which request.
        id: TransactionId,
        /// The 2xx code, or why it failed.
        outcome: Result<u16, Failure>,
    },
    /// A registration succeeded (and is refreshed before it runs out).
    Registered {
        /// Which registration.
        id: RegistrationId,
        /// Seconds the registrar granted (0: removed).
        expires: u32,
    },
    /// A registration failed.
    RegistrationFailed {
        /// Which registration.
        id: RegistrationId,
        /// Why.
        failure: Failure,
    },
}

/// Counters of what arrived and what was done with it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Inputs handed to the user agent.
    pub received: u64,
    /// Inputs that did not parse as a SIP message at all.
    pub malformed: u64,
    /// Messages that parsed but were refused (invalid, unsupported).
    pub invalid: u64,
    /// Error responses we sent without creating any state (stateless 4xx/5xx).
    pub error_responses: u64,
    /// Responses and ACKs that matched nothing of ours.
    pub stray: u64,
    /// Requests refused for lack of room (calls, transactions).
    pub overload: u64,
    /// Keepalives (CRLF) received.
    pub keepalives: u64,
}

/// Whose business a transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// An incoming request; the call (if any) is recorded when the TU takes it.
    Server(Option<CallId>),
    Invite(CallId),
    ReInvite(CallId),
    Bye(CallId),
    Cancel(CallId),
    /// A BYE for a stray forked 2xx, a CANCEL nobody waits for.
    Stray,
    Request(TransactionId),
    Register(RegistrationId),
}

#[derive(Debug)]
struct Txn<A> {
    key: TransactionKey,
    flow: Flow<A>,
    role: Role,
}

/// Timers beyond the transactions' own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum CallTimer {
    /// UAS: nobody answered in `ring_timeout`: 480.
    Ring,
    /// UAC: nobody answered in `invite_timeout`: CANCEL.
    InviteTimeout,
    /// UAC: a CANCEL got no final answer to the INVITE in 64·T1: give up.
    CancelGuard,
    /// UAS on UDP: retransmit our 2xx until the ACK (RFC 3261 §13.3.1.4).
    Retransmit2xx,
    /// Re-INVITE glare: retry after the randomized delay (§14.1).
    GlareRetry,
    /// Session timer (RFC 4028): refresh, or give up on the other side.
    Session,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    Txn(u64, u8),
    Call(CallId, CallTimer),
    Register(RegistrationId),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallState {
    /// UAC: INVITE sent, no final answer yet.
    Calling,
    /// UAS: INVITE received, not answered.
    Offered,
    /// UAS: 2xx sent, waiting for the ACK.
    Answered,
    /// Both: the dialog is confirmed.
    Confirmed,
    /// Over (kept until its transactions end, to absorb retransmissions).
    Ended,
}

#[derive(Debug)]
struct Pending2xx {
    bytes: Bytes,
    cseq: u32,
    interval: Duration,
    give_up: Time,
}

#[derive(Debug)]
struct ReinviteOut {
    #[allow(dead_code)]
    txn: u64,
    cseq: u32,
    offer: Bytes,
    /// A session refresh: no event for the app.
    refresh: bool,
}

#[derive(Debug)]
struct ReinviteIn {
    txn: u64,
    request: Request,
}

#[derive(Debug)]
struct Call<A> {
    outgoing: bool,
    state: CallState,
    flow: Flow<A>,
    sip_call_id: String,
    local_tag: String,
    // UAC
    invite: Option<Request>,
    invite_txn: Option<u64>,
    provisional: bool,
    cancelling: Option<Failure>,
    cancel_sent: bool,
    early: Vec<Dialog>,
    /// The ACK we sent for the 2xx (its remote tag), to resend on retransmissions.
    ack: Option<(String, Bytes)>,
    auth_tries: u8,
    // UAS
    server_invite: Option<u64>,
    invite_request: Option<Request>,
    session_answer: Option<session::Accepted>,
    // both
    dialog: Option<Dialog>,
    local_sdp: Option<Bytes>,
    remote_sdp: Option<Bytes>,
    pending_2xx: Option<Pending2xx>,
    reinvite_out: Option<ReinviteOut>,
    reinvite_in: Option<ReinviteIn>,
    glare_offer: Option<Bytes>,
    session: Option<session::Session>,
}

impl<A> Call<A> {
    fn new(
        outgoing: bool,
        state: CallState,
        flow: Flow<A>,
        sip_call_id: String,
        local_tag: String,
    ) -> Self {
        Call {
            outgoing,
            state,
            flow,
            sip_call_id,
            local_tag,
            invite: None,
            invite_txn: None,
            provisional: false,
            cancelling: None,
            cancel_sent: false,
            early: Vec::new(),
            ack: None,
            auth_tries: 0,
            server_invite: None,
            invite_request: None,
            session_answer: None,
            dialog: None,
            local_sdp: None,
            remote_sdp: None,
            pending_2xx: None,
            reinvite_out: None,
            reinvite_in: None,
            glare_offer: None,
            session: None,
        }
    }
}

#[derive(Debug)]
struct Registration<A> {
    registrar: Uri,
    flow: Flow<A>,
    call_id: String,
    from_tag: String,
    cseq: u32,
    expires: u32,
    auth_tries: u8,
    txn: Option<u64>,
}

/// A SIP user agent: any number of calls, out-of-dialog requests and
/// registrations, over flows the shell names with addresses of type `A`.
///
/// Sans-IO: feed [`handle_input`](Self::handle_input),
/// [`handle_timeout`](Self::handle_timeout) and the commands with the current
/// time; after each, drain [`poll_transmit`](Self::poll_transmit) and
/// [`poll_event`](Self::poll_event) until empty, and wake at
/// [`poll_timeout`](Self::poll_timeout).
#[derive(Debug)]
pub struct UserAgent<A> {
    config: Config,
    rng: Rng,
    layer: TransactionLayer,
    txns: BTreeMap<u64, Txn<A>>,
    by_key: BTreeMap<Vec<u8>, u64>,
    next_txn: u64,
    timers: BTreeSet<(Time, Slot)>,
    armed: BTreeMap<Slot, Time>,
    calls: BTreeMap<CallId, Call<A>>,
    next_call: u64,
    next_request: u64,
    regs: BTreeMap<RegistrationId, Registration<A>>,
    streams: BTreeMap<Flow<A>, StreamParser>,
    transmits: VecDeque<Transmit<A>>,
    events: VecDeque<Event>,
    stats: Stats,
    #[cfg(feature = "digest")]
    nonce_count: u32,
}

/// The key as bytes, for ordered maps (sipx's key is only `Hash`).
fn key_bytes(key: &TransactionKey) -> Vec<u8> {
    let mut out = Vec::new();
    let mut put = |b: &[u8]| {
        out.extend_from_slice(&(b.len() as u32).to_be_bytes());
        out.extend_from_slice(b);
    };
    match key {
        TransactionKey::Rfc3261 {
            branch,
            sent_by,
            method,
        } => {
            put(b"3261");
            put(branch);
            put(sent_by);
            put(method);
        }
        TransactionKey::Legacy {
            request_uri,
            top_via,
            from_tag,
            to_tag,
            call_id,
            cseq,
            method,
        } => {
            put(b"2543");
            put(request_uri);
            put(top_via);
            put(from_tag);
            put(to_tag);
            put(call_id);
            put(&cseq.to_be_bytes());
            put(method);
        }
    }
    out
}

fn timer_index(timer: Timer) -> u8 {
    Timer::ALL.iter().position(|t| *t == timer).unwrap_or(0) as u8
}

fn uri(text: &str) -> Result<Uri, LocalError> {
    Uri::parse(Bytes::copy_from_slice(text.as_bytes())).map_err(|_| LocalError::BadUri)
}

/// A response as bytes on the wire.
pub(crate) fn wire_response(r: &Response) -> Bytes {
    let mut out = Vec::new();
    r.write_to(&mut out);
    Bytes::from(out)
}

/// A request as bytes on the wire.
pub(crate) fn wire_request(r: &Request) -> Bytes {
    let mut out = Vec::new();
    r.write_to(&mut out);
    Bytes::from(out)
}

fn body_opt(body: &Bytes) -> Option<Bytes> {
    if body.is_empty() {
        None
    } else {
        Some(body.clone())
    }
}

impl<A: Clone + Ord + core::fmt::Debug> UserAgent<A> {
    /// A user agent with these settings; all its randomness (tags, branches,
    /// Call-IDs, glare delays) comes from `seed`.
    pub fn new(config: Config, seed: u64) -> Self {
        let layer = TransactionLayer::new(config.timers);
        UserAgent {
            config,
            rng: Rng::new(seed),
            layer,
            txns: BTreeMap::new(),
            by_key: BTreeMap::new(),
            next_txn: 0,
            timers: BTreeSet::new(),
            armed: BTreeMap::new(),
            calls: BTreeMap::new(),
            next_call: 1,
            next_request: 1,
            regs: BTreeMap::new(),
            streams: BTreeMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            #[cfg(feature = "digest")]
            nonce_count: 0,
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// What arrived and what was done with it.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Calls not yet ended.
    pub fn active_calls(&self) -> usize {
        self.calls
            .values()
            .filter(|c| c.state != CallState::Ended)
            .count()
    }

    /// Transactions in flight (client, server).
    pub fn transactions(&self) -> (usize, usize) {
        self.layer.len()
    }

    /// The confirmed (or early) dialog of a call.
    pub fn dialog(&self, call: CallId) -> Option<&Dialog> {
        self.calls.get(&call).and_then(|c| c.dialog.as_ref())
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit<A>> {
        self.transmits.pop_front()
    }

    /// The next event for the app.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.timers.iter().next().map(|(t, _)| *t)
    }

    /// A transport connection (TCP, TLS, WebSocket) closed: forget its framing state.
    pub fn handle_flow_closed(&mut self, flow: &Flow<A>) {
        self.streams.remove(flow);
    }

    // ---------------------------------------------------------------- timers

    fn arm(&mut self, slot: Slot, at: Time) {
        if let Some(old) = self.armed.insert(slot, at) {
            self.timers.remove(&(old, slot));
        }
        self.timers.insert((at, slot));
    }

    fn disarm(&mut self, slot: Slot) {
        if let Some(old) = self.armed.remove(&slot) {
            self.timers.remove(&(old, slot));
        }
    }

    fn disarm_call(&mut self, call: CallId) {
        for t in [
            CallTimer::Ring,
            CallTimer::InviteTimeout,
            CallTimer::CancelGuard,
            CallTimer::Retransmit2xx,
            CallTimer::GlareRetry,
            CallTimer::Session,
        ] {
            self.disarm(Slot::Call(call, t));
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Time) {
        // Bounded: each round removes the timer it fires; a timer re-armed
        // for `now` (a zero-length wait) fires in the same call.
        for _ in 0..10_000 {
            let Some(&(at, slot)) = self.timers.iter().next() else {
                return;
            };
            if at > now {
                return;
            }
            self.timers.remove(&(at, slot));
            self.armed.remove(&slot);
            match slot {
                Slot::Txn(n, t) => {
                    let Some(txn) = self.txns.get(&n) else {
                        continue;
                    };
                    let Some(&timer) = Timer::ALL.get(usize::from(t)) else {
                        continue;
                    };
                    let key = txn.key.clone();
                    let outputs = self.layer.on_timer(&key, timer);
                    self.run(n, outputs, now);
                }
                Slot::Call(call, t) => self.call_timer(call, t, now),
                Slot::Register(id) => self.refresh_registration(id, now),
            }
        }
    }

    // ------------------------------------------------------ transaction glue

    fn transmit(&mut self, flow: Flow<A>, bytes: Bytes) {
        self.transmits.push_back(Transmit { to: flow, bytes });
    }

    /// Starts a client transaction for `request` on `flow`.
    fn send_request(
        &mut self,
        request: Request,
        flow: Flow<A>,
        role: Role,
        now: Time,
    ) -> Option<u64> {
        let (key, outputs) = self
            .layer
            .send_request(request, flow.transport.reliability())?;
        let n = self.next_txn;
        self.next_txn += 1;
        self.by_key.insert(key_bytes(&key), n);
        self.txns.insert(n, Txn { key, flow, role });
        self.run(n, outputs, now);
        Some(n)
    }

    /// Answers the request of server transaction `n`.
    fn respond(&mut self, n: u64, response: Response, now: Time) {
        let Some(txn) = self.txns.get(&n) else { return };
        let key = txn.key.clone();
        let outputs = self.layer.send_response(&key, response);
        self.run(n, outputs, now);
    }

    /// Answers the request of server transaction `n` with a bare status.
    fn respond_status(&mut self, n: u64, code: u16, extra: &[(HeaderName, String)], now: Time) {
        let Some(request) = self.server_request(n) else {
            return;
        };
        let tag = self.rng.hex(10);
        let Some(mut response) = response_to(&request, code, Some(&tag)) else {
            return;
        };
        for (name, value) in extra {
            add_header(&mut response.headers, name.clone(), value.clone());
        }
        self.respond(n, response, now);
    }

    fn server_request(&self, n: u64) -> Option<Request> {
        let txn = self.txns.get(&n)?;
        self.layer.server_request(&txn.key).cloned()
    }

    /// Carries out what a transaction asked for.
    fn run(&mut self, n: u64, outputs: Vec<Output>, now: Time) {
        for output in outputs {
            match output {
                Output::Send(message) => {
                    if let Some(txn) = self.txns.get(&n) {
                        let flow = txn.flow.clone();
                        self.transmit(flow, message.to_bytes());
                    }
                }
                Output::SetTimer { timer, after } => {
                    self.arm(Slot::Txn(n, timer_index(timer)), now + after);
                }
                Output::ClearTimer(timer) => self.disarm(Slot::Txn(n, timer_index(timer))),
                Output::ToTu(event) => self.tu_event(n, *event, now),
                Output::Terminated(_) => self.terminated(n),
                _ => {}
            }
        }
    }

    fn terminated(&mut self, n: u64) {
        for t in Timer::ALL {
            self.disarm(Slot::Txn(n, timer_index(t)));
        }
        if let Some(txn) = self.txns.remove(&n) {
            self.by_key.remove(&key_bytes(&txn.key));
            let call = match txn.role {
                Role::Server(Some(c))
                | Role::Invite(c)
                | Role::ReInvite(c)
                | Role::Bye(c)
                | Role::Cancel(c) => Some(c),
                _ => None,
            };
            if let Some(c) = call {
                if let Some(call) = self.calls.get_mut(&c) {
                    if call.server_invite == Some(n) {
                        call.server_invite = None;
                    }
                    if call.invite_txn == Some(n) {
                        call.invite_txn = None;
                    }
                }
                self.reap(c);
            }
        }
    }

    /// Forgets an ended call once none of its transactions remain.
    fn reap(&mut self, c: CallId) {
        let ended = self
            .calls
            .get(&c)
            .is_some_and(|call| call.state == CallState::Ended);
        if !ended {
            return;
        }
        let busy = self.txns.values().any(|t| {
            matches!(t.role, Role::Server(Some(x)) | Role::Invite(x) | Role::ReInvite(x) | Role::Bye(x) | Role::Cancel(x) if x == c)
        });
        if !busy {
            self.disarm_call(c);
            self.calls.remove(&c);
        }
    }

    fn tu_event(&mut self, n: u64, event: TuEvent, now: Time) {
        let Some(role) = self.txns.get(&n).map(|t| t.role) else {
            return;
        };
        match event {
            TuEvent::Request(request) => self.on_request(n, *request, now),
            TuEvent::Ack(request) => self.on_ack(&request, now),
            TuEvent::Response(response) => self.on_response(n, role, *response, now),
            TuEvent::Timeout | TuEvent::TransportError => self.on_no_response(n, role, now),
            _ => {}
        }
    }

    // ------------------------------------------------------------ building

    fn via(&mut self, transport: Transport) -> String {
        format!(
            "SIP/2.0/{} {};branch=z9hG4bK{};rport",
            transport.via_token(),
            self.config.via_host,
            self.rng.hex(16)
        )
    }

    fn local_addr(&self, tag: &str) -> String {
        let mut out = String::new();
        if let Some(name) = &self.config.display_name {
            out.push('"');
            for ch in name.chars() {
                if ch == '"' || ch == '\\' {
                    out.push('\\');
                }
                out.push(ch);
            }
            out.push_str("\" ");
        }
        out.push('<');
        out.push_str(&self.config.local_uri);
        out.push_str(">;tag=");
        out.push_str(tag);
        out
    }

    fn contact(&self) -> String {
        format!("<{}>", self.config.contact)
    }

    /// Common headers every request we start carries after the dialog ones.
    fn finish(&self, mut b: RequestBuilder, body: Option<(&str, Bytes)>) -> Option<Request> {
        if let Some(ua) = &self.config.user_agent {
            b = b.header(HeaderName::UserAgent, ua.clone()).ok()?;
        }
        if let Some((ct, body)) = body {
            b = b
                .header(HeaderName::ContentType, ct.to_owned())
                .ok()?
                .body(body);
        }
        Some(b.build())
    }

    #[allow(clippy::too_many_arguments)]
    fn out_of_dialog(
        &mut self,
        method: Method,
        target: &Uri,
        to: &str,
        call_id: &str,
        from_tag: &str,
        cseq: u32,
        transport: Transport,
    ) -> Option<RequestBuilder> {
        let via = self.via(transport);
        RequestBuilder::new(method.clone(), target.clone())
            .header(HeaderName::Via, via)
            .ok()?
            .max_forwards(70)
            .header(HeaderName::From, self.local_addr(from_tag))
            .ok()?
            .header(HeaderName::To, format!("<{to}>"))
            .ok()?
            .header(HeaderName::CallId, call_id.to_owned())
            .ok()?
            .cseq(cseq, &method)
            .ok()
    }

    fn new_call_id(&mut self) -> String {
        let host = self
            .config
            .via_host
            .split(':')
            .next()
            .unwrap_or("")
            .to_owned();
        if host.is_empty() {
            self.rng.hex(20)
        } else {
            format!("{}@{}", self.rng.hex(20), host)
        }
    }

    // ------------------------------------------------------------ commands

    /// Calls `target` (a SIP URI) over `flow`, offering `offer` (SDP) if given.
    pub fn invite(
        &mut self,
        target: &str,
        flow: Flow<A>,
        offer: Option<Bytes>,
        now: Time,
    ) -> Result<CallId, LocalError> {
        let target_uri = uri(target)?;
        if self.active_calls() >= self.config.max_calls {
            return Err(LocalError::TooManyCalls);
        }
        let id = CallId(self.next_call);
        self.next_call += 1;
        let sip_call_id = self.new_call_id();
        let local_tag = self.rng.hex(10);
        let cseq = 1 + self.rng.below(10_000) as u32;
        let mut call = Call::new(
            true,
            CallState::Calling,
            flow.clone(),
            sip_call_id.clone(),
            local_tag.clone(),
        );
        call.local_sdp = offer.clone();
        let request = self
            .build_invite(
                &target_uri,
                target,
                &sip_call_id,
                &local_tag,
                cseq,
                offer,
                flow.transport,
                None,
            )
            .ok_or(LocalError::BadValue)?;
        call.invite = Some(request.clone());
        self.calls.insert(id, call);
        let n = self.send_request(request, flow, Role::Invite(id), now);
        if let Some(call) = self.calls.get_mut(&id) {
            call.invite_txn = n;
        }
        self.arm(
            Slot::Call(id, CallTimer::InviteTimeout),
            now + self.config.invite_timeout,
        );
        Ok(id)
    }

    #[allow(clippy::too_many_arguments)]
    fn build_invite(
        &mut self,
        target_uri: &Uri,
        target: &str,
        call_id: &str,
        local_tag: &str,
        cseq: u32,
        offer: Option<Bytes>,
        transport: Transport,
        auth: Option<(HeaderName, String)>,
    ) -> Option<Request> {
        let mut b = self
            .out_of_dialog(
                Method::Invite,
                target_uri,
                target,
                call_id,
                local_tag,
                cseq,
                transport,
            )?
            .header(HeaderName::Contact, self.contact())
            .ok()?
            .header(HeaderName::Allow, ALLOW)
            .ok()?;
        if let Some(se) = self.config.session_expires {
            b = b
                .header(HeaderName::Supported, "timer")
                .ok()?
                .header(HeaderName::SessionExpires, se.as_secs().to_string())
                .ok()?;
        }
        if let Some((name, value)) = auth {
            b = b.header(name, value).ok()?;
        }
        self.finish(b, offer.map(|o| ("application/sdp", o)))
    }

    /// Sends 180 Ringing for an incoming call (183 with `early_media` SDP if given).
    pub fn ring(
        &mut self,
        call: CallId,
        early_media: Option<Bytes>,
        now: Time,
    ) -> Result<(), LocalError> {
        let c = self.calls.get(&call).ok_or(LocalError::UnknownCall)?;
        if c.outgoing || c.state != CallState::Offered {
            return Err(LocalError::WrongState);
        }
        let n = c.server_invite.ok_or(LocalError::WrongState)?;
        let request = c.invite_request.clone().ok_or(LocalError::WrongState)?;
        let tag = c.local_tag.clone();
        let code = if early_media.is_some() { 183 } else { 180 };
        let mut response = response_to(&request, code, Some(&tag)).ok_or(LocalError::WrongState)?;
        add_header(&mut response.headers, HeaderName::Contact, self.contact());
        if let Some(sdp) = early_media {
            set_body(&mut response, "application/sdp", sdp);
        }
        self.respond(n, response, now);
        Ok(())
    }

    /// Answers an incoming call with `answer` (SDP).
    pub fn answer(&mut self, call: CallId, answer: Bytes, now: Time) -> Result<(), LocalError> {
        let c = self.calls.get_mut(&call).ok_or(LocalError::UnknownCall)?;
        if c.outgoing || c.state != CallState::Offered {
            return Err(LocalError::WrongState);
        }
        let n = c.server_invite.ok_or(LocalError::WrongState)?;
        let request = c.invite_request.clone().ok_or(LocalError::WrongState)?;
        let tag = c.local_tag.clone();
        c.state = CallState::Answered;
        c.local_sdp = Some(answer.clone());
        if let Some(d) = c.dialog.as_mut() {
            d.state = DialogState::Confirmed;
        }
        let accepted = c.session_answer;
        let flow = c.flow.clone();
        let mut response = response_to(&request, 200, Some(&tag)).ok_or(LocalError::WrongState)?;
        add_header(&mut response.headers, HeaderName::Contact, self.contact());
        add_header(&mut response.headers, HeaderName::Allow, ALLOW);
        if let Some(acc) = accepted {
            let se = SessionExpires {
                interval: acc.interval,
                refresher: Some(acc.refresher),
            };
            add_header(
                &mut response.headers,
                HeaderName::SessionExpires,
                se.to_string(),
            );
            if acc.require {
                add_header(&mut response.headers, HeaderName::Require, "timer");
            }
        }
        set_body(&mut response, "application/sdp", answer);
        self.disarm(Slot::Call(call, CallTimer::Ring));
        self.send_2xx(call, n, response, flow, now);
        Ok(())
    }

    /// Sends a 2xx to an INVITE and, on UDP, keeps resending it until the ACK.
    fn send_2xx(&mut self, call: CallId, n: u64, response: Response, flow: Flow<A>, now: Time) {
        let cseq = cseq_of(&response.headers).map(|c| c.sequence).unwrap_or(0);
        let bytes = wire_response(&response);
        self.respond(n, response, now);
        let t1 = self.config.timers.t1;
        if let Some(c) = self.calls.get_mut(&call) {
            c.pending_2xx = Some(Pending2xx {
                bytes,
                cseq,
                interval: t1,
                give_up: now + t1 * 64,
            });
        }
        let wait = if flow.transport.is_reliable() {
            t1 * 64
        } else {
            t1
        };
        self.arm(Slot::Call(call, CallTimer::Retransmit2xx), now + wait);
    }

    /// Refuses an incoming call: `Busy` sends 486, `Declined` 603, `NoAnswer`
    /// 480, and so on (see [`Failure::status`]).
    pub fn reject(&mut self, call: CallId, reason: Failure, now: Time) -> Result<(), LocalError> {
        let c = self.calls.get(&call).ok_or(LocalError::UnknownCall)?;
        if c.outgoing || c.state != CallState::Offered {
            return Err(LocalError::WrongState);
        }
        let n = c.server_invite.ok_or(LocalError::WrongState)?;
        let request = c.invite_request.clone().ok_or(LocalError::WrongState)?;
        let tag = c.local_tag.clone();
        let (code, _) = reason.status();
        if let Some(response) = response_to(&request, code, Some(&tag)) {
            self.respond(n, response, now);
        }
        self.end(call, EndReason::Failed(reason), now);
        Ok(())
    }

    /// Hangs up: CANCEL while our call rings, 603 for a call ringing here,
    /// BYE once connected.
    pub fn hangup(&mut self, call: CallId, now: Time) -> Result<(), LocalError> {
        let c = self.calls.get(&call).ok_or(LocalError::UnknownCall)?;
        match (c.outgoing, c.state) {
            (_, CallState::Ended) => Err(LocalError::WrongState),
            (true, CallState::Calling) => {
                self.cancel(call, Failure::Cancelled, now);
                Ok(())
            }
            (false, CallState::Offered) => self.reject(call, Failure::Declined, now),
            _ => {
                self.send_bye(call, now);
                self.end(call, EndReason::LocalHangup, now);
                Ok(())
            }
        }
    }

    /// Offers a media change on a connected call (hold, resume, new media).
    pub fn reinvite(&mut self, call: CallId, offer: Bytes, now: Time) -> Result<(), LocalError> {
        let c = self.calls.get(&call).ok_or(LocalError::UnknownCall)?;
        if c.state != CallState::Confirmed {
            return Err(LocalError::WrongState);
        }
        if c.reinvite_out.is_some() || c.glare_offer.is_some() {
            return Err(LocalError::OfferPending);
        }
        self.send_reinvite(call, offer, false, now);
        Ok(())
    }

    /// Answers the other side's media change ([`Event::Reoffer`]).
    pub fn accept_reoffer(
        &mut self,
        call: CallId,
        answer: Bytes,
        now: Time,
    ) -> Result<(), LocalError> {
        let c = self.calls.get_mut(&call).ok_or(LocalError::UnknownCall)?;
        let pending = c.reinvite_in.take().ok_or(LocalError::WrongState)?;
        c.local_sdp = Some(answer.clone());
        c.remote_sdp = body_opt(pending.request.body());
        self.answer_reinvite(call, pending, answer, now);
        Ok(())
    }

    /// Refuses the other side's media change (488): the call goes on as before.
    pub fn reject_reoffer(&mut self, call: CallId, now: Time) -> Result<(), LocalError> {
        let c = self.calls.get_mut(&call).ok_or(LocalError::UnknownCall)?;
        let pending = c.reinvite_in.take().ok_or(LocalError::WrongState)?;
        self.respond_status(pending.txn, 488, &[], now);
        Ok(())
    }

    /// Sends a MESSAGE (RFC 3428) outside any call; the result comes as
    /// [`Event::RequestDone`].
    pub fn message(
        &mut self,
        target: &str,
        flow: Flow<A>,
        content_type: &str,
        body: Bytes,
        now: Time,
    ) -> Result<TransactionId, LocalError> {
        self.simple_request(
            Method::Message,
            target,
            flow,
            Some((content_type, body)),
            now,
        )
    }

    /// Sends an OPTIONS (a capability query, or a ping); the result comes as
    /// [`Event::RequestDone`].
    pub fn options(
        &mut self,
        target: &str,
        flow: Flow<A>,
        now: Time,
    ) -> Result<TransactionId, LocalError> {
        self.simple_request(Method::Options, target, flow, None, now)
    }

    fn simple_request(
        &mut self,
        method: Method,
        target: &str,
        flow: Flow<A>,
        body: Option<(&str, Bytes)>,
        now: Time,
    ) -> Result<TransactionId, LocalError> {
        let target_uri = uri(target)?;
        let call_id = self.new_call_id();
        let tag = self.rng.hex(10);
        let b = self
            .out_of_dialog(
                method,
                &target_uri,
                target,
                &call_id,
                &tag,
                1,
                flow.transport,
            )
            .ok_or(LocalError::BadValue)?;
        let request = self.finish(b, body).ok_or(LocalError::BadValue)?;
        let id = TransactionId(self.next_request);
        self.next_request += 1;
        self.send_request(request, flow, Role::Request(id), now)
            .ok_or(LocalError::BadValue)?;
        Ok(id)
    }

    /// Registers our contact at `registrar` for `expires` seconds and keeps
    /// it registered (refreshing at half time) until [`unregister`](Self::unregister).
    pub fn register(
        &mut self,
        registrar: &str,
        flow: Flow<A>,
        expires: u32,
        now: Time,
    ) -> Result<RegistrationId, LocalError> {
        let registrar = uri(registrar)?;
        let id = RegistrationId(self.next_request);
        self.next_request += 1;
        let reg = Registration {
            registrar,
            flow,
            call_id: self.new_call_id(),
            from_tag: self.rng.hex(10),
            cseq: 0,
            expires,
            auth_tries: 0,
            txn: None,
        };
        self.regs.insert(id, reg);
        self.send_register(id, None, now);
        Ok(id)
    }

    /// Removes a registration (REGISTER with expires 0).
    pub fn unregister(&mut self, id: RegistrationId, now: Time) -> Result<(), LocalError> {
        let reg = self.regs.get_mut(&id).ok_or(LocalError::UnknownCall)?;
        reg.expires = 0;
        reg.auth_tries = 0;
        self.disarm(Slot::Register(id));
        self.send_register(id, None, now);
        Ok(())
    }

    fn send_register(&mut self, id: RegistrationId, auth: Option<(HeaderName, String)>, now: Time) {
        let Some(reg) = self.regs.get_mut(&id) else {
            return;
        };
        reg.cseq += 1;
        let (registrar, flow, call_id, tag, cseq, expires) = (
            reg.registrar.clone(),
            reg.flow.clone(),
            reg.call_id.clone(),
            reg.from_tag.clone(),
            reg.cseq,
            reg.expires,
        );
        let aor = self.config.local_uri.clone();
        let Some(mut b) = self.out_of_dialog(
            Method::Register,
            &registrar,
            &aor,
            &call_id,
            &tag,
            cseq,
            flow.transport,
        ) else {
            return;
        };
        let contact = self.contact();
        b = match b
            .header(HeaderName::Contact, contact)
            .and_then(|b| b.header(HeaderName::Expires, expires.to_string()))
        {
            Ok(b) => b,
            Err(_) => return,
        };
        if let Some((name, value)) = auth {
            b = match b.header(name, value) {
                Ok(b) => b,
                Err(_) => return,
            };
        }
        let Some(request) = self.finish(b, None) else {
            return;
        };
        let n = self.send_request(request, flow, Role::Register(id), now);
        if let Some(reg) = self.regs.get_mut(&id) {
            reg.txn = n;
        }
    }

    fn refresh_registration(&mut self, id: RegistrationId, now: Time) {
        if let Some(reg) = self.regs.get_mut(&id) {
            reg.auth_tries = 0;
        }
        self.send_register(id, None, now);
    }

    // ------------------------------------------------------------- in calls

    fn send_bye(&mut self, call: CallId, now: Time) {
        let via_transport = match self.calls.get(&call) {
            Some(c) => c.flow.transport,
            None => return,
        };
        let via = self.via(via_transport);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let flow = c.flow.clone();
        let Some(d) = c.dialog.as_mut() else { return };
        let Some(b) = d.request(Method::Bye, &via, None) else {
            return;
        };
        if let Some(request) = self.finish(b, None) {
            self.send_request(request, flow, Role::Bye(call), now);
        }
    }

    fn send_reinvite(&mut self, call: CallId, offer: Bytes, refresh: bool, now: Time) {
        let Some(transport) = self.calls.get(&call).map(|c| c.flow.transport) else {
            return;
        };
        let via = self.via(transport);
        let contact = self.contact();
        let session = self.calls.get(&call).and_then(|c| c.session);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let flow = c.flow.clone();
        let Some(d) = c.dialog.as_mut() else { return };
        let Some(mut b) = d.request(Method::Invite, &via, None) else {
            return;
        };
        let cseq = d.local_seq;
        b = match b
            .header(HeaderName::Contact, contact)
            .and_then(|b| b.header(HeaderName::Allow, ALLOW))
        {
            Ok(b) => b,
            Err(_) => return,
        };
        if let Some(s) = session {
            let refresher = if s.we_refresh == c.outgoing {
                session::Refresher::Uac
            } else {
                session::Refresher::Uas
            };
            let se = SessionExpires {
                interval: s.interval,
                refresher: Some(refresher),
            };
            b = match b
                .header(HeaderName::Supported, "timer")
                .and_then(|b| b.header(HeaderName::SessionExpires, se.to_string()))
            {
                Ok(b) => b,
                Err(_) => return,
            };
        }
        let Some(request) = self.finish(b, Some(("application/sdp", offer.clone()))) else {
            return;
        };
        if let Some(n) = self.send_request(request, flow, Role::ReInvite(call), now) {
            if let Some(c) = self.calls.get_mut(&call) {
                c.reinvite_out = Some(ReinviteOut {
                    txn: n,
                    cseq,
                    offer,
                    refresh,
                });
            }
        }
    }

    fn answer_reinvite(&mut self, call: CallId, pending: ReinviteIn, answer: Bytes, now: Time) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let tag = c.local_tag.clone();
        let flow = c.flow.clone();
        let session = c.session;
        let outgoing = c.outgoing;
        let Some(mut response) = response_to(&pending.request, 200, Some(&tag)) else {
            return;
        };
        add_header(&mut response.headers, HeaderName::Contact, self.contact());
        if let Some(s) = session {
            // We answer a refresh: the refresher stays who it was.
            let refresher = if s.we_refresh == outgoing {
                session::Refresher::Uac
            } else {
                session::Refresher::Uas
            };
            // In the re-INVITE the other side is the UAC: swap the roles' names.
            let refresher = match refresher {
                session::Refresher::Uac => session::Refresher::Uas,
                session::Refresher::Uas => session::Refresher::Uac,
            };
            let se = SessionExpires {
                interval: s.interval,
                refresher: Some(refresher),
            };
            add_header(
                &mut response.headers,
                HeaderName::SessionExpires,
                se.to_string(),
            );
            add_header(&mut response.headers, HeaderName::Require, "timer");
        }
        set_body(&mut response, "application/sdp", answer);
        self.send_2xx(call, pending.txn, response, flow, now);
        self.arm_session(call, now);
    }

    fn arm_session(&mut self, call: CallId, now: Time) {
        if let Some(s) = self.calls.get(&call).and_then(|c| c.session) {
            self.arm(Slot::Call(call, CallTimer::Session), now + s.act_after());
        }
    }

    /// Cancels our ringing call (now, or as soon as a provisional response
    /// arrives: RFC 3261 §9.1 forbids it before).
    fn cancel(&mut self, call: CallId, why: Failure, now: Time) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.cancelling.is_none() {
            c.cancelling = Some(why);
        }
        if !c.provisional || c.cancel_sent {
            return;
        }
        c.cancel_sent = true;
        let Some(invite) = c.invite.clone() else {
            return;
        };
        let flow = c.flow.clone();
        let Some(cancel) = build_cancel(&invite) else {
            return;
        };
        self.send_request(cancel, flow, Role::Cancel(call), now);
        self.arm(
            Slot::Call(call, CallTimer::CancelGuard),
            now + self.config.timers.t1 * 64,
        );
    }

    /// Marks a call ended, tells the app, stops its timers.
    fn end(&mut self, call: CallId, reason: EndReason, _now: Time) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.state == CallState::Ended {
            return;
        }
        c.state = CallState::Ended;
        c.pending_2xx = None;
        self.disarm_call(call);
        self.events.push_back(Event::Ended { call, reason });
        self.reap(call);
    }

    fn call_timer(&mut self, call: CallId, timer: CallTimer, now: Time) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        match timer {
            CallTimer::Ring => {
                if c.state == CallState::Offered {
                    let _ = self.reject(call, Failure::NoAnswer, now);
                }
            }
            CallTimer::InviteTimeout => {
                if c.state == CallState::Calling {
                    self.cancel(call, Failure::NoAnswer, now);
                    // No provisional yet means nothing to CANCEL: give up now.
                    let unheard = self.calls.get(&call).is_some_and(|c| !c.provisional);
                    if unheard {
                        self.end(call, EndReason::Failed(Failure::NoAnswer), now);
                    }
                }
            }
            CallTimer::CancelGuard => {
                if c.state == CallState::Calling {
                    let why = c.cancelling.clone().unwrap_or(Failure::Cancelled);
                    self.end(call, EndReason::Failed(why), now);
                }
            }
            CallTimer::Retransmit2xx => {
                let Some(p) = c.pending_2xx.as_mut() else {
                    return;
                };
                if now >= p.give_up || c.flow.transport.is_reliable() {
                    // No ACK in 64·T1: the call is dead (§13.3.1.4); BYE it.
                    c.pending_2xx = None;
                    self.send_bye(call, now);
                    self.end(call, EndReason::Failed(Failure::Unreachable), now);
                    return;
                }
                let bytes = p.bytes.clone();
                p.interval = (p.interval * 2).min(self.config.timers.t2);
                let next = now + p.interval;
                let flow = c.flow.clone();
                self.transmit(flow, bytes);
                self.arm(Slot::Call(call, CallTimer::Retransmit2xx), next);
            }
            CallTimer::GlareRetry => {
                if let Some(offer) = c.glare_offer.take() {
                    if c.state == CallState::Confirmed && c.reinvite_out.is_none() {
                        self.send_reinvite(call, offer, false, now);
                    }
                }
            }
            CallTimer::Session => {
                let Some(s) = c.session else { return };
                if c.state != CallState::Confirmed {
                    return;
                }
                if s.we_refresh {
                    if c.reinvite_out.is_some() || c.reinvite_in.is_some() {
                        // Busy: try again shortly.
                        self.arm(
                            Slot::Call(call, CallTimer::Session),
                            now + Duration::from_secs(1),
                        );
                    } else {
                        let offer = c.local_sdp.clone().unwrap_or_default();
                        self.send_reinvite(call, offer, true, now);
                    }
                } else {
                    self.send_bye(call, now);
                    self.end(call, EndReason::Failed(Failure::SessionExpired), now);
                }
            }
        }
    }

    // ------------------------------------------------------------ receiving

    /// A message (or, on TCP/TLS, a piece of the byte stream) arrived on `from`.
    ///
    /// Every byte is treated as hostile: what does not parse or is invalid is
    /// counted in [`stats`](Self::stats), answered with the error response
    /// RFC 3261 names where it can be answered, and changes nothing else.
    pub fn handle_input(&mut self, from: Flow<A>, bytes: &[u8], now: Time) {
        self.stats.received += 1;
        if from.transport.is_stream() {
            let limits = self.limits();
            let parser = self
                .streams
                .entry(from.clone())
                .or_insert_with(|| StreamParser::new(limits));
            let result = parser.push(bytes);
            let keepalives = parser.take_keepalives();
            self.stats.keepalives += keepalives as u64;
            match result {
                Ok(messages) => {
                    for m in messages {
                        self.handle_message(from.clone(), m, now);
                    }
                }
                Err(_) => {
                    // The stream's framing is lost: start over with the next byte.
                    self.stats.malformed += 1;
                    self.streams.remove(&from);
                }
            }
            return;
        }
        if bytes.iter().all(|b| *b == b'\r' || *b == b'\n') {
            self.stats.keepalives += 1;
            return;
        }
        match crate::inbound::parse(from.transport, bytes, &self.limits()) {
            Ok(message) => self.handle_message(from, message, now),
            Err(refusal) => {
                self.stats.malformed += 1;
                if let Some(boxed) = refusal {
                    let (request, code) = *boxed;
                    let tag = self.rng.hex(10);
                    if let Some(response) = response_to(&request, code, Some(&tag)) {
                        self.stats.error_responses += 1;
                        self.transmit(from, wire_response(&response));
                    }
                }
            }
        }
    }

    fn limits(&self) -> sipx_sip::Limits {
        let max = self.config.max_message_bytes;
        sipx_sip::Limits {
            max_message_bytes: max,
            max_body_bytes: max,
            ..sipx_sip::Limits::datagram()
        }
    }

    fn refuse(
        &mut self,
        from: Flow<A>,
        request: &Request,
        code: u16,
        extra: &[(HeaderName, String)],
    ) {
        self.stats.invalid += 1;
        if request.method == Method::Ack {
            return;
        }
        let tag = self.rng.hex(10);
        if let Some(mut response) = response_to(request, code, Some(&tag)) {
            for (name, value) in extra {
                add_header(&mut response.headers, name.clone(), value.clone());
            }
            self.stats.error_responses += 1;
            self.transmit(from, wire_response(&response));
        }
    }

    fn handle_message(&mut self, from: Flow<A>, message: Message, now: Time) {
        match &message {
            Message::Request(request) => {
                if let Some((code, extra)) = crate::inbound::check_request(request) {
                    self.refuse(from, request, code, &extra);
                    return;
                }
                // Room for a new transaction? (Retransmissions of known ones always pass.)
                let known = TransactionKey::from_request(request)
                    .is_some_and(|k| self.by_key.contains_key(&key_bytes(&k)));
                if !known && request.method != Method::Ack {
                    let (client, server) = self.layer.len();
                    if client + server >= self.config.max_transactions {
                        self.stats.overload += 1;
                        self.refuse(
                            from,
                            request,
                            503,
                            &[(HeaderName::RetryAfter, "5".to_owned())],
                        );
                        return;
                    }
                }
            }
            Message::Response(response) => {
                if !crate::inbound::check_response(response, &self.config.via_host) {
                    self.stats.invalid += 1;
                    return;
                }
            }
        }
        let reliability = from.transport.reliability();
        match self.layer.receive(message, reliability) {
            Dispatch::Matched { key, outputs } => {
                let Some(&n) = self.by_key.get(&key_bytes(&key)) else {
                    return;
                };
                self.run(n, outputs, now);
            }
            Dispatch::Created { key, outputs } => {
                let n = self.next_txn;
                self.next_txn += 1;
                self.by_key.insert(key_bytes(&key), n);
                self.txns.insert(
                    n,
                    Txn {
                        key,
                        flow: from,
                        role: Role::Server(None),
                    },
                );
                self.run(n, outputs, now);
            }
            Dispatch::Unmatched(message) => match *message {
                Message::Request(request) if request.method == Method::Ack => {
                    self.on_ack(&request, now);
                }
                Message::Response(response) => self.on_stray_response(from, response, now),
                _ => self.stats.stray += 1,
            },
        }
    }

    /// Finds the call a request within a dialog belongs to.
    fn call_of_dialog(&self, request: &Request) -> Option<CallId> {
        let call_id = call_id_of(&request.headers)?;
        let local = tag_of::<To>(&request.headers)?;
        let remote = tag_of::<From>(&request.headers).unwrap_or_default();
        self.calls.iter().find_map(|(id, c)| {
            let d = c.dialog.as_ref()?;
            (d.id.call_id == call_id && d.id.local_tag == local && d.id.remote_tag == remote)
                .then_some(*id)
        })
    }

    fn on_request(&mut self, n: u64, request: Request, now: Time) {
        let in_dialog = tag_of::<To>(&request.headers).is_some();
        match request.method {
            Method::Invite if !in_dialog => self.on_new_invite(n, request, now),
            Method::Cancel => self.on_cancel(n, &request, now),
            Method::Options if !in_dialog => {
                let extra = [
                    (HeaderName::Allow, ALLOW.to_owned()),
                    (HeaderName::Accept, "application/sdp".to_owned()),
                    (HeaderName::Supported, "timer".to_owned()),
                ];
                self.respond_status(n, 200, &extra, now);
            }
            Method::Message if !in_dialog => self.on_message(n, &request, now),
            _ if in_dialog => self.on_in_dialog(n, request, now),
            Method::Register
            | Method::Subscribe
            | Method::Notify
            | Method::Refer
            | Method::Publish
            | Method::Update
            | Method::Prack
            | Method::Info => {
                self.stats.invalid += 1;
                self.respond_status(n, 405, &[(HeaderName::Allow, ALLOW.to_owned())], now);
            }
            _ => {
                self.stats.invalid += 1;
                self.respond_status(n, 501, &[(HeaderName::Allow, ALLOW.to_owned())], now);
            }
        }
    }

    fn on_message(&mut self, n: u64, request: &Request, now: Time) {
        self.respond_status(n, 200, &[], now);
        self.events.push_back(Event::Message {
            from: msg::text(&request.headers, &HeaderName::From),
            content_type: msg::content_type(&request.headers),
            body: request.body().clone(),
        });
    }

    fn on_new_invite(&mut self, n: u64, request: Request, now: Time) {
        // A second copy of one INVITE through another path (a forking loop,
        // §8.2.2.2): same From tag, Call-ID and CSeq, other branch.
        let call_id = call_id_of(&request.headers).unwrap_or_default();
        let from_tag = tag_of::<From>(&request.headers).unwrap_or_default();
        let cseq = cseq_of(&request.headers).map(|c| c.sequence).unwrap_or(0);
        let merged = self.calls.values().any(|c| {
            !c.outgoing
                && c.sip_call_id == call_id
                && c.invite_request.as_ref().is_some_and(|r| {
                    tag_of::<From>(&r.headers).unwrap_or_default() == from_tag
                        && cseq_of(&r.headers).map(|c| c.sequence) == Some(cseq)
                })
        });
        if merged {
            self.stats.invalid += 1;
            self.respond_status(n, 482, &[], now);
            return;
        }
        if self.active_calls() >= self.config.max_calls {
            self.stats.overload += 1;
            self.respond_status(n, 486, &[], now);
            return;
        }
        // Session timers, where asked (RFC 4028).
        let mut session_answer = None;
        let requested = request
            .headers
            .typed::<SessionExpires>()
            .and_then(Result::ok);
        if requested.is_some() {
            let supports = msg::has_token(&request.headers, &HeaderName::Supported, "timer");
            let min_se = request
                .headers
                .typed::<session::MinSe>()
                .and_then(Result::ok)
                .map(|m| m.0);
            match session::answer(supports, requested, min_se, self.config.min_se) {
                session::Answer::TooBrief(floor) => {
                    self.respond_status(
                        n,
                        422,
                        &[(HeaderName::MinSe, floor.as_secs().to_string())],
                        now,
                    );
                    return;
                }
                session::Answer::Accept(acc) => session_answer = Some(acc),
                session::Answer::None => {}
            }
        }
        let Some(txn) = self.txns.get(&n) else { return };
        let flow = txn.flow.clone();
        let id = CallId(self.next_call);
        self.next_call += 1;
        let local_tag = self.rng.hex(10);
        let local_seq = self.rng.below(10_000) as u32;
        let Some(dialog) = Dialog::uas(&request, &local_tag, local_seq) else {
            self.respond_status(n, 400, &[], now);
            return;
        };
        let mut call = Call::new(false, CallState::Offered, flow, call_id, local_tag);
        call.server_invite = Some(n);
        call.remote_sdp = body_opt(request.body());
        call.dialog = Some(dialog);
        call.session_answer = session_answer;
        call.invite_request = Some(request.clone());
        self.calls.insert(id, call);
        if let Some(t) = self.txns.get_mut(&n) {
            t.role = Role::Server(Some(id));
        }
        self.arm(
            Slot::Call(id, CallTimer::Ring),
            now + self.config.ring_timeout,
        );
        self.events.push_back(Event::Incoming {
            call: id,
            from: msg::text(&request.headers, &HeaderName::From),
            to: msg::text(&request.headers, &HeaderName::To),
            offer: body_opt(request.body()),
        });
    }

    fn on_cancel(&mut self, n: u64, request: &Request, now: Time) {
        let target = TransactionKey::for_cancelled_invite(request).map(|k| key_bytes(&k));
        let invite_txn = target.and_then(|k| self.by_key.get(&k).copied());
        let call = invite_txn.and_then(|t| {
            self.calls
                .iter()
                .find(|(_, c)| c.server_invite == Some(t))
                .map(|(id, _)| *id)
        });
        let Some(t) = invite_txn else {
            self.respond_status(n, 481, &[], now);
            return;
        };
        self.respond_status(n, 200, &[], now);
        if let Some(call) = call {
            if self
                .calls
                .get(&call)
                .is_some_and(|c| c.state == CallState::Offered)
            {
                let tag = self
                    .calls
                    .get(&call)
                    .map(|c| c.local_tag.clone())
                    .unwrap_or_default();
                if let Some(invite) = self.server_request(t) {
                    if let Some(response) = response_to(&invite, 487, Some(&tag)) {
                        self.respond(t, response, now);
                    }
                }
                self.end(call, EndReason::Failed(Failure::Cancelled), now);
            }
        }
    }

    fn on_in_dialog(&mut self, n: u64, request: Request, now: Time) {
        let Some(call) = self.call_of_dialog(&request) else {
            self.stats.stray += 1;
            self.respond_status(n, 481, &[], now);
            return;
        };
        if let Some(t) = self.txns.get_mut(&n) {
            t.role = Role::Server(Some(call));
        }
        let cseq = cseq_of(&request.headers).map(|c| c.sequence).unwrap_or(0);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let in_order = c
            .dialog
            .as_mut()
            .is_some_and(|d| d.accept_remote_cseq(&request.method, cseq));
        if !in_order {
            self.stats.invalid += 1;
            self.respond_status(n, 500, &[(HeaderName::RetryAfter, "1".to_owned())], now);
            return;
        }
        match request.method {
            Method::Bye => {
                self.respond_status(n, 200, &[], now);
                // A BYE on a call still ringing here also ends its INVITE (§15.1.2).
                let ringing = self.calls.get(&call).and_then(|c| {
                    (c.state == CallState::Offered).then(|| (c.server_invite, c.local_tag.clone()))
                });
                if let Some((Some(t), tag)) = ringing {
                    if let Some(invite) = self.server_request(t) {
                        if let Some(response) = response_to(&invite, 487, Some(&tag)) {
                            self.respond(t, response, now);
                        }
                    }
                }
                self.end(call, EndReason::RemoteHangup, now);
            }
            Method::Invite => self.on_reinvite(n, call, request, now),
            Method::Message => self.on_message(n, &request, now),
            Method::Options => {
                self.respond_status(n, 200, &[(HeaderName::Allow, ALLOW.to_owned())], now);
            }
            _ => {
                self.stats.invalid += 1;
                self.respond_status(n, 405, &[(HeaderName::Allow, ALLOW.to_owned())], now);
            }
        }
    }

    fn on_reinvite(&mut self, n: u64, call: CallId, request: Request, now: Time) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.state == CallState::Ended {
            self.respond_status(n, 481, &[], now);
            return;
        }
        if c.state != CallState::Confirmed && c.state != CallState::Answered {
            self.respond_status(n, 491, &[], now);
            return;
        }
        if c.reinvite_out.is_some() {
            // Glare: both sides offered at once (§14.2).
            self.respond_status(n, 491, &[], now);
            return;
        }
        if c.reinvite_in.is_some() || c.pending_2xx.is_some() {
            let retry = format!("{}", 1 + self.rng.below(10));
            self.respond_status(n, 500, &[(HeaderName::RetryAfter, retry)], now);
            return;
        }
        if let Some(d) = c.dialog.as_mut() {
            d.refresh_target(&request.headers);
        }
        let body = request.body().clone();
        let unchanged = body.is_empty() || c.remote_sdp.as_ref() == Some(&body);
        if unchanged {
            // A session refresh (or an offer we already answered): the same answer again.
            let answer = c.local_sdp.clone().unwrap_or_default();
            let pending = ReinviteIn { txn: n, request };
            self.answer_reinvite(call, pending, answer, now);
            return;
        }
        c.reinvite_in = Some(ReinviteIn { txn: n, request });
        self.events.push_back(Event::Reoffer { call, offer: body });
    }

    fn on_ack(&mut self, request: &Request, now: Time) {
        let Some(call) = self.call_of_dialog(request) else {
            self.stats.stray += 1;
            return;
        };
        let cseq = cseq_of(&request.headers).map(|c| c.sequence);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let acks_pending = c.pending_2xx.as_ref().is_some_and(|p| Some(p.cseq) == cseq);
        if !acks_pending {
            return;
        }
        c.pending_2xx = None;
        let answered = c.state == CallState::Answered;
        self.disarm(Slot::Call(call, CallTimer::Retransmit2xx));
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if answered {
            c.state = CallState::Confirmed;
            let accepted = c.session_answer;
            if let Some(acc) = accepted {
                c.session = Some(session::Session {
                    interval: acc.interval,
                    we_refresh: acc.refresher == session::Refresher::Uas,
                });
            }
            self.arm_session(call, now);
            self.events.push_back(Event::Connected { call });
        }
    }

    fn on_no_response(&mut self, n: u64, role: Role, now: Time) {
        match role {
            Role::Invite(call) => {
                let why = self
                    .calls
                    .get(&call)
                    .and_then(|c| c.cancelling.clone())
                    .unwrap_or(Failure::Unreachable);
                if self
                    .calls
                    .get(&call)
                    .is_some_and(|c| c.state == CallState::Calling)
                {
                    self.end(call, EndReason::Failed(why), now);
                }
            }
            Role::ReInvite(call) => {
                // No answer to a re-INVITE: the dialog is gone (§14.1).
                if let Some(c) = self.calls.get_mut(&call) {
                    c.reinvite_out = None;
                }
                self.send_bye(call, now);
                self.end(call, EndReason::Failed(Failure::Unreachable), now);
            }
            Role::Request(id) => self.events.push_back(Event::RequestDone {
                id,
                outcome: Err(Failure::Unreachable),
            }),
            Role::Register(id) => self.events.push_back(Event::RegistrationFailed {
                id,
                failure: Failure::Unreachable,
            }),
            Role::Server(Some(call)) => {
                // Timer H: our final response to the INVITE was never acknowledged.
                let _ = n;
                if self
                    .calls
                    .get(&call)
                    .is_some_and(|c| c.state == CallState::Answered)
                {
                    self.end(call, EndReason::Failed(Failure::Unreachable), now);
                }
            }
            _ => {}
        }
    }

    fn on_response(&mut self, n: u64, role: Role, response: Response, now: Time) {
        let code = response.status.code();
        match role {
            Role::Invite(call) => self.on_invite_response(n, call, response, now),
            Role::ReInvite(call) => self.on_reinvite_response(call, response, now),
            Role::Request(id) if code >= 200 => {
                let outcome = if code < 300 {
                    Ok(code)
                } else {
                    Err(Failure::from_status(code, &response.reason))
                };
                self.events.push_back(Event::RequestDone { id, outcome });
            }
            Role::Register(id) if code >= 200 => self.on_register_response(id, response, now),
            _ => {}
        }
    }

    fn on_invite_response(&mut self, _n: u64, call: CallId, response: Response, now: Time) {
        let code = response.status.code();
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(invite) = c.invite.clone() else {
            return;
        };
        if code < 200 {
            if code == 100 {
                c.provisional = true;
            } else {
                c.provisional = true;
                if let Some(d) = Dialog::uac(&invite, &response) {
                    if let Some(e) = c
                        .early
                        .iter_mut()
                        .find(|e| e.id.remote_tag == d.id.remote_tag)
                    {
                        e.refresh_target(&response.headers);
                    } else {
                        c.early.push(d);
                    }
                }
                if c.state == CallState::Calling && c.cancelling.is_none() {
                    self.events.push_back(Event::Progress {
                        call,
                        code,
                        body: body_opt(response.body()),
                    });
                }
            }
            // A CANCEL waiting for the first provisional goes now.
            let waiting = self
                .calls
                .get(&call)
                .is_some_and(|c| c.cancelling.is_some() && !c.cancel_sent);
            if waiting {
                let why = self
                    .calls
                    .get(&call)
                    .and_then(|c| c.cancelling.clone())
                    .unwrap_or(Failure::Cancelled);
                self.cancel(call, why, now);
            }
            return;
        }
        if code < 300 {
            self.on_invite_2xx(call, invite, response, now);
            return;
        }
        // A failure: the transaction has ACKed it.
        if c.state != CallState::Calling {
            return;
        }
        let cancelling = c.cancelling.clone();
        if (code == 401 || code == 407) && c.auth_tries == 0 && cancelling.is_none() {
            if let Some(auth) = self.authorization(&response, &invite) {
                self.retry_invite_with(call, auth, now);
                return;
            }
        }
        let why = match (&cancelling, code) {
            (Some(why), 487) => why.clone(),
            _ => Failure::from_status(code, &response.reason),
        };
        self.end(call, EndReason::Failed(why), now);
    }

    fn retry_invite_with(&mut self, call: CallId, auth: (HeaderName, String), now: Time) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.auth_tries += 1;
        let Some(old) = c.invite.clone() else { return };
        let (call_id, tag, offer, flow) = (
            c.sip_call_id.clone(),
            c.local_tag.clone(),
            c.local_sdp.clone(),
            c.flow.clone(),
        );
        let cseq = cseq_of(&old.headers)
            .map(|c| c.sequence)
            .unwrap_or(1)
            .wrapping_add(1);
        let target = old.uri.clone();
        let to = String::from_utf8_lossy(&target.to_bytes()).into_owned();
        let Some(request) = self.build_invite(
            &target,
            &to,
            &call_id,
            &tag,
            cseq,
            offer,
            flow.transport,
            Some(auth),
        ) else {
            return;
        };
        if let Some(c) = self.calls.get_mut(&call) {
            c.invite = Some(request.clone());
            c.provisional = false;
        }
        let n = self.send_request(request, flow, Role::Invite(call), now);
        if let Some(c) = self.calls.get_mut(&call) {
            c.invite_txn = n;
        }
    }

    fn on_invite_2xx(&mut self, call: CallId, invite: Request, response: Response, now: Time) {
        let Some(remote_tag) = tag_of::<To>(&response.headers) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let flow = c.flow.clone();
        // A retransmission of the 2xx we already acknowledged: the same ACK again.
        if let Some((tag, ack)) = &c.ack {
            if *tag == remote_tag {
                let ack = ack.clone();
                self.transmit(flow, ack);
                return;
            }
        }
        let invite_cseq = cseq_of(&invite.headers).map(|c| c.sequence).unwrap_or(0);
        let first = c.dialog.is_none() && c.state == CallState::Calling;
        let mut dialog = match c.early.iter().position(|d| d.id.remote_tag == remote_tag) {
            Some(i) => {
                let mut d = c.early.remove(i);
                d.confirm_uac(&response);
                d
            }
            None => match Dialog::uac(&invite, &response) {
                Some(d) => d,
                None => return,
            },
        };
        let via = self.via(flow.transport);
        let Some(ack) = dialog
            .request(Method::Ack, &via, Some(invite_cseq))
            .and_then(|b| self.finish(b, None))
        else {
            return;
        };
        let ack_bytes = wire_request(&ack);
        self.transmit(flow.clone(), ack_bytes.clone());
        if !first {
            // Another fork answered too, or we had given up: ACK and BYE it (§13.2.2.4).
            let via = self.via(flow.transport);
            if let Some(bye) = dialog
                .request(Method::Bye, &via, None)
                .and_then(|b| self.finish(b, None))
            {
                self.send_request(bye, flow, Role::Stray, now);
            }
            return;
        }
        let cancelling = self.calls.get(&call).and_then(|c| c.cancelling.clone());
        let asked = self.config.session_expires;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.ack = Some((remote_tag, ack_bytes));
        c.remote_sdp = body_opt(response.body());
        c.dialog = Some(dialog);
        let other_forks = !c.early.is_empty();
        c.early.clear();
        if cancelling.is_some() {
            // We hung up while the answer was on its way: end it properly.
            self.send_bye(call, now);
            let why = cancelling.unwrap_or(Failure::Cancelled);
            self.end(call, EndReason::Failed(why), now);
            return;
        }
        c.state = CallState::Confirmed;
        let se = response
            .headers
            .typed::<SessionExpires>()
            .and_then(Result::ok);
        c.session = session::adopt(se, asked);
        self.disarm(Slot::Call(call, CallTimer::InviteTimeout));
        self.events.push_back(Event::Answered {
            call,
            answer: body_opt(response.body()),
        });
        self.arm_session(call, now);
        if other_forks {
            // The other devices still ring: stop them (they answer 487).
            if let Some(cancel) = build_cancel(&invite) {
                self.send_request(cancel, flow, Role::Stray, now);
            }
        }
    }

    fn on_reinvite_response(&mut self, call: CallId, response: Response, now: Time) {
        let code = response.status.code();
        if code < 200 {
            return;
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let flow = c.flow.clone();
        if code < 300 {
            let Some(out) = c.reinvite_out.take() else {
                // A retransmitted 2xx of an earlier re-INVITE: ACK it again.
                if let Some((_, ack)) = c.ack.clone() {
                    self.transmit(flow, ack);
                }
                return;
            };
            let via = self.via(flow.transport);
            let Some(c) = self.calls.get_mut(&call) else {
                return;
            };
            let Some(d) = c.dialog.as_mut() else { return };
            d.refresh_target(&response.headers);
            let remote_tag = d.id.remote_tag.clone();
            let Some(ack) = d
                .request(Method::Ack, &via, Some(out.cseq))
                .and_then(|b| self.finish(b, None))
            else {
                return;
            };
            let bytes = wire_request(&ack);
            self.transmit(flow, bytes.clone());
            let Some(c) = self.calls.get_mut(&call) else {
                return;
            };
            c.ack = Some((remote_tag, bytes));
            c.local_sdp = Some(out.offer);
            let answer = response.body().clone();
            if !answer.is_empty() {
                c.remote_sdp = Some(answer.clone());
            }
            if let Some(se) = response
                .headers
                .typed::<SessionExpires>()
                .and_then(Result::ok)
            {
                if let Some(s) = c.session.as_mut() {
                    s.interval = se.interval;
                }
            }
            self.arm_session(call, now);
            if !out.refresh {
                self.events.push_back(Event::MediaChanged { call, answer });
            }
            return;
        }
        let Some(out) = c.reinvite_out.take() else {
            return;
        };
        match code {
            491 => {
                // Glare: retry after the delay §14.1 prescribes (2.1-4 s if we
                // own the Call-ID, 0-2 s if not, in 10 ms steps).
                let ms = if c.outgoing {
                    2100 + 10 * self.rng.below(191)
                } else {
                    10 * self.rng.below(201)
                };
                if let Some(c) = self.calls.get_mut(&call) {
                    c.glare_offer = Some(out.offer);
                }
                self.arm(
                    Slot::Call(call, CallTimer::GlareRetry),
                    now + Duration::from_millis(ms),
                );
            }
            408 | 481 => {
                self.send_bye(call, now);
                self.end(
                    call,
                    EndReason::Failed(Failure::from_status(code, &response.reason)),
                    now,
                );
            }
            _ => {
                if !out.refresh {
                    self.events.push_back(Event::ReofferFailed {
                        call,
                        failure: Failure::from_status(code, &response.reason),
                    });
                }
            }
        }
    }

    /// A response matching no transaction: a 2xx to an INVITE whose
    /// transaction is gone is a retransmission or a late fork; ACK it.
    fn on_stray_response(&mut self, from: Flow<A>, response: Response, now: Time) {
        let _ = from;
        let is_invite_2xx = response.status.is_success()
            && cseq_of(&response.headers).is_some_and(|c: CSeq| c.method == Method::Invite);
        if !is_invite_2xx {
            self.stats.stray += 1;
            return;
        }
        let call_id = call_id_of(&response.headers).unwrap_or_default();
        let local = tag_of::<From>(&response.headers).unwrap_or_default();
        let found = self
            .calls
            .iter()
            .find(|(_, c)| c.outgoing && c.sip_call_id == call_id && c.local_tag == local)
            .map(|(id, c)| (*id, c.invite.clone()));
        match found {
            Some((call, Some(invite))) => self.on_invite_2xx(call, invite, response, now),
            _ => self.stats.stray += 1,
        }
    }

    fn on_register_response(&mut self, id: RegistrationId, response: Response, now: Time) {
        let code = response.status.code();
        let Some(reg) = self.regs.get_mut(&id) else {
            return;
        };
        reg.txn = None;
        if code < 300 {
            reg.auth_tries = 0;
            let mut granted = reg.expires;
            if let Some(Ok(e)) = response.headers.typed::<sipx_sip::headers::Expires>() {
                granted = e.0;
            }
            for contact in response
                .headers
                .typed_all::<sipx_sip::headers::Contact>()
                .flatten()
            {
                if let Some(v) = contact.param("expires") {
                    if let Some(e) = std::str::from_utf8(v)
                        .ok()
                        .and_then(|s| s.parse::<u32>().ok())
                    {
                        granted = e;
                    }
                }
            }
            if reg.expires == 0 {
                granted = 0;
            }
            self.events.push_back(Event::Registered {
                id,
                expires: granted,
            });
            if granted == 0 {
                self.regs.remove(&id);
            } else {
                let half = Duration::from_secs(u64::from(granted.max(2)) / 2);
                self.arm(Slot::Register(id), now + half);
            }
            return;
        }
        if (code == 401 || code == 407) && reg.auth_tries == 0 {
            reg.auth_tries += 1;
            let registrar = reg.registrar.clone();
            let probe = Request::new(Method::Register, registrar);
            if let Some(auth) = self.authorization(&response, &probe) {
                self.send_register(id, Some(auth), now);
                return;
            }
        }
        self.regs.remove(&id);
        self.events.push_back(Event::RegistrationFailed {
            id,
            failure: Failure::from_status(code, &response.reason),
        });
    }

    /// An Authorization / Proxy-Authorization for a challenge, if digest is
    /// built in and we have credentials.
    #[cfg(feature = "digest")]
    fn authorization(
        &mut self,
        response: &Response,
        request: &Request,
    ) -> Option<(HeaderName, String)> {
        let creds = self.config.credentials.clone()?;
        self.nonce_count = self.nonce_count.wrapping_add(1);
        let cnonce = self.rng.hex(16);
        crate::auth::authorize(response, request, &creds, self.nonce_count, &cnonce)
    }

    #[cfg(not(feature = "digest"))]
    fn authorization(
        &mut self,
        _response: &Response,
        _request: &Request,
    ) -> Option<(HeaderName, String)> {
        None
    }
}

/// A CANCEL for `invite` (RFC 3261 §9.1): its Request-URI, top Via (same
/// branch), From, To, Call-ID, Route and CSeq number.
fn build_cancel(invite: &Request) -> Option<Request> {
    let mut b = RequestBuilder::new(Method::Cancel, invite.uri.clone());
    let via = invite.headers.get(&HeaderName::Via)?.value().to_vec();
    b = b.header(HeaderName::Via, via).ok()?;
    b = b.max_forwards(70);
    for name in [HeaderName::From, HeaderName::To, HeaderName::CallId] {
        let v = invite.headers.get(&name)?.value().to_vec();
        b = b.header(name, v).ok()?;
    }
    for route in invite.headers.get_all(&HeaderName::Route) {
        b = b.header(HeaderName::Route, route.value().to_vec()).ok()?;
    }
    let seq = cseq_of(&invite.headers)?.sequence;
    Some(b.cseq(seq, &Method::Cancel).ok()?.build())
}

impl<A> Call<A> {
    #[allow(dead_code)]
    fn dialog_id(&self) -> Option<&DialogId> {
        self.dialog.as_ref().map(|d| &d.id)
    }
}
