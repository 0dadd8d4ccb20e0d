//! Messages through the ring between real tabs: a note reaches the node it
//! is addressed to with its sender proven, whether or not the two are
//! linked; a service nobody serves and a node that is not there are
//! answered with a reason; no link breaks.

use chordphone_e2e::browser::Chromedriver;
use chordphone_e2e::cluster::Cluster;
use chordphone_e2e::server::{Server, ServerOpts};
use chordphone_e2e::setup::two_browsers;
use chordphone_e2e::wait::{until, OrPanic};
use core::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_note_reaches_the_node_it_names_and_says_who_sent_it() {
    let server = Server::start("notes", ServerOpts::default())
        .await
        .or_panic();
    let driver = Chromedriver::start().await.or_panic();
    let (_browsers, tabs) = two_browsers(&driver, &server, "notes", 6).await.or_panic();
    let cluster = Cluster::new(vec![&server], tabs.iter().collect());
    cluster
        .wait_ring("6 tabs and the server to form one ring")
        .await
        .or_panic();
    let mut ids = Vec::new();
    for tab in &tabs {
        let status = tab.status().await.or_panic();
        ids.push(status["id"].as_str().unwrap_or_default().to_owned());
    }

    // Every tab writes to the tab three places on, in the other browser.
    for (i, tab) in tabs.iter().enumerate() {
        let to = (i + 3) % tabs.len();
        let text = format!("hello from notes-{i}");
        let answer = tab.note(&ids[to], &text, None).await.or_panic();
        assert!(answer["hops"].as_u64().is_some(), "{answer}");
    }
    for (i, tab) in tabs.iter().enumerate() {
        let from = (i + 3) % tabs.len();
        let expected = (ids[from].clone(), format!("hello from notes-{from}"));
        until(
            &format!("{} to hold the note of notes-{from}", tab.name()),
            Duration::from_secs(30),
            async || {
                let notes = tab.notes().await?;
                if notes.contains(&expected) {
                    Ok(())
                } else {
                    Err(format!("notes so far: {notes:?}"))
                }
            },
        )
        .await
        .or_panic();
    }

    // A service nobody serves: refused with a reason, nothing delivered.
    let err = tabs[0]
        .note(&ids[3], "for a service nobody runs", Some(999))
        .await
        .expect_err("an unserved service is refused");
    assert!(err.contains("not supported"), "{err}");
    // A node that is not in the ring.
    let nobody = "00000000000000000000000000000000000000ff";
    let err = tabs[0]
        .note(nobody, "anyone there?", None)
        .await
        .expect_err("a node that is not there is reported");
    assert!(err.contains("not delivered"), "{err}");
    let notes = tabs[3].notes().await.or_panic();
    assert_eq!(notes.len(), 1, "{notes:?}");

    // Nothing of this broke the ring.
    cluster
        .wait_ring("the ring to still be whole")
        .await
        .or_panic();
}
