//! The contact list: the people a user calls, kept in the overlay so it
//! follows the user to every browser that holds the same identity.
//!
//! One `Kind::Single` record signed by the user key, at [`contacts_key`]:
//! a key derived from the user's *secret* seed, so nobody else can compute
//! it (nobody can take the slot first and lock the user out of it for a
//! day, and the storing nodes cannot tell whose list they hold). The value
//! is the list sealed ([`crate::seal::seal_bytes`]) to the user's own key:
//! the storing nodes see its size and nothing else. Its version follows the
//! clock, so the newest write of any of the user's devices wins on every
//! replica; a reader keeps the highest version it has opened.
//!
//! A registered phone reads the record on registering and every
//! [`CONTACTS_POLL`] after, so a change made on one device shows on the
//! others within seconds (one get per poll: the record is one value, and a
//! push to the user's other devices would need their node ids, a lookup
//! and a new SIP method for the same effect). A change shows here at once
//! and is kept as an edit (add, rename, remove); the phone then reads the
//! stored list, applies its edits to the newest one and writes the result,
//! so changes made on two devices a moment apart both survive (only two
//! writes within one round trip of each other lose the earlier one). It
//! also rewrites the list every [`CONTACTS_REFRESH`] so it outlives the
//! store's one-day limit while a device of the user is online. Records
//! that do not verify, open or decode are counted in
//! [`crate::Stats::contacts_refused`] and ignored.

use core::time::Duration;

use chordphone_overlay::{Answer, Id, Identity, Kind, QueryError, Record, StoreError, Time};
use serde::{Deserialize, Serialize};

use crate::action::{Action, PhoneEvent};
use crate::error::PhoneError;
use crate::names::{aor_of, name_of, normalize_name, parse_target};
use crate::phone::{Pending, Phone};
use crate::presence::Presence;
use crate::register::{CLAIM_TTL, RETRY};
use crate::seal::{digest32, open_bytes, seal_bytes};

/// Most contacts in a list.
pub const MAX_CONTACTS: usize = 100;
/// Longest display name of a contact, in bytes (cut at a character).
pub const MAX_CONTACT_LABEL: usize = 32;
/// Largest sealed list: the overlay's default store limit on values. A
/// list of long names and labels may reach it before [`MAX_CONTACTS`].
pub const MAX_CONTACTS_VALUE: usize = 4096;
/// How long the stored list lives without a rewrite (a day, less the
/// margin claims keep for clocks that run behind).
pub const CONTACTS_TTL: Duration = CLAIM_TTL;
/// How often a registered phone rewrites the list.
pub const CONTACTS_REFRESH: Duration = Duration::from_secs(3600);
/// How often a registered phone reads the list (changes of its other devices).
pub const CONTACTS_POLL: Duration = Duration::from_secs(5);

/// Edits kept until stored, at most (the oldest give way).
const MAX_EDITS: usize = 2 * MAX_CONTACTS;
/// A read with no outcome after this long no longer holds back the next.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Domain of the contact key derivation.
const KEY_DOMAIN: &[u8] = b"chordphone contacts key\0";

/// The key of a user's contact list, derived from the user's secret.
pub fn contacts_key(user: &Identity) -> Id {
    Id::hash(&digest32(&[KEY_DOMAIN, &user.seed()]))
}

/// A contact as the app shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContactView {
    /// `sip:<name>@<overlay>`.
    pub aor: String,
    /// The display name the user gave, or the name.
    pub name: String,
    /// What the contact's devices last said (offline until known).
    pub presence: Presence,
}

/// The list as sealed: canonical names (the AOR adds only the overlay's
/// name, the same for every entry) and display names, which may be empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactList {
    /// (name, display name), in the order they were added.
    pub entries: Vec<(String, String)>,
}

impl ContactList {
    /// The record value's plain bytes.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// A list read back, if every entry is well formed and the list is
    /// within its bounds; duplicates keep their first entry.
    pub fn decode(bytes: &[u8]) -> Option<ContactList> {
        let (mut list, rest): (ContactList, _) = postcard::take_from_bytes(bytes).ok()?;
        let ok = rest.is_empty()
            && list.entries.len() <= MAX_CONTACTS
            && list.entries.iter().all(|(name, label)| {
                normalize_name(name).ok().as_deref() == Some(name.as_str())
                    && label.len() <= MAX_CONTACT_LABEL
            });
        if !ok {
            return None;
        }
        let mut seen = Vec::with_capacity(list.entries.len());
        list.entries.retain(|(name, _)| {
            let first = !seen.contains(name);
            seen.push(name.clone());
            first
        });
        Some(list)
    }
}

