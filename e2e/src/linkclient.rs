//! A raw link client: a WebSocket to a server's `/ws` speaking the link
//! protocol by hand, to act as a hostile peer or as one of many idle peers.

use chordphone_link::{Handshake, PeerInfo, Role, Step};
use chordphone_overlay::{Identity, Message};
use futures_util::{SinkExt, StreamExt};
use std::io::Read;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A client WebSocket.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long one connect or handshake step may take.
const STEP_BOUND: Duration = Duration::from_secs(10);

/// `N` bytes from the operating system's random source.
pub fn random_bytes<const N: usize>() -> crate::Result<[u8; N]> {
    let mut out = [0u8; N];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut out))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    Ok(out)
}

/// A new node identity from a random seed.
pub fn fresh_identity() -> crate::Result<Identity> {
    Ok(Identity::from_seed(random_bytes()?))
}

/// Opens a WebSocket to `url`.
pub async fn connect(url: &str) -> crate::Result<Ws> {
    match tokio::time::timeout(STEP_BOUND, tokio_tungstenite::connect_async(url)).await {
        Ok(Ok((ws, _response))) => Ok(ws),
        Ok(Err(e)) => Err(format!("connect {url}: {e}")),
        Err(_) => Err(format!("connect {url}: no answer within {STEP_BOUND:?}")),
    }
}

/// Runs the identity handshake as a peer with `identity`; returns the
/// proven server.
pub async fn handshake(ws: &mut Ws, identity: &Identity) -> crate::Result<PeerInfo> {
    let mut hs = Handshake::new(identity, random_bytes()?, Role::Peer);
    ws.send(WsMessage::binary(hs.hello()))
        .await
        .map_err(|e| format!("send hello: {e}"))?;
    loop {
        let frame = match tokio::time::timeout(STEP_BOUND, ws.next()).await {
            Err(_) => return Err(format!("handshake: no frame within {STEP_BOUND:?}")),
            Ok(None) => return Err("handshake: connection ended".into()),
            Ok(Some(Err(e))) => return Err(format!("handshake: {e}")),
            Ok(Some(Ok(m))) => m,
        };
        match frame {
            WsMessage::Binary(bytes) => match hs.handle(&bytes) {
                Ok(Step::Send(reply)) => ws
                    .send(WsMessage::binary(reply))
                    .await
                    .map_err(|e| format!("send proof: {e}"))?,
                Ok(Step::Done(peer)) => return Ok(peer),
                Err(e) => return Err(format!("handshake: {e}")),
            },
            WsMessage::Close(frame) => {
                return Err(format!("closed during the handshake: {frame:?}"));
            }
            WsMessage::Text(t) => return Err(format!("handshake: text frame {t}")),
            _ => {}
        }
    }
}

/// A connected peer that has passed the handshake.
pub async fn connect_linked(url: &str) -> crate::Result<(Ws, PeerInfo)> {
    let mut ws = connect(url).await?;
    let peer = handshake(&mut ws, &fresh_identity()?).await?;
    Ok((ws, peer))
}

/// How the server ended a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Closed {
    /// The close code (1005 if the close frame had none).
    pub code: u16,
    /// The reason text.
    pub reason: String,
}

/// Reads (and drops) frames until the server's close frame, for at most
/// `bound`. A connection that ends without a close frame is an error.
pub async fn read_until_closed<S>(stream: &mut S, bound: Duration) -> crate::Result<Closed>
where
    S: futures_util::Stream<Item = Result<WsMessage, tokio_tungstenite::tungstenite::Error>>
        + Unpin,
{
    let start = Instant::now();
    loop {
        let left = bound.saturating_sub(start.elapsed());
        match tokio::time::timeout(left, stream.next()).await {
            Err(_) => return Err(format!("not closed within {bound:?}")),
            Ok(None) => return Err("connection ended without a close frame".into()),
            Ok(Some(Err(e))) => {
                return Err(format!("connection failed without a close frame: {e}"))
            }
            Ok(Some(Ok(WsMessage::Close(frame)))) => {
                return Ok(match frame {
                    Some(f) => Closed {
                        code: f.code.into(),
                        reason: f.reason.to_string(),
                    },
                    None => Closed {
                        code: 1005,
                        reason: String::new(),
                    },
                })
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// What a flood did: frames sent before the server closed, and the close.
#[derive(Debug)]
pub struct FloodOutcome {
    /// Frames written.
    pub sent: u64,
    /// How the server closed the connection.
    pub closed: crate::Result<Closed>,
}

/// Sends valid overlay frames (probes) at `per_second`, while reading what
/// comes back, until the server closes the connection, `max` frames were
/// sent, or `bound` elapsed.
///
/// Paced rather than as fast as the socket takes them: a server that closes
/// while unread frames sit in its receive buffer makes its kernel answer
/// with a reset, which can overtake the close frame it sent. One frame at a
/// time leaves nothing unread when the limit trips.
pub async fn flood(
    ws: Ws,
    per_second: u32,
    max: u64,
    bound: Duration,
) -> crate::Result<FloodOutcome> {
    let (mut sink, mut stream) = ws.split();
    // Reading goes on beside the writing, so the server's answers never
    // back up into a "slow reader" close instead of the one under test.
    let reader = tokio::spawn(async move { read_until_closed(&mut stream, bound).await });
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / per_second.max(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sent = 0u64;
    while sent < max && !reader.is_finished() && start.elapsed() < bound {
        tick.tick().await;
        let frame = Message::Probe {
            seq: u32::try_from(sent % u64::from(u32::MAX)).unwrap_or(0),
        }
        .encode()
        .map_err(|e| format!("encode probe: {e}"))?;
        if sink.send(WsMessage::binary(frame)).await.is_err() {
            break;
        }
        sent += 1;
    }
    let closed = match tokio::time::timeout(bound, reader).await {
        Ok(Ok(closed)) => closed,
        Ok(Err(e)) => Err(format!("reader task: {e}")),
        Err(_) => Err(format!("not closed within {bound:?} after the flood")),
    };
    Ok(FloodOutcome { sent, closed })
}
