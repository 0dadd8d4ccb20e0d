//! Registration: the claim on the name (user key, first signer holds it)
//! and this device's binding (node key), each refreshed before it expires.

use core::time::Duration;

use chordphone_overlay::{Answer, Kind, QueryError, Record, StoreError, Time};
use chordphone_sip::UserAgent;

use crate::action::{Action, PhoneEvent};
use crate::binding::{claim_record, Binding};
use crate::error::{PhoneError, RegisterError};
use crate::names::{aor_of, devices_key, normalize_name};
use crate::phone::{Pending, Phone, MAX_CALLS};

/// How long a claim lives: a day, less ten minutes. Stores refuse a
/// record that lives longer than a day by *their* clock; the margin lets a
/// claim through to an owner whose clock is a little behind ours.
pub const CLAIM_TTL: Duration = Duration::from_secs(24 * 3600 - 600);
/// How often a claim is refreshed while registered.
pub const CLAIM_REFRESH: Duration = Duration::from_secs(3600);
/// How long a binding lives.
pub const BINDING_TTL: Duration = Duration::from_secs(5 * 60);
/// How often a binding is refreshed while registered.
pub const BINDING_REFRESH: Duration = Duration::from_secs(2 * 60);
/// A refresh that failed is tried again after this long.
pub const RETRY: Duration = Duration::from_secs(15);

/// Where registration stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum RegState {
    /// No name.
    #[default]
    Idle,
    /// The claim is on its way.
    Claiming,
    /// The claim is stored; the binding is on its way.
    Binding,
    /// Both are stored (and refreshed).
    Registered,
}

/// The registration of this device.
#[derive(Clone, Debug, Default)]
pub(crate) struct Registration {
    pub(crate) state: RegState,
    pub(crate) aor: Option<String>,
    /// The claim as last stored: what goes into every sealed message.
    pub(crate) claim: Option<Record>,
    /// The claim on its way.
    claim_sent: Option<Record>,
    version: u64,
    claim_due: Option<Time>,
    binding_due: Option<Time>,
}

impl Registration {
    /// The AOR once both records are stored.
    pub(crate) fn registered_aor(&self) -> Option<&str> {
        match self.state {
            RegState::Registered => self.aor.as_deref(),
            _ => None,
        }
    }

    pub(crate) fn next_timeout(&self) -> Option<Time> {
        [self.claim_due, self.binding_due]
            .into_iter()
            .flatten()
            .min()
    }
}

impl Phone {
    /// Claims `name` for the user key and binds this device to it;
    /// [`PhoneEvent::Registered`] once both are stored,
    /// [`PhoneEvent::RegisterFailed`] if the name is taken (then nothing
    /// else is written). Registering the name already held does nothing.
    pub fn register(&mut self, name: &str, now: Time) -> Result<(), PhoneError> {
        let name = normalize_name(name)?;
        let overlay = self.config.overlay_name.to_ascii_lowercase();
        let aor = aor_of(&name, &overlay);
        if self.reg.aor.as_deref() == Some(aor.as_str()) && self.reg.state != RegState::Idle {
            return Ok(());
        }
        if self.reg.state != RegState::Idle {
            self.unregister(now);
        }
        let node_hex = self.config.node.node_id().to_hex();
        let host = format!("{node_hex}.invalid");
        let mut sip = chordphone_sip::Config::new(&aor, &format!("sip:{name}@{host}"), &host);
        sip.user_agent = None;
        sip.ring_timeout = self.config.ring_timeout;
        // The phone's own call timer gives up first; this is a backstop.
        sip.invite_timeout = self.config.call_timeout + Duration::from_secs(30);
        sip.max_calls = 8 * MAX_CALLS;
        sip.max_message_bytes = chordphone_overlay::MAX_APP;
        self.ua = Some(UserAgent::new(sip, self.config.seed));
        self.reg = Registration {
            state: RegState::Claiming,
            aor: Some(aor),
            version: self.reg.version,
            ..Registration::default()
        };
        self.put_claim(now);
        Ok(())
    }

