//! Looking a name up: the claim and the device bindings, read in
//! parallel, then checked against each other.

use chordphone_overlay::VecMap;

use chordphone_overlay::{Answer, Kind, NodeId, QueryError, Record, Time};

use crate::action::{Action, CallId, MessageId};
use crate::binding::{find_claim, valid_devices, Device};
use crate::error::PhoneError;
use crate::names::{claim_key, devices_key};
use crate::phone::{Pending, Phone, MAX_LOOKUPS};

/// What a lookup is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    Call(CallId),
    Message(MessageId),
}

/// What a lookup found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// The devices to try (never empty), and the user key holding the name.
    Devices(Vec<Device>, [u8; 32]),
    /// Nobody holds the name.
    NotRegistered,
    /// The user key that holds the name, which no device answers for now.
    Offline([u8; 32]),
    /// The overlay could not answer; the text says why.
    NoRoute(String),
}

type Part = Option<Result<Answer, QueryError>>;

#[derive(Debug)]
struct Lookup {
    aor: String,
    purpose: Purpose,
    claim: Part,
    devices: Part,
}

/// The lookups in flight.
#[derive(Debug, Default)]
pub(crate) struct Lookups {
    table: VecMap<u32, Lookup>,
    next: u32,
}

impl Phone {
    /// Starts looking `aor` up for `purpose`: a get of its claim and one of
    /// its bindings, in parallel.
    pub(crate) fn start_lookup(&mut self, aor: &str, purpose: Purpose) -> Result<(), PhoneError> {
        if self.lookups.table.len() >= MAX_LOOKUPS {
            return Err(PhoneError::TooManyLookups);
        }
        let id = self.lookups.next;
        self.lookups.next = self.lookups.next.wrapping_add(1);
        self.lookups.table.insert(
            id,
            Lookup {
                aor: aor.to_owned(),
                purpose,
                claim: None,
                devices: None,
            },
        );
        let token = self.token(Pending::LookupClaim(id));
        self.act(Action::Get {
            token,
            key: claim_key(aor),
            kind: Kind::Single,
        });
        let token = self.token(Pending::LookupDevices(id));
        self.act(Action::Get {
            token,
            key: devices_key(aor),
            kind: Kind::Multi,
        });
        Ok(())
    }

    /// Forgets the lookups for `purpose` (the call or message is over).
    pub(crate) fn drop_lookups(&mut self, purpose: Purpose) {
        self.lookups.table.retain(|_, l| l.purpose != purpose);
    }

    pub(crate) fn on_lookup_part(
        &mut self,
        id: u32,
        claim: bool,
        outcome: Result<Answer, QueryError>,
        now: Time,
    ) {
        let Some(l) = self.lookups.table.get_mut(&id) else {
            self.stats.stray_outcomes += 1;
            return;
        };
        if claim {
            l.claim = Some(outcome);
        } else {
            l.devices = Some(outcome);
        }
        if l.claim.is_none() || l.devices.is_none() {
            return;
        }
        let Some(l) = self.lookups.table.remove(&id) else {
            return;
        };
        let me = self.config.node.node_id();
        let (found, bad) = resolve(&l.aor, l.claim, l.devices, me, now);
        self.stats.bad_records += bad;
        match l.purpose {
            Purpose::Call(call) => self.call_found(call, found, now),
            Purpose::Message(m) => self.message_found(m, found, now),
        }
    }
}

/// The verdict on a lookup, and how many records did not check out.
fn resolve(aor: &str, claim: Part, devices: Part, me: NodeId, now: Time) -> (Found, u64) {
    let records = |part: Part| -> Result<Vec<Record>, QueryError> {
        match part {
            Some(Ok(Answer::Records(r))) => Ok(r),
            Some(Ok(_)) | None => Ok(Vec::new()),
            Some(Err(e)) => Err(e),
        }
    };
    let claims = match records(claim) {
        Ok(r) => r,
        Err(e) => return (Found::NoRoute(e.to_string()), 0),
    };
    let bindings = match records(devices) {
        Ok(r) => r,
        Err(e) => return (Found::NoRoute(e.to_string()), 0),
    };
    let Some(holder) = find_claim(&claims, aor, now) else {
        return (Found::NotRegistered, claims.len() as u64);
    };
    let bad_claims = claims.len().saturating_sub(1) as u64;
    let valid = valid_devices(&bindings, aor, &holder.writer, now);
    let bad = bad_claims + bindings.len().saturating_sub(valid.len()) as u64;
    let others: Vec<Device> = valid.into_iter().filter(|d| d.node != me).collect();
    if others.is_empty() {
        (Found::Offline(holder.writer), bad)
    } else {
        (Found::Devices(others, holder.writer), bad)
    }
}
