//! The SIP gateway's shell (when `[gateway]` is configured): the sans-IO
//! gateway core and its gate driven by the node task, a UDP socket towards
//! the trunks, and the overlay's SIP service towards the tabs.
//!
//! Everything runs in the node task, which owns the overlay node: sealed
//! SIP arrives there as `Event::App`, replies leave with `send_app`, claim
//! lookups are the node's `get`s. The socket's reader is a task of its own
//! that hands each datagram to the node task; sending is a non-blocking
//! `try_send_to` (a full socket buffer loses the datagram, which UDP SIP
//! retransmits). Calls' audio goes through the media bridge
//! (`media_bridge`), which owns its own ports; should it not start (no
//! address to advertise, no crypto), the core refuses calls to numbers
//! with 503 ("No line to the phone network is available") rather than
//! pretend to carry audio.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use chordphone_bridge::BridgeConfig;
use chordphone_gateway::{
    Gate, Gateway, GatewayConfig, GatewayEvent, MediaCall, Opened, TrunkState, TrunkTransport,
    SERVICE_KEY,
};
use chordphone_overlay::{Answer, Id, Identity, Kind, Node, NodeId, QueryError, QueryId, Time};
use chordphone_phone::SIP_SERVICE;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::inputs::NodeInput;
use crate::media_bridge::MediaHandle;
use crate::metrics::GatewayMetrics;

/// The gateway's name in SIP towards the tabs (its replies are sealed with
/// a claim on it; tabs trust the node they called, not the name).
pub const GATEWAY_AOR: &str = "sip:pstn-gateway@chordphone";
/// What the service record holds (readers need only its writer, the node).
const ANNOUNCE_VALUE: &[u8] = b"chordphone pstn-gateway v1";
/// How soon a failed announcement (the node has not joined yet) is tried again.
const ANNOUNCE_RETRY: Duration = Duration::from_secs(5);
/// Claim lookups in flight, at most (the gate bounds the waiting messages).
const MAX_LOOKUPS: usize = 256;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The `[gateway]` table is not usable.
    #[error(transparent)]
    Config(#[from] chordphone_gateway::ConfigError),
    /// The SIP socket could not be bound.
    #[error("gateway: cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A trunk over a transport this server does not carry yet.
    #[error("gateway: trunk {0}: only UDP trunks are carried so far (transport = \"udp\")")]
    Transport(String),
    /// A trunk's host does not resolve.
    #[error("gateway: trunk {trunk}: cannot resolve {host}")]
    Resolve {
        /// The trunk.
        trunk: String,
        /// Its host and port.
        host: String,
    },
}

/// The gateway as the node task drives it.
pub struct GatewayShell {
    core: Gateway<NodeId, SocketAddr>,
    gate: Gate,
    sock: Arc<UdpSocket>,
    lookups: BTreeMap<QueryId, String>,
    announce_every: Duration,
    next_announce: Time,
    /// Datagrams lost to a full socket buffer.
    send_failed: u64,
    /// The media bridge, when it started.
    media: Option<MediaHandle>,
}

impl core::fmt::Debug for GatewayShell {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GatewayShell")
            .field("core", &self.core)
            .field("lookups", &self.lookups.len())
            .finish_non_exhaustive()
    }
}

/// Binds the socket, resolves the trunks, and starts the socket's reader.
pub async fn start(
    config: &GatewayConfig,
    identity: Identity,
    node_tx: mpsc::Sender<NodeInput>,
    seed: u64,
    now: Time,
) -> Result<GatewayShell, GatewayError> {
    config.validate()?;
    let sock = UdpSocket::bind(&config.listen)
        .await
        .map_err(|source| GatewayError::Bind {
            addr: config.listen.clone(),
            source,
        })?;
    let bound = sock.local_addr().map_err(|source| GatewayError::Bind {
        addr: config.listen.clone(),
        source,
    })?;
    let mut addrs = Vec::with_capacity(config.trunk.len());
    for t in &config.trunk {
        if t.transport != TrunkTransport::Udp {
            return Err(GatewayError::Transport(t.name.clone()));
        }
        let host = format!("{}:{}", t.host, t.port);
        let found = tokio::net::lookup_host(&host)
            .await
            .ok()
            .and_then(|mut a| a.find(|a| a.is_ipv4() == bound.is_ipv4()));
        let Some(addr) = found else {
            return Err(GatewayError::Resolve {
                trunk: t.name.clone(),
                host,
            });
        };
        addrs.push(addr);
    }
    let local = config
        .public_address
        .clone()
        .unwrap_or_else(|| bound.to_string());
    if bound.ip().is_unspecified() && config.public_address.is_none() {
        tracing::warn!(%bound, "gateway: listening on all interfaces without public_address: trunks see an unroutable Via and Contact");
    }
    let mut core = Gateway::new(config.clone(), GATEWAY_AOR, &local, addrs, seed)?;
    let media = start_media(config, bound, seed, node_tx.clone());
    if let Some(m) = &media {
        core.set_media(Box::new(m.clone()));
    }
    let sock = Arc::new(sock);
    tokio::spawn(read_datagrams(Arc::clone(&sock), node_tx));
    tracing::info!(%local, trunks = config.trunk.len(), "gateway: SIP towards the trunks");
    Ok(GatewayShell {
        core,
        gate: Gate::new(identity, GATEWAY_AOR, seed.rotate_left(29), now),
        sock,
        lookups: BTreeMap::new(),
        announce_every: Duration::from_secs(config.announce_interval.max(30)),
        next_announce: now,
        send_failed: 0,
        media,
    })
}

