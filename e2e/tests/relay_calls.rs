//! Tabs that may only use relayed candidates (`?relay=only`) still make a
//! ring, find keys and call each other: they take TURN credentials from
//! their server's `/ice` and go through its embedded relay, which they
//! reach on 127.0.0.1 with the server's defaults (its own relay addresses
//! are never refused). Every WebRTC link and both sides of the call report
//! a relayed path, and each side hears the other's tone. (The same through
//! coturn: `relay_coturn`.)

use chordphone_e2e::browser::Chromedriver;
use chordphone_e2e::relayed::relayed_ring_and_call;
use chordphone_e2e::server::{Server, ServerOpts};
use chordphone_e2e::wait::OrPanic;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_only_tabs_ring_look_up_and_call_through_the_embedded_relay() {
    let server = Server::start("relay-calls", ServerOpts::default())
        .await
        .or_panic();
    let driver = Chromedriver::start().await.or_panic();
    let _tabs = relayed_ring_and_call(&driver, &server, "relayed")
        .await
        .or_panic();

    // The relay did the work: allocations were made for the links and the call.
    let metrics = server.metrics().await.or_panic();
    let allocated = Server::metric(&metrics, "chordphone_relay_allocated_total");
    assert!(allocated >= 2, "{metrics}");
}
