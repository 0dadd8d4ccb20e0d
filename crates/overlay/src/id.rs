//! 160-bit identifiers on the Chord ring and the arithmetic on them.
//!
//! Identifiers are big-endian unsigned integers modulo 2^160. Keys and node
//! ids share the space: a key is owned by its *successor*, the first node id
//! at or after it going clockwise.

use core::fmt;
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

/// Number of bits in an identifier.
pub const ID_BITS: usize = 160;
/// Number of bytes in an identifier.
pub const ID_BYTES: usize = 20;

/// A point on the ring: a node id or a key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Id(pub [u8; ID_BYTES]);

impl Ord for Id {
    fn cmp(&self, other: &Id) -> core::cmp::Ordering {
        // Word-wise comparison: ids are compared on every routing step and
        // map access, and this beats a byte-wise memcmp call.
        self.words().cmp(&other.words())
    }
}

impl PartialOrd for Id {
    fn partial_cmp(&self, other: &Id) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// A node's identifier (SHA-1 of its public key).
pub type NodeId = Id;

impl Id {
    /// The zero identifier.
    pub const ZERO: Id = Id([0; ID_BYTES]);
    /// The largest identifier, 2^160 - 1.
    pub const MAX: Id = Id([0xff; ID_BYTES]);

    /// SHA-1 of arbitrary bytes: how keys and node ids are made.
    pub fn hash(bytes: &[u8]) -> Id {
        let digest = Sha1::digest(bytes);
        let mut out = [0u8; ID_BYTES];
        out.copy_from_slice(&digest);
        Id(out)
    }

    /// The overlay key for a name: SHA-1 of its UTF-8 bytes.
    pub fn for_key(name: &str) -> Id {
        Id::hash(name.as_bytes())
    }

    /// Builds an id whose top 64 bits are `v` (handy in tests: ids in order).
    pub fn from_u64_top(v: u64) -> Id {
        let mut out = [0u8; ID_BYTES];
        out[..8].copy_from_slice(&v.to_be_bytes());
        Id(out)
    }

    /// The top 64 bits, for cheap approximate distances and statistics.
    pub fn top_u64(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[..8]);
        u64::from_be_bytes(b)
    }

    /// The id as (top 32 bits, low 128 bits).
    fn words(&self) -> (u32, u128) {
        let mut hi = [0u8; 4];
        hi.copy_from_slice(&self.0[..4]);
        let mut lo = [0u8; 16];
        lo.copy_from_slice(&self.0[4..]);
        (u32::from_be_bytes(hi), u128::from_be_bytes(lo))
    }

    fn from_words(hi: u32, lo: u128) -> Id {
        let mut out = [0u8; ID_BYTES];
        out[..4].copy_from_slice(&hi.to_be_bytes());
        out[4..].copy_from_slice(&lo.to_be_bytes());
        Id(out)
    }

    /// `self + 2^bit` modulo 2^160 (`bit` < 160): the start of finger `bit`.
    pub fn add_pow2(&self, bit: usize) -> Id {
        debug_assert!(bit < ID_BITS);
        let (hi, lo) = if bit < 128 {
            (0, 1u128 << bit)
        } else {
            (1u32 << (bit - 128), 0)
        };
        self.wrapping_add(&Id::from_words(hi, lo))
    }

    /// `self + other` modulo 2^160.
    pub fn wrapping_add(&self, other: &Id) -> Id {
        let (ah, al) = self.words();
        let (bh, bl) = other.words();
        let (lo, carry) = al.overflowing_add(bl);
        Id::from_words(ah.wrapping_add(bh).wrapping_add(u32::from(carry)), lo)
    }

    /// `self - other` modulo 2^160: the clockwise distance from `other` to `self`.
    pub fn wrapping_sub(&self, other: &Id) -> Id {
        let (hi, lo) = sub_words(self.words(), other.words());
        Id::from_words(hi, lo)
    }

    /// Clockwise distance from `self` to `to`.
    pub fn distance_to(&self, to: &Id) -> Id {
        to.wrapping_sub(self)
    }

    /// `self` in the open interval (a, b) going clockwise. When a == b the
    /// interval is the whole ring except a.
    pub fn in_open(&self, a: &Id, b: &Id) -> bool {
        let (aw, bw, sw) = (a.words(), b.words(), self.words());
        if aw == bw {
            return sw != aw;
        }
        let d_self = sub_words(sw, aw);
        d_self != (0, 0) && d_self < sub_words(bw, aw)
    }

