//! Eight tabs in two browser processes join through the server and form one
//! ring with it: every node's successor and predecessor are those of the
//! sorted ids, and a lookup from any tab finds the true owner of a key.

use chordphone_e2e::browser::Chromedriver;
use chordphone_e2e::cluster::{tabs_on_webrtc, Cluster};
use chordphone_e2e::server::{Server, ServerOpts};
use chordphone_e2e::setup::two_browsers;
use chordphone_e2e::wait::OrPanic;

const KEYS: [&str; 5] = [
    "alice",
    "bob",
    "carol",
    "sip:dave@example.test",
    "service:relay",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_tabs_in_two_browsers_form_one_ring_and_find_every_owner() {
    let server = Server::start("ring", ServerOpts::default())
        .await
        .or_panic();
    let driver = Chromedriver::start().await.or_panic();
    let (_browsers, tabs) = two_browsers(&driver, &server, "ring", 8).await.or_panic();
    let cluster = Cluster::new(vec![&server], tabs.iter().collect());
    let snap = cluster
        .wait_ring_with("8 tabs and the server to form one ring", tabs_on_webrtc)
        .await
        .or_panic();
    let ring = snap.ring();
    assert_eq!(ring.len(), 9, "9 distinct ids\n{}", snap.dump());

    let lookups = cluster.check_lookups(&ring, &KEYS).await.or_panic();
    assert_eq!(lookups.len(), 8 * KEYS.len());
}
