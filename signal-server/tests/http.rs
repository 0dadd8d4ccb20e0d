//! The HTTP routes: health, metrics, status, static files, identity file.

#![allow(clippy::unwrap_used)]

mod common;

use chordphone_overlay::Id;
use common::peer::TestPeer;
use common::raw::{close_of, connect_handshaken};
use common::{random, wait_for, Server};
use futures_util::SinkExt;
use signal_server::Config;
use std::path::PathBuf;
use tokio_tungstenite::tungstenite::Message as Ws;

fn temp_dir() -> PathBuf {
    let name: [u8; 8] = random();
    let dir = std::env::temp_dir().join(format!("signal-server-test-{}", u64::from_le_bytes(name)));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn is_id(v: &serde_json::Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 40
            && s.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_reports_ok_and_joined() {
    let server = Server::start(Config::default()).await;
    let (code, body) = server.get("/healthz").await.unwrap();
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let instance = v["instance"].as_str().unwrap_or_default().to_owned();
    assert!(!instance.is_empty(), "no instance in {v}");
    assert_eq!(
        v,
        serde_json::json!({"status": "ok", "joined": true, "instance": instance})
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_has_the_documented_shape() {
    let server = Server::start(Config::default()).await;
    let peer = TestPeer::join(&server.ws_url()).await;
    let st = wait_for("the peer to be linked", || async {
        let st = server.status().await;
        (st["links"]["websocket"] == 1 && !st["successors"].as_array()?.is_empty()).then_some(st)
    })
    .await;
    let mut keys: Vec<&str> = st.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "fingers",
            "id",
            "joined",
            "links",
            "peers",
            "predecessor",
            "records",
            "successors"
        ]
    );
    assert!(is_id(&st["id"]));
    assert!(st["predecessor"].is_null() || is_id(&st["predecessor"]));
    assert!(st["successors"].as_array().unwrap().iter().all(is_id));
    let fingers = st["fingers"].as_array().unwrap();
    assert!(fingers.iter().all(is_id));
    let mut distinct = fingers.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), fingers.len());
    assert_eq!(st["links"]["webrtc"], 0);
    assert_eq!(st["links"]["relayed"], 0);
    assert_eq!(
        st["peers"],
        serde_json::json!([{"id": peer.id.to_hex(), "role": "peer"}])
    );
    assert!(st["records"].is_u64());
    assert_eq!(st["joined"], true);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_with_traffic_and_closes() {
    // No relay offer: its record and its write would be counted before
    // the traffic this test makes.
    let server = Server::start(Config {
        relay: signal_server::RelaySettings {
            advertise: Some(false),
            ..signal_server::RelaySettings::default()
        },
        ..Config::default()
    })
    .await;
    let (code, body) = server.get("/metrics").await.unwrap();
    assert_eq!(code, 200);
    for name in [
        "chordphone_peers_connected 0",
        "chordphone_overlay_links 0",
        "chordphone_records 0",
        "chordphone_joined 1",
        "chordphone_messages_in_total 0",
        "chordphone_messages_out_total 0",
        "chordphone_messages_dropped_total{reason=\"queue_full\"} 0",
        "chordphone_queries_ok_total 0",
        "chordphone_requests_forwarded_total 0",
        "chordphone_connections_closed_total{reason=\"malformed\"} 0",
        "chordphone_handshakes_failed_total 0",
    ] {
        assert!(body.contains(name), "missing {name} in\n{body}");
    }
    let peer = TestPeer::join(&server.ws_url()).await;
    let key = Id::for_key("metrics");
    peer.put(key, b"v").await.unwrap();
    wait_for("traffic and records to show", || async {
        let ok = server.metric("chordphone_messages_in_total").await > 0
            && server.metric("chordphone_messages_out_total").await > 0
            && server.metric("chordphone_peers_connected").await == 1
            && server.metric("chordphone_records").await == 1;
        ok.then_some(())
    })
    .await;
    let (mut ws, _, _) = connect_handshaken(&server.ws_url()).await;
    ws.send(Ws::Binary(vec![0x42].into())).await.unwrap();
    close_of(&mut ws).await;
    assert_eq!(
        server
            .metric("chordphone_connections_closed_total{reason=\"malformed\"}")
            .await,
        1
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_files_are_served_and_a_missing_directory_answers_404() {
    let dir = temp_dir();
    std::fs::write(dir.join("index.html"), "<h1>chordphone</h1>").unwrap();
    std::fs::write(dir.join("app.js"), "1;").unwrap();
    let server = Server::start(Config {
        static_dir: dir.clone(),
        ..Config::default()
    })
    .await;
    assert_eq!(
        server.get("/").await.unwrap(),
        (200, "<h1>chordphone</h1>".to_owned())
    );
    assert_eq!(server.get("/app.js").await.unwrap(), (200, "1;".to_owned()));
    assert_eq!(server.get("/nope.js").await.unwrap().0, 404);
    server.stop().await;

    let server = Server::start(Config {
        static_dir: dir.join("missing"),
        ..Config::default()
    })
    .await;
    assert_eq!(server.get("/").await.unwrap().0, 404);
    assert_eq!(server.get("/healthz").await.unwrap().0, 200);
    server.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_file_keeps_the_node_id_across_restarts() {
    let dir = temp_dir();
    let file = dir.join("identity");
    let config = Config {
        identity_file: Some(file.clone()),
        ..Config::default()
    };
    let instance = |body: String| -> String {
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["instance"].as_str().unwrap_or_default().to_owned()
    };
    let server = Server::start(config.clone()).await;
    let id = server.id().await;
    let first = instance(server.get("/healthz").await.unwrap().1);
    server.stop().await;
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim().len(), 64);
    let server = Server::start(config).await;
    assert_eq!(server.id().await, id);
    // Same node, but a new run: tabs learn from this that it restarted.
    let second = instance(server.get("/healthz").await.unwrap().1);
    assert_ne!(first, second, "the instance must change across restarts");
    server.stop().await;
    let fresh = Server::start(Config::default()).await;
    assert_ne!(fresh.id().await, id);
    fresh.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}
