//! Presence: whether a person is online, away, busy or in a call, told to
//! the people who have them as a contact.
//!
//! Each registered device stores an expiring `Kind::Multi` value at
//! [`presence_key`] of its AOR, written by its node key (one value per
//! device, so a device in a call and an idle one do not overwrite each
//! other): its state, the user's claim on the AOR and a binding of the
//! node to the AOR signed by the user key (as in the device records). A
//! reader trusts a value only if the claim proves the AOR, the binding is
//! the claim holder's and names the writing node, and every signature
//! verifies; anything else is counted in [`crate::Stats::presence_refused`]
//! and ignored. A `Multi` key cannot be taken by squatting: another
//! writer only adds a value that nobody trusts.
//!
//! The value lives [`PRESENCE_TTL`] and is rewritten every
//! [`PRESENCE_REFRESH`] and at once on a change; leaving removes it, and a
//! device that vanishes without leaving is offline once it expires. The
//! state shown for a person merges their devices: in a call if any is,
//! else busy, online, away, in that order (a person busy on one device
//! does not want calls; one away from a device may be at another); offline
//! with no trusted value.
//!
//! Watching is polling: every [`PRESENCE_POLL`] the phone reads the
//! values of up to [`WATCH_BATCH`] contacts, taking them in turn, so a
//! change shows within seconds for a list of that size, and the load a
//! phone puts on the ring stays bounded for any list. A subscription
//! pushed through the ring would be quicker for long lists, but needs the
//! watched devices to keep (and verify, and expire) a table of watchers:
//! more state to defend than a few gets.

use core::time::Duration;

use chordphone_overlay::{Answer, Id, Kind, QueryError, Record, Time};
use serde::{Deserialize, Serialize};

use crate::action::Action;
use crate::binding::{claimed_aor, Binding, MAX_DEVICES};
use crate::error::PhoneError;
use crate::names::{aor_of, key_for, name_of};
use crate::phone::{Pending, Phone};

/// How long a presence value lives without a rewrite. Short, because it is
/// also how a closed tab goes offline: a page that closes rarely gets its
/// goodbye (the removal) out before its links go, so its value must expire
/// soon for contacts to see it gone within seconds.
pub const PRESENCE_TTL: Duration = Duration::from_secs(20);
/// How often a registered device rewrites its presence: two rewrites may
/// be lost before the value expires.
pub const PRESENCE_REFRESH: Duration = Duration::from_secs(7);
/// How often contacts' presence is read.
pub const PRESENCE_POLL: Duration = Duration::from_secs(3);
/// Contacts whose presence one poll reads, at most.
pub const WATCH_BATCH: usize = 16;
/// Largest presence value read.
pub const MAX_PRESENCE_VALUE: usize = 1024;
/// Presence values of one AOR judged per read; more are dropped.
pub const MAX_PRESENCE_VALUES: usize = 2 * MAX_DEVICES;
/// A read with no outcome after this long no longer holds back the next.
const ASK_TIMEOUT: Duration = Duration::from_secs(10);
/// A failed write is tried again after this long.
const PUBLISH_RETRY: Duration = Duration::from_secs(5);

/// What a person's devices say of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Presence {
    /// Reachable.
    Online,
    /// Away from the device.
    Away,
    /// Does not want calls.
    Busy,
    /// In a call (set by the phone while a call is connected).
    InCall,
    /// No device says anything.
    #[default]
    Offline,
}

impl Presence {
    /// The browser API's name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Online => "online",
            Presence::Away => "away",
            Presence::Busy => "busy",
            Presence::InCall => "in-call",
            Presence::Offline => "offline",
        }
    }

    /// The state a person may choose: `online`, `away` or `busy`.
    pub fn parse_manual(s: &str) -> Result<Presence, PhoneError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "online" => Ok(Presence::Online),
            "away" => Ok(Presence::Away),
            "busy" => Ok(Presence::Busy),
            _ => Err(PhoneError::BadPresence),
        }
    }

    /// Which of two devices' states the person shows.
    fn rank(self) -> u8 {
        match self {
            Presence::Offline => 0,
            Presence::Away => 1,
            Presence::Online => 2,
            Presence::Busy => 3,
            Presence::InCall => 4,
        }
    }
}

