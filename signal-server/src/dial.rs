//! Outgoing WebSockets: the session asks for them (to join a ring through
//! another server, or to reach a node that asked to be dialled) and this
//! opens them, then hands the connection to `conn::run`.

use crate::conn;
use crate::inputs::{Handle, NodeInput};
use crate::shared::{ConnGuard, Shared};
use crate::socket;
use chordphone_relay::address::{scope, Scope};
use chordphone_session::LinkId;
use core::time::Duration;
use std::net::SocketAddr;
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
    /// The URL names a target this server does not dial for others.
    #[error("refused: {0}")]
    Refused(&'static str),
    /// The host did not resolve.
    #[error("cannot resolve: {0}")]
    Resolve(std::io::Error),
    /// The TCP connection failed.
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
}

/// The host and port of a `ws://` URL; `None` for anything else.
fn ws_target(url: &str) -> Option<(String, u16)> {
    let rest = url.strip_prefix("ws://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    // `[v6]:port`, `[v6]`, `host:port`, `host`.
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => 80,
    };
    (!host.is_empty()).then(|| (host.to_owned(), port))
}

/// Where the server may connect for `url`: a configured join URL as it is;
/// any other only as `ws://` to addresses outside loopback and private
/// ranges, unless those are allowed. Resolved here, and connected to the
/// address checked, so that a name cannot resolve differently later.
async fn target(shared: &Shared, url: &str) -> Result<Option<SocketAddr>, DialError> {
    if shared.join.iter().any(|j| j == url) {
        return Ok(None);
    }
    let (host, port) = ws_target(url).ok_or(DialError::Refused("only ws:// URLs"))?;
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(DialError::Resolve)?
        .collect();
    let allowed = |a: &SocketAddr| shared.dial_private || scope(a.ip()) == Scope::Public;
    match resolved.first() {
        None => Err(DialError::Refused("no address")),
        // Every address must pass: a name that also resolves inside is
        // refused rather than tried.
        Some(a) if resolved.iter().all(allowed) => Ok(Some(*a)),
        Some(_) => Err(DialError::Refused("a loopback or private address")),
    }
}

async fn open(
    shared: &Shared,
    url: &str,
) -> Result<(socket::InStream, socket::OutSink), DialError> {
    let config = Some(socket::client_config());
    let connect = async {
        match target(shared, url).await? {
            None => {
                let (ws, _) =
                    tokio_tungstenite::connect_async_with_config(url, config, true).await?;
                Ok(socket::from_tungstenite(ws))
            }
            Some(addr) => {
                let tcp = tokio::net::TcpStream::connect(addr)
                    .await
                    .map_err(DialError::Connect)?;
                let _ = tcp.set_nodelay(true);
                let (ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, config).await?;
                Ok(socket::from_tungstenite(ws))
            }
        }
    };
    tokio::time::timeout(DIAL_TIMEOUT, connect)
        .await
        .map_err(|_| DialError::Timeout)?
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
        let opened = open(&shared, &url).await;
        shared.dials.fetch_sub(1, Relaxed);
        if let Err(DialError::Refused(_)) = &opened {
            shared.metrics.dials_refused.fetch_add(1, Relaxed);
        }
        match opened {
            Ok((rx, tx)) => {
                let _guard = ConnGuard::new(&shared.metrics);
                let (handle, out_rx) = Handle::new(shared.queue);
                let input = NodeInput::Opened { link, handle };
                if shared.node_tx.send(input).await.is_ok() {
                    conn::run(&shared, link, rx, tx, out_rx).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_targets() {
        let t = |u: &str| ws_target(u);
        assert_eq!(
            t("ws://127.0.0.1:8080/ws"),
            Some(("127.0.0.1".into(), 8080))
        );
        assert_eq!(t("ws://[::1]:9/ws"), Some(("::1".into(), 9)));
        assert_eq!(t("ws://example.org/ws"), Some(("example.org".into(), 80)));
        assert_eq!(t("ws://user@10.0.0.1/ws"), None);
        assert_eq!(t("wss://example.org/ws"), None);
        assert_eq!(t("http://example.org/"), None);
        assert_eq!(t("ws://:80/"), None);
        assert_eq!(t("ws://h:99999/"), None);
    }
}
