//! The commands the app gives: calls, answers, hang-ups, media changes,
//! MESSAGE, OPTIONS (REGISTER is in `registration`).

use super::*;

impl<A: Clone + Ord + core::fmt::Debug> UserAgent<A> {
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
    pub(super) fn build_invite(
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
        // Reliable provisionals are acknowledged (PRACK); we never send them.
        #[cfg(feature = "session-timer")]
        let session_expires = self.config.session_expires;
        #[cfg(not(feature = "session-timer"))]
        let session_expires: Option<Duration> = None;
        let supported = match (cfg!(feature = "prack"), session_expires.is_some()) {
            (true, true) => Some("100rel, timer"),
            (true, false) => Some("100rel"),
            (false, true) => Some("timer"),
            (false, false) => None,
        };
        if let Some(supported) = supported {
            b = b.header(HeaderName::Supported, supported).ok()?;
        }
        if let Some(se) = session_expires {
            b = b
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
        let flow = c.flow.clone();
        let mut response = response_to(&request, 200, Some(&tag)).ok_or(LocalError::WrongState)?;
        add_header(&mut response.headers, HeaderName::Contact, self.contact());
        add_header(&mut response.headers, HeaderName::Allow, ALLOW);
        #[cfg(feature = "session-timer")]
        self.add_session_answer(call, &mut response);
        set_body(&mut response, "application/sdp", answer);
        self.disarm(Slot::Call(call, CallTimer::Ring));
        self.send_2xx(call, n, response, flow, now);
        Ok(())
    }

    /// Sends a 2xx to an INVITE and, on UDP, keeps resending it until the ACK.
    pub(super) fn send_2xx(
        &mut self,
        call: CallId,
        n: u64,
        response: Response,
        flow: Flow<A>,
        now: Time,
    ) {
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
    /// [`Event::RequestDone`]. (Feature `options`.)
    #[cfg(feature = "options")]
    pub fn options(
        &mut self,
        target: &str,
        flow: Flow<A>,
        now: Time,
    ) -> Result<TransactionId, LocalError> {
        self.simple_request(Method::Options, target, flow, None, now)
    }

    pub(super) fn simple_request(
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
}
