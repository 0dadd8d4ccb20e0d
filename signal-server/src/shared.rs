//! What every task of one server shares: settings, counters and
//! the way into the node task.

use crate::inputs::NodeInput;
use crate::metrics::Metrics;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
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
}

impl Shared {
    /// Bundles the shared state.
    pub fn new(
        node_tx: mpsc::Sender<NodeInput>,
        public_url: String,
        config: &crate::Config,
    ) -> Shared {
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
