//! The sans-IO owner of a chordphone node's links.
//!
//! A [`Session`] holds the overlay [`Node`](chordphone_overlay::Node) and
//! every link of it: the table of links in their phases (offering,
//! answering, opening, handshaking, up, closing), the identity handshake,
//! link negotiation through the ring with its glare and dial rules, joining
//! with retry and back-off, and one deadline per link. It owns no socket,
//! timer, clock or random source: the shell (a browser tab, the server, a
//! test peer) feeds it inputs with the current time and carries out what it
//! asks, so that each shell is only a translator between this core and its
//! IO.
//!
//! ```text
//! session.set_bootstrap(vec![server_url]);
//! session.join(now);
//! loop {
//!     match next input {
//!         transport of link L opened      => session.handle_opened(L, now),
//!         peer opened a socket to us      => L = session.accept(now),
//!         binary message on L             => session.handle_frame(L, &bytes, now),
//!         L closed or failed              => session.handle_closed(L, why, now),
//!         local SDP of L gathered         => session.handle_description(L, sdp, now),
//!         WebRTC / dial step of L failed  => session.handle_failed(L, why, now),
//!         the deadline passed             => session.handle_timeout(now),
//!         the application wants something => session.node_mut().lookup(..) / connect(..)
//!     }
//!     while let Some(out) = session.poll_output() {
//!         Open { link, how }       => open a WebSocket, or a peer connection
//!                                     that makes an offer / answers one
//!         ApplyAnswer { link, sdp } => set the remote description
//!         Send { link, frame }     => send one binary message
//!         Close { link, code, .. } => close the transport
//!         Event(e)                 => tell the application / the page
//!     }
//!     sleep until session.poll_timeout()
//! }
//! ```
//!
//! Presets for each kind of node: [`Config::browser`], [`Config::server`],
//! [`Config::native_peer`].
//!
//! Modules, one job each: `session` (the table and the inputs), `signalling`
//! (offers, answers, dials, glare), `join` (bootstrap and retry), `link`
//! (one link's state), `output` (what the shell is asked to do), `config`,
//! `stats`.

mod config;
mod join;
mod link;
mod output;
mod session;
mod signalling;
mod stats;

pub use config::Config;
pub use link::{LinkId, Transport};
pub use output::{Event, LinkFailure, Open, Output};
pub use session::Session;
pub use stats::Stats;
