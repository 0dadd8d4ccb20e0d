//! Outgoing links: joining a ring through other servers, and dialling a
//! node that asked for it with an attach.

use crate::conn::{self, LinkKind};
use crate::shared::{ConnGuard, Shared};
use crate::socket;
use chordphone_overlay::NodeId;
use core::time::Duration;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;

/// How long opening a WebSocket may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// First wait before dialling an unreachable join URL again.
const BACKOFF_START: Duration = Duration::from_millis(500);
/// Longest wait between two dials of a join URL.
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// Most dials other nodes may have in progress at once: a hostile node
/// must not make the server open connections without bound.
pub const MAX_DIALS: usize = 32;

/// Why a dial failed.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// No WebSocket within the timeout.
    #[error("timed out")]
    Timeout,
    /// The WebSocket could not be opened.
    #[error("{0}")]
    Ws(#[from] tokio_tungstenite::tungstenite::Error),
}

async fn open(url: &str) -> Result<(socket::InStream, socket::OutSink), DialError> {
    // TCP_NODELAY: see `run`.
    let connect =
        tokio_tungstenite::connect_async_with_config(url, Some(socket::client_config()), true);
    let (ws, _response) = tokio::time::timeout(DIAL_TIMEOUT, connect)
        .await
        .map_err(|_| DialError::Timeout)??;
    Ok(socket::from_tungstenite(ws))
}

/// Dials `url` for a node that asked to be dialled, and keeps the link while
/// it lives if the handshake proves that node. False if over the dial budget.
pub fn spawn_for(shared: &Arc<Shared>, url: String, expected: NodeId) -> bool {
    if shared
        .dials
        .fetch_update(SeqCst, SeqCst, |n| (n < MAX_DIALS).then_some(n + 1))
        .is_err()
    {
        return false;
    }
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        let opened = open(&url).await;
        shared.dials.fetch_sub(1, Relaxed);
        match opened {
            Ok((rx, tx)) => {
                let _guard = ConnGuard::new(&shared.metrics);
                let kind = LinkKind {
                    expected: Some(expected),
                    bootstrap: false,
                };
                conn::run(&shared, rx, tx, kind).await;
            }
            Err(e) => tracing::debug!(%url, "dial for {} failed: {e}", expected.to_hex()),
        }
    });
    true
}

/// Dials a join URL until a link is up, and again whenever the link ends
/// while the node has not joined; stops at shutdown.
pub async fn join_loop(shared: Arc<Shared>, url: String) {
    let mut stop = shared.stop.subscribe();
    let mut backoff = BACKOFF_START;
    loop {
        if shared.stopping() || shared.metrics.joined.load(Relaxed) {
            return;
        }
        match open(&url).await {
            Ok((rx, tx)) => {
                tracing::info!(%url, "connected to join server");
                let _guard = ConnGuard::new(&shared.metrics);
                let kind = LinkKind {
                    expected: None,
                    bootstrap: true,
                };
                if conn::run(&shared, rx, tx, kind).await.is_some() {
                    backoff = BACKOFF_START;
                }
            }
            Err(e) => tracing::warn!(%url, retry_in = ?backoff, "join server unreachable: {e}"),
        }
        if shared.stopping() || shared.metrics.joined.load(Relaxed) {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}
