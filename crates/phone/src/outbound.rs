//! Out of the user agent: every SIP message it wants sent is sealed to the
//! destination node and handed to the shell as [`Action::Send`]; every
//! event it has goes to the call or message it is about.

use chordphone_overlay::{NodeId, QueryError, Time};
use chordphone_sip::sipx_sip::Method;
use chordphone_sip::Event;

use crate::action::Action;
use crate::phone::{Pending, Phone, Sent};
use crate::seal::{seal, sign_sip, Inner};
use crate::sipmsg::{summarize, with_elsewhere_reason};

/// Rounds of draining the user agent after one input, at most (each round
/// empties it; new work comes only from handling its events).
const MAX_ROUNDS: usize = 64;

/// What was sent, for the caller that needs the Call-ID.
#[derive(Clone, Debug)]
pub(crate) struct Sending {
    pub(crate) call_id: String,
    /// An INVITE starting a call.
    pub(crate) invite: bool,
    /// A MESSAGE.
    pub(crate) message: bool,
}

impl Phone {
    /// Empties the user agent: sends its messages and acts on its events
    /// until it has nothing more.
    pub(crate) fn drain_ua(&mut self, now: Time) {
        for _ in 0..MAX_ROUNDS {
            let sent = self.flush_transmits(now);
            let Some(event) = self.ua.as_mut().and_then(|ua| ua.poll_event()) else {
                if sent.is_empty() {
                    break;
                }
                continue;
            };
            self.on_ua_event(event, now);
        }
        if let Some(ua) = self.ua.as_ref() {
            self.stats.sip = ua.stats().clone();
        }
    }

    /// Seals and sends what the user agent has to send now.
    pub(crate) fn flush_transmits(&mut self, now: Time) -> Vec<Sending> {
        let mut out = Vec::new();
        while let Some(t) = self.ua.as_mut().and_then(|ua| ua.poll_transmit()) {
            if let Some(s) = self.send_sip(t.to.addr, t.bytes.to_vec(), None, now) {
                out.push(s);
            }
        }
        out
    }

    /// Seals one SIP message to `to` (with `key`, or the one remembered for
    /// it) and queues the send.
    pub(crate) fn send_sip(
        &mut self,
        to: NodeId,
        sip: Vec<u8>,
        key: Option<[u8; 32]>,
        now: Time,
    ) -> Option<Sending> {
        let summary = summarize(&sip);
        let (method, initial, call_id) = match &summary {
            Some(s) => (s.method.clone(), s.initial, s.call_id.clone()),
            None => (None, false, String::new()),
        };
        let sip = match self.elsewhere.get(&call_id) {
            Some(&cause) if method == Some(Method::Cancel) => with_elsewhere_reason(&sip, cause),
            _ => sip,
        };
        let (Some(key), Some(claim)) = (
            key.or_else(|| self.keys.get(&to).copied()),
            self.reg.claim.clone(),
        ) else {
            self.stats.unsealable += 1;
            return None;
        };
        let me = self.config.node.node_id();
        let inner = Inner {
            node_key: self.config.node.public_key(),
            claim,
            sent: now,
            user_sig: sign_sip(&self.config.user, &me, &to, now, &sip),
            sip,
        };
        let secret = self.random32();
        let Ok(payload) = seal(&inner, &me, &key, secret) else {
            self.stats.unsealable += 1;
            return None;
        };
        let invite = initial && method == Some(Method::Invite);
        let message = initial && method == Some(Method::Message);
        let sent = if invite {
            Sent::Invite(call_id.clone())
        } else if message {
            Sent::Message(call_id.clone())
        } else {
            Sent::Other
        };
        let token = self.token(Pending::Send(sent));
        self.act(Action::Send { token, to, payload });
        Some(Sending {
            call_id,
            invite,
            message,
        })
    }

    pub(crate) fn on_send_failed(&mut self, sent: Sent, error: QueryError, now: Time) {
        match sent {
            Sent::Invite(call_id) => self.on_invite_undelivered(&call_id, error, now),
            Sent::Message(call_id) => self.on_message_undelivered(&call_id, error, now),
            Sent::Other => {}
        }
    }

    fn on_ua_event(&mut self, event: Event, now: Time) {
        match event {
            Event::Incoming { call, offer, .. } => match self.origin.clone() {
                Some((from, peer)) => self.on_incoming(call, offer, from, peer, now),
                None => {
                    self.with_ua(|ua| ua.hangup(call, crate::phone::sip_time(now)));
                }
            },
            Event::Progress { call, code, .. } => self.on_progress(call, code),
            Event::Answered { call, answer } => self.on_answered(call, answer, now),
            Event::Connected { .. } => {}
            Event::Reoffer { call, offer } => self.on_reoffer(call, offer, now),
            Event::MediaChanged { call, answer } => self.on_media_changed(call, Some(answer)),
            Event::ReofferFailed { call, .. } => self.on_media_changed(call, None),
            Event::Ended { call, reason } => self.on_leg_ended(call, reason, now),
            Event::Message {
                content_type, body, ..
            } => {
                if let Some((_, from)) = self.origin.clone() {
                    self.on_message(from, &content_type, &body, now);
                }
            }
            Event::RequestDone { id, outcome } => self.on_request_done(id, outcome, now),
            _ => {}
        }
    }
}
