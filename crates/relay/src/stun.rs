//! The STUN message format (RFC 8489) with the TURN methods and attributes
//! (RFC 8656), and TURN ChannelData messages.
//!
//! Decoding keeps the input and the position of each attribute, so that
//! MESSAGE-INTEGRITY can be checked over the exact bytes received. Every
//! length is checked against the input; nothing here panics on hostile
//! bytes.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::ops::Range;
use hmac::{Hmac, Mac};
use md5::{Digest as _, Md5};
use sha1::Sha1;

/// The magic cookie of every STUN message.
pub const MAGIC: u32 = 0x2112_A442;
/// Bytes of a STUN header.
pub const HEADER: usize = 20;
/// Most attributes read from one message; more is hostile.
pub const MAX_ATTRS: usize = 32;

/// Methods.
pub mod method {
    /// Binding (what is my address?).
    pub const BINDING: u16 = 0x001;
    /// Allocate a relay address.
    pub const ALLOCATE: u16 = 0x003;
    /// Refresh (or delete, with lifetime 0) an allocation.
    pub const REFRESH: u16 = 0x004;
    /// Send indication: data for a peer.
    pub const SEND: u16 = 0x006;
    /// Data indication: data from a peer.
    pub const DATA: u16 = 0x007;
    /// Install permissions for peer addresses.
    pub const CREATE_PERMISSION: u16 = 0x008;
    /// Bind a channel number to a peer address.
    pub const CHANNEL_BIND: u16 = 0x009;
}

/// Attribute types.
pub mod attr {
    /// USERNAME.
    pub const USERNAME: u16 = 0x0006;
    /// MESSAGE-INTEGRITY (HMAC-SHA1).
    pub const MESSAGE_INTEGRITY: u16 = 0x0008;
    /// ERROR-CODE.
    pub const ERROR_CODE: u16 = 0x0009;
    /// CHANNEL-NUMBER.
    pub const CHANNEL_NUMBER: u16 = 0x000C;
    /// LIFETIME (seconds).
    pub const LIFETIME: u16 = 0x000D;
    /// XOR-PEER-ADDRESS.
    pub const XOR_PEER_ADDRESS: u16 = 0x0012;
    /// DATA.
    pub const DATA: u16 = 0x0013;
    /// REALM.
    pub const REALM: u16 = 0x0014;
    /// NONCE.
    pub const NONCE: u16 = 0x0015;
    /// XOR-RELAYED-ADDRESS.
    pub const XOR_RELAYED_ADDRESS: u16 = 0x0016;
    /// REQUESTED-ADDRESS-FAMILY.
    pub const REQUESTED_ADDRESS_FAMILY: u16 = 0x0017;
    /// REQUESTED-TRANSPORT.
    pub const REQUESTED_TRANSPORT: u16 = 0x0019;
    /// XOR-MAPPED-ADDRESS.
    pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
    /// RESERVATION-TOKEN.
    pub const RESERVATION_TOKEN: u16 = 0x0022;
    /// SOFTWARE.
    pub const SOFTWARE: u16 = 0x8022;
    /// FINGERPRINT.
    pub const FINGERPRINT: u16 = 0x8028;
}

/// Message classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// A request; expects a response.
    Request,
    /// An indication; no response.
    Indication,
    /// A success response.
    Success,
    /// An error response.
    Error,
}

impl Class {
    fn bits(self) -> u16 {
        match self {
            Class::Request => 0b00,
            Class::Indication => 0b01,
            Class::Success => 0b10,
            Class::Error => 0b11,
        }
    }
}

/// Why bytes are not a STUN message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StunError {
    /// Not a STUN message (first bits, cookie or length).
    #[error("not a STUN message")]
    NotStun,
    /// An attribute runs past the end, or there are too many.
    #[error("malformed attributes")]
    Malformed,
}

/// A decoded message, borrowing the bytes it was decoded from.
#[derive(Clone, Debug)]
pub struct Message<'a> {
    /// The method (12 bits).
    pub method: u16,
    /// The class.
    pub class: Class,
    /// The transaction id.
    pub tid: [u8; 12],
    raw: &'a [u8],
    attrs: Vec<(u16, Range<usize>)>,
}

