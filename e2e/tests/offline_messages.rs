//! A message to someone with no tab open waits in the overlay, sealed to
//! their key: the sender sees it as waiting, and the person reads it once
//! they open the app again (a new tab of the same browser: the same
//! identity) and register their name.

use chordphone_e2e::api::Tab;
use chordphone_e2e::browser::Chromedriver;
use chordphone_e2e::cluster::Cluster;
use chordphone_e2e::server::{Server, ServerOpts};
use chordphone_e2e::setup::two_phones;
use chordphone_e2e::wait::{until, OrPanic};
use core::time::Duration;
use serde_json::{json, Value};

/// A lookup, a failed delivery and the inbox write or read, each through
/// the ring; the reader also waits for its next inbox read.
const BOUND: Duration = Duration::from_secs(90);

const TEXT: &str = "call me when you are back";

async fn user_of(tab: &Tab) -> Value {
    tab.status().await.or_panic()["user"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_to_someone_offline_waits_until_they_come_back() {
    let server = Server::start("offline-messages", ServerOpts::default())
        .await
        .or_panic();
    let driver = Chromedriver::start().await.or_panic();
    // Three tabs: alice in browser a, bob in browser b, and a third tab in
    // a that keeps the ring more than a pair when bob is gone.
    let (browsers, tabs) = two_phones(&driver, &server, "inbox", 3).await.or_panic();
    let (alice, bob) = (&tabs[0], &tabs[1]);
    Cluster::new(vec![&server], tabs.iter().collect())
        .wait_ring("three tabs and the server in one ring")
        .await
        .or_panic();
    alice.register("alice").await.or_panic();
    bob.register("bob").await.or_panic();
    let bob_user = user_of(bob).await;

    // Bob leaves: the page goes away (its pagehide unregisters the tab).
    // The navigation may cut the script's answer short; what counts is
    // that the page is gone, which the checks below see.
    let _ = bob
        .execute("location.href = 'about:blank'; return true;", vec![])
        .await;

    let out = alice.message("bob", TEXT).await.or_panic();
    assert_eq!(out, json!("waiting"), "send() says the message waits");
    let mine = alice.messages().await.or_panic();
    assert!(
        mine.iter()
            .any(|m| m.direction == "out" && m.text == TEXT && m.status == "waiting"),
        "alice's messages(): {mine:?}"
    );

    // Bob comes back: a new tab of the same browser, the same person.
    let back = browsers[1]
        .open_tab("inbox-back", &server.page_url("inbox-back"))
        .await
        .or_panic();
    assert_eq!(user_of(&back).await, bob_user, "the same identity");
    Cluster::new(vec![&server], vec![alice, &tabs[2], &back])
        .wait_ring("bob's new tab in the ring")
        .await
        .or_panic();
    back.register("bob").await.or_panic();
    let got = until("bob to read alice's waiting message", BOUND, async || {
        let got = back.messages().await?;
        if got.iter().any(|m| m.direction == "in" && m.text == TEXT) {
            Ok(got)
        } else {
            Err(format!("bob's messages(): {got:?}"))
        }
    })
    .await
    .or_panic();
    let from_alice: Vec<_> = got
        .iter()
        .filter(|m| m.direction == "in" && m.text == TEXT)
        .collect();
    assert_eq!(from_alice.len(), 1, "shown once: {got:?}");
    assert_eq!(from_alice[0].from, "sip:alice@chordphone");
    assert_eq!(from_alice[0].status, "received");
}
