//! Relaying: data from a client to a peer (Send indications, ChannelData)
//! and from a peer to a client (Data indications, ChannelData), under the
//! permissions, the peer address policy and the per-user bandwidth.

use super::{Client, Output, Refusal, Relay, Transport};
use crate::address::{canonical, scope, Scope};
use crate::stun::{self, attr, method, Builder, Class, Message};
use core::net::SocketAddr;
use core::time::Duration;

impl Relay {
    /// Whether data may go to (or come from) `peer`. Internal addresses
    /// pass when allowed, or when `peer` is one of our own relay addresses
    /// (`exact`) or on the IP of one (permissions, which are per IP).
    pub(super) fn peer_allowed(&self, peer: SocketAddr, exact: bool) -> bool {
        let ip = canonical(peer.ip());
        match scope(ip) {
            Scope::Public => return true,
            Scope::Loopback if self.config.allow_loopback => return true,
            Scope::Private if self.config.allow_private => return true,
            _ => {}
        }
        if exact {
            self.by_relay
                .contains_key(&SocketAddr::new(ip, peer.port()))
                || self.by_relay.contains_key(&peer)
        } else {
            self.by_relay.keys().any(|r| canonical(r.ip()) == ip)
        }
    }

    /// Takes `n` bytes from the user's allowance.
    pub(super) fn spend(&mut self, account: &str, n: usize, now: Duration) -> bool {
        let rate = self.config.bandwidth;
        let Some(acc) = self.accounts.get_mut(account) else {
            return false;
        };
        let elapsed = now.saturating_sub(acc.last);
        if now > acc.last {
            acc.last = now;
        }
        let refill =
            u64::try_from(elapsed.as_micros().saturating_mul(u128::from(rate)) / 1_000_000)
                .unwrap_or(u64::MAX);
        acc.tokens = acc
            .tokens
            .saturating_add(refill)
            .min(rate.saturating_mul(2));
        let n = n as u64;
        if acc.tokens >= n {
            acc.tokens -= n;
            true
        } else {
            false
        }
    }

    /// Relays `data` from `client`'s allocation to `peer`, if allowed.
    pub(super) fn relay_out(
        &mut self,
        client: Client,
        peer: SocketAddr,
        data: &[u8],
        now: Duration,
    ) {
        let Some(a) = self.allocations.get(&client) else {
            self.refuse(Refusal::Mismatch);
            return;
        };
        let Some(relay) = a.relay else {
            self.refuse(Refusal::Mismatch);
            return;
        };
        let permitted = a
            .permissions
            .get(&canonical(peer.ip()))
            .is_some_and(|e| *e > now);
        let account = a.account.clone();
        if !permitted {
            self.refuse(Refusal::NoPermission);
            return;
        }
        // Checked again at send time: a relay address allowed when the
        // permission was made may be gone, and a permission is per IP.
        if !self.peer_allowed(peer, true) {
            self.refuse(Refusal::ForbiddenPeer);
            return;
        }
        if !self.spend(&account, data.len(), now) {
            self.refuse(Refusal::Bandwidth);
            return;
        }
        self.stats.relayed_bytes += data.len() as u64;
        self.out.push_back(Output::ToPeer {
            relay,
            peer,
            data: data.to_vec(),
        });
    }

    pub(super) fn send_indication(&mut self, client: Client, msg: &Message<'_>, now: Duration) {
        let (Some(peer), Some(data)) =
            (msg.xor_address(attr::XOR_PEER_ADDRESS), msg.get(attr::DATA))
        else {
            self.refuse(Refusal::BadRequest);
            return;
        };
        self.relay_out(client, peer, data, now);
    }

    pub(super) fn client_channel_data(&mut self, client: Client, bytes: &[u8], now: Duration) {
        let Some((number, data)) = stun::decode_channel_data(bytes) else {
            self.refuse(Refusal::BadRequest);
            return;
        };
        let peer = self
            .allocations
            .get(&client)
            .and_then(|a| a.channels.get(&number))
            .filter(|(_, e)| *e > now)
            .map(|(p, _)| *p);
        match peer {
            Some(peer) => self.relay_out(client, peer, data, now),
            None => self.refuse(Refusal::NoPermission),
        }
    }

    /// A datagram from `peer` to the relay address `relay`.
    pub fn handle_peer(&mut self, relay: SocketAddr, peer: SocketAddr, data: &[u8], now: Duration) {
        let Some(&client) = self.by_relay.get(&relay) else {
            return;
        };
        let Some(a) = self.allocations.get(&client) else {
            return;
        };
        let ip = canonical(peer.ip());
        if a.permissions.get(&ip).is_none_or(|e| *e <= now) {
            self.refuse(Refusal::NoPermission);
            return;
        }
        let channel = a
            .channels
            .iter()
            .find(|(_, (p, e))| canonical(p.ip()) == ip && p.port() == peer.port() && *e > now)
            .map(|(n, _)| *n);
        let account = a.account.clone();
        if !self.spend(&account, data.len(), now) {
            self.refuse(Refusal::Bandwidth);
            return;
        }
        self.stats.relayed_bytes += data.len() as u64;
        let out = match channel {
            Some(n) => stun::encode_channel_data(n, data, client.transport == Transport::Tcp),
            None => {
                // Indications have no transaction to answer: a counter
                // makes their ids distinct, which is all they need.
                self.indications += 1;
                let mut tid = [0u8; 12];
                tid[4..].copy_from_slice(&self.indications.to_be_bytes());
                Builder::new(method::DATA, Class::Indication, tid)
                    .xor_address(attr::XOR_PEER_ADDRESS, peer)
                    .attr(attr::DATA, data)
                    .finish(None)
            }
        };
        self.reply_to(client, out);
    }
}
