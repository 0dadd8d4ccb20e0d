//! Calls: the commands, forking an outgoing call to every device of the
//! callee, the user agent's events for call legs, and the call timers.

use bytes::Bytes;
use chordphone_overlay::{NodeId, QueryError, RouteError, Time};
use chordphone_sip::{EndReason, Failure, Flow, LocalError, Transport, UserAgent};

use crate::action::{Action, CallId, CallState, Direction, Media, PhoneEvent};
use crate::binding::Device;
use crate::call::{Call, Leg, LegEnd, Wait};
use crate::error::PhoneError;
use crate::lookup::{Found, Purpose};
use crate::names::{name_of, parse_target};
use crate::numbers::{is_number_aor, number_aor, number_failure_words, NO_LINE};
use crate::phone::{sip_time, Phone, KEEP_ENDED, MAX_CALLS, MAX_CALL_ENTRIES};
use crate::sipmsg::{offers_hold, ANSWERED_ELSEWHERE, DECLINED_ELSEWHERE};

impl Phone {
    /// Calls `target` (`bob`, `sip:bob@chordphone`): asks the shell for an
    /// offer at once ([`Media::Offer`]) and looks the name up meanwhile;
    /// every device of the callee is rung once both are ready.
    ///
    /// A telephone number (`+15551234567`, `tel:`...) goes to a gateway
    /// instead (see `numbers`).
    pub fn call(&mut self, target: &str, now: Time) -> Result<CallId, PhoneError> {
        let number = number_aor(target, &self.config.overlay_name);
        let aor = match &number {
            Some(n) => n.clone(),
            None => parse_target(target, &self.config.overlay_name)?,
        };
        if self.aor().is_none() {
            return Err(PhoneError::NotRegistered);
        }
        if self.live_calls() >= MAX_CALLS {
            return Err(PhoneError::TooManyCalls);
        }
        let id = self.new_call_id();
        if number.is_some() {
            self.start_gateway_lookup(id);
        } else {
            self.start_lookup(&aor, Purpose::Call(id))?;
        }
        let mut call = Call::new(id, Direction::Out, aor, now);
        call.wait = Wait::Offer;
        self.insert_call(call);
        self.act(Action::Media(Media::Offer {
            call: id,
            hold: false,
            restart: false,
        }));
        self.changed(id);
        Ok(id)
    }

    /// Answers a call ringing here: the shell gets [`Media::Answer`], and
    /// the 200 goes out with its `local_description`.
    pub fn answer(&mut self, call: CallId, _now: Time) -> Result<(), PhoneError> {
        let c = self.calls.get_mut(&call).ok_or(PhoneError::UnknownCall)?;
        if c.state != CallState::Incoming {
            return Err(PhoneError::WrongState);
        }
        if c.wait != Wait::Idle {
            return Err(PhoneError::MediaPending);
        }
        let offer = c.offer.clone().unwrap_or_default();
        c.wait = Wait::Answer;
        self.act(Action::Media(Media::Answer { call, offer }));
        Ok(())
    }

    /// Refuses a call ringing here: 486 Busy Here while another call is
    /// connected, 603 Decline otherwise.
    pub fn reject(&mut self, call: CallId, now: Time) -> Result<(), PhoneError> {
        let c = self.calls.get(&call).ok_or(PhoneError::UnknownCall)?;
        if c.state != CallState::Incoming {
            return Err(PhoneError::WrongState);
        }
        let busy = self.calls.values().any(|o| o.id != call && o.is_up());
        let (why, text) = if busy {
            (Failure::Busy, "Busy")
        } else {
            (Failure::Declined, "Call declined")
        };
        self.refuse_leg(call, why, now);
        self.end_call(call, text.to_owned(), now);
        self.drain_ua(now);
        Ok(())
    }

