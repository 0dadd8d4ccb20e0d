//! The inbox: messages for a user none of whose devices is online wait in
//! the overlay until one comes back.
//!
//! A sender that finds the target's name held but no device answering
//! stores a `Kind::Multi` value at [`inbox_key`] of the target's AOR,
//! written by its node key (so one value per sending device). The value is
//! a sealed envelope (the same [`crate::seal`] as the SIP channel) to the
//! target's *user* key, the claim's writer: only the user's devices open
//! it, and every one of them can. Inside are the sender's claim record and
//! the user key's signature over [`Letters`], so the reader proves who
//! wrote without a lookup. One value holds the sender's pending letters
//! for that user (a rewrite replaces the value, so earlier ones are kept
//! in it), bounded in number and size. Nobody deletes them: they expire,
//! no later than the sender's claim does, and readers skip letters they
//! have shown before (by sender and letter id).
//!
//! A registered phone reads its inbox on registering and every
//! [`INBOX_REFRESH`] after. Values that do not open, or do not prove their
//! sender, are counted in [`crate::Stats::inbox_refused`] and ignored.

use core::time::Duration;

use chordphone_overlay::{node_id_of, verify, Answer, Id, Kind, NodeId, QueryError, Record, Time};
use serde::{Deserialize, Serialize};

use crate::action::{Action, MessageId, PhoneEvent};
use crate::binding::claimed_aor;
use crate::names::{key_for, name_of};
use crate::phone::{Pending, Phone};
use crate::register::CLAIM_TTL;
use crate::seal::{open, seal, sign_sip, sip_signed_bytes, Inner};

/// How long a letter waits at most: the store's limit (a day) less the
/// margin claims keep for clocks that run behind.
pub const INBOX_TTL: Duration = CLAIM_TTL;
/// How often a registered phone reads its inbox.
pub const INBOX_REFRESH: Duration = Duration::from_secs(60);
/// Letters one sending device keeps waiting for one user; a newer one
/// pushes out the oldest.
pub const MAX_LETTERS: usize = 8;
/// Largest inbox value: the overlay's default store limit on values.
pub const MAX_INBOX_VALUE: usize = 4096;
/// Inbox values opened per read (one per sending device); more are dropped.
pub const MAX_INBOX_VALUES: usize = 64;
/// Users whose letters of ours are kept for rewriting.
const MAX_OUTBOX: usize = 16;
/// Letters remembered as shown (so each shows once).
const MAX_SEEN: usize = 512;

/// The inbox key of an AOR (`Kind::Multi`, one value per sending node).
pub fn inbox_key(aor: &str) -> Id {
    key_for(b"chordphone inbox\0", aor)
}

/// What a sender's inbox value holds once opened: its letters to one AOR.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Letters {
    /// The recipient's AOR: a value copied to another inbox shows nothing.
    pub to: String,
    /// Oldest first, at most [`MAX_LETTERS`].
    pub letters: Vec<Letter>,
}

/// One message waiting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Letter {
    /// Random: with the sender's AOR, what a reader remembers it by.
    pub id: u64,
    /// When it was written, by the sender's clock.
    pub sent: Time,
    /// The text.
    pub text: String,
}

/// Our letters to one user, as last stored (to rewrite with one more).
#[derive(Clone, Debug)]
struct Outbox {
    aor: String,
    letters: Vec<Letter>,
}

/// The inbox state of a phone.
#[derive(Clone, Debug, Default)]
pub(crate) struct Inbox {
    outbox: Vec<Outbox>,
    /// (sender AOR, letter id) of the letters shown, oldest first.
    seen: Vec<(String, u64)>,
    /// (writer, version) of the values already opened or refused: each
    /// read skips them rather than opening (and counting) them again.
    judged: Vec<(NodeId, u64)>,
    due: Option<Time>,
}

impl Phone {
    /// No device of the target took message `id`: leave it sealed to the
    /// target's user key in the overlay.
    pub(crate) fn leave_letter(&mut self, id: MessageId, user_key: [u8; 32], now: Time) {
        let Some(m) = self.messages.get(&id) else {
            return;
        };
        let (aor, text) = (m.aor.clone(), m.text.clone());
        let name = name_of(&aor).to_owned();
        let offline = format!("{name} is offline");
        let Some(claim) = self.reg.claim.clone() else {
            return self.message_done(id, Err(offline));
        };
        // The letter must not outlive the claim that proves its sender.
        let ttl = Duration::from_micros(claim.expires.as_micros().saturating_sub(now.as_micros()))
            .min(INBOX_TTL);
        let letter = Letter {
            id: self.rng_u64(),
            sent: now,
            text,
        };
        let mut letters: Vec<Letter> = self
            .inbox
            .outbox
            .iter()
            .find(|o| o.aor == aor)
            .map(|o| o.letters.clone())
            .unwrap_or_default();
        letters.retain(|l| l.sent + INBOX_TTL > now);
        letters.push(letter);
        // Oldest out first, until it fits by count and by size.
        let value = loop {
            if letters.len() > MAX_LETTERS {
                letters.remove(0);
                continue;
            }
            let sealed = self.seal_letters(&aor, &letters, &claim, &user_key, now);
            match sealed {
                Some(v) if v.len() <= MAX_INBOX_VALUE => break Some(v),
                _ if letters.len() > 1 => {
                    letters.remove(0);
                }
                _ => break None,
            }
        };
        let Some(value) = value else {
            self.stats.unsealable += 1;
            return self.message_done(
                id,
                Err(format!("{offline}, and the message is too long to wait")),
            );
        };
        self.inbox.outbox.retain(|o| o.aor != aor);
        if self.inbox.outbox.len() >= MAX_OUTBOX {
            self.inbox.outbox.remove(0);
        }
        self.inbox.outbox.push(Outbox {
            aor: aor.clone(),
            letters,
        });
        let token = self.token(Pending::InboxPut(id));
        self.act(Action::PutOwn {
            token,
            key: inbox_key(&aor),
            kind: Kind::Multi,
            value,
            ttl,
        });
    }

