//! Counters of what a session did, for metrics and tests.

/// Monotonic counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Links that passed the identity handshake.
    pub links_up: u64,
    /// Handshakes that failed (bad proof, wrong identity, junk).
    pub handshakes_failed: u64,
    /// Frames on an up link that did not parse; each closed its link.
    pub malformed: u64,
    /// Attach requests answered.
    pub attaches_answered: u64,
    /// Nodes asked to dial us.
    pub dial_asked: u64,
    /// Of those, links that came up.
    pub dial_up: u64,
    /// Of those, peers that refused.
    pub dial_refused: u64,
    /// Of those, peers that never came (no answer, no dial in time).
    pub dial_failed: u64,
    /// Overlay frames sent.
    pub frames_out: u64,
    /// Overlay frames received.
    pub frames_in: u64,
    /// Overlay frames dropped because their peer had no link.
    pub dropped_no_link: u64,
}