    /// Ends a call the way its state needs: CANCEL while ours rings, 603
    /// for one ringing here, BYE once connected.
    pub fn hangup(&mut self, call: CallId, now: Time) -> Result<(), PhoneError> {
        let c = self.calls.get(&call).ok_or(PhoneError::UnknownCall)?;
        let text = match c.state {
            CallState::Ended => return Err(PhoneError::WrongState),
            CallState::Calling | CallState::Ringing => {
                self.cancel_legs(call, None, None, now);
                "Cancelled"
            }
            CallState::Incoming => {
                self.refuse_leg(call, Failure::Declined, now);
                "Call declined"
            }
            CallState::Active | CallState::Held => {
                self.bye(call, now);
                "Hung up"
            }
        };
        self.end_call(call, text.to_owned(), now);
        self.drain_ua(now);
        Ok(())
    }

    /// Puts a connected call on hold: a re-INVITE with a sendonly offer
    /// (the shell makes it on [`Media::Offer`] with `hold: true`).
    pub fn hold(&mut self, call: CallId, now: Time) -> Result<(), PhoneError> {
        self.renegotiate(call, CallState::Active, true, false, now)
    }

    /// Takes a call we hold off hold (a sendrecv re-offer).
    pub fn resume(&mut self, call: CallId, now: Time) -> Result<(), PhoneError> {
        self.renegotiate(call, CallState::Held, false, false, now)
    }

    /// The call's media path broke (a network change, its relay gone):
    /// a re-INVITE with an ICE restart offer (RFC 8445 §2.4) brings it back
    /// without a new call, on hold if it was. Both sides see the path fail
    /// at about the same time and two re-offers at once would refuse each
    /// other, so the shell asks this of the side that placed the call
    /// only, and asks again while the path stays broken.
    pub fn restart_media(&mut self, call: CallId, now: Time) -> Result<(), PhoneError> {
        let state = self.calls.get(&call).ok_or(PhoneError::UnknownCall)?.state;
        self.renegotiate(call, state, state == CallState::Held, true, now)
    }

    /// A re-offer from `from`, putting the call on hold or not, with an
    /// ICE restart or not.
    fn renegotiate(
        &mut self,
        call: CallId,
        from: CallState,
        hold: bool,
        restart: bool,
        _now: Time,
    ) -> Result<(), PhoneError> {
        let c = self.calls.get_mut(&call).ok_or(PhoneError::UnknownCall)?;
        if c.state != from || !matches!(from, CallState::Active | CallState::Held) {
            return Err(PhoneError::WrongState);
        }
        if c.wait != Wait::Idle {
            return Err(PhoneError::MediaPending);
        }
        c.wait = Wait::Reoffer(hold);
        if restart {
            c.restarts = c.restarts.saturating_add(1);
        }
        self.act(Action::Media(Media::Offer {
            call,
            hold,
            restart,
        }));
        Ok(())
    }

