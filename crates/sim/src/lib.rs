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
//! A lookup is judged by whether it reached the key's owner: the node it
//! names must have owned the key at the moment that node answered (the
//! simulator notes when each owner answers, and keeps the last minute of
//! joins and deaths to tell who owned a key at any moment). Under churn
//! the owner may change again while the answer travels back, hop by hop,
//! to the node that asked; no node could know of that change, so it does
//! not make the lookup wrong, but it is reported beside the rest:
//! `lookups_wrong_on_arrival` judges the answer against the owner when it
//! arrives, and `lookups_owner_moved` counts those of them that named the
//! owner the key had when the lookup started. A rough expectation for the
//! second figure: the owner of a key changes at twice the churn rate per
//! node (a join in front of it or its death), so with sessions of mean T
//! seconds and answers that take t seconds to come back about 2·t/T of
//! all lookups arrive after their owner changed.
//!
//! ```no_run
//! use chordphone_sim::{run, Params};
//! let out = run(&Params { nodes: 1000, lookups: 10_000, threads: 2, ..Params::default() });
//! assert_eq!(out.lookups_failed, 0);
//! ```

mod figures;
mod follow;
mod net;
mod queue;
mod scenario;
mod shard;
mod truth;

pub use figures::Outcome;
pub use scenario::{run, Params};