/// Starts the media bridge on `[gateway.media]`; `None` (logged) when it
/// cannot run, and then calls to numbers are refused with 503.
fn start_media(
    config: &GatewayConfig,
    sip_bound: SocketAddr,
    seed: u64,
    node_tx: mpsc::Sender<NodeInput>,
) -> Option<MediaHandle> {
    let m = &config.media;
    let bind_ip = m.bind.unwrap_or(sip_bound.ip());
    let public_ip = config.public_address.as_deref().and_then(|a| {
        a.parse::<SocketAddr>()
            .ok()
            .map(|a| a.ip())
            .or(a.parse().ok())
    });
    let advertise_ip = m.advertise.or(public_ip).unwrap_or(bind_ip);
    if advertise_ip.is_unspecified() {
        tracing::warn!(%bind_ip, "gateway: no media: set [gateway.media] advertise (or public_address) to the address browsers and trunks can send audio to");
        return None;
    }
    let bridge = BridgeConfig {
        bind_ip,
        advertise_ip,
        ports: (m.ports[0], m.ports[1]),
        max_calls: config.max_calls,
        seed: m.seed.unwrap_or(seed.rotate_left(17)),
    };
    match MediaHandle::start(bridge, node_tx) {
        Ok(h) => {
            tracing::info!(%bind_ip, %advertise_ip, ports = ?m.ports, "gateway: media bridge ready");
            Some(h)
        }
        Err(e) => {
            tracing::warn!("gateway: no media: {e}");
            None
        }
    }
}

/// Hands every datagram to the node task until it is gone.
async fn read_datagrams(sock: Arc<UdpSocket>, node_tx: mpsc::Sender<NodeInput>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let Ok((n, from)) = sock.recv_from(&mut buf).await else {
            // ICMP errors surface here on some systems: keep reading.
            continue;
        };
        let bytes = Bytes::copy_from_slice(&buf[..n]);
        if node_tx
            .send(NodeInput::TrunkDatagram { from, bytes })
            .await
            .is_err()
        {
            return;
        }
    }
}

fn sip(now: Time) -> chordphone_sip::Time {
    chordphone_sip::Time(now.as_micros())
}

