//! Tunables of one overlay node.

use crate::store::StoreLimits;
use core::time::Duration;

/// How a node behaves. `Config::default()` suits a browser tab; servers and
/// the simulator change what they need.
#[derive(Clone, Debug)]
pub struct Config {
    /// Length r of the successor list (failure tolerance of the ring).
    pub successors: usize,
    /// Copies k of each record: the owner and its next k-1 successors.
    pub replicas: usize,
    /// Period of stabilization (successor check and notify).
    pub stabilize_interval: Duration,
    /// Period between two finger refreshes (one finger per period).
    pub finger_interval: Duration,
    /// Period of the full re-replication of owned records (anti-entropy).
    pub replicate_interval: Duration,
    /// Most links (open or being opened) this node holds.
    pub max_links: usize,
    /// How many successors are kept linked at all times.
    pub linked_successors: usize,
    /// A link that carried nothing for this long and is not needed is closed.
    pub link_idle: Duration,
    /// A link that is not up after this long has failed.
    pub connect_timeout: Duration,
    /// Longest a routed request may wait for its answer, at any node.
    pub route_timeout: Duration,
    /// Initial per-hop acknowledgement timeout, before any round trip is measured.
    pub rto_initial: Duration,
    /// Lower bound of the per-hop timeout.
    pub rto_min: Duration,
    /// Upper bound of the per-hop timeout.
    pub rto_max: Duration,
    /// Most hops a request may take.
    pub hop_limit: u8,
    /// Most next hops one request tries at one node before giving up.
    pub max_attempts: usize,
    /// Most routed requests in flight through this node.
    pub max_pending: usize,
    /// Most messages queued for a link that is being opened.
    pub link_queue: usize,
    /// How long a node found dead is not taken back into the tables.
    pub dead_memory: Duration,
    /// Limits of the record store.
    pub store: StoreLimits,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            successors: 8,
            replicas: 3,
            stabilize_interval: Duration::from_secs(1),
            finger_interval: Duration::from_secs(4),
            replicate_interval: Duration::from_secs(10),
            max_links: 48,
            linked_successors: 3,
            link_idle: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
            route_timeout: Duration::from_secs(10),
            rto_initial: Duration::from_millis(1000),
            rto_min: Duration::from_millis(150),
            rto_max: Duration::from_secs(3),
            hop_limit: 48,
            max_attempts: 8,
            max_pending: 4096,
            link_queue: 64,
            dead_memory: Duration::from_secs(30),
            store: StoreLimits {
                max_value: 4096,
                max_ttl: Duration::from_secs(24 * 3600),
                max_records: 100_000,
            },
        }
    }
}