/// One contact held by the phone.
#[derive(Clone, Debug)]
struct Entry {
    name: String,
    label: String,
    presence: Presence,
}

/// A change made on this device, applied again to the newest stored list.
#[derive(Clone, Debug)]
enum Edit {
    /// Add, or rename: name, display name.
    Put(String, String),
    Remove(String),
}

impl Edit {
    fn apply(&self, list: &mut ContactList) {
        match self {
            Edit::Put(name, label) => {
                let room = list.entries.len() < MAX_CONTACTS;
                match list.entries.iter_mut().find(|(n, _)| n == name) {
                    Some(e) => e.1.clone_from(label),
                    None if room => list.entries.push((name.clone(), label.clone())),
                    None => {}
                }
            }
            Edit::Remove(name) => list.entries.retain(|(n, _)| n != name),
        }
    }
}

/// The contact state of a phone.
#[derive(Clone, Debug, Default)]
pub(crate) struct Contacts {
    list: Vec<Entry>,
    /// Version of the list held (read or written); 0 for none.
    version: u64,
    /// Changes made here, waiting for the read before their write.
    edits: Vec<Edit>,
    /// Changes in the write on its way.
    writing: Vec<Edit>,
    /// The list is due for a rewrite (refresh) at the next read.
    rewrite: bool,
    /// When the read on its way was asked.
    reading: Option<Time>,
    read_due: Option<Time>,
    write_due: Option<Time>,
}

