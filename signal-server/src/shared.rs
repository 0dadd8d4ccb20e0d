//! What every task of one server shares: settings, counters and
//! the way into the node task.

use crate::ice::Ice;
use crate::inputs::NodeInput;
use crate::metrics::Metrics;
use chordphone_relay::address::{scope, Scope};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::OnceLock;
use tokio::sync::{mpsc, watch};

/// Shared by the HTTP handlers, connection tasks, dialers and the node task.
#[derive(Debug)]
pub struct Shared {
    /// Inputs for the task that owns the overlay node.
    pub node_tx: mpsc::Sender<NodeInput>,
    /// Counters.
    pub metrics: Metrics,
    /// The URL others dial to reach this server.
    pub public_url: String,
    /// Messages per second per connection.
    pub rate: u32,
    /// Outgoing frames queued per connection.
    pub queue: usize,
    /// Most connections accepted at once.
    pub max_connections: usize,
    /// True once the server is shutting down.
    pub stop: watch::Sender<bool>,
    /// Outgoing dials in progress (bounded: remote nodes ask for them).
    pub dials: AtomicUsize,
    /// Tells this run of the server from earlier ones (its start time):
    /// tabs that see it change know the server restarted, even when it
    /// kept its node id, and link to it again so the rings merge.
    pub instance: String,
    /// What `/ice` hands out; set once the relay (if any) listens.
    pub ice: OnceLock<Ice>,
    /// Dial loopback and private addresses that peers name.
    pub dial_private: bool,
    /// The configured `join` URLs: always dialled.
    pub join: Vec<String>,
}

impl Shared {
    /// Bundles the shared state.
    pub fn new(
        node_tx: mpsc::Sender<NodeInput>,
        public_url: String,
        config: &crate::Config,
        local: SocketAddr,
    ) -> Shared {
        // A server on loopback or a private network is a local set-up whose
        // peers live there too; one on a public address must not be made to
        // reach into the network behind it.
        let dial_private = config
            .dial_private
            .unwrap_or(!local.ip().is_unspecified() && scope(local.ip()) != Scope::Public);
        Shared {
            node_tx,
            metrics: Metrics::default(),
            public_url,
            rate: config.rate,
            queue: config.queue,
            max_connections: config.max_connections,
            stop: watch::channel(false).0,
            dials: AtomicUsize::new(0),
            instance: format!("{:x}", crate::clock::now().as_micros()),
            ice: OnceLock::new(),
            dial_private,
            join: config.join.clone(),
        }
    }

    /// Whether shutdown has begun.
    pub fn stopping(&self) -> bool {
        *self.stop.borrow()
    }
}

/// Counts a connection as open for as long as it lives.
#[derive(Debug)]
pub struct ConnGuard<'a> {
    metrics: &'a Metrics,
    /// Open connections, this one included, when it was opened.
    pub open: u64,
}

impl<'a> ConnGuard<'a> {
    /// Counts one more open connection.
    pub fn new(metrics: &'a Metrics) -> ConnGuard<'a> {
        let open = metrics.connections.fetch_add(1, Relaxed) + 1;
        ConnGuard { metrics, open }
    }
}

impl Drop for ConnGuard<'_> {
    fn drop(&mut self) {
        self.metrics.connections.fetch_sub(1, Relaxed);
    }
}