    /// The sealed inbox value holding `letters` for `aor`.
    fn seal_letters(
        &mut self,
        aor: &str,
        letters: &[Letter],
        claim: &Record,
        user_key: &[u8; 32],
        now: Time,
    ) -> Option<Vec<u8>> {
        let body = postcard::to_allocvec(&Letters {
            to: aor.to_owned(),
            letters: letters.to_vec(),
        })
        .ok()?;
        let me = self.config.node.node_id();
        let inner = Inner {
            node_key: self.config.node.public_key(),
            claim: claim.clone(),
            sent: now,
            user_sig: sign_sip(&self.config.user, &me, &node_id_of(user_key), now, &body),
            sip: body,
        };
        let secret = self.random32();
        seal(&inner, &me, user_key, secret).ok()
    }

    pub(crate) fn on_letter_stored(&mut self, id: MessageId, outcome: Result<Answer, QueryError>) {
        let Some(m) = self.messages.get(&id) else {
            self.stats.stray_outcomes += 1;
            return;
        };
        let to = m.aor.clone();
        match outcome {
            Ok(_) => {
                self.emit(PhoneEvent::MessageWaiting { id, to });
                self.message_done(id, Ok(()));
            }
            Err(e) => {
                let name = name_of(&to);
                let why = format!("{name} is offline, and the message could not wait ({e})");
                self.message_done(id, Err(why));
            }
        }
    }

    /// Asks for our inbox (on registering, and every [`INBOX_REFRESH`]).
    pub(crate) fn read_inbox(&mut self, now: Time) {
        let Some(aor) = self.aor().map(str::to_owned) else {
            self.inbox.due = None;
            return;
        };
        self.inbox.due = Some(now + INBOX_REFRESH);
        let token = self.token(Pending::InboxGet);
        self.act(Action::Get {
            token,
            key: inbox_key(&aor),
            kind: Kind::Multi,
        });
    }

    pub(crate) fn inbox_timeout(&self) -> Option<Time> {
        self.aor().and(self.inbox.due)
    }

    pub(crate) fn inbox_timers(&mut self, now: Time) {
        if self.inbox_timeout().is_some_and(|t| t <= now) {
            self.read_inbox(now);
        }
    }

    /// Our inbox arrived: show every letter that proves its sender and
    /// was not shown before.
    pub(crate) fn on_inbox_read(&mut self, outcome: Result<Answer, QueryError>, now: Time) {
        let Some(aor) = self.aor().map(str::to_owned) else {
            return;
        };
        let Ok(Answer::Records(records)) = outcome else {
            return;
        };
        let key = inbox_key(&aor);
        for (i, r) in records.iter().enumerate() {
            if i >= MAX_INBOX_VALUES {
                self.stats.inbox_dropped += 1;
                continue;
            }
            let from = node_id_of(&r.writer);
            if self.inbox.judged.contains(&(from, r.version)) {
                continue;
            }
            if self.inbox.judged.len() >= MAX_SEEN {
                self.inbox.judged.remove(0);
            }
            self.inbox.judged.push((from, r.version));
            match self.open_letters(r, &key, &aor, now) {
                Ok((sender, letters)) => {
                    for l in letters {
                        self.show_letter(&sender, l, now);
                    }
                }
                Err(why) => {
                    self.stats.inbox_refused += 1;
                    self.refused(from, why);
                }
            }
        }
    }

    /// The sender's AOR and letters of one inbox value, or why it is refused.
    fn open_letters(
        &self,
        r: &Record,
        key: &Id,
        aor: &str,
        now: Time,
    ) -> Result<(String, Vec<Letter>), &'static str> {
        if r.key != *key || r.kind != Kind::Multi || r.expires <= now || !r.verify() {
            return Err("an inbox record that does not verify");
        }
        let value = r.value.as_deref().ok_or("an empty inbox record")?;
        if value.len() > MAX_INBOX_VALUE {
            return Err("an inbox record that is too large");
        }
        let origin: NodeId = node_id_of(&r.writer);
        let user = &self.config.user;
        let inner = open(value, &origin, user).map_err(|e| e.why())?;
        if node_id_of(&inner.node_key) != origin {
            return Err("an inbox letter from another node than its writer");
        }
        let sender = claimed_aor(&inner.claim, now).ok_or("an inbox letter with a bad claim")?;
        let signed = sip_signed_bytes(&origin, &user.node_id(), inner.sent, &inner.sip);
        if !verify(&inner.claim.writer, &signed, &inner.user_sig.0) {
            return Err("an inbox letter not signed by its sender");
        }
        let letters: Letters =
            postcard::from_bytes(&inner.sip).map_err(|_| "a malformed inbox letter")?;
        if letters.to != aor {
            return Err("an inbox letter for someone else");
        }
        if letters.letters.len() > MAX_LETTERS {
            return Err("an inbox record with too many letters");
        }
        Ok((sender, letters.letters))
    }

    fn show_letter(&mut self, from: &str, letter: Letter, now: Time) {
        let seen = (from.to_owned(), letter.id);
        if self.inbox.seen.contains(&seen) {
            return;
        }
        if self.inbox.seen.len() >= MAX_SEEN {
            self.inbox.seen.remove(0);
        }
        self.inbox.seen.push(seen);
        self.on_message(from.to_owned(), "text/plain", letter.text.as_bytes(), now);
    }

    fn rng_u64(&mut self) -> u64 {
        let b = self.random32();
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[..8]);
        u64::from_be_bytes(a)
    }
}