/// The presence key of an AOR (`Kind::Multi`, one value per device).
pub fn presence_key(aor: &str) -> Id {
    key_for(b"chordphone presence\0", aor)
}

/// A device's presence value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    /// The device's state.
    pub state: Presence,
    /// The user's claim on the AOR.
    pub claim: Record,
    /// The writing node bound to the AOR by the claim holder.
    pub binding: Binding,
}

impl Announcement {
    /// The record value.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// A value read back, with nothing after it.
    pub fn decode(bytes: &[u8]) -> Option<Announcement> {
        match postcard::take_from_bytes(bytes) {
            Ok((a, [])) => Some(a),
            _ => None,
        }
    }
}

/// The state a device's value says, if a reader may trust it for `aor`.
pub fn trusted_state(r: &Record, aor: &str, now: Time) -> Option<Presence> {
    let value = r.value.as_deref()?;
    let fits = r.key == presence_key(aor)
        && r.kind == Kind::Multi
        && r.expires > now
        && value.len() <= MAX_PRESENCE_VALUE;
    if !fits {
        return None;
    }
    let a = Announcement::decode(value)?;
    let ok = a.state != Presence::Offline
        && claimed_aor(&a.claim, now).as_deref() == Some(aor)
        && a.binding.vouches(&r.writer, aor, &a.claim.writer, now)
        && r.verify();
    ok.then_some(a.state)
}

/// A person's state from the values of their devices, and how many values
/// were refused (or dropped beyond [`MAX_PRESENCE_VALUES`]).
pub fn merged_presence(records: &[Record], aor: &str, now: Time) -> (Presence, u64) {
    let mut state = Presence::Offline;
    let mut refused = records.len().saturating_sub(MAX_PRESENCE_VALUES) as u64;
    for r in records.iter().take(MAX_PRESENCE_VALUES) {
        match trusted_state(r, aor, now) {
            Some(s) if s.rank() > state.rank() => state = s,
            Some(_) => {}
            None => refused += 1,
        }
    }
    (state, refused)
}

/// This device's presence and the watch over the contacts'.
#[derive(Clone, Debug)]
pub(crate) struct Presences {
    /// What the person chose.
    manual: Presence,
    /// The state last written, and when.
    published: Option<(Presence, Time)>,
    publish_due: Option<Time>,
    /// Reads in flight: the contact's name and when it was asked.
    asked: Vec<(String, Time)>,
    watch_due: Option<Time>,
    /// Where the next poll starts in the list.
    cursor: usize,
}

impl Default for Presences {
    fn default() -> Presences {
        Presences {
            manual: Presence::Online,
            published: None,
            publish_due: None,
            asked: Vec::new(),
            watch_due: None,
            cursor: 0,
        }
    }
}

impl Phone {
    /// This device's state: offline until registered, in a call while a
    /// call is connected (or held), else what the person chose.
    pub fn presence(&self) -> Presence {
        if self.aor().is_none() {
            Presence::Offline
        } else if self.calls.values().any(|c| c.is_up()) {
            Presence::InCall
        } else {
            self.presence.manual
        }
    }

    /// Sets the state the person chose (`Online`, `Away` or `Busy`);
    /// written at once if registered.
    pub fn set_presence(&mut self, state: Presence, now: Time) -> Result<(), PhoneError> {
        if !matches!(state, Presence::Online | Presence::Away | Presence::Busy) {
            return Err(PhoneError::BadPresence);
        }
        self.presence.manual = state;
        self.presence_timers(now);
        Ok(())
    }

