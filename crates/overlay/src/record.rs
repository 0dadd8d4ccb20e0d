//! Signed records: what the overlay stores.
//!
//! A record is written by the holder of a key pair and signed over every
//! field that matters, so any replica can check it without trusting the node
//! that handed it over. A `Single` key belongs to the first signer that holds
//! it; a `Multi` key (a service such as `service:relay`) keeps one value per
//! signer. A removal is a signed tombstone with a higher version, so a
//! replica that missed it cannot bring the old value back.

use crate::id::Id;
use crate::identity::{verify, Identity, PUBLIC_KEY_BYTES, SIGNATURE_BYTES};
use crate::time::Time;
use core::fmt;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Whether a key holds one value or one value per signer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Kind {
    /// One value; the first signer owns the key until the record expires.
    Single,
    /// One value per signer (service records).
    Multi,
}

/// An Ed25519 signature, serialized as 64 bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sig(pub [u8; SIGNATURE_BYTES]);

impl fmt::Debug for Sig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sig({:02x}{:02x}..)", self.0[0], self.0[1])
    }
}

impl Serialize for Sig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Sig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Sig, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Sig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("64 signature bytes")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Sig, E> {
                let arr: [u8; SIGNATURE_BYTES] = v
                    .try_into()
                    .map_err(|_| E::invalid_length(v.len(), &self))?;
                Ok(Sig(arr))
            }
            fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Sig, E> {
                self.visit_bytes(v)
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Sig, E> {
                self.visit_bytes(&v)
            }
        }
        d.deserialize_bytes(V)
    }
}

/// A signed, expiring value under a key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Where it lives on the ring.
    pub key: Id,
    /// Single- or multi-valued key.
    pub kind: Kind,
    /// The writer's public key; only this key may replace or remove it.
    pub writer: [u8; PUBLIC_KEY_BYTES],
    /// Higher versions replace lower ones from the same writer.
    pub version: u64,
    /// When replicas drop it.
    pub expires: Time,
    /// The value, or `None` for a removal (tombstone).
    pub value: Option<Vec<u8>>,
    /// Signature by `writer` over all fields above.
    pub sig: Sig,
}

const SIGNING_DOMAIN: &[u8] = b"chordphone-record-v1";

impl Record {
    /// Builds and signs a record.
    pub fn sign(
        identity: &Identity,
        key: Id,
        kind: Kind,
        version: u64,
        expires: Time,
        value: Option<Vec<u8>>,
    ) -> Record {
        let writer = identity.public_key();
        let payload = signing_payload(&key, kind, &writer, version, expires, value.as_deref());
        Record {
            key,
            kind,
            writer,
            version,
            expires,
            value,
            sig: Sig(identity.sign(&payload)),
        }
    }

    /// True when the signature matches the writer and every field.
    pub fn verify(&self) -> bool {
        let payload = signing_payload(
            &self.key,
            self.kind,
            &self.writer,
            self.version,
            self.expires,
            self.value.as_deref(),
        );
        verify(&self.writer, &payload, &self.sig.0)
    }

    /// True for a removal.
    pub fn is_tombstone(&self) -> bool {
        self.value.is_none()
    }

    /// Bytes this record costs in memory and on the wire, roughly.
    pub fn size(&self) -> usize {
        20 + 1
            + PUBLIC_KEY_BYTES
            + 8
            + 8
            + SIGNATURE_BYTES
            + self.value.as_ref().map_or(0, Vec::len)
    }
}

/// The bytes a record's signature covers: a fixed layout independent of the
/// wire codec, so a codec change never invalidates stored signatures.
fn signing_payload(
    key: &Id,
    kind: Kind,
    writer: &[u8; PUBLIC_KEY_BYTES],
    version: u64,
    expires: Time,
    value: Option<&[u8]>,
) -> Vec<u8> {
    let vlen = value.map_or(0, <[u8]>::len);
    let mut p = Vec::with_capacity(SIGNING_DOMAIN.len() + 20 + 1 + 32 + 8 + 8 + 1 + 4 + vlen);
    p.extend_from_slice(SIGNING_DOMAIN);
    p.extend_from_slice(&key.0);
    p.push(match kind {
        Kind::Single => 0,
        Kind::Multi => 1,
    });
    p.extend_from_slice(writer);
    p.extend_from_slice(&version.to_be_bytes());
    p.extend_from_slice(&expires.as_micros().to_be_bytes());
    match value {
        None => p.push(0),
        Some(v) => {
            p.push(1);
            p.extend_from_slice(&(v.len() as u32).to_be_bytes());
            p.extend_from_slice(v);
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_changed_field_breaks_the_signature() {
        let id = Identity::from_seed([1; 32]);
        let r = Record::sign(
            &id,
            Id::for_key("k"),
            Kind::Single,
            3,
            Time(99),
            Some(b"v".to_vec()),
        );
        assert!(r.verify());
        let mut bad = r.clone();
        bad.version = 4;
        assert!(!bad.verify());
        let mut bad = r.clone();
        bad.value = Some(b"w".to_vec());
        assert!(!bad.verify());
        let mut bad = r.clone();
        bad.expires = Time(100);
        assert!(!bad.verify());
        let mut bad = r.clone();
        bad.kind = Kind::Multi;
        assert!(!bad.verify());
        let mut bad = r;
        bad.value = None;
        assert!(!bad.verify());
    }
}
