//! The SIP gateway's media bridge, sans-IO.
//!
//! Each gateway call gets two legs: a WebRTC leg towards the browser tab
//! (ICE-lite with one host candidate, DTLS-SRTP, on [str0m]) and a plain RTP
//! leg towards the SIP trunk (RTP/AVP, no SRTP). Audio is G.711 (PCMU or
//! PCMA) passed through without transcoding; only SSRC, sequence numbers and
//! timestamps are rewritten so that each outgoing stream stays continuous.
//! RFC 4733 telephone events pass both ways, are reported as
//! [`BridgeEvent::Dtmf`], and [`Bridge::dtmf`] sends the dial pad's keys to
//! the trunk. The trunk leg latches (symmetric RTP): once the trunk's first
//! packet arrives, the bridge sends to where it came from.
//!
//! The gateway drives it through its `Media` trait
//! ([`chordphone_gateway::Media`]), which [`Bridge`] implements by
//! forwarding to inherent methods of the same names ([`Bridge::outbound`],
//! [`Bridge::rtp_answer`], [`Bridge::inbound`], [`Bridge::webrtc_answer`],
//! [`Bridge::hold`], [`Bridge::dtmf`], [`Bridge::close`]); the bridge's
//! detailed [`MediaError`] becomes the gateway's on the way.
//!
//! The bridge owns no socket and reads no clock. The shell binds the ports
//! the bridge names, feeds datagrams and time in, and sends what comes out:
//!
//! ```no_run
//! # use chordphone_bridge::{Bridge, BridgeConfig, BridgeEvent, MediaCall};
//! # use chordphone_sip::Time;
//! # use std::time::Instant;
//! # fn clock() -> Time { Time(0) }
//! # fn recv() -> Option<(std::net::SocketAddr, std::net::SocketAddr, Vec<u8>)> { None }
//! # fn send(_: &chordphone_bridge::Transmit) {}
//! # fn bind(_: std::net::SocketAddr) {}
//! # fn unbind(_: std::net::SocketAddr) {}
//! # let config: BridgeConfig = todo!();
//! // One Instant, read once, anchors our Time for str0m.
//! let mut bridge = Bridge::new(config, Instant::now(), clock()).unwrap();
//! // The gateway: a browser calls out.
//! let media = bridge.outbound(MediaCall(1), "v=0 ...", clock()).unwrap();
//! // ... media.webrtc_answer to the browser, media.rtp_offer to the trunk,
//! // later bridge.rtp_answer(MediaCall(1), trunk_sdp, now).
//! loop {
//!     while let Some(event) = bridge.poll_event() {
//!         match event {
//!             BridgeEvent::Bind { local, .. } => bind(local),
//!             BridgeEvent::Unbind { local, .. } => unbind(local),
//!             _ => { /* DTMF, connected, latched, failed: to the gateway */ }
//!         }
//!     }
//!     while let Some(t) = bridge.poll_transmit() {
//!         send(&t); // on the socket bound to t.from
//!     }
//!     // Wait for a datagram on any bound socket or until poll_timeout().
//!     match recv() {
//!         Some((local, from, bytes)) => bridge.handle_datagram(local, from, &bytes, clock()),
//!         None => bridge.handle_timeout(clock()),
//!     }
//! }
//! ```
//!
//! Time is [`chordphone_sip::Time`]. str0m takes `std::time::Instant`s and
//! reads no clock either, so [`Bridge::new`] takes one `Instant` with the
//! `Time` it stands for and maps every later `Time` onto it by offset. str0m
//! draws its ICE credentials, DTLS keys and SRTP keys from the operating
//! system's random source, as it must; the bridge's own choices (SSRCs,
//! initial sequence numbers and timestamps, SDP session ids) come from the
//! configured seed.
//!
//! All remote bytes are hostile: datagrams over [`MAX_DATAGRAM`], to unknown
//! ports, malformed, from an unlatched source or of an unnegotiated payload
//! type are dropped and counted ([`Counters`]); SDP sizes, the number of
//! calls, queued digits and the output queues are bounded.
//!
//! The crate is server-only (str0m's DTLS stack is not built for wasm32).
//!
//! [str0m]: https://docs.rs/str0m

mod bridge;
mod call;
mod clock;
mod dtmf;
mod error;
mod media;
mod output;
mod ports;
mod restamp;
pub mod rtp;
pub mod sdp;
mod trunk;
mod webrtc;

pub use bridge::{Bridge, BridgeConfig, ConfigError, MAX_BROWSER_SDP, MAX_DATAGRAM};
pub use chordphone_gateway::OutboundMedia;
pub use dtmf::MAX_QUEUED_DIGITS;
pub use error::MediaError;
pub use output::{BridgeEvent, Counters, Leg, MediaCall, Transmit, MAX_EVENTS, MAX_TRANSMITS};