    fn publish_presence(&mut self, now: Time) {
        let (Some(aor), Some(claim)) = (self.aor().map(str::to_owned), self.reg.claim.clone())
        else {
            return;
        };
        let state = self.presence();
        let binding = Binding::sign(
            &self.config.user,
            self.config.node.public_key(),
            &aor,
            &self.config.device_label,
            now + PRESENCE_TTL,
        );
        let value = Announcement {
            state,
            claim,
            binding,
        }
        .encode();
        self.presence.published = Some((state, now));
        self.presence.publish_due = Some(now + PRESENCE_REFRESH);
        let token = self.token(Pending::PresencePut);
        self.act(Action::PutOwn {
            token,
            key: presence_key(&aor),
            kind: Kind::Multi,
            value,
            ttl: PRESENCE_TTL,
        });
    }

    pub(crate) fn on_presence_stored(&mut self, outcome: Result<Answer, QueryError>, now: Time) {
        if outcome.is_err() && self.aor().is_some() {
            self.presence.publish_due = Some(now + PUBLISH_RETRY);
        }
    }

    /// Reads the presence of the next [`WATCH_BATCH`] contacts.
    fn watch(&mut self, now: Time) {
        self.presence.watch_due = Some(now + PRESENCE_POLL);
        self.presence.asked.retain(|(_, t)| *t + ASK_TIMEOUT > now);
        let len = self.contacts.len();
        if len == 0 {
            return;
        }
        let start = self.presence.cursor % len;
        let names: Vec<String> = self
            .contacts
            .names()
            .cycle()
            .skip(start)
            .take(len.min(WATCH_BATCH))
            .map(str::to_owned)
            .collect();
        self.presence.cursor = (start + names.len()) % len;
        let overlay = self.config.overlay_name.to_ascii_lowercase();
        for name in names {
            if self.presence.asked.iter().any(|(n, _)| *n == name) {
                continue;
            }
            let key = presence_key(&aor_of(&name, &overlay));
            self.presence.asked.push((name.clone(), now));
            let token = self.token(Pending::PresenceGet(name));
            self.act(Action::Get {
                token,
                key,
                kind: Kind::Multi,
            });
        }
    }

    /// Polls at once (a contact was added).
    pub(crate) fn watch_now(&mut self, now: Time) {
        if self.aor().is_some() {
            self.watch(now);
        }
    }

    pub(crate) fn on_presence_read(
        &mut self,
        name: String,
        outcome: Result<Answer, QueryError>,
        now: Time,
    ) {
        self.presence.asked.retain(|(n, _)| *n != name);
        // A failed read says nothing about the person: keep what was known.
        let records = match outcome {
            Ok(Answer::Records(r)) => r,
            Ok(_) => Vec::new(),
            Err(_) => return,
        };
        let aor = aor_of(&name, &self.config.overlay_name.to_ascii_lowercase());
        let (state, refused) = merged_presence(&records, &aor, now);
        self.stats.presence_refused += refused;
        if self.contacts.set_presence(name_of(&aor), state) {
            self.emit(crate::PhoneEvent::ContactsChanged);
        }
    }

    pub(crate) fn presence_timeout(&self) -> Option<Time> {
        self.aor()?;
        let p = &self.presence;
        // A state not written yet (a call just connected or ended) is due
        // now: the time of the last write is in the past.
        let changed = p
            .published
            .filter(|(s, _)| *s != self.presence())
            .map(|(_, at)| at);
        [changed, p.publish_due, p.watch_due]
            .into_iter()
            .flatten()
            .min()
    }

    pub(crate) fn presence_timers(&mut self, now: Time) {
        if self.aor().is_none() {
            return;
        }
        let p = &self.presence;
        let changed = p.published.is_some_and(|(s, _)| s != self.presence());
        if changed || p.publish_due.is_some_and(|t| t <= now) {
            self.publish_presence(now);
        }
        if self.presence.watch_due.is_some_and(|t| t <= now) {
            self.watch(now);
        }
    }

    /// Registered: say so, and start watching.
    pub(crate) fn presence_registered(&mut self, now: Time) {
        self.publish_presence(now);
        self.watch(now);
    }

