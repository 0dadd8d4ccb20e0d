//! Hostile raw WebSocket peers are cut off with the right close code, and
//! the tabs in the ring notice nothing.

use chordphone_e2e::browser::{Browser, Chromedriver};
use chordphone_e2e::cluster::Cluster;
use chordphone_e2e::linkclient;
use chordphone_e2e::server::{Server, ServerOpts};
use chordphone_e2e::wait::OrPanic;
use chordphone_link::CloseCode;
use futures_util::SinkExt;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// Bytes that are neither a link control frame nor an overlay frame.
const GARBAGE: [u8; 6] = [0xAB, 0xCD, 0xEF, 0x00, 0x13, 0x37];
/// How a raw client saw its connection end.
type CloseResult = chordphone_e2e::Result<linkclient::Closed>;

const CLOSE_BOUND: Duration = Duration::from_secs(20);

/// A problem if the close is not `expected` with a reason; each hostile
/// peer is checked, then all problems are reported together.
fn check_closed(what: &str, closed: CloseResult, expected: CloseCode) -> Option<String> {
    match closed {
        Ok(c) if c.code == expected.code() && !c.reason.is_empty() => None,
        Ok(c) => Some(format!(
            "{what}: closed with {c:?}, expected {} ({expected:?}) with a reason",
            expected.code()
        )),
        Err(e) => Some(format!("{what}: {e}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_floods_are_cut_off_and_the_tabs_notice_nothing() {
    let server = Server::start("hostile", ServerOpts::default())
        .await
        .or_panic();
    let driver = Chromedriver::start().await.or_panic();
    let a = Browser::launch(&driver, "a").await.or_panic();
    let b = Browser::launch(&driver, "b").await.or_panic();
    let mut tabs = Vec::new();
    for i in 0..4 {
        let name = format!("calm-{i}");
        let browser = if i % 2 == 0 { &a } else { &b };
        tabs.push(
            browser
                .open_tab(&name, &server.page_url(&name))
                .await
                .or_panic(),
        );
    }
    let cluster = Cluster::new(vec![&server], tabs.iter().collect());
    cluster
        .wait_ring("4 tabs and the server to form one ring")
        .await
        .or_panic();

    // Garbage instead of the handshake.
    let mut ws = linkclient::connect(&server.ws_url()).await.or_panic();
    ws.send(Message::binary(GARBAGE.to_vec()))
        .await
        .or_panic_ws();
    let mut problems = Vec::new();
    let closed = linkclient::read_until_closed(&mut ws, CLOSE_BOUND).await;
    problems.extend(check_closed(
        "garbage instead of the handshake",
        closed,
        CloseCode::Malformed,
    ));

    // Garbage after a completed handshake.
    let (mut ws, peer) = linkclient::connect_linked(&server.ws_url())
        .await
        .or_panic();
    let server_id = server.status().await.or_panic()["id"].clone();
    assert_eq!(
        serde_json::json!(peer.id.to_hex()),
        server_id,
        "the handshake proves the server's id"
    );
    ws.send(Message::binary(GARBAGE.to_vec()))
        .await
        .or_panic_ws();
    let closed = linkclient::read_until_closed(&mut ws, CLOSE_BOUND).await;
    problems.extend(check_closed(
        "garbage after the handshake",
        closed,
        CloseCode::Malformed,
    ));

    // A flood of well-formed frames: 1,000 a second, five times the
    // server's default per-link rate.
    let (ws, _) = linkclient::connect_linked(&server.ws_url())
        .await
        .or_panic();
    let flood = linkclient::flood(ws, 1000, 20_000, CLOSE_BOUND)
        .await
        .or_panic();
    let what = format!("a flood ({} frames sent)", flood.sent);
    problems.extend(check_closed(&what, flood.closed, CloseCode::RateLimited));

    // Meanwhile the ring went on as before.
    let snap = cluster.snapshot().await;
    problems.extend(snap.check_ring().err());
    problems.extend(
        cluster
            .check_lookups(&snap.ring(), &["alice", "bob", "carol"])
            .await
            .err(),
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `unwrap` for WebSocket send errors.
trait OrPanicWs {
    fn or_panic_ws(self);
}

impl OrPanicWs for Result<(), tokio_tungstenite::tungstenite::Error> {
    #[track_caller]
    fn or_panic_ws(self) {
        if let Err(e) = self {
            panic!("websocket send: {e}");
        }
    }
}
