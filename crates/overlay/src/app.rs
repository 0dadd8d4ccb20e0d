//! The application channel's message: opaque bytes for a numbered service,
//! signed by the node that sent them.
//!
//! Hops carry an [`AppMessage`] like any routed request and never look
//! inside. Only the destination checks it: the public key must hash to the
//! route's origin, and the signature must cover the origin, the target, the
//! service and the payload. Signing the target means a message captured on
//! its way cannot be replayed to another node; signing the origin and
//! carrying its key means no node can speak in another's name.

use crate::id::{NodeId, ID_BYTES};
use crate::identity::{node_id_of, verify, Identity, PUBLIC_KEY_BYTES};
use crate::record::Sig;
use core::fmt;
use serde::{Deserialize, Serialize};

/// Largest application payload, in bytes. Room for a SIP request with a
/// full SDP body, and with the route header still well under
/// [`crate::MAX_FRAME`].
pub const MAX_APP: usize = 32 * 1024;

/// Domain separation: a signature made for an application message is
/// worthless as a record or handshake signature, and the other way round.
const CONTEXT: &[u8] = b"chordphone app message v1\0";

/// A numbered service a node may accept application messages for (the SIP
/// user agent, a relay, ...). The numbers are agreed between applications;
/// the overlay only compares them.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
pub struct ServiceId(pub u16);

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "service {}", self.0)
    }
}

/// One application message as it travels through the ring.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppMessage {
    /// The service it is for.
    pub service: ServiceId,
    /// The origin's public key; its SHA-1 must be the route's origin.
    pub public_key: [u8; PUBLIC_KEY_BYTES],
    /// The origin's signature (see the module documentation).
    pub signature: Sig,
    /// Opaque to the overlay.
    pub payload: Vec<u8>,
}

/// Why a destination refused an application message: its origin is not
/// proven. Nothing is delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    /// The public key does not hash to the claimed origin.
    #[error("public key is not the origin's")]
    WrongKey,
    /// The signature does not verify (forged, tampered with on the way, or
    /// made for another destination).
    #[error("bad signature")]
    BadSignature,
}

impl AppMessage {
    /// Signs `payload` for `service` at node `target`, as sent by `identity`.
    pub fn sign(
        identity: &Identity,
        target: NodeId,
        service: ServiceId,
        payload: Vec<u8>,
    ) -> AppMessage {
        let msg = signed_bytes(&identity.node_id(), &target, service, &payload);
        AppMessage {
            service,
            public_key: identity.public_key(),
            signature: Sig(identity.sign(&msg)),
            payload,
        }
    }

    /// Checks that `origin` sent this message to `target`.
    pub fn check(&self, origin: &NodeId, target: &NodeId) -> Result<(), OriginError> {
        if node_id_of(&self.public_key) != *origin {
            return Err(OriginError::WrongKey);
        }
        let msg = signed_bytes(origin, target, self.service, &self.payload);
        if verify(&self.public_key, &msg, &self.signature.0) {
            Ok(())
        } else {
            Err(OriginError::BadSignature)
        }
    }
}

/// What the origin signs. Every field has a fixed length except the
/// payload, which comes last with its length in front, so no two different
/// messages share these bytes.
fn signed_bytes(origin: &NodeId, target: &NodeId, service: ServiceId, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(CONTEXT.len() + 2 * ID_BYTES + 2 + 4 + payload.len());
    m.extend_from_slice(CONTEXT);
    m.extend_from_slice(&origin.0);
    m.extend_from_slice(&target.0);
    m.extend_from_slice(&service.0.to_be_bytes());
    // MAX_APP is far below u32::MAX; a longer payload never verifies anyway.
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    m.extend_from_slice(&len.to_be_bytes());
    m.extend_from_slice(payload);
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::Id;

    #[test]
    fn only_the_signed_origin_target_service_and_payload_verify() {
        let alice = Identity::from_seed([1; 32]);
        let mallory = Identity::from_seed([2; 32]);
        let bob = Id::for_key("bob");
        let carol = Id::for_key("carol");
        let m = AppMessage::sign(&alice, bob, ServiceId(5), b"INVITE".to_vec());
        assert_eq!(m.check(&alice.node_id(), &bob), Ok(()));

        // Replayed onto another destination.
        assert_eq!(
            m.check(&alice.node_id(), &carol),
            Err(OriginError::BadSignature)
        );
        // Claimed for another origin.
        assert_eq!(
            m.check(&mallory.node_id(), &bob),
            Err(OriginError::WrongKey)
        );
        // Tampered on the way.
        let mut t = m.clone();
        t.payload[0] ^= 1;
        assert_eq!(
            t.check(&alice.node_id(), &bob),
            Err(OriginError::BadSignature)
        );
        let mut t = m.clone();
        t.service = ServiceId(6);
        assert_eq!(
            t.check(&alice.node_id(), &bob),
            Err(OriginError::BadSignature)
        );
        // Mallory's own key, Alice's name.
        let mut t = AppMessage::sign(&mallory, bob, ServiceId(5), b"INVITE".to_vec());
        assert_eq!(t.check(&alice.node_id(), &bob), Err(OriginError::WrongKey));
        t.public_key = alice.public_key();
        assert_eq!(
            t.check(&alice.node_id(), &bob),
            Err(OriginError::BadSignature)
        );
        // A key that is not a curve point is refused, not a panic.
        let mut t = m;
        t.public_key = [0xFF; 32];
        assert!(t.check(&node_id_of(&[0xFF; 32]), &bob).is_err());
    }
}
