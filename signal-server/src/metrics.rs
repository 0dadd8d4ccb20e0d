//! Counters shared by every task, and their Prometheus text rendering.
//!
//! Counters are atomics so that connection tasks count without locks; the
//! gauges that describe the overlay node come from a snapshot the node task
//! takes when `/metrics` is asked for.

use chordphone_gateway::{GateStats, Refusal as GatewayRefusal, Stats as GatewayStats};
use chordphone_link::CloseCode;
use chordphone_relay::{Refusal, Stats as RelayStats};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// Why a message was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drop {
    /// The connection's outgoing queue was full.
    QueueFull,
    /// The overlay sent to a peer with no open connection.
    NoLink,
    /// A received frame did not parse.
    Malformed,
    /// A received frame was over the connection's rate.
    RateLimited,
}

impl Drop {
    const ALL: [Drop; 4] = [
        Drop::QueueFull,
        Drop::NoLink,
        Drop::Malformed,
        Drop::RateLimited,
    ];

    fn label(self) -> &'static str {
        match self {
            Drop::QueueFull => "queue_full",
            Drop::NoLink => "no_link",
            Drop::Malformed => "malformed",
            Drop::RateLimited => "rate_limited",
        }
    }
}

/// How a link the node asked for (by attach) turned out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkRequest {
    /// Asked the peer to dial us.
    Asked,
    /// The peer dialled in.
    Up,
    /// The peer refused.
    Refused,
    /// No link: the attach failed or nobody dialled in time.
    Down,
}

impl LinkRequest {
    const ALL: [LinkRequest; 4] = [
        LinkRequest::Asked,
        LinkRequest::Up,
        LinkRequest::Refused,
        LinkRequest::Down,
    ];

    fn label(self) -> &'static str {
        match self {
            LinkRequest::Asked => "asked",
            LinkRequest::Up => "up",
            LinkRequest::Refused => "refused",
            LinkRequest::Down => "down",
        }
    }
}

/// Process-wide counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// WebSocket connections open now (handshaken or not).
    pub connections: AtomicU64,
    /// Whether the node is part of a ring.
    pub joined: AtomicBool,
    /// Overlay frames received from peers.
    pub messages_in: AtomicU64,
    /// Overlay frames queued for peers.
    pub messages_out: AtomicU64,
    dropped: [AtomicU64; Drop::ALL.len()],
    /// Closes we initiated, by `CloseCode`, in `CloseCode::ALL` order.
    closed: [AtomicU64; CloseCode::ALL.len()],
    /// Connections the other side closed or that failed.
    closed_by_peer: AtomicU64,
    /// Identity handshakes that failed or timed out.
    pub handshakes_failed: AtomicU64,
    /// Requests this node started that succeeded.
    pub queries_ok: AtomicU64,
    /// Requests this node started that failed.
    pub queries_failed: AtomicU64,
    /// Attach requests answered for other nodes.
    pub attaches_answered: AtomicU64,
    link_requests: [AtomicU64; LinkRequest::ALL.len()],
    /// The embedded relay's counters, as its task last copied them.
    relay: Mutex<Option<RelayStats>>,
    /// The gateway's counters, as the node task last copied them.
    gateway: Mutex<Option<GatewayMetrics>>,
    /// Relay packets dropped because a queue or socket buffer was full.
    relay_dropped: AtomicU64,
    /// `/ice` answers with credentials.
    pub ice_issued: AtomicU64,
    /// `/ice` requests refused (rate or a malformed peer id).
    pub ice_refused: AtomicU64,
    /// Dials refused by policy (a private target, an unsupported URL).
    pub dials_refused: AtomicU64,
}

/// What the node task reports for the gauges.
#[derive(Clone, Debug, Default)]
pub struct NodeGauges {
    /// Handshaken connections.
    pub peers: usize,
    /// Open overlay links.
    pub links: usize,
    /// Records stored.
    pub records: usize,
    /// Requests routed on behalf of other nodes.
    pub forwarded: u64,
}

impl Metrics {
    /// Counts a dropped message.
    pub fn dropped(&self, why: Drop) {
        if let Some(c) = Drop::ALL.iter().position(|d| *d == why) {
            self.dropped[c].fetch_add(1, Relaxed);
        }
    }

    /// Counts `n` more of a step of the links the node asked for.
    pub fn link_requests(&self, step: LinkRequest, n: u64) {
        if let Some(c) = LinkRequest::ALL.iter().position(|d| *d == step) {
            self.link_requests[c].fetch_add(n, Relaxed);
        }
    }

