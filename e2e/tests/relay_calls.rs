//! Tabs that may only use relayed candidates (`?relay=only`) still make a
//! ring, find keys and call each other: they take TURN credentials from
//! their server's `/ice` and go through its embedded relay, which they
//! reach on 127.0.0.1 with the server's defaults (its own relay addresses
//! are never refused). Every WebRTC link and both sides of the call report
//! a relayed path, and each side hears the other's tone.

use chordphone_e2e::api::Tab;
use chordphone_e2e::browser::Chromedriver;
use chordphone_e2e::calls::{connect, two_way, CALL_BOUND};
use chordphone_e2e::cluster::{Cluster, Snapshot};
use chordphone_e2e::media::{TONE_A_HZ, TONE_B_HZ};
use chordphone_e2e::server::{Server, ServerOpts};
use chordphone_e2e::setup::two_phones_with;
use chordphone_e2e::wait::{until, OrPanic};
use serde_json::Value;

/// Every tab has WebRTC links, and all of them are relayed (servers have
/// WebSocket links only).
fn all_links_relayed(snap: &Snapshot) -> chordphone_e2e::Result<()> {
    for (label, status) in &snap.nodes {
        let Ok(status) = status else { continue };
        if label.starts_with("server") {
            continue;
        }
        let links = &status.raw["links"];
        let (webrtc, relayed) = (links["webrtc"].as_u64(), links["relayed"].as_u64());
        if webrtc.unwrap_or(0) == 0 || relayed != webrtc {
            return Err(format!("{label}: links {links}"));
        }
    }
    Ok(())
}

/// Both sides of the call report a relayed path.
async fn call_relayed(sides: [(&Tab, &Value); 2]) {
    for (tab, id) in sides {
        until(
            &format!("{}: call {id} to report a relayed path", tab.name()),
            CALL_BOUND,
            async || {
                let call = tab.call_by_id(id).await?;
                call.media
                    .relayed
                    .then_some(())
                    .ok_or_else(|| format!("{call:?}"))
            },
        )
        .await
        .or_panic();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_only_tabs_ring_look_up_and_call_through_the_embedded_relay() {
    let server = Server::start("relay-calls", ServerOpts::default())
        .await
        .or_panic();
    let driver = Chromedriver::start().await.or_panic();
    let (_browsers, tabs) = two_phones_with(&driver, &server, "relayed", 2, "&relay=only")
        .await
        .or_panic();
    let (alice, bob) = (&tabs[0], &tabs[1]);
    let cluster = Cluster::new(vec![&server], tabs.iter().collect());
    let snap = cluster
        .wait_ring_with(
            "a ring whose WebRTC links all go through the relay",
            all_links_relayed,
        )
        .await
        .or_panic();
    cluster
        .wait_lookups(&snap.ring(), &["alice", "bob", "carol"], CALL_BOUND)
        .await
        .or_panic();

    alice.register("alice").await.or_panic();
    bob.register("bob").await.or_panic();
    let (a_id, b_id) = connect(alice, bob, "bob", "alice").await.or_panic();
    two_way((alice, &a_id, TONE_B_HZ), (bob, &b_id, TONE_A_HZ))
        .await
        .or_panic();
    call_relayed([(alice, &a_id), (bob, &b_id)]).await;
    alice.act("hangup", Some(&a_id)).await.or_panic();
    bob.wait_ended(&b_id, "hung up").await.or_panic();

    // The relay did the work: allocations were made for the links and the call.
    let metrics = server.metrics().await.or_panic();
    let allocated = Server::metric(&metrics, "chordphone_relay_allocated_total");
    assert!(allocated >= 2, "{metrics}");
}
