//! The identity handshake at the start of every link.
//!
//! Each side sends a hello with its public key, a fresh nonce, its role, its
//! protocol version and feature bits, then answers the other's hello with a
//! signature over both hello frames as sent (its own first). A side is done
//! when the other's signature verifies: it then knows the peer holds the key
//! whose SHA-1 is the peer's node id, that the peer's hello (version and
//! features included) reached it unchanged, and, because the signature
//! covers its own fresh nonce, that the proof is not replayed from another
//! link. Sans-IO: the shell supplies the nonce and moves bytes.
//!
//! Signing the frames rather than the fields this build knows lets a newer
//! build append hello fields: an older peer ignores them but still signs
//! and checks the bytes that carried them.

use crate::frame::{classify, Control, FrameKind, LinkError};
use chordphone_overlay::{node_id_of, verify, Identity, NodeId, Sig, PUBLIC_KEY_BYTES};
use serde::{Deserialize, Serialize};

/// Length of a handshake nonce.
pub const NONCE_BYTES: usize = 32;
/// Domain separation for the signed transcript.
const CONTEXT: &[u8] = b"chordphone link handshake v2\0";

/// The protocol version this build announces in its hello. Raised when a
/// change needs both sides of a link to know of it; what it means to talk
/// to an older or newer peer is the shell's decision.
pub const PROTOCOL_VERSION: u16 = 1;
/// Feature bit: the node takes application messages through the ring and
/// answers requests of kinds it does not know with "unsupported".
pub const FEATURE_APP_CHANNEL: u64 = 1 << 0;
/// The feature bits this build announces.
pub const FEATURES: u64 = FEATURE_APP_CHANNEL;

/// What kind of node is at the other end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// A browser tab (or any peer that cannot be dialled).
    Peer,
    /// A server: reachable by WebSocket, bootstrap for new peers.
    Server,
}

/// The authenticated peer of a finished handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// Its node id (SHA-1 of its public key).
    pub id: NodeId,
    /// Its public key.
    pub public_key: [u8; PUBLIC_KEY_BYTES],
    /// What it said it is.
    pub role: Role,
    /// The protocol version it speaks.
    pub protocol: u16,
    /// The feature bits it announced.
    pub features: u64,
}

impl PeerInfo {
    /// Whether the peer announced every bit of `feature`.
    pub fn has(&self, feature: u64) -> bool {
        self.features & feature == feature
    }
}

/// Why a handshake failed; the link must be closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The frame did not parse.
    #[error("bad frame: {0}")]
    Frame(#[from] LinkError),
    /// A frame that does not belong at this point of the handshake.
    #[error("unexpected frame during the handshake")]
    Unexpected,
    /// The proof does not verify against the peer's key and our nonce.
    #[error("bad signature")]
    BadSignature,
    /// The peer has our own node id.
    #[error("peer claims our own identity")]
    SelfLink,
}

/// Where the handshake goes after a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this frame to the peer.
    Send(Vec<u8>),
    /// The peer is proven: report the link up.
    Done(PeerInfo),
}

/// One side of the handshake.
#[derive(Debug)]
pub struct Handshake {
    identity: Identity,
    public_key: [u8; PUBLIC_KEY_BYTES],
    /// Our hello frame, exactly as sent: signed and checked as bytes.
    hello: Vec<u8>,
    /// The peer's hello, once received.
    peer: Option<PeerHello>,
}

/// A hello received from the peer: what it claims, and the frame itself.
#[derive(Debug)]
struct PeerHello {
    info: PeerInfo,
    frame: Vec<u8>,
}

impl Handshake {
    /// Starts a handshake announcing this build's [`PROTOCOL_VERSION`] and
    /// [`FEATURES`]; `nonce` must be fresh random bytes.
    pub fn new(identity: &Identity, nonce: [u8; NONCE_BYTES], role: Role) -> Handshake {
        Handshake::announcing(identity, nonce, role, PROTOCOL_VERSION, FEATURES)
    }

    /// Starts a handshake announcing the given protocol version and feature
    /// bits (a shell that turns a feature off, a test of mixed versions).
    pub fn announcing(
        identity: &Identity,
        nonce: [u8; NONCE_BYTES],
        role: Role,
        protocol: u16,
        features: u64,
    ) -> Handshake {
        let public_key = identity.public_key();
        let hello = Control::Hello {
            public_key,
            nonce,
            role,
            protocol,
            features,
        }
        .encode();
        Handshake {
            identity: identity.clone(),
            public_key,
            hello,
            peer: None,
        }
    }

