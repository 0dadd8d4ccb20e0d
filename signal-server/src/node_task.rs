//! The task that owns the session (the overlay node and its links).
//!
//! Everything that touches the session happens here, one input at a time:
//! connections accepted or dialled, frames, closes, timeouts, snapshots for
//! HTTP. After every input it drains the session's outputs until there are
//! none. It never waits on a connection: frames go out with `try_send`, and
//! a peer whose queue is full is closed as a slow reader.

use crate::advert::Advert;
use crate::clock;
use crate::dial;
use crate::gateway::GatewayShell;
use crate::identity::random;
use crate::inputs::{Handle, NodeInput, Snapshot};
use crate::metrics::{Drop, LinkRequest, NodeGauges};
use crate::outbox::Refused;
use crate::shared::Shared;
use crate::socket::Out;
use chordphone_link::{CloseCode, Role};
use chordphone_overlay::{Answer, Event as NodeEvent, NodeId, Time};
use chordphone_session::{Event, LinkId, Open, Output, Session, Stats};
use core::time::Duration;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use tokio::sync::mpsc;

/// How long shutdown waits for the last frames to go out.
const FLUSH_TIME: Duration = Duration::from_secs(1);
/// How often shutdown looks whether every connection has closed.
const POLL_CLOSED: Duration = Duration::from_millis(20);
/// Longest sleep between two looks at the clock: the node's timers are in
/// wall-clock time, which may step, so the task never sleeps long on a
/// deadline computed before a step.
const MAX_SLEEP: Duration = Duration::from_secs(1);

/// The session and the connections behind its links.
#[derive(Debug)]
pub struct NodeTask {
    session: Session,
    shared: Arc<Shared>,
    conns: BTreeMap<LinkId, Handle>,
    /// Joins a ring through `--join` servers instead of creating one.
    join_mode: bool,
    /// The session's counters as last copied into the metrics.
    counted: Stats,
    /// The SIP gateway, when configured.
    gateway: Option<GatewayShell>,
    /// The relay offer this server keeps in the overlay, if it makes one.
    advert: Option<Advert>,
}

impl NodeTask {
    /// Wraps a session whose node has not yet created or joined a ring.
    /// `advert`: the relay offer to keep in the overlay, if any.
    pub fn new(
        session: Session,
        shared: Arc<Shared>,
        join_mode: bool,
        advert: Option<Advert>,
    ) -> NodeTask {
        NodeTask {
            session,
            shared,
            conns: BTreeMap::new(),
            join_mode,
            counted: Stats::default(),
            gateway: None,
            advert,
        }
    }

    /// Runs the SIP gateway in this task (it needs the node).
    pub fn with_gateway(mut self, gateway: GatewayShell) -> NodeTask {
        self.gateway = Some(gateway);
        self
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
        if self.join_mode {
            self.session.join(now);
        } else {
            self.session.node_mut().create(now);
        }
        if let Some(g) = self.gateway.as_mut() {
            g.begin(self.session.node_mut(), now);
        }
        self.drain(now);
        tracing::info!(id = %self.session.id().to_hex(), url = %self.shared.public_url, "node started");
        loop {
            // The deadline scans the link table: look once per round, and
            // again only after timers ran.
            let now = clock::now();
            let mut next = self.session.poll_timeout();
            if next.is_some_and(|t| t <= now) {
                self.session.handle_timeout(now);
                self.drain(now);
                next = self.session.poll_timeout();
            }
            if let Some(g) = self.gateway.as_mut() {
                if g.poll_timeout().is_some_and(|t| t <= now) {
                    g.handle_timeout(self.session.node_mut(), now);
                    self.drain(now);
                }
                let g_next = self.gateway.as_ref().and_then(GatewayShell::poll_timeout);
                next = match (next, g_next) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            // Looked at every round: the loop wakes at least once a second,
            // finer than the offer's timing needs.
            if let Some(ad) = &mut self.advert {
                if ad.due(self.session.node().phase(), now) {
                    ad.write(self.session.node_mut(), now);
                    self.drain(now);
                }
            }
            let sleep = next
                .map_or(MAX_SLEEP, |t| t.saturating_since(now))
                .min(MAX_SLEEP);
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                input = inputs.recv() => match input {
                    Some(input) => {
                        let now = clock::now();
                        self.input(input, now);
                        self.drain(now);
                    }
                    None => break,
                },
                () = tokio::time::sleep(sleep) => {}
            }
        }
        self.shutdown(inputs).await;
    }