impl Contacts {
    /// The AORs to watch, in list order.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> + Clone {
        self.list.iter().map(|e| e.name.as_str())
    }

    /// Sets the presence of `name`; true if it changed.
    pub(crate) fn set_presence(&mut self, name: &str, presence: Presence) -> bool {
        match self.list.iter_mut().find(|e| e.name == name) {
            Some(e) if e.presence != presence => {
                e.presence = presence;
                true
            }
            _ => false,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    fn wire(&self) -> ContactList {
        ContactList {
            entries: self
                .list
                .iter()
                .map(|e| (e.name.clone(), e.label.clone()))
                .collect(),
        }
    }

    /// Takes the entries of `list`, keeping what is known of their presence.
    fn replace(&mut self, list: ContactList) -> bool {
        let changed = list != self.wire();
        let old = core::mem::take(&mut self.list);
        self.list = list
            .entries
            .into_iter()
            .map(|(name, label)| {
                let presence = old
                    .iter()
                    .find(|e| e.name == name)
                    .map_or(Presence::Offline, |e| e.presence);
                Entry {
                    name,
                    label,
                    presence,
                }
            })
            .collect();
        changed
    }
}

/// A display name cut to [`MAX_CONTACT_LABEL`] bytes at a character.
fn cut_label(label: &str) -> String {
    let mut label = label.trim().to_owned();
    while label.len() > MAX_CONTACT_LABEL {
        label.pop();
    }
    label
}

impl Phone {
    /// The contact list, with what each contact's devices last said.
    pub fn contacts(&self) -> Vec<ContactView> {
        let overlay = self.config.overlay_name.to_ascii_lowercase();
        self.contacts
            .list
            .iter()
            .map(|e| ContactView {
                aor: aor_of(&e.name, &overlay),
                name: if e.label.is_empty() {
                    e.name.clone()
                } else {
                    e.label.clone()
                },
                presence: e.presence,
            })
            .collect()
    }

    /// Adds `target` (a name or `sip:` URI) with a display name, or renames
    /// it if it is in the list; stored in the overlay at once (or once the
    /// stored list has been read, so as not to overwrite it).
    pub fn add_contact(
        &mut self,
        target: &str,
        label: Option<&str>,
        now: Time,
    ) -> Result<(), PhoneError> {
        let aor = parse_target(target, &self.config.overlay_name)?;
        if self.aor().is_none() {
            return Err(PhoneError::NotRegistered);
        }
        let name = name_of(&aor).to_owned();
        let label = label.map(cut_label).unwrap_or_default();
        let before = self.contacts.list.clone();
        let full = self.contacts.list.len() >= MAX_CONTACTS;
        match self.contacts.list.iter_mut().find(|e| e.name == name) {
            Some(e) => e.label.clone_from(&label),
            None if full => return Err(PhoneError::ContactsFull),
            None => self.contacts.list.push(Entry {
                name: name.clone(),
                label: label.clone(),
                presence: Presence::Offline,
            }),
        }
        if self
            .seal_contacts()
            .is_none_or(|v| v.len() > MAX_CONTACTS_VALUE)
        {
            self.contacts.list = before;
            return Err(PhoneError::ContactsFull);
        }
        self.contacts_changed(Edit::Put(name, label), now);
        self.watch_now(now);
        Ok(())
    }

    /// Removes `target` from the list.
    pub fn remove_contact(&mut self, target: &str, now: Time) -> Result<(), PhoneError> {
        let aor = parse_target(target, &self.config.overlay_name)?;
        if self.aor().is_none() {
            return Err(PhoneError::NotRegistered);
        }
        let name = name_of(&aor).to_owned();
        let len = self.contacts.list.len();
        self.contacts.list.retain(|e| e.name != name);
        if self.contacts.list.len() == len {
            return Err(PhoneError::UnknownContact);
        }
        self.contacts_changed(Edit::Remove(name), now);
        Ok(())
    }

    /// Shows a change at once, and stores it on top of the newest list.
    fn contacts_changed(&mut self, edit: Edit, now: Time) {
        if self.contacts.edits.len() >= MAX_EDITS {
            self.contacts.edits.remove(0);
        }
        self.contacts.edits.push(edit);
        self.emit(PhoneEvent::ContactsChanged);
        if self
            .contacts
            .reading
            .is_none_or(|t| t + READ_TIMEOUT <= now)
        {
            self.read_contacts(now);
        }
    }

    /// The list sealed to the user's own key.
    fn seal_contacts(&mut self) -> Option<Vec<u8>> {
        let plain = self.contacts.wire().encode();
        let secret = self.random32();
        let user = &self.config.user;
        seal_bytes(&plain, &user.node_id(), &user.public_key(), secret).ok()
    }

    fn write_contacts(&mut self, now: Time) {
        let Some(value) = self.seal_contacts() else {
            self.stats.unsealable += 1;
            return;
        };
        // Versions follow the clock: the newest write of any device wins.
        self.contacts.version = (self.contacts.version + 1).max(now.as_micros());
        let record = Record::sign(
            &self.config.user,
            contacts_key(&self.config.user),
            Kind::Single,
            self.contacts.version,
            now + CONTACTS_TTL,
            Some(value),
        );
        let token = self.token(Pending::ContactsPut);
        self.act(Action::Put { token, record });
    }

    pub(crate) fn on_contacts_stored(&mut self, outcome: Result<Answer, QueryError>, now: Time) {
        let written = core::mem::take(&mut self.contacts.writing);
        match outcome {
            Ok(_) => self.contacts.write_due = Some(now + CONTACTS_REFRESH),
            // Not stored: the edits go on top of the list read next, at
            // once if another device wrote a newer one.
            Err(e) => {
                let mut edits = written;
                edits.append(&mut self.contacts.edits);
                self.contacts.edits = edits;
                if e == QueryError::Store(StoreError::StaleVersion) {
                    self.read_contacts(now);
                } else {
                    self.contacts.read_due = Some(now + RETRY);
                }
            }
        }
    }

    /// Asks for the stored list (on registering, and every [`CONTACTS_POLL`]).
    pub(crate) fn read_contacts(&mut self, now: Time) {
        self.contacts.read_due = Some(now + CONTACTS_POLL);
        self.contacts.reading = Some(now);
        let token = self.token(Pending::ContactsGet);
        self.act(Action::Get {
            token,
            key: contacts_key(&self.config.user),
            kind: Kind::Single,
        });
    }

    /// The stored list arrived: take it if it is ours and newer; apply the
    /// edits made here on top of it and write the result.
    pub(crate) fn on_contacts_read(&mut self, outcome: Result<Answer, QueryError>, now: Time) {
        self.contacts.reading = None;
        let records = match outcome {
            Ok(Answer::Records(r)) => r,
            Ok(_) => Vec::new(),
            Err(_) => return,
        };
        let mut newest = None;
        for r in &records {
            match self.open_contacts(r, now) {
                Some(list) if r.version > self.contacts.version => {
                    self.contacts.version = r.version;
                    newest = Some(list);
                }
                Some(_) => {}
                None => self.stats.contacts_refused += 1,
            }
        }
        let found = newest.is_some();
        let mut list = newest.unwrap_or_else(|| self.contacts.wire());
        let write = !self.contacts.edits.is_empty() || self.contacts.rewrite;
        for edit in &self.contacts.edits {
            edit.apply(&mut list);
        }
        if self.contacts.replace(list) {
            self.emit(PhoneEvent::ContactsChanged);
            self.watch_now(now);
        }
        if write {
            self.contacts.writing = core::mem::take(&mut self.contacts.edits);
            self.contacts.rewrite = false;
            self.write_contacts(now);
        } else if found && self.contacts.write_due.is_none() {
            self.contacts.write_due = Some(now + CONTACTS_REFRESH);
        }
    }

    /// The list a record holds, if the user key wrote it here and it opens.
    fn open_contacts(&self, r: &Record, now: Time) -> Option<ContactList> {
        let user = &self.config.user;
        let fits = r.key == contacts_key(user)
            && r.kind == Kind::Single
            && r.writer == user.public_key()
            && r.expires > now
            && r.value
                .as_ref()
                .is_some_and(|v| v.len() <= MAX_CONTACTS_VALUE);
        if !fits || !r.verify() {
            return None;
        }
        let plain = open_bytes(r.value.as_deref()?, &user.node_id(), user).ok()?;
        ContactList::decode(&plain)
    }

    pub(crate) fn contacts_timeout(&self) -> Option<Time> {
        self.aor()?;
        [self.contacts.read_due, self.contacts.write_due]
            .into_iter()
            .flatten()
            .min()
    }

    pub(crate) fn contacts_timers(&mut self, now: Time) {
        if self.aor().is_none() {
            return;
        }
        if self.contacts.read_due.is_some_and(|t| t <= now) {
            self.read_contacts(now);
        }
        if self.contacts.write_due.is_some_and(|t| t <= now) {
            // Rewritten on top of the newest list, like an edit.
            self.contacts.write_due = None;
            self.contacts.rewrite = true;
            self.read_contacts(now);
        }
    }

    /// Registered: read the list.
    pub(crate) fn contacts_registered(&mut self, now: Time) {
        self.read_contacts(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_decode_only_within_their_bounds() {
        let list = ContactList {
            entries: vec![
                ("bob".into(), "Bob B.".into()),
                ("carol".into(), String::new()),
                ("bob".into(), "again".into()),
            ],
        };
        let back = ContactList::decode(&list.encode()).expect("decodes");
        assert_eq!(back.entries.len(), 2, "a duplicate keeps its first entry");
        assert_eq!(back.entries[0].1, "Bob B.");
        for bad in [
            vec![("Bob".to_owned(), String::new())],
            vec![("bob smith".to_owned(), String::new())],
            vec![("bob".to_owned(), "x".repeat(MAX_CONTACT_LABEL + 1))],
            vec![("bob".to_owned(), String::new()); MAX_CONTACTS + 1],
        ] {
            let bytes = ContactList { entries: bad }.encode();
            assert_eq!(ContactList::decode(&bytes), None);
        }
        let mut trailing = list.encode();
        trailing.push(0);
        assert_eq!(ContactList::decode(&trailing), None);
        assert_eq!(ContactList::decode(&[0xff; 9]), None);
    }

    #[test]
    fn the_key_depends_on_the_secret_only() {
        let a = Identity::from_seed([1; 32]);
        assert_eq!(
            contacts_key(&a),
            contacts_key(&Identity::from_seed([1; 32]))
        );
        assert_ne!(
            contacts_key(&a),
            contacts_key(&Identity::from_seed([2; 32]))
        );
        // Not computable from the public key alone (the claim shows it).
        assert_ne!(contacts_key(&a), Id::hash(&a.public_key()));
    }

    #[test]
    fn labels_are_cut_at_a_character() {
        assert_eq!(cut_label("  Bob  "), "Bob");
        let long = "é".repeat(40);
        let cut = cut_label(&long);
        assert!(cut.len() <= MAX_CONTACT_LABEL);
        assert_eq!(cut, "é".repeat(MAX_CONTACT_LABEL / 2));
    }
}
