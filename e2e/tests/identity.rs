//! The person behind a phone name: one identity for every tab of a browser,
//! moved to another browser as a passphrase-locked text, and the name it
//! registers held by that identity alone; with the identity moved, both
//! browsers ring for the name and the first to answer takes the call.

use chordphone_e2e::api::Tab;
use chordphone_e2e::browser::Chromedriver;
use chordphone_e2e::cluster::Cluster;
use chordphone_e2e::server::{Server, ServerOpts};
use chordphone_e2e::setup::two_phones;
use chordphone_e2e::wait::{until, OrPanic, BOUND};
use serde_json::{json, Value};

const PASS: &str = "correct horse battery staple";

async fn user_of(tab: &Tab) -> String {
    let status = tab.status().await.or_panic();
    let user = status["user"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        user.len(),
        64,
        "status().user is the person's key: {status}"
    );
    user
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_moves_between_browsers_with_its_passphrase_and_keeps_its_name() {
    let server = Server::start("identity", ServerOpts::default())
        .await
        .or_panic();
    let driver = Chromedriver::start().await.or_panic();
    // Tabs 0 and 2 in browser a, tabs 1 and 3 in browser b.
    let (_browsers, tabs) = two_phones(&driver, &server, "identity", 4).await.or_panic();
    let cluster = Cluster::new(vec![&server], tabs.iter().collect());
    cluster
        .wait_ring("4 tabs and the server in one ring")
        .await
        .or_panic();

    // One person per browser: its tabs share the key, the other browser
    // is someone else.
    let (a, b) = (user_of(&tabs[0]).await, user_of(&tabs[1]).await);
    assert_eq!(
        user_of(&tabs[2]).await,
        a,
        "tabs of one browser are one person"
    );
    assert_ne!(a, b, "two browsers are two people");

    // The first to register a name holds it; someone else is told plainly.
    let aor = tabs[0]
        .call("register", vec![json!("Alice")])
        .await
        .or_panic();
    assert_eq!(aor, json!("sip:alice@chordphone"));
    assert_eq!(tabs[0].status().await.or_panic()["aor"], aor);
    let err = tabs[1]
        .call("register", vec![json!("alice")])
        .await
        .expect_err("another person cannot take alice");
    assert!(err.to_lowercase().contains("taken"), "{err}");
    let err = tabs[1]
        .call("register", vec![json!("no spaces allowed")])
        .await
        .expect_err("a name with spaces is refused");
    assert!(!err.is_empty());

    // Export in a; a wrong passphrase in b is said in words and changes nothing.
    let blob = tabs[0]
        .call("exportIdentity", vec![json!(PASS)])
        .await
        .or_panic();
    let blob = blob.as_str().unwrap_or_default().to_owned();
    assert!(blob.starts_with("chordphone-identity-1:"), "{blob}");
    assert!(
        !blob.contains(&a),
        "the exported text does not show the key"
    );
    let err = tabs[1]
        .call(
            "importIdentity",
            vec![json!(blob), json!("not the passphrase")],
        )
        .await
        .expect_err("a wrong passphrase is refused");
    assert!(err.contains("Wrong passphrase"), "{err}");
    let err = tabs[1]
        .call(
            "importIdentity",
            vec![json!(&blob[..blob.len() - 8]), json!(PASS)],
        )
        .await
        .expect_err("a cut text is refused");
    assert!(err.contains("damaged"), "{err}");
    assert_eq!(user_of(&tabs[1]).await, b);

    // The right passphrase: browser b is now the same person, and may
    // register alice on its own device too.
    let ok = tabs[1]
        .call("importIdentity", vec![json!(blob), json!(PASS)])
        .await
        .or_panic();
    assert_eq!(ok, Value::Bool(true));
    assert_eq!(user_of(&tabs[1]).await, a);
    assert_eq!(
        user_of(&tabs[3]).await,
        a,
        "every tab of b reads the new key"
    );
    let aor = tabs[3]
        .call("register", vec![json!("alice")])
        .await
        .or_panic();
    assert_eq!(aor, json!("sip:alice@chordphone"));

    // A call to alice rings in both browsers; one answers, the other
    // stops ringing and says why.
    tabs[2].register("carol").await.or_panic();
    let id = tabs[2].dial("alice").await.or_panic();
    let here = tabs[0].wait_incoming("carol").await.or_panic();
    let there = tabs[3].wait_incoming("carol").await.or_panic();
    tabs[3].act("answer", Some(&there.id)).await.or_panic();
    tabs[2].wait_state(&id, "active").await.or_panic();
    tabs[0].wait_ended(&here.id, "elsewhere").await.or_panic();
    tabs[2].act("hangup", Some(&id)).await.or_panic();
    tabs[3].wait_ended(&there.id, "hung up").await.or_panic();

    // A reload leaves and comes back under the same name, and rings again.
    tabs[0]
        .execute(
            "window.__old_page = true; location.reload(); return true;",
            vec![],
        )
        .await
        .or_panic();
    until(
        "alice's tab to register again after a reload",
        BOUND,
        async || {
            let v = tabs[0]
            .execute(
                "return window.__old_page === undefined && typeof window.chordphone === 'object' \
                 && window.chordphone.status().aor;",
                vec![],
            )
            .await?;
            if v == json!("sip:alice@chordphone") {
                Ok(())
            } else {
                Err(format!("aor {v}"))
            }
        },
    )
    .await
    .or_panic();
    let id = tabs[2].dial("alice").await.or_panic();
    let here = tabs[0].wait_incoming("carol").await.or_panic();
    tabs[0].act("reject", Some(&here.id)).await.or_panic();
    tabs[2].wait_ended(&id, "declined").await.or_panic();
}
