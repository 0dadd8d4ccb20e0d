//! The one wire format for overlay messages between neighbours.
//!
//! A frame is a version byte followed by a postcard-encoded [`Message`].
//! Frames longer than [`MAX_FRAME`] are refused before decoding, so a hostile
//! peer cannot make a node allocate more than that; lists inside are checked
//! against their own limits after decoding.
//!
//! Routed requests and their replies are forward compatible: each is a kind
//! number and a length-prefixed body (see `envelope.rs`), so a request of a
//! kind this build does not know still decodes, as [`Request::Unknown`]; hops
//! forward it on its route header alone and the destination answers
//! [`Reply::Unsupported`]. The link stays up. Messages between neighbours
//! (stabilization and the like) are not: a build that adds one sends it only
//! to peers whose link hello announced the matching feature bit.

use crate::app::{AppMessage, MAX_APP};
use crate::envelope::{is_known_reply, is_known_request};
use crate::id::{Id, NodeId};
use crate::record::{Kind, Record};
use crate::store::StoreError;
use serde::{Deserialize, Serialize};

/// The wire version this build speaks. Version 2 put requests and replies
/// in envelopes (kind number, length-prefixed body).
pub const WIRE_VERSION: u8 = 2;
/// Largest frame accepted or produced, in bytes.
pub const MAX_FRAME: usize = 64 * 1024;
/// Longest successor list a message may carry.
pub const MAX_LIST: usize = 64;
/// Most nodes a routed request asks later hops to avoid.
pub const MAX_AVOID: usize = 8;
/// Largest opaque attach payload.
pub const MAX_ATTACH: usize = 16 * 1024;
/// Largest body of a request or reply kind this build does not know: room
/// for a payload as large as any kind carries, and small enough that a hop
/// that adds to the route header still builds a frame under [`MAX_FRAME`].
pub const MAX_UNKNOWN: usize = MAX_APP + 1024;

/// Hop-local query number: chosen by the sender of a request, echoed in its
/// acknowledgement and reply. A reply with a number the receiver did not
/// hand to that peer is dropped.
pub type QueryNo = u64;

/// Everything one overlay node says to a linked neighbour.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// "I believe I am your predecessor; tell me your view." Sent to the
    /// successor every stabilization round; doubles as Chord's notify.
    Stabilize {
        /// Echoed in the answer.
        seq: u32,
    },
    /// The successor's view, answering [`Message::Stabilize`].
    StabilizeReply {
        /// Echo of the request.
        seq: u32,
        /// The sender's predecessor.
        predecessor: Option<NodeId>,
        /// The sender's successor list.
        successors: Vec<NodeId>,
    },
    /// "Who is your predecessor?": checks a finger cheaply. If a node has
    /// joined just before the finger, the answer names it.
    Probe {
        /// Echoed in the answer.
        seq: u32,
    },
    /// Answer to [`Message::Probe`].
    ProbeReply {
        /// Echo of the probe.
        seq: u32,
        /// The sender's predecessor.
        predecessor: Option<NodeId>,
    },
    /// "I may be your predecessor", without asking for stabilization: sent
    /// to a node that claimed our own id (a sign of a split ring).
    Notify,
    /// The sender's view of its neighbourhood, offered as successor
    /// candidates (in answer to a notify, or when refusing a link).
    Neighbours {
        /// The sender's predecessor.
        predecessor: Option<NodeId>,
        /// The sender's successor list.
        successors: Vec<NodeId>,
    },
    /// The sender leaves the ring gracefully: here are its neighbours.
    Leave {
        /// Its predecessor (for its successor).
        predecessor: Option<NodeId>,
        /// Its successors (for its predecessor).
        successors: Vec<NodeId>,
    },
    /// The sender is about to close this link on purpose: not a failure.
    Close {
        /// Why.
        reason: CloseReason,
    },
    /// A request routed hop by hop towards a key or node id.
    Route(Route),
    /// The next hop took responsibility for a routed request.
    RouteAck {
        /// The number the sender of the request gave it.
        no: QueryNo,
    },
    /// The answer to a routed request, travelling back along its path.
    RouteReply {
        /// The number the sender of the request gave it.
        no: QueryNo,
        /// Hops the request took to the node that answered.
        hops: u8,
        /// Next hops that timed out on the way.
        timeouts: u8,
        /// The answer.
        reply: Reply,
    },
    /// Records pushed to a replica or a new owner.
    Replicate {
        /// The records; each is checked on arrival.
        records: Vec<Record>,
        /// How many further successors the receiver passes them on to:
        /// copies travel down the chain of successor links, which every
        /// node keeps open, instead of needing links to farther nodes.
        copies_left: u8,
    },
}

