//! Contacts and presence in real browsers: alice's contact list follows her
//! identity to a second browser, and what bob's devices say (away, in a
//! call, back, gone) shows in alice's `contacts()` within seconds.
// A test measures real time (how soon a change shows); cores never do.
#![allow(clippy::disallowed_methods)]

use chordphone_e2e::api::Tab;
use chordphone_e2e::browser::{Browser, Chromedriver};
use chordphone_e2e::cluster::Cluster;
use chordphone_e2e::server::{Server, ServerOpts};
use chordphone_e2e::setup::two_phones;
use chordphone_e2e::wait::{until, OrPanic};
use core::time::Duration;
use serde_json::{json, Value};
use std::time::Instant;

const PASS: &str = "correct horse battery staple";
const BOB: &str = "sip:bob@chordphone";
const CAROL: &str = "sip:carol@chordphone";
/// A change shows at the watcher's next poll (3 s) after the write reaches
/// the ring; generous for a loaded machine.
const SEEN: Duration = Duration::from_secs(20);
/// A tab that goes: its value is removed on the way out, or expires (20 s).
const GONE: Duration = Duration::from_secs(60);

async fn contacts(tab: &Tab) -> chordphone_e2e::Result<Vec<Value>> {
    let v = tab.call("contacts", vec![]).await?;
    v.as_array()
        .cloned()
        .ok_or_else(|| format!("contacts() is not an array: {v}"))
}

/// Waits until `tab` shows `aor` as `presence`; how long it took.
async fn wait_presence(tab: &Tab, aor: &str, presence: &str, bound: Duration) -> Duration {
    let start = Instant::now();
    until(
        &format!("{}: {aor} shown {presence}", tab.name()),
        bound,
        async || {
            let list = contacts(tab).await?;
            let shown = list.iter().find(|c| c["aor"] == aor);
            match shown {
                Some(c) if c["presence"] == presence => Ok(()),
                _ => Err(format!("contacts(): {list:?}")),
            }
        },
    )
    .await
    .or_panic();
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_follow_the_identity_and_presence_shows_within_seconds() {
    let server = Server::start("presence", ServerOpts::default())
        .await
        .or_panic();
    let driver = Chromedriver::start().await.or_panic();
    // Alice in browser a, bob in browser b (both can call); alice's second
    // device is a third browser that will import her identity.
    let (_browsers, tabs) = two_phones(&driver, &server, "presence", 2).await.or_panic();
    let (alice, bob) = (&tabs[0], &tabs[1]);
    let other = Browser::launch(&driver, "c").await.or_panic();
    let alice2 = other
        .open_tab("presence-c", &server.page_url("presence-c"))
        .await
        .or_panic();
    Cluster::new(vec![&server], vec![alice, bob, &alice2])
        .wait_ring("three browsers and the server in one ring")
        .await
        .or_panic();
    alice.register("alice").await.or_panic();
    bob.register("bob").await.or_panic();
    assert_eq!(bob.status().await.or_panic()["presence"], "online");

    // Alice adds bob; the API refuses what is not a name, in words.
    let ok = alice
        .call("addContact", vec![json!("Bob"), json!("Bob B.")])
        .await
        .or_panic();
    assert_eq!(ok, json!(true));
    let err = alice
        .call("addContact", vec![json!("tel:+4930123")])
        .await
        .expect_err("a telephone number is not a contact");
    assert!(err.contains("cannot be called"), "{err}");
    let list = contacts(alice).await.or_panic();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["aor"], BOB);
    assert_eq!(list[0]["name"], "Bob B.");
    wait_presence(alice, BOB, "online", SEEN).await;

    // Alice's identity in browser c: her second device, with her list.
    let blob = alice
        .call("exportIdentity", vec![json!(PASS)])
        .await
        .or_panic();
    alice2
        .call("importIdentity", vec![blob, json!(PASS)])
        .await
        .or_panic();
    alice2.register("alice").await.or_panic();
    wait_presence(&alice2, BOB, "online", SEEN).await;
    let list = contacts(&alice2).await.or_panic();
    assert_eq!(list[0]["name"], "Bob B.", "{list:?}");
    // A change on the second device reaches the first.
    alice2
        .call("addContact", vec![json!("carol")])
        .await
        .or_panic();
    wait_presence(alice, CAROL, "offline", SEEN).await;

    // Bob steps away: both of alice's devices see it.
    let err = bob
        .call("presence", vec![json!("in-call")])
        .await
        .expect_err("in a call is the phone's to say");
    assert!(err.contains("online, away or busy"), "{err}");
    bob.call("presence", vec![json!("away")]).await.or_panic();
    assert_eq!(bob.status().await.or_panic()["presence"], "away");
    let away = wait_presence(alice, BOB, "away", SEEN).await;
    wait_presence(&alice2, BOB, "away", SEEN).await;
    println!("away shown after {} ms", away.as_millis());

    // A call makes bob in-call; after it, he is away again.
    let id = alice.dial("bob").await.or_panic();
    let inc = bob.wait_incoming("alice").await.or_panic();
    bob.act("answer", Some(&inc.id)).await.or_panic();
    alice.wait_state(&id, "active").await.or_panic();
    assert_eq!(bob.status().await.or_panic()["presence"], "in-call");
    let in_call = wait_presence(alice, BOB, "in-call", SEEN).await;
    println!("in-call shown after {} ms", in_call.as_millis());
    alice.act("hangup", Some(&id)).await.or_panic();
    bob.wait_idle().await.or_panic();
    wait_presence(alice, BOB, "away", SEEN).await;
    bob.call("presence", vec![json!("online")]).await.or_panic();
    wait_presence(&alice2, BOB, "online", SEEN).await;

    // Bob's tab goes: offline. The navigation may cut the script's answer
    // short; what counts is that the page is gone.
    let _ = bob
        .execute("location.href = 'about:blank'; return true;", vec![])
        .await;
    let gone = wait_presence(alice, BOB, "offline", GONE).await;
    println!("offline shown after {} ms", gone.as_millis());
}