    /// The SDP the shell made after [`Media::Offer`] or [`Media::Answer`].
    pub fn local_description(&mut self, call: CallId, sdp: String, now: Time) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if !c.is_live() {
            return;
        }
        let leg = c.winner_leg().map(|l| l.ua);
        let wait = c.wait;
        c.wait = Wait::Idle;
        let t = sip_time(now);
        match (wait, leg) {
            (Wait::Offer, _) => {
                c.offer = Some(sdp);
                self.fork(call, now);
            }
            (Wait::Answer, Some(leg)) => {
                let ok = self.with_ua(|ua| ua.answer(leg, Bytes::from(sdp), t));
                if ok {
                    if let Some(c) = self.calls.get_mut(&call) {
                        c.state = CallState::Active;
                        c.answered = Some(now);
                    }
                    self.changed(call);
                } else {
                    self.end_call(call, "The call could not be answered".to_owned(), now);
                }
            }
            (Wait::Reoffer(hold), Some(leg)) => {
                let ok = self.with_ua(|ua| ua.reinvite(leg, Bytes::from(sdp), t));
                if ok {
                    if let Some(c) = self.calls.get_mut(&call) {
                        c.wait = Wait::ReofferSent(hold);
                    }
                }
            }
            (Wait::ReofferAnswer(hold), Some(leg)) => {
                let ok = self.with_ua(|ua| ua.accept_reoffer(leg, Bytes::from(sdp), t));
                if ok {
                    if let Some(c) = self.calls.get_mut(&call) {
                        c.held_by_peer = hold;
                    }
                    self.changed(call);
                }
            }
            // Nothing asked for (or the step is gone): keep what was waited for.
            (other, _) => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.wait = other;
                }
            }
        }
        self.drain_ua(now);
    }

    /// The shell could not make or apply media: the call ends with `reason`.
    pub fn media_failed(&mut self, call: CallId, reason: String, now: Time) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        match c.state {
            CallState::Ended => return,
            CallState::Calling | CallState::Ringing => self.cancel_legs(call, None, None, now),
            CallState::Incoming => self.refuse_leg(call, Failure::Incompatible, now),
            CallState::Active | CallState::Held => self.bye(call, now),
        }
        self.end_call(call, reason, now);
        self.drain_ua(now);
    }

    // ------------------------------------------------------------ outgoing

    pub(crate) fn call_found(&mut self, call: CallId, found: Found, now: Time) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if !c.is_dialing() {
            return;
        }
        let name = name_of(&c.peer).to_owned();
        match found {
            Found::NotRegistered | Found::Offline(_) => {
                self.end_call(call, format!("{name} is not registered"), now)
            }
            Found::NoRoute(e) => {
                self.end_call(call, format!("Could not look {name} up ({e})"), now)
            }
            Found::Devices(devices, _) => {
                c.devices = Some(devices);
                if c.offer.is_some() {
                    self.fork(call, now);
                }
            }
        }
    }

    /// Rings every device found, once the offer is there too: one user
    /// agent call each, the same offer, each sealed to its device.
    pub(crate) fn fork(&mut self, call: CallId, now: Time) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let (Some(devices), true) = (c.devices.clone(), c.offer.is_some()) else {
            return;
        };
        if !c.legs.is_empty() {
            return;
        }
        c.devices = None;
        for d in devices {
            if !self.ring_device(call, d, now) && self.ua.is_none() {
                return;
            }
        }
        let none = self.calls.get(&call).is_some_and(|c| c.legs.is_empty());
        if none {
            self.end_call(call, "The call could not be placed".to_owned(), now);
        }
    }

    /// Sends the call's INVITE to one device (a new leg); whether it went.
    pub(crate) fn ring_device(&mut self, call: CallId, d: Device, now: Time) -> bool {
        let Some(c) = self.calls.get(&call) else {
            return false;
        };
        let (Some(offer), aor) = (c.offer.clone(), c.peer.clone()) else {
            return false;
        };
        self.learn_key(d.node, d.node_key);
        let flow = Flow::new(Transport::Overlay, d.node);
        let Some(ua) = self.ua.as_mut() else {
            return false;
        };
        let Ok(leg) = ua.invite(&aor, flow, Some(Bytes::from(offer)), sip_time(now)) else {
            return false;
        };
        self.legs.insert(leg, call);
        if let Some(c) = self.calls.get_mut(&call) {
            c.legs.push(Leg {
                ua: leg,
                node: d.node,
                sip_call_id: None,
                failed: None,
            });
            c.held.insert(d.node);
        }
        self.act(Action::Hold(d.node));
        // The INVITE goes out now; its Call-ID ties a failed delivery
        // back to this leg.
        let sent = self.flush_transmits(now);
        let call_id = sent.into_iter().find(|s| s.invite).map(|s| s.call_id);
        if let Some(c) = self.calls.get_mut(&call) {
            if let Some(l) = c.legs.last_mut() {
                l.sip_call_id = call_id;
            }
        }
        true
    }

    /// Stops every leg of an outgoing call but `keep` (CANCEL, or BYE for
    /// one that answered meanwhile). Legs stopped because the call was
    /// settled on another device say so in their CANCEL (`cause`), and
    /// their links go at once.
    fn cancel_legs(&mut self, call: CallId, keep: Option<usize>, cause: Option<u16>, now: Time) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let mut stop = Vec::new();
        for (i, l) in c.legs.iter().enumerate() {
            if Some(i) != keep && l.failed.is_none() {
                stop.push((l.ua, l.node, l.sip_call_id.clone()));
            }
        }
        for (ua_call, node, sip_call_id) in stop {
            if let Some(cause) = cause {
                if let Some(id) = sip_call_id {
                    self.elsewhere.insert(id, cause);
                }
                if let Some(c) = self.calls.get_mut(&call) {
                    c.held.remove(&node);
                }
                self.act(Action::Release(node));
            }
            self.with_ua(|ua| ua.hangup(ua_call, sip_time(now)));
        }
    }

    /// Runs a user agent command; whether it applied. Commands that
    /// cannot apply (the leg already ended) change nothing.
    pub(crate) fn with_ua(
        &mut self,
        f: impl FnOnce(&mut UserAgent<NodeId>) -> Result<(), LocalError>,
    ) -> bool {
        self.ua.as_mut().is_some_and(|ua| f(ua).is_ok())
    }

    /// Runs a user agent command on the leg that carries `call`.
    fn on_winner(
        &mut self,
        call: CallId,
        f: impl FnOnce(&mut UserAgent<NodeId>, chordphone_sip::CallId) -> Result<(), LocalError>,
    ) {
        let leg = self
            .calls
            .get(&call)
            .and_then(|c| c.winner_leg())
            .map(|l| l.ua);
        if let Some(leg) = leg {
            self.with_ua(|ua| f(ua, leg));
        }
    }

    fn bye(&mut self, call: CallId, now: Time) {
        self.on_winner(call, |ua, leg| ua.hangup(leg, sip_time(now)));
    }

    fn refuse_leg(&mut self, call: CallId, why: Failure, now: Time) {
        self.on_winner(call, |ua, leg| ua.reject(leg, why, sip_time(now)));
    }

    // ------------------------------------------------ user agent's events

    /// A call came in (its sender already proven: `from`, `peer`).
    pub(crate) fn on_incoming(
        &mut self,
        leg: chordphone_sip::CallId,
        offer: Option<Bytes>,
        from: NodeId,
        peer: String,
        now: Time,
    ) {
        let t = sip_time(now);
        let Some(offer) = offer.and_then(|o| String::from_utf8(o.to_vec()).ok()) else {
            // No offer to answer (this phone never offers in a 200).
            self.stats.calls_refused += 1;
            self.with_ua(|ua| ua.reject(leg, Failure::Incompatible, t));
            return;
        };
        if self.live_calls() >= MAX_CALLS {
            self.stats.calls_refused += 1;
            self.with_ua(|ua| ua.reject(leg, Failure::Busy, t));
            return;
        }
        let id = self.new_call_id();
        let mut call = Call::new(id, Direction::In, peer, now);
        let sip_call_id = self
            .ua
            .as_ref()
            .and_then(|ua| ua.dialog(leg))
            .map(|d| d.id.call_id.clone());
        call.legs.push(Leg {
            ua: leg,
            node: from,
            sip_call_id,
            failed: None,
        });
        call.winner = Some(0);
        call.offer = Some(offer);
        call.held.insert(from);
        self.legs.insert(leg, id);
        self.insert_call(call);
        self.with_ua(|ua| ua.ring(leg, None, t));
        self.act(Action::Hold(from));
        self.changed(id);
    }

    pub(crate) fn on_progress(&mut self, leg: chordphone_sip::CallId, code: u16) {
        let Some(&call) = self.legs.get(&leg) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if (180..200).contains(&code) && c.state == CallState::Calling {
            c.state = CallState::Ringing;
            self.changed(call);
        }
    }

    pub(crate) fn on_answered(
        &mut self,
        leg: chordphone_sip::CallId,
        answer: Option<Bytes>,
        now: Time,
    ) {
        let Some(&call) = self.legs.get(&leg) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(i) = c.leg_index(leg) else {
            return;
        };
        if !c.is_dialing() || c.winner.is_some() {
            // Over already, or a second device answered too: hang that one up.
            self.with_ua(|ua| ua.hangup(leg, sip_time(now)));
            return;
        }
        c.winner = Some(i);
        let Some(answer) = answer.and_then(|a| String::from_utf8(a.to_vec()).ok()) else {
            self.bye(call, now);
            self.cancel_legs(call, Some(i), Some(ANSWERED_ELSEWHERE), now);
            self.end_call(call, "The other side sent no media".to_owned(), now);
            return;
        };
        c.state = CallState::Active;
        c.answered = Some(now);
        self.cancel_legs(call, Some(i), Some(ANSWERED_ELSEWHERE), now);
        self.act(Action::Media(Media::Apply { call, answer }));
        self.changed(call);
    }

    pub(crate) fn on_reoffer(&mut self, leg: chordphone_sip::CallId, offer: Bytes, now: Time) {
        let Some(&call) = self.legs.get(&leg) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let offer = String::from_utf8(offer.to_vec()).ok();
        match offer {
            Some(offer) if c.wait == Wait::Idle && c.is_live() => {
                c.wait = Wait::ReofferAnswer(offers_hold(&offer));
                self.act(Action::Media(Media::Answer { call, offer }));
            }
            // A media step of ours is under way (or the offer is not
            // text): refuse this one; the call goes on as it was.
            _ => {
                self.with_ua(|ua| ua.reject_reoffer(leg, sip_time(now)));
            }
        }
    }

    pub(crate) fn on_media_changed(&mut self, leg: chordphone_sip::CallId, answer: Option<Bytes>) {
        let Some(&call) = self.legs.get(&leg) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Wait::ReofferSent(hold) = c.wait else {
            return;
        };
        c.wait = Wait::Idle;
        if answer.is_some() {
            c.state = if hold {
                CallState::Held
            } else {
                CallState::Active
            };
        }
        if let Some(answer) = answer.and_then(|a| String::from_utf8(a.to_vec()).ok()) {
            self.act(Action::Media(Media::Apply { call, answer }));
        }
        self.changed(call);
    }

    pub(crate) fn on_leg_ended(
        &mut self,
        leg: chordphone_sip::CallId,
        reason: EndReason,
        now: Time,
    ) {
        let Some(call) = self.legs.remove(&leg) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(i) = c.leg_index(leg) else {
            return;
        };
        if !c.is_live() {
            return;
        }
        let name = name_of(&c.peer).to_owned();
        let number = is_number_aor(&c.peer);
        if c.winner == Some(i) {
            let text = match (&reason, c.state) {
                (EndReason::Failed(Failure::Cancelled), CallState::Incoming) => match c.elsewhere {
                    Some(DECLINED_ELSEWHERE) => "Declined elsewhere".to_owned(),
                    Some(_) => "Answered elsewhere".to_owned(),
                    None => "Cancelled".to_owned(),
                },
                (EndReason::Failed(Failure::Cancelled), _) => "Cancelled".to_owned(),
                (EndReason::Failed(Failure::NoAnswer), CallState::Incoming) => {
                    "No answer".to_owned()
                }
                (EndReason::RemoteHangup | EndReason::LocalHangup, _) => "Hung up".to_owned(),
                (EndReason::Failed(f), _) if number => number_failure_words(f).to_owned(),
                (EndReason::Failed(f), _) => ended_text(f, &name),
            };
            self.end_call(call, text, now);
            return;
        }
        let end = match reason {
            EndReason::Failed(f) if number => LegEnd {
                rank: leg_end(&f, &name).rank,
                text: number_failure_words(&f).to_owned(),
            },
            EndReason::Failed(f) => leg_end(&f, &name),
            _ => LegEnd {
                rank: 9,
                text: "Hung up".to_owned(),
            },
        };
        self.fail_leg(call, i, end, now);
    }

    /// One leg of an outgoing call failed; with every leg failed and none
    /// answered, the call ends with the best-ranked reason.
    /// A device that declined speaks for the person: the others stop
    /// ringing (RFC 3261 treats a 6xx the same way).
    fn fail_leg(&mut self, call: CallId, i: usize, end: LegEnd, now: Time) {
        if end.rank == DECLINED_RANK {
            let dialing = self
                .calls
                .get(&call)
                .is_some_and(|c| c.is_dialing() && c.winner.is_none());
            if dialing {
                if let Some(l) = self.calls.get_mut(&call).and_then(|c| c.legs.get_mut(i)) {
                    l.failed = Some(end.clone());
                }
                self.cancel_legs(call, Some(i), Some(DECLINED_ELSEWHERE), now);
                self.end_call(call, end.text, now);
                return;
            }
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let rank = end.rank;
        let node = match c.legs.get_mut(i) {
            Some(l) if l.failed.is_none() => {
                l.failed = Some(end);
                l.node
            }
            _ => return,
        };
        if c.held.remove(&node) {
            self.act(Action::Release(node));
        }
        // A gateway that could not be reached: the next one takes the call.
        if rank >= UNREACHABLE_RANK && self.next_gateway(call, now) {
            return;
        }
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if c.winner.is_some() || !c.is_dialing() || c.legs.iter().any(|l| l.failed.is_none()) {
            return;
        }
        let text = c
            .legs
            .iter()
            .filter_map(|l| l.failed.as_ref())
            .min_by_key(|e| e.rank)
            .map(|e| e.text.clone())
            .unwrap_or_else(|| "The call failed".to_owned());
        self.end_call(call, text, now);
    }

    /// The overlay could not deliver a leg's INVITE.
    pub(crate) fn on_invite_undelivered(
        &mut self,
        sip_call_id: &str,
        error: QueryError,
        now: Time,
    ) {
        let found = self.calls.iter().find_map(|(id, c)| {
            let i = c
                .legs
                .iter()
                .position(|l| l.sip_call_id.as_deref() == Some(sip_call_id))?;
            Some((
                *id,
                i,
                c.legs.get(i).map(|l| l.ua),
                name_of(&c.peer).to_owned(),
            ))
        });
        let Some((call, i, Some(ua_call), name)) = found else {
            return;
        };
        self.with_ua(|ua| ua.hangup(ua_call, sip_time(now)));
        let number = self
            .calls
            .get(&call)
            .is_some_and(|c| is_number_aor(&c.peer));
        let text = match error {
            _ if number => NO_LINE.to_owned(),
            QueryError::Route(RouteError::NoSuchNode) | QueryError::Unsupported => {
                format!("{name} is offline")
            }
            e => format!("No route to {name} ({e})"),
        };
        self.fail_leg(call, i, LegEnd { rank: 7, text }, now);
    }

    // --------------------------------------------------------- the table

    /// Marks a call ended: tells the shell to close its media, lets its
    /// links go, and keeps it [`KEEP_ENDED`] for the app to show.
    pub(crate) fn end_call(&mut self, call: CallId, reason: String, now: Time) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if !c.is_live() {
            return;
        }
        c.state = CallState::Ended;
        c.reason = Some(reason);
        c.ended = Some(now);
        c.wait = Wait::Idle;
        c.devices = None;
        let held: Vec<NodeId> = std::mem::take(&mut c.held).into_vec();
        self.drop_lookups(Purpose::Call(call));
        self.act(Action::Media(Media::Close { call }));
        for node in held {
            self.act(Action::Release(node));
        }
        self.changed(call);
    }

    pub(crate) fn changed(&mut self, call: CallId) {
        if let Some(view) = self.calls.get(&call).map(Call::view) {
            self.emit(PhoneEvent::CallChanged(view));
        }
    }

    fn live_calls(&self) -> usize {
        self.calls.values().filter(|c| c.is_live()).count()
    }

    /// Adds a call, forgetting the oldest ended one if the table is full.
    fn insert_call(&mut self, call: Call) {
        if self.calls.len() >= MAX_CALL_ENTRIES {
            let oldest = self
                .calls
                .values()
                .filter(|c| !c.is_live())
                .min_by_key(|c| c.ended)
                .map(|c| c.id);
            if let Some(old) = oldest {
                self.forget_call(old);
            }
        }
        self.calls.insert(call.id, call);
    }

    fn forget_call(&mut self, call: CallId) {
        if let Some(c) = self.calls.remove(&call) {
            for l in &c.legs {
                // A user agent made after a new registration numbers its
                // calls afresh: only this call's own entries go.
                if self.legs.get(&l.ua) == Some(&call) {
                    self.legs.remove(&l.ua);
                }
                if let Some(id) = &l.sip_call_id {
                    self.elsewhere.remove(id);
                }
            }
        }
    }

    /// The call timer due first: an outgoing call giving up, an ended call
    /// being forgotten.
    pub(crate) fn calls_timeout(&self) -> Option<Time> {
        self.calls
            .values()
            .filter_map(|c| {
                if c.is_dialing() {
                    Some(c.started + self.config.call_timeout)
                } else {
                    c.ended.map(|t| t + KEEP_ENDED)
                }
            })
            .min()
    }

    pub(crate) fn call_timers(&mut self, now: Time) {
        let timeout = self.config.call_timeout;
        let due: Vec<CallId> = self
            .calls
            .values()
            .filter(|c| c.is_dialing() && c.started + timeout <= now)
            .map(|c| c.id)
            .collect();
        for call in due {
            self.cancel_legs(call, None, None, now);
            self.end_call(call, "No answer".to_owned(), now);
        }
        let old: Vec<CallId> = self
            .calls
            .values()
            .filter(|c| c.ended.is_some_and(|t| t + KEEP_ENDED <= now))
            .map(|c| c.id)
            .collect();
        for call in old {
            self.forget_call(call);
        }
        self.drain_ua(now);
    }
}

