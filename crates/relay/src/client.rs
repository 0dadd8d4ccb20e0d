//! The requests a TURN client sends, for tests and tools: a real client
//! (a browser) has its own. Each takes the transaction id from the caller.

use crate::stun::{self, attr, method, Builder, Class, Message};
use core::net::SocketAddr;

/// What a client learned from the server's 401 and its credential.
#[derive(Clone, Debug)]
pub struct Auth {
    /// The REST username.
    pub username: String,
    /// The realm the server named.
    pub realm: String,
    /// The nonce the server gave.
    pub nonce: String,
    /// MD5(username:realm:password).
    pub key: [u8; 16],
}

impl Auth {
    /// Credentials plus the realm and nonce of a 401 or 438 response;
    /// `None` if the response has neither.
    pub fn from_challenge(username: &str, password: &str, challenge: &Message<'_>) -> Option<Auth> {
        let realm = challenge.text(attr::REALM)?.to_owned();
        let nonce = challenge.text(attr::NONCE)?.to_owned();
        Some(Auth {
            key: stun::long_term_key(username, &realm, password),
            username: username.to_owned(),
            realm,
            nonce,
        })
    }

    fn sign(&self, b: Builder) -> Vec<u8> {
        b.attr(attr::USERNAME, self.username.as_bytes())
            .attr(attr::REALM, self.realm.as_bytes())
            .attr(attr::NONCE, self.nonce.as_bytes())
            .finish(Some(&self.key))
    }
}

fn finish(b: Builder, auth: Option<&Auth>) -> Vec<u8> {
    match auth {
        Some(a) => a.sign(b),
        None => b.finish(None),
    }
}

/// An Allocate request for a UDP relay.
pub fn allocate(tid: [u8; 12], auth: Option<&Auth>) -> Vec<u8> {
    let b = Builder::new(method::ALLOCATE, Class::Request, tid)
        .attr(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
    finish(b, auth)
}

/// A Refresh request; lifetime 0 deletes the allocation.
pub fn refresh(tid: [u8; 12], lifetime: u32, auth: &Auth) -> Vec<u8> {
    auth.sign(Builder::new(method::REFRESH, Class::Request, tid).u32(attr::LIFETIME, lifetime))
}

/// A CreatePermission request for `peer`'s IP.
pub fn create_permission(tid: [u8; 12], peer: SocketAddr, auth: &Auth) -> Vec<u8> {
    auth.sign(
        Builder::new(method::CREATE_PERMISSION, Class::Request, tid)
            .xor_address(attr::XOR_PEER_ADDRESS, peer),
    )
}

/// A ChannelBind request binding `channel` (0x4000-0x7FFE) to `peer`.
pub fn channel_bind(tid: [u8; 12], channel: u16, peer: SocketAddr, auth: &Auth) -> Vec<u8> {
    auth.sign(
        Builder::new(method::CHANNEL_BIND, Class::Request, tid)
            .u32(attr::CHANNEL_NUMBER, u32::from(channel) << 16)
            .xor_address(attr::XOR_PEER_ADDRESS, peer),
    )
}

/// A Send indication carrying `data` to `peer`.
pub fn send(tid: [u8; 12], peer: SocketAddr, data: &[u8]) -> Vec<u8> {
    Builder::new(method::SEND, Class::Indication, tid)
        .xor_address(attr::XOR_PEER_ADDRESS, peer)
        .attr(attr::DATA, data)
        .finish(None)
}

/// A Data indication's (peer, data), if `bytes` is one.
pub fn data_indication(bytes: &[u8]) -> Option<(SocketAddr, Vec<u8>)> {
    let m = Message::decode(bytes).ok()?;
    if (m.class, m.method) != (Class::Indication, method::DATA) {
        return None;
    }
    Some((
        m.xor_address(attr::XOR_PEER_ADDRESS)?,
        m.get(attr::DATA)?.to_vec(),
    ))
}
