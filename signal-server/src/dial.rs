//! Outgoing WebSockets: the session asks for them (to join a ring through
//! another server, or to reach a node that asked to be dialled) and this
//! opens them, then hands the connection to `conn::run`.

use crate::conn;
use crate::inputs::{Handle, NodeInput};
use crate::shared::{ConnGuard, Shared};
use crate::socket;
use chordphone_session::LinkId;
use core::time::Duration;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;

/// How long opening a WebSocket may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Most dials in progress at once: a hostile node must not make the server
/// open connections without bound.
pub const MAX_DIALS: usize = 32;

/// Why a dial failed.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// No WebSocket within the timeout.
    #[error("timed out")]
    Timeout,
    /// Too many dials in progress.
    #[error("too many dials in progress")]
    Busy,
    /// The WebSocket could not be opened.
    #[error("{0}")]
    Ws(#[from] tokio_tungstenite::tungstenite::Error),
}

async fn open(url: &str) -> Result<(socket::InStream, socket::OutSink), DialError> {
    let connect =
        tokio_tungstenite::connect_async_with_config(url, Some(socket::client_config()), true);
    let (ws, _response) = tokio::time::timeout(DIAL_TIMEOUT, connect)
        .await
        .map_err(|_| DialError::Timeout)??;
    Ok(socket::from_tungstenite(ws))
}

/// Dials `url` for `link` in a task of its own; the node task hears
/// `Opened` or `DialFailed`. Refused at once when too many dials are in
/// progress.
pub fn spawn(shared: &Arc<Shared>, link: LinkId, url: String) -> Result<(), DialError> {
    if shared
        .dials
        .fetch_update(SeqCst, SeqCst, |n| (n < MAX_DIALS).then_some(n + 1))
        .is_err()
    {
        return Err(DialError::Busy);
    }
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        let opened = open(&url).await;
        shared.dials.fetch_sub(1, Relaxed);
        match opened {
            Ok((rx, tx)) => {
                let _guard = ConnGuard::new(&shared.metrics);
                let (handle, out_rx, close_rx) = Handle::new(shared.queue);
                let input = NodeInput::Opened { link, handle };
                if shared.node_tx.send(input).await.is_ok() {
                    conn::run(&shared, link, rx, tx, out_rx, close_rx).await;
                }
            }
            Err(e) => {
                tracing::debug!(%url, %link, "dial failed: {e}");
                let why = e.to_string();
                let _ = shared
                    .node_tx
                    .send(NodeInput::DialFailed { link, why })
                    .await;
            }
        }
    });
    Ok(())
}
