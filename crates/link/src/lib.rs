//! What travels on a chordphone link besides overlay messages, shared by
//! the browser shell and the server so that both speak it the same way.
//!
//! A link is an ordered, reliable message channel: a WebSocket between a
//! browser and a server, or a WebRTC data channel between two browsers.
//! Every link starts with a [`Handshake`] in which each side proves that it
//! holds the key behind its node id; only then does the shell report the
//! link up to its overlay node. After that each message on the link is one
//! overlay frame ([`chordphone_overlay::Message`]). Link control frames
//! start with [`CONTROL_TAG`], which no overlay frame starts with, so one
//! byte tells them apart without copying ([`classify`]).
//!
//! ```
//! use chordphone_link::{Handshake, Role, Step, FEATURE_APP_CHANNEL, PROTOCOL_VERSION};
//! use chordphone_overlay::Identity;
//!
//! let (a_id, b_id) = (Identity::from_seed([1; 32]), Identity::from_seed([2; 32]));
//! let mut a = Handshake::new(&a_id, [7; 32], Role::Peer);
//! let mut b = Handshake::new(&b_id, [9; 32], Role::Server);
//! // Both send their hello as soon as the channel opens...
//! let (hello_a, hello_b) = (a.hello(), b.hello());
//! // ...and answer the other's hello with a proof.
//! let Step::Send(proof_b) = b.handle(&hello_a).unwrap() else { panic!() };
//! let Step::Send(proof_a) = a.handle(&hello_b).unwrap() else { panic!() };
//! let Step::Done(peer_of_a) = a.handle(&proof_b).unwrap() else { panic!() };
//! let Step::Done(peer_of_b) = b.handle(&proof_a).unwrap() else { panic!() };
//! assert_eq!(peer_of_a.id, b_id.node_id());
//! assert_eq!(peer_of_b.id, a_id.node_id());
//! assert_eq!(peer_of_a.role, Role::Server);
//! // Each learns what the other speaks.
//! assert!(peer_of_a.protocol == PROTOCOL_VERSION && peer_of_a.has(FEATURE_APP_CHANNEL));
//! ```
//!
//! The hello also announces the sender's [`PROTOCOL_VERSION`] and feature
//! bits ([`FEATURES`]), which the finished handshake reports in
//! [`PeerInfo`]. They are for changes both sides must agree on before use:
//! a side sends something new only to a peer that announced the feature.
//! Requests routed through the ring need no such agreement (the overlay
//! answers kinds it does not know with "unsupported"). Each side signs both
//! hello frames exactly as they were sent, so neither version nor features
//! can be changed on the way, and a newer build may append hello fields that
//! this one ignores.
//!
//! Link signalling ([`Signal`]) is the payload of overlay attach requests:
//! a WebRTC offer and its answer, or a server's request to be dialled over
//! WebSocket (a server cannot open a connection to a browser).

mod close;
mod frame;
mod handshake;
mod origin;
mod signal;

pub use close::CloseCode;
pub use frame::{
    classify, Control, FrameKind, LinkError, CONTROL_TAG, LINK_VERSION, MAX_LINK_FRAME,
};
pub use handshake::{
    Handshake, HandshakeError, PeerInfo, Role, Step, FEATURES, FEATURE_APP_CHANNEL, NONCE_BYTES,
    PROTOCOL_VERSION,
};
pub use origin::http_origin;
pub use signal::{Refusal, Signal, SignalError, MAX_SDP, MAX_URL, SIGNAL_VERSION};