impl GatewayShell {
    /// Serves the SIP service on the node and starts the trunks.
    pub fn begin(&mut self, node: &mut Node, now: Time) {
        node.serve(SIP_SERVICE);
        self.core.start(sip(now));
        self.flush(node, now);
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due.
    pub fn poll_timeout(&self) -> Option<Time> {
        let core = self.core.poll_timeout().map(|t| Time(t.0));
        Some(core.map_or(self.next_announce, |t| t.min(self.next_announce)))
    }

    /// Timers of the core, and the announcement when due.
    pub fn handle_timeout(&mut self, node: &mut Node, now: Time) {
        self.core.handle_timeout(sip(now));
        if self.next_announce <= now {
            self.announce(node, now);
        }
        self.flush(node, now);
    }

    /// A datagram from the SIP socket.
    pub fn handle_datagram(&mut self, node: &mut Node, from: SocketAddr, bytes: &[u8], now: Time) {
        self.core.handle_trunk(from, bytes, sip(now));
        self.flush(node, now);
    }

    /// The media bridge lost a call's leg: the call ends.
    pub fn media_failed(&mut self, node: &mut Node, call: MediaCall, now: Time) {
        self.core.media_failed(call, sip(now));
        self.flush(node, now);
    }

    /// A payload on the SIP service: through the gate, into the core.
    pub fn handle_app(&mut self, node: &mut Node, from: NodeId, payload: &[u8], now: Time) {
        match self.gate.open(from, payload, now) {
            Ok(Opened::Lookup { aor, key }) => {
                if self.lookups.len() < MAX_LOOKUPS {
                    let id = node.get(key, Kind::Single, now);
                    self.lookups.insert(id, aor);
                } else {
                    // Nobody proven: the core answers 403 and counts it.
                    for o in self.gate.claim_found(&aor, &[], now) {
                        self.deliver(o, now);
                    }
                }
            }
            Ok(o) => self.deliver(o, now),
            Err(why) => tracing::debug!(from = %from.to_hex(), ?why, "gateway: payload dropped"),
        }
        self.flush(node, now);
    }

    /// A query finished; true if it was one of the gateway's lookups.
    pub fn query_done(
        &mut self,
        node: &mut Node,
        id: QueryId,
        outcome: &Result<Answer, QueryError>,
        now: Time,
    ) -> bool {
        let Some(aor) = self.lookups.remove(&id) else {
            return false;
        };
        let records = match outcome {
            Ok(Answer::Records(r)) => r.as_slice(),
            _ => &[],
        };
        for o in self.gate.claim_found(&aor, records, now) {
            self.deliver(o, now);
        }
        self.flush(node, now);
        true
    }

    fn deliver(&mut self, opened: Opened, now: Time) {
        if let Opened::Deliver {
            from,
            identity,
            sip: bytes,
        } = opened
        {
            self.core
                .handle_caller(from, identity.as_deref(), &bytes, sip(now));
        }
    }

    /// Puts (or refreshes) this node's entry under `service:pstn-gateway`.
    fn announce(&mut self, node: &mut Node, now: Time) {
        let ttl = self.announce_every * 2;
        let key = Id::for_key(SERVICE_KEY);
        match node.put(key, Kind::Multi, ANNOUNCE_VALUE.to_vec(), ttl, now) {
            Ok(_) => self.next_announce = now + self.announce_every,
            Err(e) => {
                tracing::debug!("gateway: announcement deferred: {e}");
                self.next_announce = now + ANNOUNCE_RETRY;
            }
        }
    }

    /// Sends what the core wants sent, and logs what it reports.
    fn flush(&mut self, node: &mut Node, now: Time) {
        while let Some(t) = self.core.poll_trunk_transmit() {
            if self.sock.try_send_to(&t.bytes, t.to.addr).is_err() {
                self.send_failed += 1;
            }
        }
        while let Some(t) = self.core.poll_caller_transmit() {
            let to = t.to.addr;
            match self.gate.seal(to, t.bytes.to_vec(), now) {
                Ok(payload) => {
                    if let Err(e) = node.send_app(to, SIP_SERVICE, payload, now) {
                        tracing::debug!(to = %to.to_hex(), "gateway: reply not sent: {e}");
                    }
                }
                Err(e) => tracing::debug!(to = %to.to_hex(), "gateway: reply not sealed: {e}"),
            }
        }
        while let Some(e) = self.core.poll_event() {
            log(&e);
        }
    }

    /// The counters for `/metrics`.
    pub fn metrics(&self) -> GatewayMetrics {
        GatewayMetrics {
            stats: self.core.stats().clone(),
            gate: self.gate.stats().clone(),
            trunks: self
                .core
                .trunk_states()
                .into_iter()
                .map(|(name, s)| (name.to_owned(), s == TrunkState::Up))
                .collect(),
            send_failed: self.send_failed,
            media: self.media.as_ref().map(MediaHandle::metrics),
        }
    }
}

fn log(e: &GatewayEvent) {
    match e {
        GatewayEvent::Refused {
            identity,
            why,
            words,
        } => tracing::info!(
            identity = identity.as_deref().unwrap_or("-"),
            reason = why.label(),
            "gateway: call refused: {words}"
        ),
        GatewayEvent::Calling {
            call,
            identity,
            number,
            trunk,
        } => tracing::info!(call, identity, number, trunk, "gateway: calling"),
        GatewayEvent::Failover { call, from, to } => {
            tracing::info!(call, from, to, "gateway: failover")
        }
        GatewayEvent::Answered { call } => tracing::info!(call, "gateway: answered"),
        GatewayEvent::Ended { call, words } => {
            tracing::info!(
                call,
                why = words.unwrap_or("hung up"),
                "gateway: call ended"
            )
        }
        GatewayEvent::TrunkUp { trunk } => tracing::info!(trunk, "gateway: trunk up"),
        GatewayEvent::TrunkDown { trunk } => tracing::warn!(trunk, "gateway: trunk down"),
    }
}
