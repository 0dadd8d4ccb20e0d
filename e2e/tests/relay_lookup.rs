//! Relays found in the overlay: server A runs no relay (its `/ice` names
//! no TURN server) and offers none; server B, joined to A's ring, runs its
//! embedded relay and offers it as a `service:relay` record. Two
//! relay-only tabs bootstrapped through A read that record, fetch TURN
//! credentials from B's `/ice` (another origin than their page's), and
//! make their ring and a call with audio both ways through B's relay.
//! B's relay counts the allocations; A has none.

use chordphone_e2e::browser::Chromedriver;
use chordphone_e2e::http;
use chordphone_e2e::relayed::relayed_ring_and_call_via;
use chordphone_e2e::server::{Server, ServerOpts};
use chordphone_e2e::wait::{self, OrPanic};

const ALLOCATED: &str = "chordphone_relay_allocated_total";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tabs_of_a_server_without_a_relay_find_one_in_the_overlay_and_call_through_it() {
    let a = Server::start(
        "no-relay",
        ServerOpts {
            config: Some("[relay]\nenabled = false\n".into()),
            ..ServerOpts::default()
        },
    )
    .await
    .or_panic();
    let ice = http::get_json(&format!("{}/ice", a.base_url()))
        .await
        .or_panic();
    assert_eq!(ice["iceServers"], serde_json::json!([]), "{ice}");

    let b = Server::start(
        "relay",
        ServerOpts {
            join: vec![a.ws_url()],
            ..ServerOpts::default()
        },
    )
    .await
    .or_panic();
    wait::until("server B to join A's ring", wait::BOUND, async || {
        let health = b.health().await?;
        (health["joined"] == true)
            .then_some(())
            .ok_or_else(|| format!("B /healthz: {health}"))
    })
    .await
    .or_panic();

    let driver = Chromedriver::start().await.or_panic();
    let _tabs = relayed_ring_and_call_via(&driver, (&a, &[&b]), "lookup")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", a.log_tail(30), b.log_tail(30)));

    let (ma, mb) = (a.metrics().await.or_panic(), b.metrics().await.or_panic());
    assert!(Server::metric(&mb, ALLOCATED) >= 2, "B:\n{mb}");
    assert_eq!(Server::metric(&ma, ALLOCATED), 0, "A:\n{ma}");
    assert!(
        b.log_tail(400).contains("relay offered in the overlay"),
        "{}",
        b.log_tail(40)
    );
}
