//! What the bridge hands the shell: datagrams, events, counters; and the
//! bounded queues that hold them until the shell drains them.

use core::net::SocketAddr;
use std::collections::VecDeque;

/// Most datagrams waiting for the shell; more are dropped and counted.
pub const MAX_TRANSMITS: usize = 8192;
/// Most events waiting for the shell; more are dropped and counted.
pub const MAX_EVENTS: usize = 1024;

pub use chordphone_gateway::MediaCall;

/// One datagram to send: on the socket bound to `from`, to `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The local socket (as in [`BridgeEvent::Bind`]).
    pub from: SocketAddr,
    /// The destination.
    pub to: SocketAddr,
    /// The datagram.
    pub bytes: Vec<u8>,
}

/// Which side of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Leg {
    /// The WebRTC leg towards the browser tab.
    Browser,
    /// The plain RTP leg towards the SIP trunk.
    Trunk,
}

/// What the shell and the gateway learn from the bridge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BridgeEvent {
    /// Bind a UDP socket here and pass what it receives to
    /// [`crate::Bridge::handle_datagram`] (each call gets two: browser, trunk).
    Bind {
        call: MediaCall,
        leg: Leg,
        local: SocketAddr,
    },
    /// The call ended: close the socket bound for it.
    Unbind { call: MediaCall, local: SocketAddr },
    /// ICE and DTLS with the browser are done: media can flow.
    BrowserConnected { call: MediaCall },
    /// The first RTP packet from the trunk arrived; the bridge now sends to
    /// its source (symmetric RTP), whatever the trunk's SDP said.
    TrunkLatched { call: MediaCall, source: SocketAddr },
    /// A key press arrived as RFC 4733 events from one leg (and was passed
    /// on to the other where that leg negotiated telephone-event).
    Dtmf {
        call: MediaCall,
        from: Leg,
        digit: char,
    },
    /// A leg failed (ICE or DTLS gave up); the gateway should end the call.
    LegFailed {
        call: MediaCall,
        leg: Leg,
        reason: String,
    },
}

/// Counts of what the bridge did and refused, for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// RTP packets sent to a trunk (audio and events).
    pub to_trunk: u64,
    /// RTP packets handed to a browser leg (audio and events).
    pub to_browser: u64,
    /// DTMF digits the bridge itself sent to trunks.
    pub dtmf_sent: u64,
    /// Datagrams larger than [`crate::MAX_DATAGRAM`].
    pub dropped_oversize: u64,
    /// Datagrams to a port no call holds.
    pub dropped_unknown_port: u64,
    /// Datagrams that are not RTP, STUN, DTLS or SRTP the leg takes.
    pub dropped_malformed: u64,
    /// Trunk packets from another source than the latched one.
    pub dropped_foreign_source: u64,
    /// Packets with a payload type the leg did not negotiate.
    pub dropped_unknown_pt: u64,
    /// Packets that arrived before the other leg could take them (no trunk
    /// answer yet, browser not connected) or while the call is on hold.
    pub dropped_not_flowing: u64,
    /// Datagrams or events dropped because the shell did not drain the queues.
    pub dropped_queue_full: u64,
}

/// The bounded queues, shared by all calls.
#[derive(Debug, Default)]
pub(crate) struct Outputs {
    pub transmits: VecDeque<Transmit>,
    pub events: VecDeque<BridgeEvent>,
    pub counters: Counters,
}

impl Outputs {
    pub(crate) fn transmit(&mut self, t: Transmit) {
        if self.transmits.len() >= MAX_TRANSMITS {
            self.counters.dropped_queue_full += 1;
        } else {
            self.transmits.push_back(t);
        }
    }

    pub(crate) fn event(&mut self, e: BridgeEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.counters.dropped_queue_full += 1;
        } else {
            self.events.push_back(e);
        }
    }
}
