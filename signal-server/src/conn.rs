//! One WebSocket link: the identity handshake, then overlay frames both
//! ways between the socket and the node task, with the per-connection limits
//! (size, rate, queue) that keep one peer from hurting the others.

use crate::clock;
use crate::identity::random;
use crate::metrics::Drop;
use crate::node_task::NodeInput;
use crate::rate::Bucket;
use crate::shared::{ConnGuard, Shared};
use crate::socket::{In, InStream, Out, OutSink};
use axum::body::Bytes;
use chordphone_link::{
    classify, CloseCode, FrameKind, Handshake, HandshakeError, LinkError, PeerInfo, Role, Step,
};
use chordphone_overlay::NodeId;
use core::time::Duration;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};

/// How long the identity handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a close frame may take to go out before the socket is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// What kind of link this is, for the node task.
#[derive(Clone, Copy, Debug)]
pub struct LinkKind {
    /// The node the link must reach, if it was dialled for one.
    pub expected: Option<NodeId>,
    /// Dialled to join a ring through this peer.
    pub bootstrap: bool,
}

impl LinkKind {
    /// A connection accepted at `/ws`.
    pub const ACCEPTED: LinkKind = LinkKind {
        expected: None,
        bootstrap: false,
    };
}

/// Runs a connection accepted at `/ws` until it closes.
pub async fn accepted(shared: std::sync::Arc<Shared>, (rx, mut tx): (InStream, OutSink)) {
    let guard = ConnGuard::new(&shared.metrics);
    let over = usize::try_from(guard.open).unwrap_or(usize::MAX) > shared.max_connections;
    if over || shared.stopping() {
        let code = if over {
            CloseCode::Full
        } else {
            CloseCode::Normal
        };
        close(&shared, &mut tx, code).await;
        return;
    }
    run(&shared, rx, tx, LinkKind::ACCEPTED).await;
}

