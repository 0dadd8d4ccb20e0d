//! A node's key pair and the node id derived from it.
//!
//! The node id is SHA-1 of the Ed25519 public key, so a node cannot choose
//! its place on the ring: it would have to find a key pair whose hash lands
//! there. Records carry the writer's public key and signature.

use crate::id::{Id, NodeId};
use curve25519_dalek::montgomery::MontgomeryPoint;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

/// Length of a public key on the wire.
pub const PUBLIC_KEY_BYTES: usize = 32;
/// Length of a signature on the wire.
pub const SIGNATURE_BYTES: usize = 64;

/// A node's secret signing key and the id it implies.
#[derive(Clone)]
pub struct Identity {
    key: SigningKey,
    public: [u8; PUBLIC_KEY_BYTES],
    id: NodeId,
}

impl core::fmt::Debug for Identity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print the secret.
        f.debug_struct("Identity").field("id", &self.id).finish()
    }
}

impl Identity {
    /// Builds the identity from a 32-byte secret seed. The shell draws the
    /// seed from a real random source once and stores it; tests and the
    /// simulator derive it from their seed.
    pub fn from_seed(seed: [u8; 32]) -> Identity {
        let key = SigningKey::from_bytes(&seed);
        let public = key.verifying_key().to_bytes();
        Identity {
            key,
            public,
            id: node_id_of(&public),
        }
    }

    /// The secret seed, for the shell to persist.
    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The node id: SHA-1 of the public key.
    pub fn node_id(&self) -> NodeId {
        self.id
    }

    /// The public key bytes.
    pub fn public_key(&self) -> [u8; PUBLIC_KEY_BYTES] {
        self.public
    }

    /// Signs `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; SIGNATURE_BYTES] {
        self.key.sign(msg).to_bytes()
    }

    /// This key pair's X25519 public key: the Montgomery u of the Ed25519
    /// point. Anyone who knows the Ed25519 public key can compute it with
    /// [`x25519_public_of`], so a node's or user's existing key can receive
    /// sealed messages without publishing a second key.
    pub fn x25519_public(&self) -> [u8; 32] {
        self.key.verifying_key().to_montgomery().to_bytes()
    }

    /// X25519 agreement with the holder of the Ed25519 public key
    /// `peer_ed25519_public`. `None` if that is not a curve point, or if the
    /// result is all zeros (a low-order point: no secret at all).
    pub fn diffie_hellman(&self, peer_ed25519_public: &[u8; PUBLIC_KEY_BYTES]) -> Option<[u8; 32]> {
        self.diffie_hellman_x25519(&x25519_public_of(peer_ed25519_public)?)
    }

    /// X25519 agreement with a Montgomery-form public key (an ephemeral
    /// key of a sender). The secret is the clamped scalar Ed25519 derives
    /// from the seed, the same scalar that signs. `None` for an all-zero result.
    pub fn diffie_hellman_x25519(&self, peer_x25519_public: &[u8; 32]) -> Option<[u8; 32]> {
        let shared = MontgomeryPoint(*peer_x25519_public)
            .mul_clamped(self.key.to_scalar_bytes())
            .to_bytes();
        (shared != [0; 32]).then_some(shared)
    }
}

/// The X25519 public key of an Ed25519 public key (its point's Montgomery
/// u); `None` if the bytes are not a point on the curve.
pub fn x25519_public_of(ed25519_public: &[u8; PUBLIC_KEY_BYTES]) -> Option<[u8; 32]> {
    let key = VerifyingKey::from_bytes(ed25519_public).ok()?;
    Some(key.to_montgomery().to_bytes())
}

/// The node id a public key implies.
pub fn node_id_of(public_key: &[u8; PUBLIC_KEY_BYTES]) -> NodeId {
    Id::hash(public_key)
}

/// Checks an Ed25519 signature; false for malformed keys or signatures.
pub fn verify(
    public_key: &[u8; PUBLIC_KEY_BYTES],
    msg: &[u8],
    sig: &[u8; SIGNATURE_BYTES],
) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(public_key) else {
        return false;
    };
    let sig = Signature::from_bytes(sig);
    key.verify(msg, &sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_is_hash_of_public_key_and_signatures_verify() {
        let a = Identity::from_seed([7; 32]);
        assert_eq!(a.node_id(), Id::hash(&a.public_key()));
        let sig = a.sign(b"hello");
        assert!(verify(&a.public_key(), b"hello", &sig));
        assert!(!verify(&a.public_key(), b"hellp", &sig));
        let b = Identity::from_seed([8; 32]);
        assert!(!verify(&b.public_key(), b"hello", &sig));
        assert_eq!(Identity::from_seed(a.seed()).node_id(), a.node_id());
    }

    #[test]
    fn two_identities_agree_on_one_secret() {
        let a = Identity::from_seed([7; 32]);
        let b = Identity::from_seed([8; 32]);
        let ab = a.diffie_hellman(&b.public_key()).expect("a point");
        let ba = b.diffie_hellman(&a.public_key()).expect("a point");
        assert_eq!(ab, ba);
        // The public halves match what others compute from the Ed25519 keys.
        assert_eq!(x25519_public_of(&a.public_key()), Some(a.x25519_public()));
        assert_eq!(a.diffie_hellman_x25519(&b.x25519_public()), Some(ab));
        // A third key pair gets another secret.
        let c = Identity::from_seed([9; 32]);
        assert_ne!(c.diffie_hellman(&b.public_key()), Some(ab));
        // The identity point (order 1) gives no secret; bytes that are no
        // point give no key.
        let mut identity_point = [0u8; 32];
        identity_point[0] = 1;
        assert_eq!(a.diffie_hellman(&identity_point), None);
        assert_eq!(a.diffie_hellman_x25519(&[0; 32]), None);
        let not_a_point = (0u8..=255)
            .map(|i| [i; 32])
            .find(|k| VerifyingKey::from_bytes(k).is_err())
            .expect("some 32-byte string is off the curve");
        assert_eq!(x25519_public_of(&not_a_point), None);
    }
}
