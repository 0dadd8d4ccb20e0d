//! `GET /ice`: the ICE server settings a peer passes to RTCPeerConnection,
//! with TURN credentials issued for it on the spot.
//!
//! Credentials follow the TURN REST scheme (`chordphone_relay::credential`),
//! so the embedded relay and any coturn sharing a configured secret accept
//! them. The user part is the client's IP address (its `:` written as `-`),
//! followed by `/` and the peer's node id when the tab names it
//! (`?peer=<40 hex digits>`): relays count allocations and bandwidth per IP
//! address, the part before the `/`. Each IP address may ask `ice_rate`
//! times a minute; the table that counts is bounded.

use crate::clock;
use crate::rate::Bucket;
use chordphone_relay::credential;
use serde_json::json;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Most client addresses the rate table remembers.
const MAX_CLIENTS: usize = 4096;

/// One group of URLs behind one secret.
#[derive(Clone, Debug)]
pub struct IceServer {
    /// `turn:` / `turns:` / `stun:` URLs.
    pub urls: Vec<String>,
    /// Shared with the relays.
    pub secret: Vec<u8>,
}

/// Issues ICE settings to peers.
#[derive(Debug)]
pub struct Ice {
    servers: Vec<IceServer>,
    lifetime: u64,
    rate: u32,
    clients: Mutex<BTreeMap<IpAddr, Bucket>>,
}

/// Why `/ice` refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IceRefusal {
    /// The address asked too often.
    RateLimited,
    /// The `peer` parameter is not a node id.
    BadPeer,
}

impl Ice {
    /// An issuer for `servers`, with credentials living `lifetime` seconds.
    pub fn new(servers: Vec<IceServer>, lifetime: u64, rate: u32) -> Ice {
        Ice {
            servers,
            lifetime,
            rate,
            clients: Mutex::new(BTreeMap::new()),
        }
    }

    /// Whether `ip` may ask now; counts the request.
    fn admit(&self, ip: IpAddr) -> bool {
        let now = clock::now();
        let Ok(mut clients) = self.clients.lock() else {
            return false;
        };
        if !clients.contains_key(&ip) && clients.len() >= MAX_CLIENTS {
            // Forget addresses whose allowance is whole again: they lose
            // nothing. If none is, the table is under attack: refuse.
            clients.retain(|_, b| !b.is_full(now));
            if clients.len() >= MAX_CLIENTS {
                return false;
            }
        }
        clients
            .entry(ip)
            .or_insert_with(|| Bucket::per_minute(self.rate, now))
            .take(now)
    }

    /// The `/ice` document for a client at `ip`, naming `peer` (the query
    /// string, if any).
    pub fn issue(&self, ip: IpAddr, query: Option<&str>) -> Result<serde_json::Value, IceRefusal> {
        let peer = query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .find_map(|kv| kv.strip_prefix("peer="));
        if let Some(p) = peer {
            if p.len() != 40 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(IceRefusal::BadPeer);
            }
        }
        if !self.admit(ip) {
            return Err(IceRefusal::RateLimited);
        }
        let ip = chordphone_relay::address::canonical(ip);
        let mut user = ip.to_string().replace(':', "-");
        if let Some(p) = peer {
            user.push('/');
            user.push_str(&p.to_ascii_lowercase());
        }
        let now = clock::since_epoch().as_secs();
        let mut servers = Vec::with_capacity(self.servers.len());
        let mut expires = now + self.lifetime;
        for s in &self.servers {
            // The user part is made above from an address and hex digits:
            // always acceptable, but never panic on it.
            let Ok(c) = credential::issue(&s.secret, &user, now, self.lifetime) else {
                continue;
            };
            expires = c.expires;
            servers.push(json!({
                "urls": s.urls,
                "username": c.username,
                "credential": c.password,
            }));
        }
        Ok(json!({
            "iceServers": servers,
            "expires": expires,
            "ttl": self.lifetime,
            "renewAfter": credential::renew_at(now, expires) - now,
        }))
    }
}
