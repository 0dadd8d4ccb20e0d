//! The `signal-server` binary: flags over a config file, and a graceful
//! stop on SIGTERM.

#![allow(clippy::unwrap_used)]

mod common;

use common::random;
use core::time::Duration;
use std::process::{Command, Stdio};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_reads_its_config_and_stops_on_sigterm() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let name: [u8; 8] = random();
    let dir = std::env::temp_dir().join(format!("signal-server-bin-{}", u64::from_le_bytes(name)));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("server.toml");
    // The file names a port that is in use; the flag overrides it.
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:1\"\nmax_links = 64\nrate = 50\nlog = \"warn\"\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_signal-server"))
        .args(["--config", config.to_str().unwrap()])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--static-dir", dir.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = common::Server::external(([127, 0, 0, 1], port).into());
    common::wait_for("the binary to answer", || async {
        server.get("/healthz").await.ok().filter(|(c, _)| *c == 200)
    })
    .await;
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = tokio::time::Instant::now() + common::WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the binary did not exit"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
    // A bad setting is refused at start with a message.
    let out = Command::new(env!("CARGO_BIN_EXE_signal-server"))
        .args(["--rate", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("rate"));
    std::fs::remove_dir_all(dir).unwrap();
}
