//! The phone: the settings, the state every part shares, and the inputs
//! and outputs of the sans-IO loop. Commands and handlers live in the files
//! named after what they do (register, calls, messages, inbound, outbound).

use chordphone_overlay::{VecMap, VecSet};
use std::collections::VecDeque;

use core::time::Duration;

use chordphone_overlay::{Answer, Identity, NodeId, QueryError, ServiceId, Time};
use chordphone_sip::UserAgent;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::action::{Action, CallId, CallView, MessageId, PhoneEvent, Token};
use crate::call::Call;
use crate::contacts::Contacts;
use crate::inbox::Inbox;
use crate::lookup::Lookups;
use crate::messages::Outgoing;
use crate::names::DEFAULT_OVERLAY_NAME;
use crate::presence::Presences;
use crate::register::Registration;
use crate::replay::Replays;
use crate::stats::Stats;

/// The overlay service number phones exchange sealed SIP on.
pub const SIP_SERVICE: ServiceId = ServiceId(2);

/// Calls not yet ended, at most; more incoming calls get 486 Busy Here.
pub const MAX_CALLS: usize = 8;
/// Calls kept at all (ended ones included); the oldest ended go first.
pub const MAX_CALL_ENTRIES: usize = 32;
/// Name look-ups running at once.
pub const MAX_LOOKUPS: usize = 64;
/// Messages on their way at once.
pub const MAX_MESSAGES: usize = 16;
/// Longest message text, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// Actions waiting for the shell; beyond it, notices of refused input are
/// dropped (and counted) rather than growing the queue.
pub const MAX_ACTIONS: usize = 1024;
/// Overlay requests waiting for their outcome. A shell that never reports
/// some outcomes cannot grow the table past this: the oldest are dropped.
pub const MAX_PENDING: usize = 4096;
/// Node keys remembered for sealing answers.
pub const MAX_KEYS: usize = 256;
/// How long an ended call stays in [`Phone::calls`].
pub const KEEP_ENDED: Duration = Duration::from_secs(60);

/// Settings of one phone.
#[derive(Clone, Debug)]
pub struct Config {
    /// The overlay's name: the host part of every AOR (`chordphone`).
    pub overlay_name: String,
    /// Shown to the other devices of the user.
    pub device_label: String,
    /// This tab's node identity (to unseal, and to bind the device).
    pub node: Identity,
    /// The user's key pair (holds the name, vouches for devices).
    pub user: Identity,
    /// Seeds ephemeral keys, tags and branches.
    pub seed: u64,
    /// An incoming call rings this long, then 480.
    pub ring_timeout: Duration,
    /// An outgoing call nobody answers is cancelled after this long.
    pub call_timeout: Duration,
}

impl Config {
    /// Defaults: overlay `chordphone`, label `browser`, ring 45 s, call 60 s.
    pub fn new(node: Identity, user: Identity, seed: u64) -> Config {
        Config {
            overlay_name: DEFAULT_OVERLAY_NAME.to_owned(),
            device_label: "browser".to_owned(),
            node,
            user,
            seed,
            ring_timeout: Duration::from_secs(45),
            call_timeout: Duration::from_secs(60),
        }
    }
}

/// What a token was given out for.
#[derive(Clone, Debug)]
pub(crate) enum Pending {
    /// Our claim record.
    Claim,
    /// Our device binding.
    Bind,
    /// A tombstone of ours (the binding, the presence value).
    Unbind,
    /// The claim half of a lookup.
    LookupClaim(u32),
    /// The devices half of a lookup.
    LookupDevices(u32),
    /// The gateways for a call to a number.
    LookupGateways(CallId),
    /// A sealed SIP message.
    Send(Sent),
    /// A read of our inbox.
    InboxGet,
    /// A message left in the target's inbox.
    InboxPut(MessageId),
    /// A read of our contact list.
    ContactsGet,
    /// Our contact list written.
    ContactsPut,
    /// Our presence written.
    PresencePut,
    /// A read of a contact's presence (by name).
    PresenceGet(String),
}

/// What a sent SIP message was, for when its delivery fails.
#[derive(Clone, Debug)]
pub(crate) enum Sent {
    /// The INVITE that starts a call leg.
    Invite(String),
    /// A MESSAGE.
    Message(String),
    /// Anything else (responses, in-dialog requests): the SIP layer copes.
    Other,
}

