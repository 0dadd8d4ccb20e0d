//! Sealed envelopes: what crosses the ring on the SIP service.
//!
//! The overlay already proves which node sent a message; the seal adds
//! secrecy from the hops and proof of the sender's *name*. A payload is an
//! ephemeral X25519 key and a ChaCha20-Poly1305 ciphertext under a key that
//! only the destination node can derive (its Ed25519 key in Montgomery
//! form). Inside is the SIP message with the sender's node key, its claim
//! record (so the receiver proves the From AOR without a lookup), when it
//! was sealed, and the user key's signature binding origin, destination,
//! that time and the SIP bytes (a receiver refuses the same signature
//! twice, and one too old or too far ahead: no replays).

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use chordphone_overlay::{x25519_public_of, Identity, NodeId, Record, Sig, Time, MAX_APP};
use curve25519_dalek::montgomery::MontgomeryPoint;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};

use crate::binding::put_len_prefixed;

/// Domain of the sealing key derivation.
const KEY_DOMAIN: &[u8] = b"chordphone seal v2\0";
/// Domain of the user key's signature over a SIP message.
const SIP_DOMAIN: &[u8] = b"chordphone sip v1\0";

/// The envelope on the wire (postcard).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// The sender's one-time X25519 public key.
    pub ephemeral: [u8; 32],
    /// [`Inner`] (postcard), encrypted and authenticated.
    pub ciphertext: Vec<u8>,
}

/// What a sealed envelope holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inner {
    /// The sender's node public key; must hash to the message's origin.
    pub node_key: [u8; 32],
    /// The sender's claim record: proves the AOR in the SIP `From`.
    pub claim: Record,
    /// When the sender sealed it, by its clock.
    pub sent: Time,
    /// The claim holder's signature over [`sip_signed_bytes`].
    pub user_sig: Sig,
    /// One SIP message.
    pub sip: Vec<u8>,
}

/// Why a payload could not be sealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The destination's key is not a curve point (or a low-order one).
    #[error("the destination's key cannot receive sealed messages")]
    BadKey,
    /// Sealed, it would not fit in one application message.
    #[error("the message is too large to send")]
    TooLarge,
}

/// Why a received payload could not be opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Not an envelope at all.
    #[error("not a sealed envelope")]
    Garbage,
    /// Authentication failed: changed on the way, sealed for another node,
    /// or with another origin.
    #[error("could not be opened: altered on the way or sealed for another node")]
    Undecryptable,
    /// It opened, but what is inside does not decode.
    #[error("the sealed contents are malformed")]
    Malformed,
}

impl OpenError {
    /// The text for [`crate::PhoneEvent::Refused`].
    pub fn why(self) -> &'static str {
        match self {
            OpenError::Garbage => "not a sealed envelope",
            OpenError::Undecryptable => {
                "could not be opened: altered on the way or sealed for another node"
            }
            OpenError::Malformed => "the sealed contents are malformed",
        }
    }
}

/// The bytes the user key signs for one SIP message from `origin` to
/// `destination` sealed at `sent`: a captured message cannot be replayed
/// from or to another node, nor (the receiver remembers recent ones, and
/// refuses old ones) to the same node.
pub fn sip_signed_bytes(origin: &NodeId, destination: &NodeId, sent: Time, sip: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIP_DOMAIN.len() + 52 + sip.len());
    m.extend_from_slice(SIP_DOMAIN);
    m.extend_from_slice(&origin.0);
    m.extend_from_slice(&destination.0);
    m.extend_from_slice(&sent.as_micros().to_be_bytes());
    put_len_prefixed(&mut m, sip);
    m
}

/// The user key's signature over a SIP message from `origin` to
/// `destination` sealed at `sent`.
pub fn sign_sip(
    user: &Identity,
    origin: &NodeId,
    destination: &NodeId,
    sent: Time,
    sip: &[u8],
) -> Sig {
    Sig(user.sign(&sip_signed_bytes(origin, destination, sent, sip)))
}

/// Seals `inner` from `origin` to the node whose Ed25519 public key is
/// `destination_key`, with the one-time secret `ephemeral_secret` (32
/// random bytes, never reused).
pub fn seal(
    inner: &Inner,
    origin: &NodeId,
    destination_key: &[u8; 32],
    ephemeral_secret: [u8; 32],
) -> Result<Vec<u8>, SealError> {
    let plain = postcard::to_allocvec(inner).map_err(|_| SealError::TooLarge)?;
    seal_bytes(&plain, origin, destination_key, ephemeral_secret)
}

/// Seals any bytes as [`seal`] seals an [`Inner`]: for records only the
/// holder of `destination_key` reads (the user's own contact list).
pub fn seal_bytes(
    plain: &[u8],
    origin: &NodeId,
    destination_key: &[u8; 32],
    ephemeral_secret: [u8; 32],
) -> Result<Vec<u8>, SealError> {
    let dest_x = x25519_public_of(destination_key).ok_or(SealError::BadKey)?;
    let ephemeral = MontgomeryPoint::mul_base_clamped(ephemeral_secret).to_bytes();
    let shared = MontgomeryPoint(dest_x)
        .mul_clamped(ephemeral_secret)
        .to_bytes();
    if shared == [0; 32] {
        return Err(SealError::BadKey);
    }
    let destination = chordphone_overlay::node_id_of(destination_key);
    let key = derive_key(&shared, &ephemeral, &dest_x);
    let aad = aad(origin, &destination);
    let ciphertext = ChaCha20Poly1305::new(Key::from_slice(&key))
        .encrypt(
            Nonce::from_slice(&[0; 12]),
            Payload {
                msg: plain,
                aad: &aad,
            },
        )
        .map_err(|_| SealError::TooLarge)?;
    let bytes = postcard::to_allocvec(&Sealed {
        ephemeral,
        ciphertext,
    })
    .map_err(|_| SealError::TooLarge)?;
    if bytes.len() > MAX_APP {
        return Err(SealError::TooLarge);
    }
    Ok(bytes)
}