/// Whether `bytes` could be a STUN message (first two bits zero, cookie).
pub fn is_stun(bytes: &[u8]) -> bool {
    bytes.len() >= HEADER && bytes[0] & 0xC0 == 0 && bytes[4..8] == MAGIC.to_be_bytes()
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

impl<'a> Message<'a> {
    /// Decodes one message that fills `bytes` exactly.
    pub fn decode(bytes: &'a [u8]) -> Result<Message<'a>, StunError> {
        if !is_stun(bytes) {
            return Err(StunError::NotStun);
        }
        let typ = u16_at(bytes, 0).ok_or(StunError::NotStun)?;
        let len = usize::from(u16_at(bytes, 2).ok_or(StunError::NotStun)?);
        if len % 4 != 0 || HEADER + len != bytes.len() {
            return Err(StunError::NotStun);
        }
        let method = (typ & 0x000F) | ((typ & 0x00E0) >> 1) | ((typ & 0x3E00) >> 2);
        let class = match ((typ >> 4) & 1) | ((typ >> 7) & 2) {
            0 => Class::Request,
            1 => Class::Indication,
            2 => Class::Success,
            _ => Class::Error,
        };
        let mut tid = [0; 12];
        tid.copy_from_slice(&bytes[8..HEADER]);
        let mut attrs = Vec::new();
        let mut at = HEADER;
        while at < bytes.len() {
            let t = u16_at(bytes, at).ok_or(StunError::Malformed)?;
            let l = usize::from(u16_at(bytes, at + 2).ok_or(StunError::Malformed)?);
            let start = at + 4;
            let end = start + l;
            if end > bytes.len() || attrs.len() >= MAX_ATTRS {
                return Err(StunError::Malformed);
            }
            attrs.push((t, start..end));
            at = start + l.div_ceil(4) * 4;
            // Nothing counts after FINGERPRINT; after MESSAGE-INTEGRITY only
            // FINGERPRINT may follow (RFC 8489 14.5).
            if t == attr::FINGERPRINT {
                break;
            }
        }
        Ok(Message {
            method,
            class,
            tid,
            raw: bytes,
            attrs,
        })
    }

    /// The value of the first attribute of type `t` before any
    /// MESSAGE-INTEGRITY (later ones are not covered by it and are ignored).
    pub fn get(&self, t: u16) -> Option<&'a [u8]> {
        for (typ, r) in &self.attrs {
            if *typ == t {
                return self.raw.get(r.clone());
            }
            if *typ == attr::MESSAGE_INTEGRITY {
                return None;
            }
        }
        None
    }

    /// Every value of attribute type `t` (before MESSAGE-INTEGRITY).
    pub fn all(&self, t: u16) -> Vec<&'a [u8]> {
        self.attrs
            .iter()
            .take_while(|(typ, _)| *typ != attr::MESSAGE_INTEGRITY)
            .filter(|(typ, _)| *typ == t)
            .filter_map(|(_, r)| self.raw.get(r.clone()))
            .collect()
    }

    /// Attribute types present, for unknown-attribute checks.
    pub fn types(&self) -> impl Iterator<Item = u16> + '_ {
        self.attrs.iter().map(|(t, _)| *t)
    }

    /// A UTF-8 attribute.
    pub fn text(&self, t: u16) -> Option<&'a str> {
        core::str::from_utf8(self.get(t)?).ok()
    }

    /// A big-endian 32-bit attribute.
    pub fn u32(&self, t: u16) -> Option<u32> {
        let v = self.get(t)?;
        Some(u32::from_be_bytes(v.get(..4)?.try_into().ok()?))
    }

    /// An XOR-encoded address attribute.
    pub fn xor_address(&self, t: u16) -> Option<SocketAddr> {
        decode_xor(self.get(t)?, &self.tid)
    }

    /// Every XOR-encoded address of type `t`; `None` if one is malformed.
    pub fn xor_addresses(&self, t: u16) -> Option<Vec<SocketAddr>> {
        self.all(t)
            .into_iter()
            .map(|v| decode_xor(v, &self.tid))
            .collect()
    }

    /// The error code of an error response.
    pub fn error_code(&self) -> Option<u16> {
        let v = self.get(attr::ERROR_CODE)?;
        Some(u16::from(*v.get(2)? & 0x7) * 100 + u16::from(*v.get(3)?))
    }

    /// Whether the message carries MESSAGE-INTEGRITY.
    pub fn has_integrity(&self) -> bool {
        self.attrs
            .iter()
            .any(|(t, _)| *t == attr::MESSAGE_INTEGRITY)
    }

    /// Checks MESSAGE-INTEGRITY with `key` (RFC 8489 14.5: the HMAC covers
    /// the message up to the attribute, with the header's length counting
    /// up to and including it).
    pub fn check_integrity(&self, key: &[u8]) -> bool {
        let Some((_, r)) = self
            .attrs
            .iter()
            .find(|(t, _)| *t == attr::MESSAGE_INTEGRITY)
        else {
            return false;
        };
        let (Some(start), Some(value)) = (r.start.checked_sub(4), self.raw.get(r.clone())) else {
            return false;
        };
        if value.len() != 20 {
            return false;
        }
        let Ok(len) = u16::try_from(start - HEADER + 24) else {
            return false;
        };
        let Ok(mut mac) = <Hmac<Sha1> as Mac>::new_from_slice(key) else {
            return false;
        };
        mac.update(&self.raw[..2]);
        mac.update(&len.to_be_bytes());
        mac.update(&self.raw[4..start]);
        mac.verify_slice(value).is_ok()
    }
}