/// The phone core: registration, calls and messages over the overlay.
///
/// Sans-IO: feed it commands, [`handle_app`](Self::handle_app),
/// [`handle_outcome`](Self::handle_outcome) and
/// [`handle_timeout`](Self::handle_timeout) with the current time; after
/// each, drain [`poll_action`](Self::poll_action) and wake at
/// [`poll_timeout`](Self::poll_timeout).
#[derive(Debug)]
pub struct Phone {
    pub(crate) config: Config,
    /// Ephemeral keys and tags. The overlay's generator type (ChaCha with
    /// 8 rounds, still far beyond the best known attack): one ChaCha block
    /// function in the tab instead of two.
    pub(crate) rng: ChaCha8Rng,
    /// The SIP user agent; exists from `register` on (it needs the AOR).
    pub(crate) ua: Option<UserAgent<NodeId>>,
    pub(crate) reg: Registration,
    pub(crate) calls: VecMap<CallId, Call>,
    /// Which phone call each user agent call (a leg) belongs to.
    pub(crate) legs: VecMap<chordphone_sip::CallId, CallId>,
    pub(crate) lookups: Lookups,
    pub(crate) pending: VecMap<Token, Pending>,
    pub(crate) messages: VecMap<MessageId, Outgoing>,
    /// Node public keys of peers, for sealing to them.
    pub(crate) keys: VecMap<NodeId, [u8; 32]>,
    /// SIP Call-IDs of our legs cancelled because the call was settled on
    /// another device, with the cause their CANCEL gives.
    pub(crate) elsewhere: VecMap<String, u16>,
    pub(crate) actions: VecDeque<Action>,
    pub(crate) stats: Stats,
    /// Signatures of recent messages (no replays).
    pub(crate) replays: Replays,
    /// The proven sender of the input being handled (node, AOR).
    pub(crate) origin: Option<(NodeId, String)>,
    /// Messages waiting in the overlay: ours for others, and those read.
    pub(crate) inbox: Inbox,
    /// The user's contact list, as stored in the overlay.
    pub(crate) contacts: Contacts,
    /// This device's presence and the watch over the contacts'.
    pub(crate) presence: Presences,
    next_call: u32,
    pub(crate) next_message: u32,
    next_token: u32,
}