    /// The hello frame to send when the channel opens.
    pub fn hello(&self) -> Vec<u8> {
        self.hello.clone()
    }

    /// Handles a frame from the peer.
    pub fn handle(&mut self, bytes: &[u8]) -> Result<Step, HandshakeError> {
        let FrameKind::Control(control) = classify(bytes)? else {
            return Err(HandshakeError::Unexpected);
        };
        match (control, &self.peer) {
            (
                Control::Hello {
                    public_key,
                    role,
                    protocol,
                    features,
                    ..
                },
                None,
            ) => {
                if public_key == self.public_key {
                    return Err(HandshakeError::SelfLink);
                }
                let msg = transcript(&self.hello, bytes);
                let signature = Sig(self.identity.sign(&msg));
                self.peer = Some(PeerHello {
                    info: PeerInfo {
                        id: node_id_of(&public_key),
                        public_key,
                        role,
                        protocol,
                        features,
                    },
                    frame: bytes.to_vec(),
                });
                Ok(Step::Send(Control::Proof { signature }.encode()))
            }
            (Control::Proof { signature }, Some(peer)) => {
                let msg = transcript(&peer.frame, &self.hello);
                if !verify(&peer.info.public_key, &msg, &signature.0) {
                    return Err(HandshakeError::BadSignature);
                }
                Ok(Step::Done(peer.info))
            }
            _ => Err(HandshakeError::Unexpected),
        }
    }
}

