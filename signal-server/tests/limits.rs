//! Hostile and misbehaving connections are closed with their close code,
//! counted, and do not disturb anyone else.

#![allow(clippy::unwrap_used)]

mod common;

use chordphone_link::{CloseCode, Control, Handshake, Role, MAX_LINK_FRAME};
use chordphone_overlay::{Answer, Id, Identity, Message, Sig, WIRE_VERSION};
use common::peer::TestPeer;
use common::raw::{close_of, connect, connect_as, connect_handshaken};
use common::{random, wait_for, Server};
use futures_util::{SinkExt, StreamExt};
use signal_server::Config;
use tokio_tungstenite::tungstenite::Message as Ws;

fn expect(code: CloseCode) -> Option<(u16, String)> {
    Some((code.code(), code.reason().to_owned()))
}

async fn closed_metric(server: &Server, code: CloseCode) -> u64 {
    server
        .metric(&format!(
            "chordphone_connections_closed_total{{reason=\"{}\"}}",
            code.label()
        ))
        .await
}

/// Waits until a lookup through `peer` succeeds.
async fn works(peer: &TestPeer) {
    wait_for("the peer to be served", || async {
        matches!(peer.lookup(Id::for_key("x")).await, Ok(Answer::Owner(_))).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_frames_close_only_their_connection_with_4000() {
    let server = Server::start(Config::default()).await;
    let peer = TestPeer::join(&server.ws_url()).await;
    works(&peer).await;
    assert_eq!(closed_metric(&server, CloseCode::Malformed).await, 0);

    // Not a frame type at all: refused by the link layer.
    let (mut ws, _, _) = connect_handshaken(&server.ws_url()).await;
    ws.send(Ws::Binary(vec![0x42, 1, 2, 3].into()))
        .await
        .unwrap();
    assert_eq!(close_of(&mut ws).await, expect(CloseCode::Malformed));

    // An overlay frame that does not decode: refused by the core.
    let (mut ws, _, _) = connect_handshaken(&server.ws_url()).await;
    ws.send(Ws::Binary(vec![WIRE_VERSION, 0xFF, 0xFF, 0xFF].into()))
        .await
        .unwrap();
    assert_eq!(close_of(&mut ws).await, expect(CloseCode::Malformed));

    // Text on a binary link.
    let (mut ws, _, _) = connect_handshaken(&server.ws_url()).await;
    ws.send(Ws::Text("hello".into())).await.unwrap();
    assert_eq!(close_of(&mut ws).await, expect(CloseCode::Malformed));

    assert_eq!(closed_metric(&server, CloseCode::Malformed).await, 3);
    // The other peer was not disturbed.
    works(&peer).await;
    assert!(server.status().await["peers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == peer.id.to_hex()));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_closes_with_4002() {
    let server = Server::start(Config {
        rate: 10,
        ..Config::default()
    })
    .await;
    let peer = TestPeer::join(&server.ws_url()).await;
    let (mut ws, _, _) = connect_handshaken(&server.ws_url()).await;
    let frame = Message::Stabilize { seq: 1 }.encode().unwrap();
    // Ten times the burst of 20, far faster than 10 per second: even a
    // machine so busy that sending takes seconds overruns the bucket.
    for _ in 0..200 {
        if ws.send(Ws::Binary(frame.clone().into())).await.is_err() {
            break;
        }
    }
    assert_eq!(close_of(&mut ws).await, expect(CloseCode::RateLimited));
    assert_eq!(closed_metric(&server, CloseCode::RateLimited).await, 1);
    let dropped = server
        .metric("chordphone_messages_dropped_total{reason=\"rate_limited\"}")
        .await;
    assert_eq!(dropped, 1);
    works(&peer).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_handshake_proof_closes_with_4001() {
    let server = Server::start(Config::default()).await;
    let mut ws = connect(&server.ws_url()).await;
    let me = Identity::from_seed(random());
    let hs = Handshake::new(&me, random(), Role::Peer);
    ws.send(Ws::Binary(hs.hello().into())).await.unwrap();
    let forged = Control::Proof {
        signature: Sig([7; 64]),
    }
    .encode();
    ws.send(Ws::Binary(forged.into())).await.unwrap();
    assert_eq!(close_of(&mut ws).await, expect(CloseCode::Handshake));
    wait_for("the failed handshake to be counted", || async {
        (server.metric("chordphone_handshakes_failed_total").await == 1).then_some(())
    })
    .await;
    assert_eq!(closed_metric(&server, CloseCode::Handshake).await, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_closes_with_1009() {
    let server = Server::start(Config::default()).await;
    // After the handshake...
    let (mut ws, _, _) = connect_handshaken(&server.ws_url()).await;
    let mut big = vec![WIRE_VERSION];
    big.resize(MAX_LINK_FRAME + 1, 0);
    ws.send(Ws::Binary(big.clone().into())).await.unwrap();
    assert_eq!(close_of(&mut ws).await, expect(CloseCode::TooLarge));
    // ...and before it.
    let mut ws = connect(&server.ws_url()).await;
    ws.send(Ws::Binary(big.into())).await.unwrap();
    assert_eq!(close_of(&mut ws).await, expect(CloseCode::TooLarge));
    assert_eq!(closed_metric(&server, CloseCode::TooLarge).await, 2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_close_with_4004() {
    let server = Server::start(Config {
        max_connections: 1,
        ..Config::default()
    })
    .await;
    let (_first, _, _) = connect_handshaken(&server.ws_url()).await;
    let mut second = connect(&server.ws_url()).await;
    assert_eq!(close_of(&mut second).await, expect(CloseCode::Full));
    assert_eq!(closed_metric(&server, CloseCode::Full).await, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_node_connecting_again_replaces_the_older_connection() {
    let server = Server::start(Config::default()).await;
    let me = Identity::from_seed(random());
    let (mut old, _, _) = connect_as(&server.ws_url(), me.clone()).await;
    let (mut new, _, _) = connect_as(&server.ws_url(), me.clone()).await;
    assert_eq!(close_of(&mut old).await, expect(CloseCode::Replaced));
    // The newer one stays: the server answers it (a stabilize reply).
    let frame = Message::Stabilize { seq: 9 }.encode().unwrap();
    new.send(Ws::Binary(frame.into())).await.unwrap();
    let answered = tokio::time::timeout(common::WAIT, async {
        while let Some(Ok(m)) = new.next().await {
            if let Ws::Binary(b) = m {
                if matches!(
                    Message::decode(&b),
                    Ok(Message::StabilizeReply { seq: 9, .. })
                ) {
                    return true;
                }
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(answered);
    let peers = server.status().await["peers"].as_array().unwrap().len();
    assert_eq!(peers, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_fails_the_handshake_after_ten_seconds() {
    let server = Server::start(Config::default()).await;
    let started = tokio::time::Instant::now();
    let mut ws = connect(&server.ws_url()).await;
    // Never says hello.
    assert_eq!(close_of(&mut ws).await, expect(CloseCode::Handshake));
    let waited = started.elapsed();
    assert!(waited >= core::time::Duration::from_secs(9), "{waited:?}");
    assert_eq!(server.metric("chordphone_handshakes_failed_total").await, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_counts_against_the_rate() {
    let server = Server::start(Config {
        rate: 10,
        ..Config::default()
    })
    .await;
    let (mut ws, _, _) = connect_handshaken(&server.ws_url()).await;
    for _ in 0..40 {
        if ws.send(Ws::Ping(vec![1].into())).await.is_err() {
            break;
        }
    }
    assert_eq!(close_of(&mut ws).await, expect(CloseCode::RateLimited));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_does_not_read_is_closed_as_a_slow_reader() {
    let server = Server::start(Config {
        rate: 1_000_000,
        queue: 4,
        ..Config::default()
    })
    .await;
    let peer = TestPeer::join(&server.ws_url()).await;
    let (mut ws, _, _) = connect_handshaken(&server.ws_url()).await;
    // Each stabilize is answered; never reading fills the socket buffers,
    // then the connection's queue of four.
    let frame = Message::Stabilize { seq: 1 }.encode().unwrap();
    let sender = async {
        for _ in 0..2_000_000 {
            if ws.send(Ws::Binary(frame.clone().into())).await.is_err() {
                break;
            }
        }
    };
    let closed = async {
        wait_for("a slow-reader close", || async {
            (closed_metric(&server, CloseCode::SlowReader).await == 1).then_some(())
        })
        .await
    };
    tokio::select! {
        () = sender => {}
        () = closed => {}
    }
    assert_eq!(closed_metric(&server, CloseCode::SlowReader).await, 1);
    let dropped = server
        .metric("chordphone_messages_dropped_total{reason=\"queue_full\"}")
        .await;
    assert!(dropped >= 1);
    works(&peer).await;
    server.stop().await;
}
