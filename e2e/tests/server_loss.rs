//! Losing the server does not stop the tabs: they stay linked to each other
//! over WebRTC, lookups still work, and new links are negotiated through the
//! ring alone. When the server comes back on the same port, a new tab joins
//! and takes its right place among the old ones.

use chordphone_e2e::browser::{Browser, Chromedriver};
use chordphone_e2e::cluster::{tabs_on_webrtc, Cluster, Snapshot};
use chordphone_e2e::server::{Server, ServerOpts};
use chordphone_e2e::wait::OrPanic;

const KEYS: [&str; 4] = ["alice", "bob", "carol", "room:after-the-server"];

/// Tabs in the ring. Eight tabs and the server often end up with every
/// pair of tabs linked (successors, predecessors and fingers of a ring that
/// small cover everyone), and the test needs a pair without a link; with
/// sixteen, each tab links to about ten of the fifteen others.
const TABS: usize = 16;

/// Two tabs (by index) that have no link to each other.
fn unlinked_pair(snap: &Snapshot, names: &[String]) -> Option<(usize, usize)> {
    for (i, a) in names.iter().enumerate() {
        for (j, b) in names.iter().enumerate() {
            let (Some(sa), Some(sb)) =
                (snap.get(&format!("tab {a}")), snap.get(&format!("tab {b}")))
            else {
                continue;
            };
            if i != j && !sa.linked_to(&sb.id) && !sb.linked_to(&sa.id) {
                return Some((i, j));
            }
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tabs_keep_the_ring_without_the_server_and_a_new_tab_joins_after_it_returns() {
    let opts = ServerOpts {
        identity_file: true,
        ..ServerOpts::default()
    };
    let mut server = Server::start("loss", opts).await.or_panic();
    let driver = Chromedriver::start().await.or_panic();
    let browsers = [
        Browser::launch(&driver, "a").await.or_panic(),
        Browser::launch(&driver, "b").await.or_panic(),
    ];
    let names: Vec<String> = (0..TABS).map(|i| format!("loss-{i}")).collect();
    let mut tabs = Vec::new();
    for (i, name) in names.iter().enumerate() {
        tabs.push(
            browsers[i % 2]
                .open_tab(name, &server.page_url(name))
                .await
                .or_panic(),
        );
    }
    {
        let cluster = Cluster::new(vec![&server], tabs.iter().collect());
        cluster
            .wait_ring_with("the tabs and the server to form one ring", tabs_on_webrtc)
            .await
            .or_panic();
    }

    server.kill();

    let tabs_only = Cluster::new(vec![], tabs.iter().collect());
    let snap = tabs_only
        .wait_ring_with(
            "the tabs to close the ring without the server, over WebRTC",
            tabs_on_webrtc,
        )
        .await
        .or_panic();
    tabs_only
        .check_lookups(&snap.ring(), &KEYS)
        .await
        .or_panic();

    // A link between two tabs that had none: negotiated through the ring,
    // since the server is gone.
    let (i, j) = unlinked_pair(&snap, &names).unwrap_or_else(|| {
        panic!(
            "every tab has a link to every other, no pair to link\n{}",
            snap.dump()
        )
    });
    let target = snap
        .get(&format!("tab {}", names[j]))
        .map(|s| s.id.to_hex())
        .or_panic_msg();
    let ms = tabs[i].link(&target).await.or_panic();
    let after = tabs_only.snapshot().await;
    let now_linked = after
        .get(&format!("tab {}", names[i]))
        .is_some_and(|s| s.peers.iter().any(|p| p.to_hex() == target));
    assert!(
        now_linked,
        "link({target}) from {} resolved in {ms} ms but {} does not list it as a peer\n{}",
        names[i],
        names[i],
        after.dump()
    );

    server.restart().await.or_panic();
    let newcomer = browsers[0]
        .open_tab("loss-new", &server.page_url("loss-new"))
        .await
        .or_panic();
    let mut all: Vec<_> = tabs.iter().collect();
    all.push(&newcomer);
    let cluster = Cluster::new(vec![&server], all);
    cluster
        .wait_ring("the restarted server and a new tab to take their places in the ring")
        .await
        .or_panic();
}

/// `expect` for an option, with a plain message.
trait OrPanicMsg<T> {
    fn or_panic_msg(self) -> T;
}

impl<T> OrPanicMsg<T> for Option<T> {
    #[track_caller]
    fn or_panic_msg(self) -> T {
        match self {
            Some(v) => v,
            None => panic!("a status that was just read is missing"),
        }
    }
}