/// The long-term credential key: MD5(username ":" realm ":" password).
pub fn long_term_key(username: &str, realm: &str, password: &str) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(username.as_bytes());
    h.update(b":");
    h.update(realm.as_bytes());
    h.update(b":");
    h.update(password.as_bytes());
    h.finalize().into()
}

fn decode_xor(v: &[u8], tid: &[u8; 12]) -> Option<SocketAddr> {
    let family = *v.get(1)?;
    let port = u16_at(v, 2)? ^ (MAGIC >> 16) as u16;
    match family {
        0x01 => {
            let raw: [u8; 4] = v.get(4..8)?.try_into().ok()?;
            let ip = u32::from_be_bytes(raw) ^ MAGIC;
            Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port))
        }
        0x02 => {
            let mut raw: [u8; 16] = v.get(4..20)?.try_into().ok()?;
            let mut mask = [0u8; 16];
            mask[..4].copy_from_slice(&MAGIC.to_be_bytes());
            mask[4..].copy_from_slice(tid);
            for (b, m) in raw.iter_mut().zip(mask) {
                *b ^= m;
            }
            Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(raw)), port))
        }
        _ => None,
    }
}

fn encode_xor(addr: SocketAddr, tid: &[u8; 12]) -> Vec<u8> {
    let port = addr.port() ^ (MAGIC >> 16) as u16;
    let mut v = Vec::with_capacity(20);
    match addr.ip() {
        IpAddr::V4(ip) => {
            v.extend_from_slice(&[0, 0x01]);
            v.extend_from_slice(&port.to_be_bytes());
            v.extend_from_slice(&(u32::from(ip) ^ MAGIC).to_be_bytes());
        }
        IpAddr::V6(ip) => {
            v.extend_from_slice(&[0, 0x02]);
            v.extend_from_slice(&port.to_be_bytes());
            let mut mask = [0u8; 16];
            mask[..4].copy_from_slice(&MAGIC.to_be_bytes());
            mask[4..].copy_from_slice(tid);
            v.extend(ip.octets().iter().zip(mask).map(|(b, m)| b ^ m));
        }
    }
    v
}

/// Builds one message.
#[derive(Clone, Debug)]
pub struct Builder {
    buf: Vec<u8>,
    tid: [u8; 12],
}

impl Builder {
    /// A message of `method` and `class` with transaction id `tid`.
    pub fn new(method: u16, class: Class, tid: [u8; 12]) -> Builder {
        let m = method & 0x0FFF;
        let c = class.bits();
        let typ = (m & 0x000F)
            | ((m & 0x0070) << 1)
            | ((m & 0x0F80) << 2)
            | ((c & 1) << 4)
            | ((c & 2) << 7);
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&typ.to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&MAGIC.to_be_bytes());
        buf.extend_from_slice(&tid);
        Builder { buf, tid }
    }

    /// Adds an attribute (values over 65,535 bytes are cut: callers bound
    /// what they put in).
    pub fn attr(mut self, t: u16, value: &[u8]) -> Builder {
        let value = &value[..value.len().min(usize::from(u16::MAX))];
        self.buf.extend_from_slice(&t.to_be_bytes());
        self.buf
            .extend_from_slice(&(value.len() as u16).to_be_bytes());
        self.buf.extend_from_slice(value);
        let pad = value.len().div_ceil(4) * 4 - value.len();
        self.buf.extend(core::iter::repeat_n(0, pad));
        self
    }

    /// Adds a big-endian 32-bit attribute.
    pub fn u32(self, t: u16, v: u32) -> Builder {
        self.attr(t, &v.to_be_bytes())
    }

    /// Adds an XOR-encoded address.
    pub fn xor_address(self, t: u16, addr: SocketAddr) -> Builder {
        let v = encode_xor(addr, &self.tid);
        self.attr(t, &v)
    }

    /// Adds an ERROR-CODE with its reason phrase.
    pub fn error(self, code: u16, reason: &str) -> Builder {
        let mut v = vec![0, 0, (code / 100) as u8, (code % 100) as u8];
        v.extend_from_slice(reason.as_bytes());
        self.attr(attr::ERROR_CODE, &v)
    }

    fn set_len(&mut self, extra: usize) {
        let len = (self.buf.len() - HEADER + extra) as u16;
        self.buf[2..4].copy_from_slice(&len.to_be_bytes());
    }

    /// Adds MESSAGE-INTEGRITY (with `key`, if any) and FINGERPRINT, and
    /// returns the bytes.
    pub fn finish(mut self, key: Option<&[u8]>) -> Vec<u8> {
        if let Some(key) = key {
            self.set_len(24);
            if let Ok(mut mac) = <Hmac<Sha1> as Mac>::new_from_slice(key) {
                mac.update(&self.buf);
                let sum = mac.finalize().into_bytes();
                self = self.attr(attr::MESSAGE_INTEGRITY, &sum);
            }
        }
        self.set_len(8);
        let crc = crc32fast::hash(&self.buf) ^ 0x5354_554E;
        self = self.u32(attr::FINGERPRINT, crc);
        self.buf
    }
}

