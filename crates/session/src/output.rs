//! What a session hands back to its shell.

use crate::link::{LinkId, Transport};
use chordphone_link::{CloseCode, PeerInfo, Refusal};
use chordphone_overlay::{NodeId, QueryError};

/// One thing the shell must do, or may show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Open a transport for `link`; report it with
    /// [`crate::Session::handle_opened`] (or
    /// [`crate::Session::handle_failed`]).
    Open {
        /// The link the transport belongs to.
        link: LinkId,
        /// What to open.
        how: Open,
    },
    /// Apply the remote WebRTC answer to the link's peer connection; its data
    /// channel then opens (or the shell reports the failure).
    ApplyAnswer {
        /// The link.
        link: LinkId,
        /// The remote description.
        sdp: String,
    },
    /// Send one frame on the link's transport. A transport that cannot take
    /// it (gone, queue full) is closed by the shell and reported with
    /// [`crate::Session::handle_closed`].
    Send {
        /// The link.
        link: LinkId,
        /// One binary message.
        frame: Vec<u8>,
    },
    /// Close the link's transport and forget it.
    Close {
        /// The link.
        link: LinkId,
        /// The close code (a WebSocket sends it with its reason).
        code: CloseCode,
        /// Deliver what is queued first (a link closed on purpose: its last
        /// frame tells the peer the close is no failure). A later `Close` of
        /// the same link without `gently` tears it down.
        gently: bool,
    },
    /// Something happened.
    Event(Event),
}

/// What to open for a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Open {
    /// A WebSocket to this URL.
    WebSocket {
        /// `ws://` or `wss://` URL.
        url: String,
    },
    /// A WebRTC peer connection with its data channel; create an offer with
    /// every candidate gathered and report it with
    /// [`crate::Session::handle_description`].
    Offer,
    /// A WebRTC peer connection answering this remote offer; report the
    /// answer with [`crate::Session::handle_description`].
    Answer {
        /// The remote offer.
        sdp: String,
    },
}

/// Something the shell may act on or show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// An event of the overlay node that the session does not consume:
    /// finished requests, joins, ring changes, application messages.
    Overlay(chordphone_overlay::Event),
    /// A link passed the identity handshake and is up.
    LinkUp {
        /// The proven peer.
        peer: PeerInfo,
        /// Its link.
        link: LinkId,
        /// Its transport.
        transport: Transport,
        /// This link is the one through which the session joins.
        bootstrap: bool,
    },
    /// No link to this peer could be had, or the one there was is gone.
    LinkFailed {
        /// The peer.
        peer: NodeId,
        /// Why, in a form the shell can show.
        reason: LinkFailure,
    },
    /// The link through which the session joins closed.
    BootstrapLost {
        /// What the shell reported about it.
        why: String,
    },
    /// A peer broke the rules of a link and was closed with `code`.
    Misbehaved {
        /// The link.
        link: LinkId,
        /// The peer, if known.
        peer: Option<NodeId>,
        /// How it was closed.
        code: CloseCode,
        /// What it did.
        what: String,
    },
}

/// Why a link could not be had, or ended.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkFailure {
    /// The peer refused.
    #[error("refused by the peer: {}", refusal_text(*.0))]
    Refused(Refusal),
    /// The negotiation found no way through the ring.
    #[error("no answer through the ring: {0}")]
    NoRoute(QueryError),
    /// The answer could not be used.
    #[error("bad answer from the peer")]
    BadAnswer,
    /// Set-up took too long (ICE found no path, the peer never dialled).
    #[error("link setup timed out")]
    Timeout,
    /// This side holds as many links as it takes.
    #[error("too many links open")]
    TooMany,
    /// The transport failed or closed.
    #[error("{0}")]
    Closed(String),
    /// The peer proved another identity than the one meant.
    #[error("the peer answered with the wrong identity")]
    WrongIdentity,
    /// The peer broke the link's rules.
    #[error("{}", .0.reason())]
    Broken(CloseCode),
}

fn refusal_text(reason: Refusal) -> &'static str {
    match reason {
        Refusal::Glare => "both sides offered at once",
        Refusal::Busy => "it holds as many links as it takes",
        Refusal::Unusable => "our offer was of no use to it",
    }
}
