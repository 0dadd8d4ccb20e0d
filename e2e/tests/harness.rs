//! The harness itself, without the app: several tabs per browser keep their
//! own state, API calls settle both ways, and killing one browser closes
//! its tabs and nothing else. Pages are `data:` URLs, so no server is needed.

use chordphone_e2e::browser::{Browser, Chromedriver};
use chordphone_e2e::wait::OrPanic;
use serde_json::json;

/// A stand-in for the app: `window.chordphone` with one method that
/// resolves and one that rejects.
const PAGE: &str = "data:text/html,<title>stand-in</title><script>\
window.chordphone = { \
  status: () => ({ id: location.hash.slice(1) }), \
  put: (k, v) => Promise.resolve(true), \
  get: (k) => Promise.reject(new Error('no such record: ' + k)) \
};</script>";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tabs_are_separate_and_a_killed_browser_takes_only_its_tabs() {
    let driver = Chromedriver::start().await.or_panic();
    let a = Browser::launch(&driver, "a").await.or_panic();
    let b = Browser::launch(&driver, "b").await.or_panic();
    let mut tabs = Vec::new();
    for (browser, name) in [(&a, "a0"), (&a, "a1"), (&a, "a2"), (&b, "b0"), (&b, "b1")] {
        tabs.push(
            browser
                .open_tab(name, &format!("{PAGE}#{name}"))
                .await
                .or_panic(),
        );
    }
    // Each call goes to its own tab, even when calls alternate between tabs.
    for tab in tabs.iter().rev().chain(tabs.iter()) {
        let status = tab.status().await.or_panic();
        assert_eq!(status["id"], json!(tab.name()));
    }
    tabs[0].put("k", "v").await.or_panic();
    let err = tabs[1]
        .get("k")
        .await
        .expect_err("get rejects in the stand-in");
    assert!(err.contains("no such record: k"), "{err}");

    assert!(!a.pids().is_empty(), "browser a has processes");
    a.kill().await.or_panic();
    assert!(a.pids().is_empty(), "browser a is gone");
    assert!(
        tabs[0].status().await.is_err(),
        "a killed browser's tab answers nothing"
    );
    for tab in &tabs[3..] {
        let status = tab.status().await.or_panic();
        assert_eq!(status["id"], json!(tab.name()));
    }
    let b_pids = b.pids();
    assert!(!b_pids.is_empty());
    drop(tabs);
    drop(b);
    assert!(
        b_pids.iter().all(|p| !chordphone_e2e::process::alive(*p)),
        "dropping a browser ends its processes"
    );
}
