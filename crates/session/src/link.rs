//! One link as the session sees it: its transport, where it is in its
//! life, and the one deadline that applies to it.

use chordphone_link::{Handshake, PeerInfo};
use chordphone_overlay::{AttachToken, NodeId, Time};

/// Names one transport (a WebSocket or a WebRTC peer connection) for its
/// whole life. The session hands them out; the shell keys its transports
/// by them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub u64);

impl core::fmt::Display for LinkId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "link {}", self.0)
    }
}

/// The kind of transport behind a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// A WebSocket; `dialled` if this side opened it.
    WebSocket {
        /// This side opened it (the other side accepted it).
        dialled: bool,
    },
    /// A WebRTC data channel; `offerer` if this side sent the offer.
    WebRtc {
        /// This side sent the offer.
        offerer: bool,
    },
}

impl Transport {
    /// A short name for logs and the page.
    pub fn name(self) -> &'static str {
        match self {
            Transport::WebSocket { .. } => "websocket",
            Transport::WebRtc { .. } => "webrtc",
        }
    }

    /// Two WebSockets opened in opposite directions: two servers that
    /// dialled each other at the same moment. Both stay open (each side
    /// may have picked a different one to send on).
    pub(crate) fn crosses(self, other: Transport) -> bool {
        matches!(
            (self, other),
            (Transport::WebSocket { dialled: a }, Transport::WebSocket { dialled: b }) if a != b
        )
    }
}

/// Where a link is in its life.
#[derive(Debug)]
pub(crate) enum Phase {
    /// We offer WebRTC: the shell gathers our offer, then the answer comes
    /// back through the ring.
    Offering,
    /// We answer an offer: the shell gathers our answer.
    Answering(AttachToken),
    /// Negotiated (or dialled, or accepted); waiting for the transport.
    Opening,
    /// Open; proving identities.
    Handshaking(Box<Handshake>),
    /// Proven and reported to the node.
    Up(PeerInfo),
    /// Closed on purpose, flushing its last frames; nobody's link any more.
    Closing,
}

/// One link in the table.
#[derive(Debug)]
pub(crate) struct Link {
    pub transport: Transport,
    /// The node this link is meant to reach (none for a link whose peer is
    /// learnt from its handshake: the bootstrap server, an accepted socket).
    pub expected: Option<NodeId>,
    pub phase: Phase,
    /// Opened to join (or rejoin) a ring through the node at its end.
    pub bootstrap: bool,
    /// Set-up deadline while not up; end of the grace while closing.
    pub deadline: Option<Time>,
}

impl Link {
    pub fn is_up(&self) -> bool {
        matches!(self.phase, Phase::Up(_))
    }

    /// The proven peer, or else the one we meant to reach.
    pub fn peer(&self) -> Option<NodeId> {
        match &self.phase {
            Phase::Up(info) => Some(info.id),
            _ => self.expected,
        }
    }

    pub fn up_peer(&self) -> Option<&PeerInfo> {
        match &self.phase {
            Phase::Up(info) => Some(info),
            _ => None,
        }
    }
}
