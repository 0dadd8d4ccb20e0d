//! One leg of a relayed call for the relay benchmark: a UDP socket with a
//! TURN allocation (TURN REST credential, 401 challenge answered), then a
//! channel or a permission towards the other leg's relay address, as a
//! browser sets them up. Works against any TURN server (the embedded relay,
//! coturn). Requests are the ones in `chordphone_relay::client`.

use chordphone_relay::client::{self, Auth};
use chordphone_relay::stun::{attr, Class, Message};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// How long one request may take, retransmissions included.
const REQUEST_BOUND: Duration = Duration::from_secs(5);
/// Retransmission interval on UDP.
const RETRANSMIT: Duration = Duration::from_millis(250);
/// Allocation Mismatch: this 5-tuple has an allocation already.
const MISMATCH: u16 = 437;
/// Sockets tried per allocation.
const ATTEMPTS: usize = 8;

/// A client socket with an allocation on `server`.
#[derive(Debug)]
pub struct TurnLeg {
    /// The client's socket (shared with the traffic tasks).
    pub socket: Arc<UdpSocket>,
    /// The TURN server.
    pub server: SocketAddr,
    /// The relayed address the server allocated.
    pub relayed: SocketAddr,
    auth: Auth,
    next: u32,
}

/// A request's outcome: the response, or what went wrong.
async fn ask(
    socket: &UdpSocket,
    server: SocketAddr,
    tid: [u8; 12],
    bytes: &[u8],
) -> crate::Result<Vec<u8>> {
    let start = Instant::now();
    let mut buf = vec![0u8; 2048];
    while start.elapsed() < REQUEST_BOUND {
        socket
            .send_to(bytes, server)
            .await
            .map_err(|e| format!("send to {server}: {e}"))?;
        let until = Instant::now() + RETRANSMIT;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match tokio::time::timeout(left, socket.recv_from(&mut buf)).await {
                Ok(Ok((n, _))) => {
                    if Message::decode(&buf[..n]).is_ok_and(|m| m.tid == tid) {
                        return Ok(buf[..n].to_vec());
                    }
                }
                Ok(Err(e)) => return Err(format!("recv from {server}: {e}")),
                Err(_) => break,
            }
        }
    }
    Err(format!("no answer from the TURN server at {server}"))
}

/// Success, or the error code (0 if none).
fn outcome(bytes: &[u8]) -> Result<Message<'_>, u16> {
    let m = Message::decode(bytes).map_err(|_| 0u16)?;
    match m.class {
        Class::Success => Ok(m),
        _ => Err(m.error_code().unwrap_or(0)),
    }
}

fn tid(n: u32) -> [u8; 12] {
    let mut t = [0x6b; 12];
    t[8..].copy_from_slice(&n.to_be_bytes());
    t
}

impl TurnLeg {
    /// A fresh loopback socket that allocates a UDP relay on `server` with
    /// this credential.
    pub async fn allocate(
        server: SocketAddr,
        username: &str,
        password: &str,
    ) -> crate::Result<TurnLeg> {
        // A port the kernel hands out again may still name an allocation
        // the server has not forgotten (coturn answers 437): such sockets
        // are kept open until a fresh port is found.
        let mut stale = Vec::new();
        for _ in 0..ATTEMPTS {
            let socket = UdpSocket::bind("127.0.0.1:0")
                .await
                .map_err(|e| format!("bind: {e}"))?;
            let first = ask(&socket, server, tid(1), &client::allocate(tid(1), None)).await?;
            let challenge = Message::decode(&first).map_err(|e| format!("challenge: {e:?}"))?;
            if challenge.error_code() == Some(MISMATCH) {
                stale.push(socket);
                continue;
            }
            let auth = Auth::from_challenge(username, password, &challenge).ok_or_else(|| {
                format!(
                    "{server} answered the first allocate without a challenge (error {:?})",
                    challenge.error_code()
                )
            })?;
            let second = ask(
                &socket,
                server,
                tid(2),
                &client::allocate(tid(2), Some(&auth)),
            )
            .await?;
            let relayed = match outcome(&second) {
                Ok(m) => m
                    .xor_address(attr::XOR_RELAYED_ADDRESS)
                    .ok_or("an allocation without a relayed address")?,
                Err(code) => return Err(format!("allocate on {server}: error {code}")),
            };
            return Ok(TurnLeg {
                socket: Arc::new(socket),
                server,
                relayed,
                auth,
                next: 2,
            });
        }
        Err(format!(
            "{server}: {ATTEMPTS} fresh ports all still had an allocation (437)"
        ))
    }

    async fn request(
        &mut self,
        what: &str,
        make: impl Fn([u8; 12]) -> Vec<u8>,
    ) -> crate::Result<()> {
        self.next += 1;
        let t = tid(self.next);
        let answer = ask(&self.socket, self.server, t, &make(t)).await?;
        outcome(&answer)
            .map(|_| ())
            .map_err(|code| format!("{what} on {}: error {code}", self.server))
    }

    /// Binds `channel` to `peer` (which also permits its IP).
    pub async fn bind(&mut self, channel: u16, peer: SocketAddr) -> crate::Result<()> {
        let auth = self.auth.clone();
        self.request("ChannelBind", |t| {
            client::channel_bind(t, channel, peer, &auth)
        })
        .await
    }

    /// Permits `peer`'s IP (for Send and Data indications).
    pub async fn permit(&mut self, peer: SocketAddr) -> crate::Result<()> {
        let auth = self.auth.clone();
        self.request("CreatePermission", |t| {
            client::create_permission(t, peer, &auth)
        })
        .await
    }

    /// Deletes the allocation (Refresh with lifetime 0); best effort.
    pub async fn release(mut self) {
        let auth = self.auth.clone();
        let _ = self
            .request("Refresh", |t| client::refresh(t, 0, &auth))
            .await;
    }
}