/// A request on its way through the ring.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Hop-local number for the ack and reply.
    pub no: QueryNo,
    /// The key or node id it is routed to.
    pub target: Id,
    /// To the owner of a key, or to exactly one node.
    pub mode: Mode,
    /// The sender believes the receiver owns `target`.
    pub last_hop: bool,
    /// Hops taken so far.
    pub hops: u8,
    /// Next hops that timed out so far.
    pub timeouts: u8,
    /// Nodes found unresponsive on the way: later hops route around them.
    pub avoid: Vec<NodeId>,
    /// The node that started it.
    pub origin: NodeId,
    /// What to do on arrival.
    pub request: Request,
}

/// Why a link is closed on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CloseReason {
    /// Over the link budget.
    Busy,
    /// Nothing used it for a while.
    Idle,
    /// The node leaves the ring.
    Leaving,
}

/// Where a routed request ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// At the owner (successor) of the key.
    ToKey,
    /// At the node whose id is the target, or fail.
    ToNode,
}

/// What a routed request asks of the node where it ends. On the wire each
/// is a kind number and a body (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Who owns the key?
    Lookup,
    /// The origin joins: answer with the ring around the key.
    Join,
    /// Read the records under the key.
    Get {
        /// Single or multi valued.
        kind: Kind,
    },
    /// Store (or remove, with a tombstone) a record. Boxed: it is the
    /// largest request, and routed requests are moved at every hop.
    Put(Box<Record>),
    /// Opaque link negotiation (WebRTC offer/answer/candidates) for the node.
    Attach {
        /// Shell-defined bytes.
        data: Vec<u8>,
    },
    /// Who owns the key, and which nodes the request passed through: each
    /// node that forwards it adds itself (at most [`MAX_LIST`]).
    Trace {
        /// The nodes so far, the origin first.
        path: Vec<NodeId>,
    },
    /// Opaque bytes for a service at the target node, signed by the origin
    /// (routed [`Mode::ToNode`]). Boxed like `Put`.
    App(Box<AppMessage>),
    /// A kind this build does not know (sent by a newer one): forwarded as
    /// is, answered [`Reply::Unsupported`] at the destination. Its number
    /// is never one of the kinds above.
    Unknown {
        /// The kind number.
        kind: u16,
        /// The body, unread.
        body: Vec<u8>,
    },
}

/// The answer to a routed request. On the wire each is a kind number and a
/// body, like [`Request`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The owner of the key.
    Owner {
        /// Its id.
        owner: NodeId,
    },
    /// The ring around a joining node's id.
    Joined {
        /// The answering node (the joiner's successor).
        owner: NodeId,
        /// Its predecessor (the joiner's predecessor).
        predecessor: Option<NodeId>,
        /// Its successor list.
        successors: Vec<NodeId>,
    },
    /// Records found.
    Records {
        /// Live values under the key.
        records: Vec<Record>,
    },
    /// The record was stored by the owner.
    Stored,
    /// The owner refused the record.
    Refused(StoreError),
    /// The attach answer from the target node.
    Attached {
        /// Shell-defined bytes.
        data: Vec<u8>,
    },
    /// Routing failed.
    Failed(RouteError),
    /// The owner of the key and the path the request took to it.
    Traced {
        /// Its id.
        owner: NodeId,
        /// The nodes the request passed through, the origin first and the
        /// owner last.
        path: Vec<NodeId>,
    },
    /// The target node accepted an application message.
    Delivered,
    /// The node where the request ended does not handle it: a kind it does
    /// not know, or a service it does not serve.
    Unsupported,
    /// The target refused an application message whose origin it could not
    /// prove (wrong key, bad signature, or signed for another node).
    BadOrigin,
    /// A kind this build does not know: passed back as is.
    Unknown {
        /// The kind number.
        kind: u16,
        /// The body, unread.
        body: Vec<u8>,
    },
}

