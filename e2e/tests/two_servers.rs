//! Two servers joined together make one ring: tabs that bootstrapped
//! through different servers see the same successors and find the same
//! owners.

use chordphone_e2e::browser::{Browser, Chromedriver};
use chordphone_e2e::cluster::Cluster;
use chordphone_e2e::server::{Server, ServerOpts};
use chordphone_e2e::wait::{self, OrPanic};

const KEYS: [&str; 4] = ["alice", "bob", "service:pstn-gateway", "room:two-servers"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tabs_behind_two_joined_servers_see_one_ring() {
    let first = Server::start("first", ServerOpts::default())
        .await
        .or_panic();
    let second = Server::start(
        "second",
        ServerOpts {
            join: vec![first.ws_url()],
            ..ServerOpts::default()
        },
    )
    .await
    .or_panic();
    wait::until(
        "the second server to join the first",
        wait::BOUND,
        async || {
            let health = second.health().await?;
            if health["joined"] == true {
                Ok(())
            } else {
                Err(format!("second /healthz: {health}"))
            }
        },
    )
    .await
    .or_panic();

    let driver = Chromedriver::start().await.or_panic();
    let a = Browser::launch(&driver, "a").await.or_panic();
    let b = Browser::launch(&driver, "b").await.or_panic();
    let mut tabs = Vec::new();
    for i in 0..3 {
        let name = format!("via-first-{i}");
        tabs.push(a.open_tab(&name, &first.page_url(&name)).await.or_panic());
        let name = format!("via-second-{i}");
        tabs.push(b.open_tab(&name, &second.page_url(&name)).await.or_panic());
    }
    let cluster = Cluster::new(vec![&first, &second], tabs.iter().collect());
    let snap = cluster
        .wait_ring("both servers and the 6 tabs to form one ring")
        .await
        .or_panic();
    cluster.check_lookups(&snap.ring(), &KEYS).await.or_panic();
}
