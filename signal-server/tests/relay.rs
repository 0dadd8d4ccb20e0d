//! The embedded TURN relay and `/ice`: credentials from the server, real
//! UDP sockets, a minimal TURN client.

#![allow(clippy::unwrap_used)]

mod common;

use chordphone_relay::credential;
use common::turn::{
    allocate_pair, assert_bad_credentials_refused, relay_between, Answer, TurnClient,
};
use common::Server;
use signal_server::{Config, RelaySettings};
use std::net::SocketAddr;

const SECRET: &str = "relay test secret";

fn config(allow_loopback: bool) -> Config {
    Config {
        relay: RelaySettings {
            secret: Some(SECRET.into()),
            allow_loopback,
            ..RelaySettings::default()
        },
        ..Config::default()
    }
}

/// `/ice` as JSON.
async fn ice(server: &Server, query: &str) -> (u16, serde_json::Value) {
    let (code, body) = server.get(&format!("/ice{query}")).await.unwrap();
    (code, serde_json::from_str(&body).unwrap_or_default())
}

/// The relay's UDP address and a credential, from `/ice`.
async fn udp_relay(server: &Server) -> (SocketAddr, String, String) {
    relay_on(server, "udp").await
}

/// The relay's address for `transport` and a credential, from `/ice`.
async fn relay_on(server: &Server, transport: &str) -> (SocketAddr, String, String) {
    let suffix = format!("?transport={transport}");
    let (code, doc) = ice(server, "").await;
    assert_eq!(code, 200, "{doc}");
    let s = &doc["iceServers"][0];
    let url = s["urls"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u.as_str())
        .find(|u| u.ends_with(&suffix))
        .unwrap();
    let addr = url
        .strip_prefix("turn:")
        .unwrap()
        .strip_suffix(&suffix)
        .unwrap()
        .parse()
        .unwrap();
    (
        addr,
        s["username"].as_str().unwrap().to_owned(),
        s["credential"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_relay_through_the_embedded_relay_with_ice_credentials() {
    // Default settings: loopback peers are refused, yet the two relay
    // addresses (on 127.0.0.1) reach each other.
    let server = Server::start(Config::default()).await;
    let (relay, user, pass) = udp_relay(&server).await;
    let (mut a, mut b) = (TurnClient::new(relay).await, TurnClient::new(relay).await);
    let (ra, rb) = allocate_pair(&mut a, &mut b, &user, &pass).await;
    assert!(ra.ip().is_loopback() && rb.ip().is_loopback());
    assert_eq!(relay_between(&mut a, &mut b, rb, b"ping").await, ra);
    assert_eq!(relay_between(&mut b, &mut a, ra, b"pong").await, rb);
    assert_eq!(server.metric("chordphone_relay_allocations").await, 2);
    assert!(server.metric("chordphone_relay_bytes_total").await >= 8);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_on_tcp_relays_to_a_client_on_udp() {
    let server = Server::start(Config::default()).await;
    let (udp, user, pass) = relay_on(&server, "udp").await;
    let (tcp, _, _) = relay_on(&server, "tcp").await;
    let (mut a, mut b) = (TurnClient::tcp(tcp).await, TurnClient::new(udp).await);
    let (ra, rb) = allocate_pair(&mut a, &mut b, &user, &pass).await;
    assert_eq!(relay_between(&mut a, &mut b, rb, b"over tcp").await, ra);
    assert_eq!(relay_between(&mut b, &mut a, ra, b"back to tcp").await, rb);
    // Closing the TCP connection ends its allocation.
    drop(a);
    common::wait_for("the TCP allocation to end", || async {
        (server.metric("chordphone_relay_allocations").await == 1).then_some(())
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_expired_credentials_are_refused_and_counted() {
    let server = Server::start(config(false)).await;
    let (relay, _, _) = udp_relay(&server).await;
    assert_bad_credentials_refused(relay, SECRET.as_bytes()).await;
    let label = |r: &str| format!("chordphone_relay_refused_total{{reason=\"{r}\"}}");
    assert_eq!(server.metric(&label("bad_credential")).await, 1);
    assert_eq!(server.metric(&label("expired")).await, 1);
    // The same secret, in time: accepted.
    let good = credential::issue(SECRET.as_bytes(), "ok", common::unix_secs(), 600).unwrap();
    let mut c = TurnClient::new(relay).await;
    assert!(c.allocate(&good.username, &good.password).await.is_ok());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_peer_is_refused_unless_allowed() {
    let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let peer_addr = peer.local_addr().unwrap();
    let server = Server::start(config(false)).await;
    let (relay, user, pass) = udp_relay(&server).await;
    let mut c = TurnClient::new(relay).await;
    c.allocate(&user, &pass).await.unwrap();
    // 127.0.0.1 is also the relay's own IP: the permission (per IP) is
    // granted, but nothing goes to a port that is not a relay address.
    assert_eq!(c.permit(peer_addr).await, Answer::Ok(None));
    c.send(peer_addr, b"secret service").await;
    let label = "chordphone_relay_refused_total{reason=\"forbidden_peer\"}";
    common::wait_for("the refusal to be counted", || async {
        (server.metric(label).await == 1).then_some(())
    })
    .await;
    // Refused, so never sent: nothing is waiting at the peer.
    let mut buf = [0u8; 64];
    assert!(
        peer.try_recv_from(&mut buf).is_err(),
        "nothing reaches the loopback peer"
    );
    // Another loopback address is refused at once.
    assert_eq!(
        c.permit("127.0.0.2:9".parse().unwrap()).await,
        Answer::Err(403)
    );
    server.stop().await;

    let server = Server::start(config(true)).await;
    let (relay, user, pass) = udp_relay(&server).await;
    let mut c = TurnClient::new(relay).await;
    let ra = c.allocate(&user, &pass).await.unwrap();
    assert_eq!(c.permit(peer_addr).await, Answer::Ok(None));
    c.send(peer_addr, b"allowed").await;
    let (n, from) = tokio::time::timeout(common::WAIT, peer.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((&buf[..n], from), (&b"allowed"[..], ra));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ice_names_the_peer_and_is_rate_limited() {
    let server = Server::start(Config {
        ice_rate: 3,
        turn_lifetime: 600,
        ..Config::default()
    })
    .await;
    let peer = "ab".repeat(20);
    let (code, doc) = ice(&server, &format!("?peer={peer}")).await;
    assert_eq!(code, 200);
    let user = doc["iceServers"][0]["username"].as_str().unwrap();
    let (expiry, who) = user.split_once(':').unwrap();
    assert_eq!(who, format!("127.0.0.1/{peer}"));
    let expiry: u64 = expiry.parse().unwrap();
    assert!(expiry.abs_diff(common::unix_secs() + 600) <= 5, "{expiry}");
    assert_eq!(doc["ttl"], 600);
    assert_eq!(doc["renewAfter"], 300);
    assert_eq!(ice(&server, "?peer=zz").await.0, 400);
    assert_eq!(ice(&server, "").await.0, 200);
    // Three a minute: the fourth asking (the malformed one was not
    // counted against the rate) is refused.
    assert_eq!(ice(&server, "").await.0, 200);
    assert_eq!(ice(&server, "").await.0, 429);
    assert_eq!(server.metric("chordphone_ice_issued_total").await, 3);
    assert_eq!(server.metric("chordphone_ice_refused_total").await, 2);
    server.stop().await;
}
