//! Registrations (REGISTER, RFC 3261 §10): the gateway's business, behind
//! the `register` feature. A registration is refreshed at half the time the
//! registrar granted, retried once with digest credentials on 401/407, and
//! removed with `expires` 0.

use super::*;

#[derive(Debug)]
pub(super) struct Registration<A> {
    registrar: Uri,
    flow: Flow<A>,
    call_id: String,
    from_tag: String,
    cseq: u32,
    expires: u32,
    auth_tries: u8,
    txn: Option<u64>,
}

impl<A: Clone + Ord + core::fmt::Debug> UserAgent<A> {
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

    pub(super) fn on_register_response(
        &mut self,
        id: RegistrationId,
        response: Response,
        now: Time,
    ) {
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
}
