//! Link signalling: the payloads of overlay attach requests and answers.
//!
//! A browser that wants a link to another browser sends an [`Signal::Offer`]
//! (a WebRTC offer whose SDP already holds every candidate, so that one
//! round trip through the ring suffices) and gets an [`Signal::Answer`]. A
//! server cannot dial a browser, so it asks with [`Signal::Dial`] to be
//! dialled over WebSocket; a browser that offers to a server is answered the
//! same way. Either side may refuse.

use chordphone_overlay::MAX_ATTACH;
use serde::{Deserialize, Serialize};

/// Version byte in front of every signal.
pub const SIGNAL_VERSION: u8 = 1;
/// Longest SDP accepted.
pub const MAX_SDP: usize = MAX_ATTACH - 64;
/// Longest WebSocket URL accepted.
pub const MAX_URL: usize = 512;

/// Why a link is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// Both sides offered at once; the side with the larger id keeps its own.
    Glare,
    /// Over the link budget, or shutting down.
    Busy,
    /// The offer could not be used (bad SDP, no WebRTC here).
    Unusable,
}

/// One signalling message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Signal {
    /// A WebRTC offer with all candidates gathered.
    Offer {
        /// Session description.
        sdp: String,
    },
    /// The answer to an offer, with all candidates gathered.
    Answer {
        /// Session description.
        sdp: String,
    },
    /// Open a WebSocket to this URL (the sender is a server).
    Dial {
        /// `ws://` or `wss://` URL of the sender's link endpoint.
        url: String,
    },
    /// The request of the other side will not be served.
    Refuse {
        /// Why.
        reason: Refusal,
    },
    /// Acknowledges a `Dial`: the dialled side is connecting.
    Dialling,
}

/// Why a signal was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    /// Unknown version or malformed body.
    #[error("malformed signal")]
    Malformed,
    /// A field longer than allowed, or a URL that is not a WebSocket URL.
    #[error("signal field too long or invalid")]
    Invalid,
}

impl Signal {
    /// The attach payload for this signal.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![SIGNAL_VERSION];
        out.extend_from_slice(&postcard::to_allocvec(self).unwrap_or_default());
        out
    }

    /// Parses and checks an attach payload from a remote node.
    pub fn decode(bytes: &[u8]) -> Result<Signal, SignalError> {
        let (&SIGNAL_VERSION, body) = bytes.split_first().ok_or(SignalError::Malformed)? else {
            return Err(SignalError::Malformed);
        };
        let signal: Signal = postcard::from_bytes(body).map_err(|_| SignalError::Malformed)?;
        match &signal {
            Signal::Offer { sdp } | Signal::Answer { sdp } if sdp.len() > MAX_SDP => {
                Err(SignalError::Invalid)
            }
            Signal::Dial { url }
                if url.len() > MAX_URL
                    || !(url.starts_with("ws://") || url.starts_with("wss://")) =>
            {
                Err(SignalError::Invalid)
            }
            _ => Ok(signal),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_round_trip() {
        for s in [
            Signal::Offer {
                sdp: "v=0\r\n".into(),
            },
            Signal::Answer {
                sdp: "v=0\r\n".into(),
            },
            Signal::Dial {
                url: "ws://127.0.0.1:8080/ws".into(),
            },
            Signal::Refuse {
                reason: Refusal::Glare,
            },
            Signal::Dialling,
        ] {
            assert_eq!(Signal::decode(&s.encode()), Ok(s));
        }
    }

    #[test]
    fn hostile_signals_are_rejected() {
        assert_eq!(Signal::decode(&[]), Err(SignalError::Malformed));
        assert_eq!(Signal::decode(&[9, 0]), Err(SignalError::Malformed));
        assert_eq!(
            Signal::decode(&[SIGNAL_VERSION, 200]),
            Err(SignalError::Malformed)
        );
        let js = Signal::Dial {
            url: "javascript:alert(1)".into(),
        };
        assert_eq!(Signal::decode(&js.encode()), Err(SignalError::Invalid));
        let big = Signal::Offer {
            sdp: "a".repeat(MAX_SDP + 1),
        };
        assert_eq!(Signal::decode(&big.encode()), Err(SignalError::Invalid));
        let offer = Signal::Offer { sdp: "v=0".into() }.encode();
        for n in 0..offer.len() {
            assert!(Signal::decode(&offer[..n]).is_err(), "cut at {n}");
        }
    }
}