/// What a signer signs: the context, then its own hello frame, then the
/// verifier's, each behind its length so that no two pairs of frames give
/// the same bytes.
fn transcript(signer_hello: &[u8], verifier_hello: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(CONTEXT.len() + 4 + signer_hello.len() + verifier_hello.len());
    m.extend_from_slice(CONTEXT);
    for frame in [signer_hello, verifier_hello] {
        // Control frames are at most MAX_CONTROL bytes, which fits a u16.
        let len = u16::try_from(frame.len()).unwrap_or(u16::MAX);
        m.extend_from_slice(&len.to_be_bytes());
        m.extend_from_slice(frame);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use chordphone_overlay::WIRE_VERSION;

    fn pair() -> (Handshake, Handshake, Identity, Identity) {
        let (a, b) = (Identity::from_seed([1; 32]), Identity::from_seed([2; 32]));
        (
            Handshake::new(&a, [10; 32], Role::Peer),
            Handshake::new(&b, [20; 32], Role::Server),
            a,
            b,
        )
    }

    fn sent(step: Result<Step, HandshakeError>) -> Vec<u8> {
        match step {
            Ok(Step::Send(f)) => f,
            other => panic!("expected a frame to send, got {other:?}"),
        }
    }

    /// Runs both handshakes to the end: what `a` and `b` learnt.
    fn complete(a: &mut Handshake, b: &mut Handshake) -> (PeerInfo, PeerInfo) {
        let proof_b = sent(b.handle(&a.hello()));
        let proof_a = sent(a.handle(&b.hello()));
        let Ok(Step::Done(pa)) = a.handle(&proof_b) else {
            panic!("a not done")
        };
        let Ok(Step::Done(pb)) = b.handle(&proof_a) else {
            panic!("b not done")
        };
        (pa, pb)
    }

    #[test]
    fn both_sides_learn_the_proven_peer() {
        let (mut a, mut b, ia, ib) = pair();
        let (pa, pb) = complete(&mut a, &mut b);
        assert_eq!((pa.id, pa.role), (ib.node_id(), Role::Server));
        assert_eq!((pb.id, pb.role), (ia.node_id(), Role::Peer));
        assert_eq!((pa.protocol, pa.features), (PROTOCOL_VERSION, FEATURES));
        assert!(pa.has(FEATURE_APP_CHANNEL));
    }

    #[test]
    fn each_side_learns_the_version_and_features_the_other_announced() {
        let (ia, ib) = (Identity::from_seed([1; 32]), Identity::from_seed([2; 32]));
        let mut a = Handshake::announcing(&ia, [10; 32], Role::Peer, 9, 0b1010);
        let mut b = Handshake::announcing(&ib, [20; 32], Role::Server, 1, 0);
        let (pa, pb) = complete(&mut a, &mut b);
        assert_eq!((pa.protocol, pa.features), (1, 0));
        assert_eq!((pb.protocol, pb.features), (9, 0b1010));
        assert!(pb.has(0b1000) && pb.has(0b1010) && !pb.has(0b0001));
        assert!(!pa.has(FEATURE_APP_CHANNEL));
    }

    #[test]
    fn a_hello_changed_on_the_way_fails_the_handshake() {
        // Someone in the middle strips a feature bit from Alice's hello:
        // Bob signs what he received, Alice checks against what she sent.
        let (mut a, mut b, _, _) = pair();
        let hello_a = a.hello();
        let FrameKind::Control(Control::Hello {
            public_key,
            nonce,
            role,
            protocol,
            ..
        }) = classify(&hello_a).expect("parses")
        else {
            panic!("not a hello")
        };
        let stripped = Control::Hello {
            public_key,
            nonce,
            role,
            protocol,
            features: 0,
        }
        .encode();
        let proof_b = sent(b.handle(&stripped));
        let _ = sent(a.handle(&b.hello()));
        assert_eq!(a.handle(&proof_b), Err(HandshakeError::BadSignature));
    }

    #[test]
    fn a_newer_hello_with_fields_appended_still_completes() {
        // A newer build appends a field to its hello; this build ignores the
        // extra bytes but signs and checks the frame as sent.
        let (mut a, mut b, _, ib) = pair();
        b.hello.extend_from_slice(b"a field from the future");
        let proof_b = sent(b.handle(&a.hello()));
        let proof_a = sent(a.handle(&b.hello()));
        let Ok(Step::Done(pa)) = a.handle(&proof_b) else {
            panic!("a not done")
        };
        assert!(matches!(b.handle(&proof_a), Ok(Step::Done(_))));
        assert_eq!(pa.id, ib.node_id());
    }

    #[test]
    fn a_proof_from_another_link_is_rejected() {
        // Mallory relays Bob's hello to Alice, but cannot sign Alice's nonce
        // with Bob's key: a proof Bob made for another link does not verify.
        let (mut alice, mut bob, _, _) = pair();
        let _ = sent(alice.handle(&bob.hello()));
        let other_link = Handshake::new(&Identity::from_seed([3; 32]), [99; 32], Role::Peer);
        let replayed = sent(bob.handle(&other_link.hello()));
        assert_eq!(alice.handle(&replayed), Err(HandshakeError::BadSignature));
    }

    #[test]
    fn a_hello_with_someone_elses_key_cannot_be_proven() {
        let (mut a, _, _, ib) = pair();
        let mallory = Identity::from_seed([7; 32]);
        // Claims Bob's key, signs with its own.
        let fake_hello = Control::Hello {
            public_key: ib.public_key(),
            nonce: [5; 32],
            role: Role::Server,
            protocol: PROTOCOL_VERSION,
            features: FEATURES,
        }
        .encode();
        let _ = sent(a.handle(&fake_hello));
        let msg = transcript(&fake_hello, &a.hello);
        let forged = Control::Proof {
            signature: Sig(mallory.sign(&msg)),
        }
        .encode();
        assert_eq!(a.handle(&forged), Err(HandshakeError::BadSignature));
    }

    #[test]
    fn out_of_order_self_and_garbage_frames_fail() {
        let (mut a, mut b, ia, _) = pair();
        let proof = sent(b.handle(&a.hello()));
        let mut fresh = Handshake::new(&Identity::from_seed([4; 32]), [1; 32], Role::Peer);
        assert_eq!(fresh.handle(&proof), Err(HandshakeError::Unexpected));
        let mut me = Handshake::new(&ia, [2; 32], Role::Peer);
        assert_eq!(me.handle(&a.hello()), Err(HandshakeError::SelfLink));
        assert_eq!(
            a.handle(&[WIRE_VERSION, 1, 2]),
            Err(HandshakeError::Unexpected)
        );
        assert!(matches!(a.handle(&[0xAB]), Err(HandshakeError::Frame(_))));
        // A second hello is not accepted.
        let _ = sent(a.handle(&b.hello()));
        assert_eq!(a.handle(&b.hello()), Err(HandshakeError::Unexpected));
    }
}
