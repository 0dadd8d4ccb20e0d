//! A minimal TURN client for tests, over UDP or TCP: it allocates with
//! REST credentials (answering the 401 challenge), installs permissions,
//! and sends and receives through its relay address. Built on the requests
//! in `chordphone_relay::client`.

use super::WAIT;
use chordphone_relay::client::{self, Auth};
use chordphone_relay::framing::frame_len;
use chordphone_relay::stun::{attr, Class, Message};
use core::time::Duration;
use std::collections::VecDeque;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// The client's socket.
enum Sock {
    Udp(UdpSocket),
    /// The stream and the bytes read but not yet taken.
    Tcp(TcpStream, Vec<u8>),
}

impl Sock {
    async fn send(&mut self, bytes: &[u8], to: SocketAddr) {
        match self {
            Sock::Udp(s) => {
                s.send_to(bytes, to).await.unwrap();
            }
            Sock::Tcp(s, _) => s.write_all(bytes).await.unwrap(),
        }
    }

    /// The next message.
    async fn recv(&mut self) -> Vec<u8> {
        match self {
            Sock::Udp(s) => {
                let mut buf = vec![0u8; 70_000];
                let (n, _) = s.recv_from(&mut buf).await.unwrap();
                buf.truncate(n);
                buf
            }
            Sock::Tcp(s, pending) => loop {
                if let Ok(Some(len)) = frame_len(pending) {
                    if pending.len() >= len {
                        return pending.drain(..len).collect();
                    }
                }
                let mut chunk = [0u8; 4096];
                let n = s.read(&mut chunk).await.unwrap();
                assert!(n > 0, "the relay closed the TCP connection");
                pending.extend_from_slice(&chunk[..n]);
            },
        }
    }
}

/// One client with (after `allocate`) one allocation.
pub struct TurnClient {
    sock: Sock,
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
    /// A client on UDP.
    pub async fn new(server: SocketAddr) -> TurnClient {
        let bind = if server.is_ipv4() {
            "127.0.0.1:0"
        } else {
            "[::1]:0"
        };
        TurnClient::with(Sock::Udp(UdpSocket::bind(bind).await.unwrap()), server)
    }

    /// A client on TCP.
    pub async fn tcp(server: SocketAddr) -> TurnClient {
        let stream = TcpStream::connect(server).await.unwrap();
        TurnClient::with(Sock::Tcp(stream, Vec::new()), server)
    }

    fn with(sock: Sock, server: SocketAddr) -> TurnClient {
        TurnClient {
            sock,
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
        // TCP delivers; UDP needs retransmissions.
        let retransmit = match self.sock {
            Sock::Udp(_) => Duration::from_millis(500),
            Sock::Tcp(..) => WAIT,
        };
        while tokio::time::Instant::now() < deadline {
            self.sock.send(&bytes, self.server).await;
            let wait = tokio::time::timeout(retransmit, async {
                loop {
                    let m = self.sock.recv().await;
                    if let Some(d) = client::data_indication(&m) {
                        self.data.push_back(d);
                        continue;
                    }
                    if Message::decode(&m).is_ok_and(|d| d.tid == tid) {
                        return m;
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
        self.sock.send(&bytes, self.server).await;
    }

    /// The next data relayed to us, if one comes within `within`.
    pub async fn recv_within(&mut self, within: Duration) -> Option<(SocketAddr, Vec<u8>)> {
        if let Some(d) = self.data.pop_front() {
            return Some(d);
        }
        tokio::time::timeout(within, async {
            loop {
                if let Some(d) = client::data_indication(&self.sock.recv().await) {
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

/// Allocates for `a` and `b` with one credential and lets each reach the
/// other's relay address: their relay addresses.
pub async fn allocate_pair(
    a: &mut TurnClient,
    b: &mut TurnClient,
    user: &str,
    pass: &str,
) -> (SocketAddr, SocketAddr) {
    let ra = a.allocate(user, pass).await.unwrap();
    let rb = b.allocate(user, pass).await.unwrap();
    assert_eq!(a.permit(rb).await, Answer::Ok(None));
    assert_eq!(b.permit(ra).await, Answer::Ok(None));
    (ra, rb)
}

/// A credential signed with another secret, and one signed with `secret`
/// but expired an hour ago, are both refused with 401 by the relay at
/// `addr` (each from a fresh client address: coturn keeps a refused
/// 5-tuple's state for a while).
pub async fn assert_bad_credentials_refused(addr: SocketAddr, secret: &[u8]) {
    use chordphone_relay::credential;
    let now = super::unix_secs();
    let forged = credential::issue(b"another secret", "mallory", now, 600).unwrap();
    let mut c = TurnClient::new(addr).await;
    assert_eq!(
        c.allocate(&forged.username, &forged.password).await,
        Err(401)
    );
    let expired = credential::issue(secret, "late", now - 7200, 3600).unwrap();
    let mut c = TurnClient::new(addr).await;
    assert_eq!(
        c.allocate(&expired.username, &expired.password).await,
        Err(401)
    );
}