/// The rank of a leg that was declined.
const DECLINED_RANK: u8 = 1;
/// Ranks from here on: the device (or gateway) could not be reached.
const UNREACHABLE_RANK: u8 = 7;

/// The reason a call ends with when its connected leg failed.
fn ended_text(f: &Failure, name: &str) -> String {
    match f {
        Failure::Unreachable | Failure::SessionExpired | Failure::DialogGone => {
            format!("Lost the connection to {name}")
        }
        other => leg_end(other, name).text,
    }
}

/// A failed leg's reason and rank (lower wins).
fn leg_end(f: &Failure, name: &str) -> LegEnd {
    let (rank, text) = match f {
        Failure::Busy => (0, format!("{name} is busy")),
        Failure::Declined => (DECLINED_RANK, "Call declined".to_owned()),
        Failure::NoAnswer => (2, "No answer".to_owned()),
        Failure::Incompatible => (3, "No common audio or video format".to_owned()),
        Failure::Unauthorized => (4, format!("{name} refused the call (not authorized)")),
        Failure::Cancelled => (5, "Cancelled".to_owned()),
        Failure::NotFound => (6, format!("{name} is not registered")),
        Failure::Unreachable => (8, format!("{name} could not be reached")),
        other => (6, capitalized(&other.to_string())),
    };
    LegEnd { rank, text }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