/// Why routing failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum RouteError {
    /// No node with that id is in the ring.
    #[error("no such node")]
    NoSuchNode,
    /// Every next hop timed out or refused.
    #[error("no route: every next hop failed")]
    NoRoute,
    /// The request exceeded the hop limit.
    #[error("hop limit exceeded")]
    HopLimit,
    /// The node that should answer could not (busy, or shutting down).
    #[error("target refused the request")]
    Refused,
}

/// Why bytes from a neighbour were not a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Longer than [`MAX_FRAME`].
    #[error("frame of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// Empty frame.
    #[error("empty frame")]
    Empty,
    /// A wire version this build does not speak.
    #[error("unsupported wire version {0}")]
    Version(u8),
    /// Not a valid encoding.
    #[error("malformed frame")]
    Malformed,
    /// Valid encoding, but a list or payload over its limit.
    #[error("frame breaks a limit")]
    Limit,
}

impl Message {
    /// Encodes a frame. Fails only if the message is over [`MAX_FRAME`],
    /// which the node never builds.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut out = vec![WIRE_VERSION];
        let body = postcard::to_allocvec(self).map_err(|_| WireError::Malformed)?;
        out.extend_from_slice(&body);
        if out.len() > MAX_FRAME {
            return Err(WireError::TooLarge(out.len()));
        }
        Ok(out)
    }

    /// Decodes and checks a frame from the network.
    pub fn decode(bytes: &[u8]) -> Result<Message, WireError> {
        if bytes.len() > MAX_FRAME {
            return Err(WireError::TooLarge(bytes.len()));
        }
        let (&version, body) = bytes.split_first().ok_or(WireError::Empty)?;
        if version != WIRE_VERSION {
            return Err(WireError::Version(version));
        }
        let (msg, rest): (Message, &[u8]) =
            postcard::take_from_bytes(body).map_err(|_| WireError::Malformed)?;
        if !rest.is_empty() {
            return Err(WireError::Malformed);
        }
        msg.check_limits()?;
        Ok(msg)
    }

    /// Limits that the encoding alone does not enforce.
    pub fn check_limits(&self) -> Result<(), WireError> {
        let ok = match self {
            Message::StabilizeReply { successors, .. }
            | Message::Leave { successors, .. }
            | Message::Neighbours { successors, .. } => successors.len() <= MAX_LIST,
            Message::Route(r) => {
                r.avoid.len() <= MAX_AVOID
                    && match &r.request {
                        Request::Attach { data } => data.len() <= MAX_ATTACH,
                        Request::Trace { path } => path.len() <= MAX_LIST,
                        Request::App(m) => m.payload.len() <= MAX_APP,
                        Request::Unknown { kind, body } => {
                            !is_known_request(*kind) && body.len() <= MAX_UNKNOWN
                        }
                        _ => true,
                    }
            }
            Message::RouteReply { reply, .. } => match reply {
                Reply::Joined { successors, .. } => successors.len() <= MAX_LIST,
                Reply::Attached { data } => data.len() <= MAX_ATTACH,
                Reply::Traced { path, .. } => path.len() <= MAX_LIST,
                Reply::Unknown { kind, body } => {
                    !is_known_reply(*kind) && body.len() <= MAX_UNKNOWN
                }
                _ => true,
            },
            _ => true,
        };
        if ok {
            Ok(())
        } else {
            Err(WireError::Limit)
        }
    }

    /// True for ring upkeep (as opposed to requests made by users): counted
    /// separately as maintenance traffic.
    pub fn is_maintenance(&self) -> bool {
        !matches!(
            self,
            Message::Route(_) | Message::RouteAck { .. } | Message::RouteReply { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::ServiceId;
    use crate::identity::Identity;
    use crate::time::Time;

    fn route(request: Request) -> Message {
        Message::Route(Route {
            no: 7,
            target: Id::for_key("k"),
            mode: Mode::ToNode,
            last_hop: false,
            hops: 2,
            timeouts: 1,
            avoid: vec![Id::for_key("dead")],
            origin: Id::for_key("o"),
            request,
        })
    }

    fn reply(reply: Reply) -> Message {
        Message::RouteReply {
            no: 7,
            hops: 3,
            timeouts: 0,
            reply,
        }
    }

    fn samples() -> Vec<Message> {
        let rec = Record::sign(
            &Identity::from_seed([3; 32]),
            Id::for_key("alice"),
            Kind::Single,
            1,
            Time(5),
            Some(b"node".to_vec()),
        );
        vec![
            Message::Stabilize { seq: 1 },
            Message::StabilizeReply {
                seq: 1,
                predecessor: Some(Id::for_key("p")),
                successors: vec![Id::for_key("s")],
            },
            Message::Route(Route {
                no: 7,
                target: Id::for_key("k"),
                mode: Mode::ToKey,
                last_hop: false,
                hops: 2,
                timeouts: 1,
                avoid: vec![Id::for_key("dead")],
                origin: Id::for_key("o"),
                request: Request::Put(Box::new(rec.clone())),
            }),
            Message::RouteReply {
                no: 7,
                hops: 3,
                timeouts: 0,
                reply: Reply::Records {
                    records: vec![rec.clone()],
                },
            },
            Message::Replicate {
                records: vec![rec],
                copies_left: 1,
            },
            Message::Close {
                reason: CloseReason::Busy,
            },
            Message::Probe { seq: 9 },
            Message::ProbeReply {
                seq: 9,
                predecessor: None,
            },
            route(Request::App(Box::new(AppMessage::sign(
                &Identity::from_seed([4; 32]),
                Id::for_key("k"),
                ServiceId(5060),
                b"INVITE sip:bob".to_vec(),
            )))),
            route(Request::Unknown {
                kind: 4242,
                body: vec![9; 40],
            }),
            route(Request::Lookup),
            route(Request::Trace {
                path: vec![Id::for_key("o")],
            }),
            reply(Reply::Delivered),
            reply(Reply::Unsupported),
            reply(Reply::BadOrigin),
            reply(Reply::Unknown {
                kind: 300,
                body: vec![1, 2, 3],
            }),
            reply(Reply::Failed(RouteError::NoSuchNode)),
            reply(Reply::Joined {
                owner: Id::for_key("o"),
                predecessor: None,
                successors: vec![Id::for_key("s")],
            }),
        ]
    }

    #[test]
    fn every_message_round_trips() {
        for m in samples() {
            let bytes = m.encode().expect("encodes");
            assert_eq!(Message::decode(&bytes), Ok(m));
        }
    }

    #[test]
    fn oversized_wrong_version_and_truncated_frames_are_rejected() {
        let big = vec![WIRE_VERSION; MAX_FRAME + 1];
        assert_eq!(
            Message::decode(&big),
            Err(WireError::TooLarge(MAX_FRAME + 1))
        );
        assert_eq!(Message::decode(&[]), Err(WireError::Empty));
        let mut bytes = samples()[1].encode().expect("encodes");
        bytes[0] = 9;
        assert_eq!(Message::decode(&bytes), Err(WireError::Version(9)));
        for m in samples() {
            let bytes = m.encode().expect("encodes");
            for cut in 1..bytes.len() {
                assert!(
                    Message::decode(&bytes[..cut]).is_err(),
                    "{m:?} cut at {cut}"
                );
            }
            let mut trailing = bytes.clone();
            trailing.push(0);
            assert_eq!(Message::decode(&trailing), Err(WireError::Malformed));
        }
    }

    #[test]
    fn lists_over_their_limit_are_rejected() {
        let m = Message::StabilizeReply {
            seq: 0,
            predecessor: None,
            successors: vec![Id::ZERO; MAX_LIST + 1],
        };
        let bytes = m.encode().expect("encodes");
        assert_eq!(Message::decode(&bytes), Err(WireError::Limit));
    }

    #[test]
    fn payloads_and_unknown_bodies_over_their_limit_are_rejected() {
        let mut m = AppMessage::sign(
            &Identity::from_seed([4; 32]),
            Id::for_key("k"),
            ServiceId(1),
            vec![0; MAX_APP],
        );
        let at_limit = route(Request::App(Box::new(m.clone())));
        let bytes = at_limit.encode().expect("encodes");
        assert_eq!(Message::decode(&bytes), Ok(at_limit));
        m.payload.push(0);
        let over = route(Request::App(Box::new(m))).encode().expect("encodes");
        assert_eq!(Message::decode(&over), Err(WireError::Limit));

        let body = vec![0; MAX_UNKNOWN + 1];
        let over = route(Request::Unknown {
            kind: 999,
            body: body.clone(),
        });
        assert_eq!(
            Message::decode(&over.encode().expect("encodes")),
            Err(WireError::Limit)
        );
        let over = reply(Reply::Unknown { kind: 999, body });
        assert_eq!(
            Message::decode(&over.encode().expect("encodes")),
            Err(WireError::Limit)
        );
    }

    #[test]
    fn an_unknown_request_decodes_and_a_known_kind_cannot_pose_as_one() {
        let m = route(Request::Unknown {
            kind: 31_000,
            body: b"from a newer build".to_vec(),
        });
        let bytes = m.encode().expect("encodes");
        assert_eq!(Message::decode(&bytes), Ok(m));
        let posing = route(Request::Unknown {
            kind: 0,
            body: Vec::new(),
        });
        assert_eq!(posing.encode(), Err(WireError::Malformed));
        assert_eq!(posing.check_limits(), Err(WireError::Limit));
    }

    #[test]
    fn a_hop_can_grow_the_header_of_the_largest_request_within_a_frame() {
        // The largest routed request a peer may send, with the header as
        // large as hops make it: still a frame every node accepts.
        let big = Message::Route(Route {
            no: u64::MAX,
            target: Id::for_key("k"),
            mode: Mode::ToNode,
            last_hop: true,
            hops: u8::MAX,
            timeouts: u8::MAX,
            avoid: vec![Id::for_key("dead"); MAX_AVOID],
            origin: Id::for_key("o"),
            request: Request::Unknown {
                kind: u16::MAX,
                body: vec![0xAB; MAX_UNKNOWN],
            },
        });
        let bytes = big.encode().expect("encodes");
        assert!(bytes.len() < MAX_FRAME);
        assert_eq!(Message::decode(&bytes), Ok(big));
    }

    #[test]
    fn seeded_random_mutations_never_panic() {
        // A deterministic cousin of the cargo-fuzz target, run on every test.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let seeds: Vec<Vec<u8>> = samples()
            .iter()
            .map(|m| m.encode().expect("encodes"))
            .collect();
        for i in 0..20_000 {
            let mut b = seeds[i % seeds.len()].clone();
            for _ in 0..(next() % 6 + 1) {
                let pos = (next() as usize) % b.len();
                match next() % 3 {
                    0 => b[pos] = next() as u8,
                    1 => b.insert(pos, next() as u8),
                    _ => {
                        b.remove(pos);
                        if b.is_empty() {
                            b.push(WIRE_VERSION);
                        }
                    }
                }
            }
            // Whatever decodes, kinds unknown to this build included,
            // re-encodes to the same message: a hop forwards it unchanged.
            if let Ok(m) = Message::decode(&b) {
                let again = m.encode().expect("a decoded message encodes");
                assert_eq!(Message::decode(&again), Ok(m));
            }
        }
    }
}
