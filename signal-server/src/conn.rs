//! One WebSocket connection: its task moves frames between the socket and
//! the node task, and enforces the per-connection limits that need no
//! protocol knowledge (rate, frame size, text frames). Everything a frame
//! means, the identity handshake included, is the session's business in the
//! node task.

use crate::clock;
use crate::inputs::{Handle, NodeInput};
use crate::metrics::Drop;
use crate::outbox::{Next, Receiver};
use crate::rate::Bucket;
use crate::shared::{ConnGuard, Shared};
use crate::socket::{In, InStream, Out, OutSink};
use axum::body::Bytes;
use chordphone_link::CloseCode;
use chordphone_session::LinkId;
use core::time::Duration;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::oneshot;

/// How long a close frame may take to go out.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// A connection accepted at `/ws`.
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
    let (handle, out_rx) = Handle::new(shared.queue);
    let (reply, link) = oneshot::channel();
    let input = NodeInput::Accepted { handle, reply };
    if shared.node_tx.send(input).await.is_err() {
        close(&shared, &mut tx, CloseCode::Normal).await;
        return;
    }
    let Ok(link) = link.await else {
        close(&shared, &mut tx, CloseCode::Normal).await;
        return;
    };
    run(&shared, link, rx, tx, out_rx).await;
}

/// Moves frames until either side ends the connection, then tells the
/// node task.
pub async fn run(
    shared: &Shared,
    link: LinkId,
    mut rx: InStream,
    mut tx: OutSink,
    out_rx: Receiver,
) {
    let mut bucket = Bucket::new(shared.rate, clock::now());
    let end = relay(shared, link, &mut rx, &mut tx, &out_rx, &mut bucket).await;
    let why = match end {
        End::Close(code) => {
            Box::pin(close(shared, &mut tx, code)).await;
            code.reason()
        }
        End::Gone => {
            shared.metrics.closed_by_peer();
            "closed by the peer"
        }
    };
    let _ = Box::pin(shared.node_tx.send(NodeInput::Closed { link, why })).await;
    tracing::debug!(%link, why, "connection closed");
}

/// How a connection ended.
enum End {
    /// We close it with this code.
    Close(CloseCode),
    /// The peer closed it or it failed.
    Gone,
}

/// Reads frames into the node task and writes what it queues, until either
/// side ends the connection.
async fn relay(
    shared: &Shared,
    link: LinkId,
    rx: &mut InStream,
    tx: &mut OutSink,
    out_rx: &Receiver,
    bucket: &mut Bucket,
) -> End {
    loop {
        tokio::select! {
            biased;
            // A close asked for (or the node task forgetting the link:
            // `Normal`) comes first, ahead of queued frames.
            next = out_rx.next() => match next {
                // Boxed, as is the rarely taken wait below: the state of this
                // loop lives as long as the connection, in every idle one.
                Next::Out(Out::Frame(b)) => if let Some(end) = Box::pin(send(tx, out_rx, b)).await {
                    return end;
                },
                Next::Out(Out::Close(code)) | Next::Close(code) => return End::Close(code),
            },
            input = rx.next() => {
                // Pings count too: answering them costs the server work.
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
                let input = NodeInput::Frame { link, bytes };
                let sent = match shared.node_tx.try_send(input) {
                    Ok(()) => Ok(()),
                    // The node task is behind: wait for room.
                    Err(TrySendError::Full(input)) => Box::pin(shared.node_tx.send(input)).await.map_err(|_| ()),
                    Err(TrySendError::Closed(_)) => Err(()),
                };
                if sent.is_err() {
                    return End::Close(CloseCode::Normal);
                }
            }
        }
    }
}

/// Writes one frame, unless a close is asked for first.
async fn send(tx: &mut OutSink, out_rx: &Receiver, b: Bytes) -> Option<End> {
    tokio::select! {
        biased;
        code = out_rx.closed() => Some(End::Close(code)),
        sent = tx.send(Out::Frame(b)) => sent.is_err().then_some(End::Gone),
    }
}

/// Sends a close frame (bounded in time) and counts it.
async fn close(shared: &Shared, tx: &mut OutSink, code: CloseCode) {
    shared.metrics.closed(code);
    if code != CloseCode::Normal {
        tracing::debug!(
            code = code.code(),
            reason = code.reason(),
            "closing connection"
        );
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, tx.send(Out::Close(code))).await;
}