    /// Leaving: the value goes (a tombstone), and the watch stops.
    pub(crate) fn presence_unregistered(&mut self, aor: &str) {
        let token = self.token(Pending::Unbind);
        self.act(Action::RemoveOwn {
            token,
            key: presence_key(aor),
            kind: Kind::Multi,
            ttl: PRESENCE_TTL,
        });
        self.presence = Presences {
            manual: self.presence.manual,
            ..Presences::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::claim_record;
    use chordphone_overlay::Identity;

    const NOW: Time = Time(1_700_000_000_000_000);
    const AOR: &str = "sip:bob@chordphone";

    fn value(user: &Identity, node: &Identity, aor: &str, state: Presence) -> Record {
        let later = NOW + PRESENCE_TTL;
        let a = Announcement {
            state,
            claim: claim_record(user, aor, 1, NOW + Duration::from_secs(3600)),
            binding: Binding::sign(user, node.public_key(), aor, "tab", later),
        };
        Record::sign(
            node,
            presence_key(aor),
            Kind::Multi,
            1,
            later,
            Some(a.encode()),
        )
    }

    #[test]
    fn devices_merge_in_call_busy_online_away() {
        let user = Identity::from_seed([1; 32]);
        let tabs: Vec<Identity> = (2..6).map(|i| Identity::from_seed([i; 32])).collect();
        let states = [
            Presence::Away,
            Presence::Online,
            Presence::Busy,
            Presence::InCall,
        ];
        let records: Vec<Record> = tabs
            .iter()
            .zip(states)
            .map(|(t, s)| value(&user, t, AOR, s))
            .collect();
        for n in 1..=4 {
            assert_eq!(merged_presence(&records[..n], AOR, NOW), (states[n - 1], 0));
        }
        assert_eq!(merged_presence(&[], AOR, NOW), (Presence::Offline, 0));
        assert_eq!(
            merged_presence(&records, AOR, NOW + PRESENCE_TTL),
            (Presence::Offline, 4),
            "expired values say nothing"
        );
    }

    #[test]
    fn only_values_of_the_claim_holders_devices_count() {
        let user = Identity::from_seed([1; 32]);
        let mallory = Identity::from_seed([2; 32]);
        let tab = Identity::from_seed([3; 32]);
        let evil_tab = Identity::from_seed([4; 32]);
        let good = value(&user, &tab, AOR, Presence::Away);
        // Mallory's own claim on another name, shown for bob.
        let other = value(
            &mallory,
            &evil_tab,
            "sip:mallory@chordphone",
            Presence::Busy,
        );
        let moved = Record::sign(
            &evil_tab,
            presence_key(AOR),
            Kind::Multi,
            1,
            NOW + PRESENCE_TTL,
            other.value.clone(),
        );
        // Bob's real value, copied under another node's key.
        let copied = Record::sign(
            &evil_tab,
            presence_key(AOR),
            Kind::Multi,
            1,
            NOW + PRESENCE_TTL,
            good.value.clone(),
        );
        // Bob's value with its state changed by a replica.
        let mut altered = good.clone();
        let mut a = Announcement::decode(good.value.as_deref().unwrap_or_default()).expect("value");
        a.state = Presence::InCall;
        altered.value = Some(a.encode());
        let garbage = Record::sign(
            &evil_tab,
            presence_key(AOR),
            Kind::Multi,
            2,
            NOW + PRESENCE_TTL,
            Some(vec![0xff; 40]),
        );
        let records = [moved, copied, altered, garbage, good];
        assert_eq!(
            merged_presence(&records, AOR, NOW),
            (Presence::Away, 4),
            "the forged values are refused, bob's own counts"
        );
    }

    #[test]
    fn people_choose_online_away_or_busy() {
        assert_eq!(Presence::parse_manual(" Away"), Ok(Presence::Away));
        assert_eq!(Presence::parse_manual("busy"), Ok(Presence::Busy));
        for bad in ["in-call", "offline", ""] {
            assert_eq!(Presence::parse_manual(bad), Err(PhoneError::BadPresence));
        }
    }
}
