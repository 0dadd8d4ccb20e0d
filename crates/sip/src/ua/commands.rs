//! The commands the app gives: calls, answers, hang-ups, media changes,
//! MESSAGE, OPTIONS, REGISTER.

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
        if let Some(se) = self.config.session_expires {
            b = b
                .header(HeaderName::Supported, "100rel, timer")
                .ok()?
                .header(HeaderName::SessionExpires, se.as_secs().to_string())
                .ok()?;
        } else {
            b = b.header(HeaderName::Supported, "100rel").ok()?;
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
    /// [`Event::RequestDone`].
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

    pub(super) fn send_register(
        &mut self,
        id: RegistrationId,
        auth: Option<(HeaderName, String)>,
        now: Time,
    ) {
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

    pub(super) fn refresh_registration(&mut self, id: RegistrationId, now: Time) {
        if let Some(reg) = self.regs.get_mut(&id) {
            reg.auth_tries = 0;
        }
        self.send_register(id, None, now);
    }
}
