//! coturn beside the server, on loopback: the credentials `/ice` issues
//! work against a real coturn sharing the secret (`use-auth-secret`), which
//! refuses forged and expired ones (the deployment the README describes for
//! scale); and coturn's own TURN client, `turnutils_uclient`, relays
//! through the embedded relay.
//!
//! Needs the Debian package `coturn` (installed by `scripts/setup-web.sh`);
//! without it the tests say so and pass.

#![allow(clippy::unwrap_used)]

mod common;

use chordphone_e2e::coturn::{on_path, Coturn};
use common::turn::{allocate_pair, assert_bad_credentials_refused, relay_between, TurnClient};
use common::Server;
use signal_server::{Config, TurnServer};

const SECRET: &str = "coturn test secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ice_credentials_work_with_coturn_and_bad_ones_do_not() {
    if !Coturn::installed() {
        eprintln!(
            "SKIPPED: coturn's turnserver is not installed (scripts/setup-web.sh installs it)"
        );
        return;
    }
    let coturn = Coturn::start(SECRET).unwrap();
    let url = format!("turn:127.0.0.1:{}?transport=udp", coturn.port());
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

    let addr = ([127, 0, 0, 1], coturn.port()).into();
    // The first requests also wait for coturn to come up (retransmitted).
    let (mut a, mut b) = (TurnClient::new(addr).await, TurnClient::new(addr).await);
    let (ra, rb) = allocate_pair(&mut a, &mut b, user, pass).await;
    assert_eq!(
        relay_between(&mut a, &mut b, rb, b"through coturn").await,
        ra
    );

    assert_bad_credentials_refused(addr, SECRET.as_bytes()).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coturns_own_client_relays_through_the_embedded_relay() {
    let Some(uclient) = on_path("turnutils_uclient") else {
        eprintln!("SKIPPED: coturn's turnutils_uclient is not installed (scripts/setup-web.sh installs it)");
        return;
    };
    let secret = "uclient secret";
    let server = Server::start(Config {
        relay: signal_server::RelaySettings {
            secret: Some(secret.into()),
            ..signal_server::RelaySettings::default()
        },
        ..Config::default()
    })
    .await;
    let (_, body) = server.get("/ice").await.unwrap();
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    let port = doc["iceServers"][0]["urls"][0]
        .as_str()
        .and_then(|u| {
            u.strip_suffix("?transport=udp")?
                .rsplit(':')
                .next()?
                .parse::<u16>()
                .ok()
        })
        .unwrap();
    // Two clients sending to each other's relay addresses (-y), over UDP
    // with channels, UDP with Send indications (-s), and TCP (-t); no RTCP
    // pair (-c: it needs EVEN-PORT reservations, which browsers never ask
    // for). The defaults refuse loopback peers: these are our own relays.
    for (mode, flags) in [
        ("channels", &[][..]),
        ("send", &["-s"][..]),
        ("tcp", &["-t"][..]),
    ] {
        let out = tokio::process::Command::new(&uclient)
            .args([
                "-y", "-c", "-n", "20", "-m", "2", "-W", secret, "-u", "uclient",
            ])
            .args(flags)
            .args(["-p", &port.to_string(), "127.0.0.1"])
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(common::WAIT, out)
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + String::from_utf8_lossy(&out.stderr).as_ref();
        assert!(
            text.contains("tot_send_msgs=40, tot_recv_msgs=40")
                && text.contains("Total lost packets 0 "),
            "{mode}: {text}"
        );
    }
    assert!(server.metric("chordphone_relay_allocated_total").await >= 6);
    server.stop().await;
}
