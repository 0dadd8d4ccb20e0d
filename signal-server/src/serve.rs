//! The HTTP accept loop: hyper's HTTP/1 connections with the bounds
//! `axum::serve` leaves open. A request head must arrive whole within the
//! header timeout, counted from when the connection starts waiting for it,
//! so a slow or endless head and an idle keep-alive connection are both
//! closed; a head over the size cap is refused (431). Each request carries
//! the client's address (`ConnectInfo`) for `/ice`.

use axum::extract::ConnectInfo;
use axum::Router;
use core::time::Duration;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt as _;

/// The bounds on one HTTP connection.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Time for a whole request head.
    pub header_timeout: Duration,
    /// Largest request head (hyper's read buffer; at least 8,192).
    pub max_header_bytes: usize,
}

/// Serves `app` on `listener` until `stop` resolves, then finishes the
/// connections open (gracefully: requests in flight end first) and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    stop: impl Future<Output = ()>,
) {
    // Every connection task holds a receiver; when all are gone, so are
    // the connections.
    let (closing_tx, closing_rx) = watch::channel(false);
    tokio::pin!(stop);
    loop {
        let (tcp, remote) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of descriptors and the like: wait a moment, go on.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Links carry small frames that each want to go out at once;
        // without TCP_NODELAY, Nagle's algorithm holds them back behind
        // delayed acks and the overlay's per-hop timers fire on a healthy
        // peer.
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let mut closing = closing_rx.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(remote));
                app.clone().oneshot(req.map(axum::body::Body::new))
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .max_buf_size(limits.max_header_bytes)
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades();
            tokio::pin!(conn);
            let stopping = async { closing.wait_for(|c| *c).await.is_ok() };
            let graceful = tokio::select! {
                _ = conn.as_mut() => false,
                s = stopping => s,
            };
            if graceful {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        });
    }
    drop(closing_rx);
    let _ = closing_tx.send(true);
    closing_tx.closed().await;
}

/// The remote address of a request served by [`serve`].
pub type Remote = ConnectInfo<SocketAddr>;
