//! A node's key pair and the node id derived from it.
//!
//! The node id is SHA-1 of the Ed25519 public key, so a node cannot choose
//! its place on the ring: it would have to find a key pair whose hash lands
//! there. Records carry the writer's public key and signature.

use crate::id::{Id, NodeId};
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
}
