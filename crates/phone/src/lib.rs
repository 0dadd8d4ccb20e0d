//! chordphone's phone core: names, devices, calls and messages between
//! people, on the overlay and the SIP user agent.
//!
//! A user holds a name (`bob` → the AOR `sip:bob@chordphone`) with a key
//! pair of their own: the first user key to store a claim on the name
//! holds it. Each tab (a node with its own key) binds itself to the name,
//! vouched for by the user key, so all of a user's tabs ring. Calls and
//! messages are SIP, each message sealed to the destination node's key
//! and carrying the sender's claim, so the receiver knows who calls
//! without asking anyone. A message for a user none of whose devices is
//! online waits in the overlay, sealed to the user's key, and reaches the
//! user's devices when they register again (see `inbox`). The user's
//! contact list lives in the overlay sealed to the user's key, so every
//! device holding the identity shows it; each device keeps an expiring
//! presence value (online, away, busy, in a call) that the contacts'
//! phones poll (see `contacts` and `presence`).
//!
//! Sans-IO like the other cores: no clock, socket, timer or global
//! randomness. The shell feeds inputs with the current time, performs the
//! [`Action`]s, and reports their outcomes:
//!
//! ```
//! use chordphone_overlay::{Answer, Identity, Time};
//! use chordphone_phone::{Action, Config, Media, Phone, PhoneEvent};
//!
//! let node = Identity::from_seed([1; 32]);
//! let user = Identity::from_seed([2; 32]);
//! let mut phone = Phone::new(Config::new(node, user, 42));
//! let now = Time(1_700_000_000_000_000);
//! phone.register("alice", now).unwrap();
//! // The shell's loop, after every input (command, overlay event, timeout):
//! while let Some(action) = phone.poll_action() {
//!     match action {
//!         // node.put_signed(record, now), then with the QueryDone:
//!         Action::Put { token, .. } => phone.handle_outcome(token, Ok(Answer::Stored), now),
//!         // node.put(key, kind, value, ttl, now)
//!         Action::PutOwn { token, .. } => phone.handle_outcome(token, Ok(Answer::Stored), now),
//!         Action::Get { .. } | Action::RemoveOwn { .. } | Action::Send { .. } => {
//!             // node.get / node.remove / node.send_app(to, SIP_SERVICE, payload, now);
//!             // later: phone.handle_outcome(token, outcome, now)
//!         }
//!         Action::Hold(_node) | Action::Release(_node) => { /* session.hold / release */ }
//!         Action::Media(Media::Offer { call, .. }) => {
//!             // pc.createOffer(), then: phone.local_description(call, sdp, now)
//!             let _ = call;
//!         }
//!         Action::Media(_) => { /* apply an answer, make one, close */ }
//!         Action::Event(PhoneEvent::Registered { aor }) => assert_eq!(aor, "sip:alice@chordphone"),
//!         Action::Event(_) => { /* tell the page */ }
//!     }
//! }
//! assert_eq!(phone.aor(), Some("sip:alice@chordphone"));
//! // Overlay Event::App for SIP_SERVICE: phone.handle_app(from, &payload, now)
//! let _wake_at = phone.poll_timeout(); // call phone.handle_timeout(now) then
//! ```
//!
//! Every action with a token wants its outcome back, the overlay's
//! `QueryDone` as it is; where the node refuses the request at once (a
//! local error), report a `QueryError` that says the same (`NotJoined`
//! after the node left, `Overloaded` otherwise), so that the call or
//! message waiting for it can end.
//!
//! Every inbound byte is hostile: the gate opens the envelope, checks the
//! sender's node key, claim and user signature and the SIP sender against
//! the claim, and refuses anything else, counted in [`Stats`] and reported
//! as [`PhoneEvent::Refused`]. Tables are bounded ([`MAX_CALLS`],
//! [`MAX_LOOKUPS`], [`MAX_MESSAGES`], [`MAX_ACTIONS`]).

mod action;
mod binding;
mod call;
mod calls;
mod contacts;
mod error;
mod inbound;
mod inbox;
mod lookup;
mod messages;
mod names;
mod numbers;
mod outbound;
mod phone;
mod presence;
mod register;
mod replay;
pub mod seal;
mod sipmsg;
mod stats;

pub use action::{
    Action, CallId, CallState, CallView, Direction, Media, MessageId, PhoneEvent, Token,
};
pub use binding::{
    claim_record, claimed_aor, find_claim, valid_devices, Binding, Claim, Device, MAX_DEVICES,
};
pub use contacts::{
    contacts_key, ContactList, ContactView, CONTACTS_POLL, CONTACTS_REFRESH, CONTACTS_TTL,
    MAX_CONTACTS, MAX_CONTACTS_VALUE, MAX_CONTACT_LABEL,
};
pub use error::{PhoneError, RegisterError};
pub use inbox::{
    inbox_key, Letter, Letters, INBOX_REFRESH, INBOX_TTL, MAX_INBOX_VALUE, MAX_INBOX_VALUES,
    MAX_LETTERS,
};
pub use names::{
    aor_of, claim_key, devices_key, normalize_name, parse_target, DEFAULT_OVERLAY_NAME,
};
pub use numbers::{number_aor, number_failure_words, GATEWAY_SERVICE, MAX_GATEWAYS, NO_LINE};
pub use phone::{
    Config, Phone, KEEP_ENDED, MAX_ACTIONS, MAX_CALLS, MAX_CALL_ENTRIES, MAX_KEYS, MAX_LOOKUPS,
    MAX_MESSAGES, MAX_MESSAGE_BYTES, MAX_PENDING, SIP_SERVICE,
};
pub use presence::{
    merged_presence, presence_key, trusted_state, Announcement, Presence, MAX_PRESENCE_VALUE,
    MAX_PRESENCE_VALUES, PRESENCE_POLL, PRESENCE_REFRESH, PRESENCE_TTL, WATCH_BATCH,
};
pub use register::{BINDING_REFRESH, BINDING_TTL, CLAIM_REFRESH, CLAIM_TTL};
pub use replay::{Replay, Replays, MAX_SEEN, REPLAY_WINDOW};
pub use stats::Stats;
