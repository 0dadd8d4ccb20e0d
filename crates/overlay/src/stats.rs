//! Counters a node keeps about itself, for metrics and the simulator.

/// Monotonic counters; the shell exports them (Prometheus, the page, JSON).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages handed to the shell for sending.
    pub msgs_sent: u64,
    /// Of those, ring upkeep (stabilize, replication, finger refresh, leave).
    pub maintenance_sent: u64,
    /// Messages received and accepted.
    pub msgs_received: u64,
    /// Frames that did not decode (malformed, oversized, wrong version).
    pub dropped_malformed: u64,
    /// Acks and replies for a query this node did not send to that peer.
    pub dropped_unknown_query: u64,
    /// Messages dropped because a queue or table was full.
    pub dropped_overload: u64,
    /// Records refused (bad signature, not owner, stale version, ...).
    pub records_refused: u64,
    /// Next hops that did not acknowledge in time.
    pub hop_timeouts: u64,
    /// Routed requests forwarded for others.
    pub forwarded: u64,
    /// Requests started here that succeeded.
    pub queries_ok: u64,
    /// Requests started here that failed.
    pub queries_failed: u64,
    /// Links opened.
    pub links_opened: u64,
    /// Links closed by this node (idle or over budget).
    pub links_closed: u64,
    /// Links lost (peer vanished or connection failed).
    pub links_lost: u64,
    /// Application messages handed to the shell.
    pub app_delivered: u64,
    /// Application messages refused: origin not proven (wrong key, bad
    /// signature, tampered with, or signed for another node).
    pub app_refused: u64,
    /// Requests answered "unsupported": a kind this build does not know, or
    /// a service this node does not serve.
    pub unsupported: u64,
}