impl Phone {
    /// A phone with these settings, not registered yet.
    pub fn new(config: Config) -> Phone {
        // The ephemeral sealing keys must be unpredictable to others even
        // if the 64-bit seed leaks: mix in the node's secret.
        let rng = ChaCha8Rng::from_seed(crate::seal::digest32(&[
            b"chordphone phone rng\0",
            &config.seed.to_be_bytes(),
            &config.node.seed(),
        ]));
        Phone {
            config,
            rng,
            ua: None,
            reg: Registration::default(),
            calls: VecMap::new(),
            legs: VecMap::new(),
            lookups: Lookups::default(),
            pending: VecMap::new(),
            messages: VecMap::new(),
            keys: VecMap::new(),
            elsewhere: VecMap::new(),
            actions: VecDeque::new(),
            stats: Stats::default(),
            replays: Replays::default(),
            origin: None,
            inbox: Inbox::default(),
            contacts: Contacts::default(),
            presence: Presences::default(),
            next_call: 1,
            next_message: 1,
            next_token: 1,
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Our AOR, once registered.
    pub fn aor(&self) -> Option<&str> {
        self.reg.registered_aor()
    }

    /// Every call not yet forgotten (ended calls stay [`KEEP_ENDED`]).
    pub fn calls(&self) -> Vec<CallView> {
        self.calls.values().map(Call::view).collect()
    }

    /// What arrived and what was done with it.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The next thing the shell must do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next.
    pub fn poll_timeout(&self) -> Option<Time> {
        let ua = self
            .ua
            .as_ref()
            .and_then(UserAgent::poll_timeout)
            .map(overlay_time);
        [
            ua,
            self.reg.next_timeout(),
            self.calls_timeout(),
            self.inbox_timeout(),
            self.contacts_timeout(),
            self.presence_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Fires whatever is due at `now`.
    pub fn handle_timeout(&mut self, now: Time) {
        if let Some(ua) = self.ua.as_mut() {
            ua.handle_timeout(sip_time(now));
        }
        self.drain_ua(now);
        self.registration_timers(now);
        self.call_timers(now);
        self.inbox_timers(now);
        self.contacts_timers(now);
        self.presence_timers(now);
    }

    /// The outcome of an [`Action`] that carried `token`.
    pub fn handle_outcome(&mut self, token: Token, outcome: Result<Answer, QueryError>, now: Time) {
        let Some(pending) = self.pending.remove(&token) else {
            self.stats.stray_outcomes += 1;
            return;
        };
        match pending {
            Pending::Claim => self.on_claim_stored(outcome, now),
            Pending::Bind => self.on_binding_stored(outcome, now),
            Pending::Unbind => {}
            Pending::LookupClaim(id) => self.on_lookup_part(id, true, outcome, now),
            Pending::LookupDevices(id) => self.on_lookup_part(id, false, outcome, now),
            Pending::LookupGateways(call) => self.on_gateways(call, outcome, now),
            Pending::InboxGet => self.on_inbox_read(outcome, now),
            Pending::InboxPut(id) => self.on_letter_stored(id, outcome),
            Pending::ContactsGet => self.on_contacts_read(outcome, now),
            Pending::ContactsPut => self.on_contacts_stored(outcome, now),
            Pending::PresencePut => self.on_presence_stored(outcome, now),
            Pending::PresenceGet(name) => self.on_presence_read(name, outcome, now),
            Pending::Send(sent) => {
                if let Err(e) = outcome {
                    self.stats.send_failed += 1;
                    self.on_send_failed(sent, e, now);
                }
            }
        }
        self.drain_ua(now);
    }

    // ------------------------------------------------------------ plumbing

    /// A fresh token for an action, remembered as `pending`.
    pub(crate) fn token(&mut self, pending: Pending) -> Token {
        if self.pending.len() >= MAX_PENDING {
            // Tokens count up (wrapping rarely): the first is about the oldest.
            self.pending.pop_first();
            self.stats.dropped_pending += 1;
        }
        let t = Token(self.next_token);
        self.next_token = self.next_token.wrapping_add(1).max(1);
        self.pending.insert(t, pending);
        t
    }

    /// A fresh call handle.
    pub(crate) fn new_call_id(&mut self) -> CallId {
        let id = CallId(self.next_call);
        self.next_call = self.next_call.wrapping_add(1).max(1);
        id
    }

    /// 32 bytes from the phone's generator (ephemeral keys).
    pub(crate) fn random32(&mut self) -> [u8; 32] {
        let mut b = [0u8; 32];
        self.rng.fill_bytes(&mut b);
        b
    }

    /// Queues an action for the shell.
    pub(crate) fn act(&mut self, action: Action) {
        self.actions.push_back(action);
    }

    /// Queues an event for the app.
    pub(crate) fn emit(&mut self, event: PhoneEvent) {
        self.actions.push_back(Action::Event(event));
    }

    /// Tells the app about hostile input, unless the queue is long already
    /// (a flood of garbage must not grow it without bound).
    pub(crate) fn refused(&mut self, from: NodeId, why: &'static str) {
        if self.actions.len() >= MAX_ACTIONS {
            self.stats.dropped_events += 1;
            return;
        }
        self.emit(PhoneEvent::Refused { from, why });
    }

    /// Remembers a peer's node key for sealing to it.
    pub(crate) fn learn_key(&mut self, node: NodeId, key: [u8; 32]) {
        if self.keys.len() >= MAX_KEYS && !self.keys.contains_key(&node) {
            // Keep the keys of the nodes in calls; forget one other.
            let busy: VecSet<NodeId> = self.calls.values().flat_map(Call::nodes).collect();
            let old = self.keys.keys().find(|n| !busy.contains(n)).copied();
            if let Some(old) = old {
                self.keys.remove(&old);
            } else {
                return;
            }
        }
        self.keys.insert(node, key);
    }
}

/// The overlay's time as the SIP layer's: both count microseconds; this is
/// the one place the phone converts.
pub(crate) fn sip_time(now: Time) -> chordphone_sip::Time {
    chordphone_sip::Time(now.as_micros())
}

/// The SIP layer's time as the overlay's.
pub(crate) fn overlay_time(t: chordphone_sip::Time) -> Time {
    Time(t.0)
}
