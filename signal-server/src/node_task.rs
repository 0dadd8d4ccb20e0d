//! The task that owns the overlay node.
//!
//! Everything that touches the node happens here, one input at a time:
//! frames and link changes from connection tasks, timeouts, snapshots for
//! HTTP. After every input it drains the node's transmits and events until
//! both are empty. It never waits on a connection: frames go out with
//! `try_send`, and a peer whose queue is full is closed as a slow reader.

use crate::clock;
use crate::dial;
use crate::identity::random;
use crate::metrics::{Drop, LinkRequest, NodeGauges};
use crate::peers::{Conn, Peers};
use crate::shared::Shared;
use crate::socket::Out;
use axum::body::Bytes;
use chordphone_link::{CloseCode, PeerInfo, Refusal, Role, Signal};
use chordphone_overlay::{
    Answer, AttachToken, Event, LinkChange, Node, NodeId, Output, Phase, QueryId, Status, Time,
    Transmit,
};
use core::time::Duration;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// How long a peer asked to dial us may take before the link counts as down.
pub const CONNECT_WAIT: Duration = Duration::from_secs(10);
/// First wait before joining again after a failed join.
const JOIN_BACKOFF_START: Duration = Duration::from_millis(500);
/// Longest wait between two join attempts.
const JOIN_BACKOFF_MAX: Duration = Duration::from_secs(10);
/// How long shutdown waits for the last frames to go out.
const FLUSH_TIME: Duration = Duration::from_secs(1);
/// How often shutdown looks whether every connection has closed.
const POLL_CLOSED: Duration = Duration::from_millis(20);
/// Longest sleep between two looks at the clock: the node's timers are in
/// wall-clock time, which may step, so the task never sleeps long on a
/// deadline computed before a step.
const MAX_SLEEP: Duration = Duration::from_secs(1);

/// What other tasks tell the node task.
#[derive(Debug)]
pub enum NodeInput {
    /// A connection finished its handshake.
    Up {
        /// The connection's number.
        conn: u64,
        /// The proven peer.
        peer: PeerInfo,
        /// Its outgoing queue.
        out: mpsc::Sender<Out>,
        /// Closes it at once, ahead of its queue.
        close: oneshot::Sender<CloseCode>,
        /// This server opened it.
        dialled: bool,
        /// Dialled to join a ring through it.
        bootstrap: bool,
    },
    /// An overlay frame from a connection.
    Frame {
        /// The connection's number.
        conn: u64,
        /// Its peer.
        peer: NodeId,
        /// The frame.
        bytes: Bytes,
    },
    /// A connection that was up has closed.
    Closed {
        /// The connection's number.
        conn: u64,
        /// Its peer.
        peer: NodeId,
    },
    /// A view of the node for `/status` and `/metrics`.
    Snapshot(oneshot::Sender<Snapshot>),
}

/// The node's state as HTTP shows it.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Ring view and links.
    pub status: Status,
    /// Handshaken connections and what their peers are.
    pub peers: Vec<(NodeId, Role)>,
    /// Gauges for `/metrics`.
    pub gauges: NodeGauges,
}

/// The node and the shell state around it.
#[derive(Debug)]
pub struct NodeTask {
    node: Node,
    shared: Arc<Shared>,
    conns: Peers,
    /// Attach queries asking a peer to dial us, by query.
    connect_queries: BTreeMap<QueryId, NodeId>,
    /// Peers we wait for to dial us, and until when.
    connect_waits: BTreeMap<NodeId, Time>,
    /// Joins a ring through `--join` servers instead of creating one.
    join_mode: bool,
    join_retry: Option<Time>,
    join_backoff: Duration,
    /// At shutdown: connections the node closed while leaving.
    closing: Vec<Conn>,
}

impl NodeTask {
    /// Wraps a node that has not yet created or joined a ring.
    pub fn new(node: Node, shared: Arc<Shared>, join_mode: bool) -> NodeTask {
        NodeTask {
            node,
            shared,
            conns: Peers::default(),
            connect_queries: BTreeMap::new(),
            connect_waits: BTreeMap::new(),
            join_mode,
            join_retry: None,
            join_backoff: JOIN_BACKOFF_START,
            closing: Vec::new(),
        }
    }

