//! Link frames: overlay frames pass through untouched; control frames (the
//! handshake) carry a tag byte no overlay frame starts with.

use crate::handshake::Role;
use chordphone_overlay::{Sig, MAX_FRAME, PUBLIC_KEY_BYTES, WIRE_VERSION};
use serde::{Deserialize, Serialize};

/// First byte of every link control frame.
pub const CONTROL_TAG: u8 = 0xC1;
/// Version of the control frame encoding, the byte after the tag. Version 2
/// added the protocol version and feature bits to the hello.
pub const LINK_VERSION: u8 = 2;
/// No frame on a link is longer: an overlay frame at its limit.
pub const MAX_LINK_FRAME: usize = MAX_FRAME;
/// Control frames are small; anything longer is hostile.
const MAX_CONTROL: usize = 1024;

const _: () = assert!(CONTROL_TAG != WIRE_VERSION);

/// A link control frame.
///
/// A control frame may carry bytes after the fields this build knows: a
/// newer build appends its new hello fields there, and this one ignores
/// them (the handshake signs the hello frames as sent, extra bytes and all).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Control {
    /// The first frame each side sends: who it claims to be, a fresh nonce
    /// the other side must sign, what kind of node it is, and what it
    /// speaks.
    Hello {
        /// Ed25519 public key; the node id is its SHA-1.
        public_key: [u8; PUBLIC_KEY_BYTES],
        /// Fresh random bytes from the sender.
        nonce: [u8; 32],
        /// What the sender is.
        role: Role,
        /// The protocol version the sender speaks
        /// ([`crate::PROTOCOL_VERSION`] in this build).
        protocol: u16,
        /// The optional features the sender has ([`crate::FEATURES`]):
        /// a side uses one only if the other announced it.
        features: u64,
    },
    /// The signature over both hellos (see [`crate::Handshake`]).
    Proof {
        /// Ed25519 signature by the sender's key.
        signature: Sig,
    },
}

/// Why a link frame was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Empty frame.
    #[error("empty frame")]
    Empty,
    /// Longer than the link accepts.
    #[error("frame too large")]
    TooLarge,
    /// Neither an overlay frame nor a control frame of a known version.
    #[error("unknown frame type or version")]
    Unknown,
    /// A control frame that does not parse.
    #[error("malformed control frame")]
    Malformed,
}

/// What a received frame is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameKind<'a> {
    /// A link control frame.
    Control(Control),
    /// An overlay frame, for `Node::handle_bytes`.
    Overlay(&'a [u8]),
}

/// Tells a received frame's kind, parsing control frames. Overlay frames are
/// only recognised by their version byte here; the overlay decodes them.
pub fn classify(bytes: &[u8]) -> Result<FrameKind<'_>, LinkError> {
    match bytes.first() {
        None => Err(LinkError::Empty),
        _ if bytes.len() > MAX_LINK_FRAME => Err(LinkError::TooLarge),
        Some(&WIRE_VERSION) => Ok(FrameKind::Overlay(bytes)),
        Some(&CONTROL_TAG) => {
            if bytes.len() > MAX_CONTROL {
                return Err(LinkError::TooLarge);
            }
            match bytes.get(1) {
                Some(&LINK_VERSION) => postcard::from_bytes(&bytes[2..])
                    .map(FrameKind::Control)
                    .map_err(|_| LinkError::Malformed),
                _ => Err(LinkError::Unknown),
            }
        }
        Some(_) => Err(LinkError::Unknown),
    }
}

impl Control {
    /// The frame that carries this control message.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![CONTROL_TAG, LINK_VERSION];
        // Serializing plain data into a Vec cannot fail.
        let body = postcard::to_allocvec(self).unwrap_or_default();
        out.extend_from_slice(&body);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_frames_round_trip_and_overlay_frames_pass_through() {
        let hello = Control::Hello {
            public_key: [3; 32],
            nonce: [4; 32],
            role: Role::Server,
            protocol: 7,
            features: u64::MAX,
        };
        let bytes = hello.encode();
        assert_eq!(classify(&bytes), Ok(FrameKind::Control(hello)));
        let overlay = [WIRE_VERSION, 0, 1, 2];
        assert_eq!(classify(&overlay), Ok(FrameKind::Overlay(&overlay[..])));
    }

    #[test]
    fn hostile_frames_are_rejected() {
        assert_eq!(classify(&[]), Err(LinkError::Empty));
        assert_eq!(classify(&[0x42, 1]), Err(LinkError::Unknown));
        assert_eq!(classify(&[CONTROL_TAG, 99, 0]), Err(LinkError::Unknown));
        // A hello of the first link version (no protocol, no features).
        assert_eq!(classify(&[CONTROL_TAG, 1, 0]), Err(LinkError::Unknown));
        assert_eq!(
            classify(&[CONTROL_TAG, LINK_VERSION, 0xFF]),
            Err(LinkError::Malformed)
        );
        let mut huge = vec![CONTROL_TAG, LINK_VERSION];
        huge.resize(MAX_CONTROL + 1, 0);
        assert_eq!(classify(&huge), Err(LinkError::TooLarge));
        let mut huge = vec![WIRE_VERSION];
        huge.resize(MAX_LINK_FRAME + 1, 0);
        assert_eq!(classify(&huge), Err(LinkError::TooLarge));
        // A hello cut short anywhere is malformed, never a panic.
        let bytes = Control::Hello {
            public_key: [3; 32],
            nonce: [4; 32],
            role: Role::Peer,
            protocol: 1,
            features: 1 << 40,
        }
        .encode();
        for n in 2..bytes.len() {
            assert_eq!(
                classify(&bytes[..n]),
                Err(LinkError::Malformed),
                "cut at {n}"
            );
        }
    }
}
