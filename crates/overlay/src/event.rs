//! What a node hands back to its shell: transmits and events.

use crate::app::ServiceId;
use crate::id::NodeId;
use crate::record::Record;
use crate::store::StoreError;
use crate::wire::{Message, RouteError};
use core::fmt;
use core::time::Duration;

/// Identifies a request the shell started (lookup, get, put, attach, an
/// application message). Unique per node for its lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueryId(pub u64);

impl fmt::Display for QueryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Identifies an attach request waiting for the shell's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AttachToken(pub u64);

impl fmt::Display for AttachToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A message to send to a linked neighbour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The neighbour.
    pub to: NodeId,
    /// What to send (encode with [`Message::encode`]).
    pub msg: Message,
}

/// What [`crate::Node::poll_output`] hands out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// A message to send.
    Transmit(Transmit),
    /// Something to act on.
    Event(Event),
}

/// Something the shell must act on or may show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Open a link to this node (the core queues what it wants to send).
    Connect(NodeId),
    /// Close the link to this node.
    Disconnect(NodeId),
    /// The node has a place in the ring.
    Joined,
    /// Joining failed (bootstrap unreachable, no answer); call `join` again.
    JoinFailed(QueryError),
    /// The node left the ring and handed its records over.
    Left,
    /// Predecessor, successors or fingers changed.
    RingChanged,
    /// A request started by the shell ended.
    QueryDone {
        /// The id `lookup`/`get`/`put`/`attach` returned.
        id: QueryId,
        /// Hops the request took to the answering node.
        hops: u8,
        /// Next hops that timed out on the way.
        timeouts: u8,
        /// From the call to the answer.
        elapsed: Duration,
        /// The answer or why there is none.
        outcome: Result<Answer, QueryError>,
    },
    /// Another node sent link negotiation data; answer with `attach_reply`.
    AttachRequest {
        /// Pass back to `attach_reply`.
        token: AttachToken,
        /// The node that sent it.
        from: NodeId,
        /// Shell-defined bytes.
        data: Vec<u8>,
    },
    /// An application message for a service this node serves. Its origin
    /// is proven: `from` signed it for this node. The sender has been told
    /// it was delivered; any answer is a message of its own.
    App {
        /// The node that sent it.
        from: NodeId,
        /// The service it is for.
        service: ServiceId,
        /// Opaque to the overlay.
        payload: Vec<u8>,
    },
}

/// A successful answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The key's owner.
    Owner(NodeId),
    /// The live records under the key.
    Records(Vec<Record>),
    /// The owner stored the record.
    Stored,
    /// The target node's attach answer.
    Attached(Vec<u8>),
    /// The target node accepted the application message.
    Delivered,
    /// The key's owner and the nodes a traced lookup passed through, this
    /// node first and the owner last.
    Route {
        /// The key's owner.
        owner: NodeId,
        /// The path.
        path: Vec<NodeId>,
    },
}

/// Why a request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Routing failed somewhere on the path.
    #[error("routing failed: {0}")]
    Route(#[from] RouteError),
    /// The owner refused the record.
    #[error("record refused: {0}")]
    Store(#[from] StoreError),
    /// No answer before the deadline.
    #[error("no answer in time")]
    Timeout,
    /// The node is not part of a ring yet (or has left).
    #[error("not joined")]
    NotJoined,
    /// Too many requests in flight.
    #[error("too many requests in flight")]
    Overloaded,
    /// The node where the request ended does not handle it: it does not
    /// serve the service, or does not know the kind of request.
    #[error("not supported by the target")]
    Unsupported,
    /// The target refused the message: it could not prove that this node
    /// sent it (changed on the way, or the target is not who signed for).
    #[error("origin not proven")]
    BadOrigin,
    /// The answer was of a kind this build does not know.
    #[error("answer of an unknown kind")]
    UnknownReply,
}

/// Errors of local calls, reported at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LocalError {
    /// The value is larger than the store accepts.
    #[error("value too large")]
    TooLarge,
    /// The payload is larger than a message may carry.
    #[error("payload too large")]
    PayloadTooLarge,
    /// The lifetime is longer than the store accepts, or zero.
    #[error("invalid lifetime")]
    BadTtl,
    /// No attach request with this token is waiting.
    #[error("unknown attach token")]
    UnknownToken,
    /// A raw request may only use a kind number this build does not define.
    #[error("request kind is one this build defines")]
    KnownKind,
    /// The node has left the ring.
    #[error("node has left")]
    Left,
    /// A record handed in to store does not verify under its writer's key.
    #[error("record signature is invalid")]
    BadSignature,
}
