//! Settings of a user agent.

use std::time::Duration;

use sipx_sip::Timers;

/// Settings of one user agent.
#[derive(Clone, Debug)]
pub struct Config {
    /// Our address of record, e.g. `sip:alice@example.invalid` (From of our requests).
    pub local_uri: String,
    /// A display name for From, if any.
    pub display_name: Option<String>,
    /// Where the other side reaches us within a dialog (`Contact`).
    pub contact: String,
    /// Our `Via` sent-by (`host` or `host:port`).
    pub via_host: String,
    /// A `User-Agent` header, if any.
    pub user_agent: Option<String>,
    /// T1, T2, T4 of RFC 3261 (retransmission and timeout base).
    pub timers: Timers,
    /// An incoming call nobody answers is refused with 480 after this long.
    pub ring_timeout: Duration,
    /// An outgoing call nobody answers is cancelled after this long.
    pub invite_timeout: Duration,
    /// Ask for session timers (RFC 4028) on our INVITEs with this interval.
    pub session_expires: Option<Duration>,
    /// The shortest session interval we accept (Min-SE, at least 90 s).
    pub min_se: Duration,
    /// Calls at once; more incoming INVITEs get 486.
    pub max_calls: usize,
    /// Transactions at once; more incoming requests get 503 without state.
    pub max_transactions: usize,
    /// Largest message accepted on any transport (bytes).
    pub max_message_bytes: usize,
    /// Digest credentials for 401/407 challenges (the gateway's trunks).
    #[cfg(feature = "digest")]
    pub credentials: Option<crate::auth::Credentials>,
}

impl Config {
    /// Defaults around the given address of record, contact and Via sent-by.
    pub fn new(local_uri: &str, contact: &str, via_host: &str) -> Config {
        Config {
            local_uri: local_uri.to_owned(),
            display_name: None,
            contact: contact.to_owned(),
            via_host: via_host.to_owned(),
            user_agent: Some("chordphone".to_owned()),
            timers: Timers::default(),
            ring_timeout: Duration::from_secs(60),
            invite_timeout: Duration::from_secs(90),
            session_expires: None,
            min_se: Duration::from_secs(90),
            max_calls: 32,
            max_transactions: 1024,
            max_message_bytes: 64 * 1024,
            #[cfg(feature = "digest")]
            credentials: None,
        }
    }
}
