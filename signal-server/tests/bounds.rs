//! What a client cannot make the server hold or do: slow or endless
//! request heads, idle keep-alive connections, dials to arbitrary places.

#![allow(clippy::unwrap_used)]

mod common;

use chordphone_link::Signal;
use chordphone_overlay::{Id, Message, Mode, Request, Route};
use common::raw::connect_handshaken;
use common::{random, wait_for, Server, WAIT};
use futures_util::SinkExt;
use signal_server::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as Ws;

fn short_timeout() -> Config {
    Config {
        header_timeout: 1,
        ..Config::default()
    }
}

/// Reads until the server closes the connection: what it sent.
async fn read_to_close(tcp: &mut TcpStream) -> String {
    let mut all = Vec::new();
    let read = tokio::time::timeout(WAIT, async {
        let mut buf = [0u8; 4096];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    });
    read.await
        .expect("the server closes the connection in time");
    String::from_utf8_lossy(&all).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_head_is_cut_off_at_the_header_timeout() {
    let server = Server::start(short_timeout()).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    // A head that never ends (a slowloris client sends a line now and then).
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut tcp).await;
    let waited = started.elapsed();
    assert!(!answer.contains("200 OK"), "{answer}");
    assert!(waited.as_millis() >= 900, "{waited:?}");
    // A whole head in time is served.
    assert_eq!(server.get("/healthz").await.unwrap().0, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_request_head_is_refused_at_the_size_cap() {
    let server = Server::start(Config::default()).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let line = format!("X-Filler: {}\r\n", "a".repeat(1000));
    // Up to 1 MiB of header lines; the server must stop us well before.
    let mut sent = 0;
    for _ in 0..1024 {
        if tcp.write_all(line.as_bytes()).await.is_err() {
            break;
        }
        sent += line.len();
    }
    let answer = read_to_close(&mut tcp).await;
    assert!(
        answer.starts_with("HTTP/1.1 431") || answer.is_empty(),
        "{answer}"
    );
    assert!(sent < 1024 * line.len() || answer.starts_with("HTTP/1.1 431"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed() {
    let server = Server::start(short_timeout()).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    // The answer comes at once, then nothing; the server closes the
    // connection once it has waited the header timeout for a next request.
    let answer = read_to_close(&mut tcp).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(
        started.elapsed().as_millis() >= 900,
        "{:?}",
        started.elapsed()
    );
    server.stop().await;
}

/// Asks `server` to dial `url`: a routed attach `Dial` from a node that
/// has no link to it (the origin of an attach is not proven, so any
/// connected peer can ask this).
async fn ask_to_dial(server: &Server, url: &str) -> common::raw::Ws {
    let (mut ws, _, server_id) = connect_handshaken(&server.ws_url()).await;
    let route = Route {
        no: 1,
        target: server_id,
        mode: Mode::ToNode,
        last_hop: true,
        hops: 0,
        timeouts: 0,
        avoid: Vec::new(),
        origin: Id(random()),
        request: Request::Attach {
            data: Signal::Dial { url: url.into() }.encode().unwrap(),
        },
    };
    let frame = Message::Route(route).encode().unwrap();
    ws.send(Ws::Binary(frame.into())).await.unwrap();
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dial_to_a_private_address_is_refused_unless_allowed() {
    let target = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", target.local_addr().unwrap());
    let server = Server::start(Config {
        dial_private: Some(false),
        ..Config::default()
    })
    .await;
    let _asking = ask_to_dial(&server, &url).await;
    wait_for("the refused dial to be counted", || async {
        (server.metric("chordphone_dials_refused_total").await == 1).then_some(())
    })
    .await;
    // Refused before connecting: nobody knocked.
    assert!(
        futures_util::FutureExt::now_or_never(target.accept()).is_none(),
        "the server connected anyway"
    );
    server.stop().await;

    // On loopback by default (a local set-up), the same dial goes out.
    let server = Server::start(Config::default()).await;
    let _asking = ask_to_dial(&server, &url).await;
    tokio::time::timeout(WAIT, target.accept())
        .await
        .expect("the server dials a loopback peer when it runs on loopback itself")
        .unwrap();
    assert_eq!(server.metric("chordphone_dials_refused_total").await, 0);
    server.stop().await;
}