    /// Removes this device's binding (a tombstone), ends every call and
    /// forgets the name. The claim stays until it expires: the user's other
    /// devices may still hold the name.
    pub fn unregister(&mut self, now: Time) {
        if self.reg.state == RegState::Idle {
            return;
        }
        let ids: Vec<_> = self.calls.keys().copied().collect();
        for id in ids {
            let _ = self.hangup(id, now);
        }
        self.drain_ua(now);
        if let Some(aor) = self.reg.aor.clone() {
            let token = self.token(Pending::Unbind);
            self.act(Action::RemoveOwn {
                token,
                key: devices_key(&aor),
                kind: Kind::Multi,
                ttl: BINDING_TTL,
            });
            if self.reg.state == RegState::Registered {
                self.presence_unregistered(&aor);
            }
        }
        // The user agent goes with the name; the next one numbers its
        // calls afresh, so no leg may point into the old one's.
        self.ua = None;
        self.legs.clear();
        self.reg = Registration {
            version: self.reg.version,
            ..Registration::default()
        };
    }

    fn put_claim(&mut self, now: Time) {
        let Some(aor) = self.reg.aor.clone() else {
            return;
        };
        // Versions follow the clock, so that a later write from another
        // device of the same user replaces an earlier one.
        self.reg.version = (self.reg.version + 1).max(now.as_micros());
        let record = claim_record(&self.config.user, &aor, self.reg.version, now + CLAIM_TTL);
        self.reg.claim_sent = Some(record.clone());
        self.reg.claim_due = None;
        let token = self.token(Pending::Claim);
        self.act(Action::Put { token, record });
    }

    fn put_binding(&mut self, now: Time) {
        let Some(aor) = self.reg.aor.clone() else {
            return;
        };
        let binding = Binding::sign(
            &self.config.user,
            self.config.node.public_key(),
            &aor,
            &self.config.device_label,
            now + BINDING_TTL,
        );
        self.reg.binding_due = None;
        let token = self.token(Pending::Bind);
        self.act(Action::PutOwn {
            token,
            key: devices_key(&aor),
            kind: Kind::Multi,
            value: binding.encode(),
            ttl: BINDING_TTL,
        });
    }

    pub(crate) fn on_claim_stored(&mut self, outcome: Result<Answer, QueryError>, now: Time) {
        let Some(aor) = self.reg.aor.clone() else {
            return;
        };
        let sent = self.reg.claim_sent.take();
        match outcome {
            // A newer claim of the same user key (another device) is as good.
            Ok(_) | Err(QueryError::Store(StoreError::StaleVersion)) => {
                if let Some(r) = sent {
                    self.reg.claim = Some(r);
                }
                self.reg.claim_due = Some(now + CLAIM_REFRESH);
                if self.reg.state == RegState::Claiming {
                    self.reg.state = RegState::Binding;
                    self.put_binding(now);
                }
            }
            Err(e) => {
                let reason = match e {
                    QueryError::Store(StoreError::NotOwner) => RegisterError::NameTaken,
                    QueryError::Store(_) => RegisterError::Refused,
                    _ => RegisterError::NoRoute,
                };
                if self.reg.state == RegState::Claiming || reason == RegisterError::NameTaken {
                    self.fail_registration(aor, reason, now);
                } else {
                    self.reg.claim_due = Some(now + RETRY);
                }
            }
        }
    }

    pub(crate) fn on_binding_stored(&mut self, outcome: Result<Answer, QueryError>, now: Time) {
        let Some(aor) = self.reg.aor.clone() else {
            return;
        };
        match outcome {
            Ok(_) => {
                self.reg.binding_due = Some(now + BINDING_REFRESH);
                if self.reg.state == RegState::Binding {
                    self.reg.state = RegState::Registered;
                    self.emit(PhoneEvent::Registered { aor });
                    self.read_inbox(now);
                    self.contacts_registered(now);
                    self.presence_registered(now);
                }
            }
            Err(e) if self.reg.state == RegState::Binding => {
                let reason = match e {
                    QueryError::Store(_) => RegisterError::Refused,
                    _ => RegisterError::NoRoute,
                };
                self.fail_registration(aor, reason, now);
            }
            Err(_) => self.reg.binding_due = Some(now + RETRY),
        }
    }

    /// Gives the name up after a failure the user must hear of.
    fn fail_registration(&mut self, aor: String, reason: RegisterError, now: Time) {
        let had_binding = matches!(self.reg.state, RegState::Registered);
        if had_binding {
            self.unregister(now);
        } else {
            self.ua = None;
            self.reg = Registration {
                version: self.reg.version,
                ..Registration::default()
            };
        }
        self.emit(PhoneEvent::RegisterFailed { aor, reason });
    }

    pub(crate) fn registration_timers(&mut self, now: Time) {
        if self.reg.claim_due.is_some_and(|t| t <= now) {
            self.put_claim(now);
        }
        if self.reg.binding_due.is_some_and(|t| t <= now) {
            self.put_binding(now);
        }
    }
}