/// Runs a link until it closes. Returns the peer if the handshake finished.
pub async fn run(
    shared: &Shared,
    mut rx: InStream,
    mut tx: OutSink,
    kind: LinkKind,
) -> Option<NodeId> {
    let mut bucket = Bucket::new(shared.rate, clock::now());
    let peer = match handshake(shared, &mut rx, &mut tx, &mut bucket).await {
        Ok(peer) => peer,
        Err(End::Close(code)) => {
            if matches!(code, CloseCode::Handshake | CloseCode::Malformed) {
                shared
                    .metrics
                    .handshakes_failed
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            close(shared, &mut tx, code).await;
            return None;
        }
        Err(End::Gone) => {
            shared.metrics.closed_by_peer();
            return None;
        }
    };
    if kind.expected.is_some_and(|id| id != peer.id) {
        // Dialled for one node, reached another: not the link that was asked for.
        tracing::debug!(expected = %fmt_id(kind.expected), got = %peer.id.to_hex(), "dialled link reached another node");
        shared
            .metrics
            .handshakes_failed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        close(shared, &mut tx, CloseCode::Handshake).await;
        return None;
    }
    let conn = shared.next_conn_id();
    let (out_tx, out_rx) = mpsc::channel(shared.queue);
    let (close_tx, close_rx) = oneshot::channel();
    let up = NodeInput::Up {
        conn,
        peer,
        out: out_tx,
        close: close_tx,
        dialled: kind.expected.is_some() || kind.bootstrap,
        bootstrap: kind.bootstrap,
    };
    if shared.node_tx.send(up).await.is_err() {
        close(shared, &mut tx, CloseCode::Normal).await;
        return Some(peer.id);
    }
    tracing::debug!(peer = %peer.id.to_hex(), role = ?peer.role, conn, "link up");
    let end = relay(
        shared,
        conn,
        peer.id,
        &mut rx,
        &mut tx,
        out_rx,
        close_rx,
        &mut bucket,
    )
    .await;
    match end {
        End::Close(code) => close(shared, &mut tx, code).await,
        End::Gone => shared.metrics.closed_by_peer(),
    }
    // The node task must hear of every link it was told is up.
    let _ = shared
        .node_tx
        .send(NodeInput::Closed {
            conn,
            peer: peer.id,
        })
        .await;
    tracing::debug!(peer = %peer.id.to_hex(), conn, "link closed");
    Some(peer.id)
}

/// How a link ends.
enum End {
    /// This side closes with this code.
    Close(CloseCode),
    /// The other side closed or the connection failed.
    Gone,
}

async fn handshake(
    shared: &Shared,
    rx: &mut InStream,
    tx: &mut OutSink,
    bucket: &mut Bucket,
) -> Result<PeerInfo, End> {
    let nonce = random().map_err(|e| {
        tracing::error!("{e}");
        End::Close(CloseCode::Handshake)
    })?;
    let mut hs = Handshake::new(&shared.identity, nonce, Role::Server);
    let steps = async {
        tx.send(Out::Frame(hs.hello().into()))
            .await
            .map_err(|()| End::Gone)?;
        loop {
            let input = rx.next().await;
            // Pings count too: the library answers each with a pong.
            if matches!(input, Some(In::Frame(_) | In::Nothing)) && !bucket.take(clock::now()) {
                shared.metrics.dropped(Drop::RateLimited);
                return Err(End::Close(CloseCode::RateLimited));
            }
            let bytes = match input {
                Some(In::Frame(b)) => b,
                Some(In::Nothing) => continue,
                Some(In::Text) => return Err(End::Close(CloseCode::Handshake)),
                Some(In::TooLarge) => return Err(End::Close(CloseCode::TooLarge)),
                Some(In::Closed) | None => return Err(End::Gone),
            };
            match hs.handle(&bytes) {
                Ok(Step::Send(frame)) => tx
                    .send(Out::Frame(frame.into()))
                    .await
                    .map_err(|()| End::Gone)?,
                Ok(Step::Done(peer)) => return Ok(peer),
                Err(HandshakeError::Frame(LinkError::TooLarge)) => {
                    return Err(End::Close(CloseCode::TooLarge))
                }
                // Bytes that are no frame at all are malformed, whatever
                // the phase; a well-formed frame that fails the handshake
                // is a handshake failure.
                Err(HandshakeError::Frame(e)) => {
                    tracing::debug!("malformed frame during the handshake: {e}");
                    return Err(End::Close(CloseCode::Malformed));
                }
                Err(e) => {
                    tracing::debug!("handshake failed: {e}");
                    return Err(End::Close(CloseCode::Handshake));
                }
            }
        }
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, steps)
        .await
        .unwrap_or(Err(End::Close(CloseCode::Handshake)))
}

/// Moves frames until the link ends: from the socket to the node task, and
/// from the node task's queue to the socket.
#[allow(clippy::too_many_arguments)]
async fn relay(
    shared: &Shared,
    conn: u64,
    peer: NodeId,
    rx: &mut InStream,
    tx: &mut OutSink,
    mut out_rx: mpsc::Receiver<Out>,
    close_rx: oneshot::Receiver<CloseCode>,
    bucket: &mut Bucket,
) -> End {
    // The node task closes a connection ahead of its queue by sending a
    // code. If it just forgets the connection (the sender is dropped), the
    // queue still goes out, up to a queued close or the queue's end.
    let close_now = async move {
        match close_rx.await {
            Ok(code) => code,
            Err(_) => std::future::pending().await,
        }
    };
    tokio::pin!(close_now);
    loop {
        tokio::select! {
            // A close from the node task wins over anything still queued:
            // it means the queue overflowed, the peer was replaced or sent
            // something the overlay could not decode.
            biased;
            code = &mut close_now => return End::Close(code),
            out = out_rx.recv() => match out {
                Some(Out::Frame(b)) => {
                    // A peer that does not read stalls this send; the close
                    // signal must still get through.
                    tokio::select! {
                        biased;
                        code = &mut close_now => return End::Close(code),
                        sent = tx.send(Out::Frame(b)) => if sent.is_err() { return End::Gone },
                    }
                }
                Some(Out::Close(code)) => return End::Close(code),
                None => return End::Close(CloseCode::Normal),
            },
            input = rx.next() => {
                if matches!(input, Some(In::Frame(_) | In::Nothing)) && !bucket.take(clock::now()) {
                    shared.metrics.dropped(Drop::RateLimited);
                    return End::Close(CloseCode::RateLimited);
                }
                let bytes = match input {
                    Some(In::Frame(b)) => b,
                    Some(In::Nothing) => continue,
                    Some(In::Text) => return End::Close(CloseCode::Malformed),
                    Some(In::TooLarge) => return End::Close(CloseCode::TooLarge),
                    Some(In::Closed) | None => return End::Gone,
                };
                if let Err(code) = check_overlay(&bytes) {
                    shared.metrics.dropped(Drop::Malformed);
                    return End::Close(code);
                }
                let frame = NodeInput::Frame { conn, peer, bytes };
                if shared.node_tx.send(frame).await.is_err() {
                    return End::Close(CloseCode::Normal);
                }
            }
        }
    }
}

/// After the handshake only overlay frames belong on a link.
fn check_overlay(bytes: &Bytes) -> Result<(), CloseCode> {
    match classify(bytes) {
        Ok(FrameKind::Overlay(_)) => Ok(()),
        Ok(FrameKind::Control(_)) => Err(CloseCode::Malformed),
        Err(LinkError::TooLarge) => Err(CloseCode::TooLarge),
        Err(_) => Err(CloseCode::Malformed),
    }
}

/// Sends a close frame with the code and its reason, counted, bounded in time.
async fn close(shared: &Shared, tx: &mut OutSink, code: CloseCode) {
    shared.metrics.closed(code);
    // Debug, not info: hostile clients must not be able to flood the log;
    // the metrics count every close by reason.
    if code != CloseCode::Normal {
        tracing::debug!(
            code = code.code(),
            reason = code.reason(),
            "closing connection"
        );
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, tx.send(Out::Close(code))).await;
}

fn fmt_id(id: Option<NodeId>) -> String {
    id.map_or_else(|| "-".to_owned(), |id| id.to_hex())
}
