//! chordphone's SIP: a sans-IO user agent with RFC 3261 dialogs, on the
//! [`sipx_sip`] codec and transaction layer.
//!
//! The same code runs in the browser tab (calls routed through the overlay)
//! and in the gateway (SIP trunks over UDP, TCP, TLS, WebSocket). It owns no
//! socket, clock or random source: the shell feeds inputs with the current
//! time and, after every input, drains what the user agent wants done:
//!
//! ```
//! use bytes::Bytes;
//! use chordphone_sip::{Config, Event, Flow, Time, Transport, UserAgent};
//!
//! let config = Config::new("sip:alice@example.invalid", "sip:alice@192.0.2.1:5060", "192.0.2.1:5060");
//! let mut ua: UserAgent<std::net::SocketAddr> = UserAgent::new(config, 42);
//! let bob = Flow::new(Transport::Udp, "192.0.2.2:5060".parse().unwrap());
//! let now = Time(0);
//! let call = ua.invite("sip:bob@192.0.2.2", bob, Some(Bytes::from_static(b"v=0\r\n")), now).unwrap();
//! // ...or ua.handle_input(from, &datagram, now), ua.handle_timeout(now), ua.answer(..), ua.hangup(..)
//! while let Some(t) = ua.poll_transmit() {
//!     let _ = (t.to, t.bytes); // send the bytes on that flow
//! }
//! while let Some(e) = ua.poll_event() {
//!     if let Event::Answered { call: c, .. } = e {
//!         assert_eq!(c, call);
//!     }
//! }
//! let _wake_at = ua.poll_timeout(); // call handle_timeout then
//! ```
//!
//! Transports: on UDP the transaction layer retransmits (timers A, E, G)
//! and the user agent retransmits its 2xx until the ACK; reliable flows
//! (overlay, WebSocket per RFC 7118, TCP, TLS) retransmit nothing. Requests
//! inside a dialog go back on the flow the dialog was set up on, the way
//! RFC 7118 and RFC 5626 clients do; the route set and remote target still
//! go into each request as §12.2.1.1 says.
//!
//! Every received byte is hostile: what does not parse, or is not valid, is
//! counted in [`Stats`], answered with the error response RFC 3261 names
//! (400, 505, 513, 416, 420, 415, 481, 500 ...) where that is possible, and
//! changes nothing else. Local misuse returns a [`LocalError`]; every call
//! that does not end by a hang-up ends with a [`Failure`] with a `Display`
//! text for the app.
//!
//! Features: `register` (REGISTER), `prack` (RFC 3262 reliable
//! provisionals), `session-timer` (RFC 4028) and `options` (sending OPTIONS)
//! are on by default: the gateway uses them. The browser tab builds with
//! `default-features = false`, which leaves that code out of its WebAssembly;
//! `digest` (401/407 answers) is off by default.

#[cfg(feature = "digest")]
mod auth;
mod config;
mod dialog;
mod event;
mod failure;
mod ids;
mod inbound;
mod msg;
mod rng;
mod table;
mod time;
mod transport;
mod ua;

#[cfg(feature = "digest")]
pub use auth::Credentials;
pub use dialog::{Dialog, DialogState};
pub use failure::{EndReason, Failure, LocalError};
pub use ids::{CallId, DialogId, RegistrationId, TransactionId};
pub use time::Time;
pub use transport::{Flow, Transmit, Transport};
pub use ua::{Config, Event, Stats, UserAgent, ALLOW};

/// The codec and transaction layer underneath, for shells and tests that
/// need to read or build a message themselves.
pub use sipx_sip;
