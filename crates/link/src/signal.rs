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
    /// The attach payload for this signal. Fails with
    /// [`SignalError::Invalid`] for a signal the other side would refuse (an
    /// SDP over [`MAX_SDP`], a URL that is too long or not a WebSocket URL),
    /// so that what is sent always decodes.
    pub fn encode(&self) -> Result<Vec<u8>, SignalError> {
        self.check()?;
        let mut out = vec![SIGNAL_VERSION];
        let body = postcard::to_allocvec(self).map_err(|_| SignalError::Malformed)?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Parses and checks an attach payload from a remote node.
    pub fn decode(bytes: &[u8]) -> Result<Signal, SignalError> {
        let (&SIGNAL_VERSION, body) = bytes.split_first().ok_or(SignalError::Malformed)? else {
            return Err(SignalError::Malformed);
        };
        let signal: Signal = postcard::from_bytes(body).map_err(|_| SignalError::Malformed)?;
        signal.check()?;
        Ok(signal)
    }

    /// The limits both ends hold a signal to.
    fn check(&self) -> Result<(), SignalError> {
        match self {
            Signal::Offer { sdp } | Signal::Answer { sdp } if sdp.len() > MAX_SDP => {
                Err(SignalError::Invalid)
            }
            Signal::Dial { url }
                if url.len() > MAX_URL
                    || !(url.starts_with("ws://") || url.starts_with("wss://")) =>
            {
                Err(SignalError::Invalid)
            }
            _ => Ok(()),
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
            assert_eq!(Signal::decode(&s.encode().expect("encodes")), Ok(s));
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
        // Built by hand: `encode` refuses to build them.
        let raw = |s: &Signal| {
            let mut out = vec![SIGNAL_VERSION];
            out.extend(postcard::to_allocvec(s).expect("serializes"));
            out
        };
        let js = Signal::Dial {
            url: "javascript:alert(1)".into(),
        };
        assert_eq!(Signal::decode(&raw(&js)), Err(SignalError::Invalid));
        let big = Signal::Offer {
            sdp: "a".repeat(MAX_SDP + 1),
        };
        assert_eq!(Signal::decode(&raw(&big)), Err(SignalError::Invalid));
        let offer = Signal::Offer { sdp: "v=0".into() }
            .encode()
            .expect("encodes");
        for n in 0..offer.len() {
            assert!(Signal::decode(&offer[..n]).is_err(), "cut at {n}");
        }
    }

    #[test]
    fn signals_the_other_side_would_refuse_are_not_encoded() {
        let long = Signal::Answer {
            sdp: "a".repeat(MAX_SDP + 1),
        };
        assert_eq!(long.encode(), Err(SignalError::Invalid));
        let not_ws = Signal::Dial {
            url: "http://example.test/ws".into(),
        };
        assert_eq!(not_ws.encode(), Err(SignalError::Invalid));
        let at_limit = Signal::Offer {
            sdp: "a".repeat(MAX_SDP),
        };
        let bytes = at_limit.encode().expect("at the limit encodes");
        assert_eq!(Signal::decode(&bytes), Ok(at_limit));
    }
}
