//! The back-to-back user agent: each call from a chordphone caller (its
//! SIP proven by the overlay's seal) is paired with a call to a trunk.
//! Two user agents, one per side; nothing of one side's dialog crosses to
//! the other but the SDP (through the media bridge) and the outcome.
//!
//! The caller side's user agent speaks SIP over the overlay (reliable, no
//! retransmissions); each trunk has its own user agent (its credentials,
//! registration and keepalives, see [`Trunk`]).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use chordphone_sip::sipx_sip::Timers;
use chordphone_sip::{
    CallId, Config, EndReason, Event, Failure, Flow, Time, Transmit, Transport, UserAgent,
};

use crate::config::{ConfigError, GatewayConfig};
use crate::dialplan::{DialError, DialPlan};
use crate::limits::Limits;
use crate::media::{Media, MediaCall, OutboundMedia};
use crate::sdp::{direction, with_direction};
use crate::stats::{Refusal, Stats};
use crate::trunk::{next_trunk, Change, Trunk, TrunkState};
use crate::words::{failure_words, NO_LINE};

/// Most events waiting to be polled; older ones are dropped beyond this.
pub const MAX_EVENTS: usize = 1024;

/// One gateway call (the id the bridge sees too).
pub type GatewayCall = u64;

/// What the gateway tells the shell (for its log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GatewayEvent {
    /// A call was refused before any trunk saw it.
    Refused {
        /// The proven caller, if any.
        identity: Option<String>,
        /// Why (counted in [`Stats`]).
        why: Refusal,
        /// What the caller is told.
        words: &'static str,
    },
    /// A call went to a trunk.
    Calling {
        /// The call.
        call: GatewayCall,
        /// The caller.
        identity: String,
        /// The E.164 number.
        number: String,
        /// The trunk's name.
        trunk: String,
    },
    /// A trunk failed the call; it goes to the next one.
    Failover {
        /// The call.
        call: GatewayCall,
        /// The trunk that failed it.
        from: String,
        /// The trunk tried next.
        to: String,
    },
    /// The far end answered.
    Answered {
        /// The call.
        call: GatewayCall,
    },
    /// The call is over.
    Ended {
        /// The call.
        call: GatewayCall,
        /// Why, for the person, if it failed (`None`: someone hung up).
        words: Option<&'static str>,
    },
    /// A trunk answered again (or for the first time).
    TrunkUp {
        /// Its name.
        trunk: String,
    },
    /// A trunk stopped answering.
    TrunkDown {
        /// Its name.
        trunk: String,
    },
}

/// A call that passed every check.
struct Admitted {
    identity: String,
    number: String,
    media: OutboundMedia,
    budget: Option<Duration>,
}

/// Why a call is refused: the proven caller (if any), the counted reason,
/// and the failure the caller is answered with.
struct Refused(Option<String>, Refusal, Failure);

/// One call through the gateway.
#[derive(Debug)]
struct Call {
    caller: CallId,
    identity: String,
    number: String,
    /// The trunk leg now: trunk index and its call.
    trunk: Option<(usize, CallId)>,
    tried: Vec<usize>,
    rtp_offer: Bytes,
    webrtc_answer: Bytes,
    /// The trunk's SDP answer has been given to the bridge.
    rtp_answered: bool,
    answered: Option<Time>,
    /// Longest the call may last once answered (the caller's minutes left).
    budget: Option<Duration>,
    /// A hold or resume from the caller, waiting for the trunk's answer.
    hold_pending: bool,
}

/// The gateway core: a B2BUA between overlay callers (`P`: how the shell
/// names a node) and SIP trunks (`T`: how the shell names a trunk's
/// address). See the crate doc for the run loop.
pub struct Gateway<P, T> {
    plan: DialPlan,
    limits: Limits,
    callers: UserAgent<P>,
    trunks: Vec<Trunk<T>>,
    media: Option<Box<dyn Media + Send>>,
    calls: BTreeMap<GatewayCall, Call>,
    by_caller: BTreeMap<CallId, GatewayCall>,
    by_trunk: BTreeMap<(usize, CallId), GatewayCall>,
    next_call: GatewayCall,
    max_calls: usize,
    /// The proven identity of the input being handled (`Some(None)`: not proven).
    origin: Option<Option<String>>,
    events: VecDeque<GatewayEvent>,
    stats: Stats,
}

