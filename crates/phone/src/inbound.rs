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
use crate::sipmsg::{forbidden, summarize, Summary};

/// Why the gate refused a payload that opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    WrongNodeKey,
    BadClaim,
    BadUserSig,
    WrongSender,
}

impl Refusal {
    fn why(self) -> &'static str {
        match self {
            Refusal::WrongNodeKey => "the sender's node key is not its own",
            Refusal::BadClaim => "the sender's claim on its name is forged or expired",
            Refusal::BadUserSig => "not signed by the holder of the sender's name",
            Refusal::WrongSender => "the SIP sender is not the name the sender holds",
        }
    }
}

impl Phone {
    /// A payload for [`SIP_SERVICE`](crate::SIP_SERVICE) from the overlay
    /// (`Event::App`): opened, checked, and handed to SIP.
    pub fn handle_app(&mut self, from: NodeId, payload: &[u8], now: Time) {
        self.stats.received += 1;
        let inner = match open(payload, &from, &self.config.node) {
            Ok(inner) => inner,
            Err(e) => {
                match e {
                    OpenError::Garbage => self.stats.garbage += 1,
                    OpenError::Undecryptable => self.stats.undecryptable += 1,
                    OpenError::Malformed => self.stats.malformed += 1,
                }
                self.refused(from, e.why());
                return;
            }
        };
        if node_id_of(&inner.node_key) != from {
            self.stats.wrong_node_key += 1;
            self.refused(from, Refusal::WrongNodeKey.why());
            return;
        }
        let summary = summarize(&inner.sip);
        let peer = match self.check(&inner, from, summary.as_ref(), now) {
            Ok(peer) => peer,
            Err(r) => {
                match r {
                    Refusal::WrongNodeKey => self.stats.wrong_node_key += 1,
                    Refusal::BadClaim => self.stats.bad_claim += 1,
                    Refusal::BadUserSig => self.stats.bad_user_sig += 1,
                    Refusal::WrongSender => self.stats.wrong_sender += 1,
                }
                self.refused(from, r.why());
                self.forbid(from, inner.node_key, summary, now);
                return;
            }
        };
        if self.ua.is_none() || self.reg.claim.is_none() {
            self.stats.not_registered += 1;
            self.refused(from, "no name is registered here");
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

    /// What the contents prove: the sender's AOR, or why not.
    fn check(
        &self,
        inner: &Inner,
        from: NodeId,
        summary: Option<&Summary>,
        now: Time,
    ) -> Result<String, Refusal> {
        if node_id_of(&inner.node_key) != from {
            return Err(Refusal::WrongNodeKey);
        }
        let aor = claimed_aor(&inner.claim, now).ok_or(Refusal::BadClaim)?;
        let me = self.config.node.node_id();
        let signed = sip_signed_bytes(&from, &me, &inner.sip);
        if !verify(&inner.claim.writer, &signed, &inner.user_sig.0) {
            return Err(Refusal::BadUserSig);
        }
        match summary.and_then(|s| s.sender.as_deref()) {
            Some(sender) if sender == aor => Ok(aor),
            _ => Err(Refusal::WrongSender),
        }
    }

    /// Answers a refused request with a sealed 403, so the caller learns why.
    fn forbid(&mut self, to: NodeId, key: [u8; 32], summary: Option<Summary>, now: Time) {
        let Some(request) = summary.and_then(|s| s.request) else {
            return;
        };
        if request.method == Method::Ack || self.reg.claim.is_none() {
            return;
        }
        let tag = format!("{:016x}", rand_core::RngCore::next_u64(&mut self.rng));
        if let Some(bytes) = forbidden(&request, &tag) {
            if self.send_sip(to, bytes, Some(key), now).is_some() {
                self.stats.forbidden_sent += 1;
            }
        }
    }
}
