//! Instant messages: SIP MESSAGE (text/plain) to every device of the
//! target, done once one device took it; and messages that arrive.

use bytes::Bytes;
use chordphone_overlay::{QueryError, RouteError, Time};
use chordphone_sip::{Failure, Flow, TransactionId, Transport};

use crate::action::{MessageId, PhoneEvent};
use crate::error::PhoneError;
use crate::lookup::{Found, Purpose};
use crate::names::{name_of, parse_target};
use crate::phone::{sip_time, Phone, MAX_MESSAGES, MAX_MESSAGE_BYTES};

/// A message on its way.
#[derive(Clone, Debug)]
pub(crate) struct Outgoing {
    pub(crate) aor: String,
    pub(crate) text: String,
    attempts: Vec<Attempt>,
    /// The user key holding the target's name, once looked up: where the
    /// message waits if no device takes it.
    pub(crate) user_key: Option<[u8; 32]>,
}

/// The message to one device.
#[derive(Clone, Debug)]
struct Attempt {
    tx: TransactionId,
    call_id: Option<String>,
    failed: Option<String>,
    /// The device is gone (not refused): the message may wait for it.
    offline: bool,
}

impl Phone {
    /// Sends `text` to `target`; [`PhoneEvent::MessageDone`] tells whether
    /// a device of the target took it.
    pub fn send_message(
        &mut self,
        target: &str,
        text: &str,
        _now: Time,
    ) -> Result<MessageId, PhoneError> {
        let aor = parse_target(target, &self.config.overlay_name)?;
        if self.aor().is_none() {
            return Err(PhoneError::NotRegistered);
        }
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(PhoneError::MessageTooLong);
        }
        if self.messages.len() >= MAX_MESSAGES {
            return Err(PhoneError::TooManyMessages);
        }
        let id = MessageId(self.next_message);
        self.next_message = self.next_message.wrapping_add(1).max(1);
        self.start_lookup(&aor, Purpose::Message(id))?;
        self.messages.insert(
            id,
            Outgoing {
                aor,
                text: text.to_owned(),
                attempts: Vec::new(),
                user_key: None,
            },
        );
        Ok(id)
    }

    pub(crate) fn message_found(&mut self, id: MessageId, found: Found, now: Time) {
        let Some(m) = self.messages.get_mut(&id) else {
            return;
        };
        let name = name_of(&m.aor).to_owned();
        let (aor, text) = (m.aor.clone(), m.text.clone());
        let devices = match found {
            Found::NotRegistered => {
                return self.message_done(id, Err(format!("{name} is not registered")))
            }
            Found::NoRoute(e) => {
                return self.message_done(id, Err(format!("Could not look {name} up ({e})")))
            }
            Found::Offline(user_key) => return self.leave_letter(id, user_key, now),
            Found::Devices(d, user_key) => {
                m.user_key = Some(user_key);
                d
            }
        };
        for d in devices {
            self.learn_key(d.node, d.node_key);
            let flow = Flow::new(Transport::Overlay, d.node);
            let Some(ua) = self.ua.as_mut() else {
                break;
            };
            let body = Bytes::from(text.clone().into_bytes());
            let Ok(tx) = ua.message(&aor, flow, "text/plain;charset=utf-8", body, sip_time(now))
            else {
                continue;
            };
            let call_id = self
                .flush_transmits(now)
                .into_iter()
                .find(|s| s.message)
                .map(|s| s.call_id);
            if let Some(m) = self.messages.get_mut(&id) {
                m.attempts.push(Attempt {
                    tx,
                    call_id,
                    failed: None,
                    offline: false,
                });
            }
        }
        if self
            .messages
            .get(&id)
            .is_some_and(|m| m.attempts.is_empty())
        {
            self.message_done(id, Err("The message could not be sent".to_owned()));
        }
    }

    /// A MESSAGE of ours got its final answer.
    pub(crate) fn on_request_done(
        &mut self,
        tx: TransactionId,
        outcome: Result<u16, Failure>,
        now: Time,
    ) {
        let Some((id, i)) = self
            .messages
            .iter()
            .find_map(|(id, m)| m.attempts.iter().position(|a| a.tx == tx).map(|i| (*id, i)))
        else {
            return;
        };
        match outcome {
            Ok(_) => self.message_done(id, Ok(())),
            Err(f) => {
                let offline = f == Failure::Unreachable;
                self.fail_attempt(id, i, f.to_string(), offline, now)
            }
        }
    }

    /// The overlay could not deliver a MESSAGE.
    pub(crate) fn on_message_undelivered(&mut self, call_id: &str, error: QueryError, now: Time) {
        let Some((id, i, name)) = self.messages.iter().find_map(|(id, m)| {
            let i = m
                .attempts
                .iter()
                .position(|a| a.call_id.as_deref() == Some(call_id))?;
            Some((*id, i, name_of(&m.aor).to_owned()))
        }) else {
            return;
        };
        // A device whose node left, or that the ring cannot reach, may come
        // back: the message may wait for it. Our own node's trouble
        // (not joined, overloaded) is no reason to think so.
        let offline = matches!(
            error,
            QueryError::Route(_) | QueryError::Timeout | QueryError::Unsupported
        );
        let why = match error {
            QueryError::Route(RouteError::NoSuchNode) | QueryError::Unsupported => {
                format!("{name} is offline")
            }
            e => format!("No route to {name} ({e})"),
        };
        self.fail_attempt(id, i, why, offline, now);
    }

    fn fail_attempt(&mut self, id: MessageId, i: usize, why: String, offline: bool, now: Time) {
        let Some(m) = self.messages.get_mut(&id) else {
            return;
        };
        if let Some(a) = m.attempts.get_mut(i) {
            if a.failed.is_none() {
                a.failed = Some(why);
                a.offline = offline;
            }
        }
        if m.attempts.iter().all(|a| a.failed.is_some()) {
            // Every device is gone (none refused it): leave it in the inbox.
            if let Some(user_key) = m.user_key.filter(|_| m.attempts.iter().all(|a| a.offline)) {
                return self.leave_letter(id, user_key, now);
            }
            let why = m
                .attempts
                .iter()
                .filter_map(|a| a.failed.clone())
                .next()
                .unwrap_or_default();
            self.message_done(id, Err(why));
        }
    }

    pub(crate) fn message_done(&mut self, id: MessageId, outcome: Result<(), String>) {
        if self.messages.remove(&id).is_some() {
            self.drop_lookups(Purpose::Message(id));
            self.emit(PhoneEvent::MessageDone { id, outcome });
        }
    }

    /// A MESSAGE arrived from `from` (proven by its claim); only text is shown.
    pub(crate) fn on_message(&mut self, from: String, content_type: &str, body: &[u8], now: Time) {
        let ct = content_type.trim().to_ascii_lowercase();
        if !ct.starts_with("text/plain") {
            return;
        }
        let mut text = String::from_utf8_lossy(body).into_owned();
        while text.len() > MAX_MESSAGE_BYTES {
            text.pop();
        }
        self.emit(PhoneEvent::Message {
            from,
            text,
            at: now,
        });
    }
}
