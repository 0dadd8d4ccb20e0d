//! The identity handshake at the start of every link.
//!
//! Each side sends a hello with its public key and a fresh nonce, then
//! answers the other's hello with a signature over both hellos (its own
//! first). A side is done when the other's signature verifies: it then knows
//! the peer holds the key whose SHA-1 is the peer's node id, and, because
//! the signature covers its own fresh nonce, that the proof is not replayed
//! from another link. Sans-IO: the shell supplies the nonce and moves bytes.

use crate::frame::{classify, Control, FrameKind, LinkError};
use chordphone_overlay::{node_id_of, verify, Identity, NodeId, Sig, PUBLIC_KEY_BYTES};
use serde::{Deserialize, Serialize};

/// Length of a handshake nonce.
pub const NONCE_BYTES: usize = 32;
/// Domain separation for the signed transcript.
const CONTEXT: &[u8] = b"chordphone link handshake v1\0";

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
    nonce: [u8; NONCE_BYTES],
    role: Role,
    /// The peer's hello, once received.
    peer: Option<([u8; PUBLIC_KEY_BYTES], [u8; NONCE_BYTES], Role)>,
}

impl Handshake {
    /// Starts a handshake; `nonce` must be fresh random bytes.
    pub fn new(identity: &Identity, nonce: [u8; NONCE_BYTES], role: Role) -> Handshake {
        Handshake {
            identity: identity.clone(),
            public_key: identity.public_key(),
            nonce,
            role,
            peer: None,
        }
    }

    /// The hello frame to send when the channel opens.
    pub fn hello(&self) -> Vec<u8> {
        Control::Hello {
            public_key: self.public_key,
            nonce: self.nonce,
            role: self.role,
        }
        .encode()
    }

    /// Handles a frame from the peer.
    pub fn handle(&mut self, bytes: &[u8]) -> Result<Step, HandshakeError> {
        let FrameKind::Control(control) = classify(bytes)? else {
            return Err(HandshakeError::Unexpected);
        };
        match (control, self.peer) {
            (
                Control::Hello {
                    public_key,
                    nonce,
                    role,
                },
                None,
            ) => {
                if public_key == self.public_key {
                    return Err(HandshakeError::SelfLink);
                }
                self.peer = Some((public_key, nonce, role));
                let msg = transcript((&self.public_key, &self.nonce), (&public_key, &nonce));
                let signature = Sig(self.identity.sign(&msg));
                Ok(Step::Send(Control::Proof { signature }.encode()))
            }
            (Control::Proof { signature }, Some((public_key, nonce, role))) => {
                let msg = transcript((&public_key, &nonce), (&self.public_key, &self.nonce));
                if !verify(&public_key, &msg, &signature.0) {
                    return Err(HandshakeError::BadSignature);
                }
                Ok(Step::Done(PeerInfo {
                    id: node_id_of(&public_key),
                    public_key,
                    role,
                }))
            }
            _ => Err(HandshakeError::Unexpected),
        }
    }
}

/// What a signer signs: context, its own key and nonce, then the verifier's.
fn transcript(
    signer: (&[u8; PUBLIC_KEY_BYTES], &[u8; NONCE_BYTES]),
    verifier: (&[u8; PUBLIC_KEY_BYTES], &[u8; NONCE_BYTES]),
) -> Vec<u8> {
    let mut m = Vec::with_capacity(CONTEXT.len() + 2 * (PUBLIC_KEY_BYTES + NONCE_BYTES));
    m.extend_from_slice(CONTEXT);
    m.extend_from_slice(signer.0);
    m.extend_from_slice(signer.1);
    m.extend_from_slice(verifier.0);
    m.extend_from_slice(verifier.1);
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

    #[test]
    fn both_sides_learn_the_proven_peer() {
        let (mut a, mut b, ia, ib) = pair();
        let proof_b = sent(b.handle(&a.hello()));
        let proof_a = sent(a.handle(&b.hello()));
        let Ok(Step::Done(pa)) = a.handle(&proof_b) else {
            panic!("a not done")
        };
        let Ok(Step::Done(pb)) = b.handle(&proof_a) else {
            panic!("b not done")
        };
        assert_eq!((pa.id, pa.role), (ib.node_id(), Role::Server));
        assert_eq!((pb.id, pb.role), (ia.node_id(), Role::Peer));
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
        }
        .encode();
        let _ = sent(a.handle(&fake_hello));
        let msg = transcript((&ib.public_key(), &[5; 32]), (&a.public_key, &a.nonce));
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
