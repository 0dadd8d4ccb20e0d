//! What keeps a call going: BYE, re-INVITE, CANCEL, session timers, the
//! call's own timers, and its end.

use super::*;

impl<A: Clone + Ord + core::fmt::Debug> UserAgent<A> {
    pub(super) fn send_bye(&mut self, call: CallId, now: Time) {
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

    pub(super) fn send_reinvite(&mut self, call: CallId, offer: Bytes, refresh: bool, now: Time) {
        let Some(transport) = self.calls.get(&call).map(|c| c.flow.transport) else {
            return;
        };
        let via = self.via(transport);
        let contact = self.contact();
        #[cfg(feature = "session-timer")]
        let session_expires = self.reinvite_session_expires(call, false);
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
        #[cfg(feature = "session-timer")]
        if let Some(se) = session_expires {
            b = match b
                .header(HeaderName::Supported, "timer")
                .and_then(|b| b.header(HeaderName::SessionExpires, se))
            {
                Ok(b) => b,
                Err(_) => return,
            };
        }
        let Some(request) = self.finish(b, Some(("application/sdp", offer.clone()))) else {
            return;
        };
        if self
            .send_request(request, flow, Role::ReInvite(call), now)
            .is_some()
        {
            if let Some(c) = self.calls.get_mut(&call) {
                c.reinvite_out = Some(ReinviteOut {
                    cseq,
                    offer,
                    refresh,
                });
            }
        }
    }

    pub(super) fn answer_reinvite(
        &mut self,
        call: CallId,
        pending: ReinviteIn,
        answer: Bytes,
        now: Time,
    ) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let tag = c.local_tag.clone();
        let flow = c.flow.clone();
        let Some(mut response) = response_to(&pending.request, 200, Some(&tag)) else {
            return;
        };
        add_header(&mut response.headers, HeaderName::Contact, self.contact());
        // We answer a refresh: the refresher stays who it was.
        #[cfg(feature = "session-timer")]
        if let Some(se) = self.reinvite_session_expires(call, true) {
            add_header(&mut response.headers, HeaderName::SessionExpires, se);
            add_header(&mut response.headers, HeaderName::Require, "timer");
        }
        set_body(&mut response, "application/sdp", answer);
        self.send_2xx(call, pending.txn, response, flow, now);
        #[cfg(feature = "session-timer")]
        self.arm_session(call, now);
    }

    /// Cancels our ringing call (now, or as soon as a provisional response
    /// arrives: RFC 3261 §9.1 forbids it before).
    pub(super) fn cancel(&mut self, call: CallId, why: Failure, now: Time) {
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
    pub(super) fn end(&mut self, call: CallId, reason: EndReason, _now: Time) {
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

    pub(super) fn call_timer(&mut self, call: CallId, timer: CallTimer, now: Time) {
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
            #[cfg(feature = "session-timer")]
            CallTimer::Session => self.session_timer(call, now),
        }
    }
}