impl<P, T> core::fmt::Debug for Gateway<P, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Gateway")
            .field("calls", &self.calls.len())
            .field("trunks", &self.trunks.len())
            .field("media", &self.media.is_some())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<P: Clone + Ord + core::fmt::Debug, T: Clone + Ord + core::fmt::Debug> Gateway<P, T> {
    /// A gateway with `config`, known in the overlay as `aor`
    /// (`sip:pstn-gateway@chordphone`), whose trunk-side socket is `local`
    /// (`host:port`), reaching trunk `i` of the configuration at
    /// `trunk_addrs[i]`. Without [`set_media`](Self::set_media) it refuses
    /// every call with 503: it does not pretend to carry audio.
    pub fn new(
        config: GatewayConfig,
        aor: &str,
        local: &str,
        trunk_addrs: Vec<T>,
        seed: u64,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        if trunk_addrs.len() != config.trunk.len() {
            return Err(ConfigError::NoTrunk);
        }
        let t1 = Duration::from_millis(config.t1_ms);
        let trunks = config
            .trunk
            .iter()
            .cloned()
            .zip(trunk_addrs)
            .enumerate()
            .map(|(i, (c, addr))| Trunk::new(c, addr, local, t1, seed ^ (i as u64 + 1)))
            .collect();
        let mut caller_config = Config::new(aor, aor, "gateway.invalid");
        caller_config.max_calls = config.max_calls;
        caller_config.timers = Timers {
            t1,
            ..Timers::default()
        };
        Ok(Gateway {
            plan: DialPlan::new(config.dial_plan.clone()),
            limits: Limits::new(config.limits.clone()),
            callers: UserAgent::new(caller_config, seed.rotate_left(17)),
            trunks,
            media: None,
            calls: BTreeMap::new(),
            by_caller: BTreeMap::new(),
            by_trunk: BTreeMap::new(),
            next_call: 1,
            max_calls: config.max_calls,
            origin: None,
            events: VecDeque::new(),
            stats: Stats::default(),
        })
    }

    /// Connects the media bridge.
    pub fn set_media(&mut self, media: Box<dyn Media + Send>) {
        self.media = Some(media);
    }

    /// Registers with the trunks that want it and starts the keepalives.
    pub fn start(&mut self, now: Time) {
        for t in &mut self.trunks {
            t.start(now);
        }
        self.drain(now);
    }

    /// SIP from a chordphone caller, opened by the overlay's seal. `caller`
    /// is the AOR the gate proved (claim, user signature, node key), `None`
    /// if the sender is not a registered, signed identity: its calls are
    /// refused with 403 and counted.
    pub fn handle_caller(&mut self, from: P, caller: Option<&str>, sip: &[u8], now: Time) {
        self.origin = Some(caller.map(str::to_owned));
        self.callers
            .handle_input(Flow::new(Transport::Overlay, from), sip, now);
        self.drain(now);
        self.origin = None;
    }

    /// A datagram (or a framed stream message) from a trunk's address.
    /// Bytes from any other address are counted and dropped.
    pub fn handle_trunk(&mut self, from: T, bytes: &[u8], now: Time) {
        match self.trunks.iter_mut().find(|t| t.addr == from) {
            Some(t) => {
                let flow = t.flow();
                t.ua.handle_input(flow, bytes, now);
            }
            None => self.stats.stray += 1,
        }
        self.drain(now);
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due.
    pub fn poll_timeout(&self) -> Option<Time> {
        let deadlines = self.calls.values().filter_map(deadline);
        self.trunks
            .iter()
            .filter_map(Trunk::poll_timeout)
            .chain(self.callers.poll_timeout())
            .chain(deadlines)
            .min()
    }

    /// Timers: retransmissions, keepalives, and calls out of minutes.
    pub fn handle_timeout(&mut self, now: Time) {
        self.callers.handle_timeout(now);
        for t in &mut self.trunks {
            t.handle_timeout(now);
        }
        let due: Vec<GatewayCall> = self
            .calls
            .iter()
            .filter(|(_, c)| deadline(c).is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.stats.minutes_cut += 1;
            self.hang_up_both(id, now);
            self.finish(
                id,
                Some("Your minutes to the phone network for today are used up"),
                now,
            );
        }
        self.drain(now);
    }

    /// SIP to send to a caller (the shell seals it to the node).
    pub fn poll_caller_transmit(&mut self) -> Option<Transmit<P>> {
        self.callers.poll_transmit()
    }

    /// SIP to send to a trunk.
    pub fn poll_trunk_transmit(&mut self) -> Option<Transmit<T>> {
        self.trunks.iter_mut().find_map(|t| t.ua.poll_transmit())
    }

    /// What happened, for the log.
    pub fn poll_event(&mut self) -> Option<GatewayEvent> {
        self.events.pop_front()
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The trunks' names and states, in configuration order.
    pub fn trunk_states(&self) -> Vec<(&str, TrunkState)> {
        self.trunks.iter().map(|t| (t.name(), t.state())).collect()
    }

    /// The media bridge lost the call's audio (ICE or DTLS with the tab
    /// gave up): both legs end, an answered call with BYE, a ringing one
    /// with CANCEL towards the trunk and 500 towards the caller.
    pub fn media_failed(&mut self, call: MediaCall, now: Time) {
        let id = call.0;
        let Some(c) = self.calls.get(&id) else {
            return;
        };
        self.stats.media_failed += 1;
        if c.answered.is_some() {
            self.hang_up_both(id, now);
        } else {
            if let Some((i, tc)) = c.trunk {
                let _ = self.trunks[i].ua.hangup(tc, now);
            }
            self.stats.failed += 1;
            let _ = self
                .callers
                .reject(c.caller, Failure::ServerError { code: 500 }, now);
        }
        self.finish(id, Some(MEDIA_FAILED), now);
        self.drain(now);
    }

    /// Calls in progress.
    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    fn emit(&mut self, e: GatewayEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(e);
    }

    /// Handles what both sides' user agents report until neither has more.
    fn drain(&mut self, now: Time) {
        loop {
            let mut progress = false;
            while let Some(e) = self.callers.poll_event() {
                progress = true;
                self.on_caller(e, now);
            }
            for i in 0..self.trunks.len() {
                while let Some(e) = self.trunks[i].ua.poll_event() {
                    progress = true;
                    let (rest, change) = self.trunks[i].filter_event(e, now);
                    self.trunk_changed(i, change);
                    if let Some(e) = rest {
                        self.on_trunk(i, e, now);
                    }
                }
            }
            if !progress {
                return;
            }
        }
    }

    fn trunk_changed(&mut self, i: usize, change: Option<Change>) {
        let trunk = self.trunks[i].name().to_owned();
        match change {
            Some(Change::Up) => {
                self.stats.trunk_up += 1;
                self.emit(GatewayEvent::TrunkUp { trunk });
            }
            Some(Change::Down) => {
                self.stats.trunk_down += 1;
                self.emit(GatewayEvent::TrunkDown { trunk });
            }
            None => {}
        }
    }

    fn on_caller(&mut self, e: Event, now: Time) {
        match e {
            Event::Incoming {
                call,
                from,
                to,
                offer,
                ..
            } => self.incoming(call, &from, &to, offer, now),
            Event::Reoffer { call, offer } => self.caller_reoffer(call, &offer, now),
            Event::Ended { call, .. } => {
                if let Some(id) = self.by_caller.get(&call).copied() {
                    // CANCEL before the trunk answered, BYE after.
                    if let Some((i, tc)) = self.calls.get(&id).and_then(|c| c.trunk) {
                        let _ = self.trunks[i].ua.hangup(tc, now);
                    }
                    self.finish(id, None, now);
                }
            }
            // Connected (the caller's ACK), MESSAGE, OPTIONS answers: nothing to pass on.
            _ => {}
        }
    }

    /// A caller's INVITE: every check before any trunk sees it, then the
    /// first trunk.
    fn incoming(&mut self, cc: CallId, from: &str, to: &str, offer: Option<Bytes>, now: Time) {
        let id = self.next_call;
        let admitted = match self.admit(id, from, to, offer, now) {
            Ok(a) => a,
            Err(Refused(identity, why, failure)) => {
                return self.refuse(cc, identity, why, failure, now)
            }
        };
        self.next_call += 1;
        self.calls.insert(
            id,
            Call {
                caller: cc,
                identity: admitted.identity,
                number: admitted.number,
                trunk: None,
                tried: Vec::new(),
                rtp_offer: Bytes::from(admitted.media.rtp_offer),
                webrtc_answer: Bytes::from(admitted.media.webrtc_answer),
                rtp_answered: false,
                answered: None,
                budget: admitted.budget,
                hold_pending: false,
            },
        );
        self.by_caller.insert(cc, id);
        self.stats.calls_out += 1;
        if !self.try_next_trunk(id, now) {
            self.fail_caller(id, Failure::ServerError { code: 503 }, now);
        }
    }

    /// The checks, in order: a proven identity that is the SIP From, the
    /// dial plan, room, a trunk, the bridge's media, the caller's limits.
    fn admit(
        &mut self,
        id: GatewayCall,
        from: &str,
        to: &str,
        offer: Option<Bytes>,
        now: Time,
    ) -> Result<Admitted, Refused> {
        let no_line = Failure::ServerError { code: 503 };
        let Some(identity) = self.origin.clone().flatten() else {
            return Err(Refused(None, Refusal::Unregistered, Failure::Unauthorized));
        };
        let refused = |why, f| Refused(Some(identity.clone()), why, f);
        if uri_of(from) != identity {
            return Err(refused(Refusal::WrongIdentity, Failure::Unauthorized));
        }
        let number = match self.plan.route(to) {
            Ok(n) => n.as_str().to_owned(),
            Err(DialError::Forbidden) => {
                return Err(refused(
                    Refusal::ForbiddenDestination,
                    Failure::Unauthorized,
                ))
            }
            Err(_) => return Err(refused(Refusal::NotANumber, Failure::NotFound)),
        };
        if self.calls.len() >= self.max_calls {
            return Err(refused(Refusal::Full, no_line));
        }
        if next_trunk(&self.trunks, &[]).is_none() {
            return Err(refused(Refusal::NoTrunk, no_line));
        }
        let (Some(offer), Some(_)) = (offer, self.media.as_ref()) else {
            // No bridge: no line. No offer: nothing the bridge could carry.
            return Err(refused(Refusal::NoMedia, no_line));
        };
        let budget = self
            .limits
            .admit(&identity, now)
            .map_err(|hit| refused(Refusal::Limit(hit), Failure::Unauthorized))?;
        let webrtc_offer = String::from_utf8_lossy(&offer);
        let media = self
            .media
            .as_mut()
            .map(|m| m.outbound(MediaCall(id), &webrtc_offer, now));
        let Some(Ok(media)) = media else {
            self.limits.end(&identity, Duration::ZERO, now);
            return Err(refused(Refusal::NoMedia, Failure::Incompatible));
        };
        Ok(Admitted {
            identity,
            number,
            media,
            budget,
        })
    }

    /// Refuses a caller's INVITE before anything was set up.
    fn refuse(
        &mut self,
        cc: CallId,
        identity: Option<String>,
        why: Refusal,
        f: Failure,
        now: Time,
    ) {
        self.stats.count_refusal(why);
        let words = match why {
            Refusal::Unregistered | Refusal::WrongIdentity => {
                "Only registered chordphone names may call the phone network"
            }
            Refusal::NotANumber => "That is not a phone number",
            Refusal::ForbiddenDestination => "Calls to that number are not allowed",
            Refusal::Limit(hit) => hit.why(),
            Refusal::NoMedia | Refusal::NoTrunk | Refusal::Full => NO_LINE,
        };
        let _ = self.callers.reject(cc, f, now);
        self.emit(GatewayEvent::Refused {
            identity,
            why,
            words,
        });
    }

    /// Sends the call's INVITE to the next trunk in failover order; false
    /// if none is left.
    fn try_next_trunk(&mut self, id: GatewayCall, now: Time) -> bool {
        let Some(call) = self.calls.get_mut(&id) else {
            return false;
        };
        while let Some(i) = next_trunk(&self.trunks, &call.tried) {
            call.tried.push(i);
            let t = &mut self.trunks[i];
            let target = t.target(&call.number);
            let flow = t.flow();
            if let Ok(tc) =
                t.ua.invite(&target, flow, Some(call.rtp_offer.clone()), now)
            {
                call.trunk = Some((i, tc));
                self.by_trunk.insert((i, tc), id);
                let e = GatewayEvent::Calling {
                    call: id,
                    identity: call.identity.clone(),
                    number: call.number.clone(),
                    trunk: t.name().to_owned(),
                };
                self.emit(e);
                return true;
            }
        }
        false
    }

    fn on_trunk(&mut self, i: usize, e: Event, now: Time) {
        let key = match &e {
            Event::Progress { call, .. }
            | Event::Answered { call, .. }
            | Event::Ended { call, .. }
            | Event::Reoffer { call, .. }
            | Event::MediaChanged { call, .. }
            | Event::ReofferFailed { call, .. } => (i, *call),
            // Incoming calls from trunks (DIDs) are the next stage: the
            // trunk's user agent refuses them by its own rules meanwhile.
            Event::Incoming { call, .. } => {
                let _ = self.trunks[i].ua.reject(*call, Failure::NotFound, now);
                return;
            }
            _ => return,
        };
        let Some(id) = self.by_trunk.get(&key).copied() else {
            return;
        };
        match e {
            Event::Progress { code, body, .. } => {
                let change = self.trunks[i].set(true);
                self.trunk_changed(i, change);
                let early = body.is_some();
                if let Some(sdp) = body {
                    self.give_rtp_answer(id, &sdp, now);
                }
                let Some(call) = self.calls.get(&id) else {
                    return;
                };
                let cc = call.caller;
                let early_media = (early || code == 183).then(|| call.webrtc_answer.clone());
                let _ = self.callers.ring(cc, early_media, now);
            }
            Event::Answered { answer, .. } => {
                let change = self.trunks[i].set(true);
                self.trunk_changed(i, change);
                if let Some(sdp) = answer {
                    self.give_rtp_answer(id, &sdp, now);
                }
                let Some(call) = self.calls.get_mut(&id) else {
                    return;
                };
                call.answered = Some(now);
                let (cc, sdp) = (call.caller, call.webrtc_answer.clone());
                self.stats.answered += 1;
                if self.callers.answer(cc, sdp, now).is_err() {
                    // The caller gave up as the trunk answered.
                    let _ = self.trunks[i].ua.hangup(key.1, now);
                    self.finish(id, None, now);
                } else {
                    self.emit(GatewayEvent::Answered { call: id });
                }
            }
            Event::Ended { reason, .. } => self.trunk_ended(id, i, reason, now),
            Event::Reoffer { offer, .. } => self.trunk_reoffer(id, key, &offer, now),
            Event::MediaChanged { answer, .. } => {
                let Some(call) = self.calls.get_mut(&id) else {
                    return;
                };
                if std::mem::take(&mut call.hold_pending) {
                    let dir = direction(&String::from_utf8_lossy(&answer));
                    let sdp = with_direction(&String::from_utf8_lossy(&call.webrtc_answer), dir);
                    call.webrtc_answer = Bytes::from(sdp.clone());
                    let cc = call.caller;
                    let _ = self.callers.accept_reoffer(cc, Bytes::from(sdp), now);
                }
            }
            Event::ReofferFailed { .. } => {
                if let Some(call) = self.calls.get_mut(&id) {
                    if std::mem::take(&mut call.hold_pending) {
                        let cc = call.caller;
                        let _ = self.callers.reject_reoffer(cc, now);
                    }
                }
            }
            _ => {}
        }
    }

    fn give_rtp_answer(&mut self, id: GatewayCall, sdp: &[u8], now: Time) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.rtp_answered {
            return;
        }
        call.rtp_answered = true;
        if let Some(m) = self.media.as_mut() {
            // A refused answer leaves the call silent; the bridge reports
            // that leg as failed on its own side.
            let _ = m.rtp_answer(MediaCall(id), &String::from_utf8_lossy(sdp), now);
        }
    }

    /// The trunk leg ended: fail over, or end the caller's leg.
    fn trunk_ended(&mut self, id: GatewayCall, i: usize, reason: EndReason, now: Time) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if let Some(key) = call.trunk.take() {
            self.by_trunk.remove(&key);
        }
        if call.answered.is_some() {
            // BYE from the network: pass it on.
            let cc = call.caller;
            let _ = self.callers.hangup(cc, now);
            return self.finish(id, None, now);
        }
        let failure = match reason {
            EndReason::Failed(f) => f,
            EndReason::LocalHangup | EndReason::RemoteHangup => Failure::Cancelled,
        };
        let no_answer = failure == Failure::Unreachable;
        if no_answer {
            let change = self.trunks[i].set(false);
            self.trunk_changed(i, change);
        }
        let retry = no_answer || matches!(failure, Failure::ServerError { .. });
        if retry {
            let from = self.trunks[i].name().to_owned();
            if self.try_next_trunk(id, now) {
                self.stats.failovers += 1;
                let to = self
                    .calls
                    .get(&id)
                    .and_then(|c| c.trunk)
                    .map(|(j, _)| self.trunks[j].name().to_owned())
                    .unwrap_or_default();
                self.emit(GatewayEvent::Failover { call: id, from, to });
                return;
            }
        }
        self.fail_caller(id, failure, now);
    }

    /// Ends the caller's ringing leg with the status and words for `f`.
    fn fail_caller(&mut self, id: GatewayCall, f: Failure, now: Time) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        self.stats.failed += 1;
        let words = failure_words(&f);
        let _ = self.callers.reject(call.caller, f, now);
        self.finish(id, Some(words), now);
    }

    /// A caller's re-INVITE (hold or resume): to the bridge, then on to the trunk.
    fn caller_reoffer(&mut self, cc: CallId, offer: &[u8], now: Time) {
        let Some(id) = self.by_caller.get(&cc).copied() else {
            let _ = self.callers.reject_reoffer(cc, now);
            return;
        };
        let dir = direction(&String::from_utf8_lossy(offer));
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some((i, tc)) = call.trunk.filter(|_| call.answered.is_some()) else {
            let _ = self.callers.reject_reoffer(cc, now);
            return;
        };
        if let Some(m) = self.media.as_mut() {
            m.hold(MediaCall(id), dir.is_hold(), now);
        }
        let sdp = with_direction(&String::from_utf8_lossy(&call.rtp_offer), dir);
        call.rtp_offer = Bytes::from(sdp);
        if self.trunks[i]
            .ua
            .reinvite(tc, call.rtp_offer.clone(), now)
            .is_ok()
        {
            call.hold_pending = true;
        } else {
            let _ = self.callers.reject_reoffer(cc, now);
        }
    }

    /// The trunk holds or resumes: the bridge stops or resumes forwarding,
    /// and we answer the trunk ourselves.
    fn trunk_reoffer(&mut self, id: GatewayCall, key: (usize, CallId), offer: &[u8], now: Time) {
        let dir = direction(&String::from_utf8_lossy(offer));
        if let Some(m) = self.media.as_mut() {
            m.hold(MediaCall(id), dir.is_hold(), now);
        }
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let answer = with_direction(&String::from_utf8_lossy(&call.rtp_offer), dir.answer());
        let _ = self.trunks[key.0]
            .ua
            .accept_reoffer(key.1, Bytes::from(answer), now);
    }

    /// Hangs up both legs (BYE, or CANCEL where the trunk still rings).
    fn hang_up_both(&mut self, id: GatewayCall, now: Time) {
        if let Some(call) = self.calls.get(&id) {
            if let Some((i, tc)) = call.trunk {
                let _ = self.trunks[i].ua.hangup(tc, now);
            }
            let _ = self.callers.hangup(call.caller, now);
        }
    }

    /// Forgets a call: limits, media and the indexes.
    fn finish(&mut self, id: GatewayCall, words: Option<&'static str>, now: Time) {
        let Some(call) = self.calls.remove(&id) else {
            return;
        };
        self.by_caller.remove(&call.caller);
        if let Some(key) = call.trunk {
            self.by_trunk.remove(&key);
        }
        let talked = call
            .answered
            .map_or(Duration::ZERO, |t| now.saturating_since(t));
        self.limits.end(&call.identity, talked, now);
        if let Some(m) = self.media.as_mut() {
            m.close(MediaCall(id));
        }
        self.emit(GatewayEvent::Ended { call: id, words });
    }
}

/// Why a call ended when its media failed.
const MEDIA_FAILED: &str = "The call's audio connection failed";

/// When an answered call runs out of the caller's minutes.
fn deadline(c: &Call) -> Option<Time> {
    Some(c.answered? + c.budget?)
}

/// The URI inside a From or To value (`"Bob" <sip:bob@x>;tag=1` → `sip:bob@x`).
pub(crate) fn uri_of(value: &str) -> &str {
    let v = value.trim();
    match (v.find('<'), v.find('>')) {
        (Some(a), Some(b)) if a < b => &v[a + 1..b],
        _ => v.split(';').next().unwrap_or(v).trim(),
    }
}
