//! chordphone's SIP gateway, sans-IO: a back-to-back user agent between
//! chordphone callers (tabs whose SIP reaches the gateway sealed through
//! the overlay) and SIP trunks to the telephone network, with the dial
//! plan and the toll-fraud guard in front of every trunk.
//!
//! Like the other cores it owns no socket, clock, timer or random source.
//! The shell opens each sealed payload with the phone core's gate (which
//! proves the sender's name), feeds it in with the current time, and after
//! every input sends what the gateway wants sent:
//!
//! ```
//! use chordphone_gateway::{Gateway, GatewayConfig, TrunkConfig};
//! use chordphone_sip::Time;
//!
//! let mut config = GatewayConfig::default();
//! config.trunk.push(TrunkConfig { host: "192.0.2.7".into(), ..TrunkConfig::default() });
//! // Callers are named by a number here (a node id in the server), trunks
//! // by the socket address the shell resolved.
//! let trunk: std::net::SocketAddr = "192.0.2.7:5060".parse().unwrap();
//! let mut gw: Gateway<u32, std::net::SocketAddr> =
//!     Gateway::new(config, "sip:pstn-gateway@chordphone", "192.0.2.1:5060", vec![trunk], 42).unwrap();
//! // gw.set_media(bridge): without it every call to a number gets 503.
//! let now = Time(1_700_000_000_000_000);
//! gw.start(now); // REGISTER and OPTIONS keepalives
//! // Then: gw.handle_caller(node, proven_aor, &sip, now) for each opened
//! // payload, gw.handle_trunk(addr, &datagram, now) for each datagram,
//! // gw.handle_timeout(now) when poll_timeout() is due.
//! while let Some(t) = gw.poll_trunk_transmit() {
//!     assert_eq!(t.to.addr, trunk); // send the datagram
//! }
//! while let Some(_t) = gw.poll_caller_transmit() { /* seal to t.to.addr, send on SIP_SERVICE */ }
//! while let Some(_e) = gw.poll_event() { /* log */ }
//! let _wake_at = gw.poll_timeout();
//! ```
//!
//! What a call goes through, in order: the caller's proven identity (and
//! that its SIP From is that identity), the dial plan (E.164, allowed and
//! denied prefixes), room in the call table, a trunk not known to be down,
//! the media bridge, the caller's limits. Each refusal answers the caller
//! (403, 404, 488 or 503), is counted in [`Stats`] by [`Refusal`], and is
//! reported as [`GatewayEvent::Refused`] with the words for the person.
//! Past those, the INVITE goes to the trunks in failover order (priority,
//! then up before unknown); a 5xx or no answer moves it to the next one.
//! Trunk failures become words ([`failure_words`]) on the caller's side.
//!
//! Media stays out of this crate: the bridge implements [`Media`].

// Tests may unwrap: a panic there is a failed test.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod b2bua;
#[cfg(test)]
mod b2bua_tests;
mod config;
mod dialplan;
mod gate;
mod limits;
mod media;
mod sdp;
mod stats;
pub mod testing;
mod trunk;
mod words;

pub use b2bua::{Gateway, GatewayCall, GatewayEvent, MAX_EVENTS};
pub use config::{
    ConfigError, DialPlanConfig, GatewayConfig, LimitsConfig, MediaConfig, TrunkConfig,
    TrunkTransport,
};
pub use dialplan::{is_number, DialError, DialPlan, E164, MAX_E164_DIGITS};
pub use gate::{
    Dropped, Gate, GateStats, Opened, MAX_KEYS, MAX_VERIFIED, MAX_WAITING, UNREGISTERED_FOR,
    VERIFIED_FOR,
};
pub use limits::{LimitHit, Limits};
pub use media::{Media, MediaCall, MediaError, OutboundMedia};
pub use sdp::{direction, with_direction, Direction};
pub use stats::{Refusal, Stats};
pub use trunk::{Trunk, TrunkState};
pub use words::{failure_words, NO_LINE};

/// The overlay service key gateways announce themselves under (a `Multi`
/// record, one entry per gateway node).
pub const SERVICE_KEY: &str = "service:pstn-gateway";
