//! A record stored from one tab is read from every other tab.

use chordphone_e2e::browser::Chromedriver;
use chordphone_e2e::cluster::Cluster;
use chordphone_e2e::server::{Server, ServerOpts};
use chordphone_e2e::setup::two_browsers;
use chordphone_e2e::wait::OrPanic;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_put_from_one_tab_is_read_from_every_other() {
    let server = Server::start("records", ServerOpts::default())
        .await
        .or_panic();
    let driver = Chromedriver::start().await.or_panic();
    let (_browsers, tabs) = two_browsers(&driver, &server, "records", 6)
        .await
        .or_panic();
    let cluster = Cluster::new(vec![&server], tabs.iter().collect());
    cluster
        .wait_ring("6 tabs and the server to form one ring")
        .await
        .or_panic();

    // Two writers in different browsers, two keys.
    let written = [
        (0, "room:lobby", "hello from records-0"),
        (3, "sip:erin@example.test", "records-3 is here"),
    ];
    for (writer, key, value) in written {
        tabs[writer].put(key, value).await.or_panic();
    }
    for (writer, key, value) in written {
        for (i, tab) in tabs.iter().enumerate() {
            if i == writer {
                continue;
            }
            let values = tab.get(key).await.or_panic();
            assert!(
                values.iter().any(|v| v == value),
                "tab {} reads {values:?} under {key}, expected {value:?} written by tab {}\n{}",
                tab.name(),
                tabs[writer].name(),
                cluster.snapshot().await.dump()
            );
        }
    }
}
