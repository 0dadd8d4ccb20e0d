//! Into the phone: every payload from the overlay is hostile until the
//! gate has opened it and proven who sent it. A refused payload is counted,
//! reported as [`PhoneEvent::Refused`](crate::PhoneEvent::Refused), and
//! changes nothing; a readable request refused gets a sealed 403.

use chordphone_overlay::{node_id_of, verify, NodeId, Time};
use chordphone_sip::sipx_sip::Method;
use chordphone_sip::{Flow, Transport};

use crate::binding::claimed_aor;
use crate::phone::{sip_time, Phone};
use crate::seal::{open, sip_signed_bytes, Inner, OpenError};
use crate::sipmsg::{refusal, summarize, Summary};
use crate::stats::Stats;

/// Why the gate refused a payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    Open(OpenError),
    WrongNodeKey,
    BadClaim,
    BadUserSig,
    Replayed,
    WrongSender,
}

impl Refusal {
    fn why(self) -> &'static str {
        match self {
            Refusal::Open(e) => e.why(),
            Refusal::WrongNodeKey => "the sender's node key is not its own",
            Refusal::BadClaim => "the sender's claim on its name is forged or expired",
            Refusal::BadUserSig => "not signed by the holder of the sender's name",
            Refusal::Replayed => "a replay of an earlier message, or sealed too long ago",
            Refusal::WrongSender => "the SIP sender is not the name the sender holds",
        }
    }

    fn count(self, stats: &mut Stats) {
        let counter = match self {
            Refusal::Open(OpenError::Garbage) => &mut stats.garbage,
            Refusal::Open(OpenError::Undecryptable) => &mut stats.undecryptable,
            Refusal::Open(OpenError::Malformed) => &mut stats.malformed,
            Refusal::WrongNodeKey => &mut stats.wrong_node_key,
            Refusal::BadClaim => &mut stats.bad_claim,
            Refusal::BadUserSig => &mut stats.bad_user_sig,
            Refusal::Replayed => &mut stats.replayed,
            Refusal::WrongSender => &mut stats.wrong_sender,
        };
        *counter += 1;
    }
}

impl Phone {
    /// A payload for [`SIP_SERVICE`](crate::SIP_SERVICE) from the overlay
    /// (`Event::App`): opened, checked, and handed to SIP.
    pub fn handle_app(&mut self, from: NodeId, payload: &[u8], now: Time) {
        self.stats.received += 1;
        let inner = match open(payload, &from, &self.config.node) {
            Ok(inner) => inner,
            Err(e) => return self.refuse(from, Refusal::Open(e)),
        };
        if node_id_of(&inner.node_key) != from {
            // No answer: the key is not the sender's to receive it.
            return self.refuse(from, Refusal::WrongNodeKey);
        }
        let summary = summarize(&inner.sip);
        let peer = match self.check(&inner, from, summary.as_ref(), now) {
            Ok(peer) => peer,
            Err(r) => {
                self.refuse(from, r);
                // A replay was answered the first time.
                if r != Refusal::Replayed
                    && self.refuse_request(from, inner.node_key, summary, 403, "Forbidden", now)
                {
                    self.stats.forbidden_sent += 1;
                }
                return;
            }
        };
        if self.ua.is_none() || self.reg.claim.is_none() {
            self.stats.not_registered += 1;
            self.refused(from, "no name is registered here");
            return;
        }
        if summary.as_ref().is_some_and(|s| self.misdirected(s)) {
            // A binding that outlived its name (a tab that took another
            // name): not hostile, but not for us either.
            self.stats.misdirected += 1;
            self.refuse_request(from, inner.node_key, summary, 404, "Not Found", now);
            return;
        }
        self.stats.accepted += 1;
        self.learn_key(from, inner.node_key);
        if let Some((cause, call_id)) = summary
            .as_ref()
            .and_then(|s| Some((s.elsewhere?, s.call_id.clone())))
        {
            for c in self.calls.values_mut() {
                if c.legs
                    .iter()
                    .any(|l| l.sip_call_id.as_deref() == Some(call_id.as_str()))
                {
                    c.elsewhere = Some(cause);
                }
            }
        }
        self.origin = Some((from, peer));
        if let Some(ua) = self.ua.as_mut() {
            ua.handle_input(
                Flow::new(Transport::Overlay, from),
                &inner.sip,
                sip_time(now),
            );
        }
        self.drain_ua(now);
        self.origin = None;
    }

    /// Counts a refusal and tells the app.
    fn refuse(&mut self, from: NodeId, r: Refusal) {
        r.count(&mut self.stats);
        self.refused(from, r.why());
    }

    /// What the contents prove: the sender's AOR, or why not.
    fn check(
        &mut self,
        inner: &Inner,
        from: NodeId,
        summary: Option<&Summary>,
        now: Time,
    ) -> Result<String, Refusal> {
        let aor = claimed_aor(&inner.claim, now).ok_or(Refusal::BadClaim)?;
        let me = self.config.node.node_id();
        let signed = sip_signed_bytes(&from, &me, inner.sent, &inner.sip);
        if !verify(&inner.claim.writer, &signed, &inner.user_sig.0) {
            return Err(Refusal::BadUserSig);
        }
        // Only signed messages reach the replay memory: forgeries cannot
        // fill it.
        if self
            .replays
            .check(&inner.user_sig, inner.sent, now)
            .is_err()
        {
            return Err(Refusal::Replayed);
        }
        match summary {
            Some(s) if s.sender.as_deref() == Some(aor.as_str()) => Ok(aor),
            // A gateway speaks for the number we call through it.
            Some(s)
                if s.sender
                    .as_deref()
                    .is_some_and(|n| self.is_gateway_for(from, n)) =>
            {
                Ok(s.sender.clone().unwrap_or(aor))
            }
            // A proven sender may fail our request in another name's To:
            // a device answering 404 for a name it no longer holds. It can
            // only end a request whose transaction it knows.
            Some(s) if s.status.is_some_and(|c| c >= 300) => Ok(aor),
            _ => Err(Refusal::WrongSender),
        }
    }

    /// A new call or message for a name that is not ours.
    fn misdirected(&self, s: &Summary) -> bool {
        let new = s.initial && matches!(s.method, Some(Method::Invite | Method::Message));
        new && s.target.as_deref() != self.reg.aor.as_deref()
    }

    /// Answers a refused request with a sealed error response, so the
    /// sender learns why. Whether one went out.
    fn refuse_request(
        &mut self,
        to: NodeId,
        key: [u8; 32],
        summary: Option<Summary>,
        code: u16,
        reason: &str,
        now: Time,
    ) -> bool {
        let Some(request) = summary.and_then(|s| s.request) else {
            return false;
        };
        if self.reg.claim.is_none() {
            return false;
        }
        let tag = format!("{:016x}", rand_core::RngCore::next_u64(&mut self.rng));
        refusal(&request, code, reason, &tag)
            .is_some_and(|bytes| self.send_sip(to, bytes, Some(key), now).is_some())
    }
}
