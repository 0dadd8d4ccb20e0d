//! Received bytes: the gate (parse, validate, refuse), then requests by
//! method, in and out of dialogs, and the ACK.

use super::*;

impl<A: Clone + Ord + core::fmt::Debug> UserAgent<A> {
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
                .get_or_insert_with(from.clone(), || StreamParser::new(limits));
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
        if !bytes.is_empty() && bytes.iter().all(|b| *b == b'\r' || *b == b'\n') {
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

    pub(super) fn limits(&self) -> sipx_sip::Limits {
        let max = self.config.max_message_bytes;
        sipx_sip::Limits {
            max_message_bytes: max,
            max_body_bytes: max,
            ..sipx_sip::Limits::datagram()
        }
    }

    pub(super) fn refuse(
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

    pub(super) fn handle_message(&mut self, from: Flow<A>, message: Message, now: Time) {
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
    pub(super) fn call_of_dialog(&self, request: &Request) -> Option<CallId> {
        let call_id = call_id_of(&request.headers)?;
        let local = tag_of::<To>(&request.headers)?;
        let remote = tag_of::<From>(&request.headers).unwrap_or_default();
        self.calls.iter().find_map(|(id, c)| {
            let d = c.dialog.as_ref()?;
            (d.id.call_id == call_id && d.id.local_tag == local && d.id.remote_tag == remote)
                .then_some(*id)
        })
    }

    pub(super) fn on_request(&mut self, n: u64, request: Request, now: Time) {
        let in_dialog = tag_of::<To>(&request.headers).is_some();
        match request.method {
            Method::Invite if !in_dialog => self.on_new_invite(n, request, now),
            Method::Cancel => self.on_cancel(n, &request, now),
            Method::Options if !in_dialog => {
                let extra = [
                    (HeaderName::Allow, ALLOW.to_owned()),
                    (HeaderName::Accept, "application/sdp".to_owned()),
                    #[cfg(feature = "session-timer")]
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

    pub(super) fn on_message(&mut self, n: u64, request: &Request, now: Time) {
        self.respond_status(n, 200, &[], now);
        self.events.push_back(Event::Message {
            from: msg::text(&request.headers, &HeaderName::From),
            content_type: msg::content_type(&request.headers),
            body: request.body().clone(),
        });
    }

    pub(super) fn on_new_invite(&mut self, n: u64, request: Request, now: Time) {
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
        #[cfg(feature = "session-timer")]
        let Ok(session_answer) = self.negotiate_session(n, &request, now) else {
            return;
        };
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
        #[cfg(feature = "session-timer")]
        {
            call.session_answer = session_answer;
        }
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

    pub(super) fn on_cancel(&mut self, n: u64, request: &Request, now: Time) {
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

    pub(super) fn on_in_dialog(&mut self, n: u64, request: Request, now: Time) {
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

    pub(super) fn on_reinvite(&mut self, n: u64, call: CallId, request: Request, now: Time) {
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
            let retry = (1 + self.rng.below(10)).to_string();
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

    #[cfg_attr(not(feature = "session-timer"), allow(unused_variables))]
    pub(super) fn on_ack(&mut self, request: &Request, now: Time) {
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
            #[cfg(feature = "session-timer")]
            self.start_answered_session(call, now);
            self.events.push_back(Event::Connected { call });
        }
    }
}
