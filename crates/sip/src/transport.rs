//! Where messages come from and go to. The user agent owns no socket: the
//! shell names a flow, and the user agent answers on the flow a request came in.

use bytes::Bytes;
use sipx_sip::Reliability;

/// How a flow carries SIP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Transport {
    /// UDP: one message per datagram, lost sometimes; the transaction layer retransmits.
    Udp,
    /// TCP: a byte stream framed by `Content-Length`.
    Tcp,
    /// TLS over TCP: framed like TCP.
    Tls,
    /// WebSocket (RFC 7118): one message per WebSocket message.
    Ws,
    /// Secure WebSocket (RFC 7118).
    Wss,
    /// A route through the chordphone overlay: reliable, one message per frame.
    Overlay,
}

impl Transport {
    /// Whether the transport delivers reliably (no retransmission timers).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// The token this transport has in a `Via` header.
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
            // Not registered with IANA: only chordphone peers see it.
            Transport::Overlay => "P2P",
        }
    }

    /// Whether a message arrives as a byte stream to be framed by `Content-Length`.
    pub fn is_stream(self) -> bool {
        matches!(self, Transport::Tcp | Transport::Tls)
    }

    pub(crate) fn reliability(self) -> Reliability {
        if self.is_reliable() {
            Reliability::Reliable
        } else {
            Reliability::Unreliable
        }
    }
}

/// One transport association with a peer: the transport and the shell's
/// address for the other end (`A` is a socket address, a node id, a
/// connection number: whatever the shell uses).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Flow<A> {
    /// How.
    pub transport: Transport,
    /// To or from whom.
    pub addr: A,
}

impl<A> Flow<A> {
    /// A flow.
    pub fn new(transport: Transport, addr: A) -> Self {
        Flow { transport, addr }
    }
}

/// Bytes the shell must send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit<A> {
    /// Where: the flow to send on.
    pub to: Flow<A>,
    /// One whole SIP message (a datagram, a WebSocket message, an overlay frame,
    /// or bytes to write to a stream).
    pub bytes: Bytes,
}
