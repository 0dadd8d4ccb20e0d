//! What crosses between the tasks of a server: the inputs of the node task,
//! its snapshot for HTTP, and its handle on each connection. A leaf module:
//! the tasks depend on it, it depends on none of them.

use crate::metrics::NodeGauges;
use crate::outbox::{self, Receiver, Refused, Sender};
use crate::socket::Out;
use axum::body::Bytes;
use chordphone_link::{CloseCode, Role};
use chordphone_overlay::{NodeId, Status};
use chordphone_session::LinkId;
use tokio::sync::oneshot;

/// What other tasks tell the node task.
#[derive(Debug)]
pub enum NodeInput {
    /// A peer opened a WebSocket to us; the reply names its link.
    Accepted {
        /// The connection's queue and close switch.
        handle: Handle,
        /// Where the link id goes.
        reply: oneshot::Sender<LinkId>,
    },
    /// A WebSocket the session asked for is open.
    Opened {
        /// Its link.
        link: LinkId,
        /// The connection's queue and close switch.
        handle: Handle,
    },
    /// A WebSocket the session asked for could not be opened.
    DialFailed {
        /// Its link.
        link: LinkId,
        /// Why.
        why: String,
    },
    /// A binary message from a connection.
    Frame {
        /// Its link.
        link: LinkId,
        /// The message.
        bytes: Bytes,
    },
    /// A connection ended.
    Closed {
        /// Its link.
        link: LinkId,
        /// Why.
        why: &'static str,
    },
    /// A view of the node for `/status` and `/metrics`.
    Snapshot(oneshot::Sender<Snapshot>),
    /// A datagram on the gateway's SIP socket.
    TrunkDatagram {
        /// Who sent it.
        from: std::net::SocketAddr,
        /// The datagram.
        bytes: Bytes,
    },
    /// The media bridge lost a leg of a gateway call.
    MediaFailed {
        /// The call.
        call: chordphone_gateway::MediaCall,
    },
}

/// The node's state as HTTP shows it.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Ring view and links.
    pub status: Status,
    /// Handshaken connections and what their peers are.
    pub peers: Vec<(NodeId, Role)>,
    /// Gauges for `/metrics`.
    pub gauges: NodeGauges,
}

/// The node task's handle on one connection.
#[derive(Debug)]
pub struct Handle {
    /// Frames (and a final close) in order, and the switch that closes at
    /// once, ahead of them. Dropping it closes the connection.
    out: Sender,
}

impl Handle {
    /// A connection's queue and its close switch, and the ends its task
    /// keeps.
    pub fn new(queue: usize) -> (Handle, Receiver) {
        let (out, out_rx) = outbox::outbox(queue);
        (Handle { out }, out_rx)
    }

    /// Queues a frame; refused when the queue is full or the connection
    /// task has ended.
    pub fn try_send(&self, frame: Out) -> Result<(), Refused> {
        self.out.try_send(frame)
    }

    /// Closes at once; what is queued is dropped.
    pub fn close_now(&mut self, code: CloseCode) {
        self.out.close_now(code);
    }

    /// Closes after what is queued has gone out.
    pub fn close_after_queue(&mut self, code: CloseCode) {
        if self.out.try_send(Out::Close(code)).is_err() {
            self.close_now(code);
        }
    }
}
