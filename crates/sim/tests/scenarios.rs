//! The simulator's scenarios at a few hundred nodes, with the figures the
//! overlay must reach. Larger runs are benchmarks (see README).

use chordphone_sim::{run, Outcome, Params};

fn base(nodes: usize, seed: u64) -> Params {
    Params {
        nodes,
        seed,
        lookups: 2000,
        ..Params::default()
    }
}

fn assert_clean(o: &Outcome) {
    assert!(
        o.converged,
        "ring did not converge: {:?}",
        o.invariant_violations
    );
    assert!(
        o.invariant_violations.is_empty(),
        "{:?}",
        o.invariant_violations
    );
    assert!(o.final_lookups_checked > 0, "no final lookups were checked");
}

#[test]
fn stable_ring_routes_every_lookup_to_its_owner_in_log_hops() {
    let o = run(&base(300, 11));
    assert_clean(&o);
    assert_eq!(o.lookups, 2000);
    assert_eq!(o.lookups_failed, 0, "{o:?}");
    let log2n = (o.nodes as f64).log2();
    assert!(
        o.hops_mean <= 0.5 * log2n + 0.5,
        "hops_mean {} over Chord's bound",
        o.hops_mean
    );
    assert!(
        f64::from(o.hops_p99) <= log2n,
        "hops_p99 {} over log2 N",
        o.hops_p99
    );
    assert_eq!(o.timeouts_per_lookup_mean, 0.0);
}

#[test]
fn half_the_nodes_failing_at_once_loses_no_lookup_whose_owner_survived() {
    let p = Params {
        successors: 20,
        records: 300,
        fail_fraction: Some(0.5),
        duration_s: Some(60.0),
        ..base(300, 12)
    };
    let o = run(&p);
    assert_clean(&o);
    assert!(o.lookups_owner_survived > 500, "{o:?}");
    assert_eq!(o.lookups_failed_owner_survived, 0, "{o:?}");
    assert!(o.timeouts_per_lookup_mean <= 6.0, "{o:?}");
    assert_eq!(o.records_put_failed, 0);
    assert_eq!(
        o.records_under_replicated, 0,
        "records lacked copies before the failure"
    );
    // No loss beyond records whose every copy was on a failed node.
    assert!(o.records_lost <= o.records_all_copies_dead, "{o:?}");
    // And that is about what P^k predicts (0.125 * 300 = 37.5).
    assert!(
        (o.records_all_copies_dead as f64) < 2.0 * o.records_expected_lost,
        "{o:?}"
    );
}

#[test]
fn a_run_of_dead_successors_still_leads_lookups_to_the_new_owner() {
    // Half of 1,000 nodes fail at once. Near some keys seven successors in
    // a row are gone; proving each dead costs a connect timeout, and the
    // lookups started in the first seconds must still reach the new owner
    // within the route timeout.
    let p = Params {
        successors: 20,
        records: 5000,
        fail_fraction: Some(0.5),
        duration_s: Some(600.0),
        lookups: 10000,
        ..base(1000, 3)
    };
    let o = run(&p);
    assert_clean(&o);
    assert_eq!(o.lookups_failed, 0, "{o:?}");
}

#[test]
fn under_short_sessions_lookups_reach_the_owner_and_records_survive() {
    // Sessions of two minutes: a node joins somewhere every 0.4 s, and some
    // take a key while the owner's answer travels back. Such an answer
    // reached the owner (it is judged when the owner answered) but arrives
    // naming a node that no longer owns the key: counted apart.
    let p = Params {
        records: 300,
        churn_session_s: Some(120.0),
        duration_s: Some(600.0),
        lookups: 5000,
        ..base(300, 16)
    };
    let o = run(&p);
    assert_clean(&o);
    assert!(o.lookups_owner_moved > 0, "{o:?}");
    assert!(o.lookups_owner_moved <= o.lookups_wrong_on_arrival, "{o:?}");
    // Every lookup judged wrong when answered is wrong on arrival too.
    assert!(o.lookups_wrong_owner <= o.lookups_wrong_on_arrival, "{o:?}");
    // Lookups that did not reach the owner stay under 0.1 %.
    assert!(o.lookups_wrong_owner * 1000 < o.lookups, "{o:?}");
    assert_eq!(o.records_lost, 0, "{o:?}");
}

#[test]
fn an_hour_of_churn_keeps_lookups_and_records() {
    let p = Params {
        records: 300,
        churn_session_s: Some(600.0),
        duration_s: Some(3600.0),
        lookups: 10000,
        ..base(500, 13)
    };
    let o = run(&p);
    assert_clean(&o);
    // Lookups whose origin left mid-way are not counted.
    assert!(o.lookups >= 9900, "{o:?}");
    assert!(
        (o.lookups_failed as f64) < 0.001 * o.lookups as f64,
        "{o:?}"
    );
    assert_eq!(o.records_lost, 0, "{o:?}");
}

#[test]
fn same_arguments_give_the_same_result() {
    let p = Params {
        records: 50,
        fail_fraction: Some(0.2),
        duration_s: Some(20.0),
        lookups: 300,
        loss: 0.01,
        ..base(120, 14)
    };
    let a = figures(run(&p));
    assert_eq!(a, figures(run(&p)));
    // Shards play time windows in parallel; how many there are, and on how
    // many threads, must not change anything.
    assert_eq!(
        a,
        figures(run(&Params {
            threads: 3,
            ..p.clone()
        }))
    );
    let other = run(&Params { seed: 15, ..p });
    assert_ne!(a.trace_hash, other.trace_hash, "the seed must matter");
}

#[test]
fn churn_gives_the_same_result_on_any_number_of_threads() {
    let p = Params {
        records: 30,
        churn_session_s: Some(120.0),
        duration_s: Some(120.0),
        lookups: 500,
        ..base(150, 16)
    };
    let a = figures(run(&p));
    assert!(a.sim_events > 0);
    assert_eq!(a, figures(run(&Params { threads: 2, ..p })));
}

/// An outcome without what depends on the machine (wall time, memory).
fn figures(mut o: Outcome) -> Outcome {
    o.wall_ms = 0;
    o.peak_rss_mb = 0.0;
    o
}

#[test]
fn computed_tables_route_like_a_ring_built_by_joins() {
    // Large rings start from computed tables; that is only sound if they
    // route like a ring that was built by joins.
    let joined = run(&base(400, 16));
    let computed = run(&Params {
        static_tables: true,
        ..base(400, 16)
    });
    let log2n = 400f64.log2();
    for o in [&joined, &computed] {
        assert_clean(o);
        assert_eq!(o.lookups_failed, 0, "{o:?}");
        assert!(o.hops_mean <= 0.5 * log2n + 0.5, "{o:?}");
        assert!(f64::from(o.hops_p99) <= log2n, "{o:?}");
    }
    assert!(
        (joined.hops_mean - computed.hops_mean).abs() < 0.3,
        "hops {} by joins vs {} from computed tables",
        joined.hops_mean,
        computed.hops_mean
    );
}

#[test]
fn busy_windows_played_on_two_threads_match_one_thread() {
    // Enough lookups that windows hold thousands of events and shards are
    // really played on separate threads.
    let p = Params {
        static_tables: true,
        lookups: 40_000,
        duration_s: Some(4.0),
        ..base(1000, 17)
    };
    let one = figures(run(&p));
    assert_clean(&one);
    assert_eq!(one.lookups_failed, 0, "{one:?}");
    assert!(one.sim_events > 400_000, "{one:?}");
    assert_eq!(one, figures(run(&Params { threads: 2, ..p })));
}
