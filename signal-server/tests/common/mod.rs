//! Test helpers: a real server on port 0, a small native overlay peer, raw
//! WebSocket clients for abuse, and condition polling.
//!
//! The native peer speaks what a browser tab speaks to the server (identity
//! handshake with `Role::Peer`, attach signalling), but takes links over
//! WebSocket only: it listens on a port of its own, answers `Dial` attaches
//! by dialling, and asks others to dial it.

#![allow(dead_code, clippy::unwrap_used, clippy::disallowed_methods)]

pub mod peer;
pub mod raw;
pub mod turn;

use core::time::Duration;
use signal_server::Config;
use std::future::Future;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Longest any condition is waited for.
pub const WAIT: Duration = Duration::from_secs(30);

/// The wall clock, as the overlay counts time (the tests play a shell).
pub fn now() -> chordphone_overlay::Time {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    chordphone_overlay::Time(d.as_micros() as u64)
}

/// The wall clock in Unix seconds (what TURN credentials count in).
pub fn unix_secs() -> u64 {
    now().0 / 1_000_000
}

/// Fresh random bytes.
pub fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).unwrap();
    b
}

/// Polls `check` every 50 ms until it returns `Some`, for up to [`WAIT`].
pub async fn wait_for<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    try_wait_for(check)
        .await
        .unwrap_or_else(|| panic!("timed out waiting for {what}"))
}

/// Like [`wait_for`], but `None` after [`WAIT`] so the caller can say why.
pub async fn try_wait_for<T, F, Fut>(mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Tests that run whole rings take this, one at a time: rings of several
/// nodes in parallel on a small shared machine starve each other's timers.
pub static RING_TESTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A server running in this process.
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), signal_server::ServerError>>>,
}

impl Server {
    /// Starts a server with `config` on 127.0.0.1, port 0.
    pub async fn start(config: Config) -> Server {
        // Logs when RUST_LOG asks for them (shown for failing tests).
        if let Ok(filter) = std::env::var("RUST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(signal_server::run(listener, config, async {
            let _ = stopped.await;
        }));
        let server = Server {
            addr,
            stop: Some(stop),
            task: Some(task),
        };
        // Up once it answers HTTP.
        wait_for("server to answer", || async {
            server
                .get("/healthz")
                .await
                .ok()
                .filter(|(code, _)| *code == 200)
        })
        .await;
        server
    }

    /// A server run by someone else (the binary), for its HTTP helpers.
    pub fn external(addr: SocketAddr) -> Server {
        Server {
            addr,
            stop: None,
            task: None,
        }
    }

    /// Its WebSocket link endpoint.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// A GET over plain HTTP/1.0: (status code, body).
    pub async fn get(&self, path: &str) -> std::io::Result<(u16, String)> {
        let mut s = tokio::net::TcpStream::connect(self.addr).await?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").as_bytes())
            .await?;
        let mut buf = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
            .await
            .map_err(|_| std::io::Error::other("http timeout"))??;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let code = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Ok((code, body))
    }

    /// `/status` as JSON.
    pub async fn status(&self) -> serde_json::Value {
        let (code, body) = self.get("/status").await.unwrap();
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// The value of one metric line (exact name with labels).
    pub async fn metric(&self, name: &str) -> u64 {
        let (_, body) = self.get("/metrics").await.unwrap();
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("metric {name} missing"))
    }

    /// Its node id from `/status`.
    pub async fn id(&self) -> chordphone_overlay::NodeId {
        let s = self.status().await;
        chordphone_overlay::Id::from_hex(s["id"].as_str().unwrap()).unwrap()
    }

    /// Graceful shutdown; waits until `run` returns.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(WAIT, task)
                .await
                .expect("server stops in time")
                .unwrap()
                .unwrap();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