    fn input(&mut self, input: NodeInput, now: Time) {
        match input {
            NodeInput::Accepted { mut handle, reply } => {
                if self.shared.stopping() {
                    handle.close_now(CloseCode::Normal);
                    return;
                }
                let link = self.session.accept(now);
                if reply.send(link).is_ok() {
                    self.conns.insert(link, handle);
                } else {
                    self.session
                        .handle_closed(link, "gone before it started", now);
                }
            }
            NodeInput::Opened { link, handle } => {
                self.conns.insert(link, handle);
                self.session.handle_opened(link, now);
            }
            NodeInput::DialFailed { link, why } => self.session.handle_failed(link, &why, now),
            NodeInput::Frame { link, bytes } => {
                if self.conns.contains_key(&link) {
                    self.session.handle_frame(link, &bytes, now);
                }
            }
            NodeInput::Closed { link, why } => {
                if self.conns.remove(&link).is_some() {
                    self.session.handle_closed(link, why, now);
                }
            }
            NodeInput::Snapshot(reply) => {
                let _ = reply.send(self.snapshot());
            }
            NodeInput::TrunkDatagram { from, bytes } => {
                if let Some(g) = self.gateway.as_mut() {
                    g.handle_datagram(self.session.node_mut(), from, &bytes, now);
                }
            }
            NodeInput::MediaFailed { call } => {
                if let Some(g) = self.gateway.as_mut() {
                    g.media_failed(self.session.node_mut(), call, now);
                }
            }
        }
    }

    /// Carries out what the session wants done, until it wants nothing more.
    fn drain(&mut self, now: Time) {
        while let Some(out) = self.session.poll_output() {
            match out {
                Output::Open { link, how } => self.open(link, how, now),
                Output::ApplyAnswer { link, .. } => {
                    self.session
                        .handle_failed(link, "a server takes no WebRTC", now)
                }
                Output::Send { link, frame } => self.send(link, frame, now),
                Output::Close { link, code, gently } => {
                    if gently {
                        if let Some(conn) = self.conns.get_mut(&link) {
                            // After the frames queued before (the node's Close).
                            conn.close_after_queue(code);
                        }
                    } else if let Some(mut conn) = self.conns.remove(&link) {
                        conn.close_now(code);
                    }
                }
                Output::Event(e) => self.event(e, now),
            }
        }
        self.count();
    }

    fn open(&mut self, link: LinkId, how: Open, now: Time) {
        match how {
            Open::WebSocket { url } => {
                if let Err(e) = dial::spawn(&self.shared, link, url) {
                    self.session.handle_failed(link, &e.to_string(), now);
                }
            }
            Open::Offer | Open::Answer { .. } => {
                self.session
                    .handle_failed(link, "a server takes no WebRTC", now)
            }
        }
    }

    fn send(&mut self, link: LinkId, frame: Vec<u8>, now: Time) {
        let Some(conn) = self.conns.get_mut(&link) else {
            self.shared.metrics.dropped(Drop::NoLink);
            return;
        };
        match conn.try_send(Out::Frame(frame.into())) {
            Ok(()) => {}
            Err(Refused::Full) => {
                self.shared.metrics.dropped(Drop::QueueFull);
                conn.close_now(CloseCode::SlowReader);
                self.conns.remove(&link);
                self.session
                    .handle_closed(link, CloseCode::SlowReader.reason(), now);
            }
            Err(Refused::Closed) => {
                // The connection task ended; its `Closed` is on the way.
                self.shared.metrics.dropped(Drop::NoLink);
            }
        }
    }

    fn event(&mut self, event: Event, now: Time) {
        match event {
            Event::Overlay(NodeEvent::App {
                from,
                service,
                payload,
            }) if service == chordphone_phone::SIP_SERVICE => {
                if let Some(g) = self.gateway.as_mut() {
                    g.handle_app(self.session.node_mut(), from, &payload, now);
                }
            }
            Event::Overlay(NodeEvent::QueryDone { id, outcome, .. }) => {
                if let Some(ad) = &mut self.advert {
                    let result = match &outcome {
                        Ok(Answer::Stored) => Ok(()),
                        Ok(_) => Err(&"unexpected answer" as &dyn core::fmt::Display),
                        Err(e) => Err(e as &dyn core::fmt::Display),
                    };
                    if ad.outcome(id, result, now) {
                        return;
                    }
                }
                if let Some(g) = self.gateway.as_mut() {
                    g.query_done(self.session.node_mut(), id, &outcome, now);
                }
                let counter = if outcome.is_ok() {
                    &self.shared.metrics.queries_ok
                } else {
                    &self.shared.metrics.queries_failed
                };
                counter.fetch_add(1, Relaxed);
            }
            Event::Overlay(NodeEvent::Joined) => {
                tracing::info!(id = %self.session.id().to_hex(), "joined the ring");
                self.shared.metrics.joined.store(true, Relaxed);
            }
            Event::Overlay(NodeEvent::JoinFailed(e)) => tracing::warn!("join failed: {e}"),
            Event::Overlay(NodeEvent::Left) => {
                tracing::info!("left the ring");
                self.shared.metrics.joined.store(false, Relaxed);
            }
            Event::Overlay(_) => {}
            Event::LinkUp { peer, link, .. } => {
                tracing::debug!(peer = %peer.id.to_hex(), role = ?peer.role, %link, "link up");
            }
            Event::LinkFailed { peer, reason } => {
                tracing::debug!(peer = %peer.to_hex(), "no link: {reason}");
            }
            Event::BootstrapLost { why } => tracing::info!("bootstrap link lost: {why}"),
            Event::Misbehaved {
                link, code, what, ..
            } => {
                tracing::debug!(%link, code = code.code(), "peer {what}");
                if code == CloseCode::Malformed {
                    self.shared.metrics.dropped(Drop::Malformed);
                }
            }
        }
    }

