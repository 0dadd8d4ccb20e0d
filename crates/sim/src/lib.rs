//! `chord-sim`: a deterministic discrete-event simulator that drives many
//! real chordphone overlay nodes (the `chordphone-overlay` crate itself, not
//! a model of it) over a simulated network with virtual time, seeded
//! latency, loss and churn.
//!
//! A run builds the ring (by joins, or from computed tables for very large
//! rings), waits until it converges, stores records, then fails a fraction of
//! the nodes at once or runs churn while issuing lookups, lets the ring
//! settle, and checks the invariants: every live node's successor is the next
//! live id and predecessors agree, every lookup ends at the true owner, and
//! no record is lost that had a live copy. The same parameters give the same
//! [`Outcome`] apart from wall time and memory.

mod net;
mod queue;
mod scenario;
mod shard;
mod truth;

pub use scenario::{run, Outcome, Params};
