//! Many idle link peers held open against one server: each completes the
//! identity handshake with a fresh identity, then only reads (so pings are
//! answered) until told to stop. Bounded in count and time.

use crate::linkclient;
use futures_util::StreamExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// At most this many errors are kept for the report.
const KEEP_ERRORS: usize = 5;

/// Idle peers held by this process.
#[derive(Debug)]
pub struct IdlePeers {
    held: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
    errors: Arc<Mutex<Vec<String>>>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl IdlePeers {
    /// Opens `count` peers to `url`, at most `concurrency` handshakes at a
    /// time, and returns once every one is up or failed, or `bound` elapsed.
    pub async fn open(url: &str, count: usize, concurrency: usize, bound: Duration) -> IdlePeers {
        let (stop, _) = watch::channel(false);
        let mut peers = IdlePeers {
            held: Arc::default(),
            failed: Arc::default(),
            dropped: Arc::default(),
            errors: Arc::default(),
            stop,
            tasks: JoinSet::new(),
        };
        let gate = Arc::new(Semaphore::new(concurrency.max(1)));
        for _ in 0..count {
            let (url, gate) = (url.to_string(), gate.clone());
            let (held, failed, dropped) = (
                peers.held.clone(),
                peers.failed.clone(),
                peers.dropped.clone(),
            );
            let errors = peers.errors.clone();
            let mut stop = peers.stop.subscribe();
            peers.tasks.spawn(async move {
                let permit = gate.acquire_owned().await;
                let note = |e: String| {
                    if let Ok(mut errors) = errors.lock() {
                        if errors.len() < KEEP_ERRORS {
                            errors.push(e);
                        }
                    }
                };
                let mut ws = match linkclient::connect_linked(&url).await {
                    Ok((ws, _peer)) => ws,
                    Err(e) => {
                        failed.fetch_add(1, Ordering::SeqCst);
                        note(e);
                        return;
                    }
                };
                drop(permit);
                held.fetch_add(1, Ordering::SeqCst);
                loop {
                    tokio::select! {
                        _ = stop.changed() => break,
                        frame = ws.next() => match frame {
                            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(f))) => {
                                dropped.fetch_add(1, Ordering::SeqCst);
                                note(format!("closed by the server: {f:?}"));
                                break;
                            }
                            Some(Ok(_)) => {}
                            Some(Err(e)) => {
                                dropped.fetch_add(1, Ordering::SeqCst);
                                note(format!("connection failed: {e}"));
                                break;
                            }
                            None => {
                                dropped.fetch_add(1, Ordering::SeqCst);
                                break;
                            }
                        }
                    }
                }
                held.fetch_sub(1, Ordering::SeqCst);
                let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
            });
        }
        let start = Instant::now();
        while start.elapsed() < bound {
            let done = peers.held() + peers.failed() + peers.dropped();
            if done >= count {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        peers
    }

    /// Peers connected now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }

    /// Peers that never got through the handshake.
    pub fn failed(&self) -> usize {
        self.failed.load(Ordering::SeqCst)
    }

    /// Peers the server disconnected after the handshake.
    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }

    /// The first few errors seen.
    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Closes every peer and waits for them (bounded).
    pub async fn close(mut self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(30), async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        self.tasks.abort_all();
    }
}