    /// Adds what the session counted since the last call to the metrics.
    fn count(&mut self) {
        if let Some(g) = &self.gateway {
            self.shared.metrics.set_gateway(g.metrics());
        }
        let now = self.session.stats().clone();
        let was = core::mem::replace(&mut self.counted, now.clone());
        let m = &self.shared.metrics;
        m.messages_in
            .fetch_add(now.frames_in - was.frames_in, Relaxed);
        m.messages_out
            .fetch_add(now.frames_out - was.frames_out, Relaxed);
        m.handshakes_failed
            .fetch_add(now.handshakes_failed - was.handshakes_failed, Relaxed);
        m.attaches_answered
            .fetch_add(now.attaches_answered - was.attaches_answered, Relaxed);
        for (step, n) in [
            (LinkRequest::Asked, now.dial_asked - was.dial_asked),
            (LinkRequest::Up, now.dial_up - was.dial_up),
            (LinkRequest::Refused, now.dial_refused - was.dial_refused),
            (LinkRequest::Down, now.dial_failed - was.dial_failed),
        ] {
            m.link_requests(step, n);
        }
        for _ in was.dropped_no_link..now.dropped_no_link {
            m.dropped(Drop::NoLink);
        }
    }

    fn snapshot(&self) -> Snapshot {
        let status = self.session.node().status();
        let peers: Vec<(NodeId, Role)> = self
            .session
            .peers()
            .into_iter()
            .map(|(p, _)| (p.id, p.role))
            .collect();
        let gauges = NodeGauges {
            peers: peers.len(),
            links: status.links.len(),
            records: status.records,
            forwarded: self.session.node().stats().forwarded,
        };
        Snapshot {
            peers,
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
        if let Some(ad) = &mut self.advert {
            // Ahead of the leave, on the same links: tabs stop finding a
            // relay that is going away.
            if let Err(e) = ad.withdraw(self.session.node_mut(), now) {
                tracing::debug!("relay offer not withdrawn: {e}");
            }
        }
        self.session.leave(now);
        self.drain(now);
        for conn in self.conns.values_mut() {
            conn.close_after_queue(CloseCode::Normal);
        }
        // Every connection task ends once its queue, with the leave and the
        // records handed over, has gone out; wait for that, briefly.
        let deadline = tokio::time::Instant::now() + FLUSH_TIME;
        while self.shared.metrics.connections.load(Relaxed) > 0 {
            tokio::select! {
                input = inputs.recv() => match input {
                    Some(NodeInput::Closed { link, .. }) => {
                        self.conns.remove(&link);
                    }
                    Some(NodeInput::Opened { mut handle, .. }) => handle.close_now(CloseCode::Normal),
                    Some(NodeInput::Accepted { mut handle, .. }) => handle.close_now(CloseCode::Normal),
                    Some(NodeInput::Snapshot(reply)) => {
                        let _ = reply.send(self.snapshot());
                    }
                    Some(NodeInput::Frame { .. } | NodeInput::DialFailed { .. } | NodeInput::TrunkDatagram { .. } | NodeInput::MediaFailed { .. }) => {}
                    None => break,
                },
                // Connections count down as their tasks end.
                () = tokio::time::sleep(POLL_CLOSED) => {}
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        // Whatever did not close in time is closed now, ahead of its queue.
        for conn in self.conns.values_mut() {
            conn.close_now(CloseCode::Normal);
        }
    }
}

/// A seed for the session's random choices (node and handshake nonces).
pub fn session_seed() -> Result<[u8; 32], crate::identity::IdentityError> {
    random()
}
