//! Responses to our requests (and their absence): provisional and final
//! answers to INVITEs, forks, re-INVITE glare, MESSAGE/OPTIONS results,
//! and the digest retry of an INVITE (REGISTER's is in `registration`).

use super::*;
#[cfg(feature = "prack")]
use sipx_sip::rel::{self, RSeq};

impl<A: Clone + Ord + core::fmt::Debug> UserAgent<A> {
    pub(super) fn on_no_response(&mut self, n: u64, role: Role, now: Time) {
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
            #[cfg(feature = "register")]
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

    pub(super) fn on_response(&mut self, n: u64, role: Role, response: Response, now: Time) {
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
            #[cfg(feature = "register")]
            Role::Register(id) if code >= 200 => self.on_register_response(id, response, now),
            _ => {}
        }
    }

    pub(super) fn on_invite_response(
        &mut self,
        _n: u64,
        call: CallId,
        response: Response,
        now: Time,
    ) {
        let code = response.status.code();
        let Some(transport) = self.calls.get(&call).map(|c| c.flow.transport) else {
            return;
        };
        #[cfg(feature = "prack")]
        let prack_via = self.via(transport);
        #[cfg(not(feature = "prack"))]
        let _ = transport;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(invite) = c.invite.clone() else {
            return;
        };
        if code < 200 {
            c.provisional = true;
            if code > 100 {
                // A reliable provisional (RFC 3262) is acknowledged with a
                // PRACK in its early dialog, once per RSeq, in order.
                #[cfg(feature = "prack")]
                let rseq = msg::has_token(&response.headers, &HeaderName::Require, "100rel")
                    .then(|| response.headers.typed::<RSeq>().and_then(Result::ok))
                    .flatten()
                    .map(|r| r.0);
                #[cfg_attr(not(feature = "prack"), allow(unused_mut))]
                let mut fresh = true;
                #[cfg(feature = "prack")]
                let mut prack = None;
                if let Some(d) = Dialog::uac(&invite, &response) {
                    let i = match c
                        .early
                        .iter()
                        .position(|e| e.id.remote_tag == d.id.remote_tag)
                    {
                        Some(i) => i,
                        None => {
                            c.early.push(d);
                            c.early.len() - 1
                        }
                    };
                    if let Some(e) = c.early.get_mut(i) {
                        e.refresh_target(&response.headers);
                        #[cfg(feature = "prack")]
                        if let Some(rseq) = rseq {
                            fresh = e.rseq.accept(rseq) == rel::Received::Acknowledge;
                            if fresh {
                                let invite_seq = cseq_of(&invite.headers).map_or(0, |s| s.sequence);
                                prack = e.request(Method::Prack, &prack_via, None).and_then(|b| {
                                    b.header(
                                        HeaderName::RAck,
                                        format!("{rseq} {invite_seq} INVITE"),
                                    )
                                    .ok()
                                });
                            }
                        }
                    }
                }
                #[cfg(feature = "prack")]
                let flow = c.flow.clone();
                let report = fresh && c.state == CallState::Calling && c.cancelling.is_none();
                #[cfg(feature = "prack")]
                if let Some(request) = prack.and_then(|b| self.finish(b, None)) {
                    self.send_request(request, flow, Role::Stray, now);
                }
                if report {
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

    pub(super) fn retry_invite_with(
        &mut self,
        call: CallId,
        auth: (HeaderName, String),
        now: Time,
    ) {
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
        let to = msg::lossy(&target.to_bytes());
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

    pub(super) fn on_invite_2xx(
        &mut self,
        call: CallId,
        invite: Request,
        response: Response,
        now: Time,
    ) {
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
        self.disarm(Slot::Call(call, CallTimer::InviteTimeout));
        self.events.push_back(Event::Answered {
            call,
            answer: body_opt(response.body()),
        });
        #[cfg(feature = "session-timer")]
        self.start_answering_session(call, &response, now);
        if other_forks {
            // The other devices still ring: stop them (they answer 487).
            if let Some(cancel) = build_cancel(&invite) {
                self.send_request(cancel, flow, Role::Stray, now);
            }
        }
    }

    pub(super) fn on_reinvite_response(&mut self, call: CallId, response: Response, now: Time) {
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
                let seq = cseq_of(&response.headers).map(|c| c.sequence);
                if let Some((cseq, ack)) = c.reinvite_ack.clone() {
                    if Some(cseq) == seq {
                        self.transmit(flow, ack);
                    }
                }
                return;
            };
            let via = self.via(flow.transport);
            let Some(c) = self.calls.get_mut(&call) else {
                return;
            };
            let Some(d) = c.dialog.as_mut() else { return };
            d.refresh_target(&response.headers);
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
            c.reinvite_ack = Some((out.cseq, bytes));
            c.local_sdp = Some(out.offer);
            let answer = response.body().clone();
            if !answer.is_empty() {
                c.remote_sdp = Some(answer.clone());
            }
            #[cfg(feature = "session-timer")]
            self.refresh_session(call, &response, now);
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
    pub(super) fn on_stray_response(&mut self, from: Flow<A>, response: Response, now: Time) {
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

    /// An Authorization / Proxy-Authorization for a challenge, if digest is
    /// built in and we have credentials.
    #[cfg(feature = "digest")]
    pub(super) fn authorization(
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
    pub(super) fn authorization(
        &mut self,
        _response: &Response,
        _request: &Request,
    ) -> Option<(HeaderName, String)> {
        None
    }
}
