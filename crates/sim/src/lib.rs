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
//!
//! The network is split into shards (`Params::threads`, a power of two),
//! played in parallel one time window at a time; a window is no longer than
//! the shortest one-way latency, so nothing one node does can reach another
//! within it. Events are ordered by time and by who created them, never by
//! which shard or thread ran first: the outcome is the same on any number
//! of threads.
//!
//! ```no_run
//! use chordphone_sim::{run, Params};
//! let out = run(&Params { nodes: 1000, lookups: 10_000, threads: 2, ..Params::default() });
//! assert_eq!(out.lookups_failed, 0);
//! ```

mod figures;
mod net;
mod queue;
mod scenario;
mod shard;
mod truth;

pub use figures::Outcome;
pub use scenario::{run, Params};
