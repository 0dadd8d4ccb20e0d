//! The figures of a run: what the driver counts while the scenario plays,
//! and the report (`chord-sim`'s JSON) computed from it at the end.

use crate::scenario::Params;
use serde::Serialize;
use std::collections::BTreeMap;

/// The figures of one run (the JSON `chord-sim` prints).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Outcome {
    pub nodes: usize,
    pub seed: u64,
    pub lookups: usize,
    pub lookups_failed: usize,
    /// Lookups that named a node which was not the key's owner at the
    /// moment it answered (the request did not reach the owner).
    pub lookups_wrong_owner: usize,
    pub lookups_error: usize,
    /// Lookups that named a node which was not the key's owner when the
    /// answer arrived back at the node that asked: the wrong owners above
    /// and those whose owner changed while the answer travelled back.
    pub lookups_wrong_on_arrival: usize,
    /// Of those wrong on arrival: lookups that named the owner their key
    /// had when they started (a node joined in front of it, or it died,
    /// while the answer travelled back).
    pub lookups_owner_moved: usize,
    pub lookups_owner_survived: usize,
    pub lookups_failed_owner_survived: usize,
    pub hops_mean: f64,
    pub hops_p50: u32,
    pub hops_p99: u32,
    pub lookup_ms_p50: f64,
    pub lookup_ms_p99: f64,
    pub timeouts_per_lookup_mean: f64,
    pub records: usize,
    pub records_put_failed: usize,
    pub records_all_copies_dead: usize,
    pub records_expected_lost: f64,
    pub records_lost: usize,
    pub records_under_replicated: usize,
    pub maintenance_msgs_per_node_per_s: f64,
    pub keys_per_node_max_over_mean: f64,
    pub converged: bool,
    pub converge_s: f64,
    pub final_lookups_checked: usize,
    pub lookup_errors: BTreeMap<String, usize>,
    pub join_failures: usize,
    pub links_per_node_mean: f64,
    /// Acknowledgement, probe and stabilization timeouts over all live nodes
    /// (in a stable ring each one is a false suspicion).
    pub hop_timeouts_total: u64,
    pub invariant_violations: Vec<String>,
    pub sim_events: u64,
    pub virtual_s: f64,
    pub trace_hash: String,
    pub wall_ms: u64,
    pub peak_rss_mb: f64,
}

/// What the driver counts as answers come in.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Hops of each lookup that named the right owner.
    pub hops: Vec<u32>,
    /// Time each of those took, in microseconds.
    pub latencies_us: Vec<u64>,
    /// Hop timeouts over all measured lookups.
    pub timeouts: u64,
    /// Measured lookups answered (or failed).
    pub lookups_done: usize,
    /// Measured lookups that named a node other than the owner.
    pub failed_wrong: usize,
    /// Measured lookups that ended with an error.
    pub failed_error: usize,
    /// Measured lookups that named a node other than the owner when the
    /// answer arrived.
    pub wrong_on_arrival: usize,
    /// Of those, the ones that named the owner when they started.
    pub owner_moved: usize,
    /// Measured lookups whose owner survived the failure.
    pub owner_survived: usize,
    /// Of those, the ones that failed.
    pub failed_survived: usize,
    /// Records whose first store failed.
    pub puts_failed: usize,
    /// Records not found at the end.
    pub lost: usize,
    /// Lookup errors by kind.
    pub errors: BTreeMap<String, usize>,
    /// Joins that failed (and were retried).
    pub join_failures: usize,
    /// Lookups checked after the ring settled.
    pub final_checked: usize,
}

/// What the run measured besides the tally.
#[derive(Debug)]
pub(crate) struct Measured {
    pub maintenance: f64,
    pub all_copies_dead: usize,
    pub under_replicated: usize,
    pub keys_per_node_max_over_mean: f64,
    pub converged: bool,
    pub converge_s: f64,
    pub links_mean: f64,
    pub hop_timeouts_total: u64,
    pub violations: Vec<String>,
    pub sim_events: u64,
    pub virtual_s: f64,
    pub trace_hash: u64,
    pub wall_ms: u64,
}

/// The report of a run.
pub(crate) fn outcome(p: &Params, t: &Tally, m: Measured) -> Outcome {
    let n_lookups = t.lookups_done;
    let mut hops = t.hops.clone();
    hops.sort_unstable();
    let mut lat = t.latencies_us.clone();
    lat.sort_unstable();
    let hops_mean = if hops.is_empty() {
        0.0
    } else {
        hops.iter().map(|h| f64::from(*h)).sum::<f64>() / hops.len() as f64
    };
    let frac = p.fail_fraction.unwrap_or(0.0);
    Outcome {
        nodes: p.nodes,
        seed: p.seed,
        lookups: n_lookups,
        lookups_failed: t.failed_wrong + t.failed_error,
        lookups_wrong_owner: t.failed_wrong,
        lookups_error: t.failed_error,
        lookups_wrong_on_arrival: t.wrong_on_arrival,
        lookups_owner_moved: t.owner_moved,
        lookups_owner_survived: t.owner_survived,
        lookups_failed_owner_survived: t.failed_survived,
        hops_mean: round3(hops_mean),
        hops_p50: percentile(&hops, 0.5),
        hops_p99: percentile(&hops, 0.99),
        lookup_ms_p50: round3(percentile(&lat, 0.5) as f64 / 1000.0),
        lookup_ms_p99: round3(percentile(&lat, 0.99) as f64 / 1000.0),
        timeouts_per_lookup_mean: round3(if n_lookups == 0 {
            0.0
        } else {
            t.timeouts as f64 / n_lookups as f64
        }),
        records: p.records,
        records_put_failed: t.puts_failed,
        records_all_copies_dead: m.all_copies_dead,
        records_expected_lost: round3(p.records as f64 * frac.powi(p.replicas as i32)),
        records_lost: t.lost,
        records_under_replicated: m.under_replicated,
        maintenance_msgs_per_node_per_s: round3(m.maintenance),
        keys_per_node_max_over_mean: round3(m.keys_per_node_max_over_mean),
        converged: m.converged,
        converge_s: round3(m.converge_s),
        final_lookups_checked: t.final_checked,
        lookup_errors: t.errors.clone(),
        join_failures: t.join_failures,
        links_per_node_mean: round3(m.links_mean),
        hop_timeouts_total: m.hop_timeouts_total,
        invariant_violations: m.violations,
        sim_events: m.sim_events,
        virtual_s: round3(m.virtual_s),
        trace_hash: format!("{:016x}", m.trace_hash),
        wall_ms: m.wall_ms,
        peak_rss_mb: peak_rss_mb(),
    }
}

/// The value at quantile `q` of sorted values (0 when there are none).
fn percentile<T: Copy + Default>(sorted: &[T], q: f64) -> T {
    if sorted.is_empty() {
        T::default()
    } else {
        sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn peak_rss_mb() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/status") else {
        return 0.0;
    };
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| round3(kb / 1024.0))
}
