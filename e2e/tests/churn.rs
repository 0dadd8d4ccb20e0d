//! Two tabs vanish at once (their browser process is killed): the ring
//! heals over the survivors and every record stored before is still read
//! from every surviving tab.
//!
//! Records are kept in k = 3 copies, so two failures at once can never take
//! every copy of one. Three could: three doomed tabs next to each other in
//! the ring (about one run in nine) would rightly lose the records they
//! alone held.

use chordphone_e2e::browser::{Browser, Chromedriver};
use chordphone_e2e::cluster::Cluster;
use chordphone_e2e::server::{Server, ServerOpts};
use chordphone_e2e::wait::{self, OrPanic};

const RECORDS: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ring_heals_and_keeps_every_record_when_two_tabs_die() {
    let server = Server::start("churn", ServerOpts::default())
        .await
        .or_panic();
    let driver = Chromedriver::start().await.or_panic();
    let stays = Browser::launch(&driver, "stays").await.or_panic();
    let dies = Browser::launch(&driver, "dies").await.or_panic();
    let mut survivors = Vec::new();
    let mut doomed = Vec::new();
    for i in 0..6 {
        let name = format!("churn-{i}");
        survivors.push(
            stays
                .open_tab(&name, &server.page_url(&name))
                .await
                .or_panic(),
        );
    }
    for i in 6..8 {
        let name = format!("churn-{i}");
        doomed.push(
            dies.open_tab(&name, &server.page_url(&name))
                .await
                .or_panic(),
        );
    }
    let everyone = Cluster::new(vec![&server], survivors.iter().chain(&doomed).collect());
    everyone
        .wait_ring("8 tabs and the server to form one ring")
        .await
        .or_panic();

    // Records written from every tab, the doomed ones included.
    let records: Vec<(String, String)> = (0..RECORDS)
        .map(|i| (format!("churn-record-{i}"), format!("value {i}")))
        .collect();
    let writers: Vec<_> = survivors.iter().chain(&doomed).collect();
    for (i, (key, value)) in records.iter().enumerate() {
        writers[i % writers.len()].put(key, value).await.or_panic();
    }

    // Every record on its three holders before the kill.
    wait::until(
        "every record to be stored in 3 copies",
        wait::BOUND,
        async || {
            let snap = everyone.snapshot().await;
            let copies: u64 = snap.statuses().iter().map(|s| s.records).sum();
            if copies >= 3 * RECORDS as u64 {
                Ok(())
            } else {
                Err(format!(
                    "{copies} copies of {RECORDS} records\n{}",
                    snap.dump()
                ))
            }
        },
    )
    .await
    .or_panic();

    dies.kill().await.or_panic();

    let rest = Cluster::new(vec![&server], survivors.iter().collect());
    rest.wait_ring("the ring to heal over the server and the 6 surviving tabs")
        .await
        .or_panic();
    // Replicas take over the dead tabs' keys; reading may retry while
    // they do, within the bound.
    wait::until(
        "every record to be read from every survivor",
        wait::BOUND,
        async || {
            let mut missing = Vec::new();
            for tab in &survivors {
                for (key, value) in &records {
                    match tab.get(key).await {
                        Ok(values) if values.contains(value) => {}
                        Ok(values) => missing.push(format!("{}: {key} -> {values:?}", tab.name())),
                        Err(e) => missing.push(e),
                    }
                }
            }
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "records missing:\n  {}\n{}",
                    missing.join("\n  "),
                    rest.snapshot().await.dump()
                ))
            }
        },
    )
    .await
    .or_panic();
}