    /// `self` in the half-open interval (a, b] going clockwise. When a == b
    /// the interval is the whole ring.
    pub fn in_half_open(&self, a: &Id, b: &Id) -> bool {
        let (aw, bw, sw) = (a.words(), b.words(), self.words());
        if aw == bw {
            return true;
        }
        let d_self = sub_words(sw, aw);
        d_self != (0, 0) && d_self <= sub_words(bw, aw)
    }

    /// Clockwise distance from `self` to `to` as a comparable pair of words
    /// (cheaper than [`Id::distance_to`] where only the order matters).
    pub fn distance_key(&self, to: &Id) -> (u32, u128) {
        sub_words(to.words(), self.words())
    }

    /// True for the zero id.
    pub fn is_zero(&self) -> bool {
        self.0.iter().all(|b| *b == 0)
    }

    /// Lowercase hex, 40 digits.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(ID_BYTES * 2);
        for b in self.0 {
            s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
            s.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
        }
        s
    }

    /// Parses 40 hex digits (either case).
    pub fn from_hex(s: &str) -> Option<Id> {
        let bytes = s.as_bytes();
        if bytes.len() != ID_BYTES * 2 {
            return None;
        }
        let mut out = [0u8; ID_BYTES];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Some(Id(out))
    }
}

/// `a - b` modulo 2^160 on (top 32 bits, low 128 bits) pairs.
fn sub_words(a: (u32, u128), b: (u32, u128)) -> (u32, u128) {
    let (lo, borrow) = a.1.overflowing_sub(b.1);
    (a.0.wrapping_sub(b.0).wrapping_sub(u32::from(borrow)), lo)
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Eight digits tell ids apart in logs; full hex via Display.
        write!(f, "{}", &self.to_hex()[..8])
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(v: u64) -> Id {
        Id::from_u64_top(v)
    }

    #[test]
    fn intervals_wrap_around_zero() {
        assert!(id(5).in_open(&id(1), &id(10)));
        assert!(!id(10).in_open(&id(1), &id(10)));
        assert!(id(10).in_half_open(&id(1), &id(10)));
        assert!(!id(1).in_half_open(&id(1), &id(10)));
        // (10, 1) wraps through zero.
        assert!(id(0).in_open(&id(10), &id(1)));
        assert!(id(u64::MAX).in_open(&id(10), &id(1)));
        assert!(!id(5).in_open(&id(10), &id(1)));
        // a == b: whole ring (minus a for the open interval).
        assert!(id(3).in_open(&id(7), &id(7)));
        assert!(!id(7).in_open(&id(7), &id(7)));
        assert!(id(7).in_half_open(&id(7), &id(7)));
    }

    #[test]
    fn add_and_sub_are_inverse_modulo_ring() {
        let a = Id::hash(b"a");
        let b = Id::hash(b"b");
        assert_eq!(a.wrapping_add(&b).wrapping_sub(&b), a);
        assert_eq!(
            Id::MAX.wrapping_add(&Id::from_u64_top(0).add_pow2(0)),
            Id::ZERO
        );
        assert_eq!(Id::ZERO.add_pow2(159), id(1 << 63));
        assert_eq!(Id::ZERO.add_pow2(0).0[19], 1);
    }

    #[test]
    fn carries_cross_the_word_boundary() {
        let low_max = Id::from_words(0, u128::MAX);
        assert_eq!(low_max.add_pow2(0), Id::from_words(1, 0));
        assert_eq!(
            Id::from_words(1, 0).wrapping_sub(&Id::ZERO.add_pow2(0)),
            low_max
        );
        assert_eq!(Id::ZERO.wrapping_sub(&Id::ZERO.add_pow2(0)), Id::MAX);
        assert!(Id::from_words(1, 0) > low_max);
        assert!(Id::from_words(0, 5) < Id::from_words(0, 6));
    }

    #[test]
    fn hex_round_trips_and_sha1_matches_known_vector() {
        let h = Id::for_key("abc");
        assert_eq!(h.to_hex(), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(Id::from_hex(&h.to_hex()), Some(h));
        assert_eq!(Id::from_hex("xyz"), None);
        assert_eq!(Id::from_hex(&"g".repeat(40)), None);
    }
}