    /// Counts a close this server initiated.
    pub fn closed(&self, code: CloseCode) {
        if let Some(c) = CloseCode::ALL.iter().position(|d| *d == code) {
            self.closed[c].fetch_add(1, Relaxed);
        }
    }

    /// Counts a relay packet dropped for want of room.
    pub fn relay_dropped(&self) {
        self.relay_dropped.fetch_add(1, Relaxed);
    }

    /// Copies the gateway's counters.
    pub fn set_gateway(&self, m: GatewayMetrics) {
        if let Ok(mut g) = self.gateway.lock() {
            *g = Some(m);
        }
    }

    /// Copies the embedded relay's counters.
    pub fn set_relay(&self, stats: &RelayStats) {
        if let Ok(mut r) = self.relay.lock() {
            *r = Some(stats.clone());
        }
    }

    /// Counts a connection the other side ended.
    pub fn closed_by_peer(&self) {
        self.closed_by_peer.fetch_add(1, Relaxed);
    }

    /// How many closes with this code this server initiated.
    #[cfg(test)]
    pub fn closed_count(&self, code: CloseCode) -> u64 {
        CloseCode::ALL
            .iter()
            .position(|d| *d == code)
            .map_or(0, |c| self.closed[c].load(Relaxed))
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self, node: Option<&NodeGauges>) -> String {
        let mut out = String::with_capacity(4096);
        let joined = u64::from(self.joined.load(Relaxed));
        let node = node.cloned().unwrap_or_default();
        let as_u64 = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        gauge(
            &mut out,
            "chordphone_connections",
            "Open WebSocket connections.",
            self.connections.load(Relaxed),
        );
        gauge(
            &mut out,
            "chordphone_peers_connected",
            "Connections whose identity handshake finished.",
            as_u64(node.peers),
        );
        gauge(
            &mut out,
            "chordphone_overlay_links",
            "Open overlay links.",
            as_u64(node.links),
        );
        gauge(
            &mut out,
            "chordphone_records",
            "Records stored (own and replicas).",
            as_u64(node.records),
        );
        gauge(
            &mut out,
            "chordphone_joined",
            "1 when the node is part of a ring.",
            joined,
        );
        counter(
            &mut out,
            "chordphone_messages_in_total",
            "Overlay frames received.",
            self.messages_in.load(Relaxed),
        );
        counter(
            &mut out,
            "chordphone_messages_out_total",
            "Overlay frames queued for sending.",
            self.messages_out.load(Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP chordphone_messages_dropped_total Messages dropped, by reason.\n# TYPE chordphone_messages_dropped_total counter"
        );
        for (d, c) in Drop::ALL.iter().zip(&self.dropped) {
            let _ = writeln!(
                out,
                "chordphone_messages_dropped_total{{reason=\"{}\"}} {}",
                d.label(),
                c.load(Relaxed)
            );
        }
        counter(
            &mut out,
            "chordphone_queries_ok_total",
            "Requests started by this node that succeeded.",
            self.queries_ok.load(Relaxed),
        );
        counter(
            &mut out,
            "chordphone_queries_failed_total",
            "Requests started by this node that failed.",
            self.queries_failed.load(Relaxed),
        );
        counter(
            &mut out,
            "chordphone_requests_forwarded_total",
            "Requests routed for other nodes.",
            node.forwarded,
        );
        counter(
            &mut out,
            "chordphone_attaches_answered_total",
            "Link negotiations answered for other nodes.",
            self.attaches_answered.load(Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP chordphone_link_requests_total Links the node asked peers to dial in for, by outcome.\n# TYPE chordphone_link_requests_total counter"
        );
        for (r, c) in LinkRequest::ALL.iter().zip(&self.link_requests) {
            let _ = writeln!(
                out,
                "chordphone_link_requests_total{{outcome=\"{}\"}} {}",
                r.label(),
                c.load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP chordphone_connections_closed_total Connections closed, by close code label (peer: closed by the other side).\n# TYPE chordphone_connections_closed_total counter"
        );
        for (code, c) in CloseCode::ALL.iter().zip(&self.closed) {
            let _ = writeln!(
                out,
                "chordphone_connections_closed_total{{reason=\"{}\"}} {}",
                code.label(),
                c.load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "chordphone_connections_closed_total{{reason=\"peer\"}} {}",
            self.closed_by_peer.load(Relaxed)
        );
        counter(
            &mut out,
            "chordphone_handshakes_failed_total",
            "Identity handshakes that failed or timed out.",
            self.handshakes_failed.load(Relaxed),
        );
        counter(
            &mut out,
            "chordphone_ice_issued_total",
            "ICE settings with TURN credentials handed out at /ice.",
            self.ice_issued.load(Relaxed),
        );
        counter(
            &mut out,
            "chordphone_ice_refused_total",
            "/ice requests refused (over the rate, or a malformed peer id).",
            self.ice_refused.load(Relaxed),
        );
        counter(
            &mut out,
            "chordphone_dials_refused_total",
            "WebSocket dials refused by policy (private targets, unsupported URLs).",
            self.dials_refused.load(Relaxed),
        );
        self.render_relay(&mut out);
        self.render_gateway(&mut out);
        out
    }

    /// The gateway's metrics (only when it runs).
    fn render_gateway(&self, out: &mut String) {
        let Some(g) = self.gateway.lock().ok().and_then(|g| g.clone()) else {
            return;
        };
        let s = &g.stats;
        let _ = writeln!(
            out,
            "# HELP chordphone_gateway_calls_total Calls through the gateway, by direction.\n# TYPE chordphone_gateway_calls_total counter\nchordphone_gateway_calls_total{{direction=\"out\"}} {}\nchordphone_gateway_calls_total{{direction=\"in\"}} {}",
            s.calls_out, s.calls_in
        );
        counter(
            out,
            "chordphone_gateway_answered_total",
            "Calls a trunk answered.",
            s.answered,
        );
        counter(
            out,
            "chordphone_gateway_failed_total",
            "Calls that failed after reaching a trunk.",
            s.failed,
        );
        counter(
            out,
            "chordphone_gateway_failovers_total",
            "Calls tried again on the next trunk.",
            s.failovers,
        );
        counter(
            out,
            "chordphone_gateway_minutes_cut_total",
            "Calls hung up when the caller's minutes ran out.",
            s.minutes_cut,
        );
        counter(
            out,
            "chordphone_gateway_media_failed_total",
            "Calls ended because the media bridge lost a leg.",
            s.media_failed,
        );
        counter(
            out,
            "chordphone_gateway_trunk_down_total",
            "Times a trunk stopped answering.",
            s.trunk_down,
        );
        counter(
            out,
            "chordphone_gateway_trunk_up_total",
            "Times a trunk answered again (or first).",
            s.trunk_up,
        );
        counter(
            out,
            "chordphone_gateway_stray_total",
            "Datagrams from addresses that are no trunk.",
            s.stray,
        );
        counter(
            out,
            "chordphone_gateway_send_failed_total",
            "Datagrams to trunks lost to a full socket buffer.",
            g.send_failed,
        );
        if let Some(m) = &g.media {
            render_media(out, m);
        }
        let _ = writeln!(
            out,
            "# HELP chordphone_gateway_refused_total Calls refused before any trunk saw them, by reason.\n# TYPE chordphone_gateway_refused_total counter"
        );
        for why in GatewayRefusal::ALL {
            let _ = writeln!(
                out,
                "chordphone_gateway_refused_total{{reason=\"{}\"}} {}",
                why.label(),
                s.refused(why)
            );
        }
        let _ = writeln!(
            out,
            "# HELP chordphone_gateway_trunk_up Whether a trunk answers (1) or not (0).\n# TYPE chordphone_gateway_trunk_up gauge"
        );
        for (name, up) in &g.trunks {
            let _ = writeln!(
                out,
                "chordphone_gateway_trunk_up{{trunk=\"{name}\"}} {}",
                u8::from(*up)
            );
        }
        counter(
            out,
            "chordphone_gateway_sealed_dropped_total",
            "Sealed payloads the gateway's gate dropped (garbage, replays, wrong keys).",
            g.gate.dropped,
        );
        counter(
            out,
            "chordphone_gateway_unproven_total",
            "Callers whose claim or signature proved no name.",
            g.gate.unproven + g.gate.not_registered,
        );
    }

    /// The embedded relay's metrics (zero when it does not run).
    fn render_relay(&self, out: &mut String) {
        let relay = self
            .relay
            .lock()
            .ok()
            .and_then(|r| r.clone())
            .unwrap_or_default();
        gauge(
            out,
            "chordphone_relay_allocations",
            "TURN allocations open on the embedded relay.",
            u64::try_from(relay.allocations).unwrap_or(u64::MAX),
        );
        counter(
            out,
            "chordphone_relay_allocated_total",
            "TURN allocations granted.",
            relay.allocated,
        );
        counter(
            out,
            "chordphone_relay_bytes_total",
            "Payload bytes relayed, both directions.",
            relay.relayed_bytes,
        );
        let _ = writeln!(
            out,
            "# HELP chordphone_relay_refused_total TURN requests and packets refused, by reason.\n# TYPE chordphone_relay_refused_total counter"
        );
        for why in Refusal::ALL {
            let _ = writeln!(
                out,
                "chordphone_relay_refused_total{{reason=\"{}\"}} {}",
                why.label(),
                relay.refusals(why)
            );
        }
        let _ = writeln!(
            out,
            "chordphone_relay_refused_total{{reason=\"queue_full\"}} {}",
            self.relay_dropped.load(Relaxed)
        );
    }
}

/// The media bridge's part of `/metrics`.
fn render_media(out: &mut String, m: &crate::media_bridge::MediaMetrics) {
    let _ = writeln!(
        out,
        "# HELP chordphone_media_calls Gateway calls with media now.\n# TYPE chordphone_media_calls gauge\nchordphone_media_calls {}",
        m.calls
    );
    let b = &m.bridge;
    let _ = writeln!(
        out,
        "# HELP chordphone_media_packets_total RTP packets the bridge passed on, by the leg they went to.\n# TYPE chordphone_media_packets_total counter\nchordphone_media_packets_total{{to=\"trunk\"}} {}\nchordphone_media_packets_total{{to=\"browser\"}} {}",
        b.to_trunk, b.to_browser
    );
    let _ = writeln!(
        out,
        "# HELP chordphone_media_dtmf_total Key presses (RFC 4733), by the leg they came from.\n# TYPE chordphone_media_dtmf_total counter\nchordphone_media_dtmf_total{{from=\"browser\"}} {}\nchordphone_media_dtmf_total{{from=\"trunk\"}} {}\nchordphone_media_dtmf_total{{from=\"gateway\"}} {}",
        m.dtmf_in.0, m.dtmf_in.1, b.dtmf_sent
    );
    let _ = writeln!(
        out,
        "# HELP chordphone_media_legs_total Legs connected (browser: ICE and DTLS done; trunk: first RTP latched) and failed.\n# TYPE chordphone_media_legs_total counter\nchordphone_media_legs_total{{event=\"browser_connected\"}} {}\nchordphone_media_legs_total{{event=\"trunk_latched\"}} {}\nchordphone_media_legs_total{{event=\"failed\"}} {}",
        m.legs.0, m.legs.1, m.legs.2
    );
    let _ = writeln!(
        out,
        "# HELP chordphone_media_dropped_total Datagrams the bridge dropped, by reason.\n# TYPE chordphone_media_dropped_total counter"
    );
    for (why, n) in [
        ("oversize", b.dropped_oversize),
        ("unknown_port", b.dropped_unknown_port),
        ("malformed", b.dropped_malformed),
        ("foreign_source", b.dropped_foreign_source),
        ("unknown_pt", b.dropped_unknown_pt),
        ("not_flowing", b.dropped_not_flowing),
        ("queue_full", b.dropped_queue_full),
        ("bind_failed", m.io_failed.0),
        ("send_failed", m.io_failed.1),
    ] {
        let _ = writeln!(
            out,
            "chordphone_media_dropped_total{{reason=\"{why}\"}} {n}"
        );
    }
}

/// The gateway's counters as `/metrics` shows them.
#[derive(Clone, Debug)]
pub struct GatewayMetrics {
    /// The core's counters.
    pub stats: GatewayStats,
    /// The gate's counters.
    pub gate: GateStats,
    /// Each trunk's name and whether it is up.
    pub trunks: Vec<(String, bool)>,
    /// Datagrams lost to a full socket buffer.
    pub send_failed: u64,
    /// The media bridge's counters, when it runs.
    pub media: Option<crate::media_bridge::MediaMetrics>,
}

/// One gauge with its help text.
fn gauge(out: &mut String, name: &str, help: &str, v: u64) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
}

/// One counter with its help text.
fn counter(out: &mut String, name: &str, help: &str, v: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_are_counted_under_their_label() {
        let m = Metrics::default();
        m.closed(CloseCode::Malformed);
        m.dropped(Drop::QueueFull);
        let text = m.render(None);
        assert!(text.contains("chordphone_connections_closed_total{reason=\"malformed\"} 1"));
        assert!(text.contains("chordphone_messages_dropped_total{reason=\"queue_full\"} 1"));
        assert_eq!(m.closed_count(CloseCode::Malformed), 1);
    }
}
