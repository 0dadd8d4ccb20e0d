//! chordphone's overlay: a sans-IO Chord node.
//!
//! The node owns no socket, timer, clock or random source. The shell (a
//! browser tab, the server, the simulator) feeds it inputs with the current
//! time and drains what it wants done, after every input:
//!
//! ```
//! use chordphone_overlay::{Config, Event, Identity, Node, Time};
//!
//! let mut node = Node::new(Identity::from_seed([1; 32]), Config::default(), 42, Time(0));
//! node.create(Time(0)); // or node.join(bootstrap_id, now) once linked to it
//! let now = Time(1_000_000);
//! node.handle_timeout(now);
//! // ...or node.handle_bytes(from, &frame, now), node.handle_link(peer, change, now)
//! while let Some(t) = node.poll_transmit() {
//!     let _frame = t.msg.encode(); // send to t.to over its link
//! }
//! while let Some(e) = node.poll_event() {
//!     match e {
//!         Event::Connect(_peer) => { /* open a link, then handle_link(peer, Up) */ }
//!         Event::QueryDone { .. } => { /* a lookup, get, put or attach ended */ }
//!         _ => {}
//!     }
//! }
//! let _wake_at = node.poll_timeout(); // call handle_timeout then
//! ```
//!
//! The node never dials: it asks for a link with `Event::Connect`, queues
//! what it wanted to send, and goes on when the shell reports the link up.
//! Link negotiation data (WebRTC offer/answer/candidates) travels through the
//! ring with [`Node::attach`]. Bad remote input is counted in [`Stats`] and
//! dropped; local misuse returns typed errors.
//!
//! ## The application channel
//!
//! An application (the SIP user agent, a relay) sends opaque bytes for a
//! numbered [`ServiceId`] to a node id with [`Node::send_app`]. The message
//! is routed like any request; hops forward it without reading it. The
//! origin signs it with its node key for that one destination, so the
//! destination knows who sent it and a hop cannot change it, speak in
//! another's name or replay it to another node. A node accepts the services
//! it [`Node::serve`]s and hands each message to its shell as
//! [`Event::App`] with the proven `from`; the sender gets
//! [`Answer::Delivered`] or a [`QueryError`] (`Unsupported`, `BadOrigin`,
//! `Route(NoSuchNode)`, `Timeout`). That receipt is all: answers, retries
//! and transactions belong to the application.
//!
//! ## Mixed versions
//!
//! Routed requests and their replies travel as a kind number and a
//! length-prefixed body. A node forwards a kind it does not know
//! ([`Request::Unknown`]) on its route header alone, and where it ends the
//! node answers [`Reply::Unsupported`]: a newer build can add request kinds
//! without older nodes closing its links. [`Node::send_raw`] sends such a
//! request. The link hello (in `chordphone-link`) carries a protocol
//! version and feature bits for changes that need both sides to agree.

mod app;
mod config;
mod envelope;
mod event;
mod id;
mod identity;
mod node;
mod record;
mod relay_offer;
mod stats;
mod store;
mod time;
mod vecmap;
mod wire;

pub use app::{AppMessage, OriginError, ServiceId, MAX_APP};
pub use config::Config;
pub use event::{Answer, AttachToken, Event, LocalError, Output, QueryError, QueryId, Transmit};
pub use id::{Id, NodeId, ID_BITS, ID_BYTES};
pub use identity::{
    node_id_of, verify, x25519_public_of, Identity, PUBLIC_KEY_BYTES, SIGNATURE_BYTES,
};
pub use node::ring::{FINGERS, FIRST_BIT};
pub use node::{LinkChange, Node, Phase, Status};
pub use record::{Kind, Record, Sig};
pub use relay_offer::{
    decode_relay_offer, encode_relay_offer, relay_key, relay_offers, OfferError, RelayOffer,
    MAX_OFFERS, MAX_OFFER_URL, RELAY_SERVICE,
};
pub use stats::Stats;
pub use store::{PutOutcome, Store, StoreError, StoreLimits};
pub use time::Time;
pub use vecmap::{VecMap, VecSet};
pub use wire::{
    CloseReason, Message, Mode, QueryNo, Reply, Request, Route, RouteError, WireError, MAX_ATTACH,
    MAX_AVOID, MAX_FRAME, MAX_LIST, MAX_UNKNOWN, WIRE_VERSION,
};
