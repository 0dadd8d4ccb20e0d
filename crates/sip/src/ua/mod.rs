//! The user agent: calls, out-of-dialog requests and registrations over the
//! sipx-sip transaction layer, driven by inputs with `now` and drained of
//! transmits, events and one timeout.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use sipx_sip::headers::{CSeq, From, To};
#[cfg(feature = "session-timer")]
use sipx_sip::session::{self, SessionExpires};
use sipx_sip::transaction::{Dispatch, Output, TuEvent};
use sipx_sip::{
    HeaderName, Message, Method, Request, RequestBuilder, Response, StreamParser, Timer,
    TransactionKey, TransactionLayer, Uri,
};

mod call;
mod commands;
mod incoming;
#[cfg(feature = "register")]
mod registration;
mod responses;
#[cfg(feature = "session-timer")]
mod session_timer;

pub use crate::config::Config;
use crate::dialog::{call_id_of, cseq_of, tag_of, Dialog, DialogState};
pub use crate::event::{Event, Stats};
use crate::failure::{EndReason, Failure, LocalError};
#[cfg(feature = "register")]
use crate::ids::RegistrationId;
use crate::ids::{CallId, TransactionId};
use crate::msg::{self, add_header, response_to, set_body};
use crate::rng::Rng;
use crate::table::Table;
use crate::time::Time;
use crate::transport::{Flow, Transmit, Transport};

/// What the user agent advertises in `Allow`.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE";

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
    #[cfg(feature = "register")]
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
    #[cfg(feature = "session-timer")]
    Session,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    Txn(u64, u8),
    Call(CallId, CallTimer),
    #[cfg(feature = "register")]
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
    /// The ACK for the last re-INVITE's 2xx (its CSeq), likewise.
    reinvite_ack: Option<(u32, Bytes)>,
    auth_tries: u8,
    // UAS
    server_invite: Option<u64>,
    invite_request: Option<Request>,
    #[cfg(feature = "session-timer")]
    session_answer: Option<session::Accepted>,
    // both
    dialog: Option<Dialog>,
    local_sdp: Option<Bytes>,
    remote_sdp: Option<Bytes>,
    pending_2xx: Option<Pending2xx>,
    reinvite_out: Option<ReinviteOut>,
    reinvite_in: Option<ReinviteIn>,
    glare_offer: Option<Bytes>,
    #[cfg(feature = "session-timer")]
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
            reinvite_ack: None,
            auth_tries: 0,
            server_invite: None,
            invite_request: None,
            #[cfg(feature = "session-timer")]
            session_answer: None,
            dialog: None,
            local_sdp: None,
            remote_sdp: None,
            pending_2xx: None,
            reinvite_out: None,
            reinvite_in: None,
            glare_offer: None,
            #[cfg(feature = "session-timer")]
            session: None,
        }
    }
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
    txns: Table<u64, Txn<A>>,
    by_key: Table<Vec<u8>, u64>,
    next_txn: u64,
    /// Deadlines in firing order (the value is unused).
    timers: Table<(Time, Slot), ()>,
    armed: Table<Slot, Time>,
    calls: Table<CallId, Call<A>>,
    next_call: u64,
    next_request: u64,
    #[cfg(feature = "register")]
    regs: Table<RegistrationId, registration::Registration<A>>,
    streams: Table<Flow<A>, StreamParser>,
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

/// `<uri>`: a URI as an address header value.
fn angle(uri: &str) -> String {
    let mut out = String::with_capacity(uri.len() + 2);
    out.push('<');
    out.push_str(uri);
    out.push('>');
    out
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
            txns: Table::default(),
            by_key: Table::default(),
            next_txn: 0,
            timers: Table::default(),
            armed: Table::default(),
            calls: Table::default(),
            next_call: 1,
            next_request: 1,
            #[cfg(feature = "register")]
            regs: Table::default(),
            streams: Table::default(),
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
        self.timers.first().map(|((t, _), ())| *t)
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
        self.timers.insert((at, slot), ());
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
            #[cfg(feature = "session-timer")]
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
            let Some(&((at, slot), ())) = self.timers.first() else {
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
                #[cfg(feature = "register")]
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

    // Headers are put together with `push_str` rather than `format!`: this
    // runs in the browser tab's WebAssembly, where each `format!` call site
    // costs code for its arguments.
    fn via(&mut self, transport: Transport) -> String {
        let mut out = String::from("SIP/2.0/");
        out.push_str(transport.via_token());
        out.push(' ');
        out.push_str(&self.config.via_host);
        out.push_str(";branch=z9hG4bK");
        out.push_str(&self.rng.hex(16));
        out.push_str(";rport");
        out
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
        angle(&self.config.contact)
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
            .header(HeaderName::To, angle(to))
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
            let mut id = self.rng.hex(20);
            id.push('@');
            id.push_str(&host);
            id
        }
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