/// Opens a payload that `origin` sent to `me`. Only decryption and
/// decoding are checked here; what the contents prove is the gate's job.
pub fn open(payload: &[u8], origin: &NodeId, me: &Identity) -> Result<Inner, OpenError> {
    let plain = open_bytes(payload, origin, me)?;
    match postcard::take_from_bytes::<Inner>(&plain) {
        Ok((inner, [])) => Ok(inner),
        _ => Err(OpenError::Malformed),
    }
}

/// The plain bytes of an envelope [`seal_bytes`] made from `origin` to `me`.
pub fn open_bytes(payload: &[u8], origin: &NodeId, me: &Identity) -> Result<Vec<u8>, OpenError> {
    if payload.len() > MAX_APP {
        return Err(OpenError::Garbage);
    }
    let sealed: Sealed = match postcard::take_from_bytes::<Sealed>(payload) {
        Ok((s, [])) => s,
        _ => return Err(OpenError::Garbage),
    };
    let shared = me
        .diffie_hellman_x25519(&sealed.ephemeral)
        .ok_or(OpenError::Undecryptable)?;
    let key = derive_key(&shared, &sealed.ephemeral, &me.x25519_public());
    let aad = aad(origin, &me.node_id());
    ChaCha20Poly1305::new(Key::from_slice(&key))
        .decrypt(
            Nonce::from_slice(&[0; 12]),
            Payload {
                msg: &sealed.ciphertext,
                aad: &aad,
            },
        )
        .map_err(|_| OpenError::Undecryptable)
}

/// The AEAD key: fresh for every message (a new ephemeral key each time),
/// so the all-zero nonce never repeats under one key.
fn derive_key(shared: &[u8; 32], ephemeral: &[u8; 32], destination_x: &[u8; 32]) -> [u8; 32] {
    digest32(&[KEY_DOMAIN, shared, ephemeral, destination_x])
}

/// SHA-512 of the concatenated `parts`, truncated to 32 bytes: the phone's
/// key derivations. SHA-512 rather than SHA-256 because Ed25519 links it
/// into the tab already; a second hash function would only add code.
pub(crate) fn digest32(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha512::new();
    for part in parts {
        h.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(&h.finalize()[..32]);
    out
}

fn aad(origin: &NodeId, destination: &NodeId) -> [u8; 40] {
    let mut a = [0u8; 40];
    a[..20].copy_from_slice(&origin.0);
    a[20..].copy_from_slice(&destination.0);
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use chordphone_overlay::{Id, Kind, Time};

    fn inner(sender: &Identity) -> Inner {
        let claim = Record::sign(
            sender,
            Id::for_key("c"),
            Kind::Single,
            1,
            Time(9),
            Some(vec![1]),
        );
        Inner {
            node_key: sender.public_key(),
            claim,
            sent: Time(1),
            user_sig: Sig([7; 64]),
            sip: b"MESSAGE sip:bob@chordphone SIP/2.0\r\n\r\n".to_vec(),
        }
    }

    /// The derivation is SHA-512 over the parts in order, truncated: both
    /// sides of a call must derive the same key from the same inputs.
    #[test]
    fn digest32_is_truncated_sha512_of_the_concatenation() {
        let whole = Sha512::digest(b"chordphone");
        assert_eq!(digest32(&[b"chord", b"", b"phone"]), whole[..32]);
        assert_eq!(
            digest32(&[]),
            [
                0xcf, 0x83, 0xe1, 0x35, 0x7e, 0xef, 0xb8, 0xbd, 0xf1, 0x54, 0x28, 0x50, 0xd6, 0x6d,
                0x80, 0x07, 0xd6, 0x20, 0xe4, 0x05, 0x0b, 0x57, 0x15, 0xdc, 0x83, 0xf4, 0xa9, 0x21,
                0xd3, 0x6c, 0xe9, 0xce
            ]
        );
    }

    #[test]
    fn only_the_destination_opens_and_only_unchanged() {
        let alice = Identity::from_seed([1; 32]);
        let bob = Identity::from_seed([2; 32]);
        let carol = Identity::from_seed([3; 32]);
        let msg = inner(&alice);
        let from = alice.node_id();
        let bytes = seal(&msg, &from, &bob.public_key(), [42; 32]).expect("seals");
        assert_eq!(open(&bytes, &from, &bob), Ok(msg.clone()));
        // The same secret never gives the same envelope for another destination.
        assert_eq!(open(&bytes, &from, &carol), Err(OpenError::Undecryptable));
        // Claimed for another origin.
        assert_eq!(
            open(&bytes, &carol.node_id(), &bob),
            Err(OpenError::Undecryptable)
        );
        // Any changed byte of the ciphertext.
        let mut sealed: Sealed = postcard::from_bytes(&bytes).expect("decodes");
        let last = sealed.ciphertext.len() - 1;
        sealed.ciphertext[last / 2] ^= 1;
        let altered = postcard::to_allocvec(&sealed).expect("encodes");
        assert_eq!(open(&altered, &from, &bob), Err(OpenError::Undecryptable));
        assert_eq!(open(b"hello", &from, &bob), Err(OpenError::Garbage));
        assert_eq!(open(&[], &from, &bob), Err(OpenError::Garbage));
    }
}
