//! What the phone asks its shell to do, and what it tells the app: handles,
//! actions, media requests, events and the view of a call.

use core::fmt;
use core::time::Duration;

use chordphone_overlay::{Id, Kind, NodeId, Record, Time};

use crate::error::RegisterError;

/// One call of this phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallId(pub u32);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// One instant message sent by this phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(pub u32);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m{}", self.0)
    }
}

/// Correlates an overlay request ([`Action`]) with its outcome
/// ([`crate::Phone::handle_outcome`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token(pub u32);

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}", self.0)
    }
}

/// What the shell must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Read the records under a key (`Node::get`).
    Get {
        /// Pass back with the outcome.
        token: Token,
        /// The key.
        key: Id,
        /// Single or multi-valued.
        kind: Kind,
    },
    /// Store a record the user key signed (`Node::put_signed`).
    Put {
        /// Pass back with the outcome.
        token: Token,
        /// The signed record.
        record: Record,
    },
    /// Store a value signed by this node (`Node::put`).
    PutOwn {
        /// Pass back with the outcome.
        token: Token,
        /// The key.
        key: Id,
        /// Single or multi-valued.
        kind: Kind,
        /// The value.
        value: Vec<u8>,
        /// How long it lives.
        ttl: Duration,
    },
    /// Remove this node's value (`Node::remove`).
    RemoveOwn {
        /// Pass back with the outcome.
        token: Token,
        /// The key.
        key: Id,
        /// Single or multi-valued.
        kind: Kind,
        /// How long the tombstone lives.
        ttl: Duration,
    },
    /// Send a sealed payload (`Node::send_app(to, SIP_SERVICE, ..)`).
    Send {
        /// Pass back with the outcome.
        token: Token,
        /// The destination node.
        to: NodeId,
        /// The sealed envelope.
        payload: Vec<u8>,
    },
    /// Keep a direct link to this node while a call lasts (`Session::hold`).
    Hold(NodeId),
    /// The call with this node is over: its link may go.
    Release(NodeId),
    /// Make, apply or close media (the RTCPeerConnection).
    Media(Media),
    /// Tell the app.
    Event(PhoneEvent),
}

/// Media work for the shell (it owns the RTCPeerConnection).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Media {
    /// Make (or, for an existing call, renegotiate) an offer; `hold` asks
    /// for sendonly on every transceiver, false for sendrecv. Answer with
    /// [`crate::Phone::local_description`]. For a new outgoing call this
    /// comes at once from `call()`, so the offer is made while the lookup runs.
    Offer {
        /// The call.
        call: CallId,
        /// Hold (sendonly) or not (sendrecv).
        hold: bool,
        /// Restart ICE (fresh credentials and candidates, current ICE
        /// servers): the call's media path broke.
        restart: bool,
    },
    /// Apply the remote offer and make an answer (on `answer()`, and for a
    /// re-INVITE from the other side). Answer with `local_description`.
    Answer {
        /// The call.
        call: CallId,
        /// The remote SDP offer.
        offer: String,
    },
    /// Apply the remote answer to our offer.
    Apply {
        /// The call.
        call: CallId,
        /// The remote SDP answer.
        answer: String,
    },
    /// The call is over: close its RTCPeerConnection, stop ringing.
    Close {
        /// The call.
        call: CallId,
    },
}

/// What the phone tells the app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PhoneEvent {
    /// The name is ours and this device answers for it.
    Registered {
        /// The AOR.
        aor: String,
    },
    /// Registration failed; `reason` says why in plain words.
    RegisterFailed {
        /// The AOR.
        aor: String,
        /// Why.
        reason: RegisterError,
    },
    /// A call changed (after every change).
    CallChanged(CallView),
    /// An instant message arrived.
    Message {
        /// The sender's AOR (proven by its claim).
        from: String,
        /// The text.
        text: String,
        /// When it arrived.
        at: Time,
    },
    /// A message of ours was delivered, or why not (plain words).
    MessageDone {
        /// The message.
        id: MessageId,
        /// Delivered, or why not.
        outcome: Result<(), String>,
    },
    /// A message of ours found no device of the target online and waits
    /// in the overlay, sealed to the target's user key, until one comes
    /// back (or the record expires). Comes just before its
    /// [`PhoneEvent::MessageDone`] with `Ok`.
    MessageWaiting {
        /// The message.
        id: MessageId,
        /// The target's AOR.
        to: String,
    },
    /// The contact list, or what a contact's devices say, changed: read
    /// [`crate::Phone::contacts`] again.
    ContactsChanged,
    /// Hostile or forged input was refused (and counted in [`crate::Stats`]).
    Refused {
        /// The node it came from.
        from: NodeId,
        /// Why, in plain words.
        why: &'static str,
    },
}

/// Who called whom.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// We called.
    Out,
    /// We were called.
    In,
}

/// Where a call stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallState {
    /// Ours: looking up the name, or the INVITE is on its way.
    Calling,
    /// Ours: a device of the other side rings.
    Ringing,
    /// Theirs: ringing here.
    Incoming,
    /// Connected.
    Active,
    /// Connected, and we put it on hold.
    Held,
    /// Over.
    Ended,
}

impl CallState {
    /// The browser API's name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            CallState::Calling => "calling",
            CallState::Ringing => "ringing",
            CallState::Incoming => "incoming",
            CallState::Active => "active",
            CallState::Held => "held",
            CallState::Ended => "ended",
        }
    }
}

impl fmt::Display for CallState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A call as the app shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallView {
    /// The call.
    pub id: CallId,
    /// Who called.
    pub direction: Direction,
    /// The other side's AOR.
    pub peer: String,
    /// Where it stands.
    pub state: CallState,
    /// Why it ended or failed, in plain words.
    pub reason: Option<String>,
    /// The other side put the call on hold.
    pub held_by_peer: bool,
    /// When it began.
    pub started: Time,
    /// When it was answered.
    pub answered: Option<Time>,
    /// When it ended.
    pub ended: Option<Time>,
    /// ICE restarts this side asked for (the media path broke).
    pub restarts: u32,
}
