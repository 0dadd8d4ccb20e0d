//! Screenshots of the app as people see it, for checking by eye: the real
//! server, six tabs in two browsers, one ring. Writes PNGs to
//! `target/screens/` (or the directory given as the first argument):
//! `ring.png` (a tab in the ring), `lookup.png` (after a lookup from the
//! page), `joining.png` (a tab before it chose a name).
//!
//! ```text
//! bash scripts/screens.sh [DIR]
//! ```

use chordphone_e2e::api::Tab;
use chordphone_e2e::browser::Chromedriver;
use chordphone_e2e::cluster::Cluster;
use chordphone_e2e::server::{Server, ServerOpts};
use chordphone_e2e::setup::two_browsers;
use chordphone_e2e::wait::until;
use core::time::Duration;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;

/// A laptop screen: the whole ring card fits.
const SIZE: (u32, u32) = (1280, 1400);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/screens".to_owned()),
    );
    match run(&dir).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("screens: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(dir: &std::path::Path) -> chordphone_e2e::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let server = Server::start("screens", ServerOpts::default()).await?;
    let driver = Chromedriver::start().await?;
    let (browsers, tabs) = two_browsers(&driver, &server, "screens", 6).await?;
    let cluster = Cluster::new(vec![&server], tabs.iter().collect());
    cluster
        .wait_ring("6 tabs and the server in one ring")
        .await?;
    let save = |name: &str, png: Vec<u8>| {
        let path = dir.join(name);
        std::fs::write(&path, png).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
        Ok::<(), String>(())
    };
    save("ring.png", tabs[0].screenshot(SIZE).await?)?;
    // A lookup typed on the page, as a person would.
    tabs[0]
        .execute(
            "const f = document.getElementById('lookup-form');\
             document.getElementById('key').value = arguments[0];\
             f.requestSubmit(); return true;",
            vec![json!("alice")],
        )
        .await?;
    shows(
        &tabs[0],
        "return document.getElementById('lookup-result').innerText.length > 0;",
    )
    .await?;
    save("lookup.png", tabs[0].screenshot(SIZE).await?)?;
    let fresh = browsers[1]
        .open_page("screens-new", &format!("{}/", server.base_url()))
        .await?;
    shows(
        &fresh,
        "return typeof window.chordphone === 'object' && \
         document.getElementById('state').innerText !== 'Loading…';",
    )
    .await?;
    save("joining.png", fresh.screenshot(SIZE).await?)?;
    Ok(())
}

/// Waits until `script` returns `true` in `tab`.
async fn shows(tab: &Tab, script: &str) -> chordphone_e2e::Result<()> {
    until(
        "the page to show it",
        Duration::from_secs(30),
        async || match tab.execute(script, vec![]).await? {
            Value::Bool(true) => Ok(()),
            other => Err(format!("not yet: {other}")),
        },
    )
    .await
}
