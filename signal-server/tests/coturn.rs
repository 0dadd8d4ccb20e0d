//! The credentials `/ice` issues work against a real coturn sharing the
//! secret (`use-auth-secret`), and coturn refuses forged and expired ones:
//! the deployment the README describes for scale, on loopback.
//!
//! Needs coturn's `turnserver` (Debian package `coturn`, installed by
//! `scripts/setup-web.sh`); without it the test says so and passes.

#![allow(clippy::unwrap_used)]

mod common;

use chordphone_relay::credential;
use common::turn::{relay_between, Answer, TurnClient};
use common::{random, Server};
use signal_server::{Config, TurnServer};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

const SECRET: &str = "coturn test secret";

/// `turnserver` on PATH.
fn turnserver() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("turnserver"))
        .find(|p| p.is_file())
}

/// A coturn process, killed when dropped.
struct Coturn {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Coturn {
    fn start(bin: &PathBuf) -> Coturn {
        // A port free for both UDP and TCP right now.
        let port = loop {
            let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let port = udp.local_addr().unwrap().port();
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                break port;
            }
        };
        let name: [u8; 8] = random();
        let dir = std::env::temp_dir().join(format!("coturn-test-{}", u64::from_le_bytes(name)));
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new(bin)
            .args(["-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1"])
            .arg(format!("--listening-port={port}"))
            .args([
                "--use-auth-secret",
                &format!("--static-auth-secret={SECRET}"),
            ])
            .args([
                "--realm=chordphone.test",
                "--fingerprint",
                "--no-tls",
                "--no-dtls",
            ])
            .args(["--no-cli", "--allow-loopback-peers", "--simple-log"])
            .arg(format!("--userdb={}", dir.join("turndb").display()))
            .arg(format!("--pidfile={}", dir.join("pid").display()))
            .arg(format!("--log-file={}", dir.join("log").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Coturn { child, dir, port }
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ice_credentials_work_with_coturn_and_bad_ones_do_not() {
    let Some(bin) = turnserver() else {
        eprintln!(
            "SKIPPED: coturn's turnserver is not installed (scripts/setup-web.sh installs it)"
        );
        return;
    };
    let coturn = Coturn::start(&bin);
    let url = format!("turn:127.0.0.1:{}?transport=udp", coturn.port);
    let server = Server::start(Config {
        turn: vec![TurnServer {
            urls: vec![url.clone()],
            secret: SECRET.into(),
        }],
        ..Config::default()
    })
    .await;
    let (code, body) = server.get("/ice").await.unwrap();
    assert_eq!(code, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    // Configured TURN servers replace the embedded relay.
    let servers = doc["iceServers"].as_array().unwrap();
    assert_eq!(servers.len(), 1, "{doc}");
    assert_eq!(servers[0]["urls"], serde_json::json!([url]));
    let user = servers[0]["username"].as_str().unwrap();
    let pass = servers[0]["credential"].as_str().unwrap();
    assert_eq!(server.metric("chordphone_relay_allocations").await, 0);

    let addr = ([127, 0, 0, 1], coturn.port).into();
    // The first requests also wait for coturn to come up (retransmitted).
    let (mut a, mut b) = (TurnClient::new(addr).await, TurnClient::new(addr).await);
    let ra = a.allocate(user, pass).await.unwrap();
    let rb = b.allocate(user, pass).await.unwrap();
    assert_eq!(a.permit(rb).await, Answer::Ok(None));
    assert_eq!(b.permit(ra).await, Answer::Ok(None));
    assert_eq!(
        relay_between(&mut a, &mut b, rb, b"through coturn").await,
        ra
    );

    let now = common::unix_secs();
    let forged = credential::issue(b"another secret", "mallory", now, 600).unwrap();
    let mut c = TurnClient::new(addr).await;
    assert_eq!(
        c.allocate(&forged.username, &forged.password).await,
        Err(401)
    );
    let expired = credential::issue(SECRET.as_bytes(), "late", now - 7200, 3600).unwrap();
    // A fresh 5-tuple: coturn keeps a refused one's state for a while.
    let mut c = TurnClient::new(addr).await;
    assert_eq!(
        c.allocate(&expired.username, &expired.password).await,
        Err(401)
    );
    server.stop().await;
}
