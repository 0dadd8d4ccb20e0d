//! A minimal TURN client over UDP for tests: it allocates with REST
//! credentials (answering the 401 challenge), installs permissions and
//! channels, and sends and receives through its relay address. Built on the
//! requests in `chordphone_relay::client`.

use super::WAIT;
use chordphone_relay::client::{self, Auth};
use chordphone_relay::stun::{attr, Class, Message};
use core::time::Duration;
use std::collections::VecDeque;
use std::net::SocketAddr;
use tokio::net::UdpSocket;

/// One client with (after `allocate`) one allocation.
pub struct TurnClient {
    sock: UdpSocket,
    server: SocketAddr,
    auth: Option<Auth>,
    next: u32,
    /// Data indications received while waiting for responses.
    data: VecDeque<(SocketAddr, Vec<u8>)>,
}

/// How a request ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// A success response, with its relayed address if it had one.
    Ok(Option<SocketAddr>),
    /// An error response with this code.
    Err(u16),
}

impl TurnClient {
    pub async fn new(server: SocketAddr) -> TurnClient {
        let bind = if server.is_ipv4() {
            "127.0.0.1:0"
        } else {
            "[::1]:0"
        };
        TurnClient {
            sock: UdpSocket::bind(bind).await.unwrap(),
            server,
            auth: None,
            next: 0,
            data: VecDeque::new(),
        }
    }

    fn tid(&mut self) -> [u8; 12] {
        self.next += 1;
        let mut t = [0x5a; 12];
        t[8..].copy_from_slice(&self.next.to_be_bytes());
        t
    }

    /// Sends a request and waits for its response (retransmitting, as UDP
    /// requires); data indications that arrive meanwhile are kept.
    async fn ask(&mut self, make: impl Fn([u8; 12], Option<&Auth>) -> Vec<u8>) -> Vec<u8> {
        let tid = self.tid();
        let bytes = make(tid, self.auth.as_ref());
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut buf = vec![0u8; 70_000];
        while tokio::time::Instant::now() < deadline {
            self.sock.send_to(&bytes, self.server).await.unwrap();
            let wait = tokio::time::timeout(Duration::from_millis(500), async {
                loop {
                    let (n, _) = self.sock.recv_from(&mut buf).await.unwrap();
                    if let Some(d) = client::data_indication(&buf[..n]) {
                        self.data.push_back(d);
                        continue;
                    }
                    if let Ok(m) = Message::decode(&buf[..n]) {
                        if m.tid == tid {
                            return buf[..n].to_vec();
                        }
                    }
                }
            });
            if let Ok(r) = wait.await {
                return r;
            }
        }
        panic!("no response from the TURN server at {}", self.server);
    }

    fn answer(&self, bytes: &[u8]) -> Answer {
        let m = Message::decode(bytes).unwrap();
        match m.class {
            Class::Success => {
                if let Some(a) = &self.auth {
                    assert!(m.check_integrity(&a.key), "a signed response");
                }
                Answer::Ok(m.xor_address(attr::XOR_RELAYED_ADDRESS))
            }
            _ => Answer::Err(m.error_code().unwrap_or(0)),
        }
    }

    /// Allocates a UDP relay with this credential: the relayed address,
    /// or the error code.
    pub async fn allocate(&mut self, username: &str, password: &str) -> Result<SocketAddr, u16> {
        self.auth = None;
        let first = self.ask(client::allocate).await;
        let m = Message::decode(&first).unwrap();
        assert_eq!(
            m.error_code(),
            Some(401),
            "the first allocate is challenged"
        );
        self.auth = Auth::from_challenge(username, password, &m);
        assert!(self.auth.is_some(), "a challenge names realm and nonce");
        let second = self.ask(client::allocate).await;
        match self.answer(&second) {
            Answer::Ok(Some(relay)) => Ok(relay),
            Answer::Ok(None) => panic!("an allocation without a relayed address"),
            Answer::Err(code) => Err(code),
        }
    }

    /// Installs a permission for `peer`'s IP address.
    pub async fn permit(&mut self, peer: SocketAddr) -> Answer {
        let r = self
            .ask(|tid, a| client::create_permission(tid, peer, a.unwrap()))
            .await;
        self.answer(&r)
    }

    /// Sends `data` to `peer` through the relay.
    pub async fn send(&mut self, peer: SocketAddr, data: &[u8]) {
        let tid = self.tid();
        let bytes = client::send(tid, peer, data);
        self.sock.send_to(&bytes, self.server).await.unwrap();
    }

    /// The next data relayed to us, if one comes within `within`.
    pub async fn recv_within(&mut self, within: Duration) -> Option<(SocketAddr, Vec<u8>)> {
        if let Some(d) = self.data.pop_front() {
            return Some(d);
        }
        let mut buf = vec![0u8; 70_000];
        tokio::time::timeout(within, async {
            loop {
                let (n, _) = self.sock.recv_from(&mut buf).await.unwrap();
                if let Some(d) = client::data_indication(&buf[..n]) {
                    return d;
                }
            }
        })
        .await
        .ok()
    }

    /// The next data relayed to us; fails the test after [`WAIT`].
    pub async fn recv(&mut self) -> (SocketAddr, Vec<u8>) {
        self.recv_within(WAIT).await.expect("relayed data in time")
    }
}

/// Sends through `a`'s relay to `b`'s relay address until `b` receives it
/// (UDP may drop a datagram): what `b` got, from where.
pub async fn relay_between(
    a: &mut TurnClient,
    b: &mut TurnClient,
    to: SocketAddr,
    data: &[u8],
) -> SocketAddr {
    for _ in 0..20 {
        a.send(to, data).await;
        if let Some((from, got)) = b.recv_within(Duration::from_millis(500)).await {
            assert_eq!(got, data);
            return from;
        }
    }
    panic!("nothing relayed");
}