    /// Runs until `shutdown` resolves, then leaves the ring and closes every
    /// connection.
    pub async fn run(
        mut self,
        mut inputs: mpsc::Receiver<NodeInput>,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        tokio::pin!(shutdown);
        let now = clock::now();
        if !self.join_mode {
            self.node.create(now);
        }
        self.drain(now);
        tracing::info!(id = %self.node.id().to_hex(), url = %self.shared.public_url, "node started");
        loop {
            let sleep = self
                .next_wake()
                .map_or(MAX_SLEEP, |t| t.saturating_since(clock::now()))
                .min(MAX_SLEEP);
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                input = inputs.recv() => match input {
                    Some(input) => self.input(input, clock::now()),
                    None => break,
                },
                () = tokio::time::sleep(sleep) => {}
            }
            let now = clock::now();
            self.timers(now);
            self.drain(now);
        }
        self.shutdown(inputs).await;
    }

    fn next_wake(&self) -> Option<Time> {
        [
            self.node.poll_timeout(),
            self.connect_waits.values().min().copied(),
            self.join_retry,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn input(&mut self, input: NodeInput, now: Time) {
        match input {
            NodeInput::Up {
                conn,
                peer,
                out,
                close,
                dialled,
                bootstrap,
            } => {
                let conn = Conn {
                    id: conn,
                    role: peer.role,
                    dialled,
                    bootstrap,
                    out,
                    close: Some(close),
                };
                self.link_up(peer.id, conn, now);
            }
            NodeInput::Frame { conn, peer, bytes } => {
                if !self.conns.has_conn(&peer, conn) {
                    // From a connection already closed or replaced.
                    return;
                }
                self.shared.metrics.messages_in.fetch_add(1, Relaxed);
                if self.node.handle_bytes(peer, &bytes, now).is_err() {
                    self.shared.metrics.dropped(Drop::Malformed);
                    if let Some(mut c) = self.conns.remove_conn(&peer, conn) {
                        c.close_now(CloseCode::Malformed);
                    }
                    if !self.conns.contains(&peer) {
                        self.node.handle_link(peer, LinkChange::Down, now);
                    }
                }
            }
            NodeInput::Closed { conn, peer } => {
                if self.conns.remove_conn(&peer, conn).is_some() && !self.conns.contains(&peer) {
                    self.node.handle_link(peer, LinkChange::Down, now);
                }
            }
            NodeInput::Snapshot(reply) => {
                let _ = reply.send(self.snapshot());
            }
        }
    }

    fn link_up(&mut self, peer: NodeId, mut conn: Conn, now: Time) {
        if self.shared.stopping() {
            conn.close_now(CloseCode::Normal);
            return;
        }
        let bootstrap = conn.bootstrap;
        if let Some(mut old) = self.conns.insert(peer, conn) {
            old.close_now(CloseCode::Replaced);
        }
        let asked = self.connect_waits.remove(&peer).is_some();
        if asked {
            self.shared.metrics.link_request(LinkRequest::Up);
        }
        self.node.handle_link(peer, LinkChange::Up, now);
        if bootstrap && self.node.phase() == Phase::Idle {
            tracing::info!(bootstrap = %peer.to_hex(), "joining");
            self.node.join(peer, now);
        } else if !asked {
            // A peer came to us on its own: it may be a member of a ring
            // that lived on while this server was down (or a new tab).
            // Showing it where it belongs in our ring merges the two.
            self.node.introduce(peer, now);
        }
    }

    /// Closes every connection to `peer` at once and tells the node the
    /// link is down.
    fn drop_peer(&mut self, peer: NodeId, code: CloseCode, now: Time) {
        let conns = self.conns.remove_peer(&peer);
        if !conns.is_empty() {
            for mut conn in conns {
                conn.close_now(code);
            }
            self.node.handle_link(peer, LinkChange::Down, now);
        }
    }

    fn timers(&mut self, now: Time) {
        if self.node.poll_timeout().is_some_and(|t| t <= now) {
            self.node.handle_timeout(now);
        }
        let expired: Vec<NodeId> = self
            .connect_waits
            .iter()
            .filter(|(_, deadline)| **deadline <= now)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in expired {
            self.connect_waits.remove(&peer);
            if !self.conns.contains(&peer) {
                tracing::debug!(peer = %peer.to_hex(), "peer did not dial in");
                self.shared.metrics.link_request(LinkRequest::Down);
                self.node.handle_link(peer, LinkChange::Down, now);
            }
        }
        if self.join_retry.is_some_and(|t| t <= now) {
            self.join_retry = None;
            self.try_join(now);
        }
    }

    fn try_join(&mut self, now: Time) {
        if self.node.phase() != Phase::Idle {
            return;
        }
        // Any server we dialled to join will do; without one, the dialers
        // trigger the join when they get a link.
        if let Some(peer) = self.conns.bootstrap() {
            tracing::info!(bootstrap = %peer.to_hex(), "joining again");
            self.node.join(peer, now);
        }
    }

    /// Hands out what the node wants done, until it wants nothing more.
    fn drain(&mut self, now: Time) {
        while let Some(out) = self.node.poll_output() {
            match out {
                Output::Transmit(t) => self.transmit(t, now),
                Output::Event(e) => self.event(e, now),
            }
        }
    }

    fn transmit(&mut self, t: Transmit, now: Time) {
        let Some(conn) = self.conns.sender(&t.to) else {
            self.shared.metrics.dropped(Drop::NoLink);
            return;
        };
        let frame = match t.msg.encode() {
            Ok(frame) => frame,
            Err(e) => {
                // The node never builds such a message; drop it if it does.
                tracing::warn!("message not encodable: {e}");
                return;
            }
        };
        match conn.out.try_send(Out::Frame(frame.into())) {
            Ok(()) => {
                self.shared.metrics.messages_out.fetch_add(1, Relaxed);
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.shared.metrics.dropped(Drop::QueueFull);
                self.drop_peer(t.to, CloseCode::SlowReader, now);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                // The connection task ended; its `Closed` is on the way.
                self.shared.metrics.dropped(Drop::NoLink);
            }
        }
    }

    fn event(&mut self, event: Event, now: Time) {
        match event {
            Event::Connect(peer) => {
                tracing::debug!(peer = %peer.to_hex(), "node wants a link");
                self.connect(peer, now);
            }
            Event::Disconnect(peer) => {
                tracing::debug!(peer = %peer.to_hex(), "node closes a link");
                self.connect_waits.remove(&peer);
                for mut conn in self.conns.remove_peer(&peer) {
                    // After the frames the node queued before (its Close).
                    conn.close_after_queue(CloseCode::Normal);
                    if self.shared.stopping() {
                        // Shutdown waits for these too.
                        self.closing.push(conn);
                    }
                }
            }
            Event::QueryDone { id, outcome, .. } => {
                if let Some(peer) = self.connect_queries.remove(&id) {
                    self.connect_answer(peer, outcome, now);
                } else if outcome.is_ok() {
                    self.shared.metrics.queries_ok.fetch_add(1, Relaxed);
                } else {
                    self.shared.metrics.queries_failed.fetch_add(1, Relaxed);
                }
            }
            Event::AttachRequest { token, from, data } => {
                self.attach_request(token, from, &data, now)
            }
            Event::Joined => {
                tracing::info!(id = %self.node.id().to_hex(), "joined the ring");
                self.shared.metrics.joined.store(true, Relaxed);
                self.join_retry = None;
                self.join_backoff = JOIN_BACKOFF_START;
            }
            Event::JoinFailed(e) => {
                tracing::warn!(retry_in = ?self.join_backoff, "join failed: {e}");
                self.join_retry = Some(now + self.join_backoff);
                self.join_backoff = (self.join_backoff * 2).min(JOIN_BACKOFF_MAX);
            }
            Event::Left => {
                tracing::info!("left the ring");
                self.shared.metrics.joined.store(false, Relaxed);
            }
            Event::RingChanged => tracing::debug!("ring changed"),
            // The server serves no application service yet, so none arrive.
            Event::App { from, service, .. } => {
                tracing::debug!(from = %from.to_hex(), %service, "application message ignored")
            }
        }
    }

    /// The node wants a link: use an open connection, or ask the peer to
    /// dial us (a server cannot open a connection to a browser).
    fn connect(&mut self, peer: NodeId, now: Time) {
        if self.conns.contains(&peer) {
            self.node.handle_link(peer, LinkChange::Up, now);
            return;
        }
        let ask = Signal::Dial {
            url: self.shared.public_url.clone(),
        };
        // A public URL that is not a WebSocket URL cannot be signalled.
        let attached = ask
            .encode()
            .map_err(|e| e.to_string())
            .and_then(|data| self.node.attach(peer, data, now).map_err(|e| e.to_string()));
        match attached {
            Ok(query) => {
                self.shared.metrics.link_request(LinkRequest::Asked);
                self.connect_queries.insert(query, peer);
                self.connect_waits.insert(peer, now + CONNECT_WAIT);
            }
            Err(e) => {
                tracing::debug!(peer = %peer.to_hex(), "attach failed: {e}");
                self.shared.metrics.link_request(LinkRequest::Down);
                self.node.handle_link(peer, LinkChange::Down, now);
            }
        }
    }

    fn connect_answer(
        &mut self,
        peer: NodeId,
        outcome: Result<Answer, chordphone_overlay::QueryError>,
        now: Time,
    ) {
        if self.conns.contains(&peer) || !self.connect_waits.contains_key(&peer) {
            // Already up (it dialled in before the answer), or given up.
            return;
        }
        let change = match outcome {
            Ok(Answer::Attached(data)) => match Signal::decode(&data) {
                // It is dialling: wait for it until the deadline.
                Ok(Signal::Dialling) => return,
                // A server answering with its own URL: dial it instead.
                Ok(Signal::Dial { url }) => {
                    if dial::spawn_for(&self.shared, url, peer) {
                        return;
                    }
                    LinkChange::Refused
                }
                Ok(Signal::Refuse { reason }) => {
                    tracing::debug!(peer = %peer.to_hex(), ?reason, "link refused");
                    LinkChange::Refused
                }
                Ok(_) | Err(_) => LinkChange::Down,
            },
            Ok(_) | Err(_) => LinkChange::Down,
        };
        self.connect_waits.remove(&peer);
        self.shared
            .metrics
            .link_request(if change == LinkChange::Refused {
                LinkRequest::Refused
            } else {
                LinkRequest::Down
            });
        self.node.handle_link(peer, change, now);
    }

    /// Another node wants a link to us.
    fn attach_request(&mut self, token: AttachToken, from: NodeId, data: &[u8], now: Time) {
        let reply = match Signal::decode(data) {
            _ if self.shared.stopping() => Signal::Refuse {
                reason: Refusal::Busy,
            },
            // A browser offering WebRTC: a server takes WebSocket links only.
            Ok(Signal::Offer { .. }) => Signal::Dial {
                url: self.shared.public_url.clone(),
            },
            // A server that cannot dial us asks to be dialled.
            Ok(Signal::Dial { url }) => {
                if dial::spawn_for(&self.shared, url, from) {
                    Signal::Dialling
                } else {
                    Signal::Refuse {
                        reason: Refusal::Busy,
                    }
                }
            }
            Ok(_) | Err(_) => Signal::Refuse {
                reason: Refusal::Unusable,
            },
        };
        self.shared.metrics.attaches_answered.fetch_add(1, Relaxed);
        // A `Dial` whose public URL peers would refuse goes out as a refusal.
        let data = reply
            .encode()
            .or_else(|_| {
                Signal::Refuse {
                    reason: Refusal::Unusable,
                }
                .encode()
            })
            .unwrap_or_default();
        if let Err(e) = self.node.attach_reply(token, data, now) {
            tracing::debug!("attach reply: {e}");
        }
    }

    fn snapshot(&self) -> Snapshot {
        let status = self.node.status();
        let gauges = NodeGauges {
            peers: self.conns.peer_count(),
            links: status.links.len(),
            records: status.records,
            forwarded: self.node.stats().forwarded,
        };
        Snapshot {
            peers: self.conns.roles().collect(),
            status,
            gauges,
        }
    }

    /// Leaves the ring (handing records over), lets the last frames go out
    /// for about a second, and closes every connection.
    async fn shutdown(mut self, mut inputs: mpsc::Receiver<NodeInput>) {
        tracing::info!("shutting down");
        let _ = self.shared.stop.send(true);
        let now = clock::now();
        self.node.leave(now);
        self.drain(now);
        for conn in self.conns.all_mut() {
            conn.close_after_queue(CloseCode::Normal);
        }
        // Every connection task ends once its queue, with the leave and the
        // records handed over, has gone out; wait for that, briefly.
        let deadline = tokio::time::Instant::now() + FLUSH_TIME;
        while self.shared.metrics.connections.load(Relaxed) > 0 {
            tokio::select! {
                input = inputs.recv() => match input {
                    Some(NodeInput::Closed { conn, peer }) => {
                        self.conns.remove_conn(&peer, conn);
                    }
                    Some(NodeInput::Up { close, .. }) => {
                        let _ = close.send(CloseCode::Normal);
                    }
                    Some(NodeInput::Snapshot(reply)) => {
                        let _ = reply.send(self.snapshot());
                    }
                    Some(NodeInput::Frame { .. }) => {}
                    None => break,
                },
                // Connections count down as their tasks end.
                () = tokio::time::sleep(POLL_CLOSED) => {}
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        // Whatever did not close in time is closed now, ahead of its queue.
        for conn in self.conns.all_mut().chain(self.closing.iter_mut()) {
            conn.close_now(CloseCode::Normal);
        }
    }
}

/// A seed for the node's own random choices.
pub fn node_seed() -> Result<u64, crate::identity::IdentityError> {
    Ok(u64::from_le_bytes(random()?))
}
