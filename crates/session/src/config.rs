//! How a session behaves, with one preset per kind of node.

use chordphone_link::Role;
use chordphone_overlay::Config as OverlayConfig;
use core::time::Duration;

/// Settings of a [`crate::Session`]: the overlay node's own, and how links
/// are made. Start from a preset ([`Config::browser`], [`Config::server`],
/// [`Config::native_peer`]) and change what a test or a deployment needs.
#[derive(Clone, Debug)]
pub struct Config {
    /// The overlay node's settings.
    pub overlay: OverlayConfig,
    /// What this node says it is in the identity handshake.
    pub role: Role,
    /// This node can make WebRTC peer connections (a browser tab).
    pub webrtc: bool,
    /// The WebSocket URL others dial to reach this node, if it accepts
    /// connections (a server). Without one, a peer that cannot offer WebRTC
    /// is refused.
    pub public_url: Option<String>,
    /// A link that is not up (negotiated, opened and proven) after this long
    /// is given up. Shorter than the overlay's connect timeout, so that the
    /// node hears "unreachable" before it would take the peer for dead.
    pub setup_timeout: Duration,
    /// A node asked to dial us may take this long before the link counts as
    /// out of reach.
    pub dial_wait: Duration,
    /// A link closed on purpose may flush what is queued for this long
    /// before its transport is torn down.
    pub close_grace: Duration,
    /// Most transports at once, open or being set up (the overlay's link
    /// budget plus room for links being replaced).
    pub max_transports: usize,
    /// First wait before joining again after a failed join.
    pub join_backoff_min: Duration,
    /// Longest wait between two join attempts.
    pub join_backoff_max: Duration,
    /// Show every peer that links to us on its own where it belongs in our
    /// ring (`Node::introduce`). A server does: the peer may be a member of
    /// a ring that lived on while the server was down, and this merges them.
    pub introduce_newcomers: bool,
}

impl Config {
    /// A browser tab. A tab's event loop can stall for hundreds of
    /// milliseconds (a busy page, a throttled background tab) and one missed
    /// hop acknowledgement makes the core give a neighbour up, so the hop
    /// timeout never goes below half a second. WebRTC set-up (gathering, one
    /// attach round trip through the ring, ICE, DTLS) gets ten seconds in
    /// the overlay; the session gives up a second before the overlay would,
    /// so that a set-up that failed is reported as the peer being out of
    /// reach this way (`LinkChange::Unreachable`), not as its death.
    pub fn browser() -> Config {
        Config {
            overlay: OverlayConfig {
                rto_min: Duration::from_millis(500),
                connect_timeout: Duration::from_secs(10),
                ..OverlayConfig::default()
            },
            role: Role::Peer,
            webrtc: true,
            public_url: None,
            setup_timeout: Duration::from_secs(9),
            dial_wait: Duration::from_secs(9),
            close_grace: Duration::from_secs(5),
            max_transports: 64,
            join_backoff_min: Duration::from_secs(1),
            join_backoff_max: Duration::from_secs(30),
            introduce_newcomers: false,
        }
    }

    /// A server reachable at `public_url`: many links, WebSocket only. Its
    /// links are reliable streams, so a missing hop acknowledgement means a
    /// stalled peer, never a lost packet: the hop timeout stays at half a
    /// second or more to ride out a scheduling stall of a busy host (with
    /// loopback round trips it would otherwise sink to 150 ms and could
    /// split the ring).
    pub fn server(public_url: String) -> Config {
        Config {
            overlay: OverlayConfig {
                max_links: 512,
                rto_min: Duration::from_millis(500),
                connect_timeout: Duration::from_secs(10),
                ..OverlayConfig::default()
            },
            role: Role::Server,
            webrtc: false,
            public_url: Some(public_url),
            // Also the time an accepted connection has to pass the
            // handshake.
            setup_timeout: Duration::from_secs(10),
            // A second before the overlay's connect timeout: a peer that
            // never dialled in is out of reach, not dead.
            dial_wait: Duration::from_secs(9),
            close_grace: Duration::from_secs(1),
            max_transports: 2048,
            join_backoff_min: Duration::from_millis(500),
            join_backoff_max: Duration::from_secs(10),
            introduce_newcomers: true,
        }
    }

    /// A native peer that accepts WebSocket links at `url` but is not a
    /// server (a test peer, a command-line client): browser settings for the
    /// overlay, WebSocket links only.
    pub fn native_peer(url: String) -> Config {
        Config {
            role: Role::Peer,
            webrtc: false,
            public_url: Some(url),
            ..Config::browser()
        }
    }
}
