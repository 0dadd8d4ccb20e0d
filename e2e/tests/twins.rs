//! A duplicated tab ("Duplicate tab" copies `sessionStorage`, identity seed
//! included) starts as a node of its own instead of a second copy of the
//! tab it came from; a plain reload keeps the tab's node.

use chordphone_e2e::api::Tab;
use chordphone_e2e::browser::{Browser, Chromedriver};
use chordphone_e2e::cluster::Cluster;
use chordphone_e2e::server::{Server, ServerOpts};
use chordphone_e2e::wait::{until, OrPanic};
use core::time::Duration;
use serde_json::{json, Value};

const BOUND: Duration = Duration::from_secs(30);

async fn id_of(tab: &Tab) -> String {
    let status = tab.status().await.or_panic();
    status["id"].as_str().unwrap_or_default().to_owned()
}

/// Stores `seed` as the tab's identity seed and reloads it, as a
/// duplicated tab starts; waits until the new page's API is there.
async fn restart_with_seed(tab: &Tab, seed: &Value) {
    tab.execute(
        "sessionStorage.setItem('chordphone.seed', arguments[0]); \
         window.__old_page = true; location.reload(); return true;",
        vec![seed.clone()],
    )
    .await
    .or_panic();
    until(
        &format!("{} to load again", tab.name()),
        BOUND,
        async || {
            let v = tab
            .execute(
                "return window.__old_page === undefined && typeof window.chordphone === 'object';",
                vec![],
            )
            .await?;
            if v == json!(true) {
                Ok(())
            } else {
                Err("the old page or no API yet".to_owned())
            }
        },
    )
    .await
    .or_panic();
}

async fn joined(tab: &Tab) {
    until(&format!("{} to join", tab.name()), BOUND, async || {
        let status = tab.status().await?;
        if status["joined"] == json!(true) {
            Ok(())
        } else {
            Err(format!("status {status}"))
        }
    })
    .await
    .or_panic();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicated_tab_takes_a_fresh_identity_and_a_reload_keeps_it() {
    let server = Server::start("twins", ServerOpts::default())
        .await
        .or_panic();
    let driver = Chromedriver::start().await.or_panic();
    let browser = Browser::launch(&driver, "a").await.or_panic();
    let original = browser
        .open_tab("twin-a", &server.page_url("twin-a"))
        .await
        .or_panic();
    joined(&original).await;
    let id = id_of(&original).await;
    let seed = original
        .execute("return sessionStorage.getItem('chordphone.seed');", vec![])
        .await
        .or_panic();
    assert!(seed.is_string(), "no stored seed: {seed}");

    // A plain reload: no other tab runs the node, so it stays the same.
    restart_with_seed(&original, &seed).await;
    joined(&original).await;
    assert_eq!(id_of(&original).await, id, "a reload changed the node");

    // A second tab of the same browser starting with the same seed.
    let twin = browser
        .open_tab("twin-b", &server.page_url("twin-b"))
        .await
        .or_panic();
    restart_with_seed(&twin, &seed).await;
    joined(&twin).await;
    let twin_id = id_of(&twin).await;
    assert_ne!(twin_id, id, "the duplicated tab runs the same node");
    // It stored its fresh identity: a reload of the twin keeps it.
    let twin_seed = twin
        .execute("return sessionStorage.getItem('chordphone.seed');", vec![])
        .await
        .or_panic();
    assert_ne!(twin_seed, seed);
    // The original kept its node and both are in one ring.
    assert_eq!(id_of(&original).await, id);
    let cluster = Cluster::new(vec![&server], vec![&original, &twin]);
    cluster
        .wait_ring("both tabs and the server in one ring")
        .await
        .or_panic();
}
