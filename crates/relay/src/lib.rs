//! Relays for chordphone peers that cannot reach each other.
//!
//! Two jobs, both protocol logic without I/O (no clock, socket, timer or
//! global randomness: the caller passes `now` and a seed):
//!
//! - [`credential`]: time-limited TURN credentials in the TURN REST scheme
//!   that coturn's `use-auth-secret` also checks: the username is
//!   `<expiry unix seconds>:<user>`, the password is
//!   base64(HMAC-SHA1(secret, username)). A server that knows the secret
//!   issues them; every relay that shares the secret checks them without
//!   asking anybody.
//! - [`server::Relay`]: a TURN server core (RFC 8656 allocations,
//!   permissions, channels, Send/Data indications; UDP relaying for clients
//!   on UDP or TCP) that checks those credentials, limits allocations and
//!   bandwidth per user, and refuses peers in loopback or private ranges
//!   unless allowed, never its own relay addresses.
//!
//! [`stun`] is the message codec both use, [`client`] builds the requests a
//! TURN client sends (for tests and tools), [`address`] classifies IP
//! addresses, [`framing`] cuts a TCP byte stream into TURN messages.
//!
//! ```
//! use chordphone_relay::credential;
//! let c = credential::issue(b"secret", "alice", 1_000, 3_600).unwrap();
//! assert_eq!(c.username, "4600:alice");
//! let user = credential::check(b"secret", &c.username, &c.password, 2_000).unwrap();
//! assert_eq!(user.user, "alice");
//! assert!(credential::check(b"secret", &c.username, &c.password, 4_601).is_err());
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod address;
pub mod client;
pub mod credential;
pub mod framing;
pub mod server;
pub mod stun;

pub use credential::{Credential, CredentialError};
pub use server::{Client, Config, Output, Refusal, Relay, RelayError, Stats, Transport};
