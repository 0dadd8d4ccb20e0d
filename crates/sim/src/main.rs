//! `chord-sim`: runs one simulated scenario and prints its figures as JSON.
//! Exits with status 1 when an invariant does not hold.

use chordphone_sim::{run, Params};

// A simulated ring of 100,000 nodes is a few gigabytes of small objects
// touched in random order; mimalloc keeps them denser than the system
// allocator and can back them with large pages.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::Parser;

/// Deterministic simulation of a chordphone overlay ring.
#[derive(Parser, Debug)]
#[command(name = "chord-sim", version, about)]
struct Args {
    /// Nodes in the ring (kept steady under churn).
    #[arg(long)]
    nodes: usize,
    /// Seed of every random choice; the same arguments give the same result.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Lookups issued over the measured phase, from random live nodes for random keys.
    #[arg(long, default_value_t = 1000)]
    lookups: usize,
    /// Successor list length r.
    #[arg(long, default_value_t = 8)]
    successors: usize,
    /// Copies k of each record.
    #[arg(long, default_value_t = 3)]
    replicas: usize,
    /// Records stored before the measured phase.
    #[arg(long, default_value_t = 0)]
    records: usize,
    /// Fraction of nodes that fail at once at the start of the measured phase.
    #[arg(long)]
    fail_fraction: Option<f64>,
    /// Mean session time in seconds for churn (exponential; joins keep N steady).
    #[arg(long)]
    churn_session_s: Option<f64>,
    /// Length of the measured phase in virtual seconds (default 60).
    #[arg(long)]
    duration_s: Option<f64>,
    /// Mean one-way latency between two nodes in milliseconds.
    #[arg(long, default_value_t = 50.0)]
    latency_ms: f64,
    /// Probability that a message needs a retransmission (links are reliable).
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Start from correctly computed ring tables instead of joins (large rings).
    #[arg(long)]
    static_tables: bool,
    /// Link budget per node.
    #[arg(long, default_value_t = 64)]
    max_links: usize,
    /// Threads (one shard of the network each); the figures do not depend
    /// on it. Default: the machine's cores.
    #[arg(long)]
    threads: Option<usize>,
    /// Print JSON (the only output format).
    #[arg(long)]
    json: bool,
}

fn main() {
    let a = Args::parse();
    let p = Params {
        nodes: a.nodes,
        seed: a.seed,
        lookups: a.lookups,
        successors: a.successors,
        replicas: a.replicas,
        records: a.records,
        fail_fraction: a.fail_fraction,
        churn_session_s: a.churn_session_s,
        duration_s: a.duration_s,
        latency_ms: a.latency_ms,
        loss: a.loss,
        static_tables: a.static_tables,
        max_links: a.max_links,
        threads: a
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)),
    };
    let out = run(&p);
    match serde_json::to_string(&out) {
        Ok(s) => println!("{s}"),
        Err(e) => {
            eprintln!("chord-sim: cannot encode result: {e}");
            std::process::exit(2);
        }
    }
    if !out.invariant_violations.is_empty() {
        for v in &out.invariant_violations {
            eprintln!("chord-sim: invariant violated: {v}");
        }
        std::process::exit(1);
    }
}