/// The first byte of a ChannelData message is 0x40-0x7F (channel numbers
/// 0x4000-0x7FFF); STUN messages start with two zero bits.
pub fn is_channel_data(bytes: &[u8]) -> bool {
    bytes.first().is_some_and(|b| b & 0xC0 == 0x40)
}

/// A ChannelData message: (channel, data), if well formed. Padding after
/// the data (required over TCP) is allowed.
pub fn decode_channel_data(bytes: &[u8]) -> Option<(u16, &[u8])> {
    if !is_channel_data(bytes) {
        return None;
    }
    let channel = u16_at(bytes, 0)?;
    let len = usize::from(u16_at(bytes, 2)?);
    Some((channel, bytes.get(4..4 + len)?))
}

/// Encodes a ChannelData message; `pad` rounds it up to four bytes (TCP).
pub fn encode_channel_data(channel: u16, data: &[u8], pad: bool) -> Vec<u8> {
    let data = &data[..data.len().min(usize::from(u16::MAX))];
    let mut v = Vec::with_capacity(4 + data.len() + 3);
    v.extend_from_slice(&channel.to_be_bytes());
    v.extend_from_slice(&(data.len() as u16).to_be_bytes());
    v.extend_from_slice(data);
    if pad {
        v.resize(v.len().div_ceil(4) * 4, 0);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_integrity_and_addresses() {
        let tid = [7; 12];
        let key = long_term_key("u", "r", "p");
        let v4: SocketAddr = "192.0.2.1:3478".parse().unwrap();
        let v6: SocketAddr = "[2001:db8::5]:9".parse().unwrap();
        let bytes = Builder::new(method::ALLOCATE, Class::Request, tid)
            .attr(attr::USERNAME, b"u")
            .xor_address(attr::XOR_PEER_ADDRESS, v4)
            .xor_address(attr::XOR_PEER_ADDRESS, v6)
            .u32(attr::LIFETIME, 600)
            .finish(Some(&key));
        let m = Message::decode(&bytes).unwrap();
        assert_eq!(
            (m.method, m.class, m.tid),
            (method::ALLOCATE, Class::Request, tid)
        );
        assert_eq!(m.text(attr::USERNAME), Some("u"));
        assert_eq!(m.xor_addresses(attr::XOR_PEER_ADDRESS), Some(vec![v4, v6]));
        assert_eq!(m.u32(attr::LIFETIME), Some(600));
        assert!(m.check_integrity(&key));
        assert!(!m.check_integrity(&long_term_key("u", "r", "q")));
        // One flipped bit anywhere before the integrity breaks it.
        let mut bad = bytes.clone();
        bad[HEADER + 5] ^= 1;
        assert!(!Message::decode(&bad).unwrap().check_integrity(&key));
    }

    #[test]
    fn error_codes_and_garbage() {
        let bytes = Builder::new(method::ALLOCATE, Class::Error, [1; 12])
            .error(438, "Stale Nonce")
            .finish(None);
        let m = Message::decode(&bytes).unwrap();
        assert_eq!((m.class, m.error_code()), (Class::Error, Some(438)));
        assert!(Message::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut long = bytes.clone();
        long[3] = 0xFC;
        assert!(Message::decode(&long).is_err());
        assert!(Message::decode(&[0; 3]).is_err());
        // An attribute that claims more than there is.
        let mut over = Builder::new(method::BINDING, Class::Request, [1; 12])
            .attr(attr::USERNAME, b"abcd")
            .finish(None);
        over[HEADER + 3] = 200;
        assert_eq!(Message::decode(&over).unwrap_err(), StunError::Malformed);
    }

    #[test]
    fn channel_data() {
        let v = encode_channel_data(0x4001, b"abc", true);
        assert_eq!(v.len(), 8);
        assert_eq!(decode_channel_data(&v), Some((0x4001, &b"abc"[..])));
        assert_eq!(decode_channel_data(&v[..5]), None);
        assert!(!is_channel_data(&[0x00]));
    }
}
