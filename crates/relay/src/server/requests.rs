//! The requests on an allocation: Allocate, Refresh, CreatePermission,
//! ChannelBind, and the shell's answer to `OpenRelay`.

use super::{
    Account, Allocation, Authed, Client, Output, Refusal, Relay, RelayError, CHANNEL_LIFETIME,
    PERMISSION_LIFETIME, SOFTWARE, SWEEP,
};
use crate::address::canonical;
use crate::stun::{attr, method, Builder, Class, Message};
use core::net::SocketAddr;
use core::time::Duration;
use std::collections::BTreeMap;

impl Relay {
    pub(super) fn success(
        &mut self,
        client: Client,
        msg: &Message<'_>,
        key: &[u8],
        add: impl FnOnce(Builder) -> Builder,
    ) {
        let b = add(Builder::new(msg.method, Class::Success, msg.tid));
        let reply = b.attr(attr::SOFTWARE, SOFTWARE).finish(Some(key));
        self.reply_to(client, reply);
    }

    pub(super) fn lifetime(&self, msg: &Message<'_>) -> Duration {
        msg.u32(attr::LIFETIME)
            .map_or(self.config.default_lifetime, |s| {
                Duration::from_secs(u64::from(s))
            })
            .min(self.config.max_lifetime)
    }

    pub(super) fn allocate(
        &mut self,
        client: Client,
        msg: &Message<'_>,
        authed: Authed,
        now: Duration,
    ) {
        if let Some(a) = self.allocations.get(&client) {
            // A retransmission of the request that made it is answered
            // again; anything else is a second allocation on one 5-tuple.
            if a.tid == msg.tid {
                if let Some(relay) = a.relay {
                    let left = a.expires.saturating_sub(now).as_secs();
                    let key = a.key;
                    self.allocated_reply(client, msg.tid, relay, left, &key);
                }
                return;
            }
            self.refuse(Refusal::Mismatch);
            self.error(client, msg, 437, "Allocation Mismatch", Some(&authed.key));
            return;
        }
        if msg
            .get(attr::REQUESTED_TRANSPORT)
            .and_then(|v| v.first().copied())
            != Some(17)
        {
            self.refuse(Refusal::BadRequest);
            let code = if msg.get(attr::REQUESTED_TRANSPORT).is_some() {
                442
            } else {
                400
            };
            self.error(
                client,
                msg,
                code,
                "Unsupported Transport Protocol",
                Some(&authed.key),
            );
            return;
        }
        if msg.get(attr::RESERVATION_TOKEN).is_some() {
            self.refuse(Refusal::BadRequest);
            self.error(client, msg, 508, "Insufficient Capacity", Some(&authed.key));
            return;
        }
        let ipv6 = msg
            .get(attr::REQUESTED_ADDRESS_FAMILY)
            .and_then(|v| v.first().copied())
            == Some(0x02);
        let per_user = self
            .accounts
            .get(&authed.account)
            .map_or(0, |a| a.allocations);
        if per_user >= self.config.max_allocations_per_user {
            self.refuse(Refusal::UserQuota);
            self.error(
                client,
                msg,
                486,
                "Allocation Quota Reached",
                Some(&authed.key),
            );
            return;
        }
        if self.allocations.len() >= self.config.max_allocations {
            self.refuse(Refusal::Capacity);
            self.error(client, msg, 508, "Insufficient Capacity", Some(&authed.key));
            return;
        }
        let burst = self.config.bandwidth.saturating_mul(2);
        let account = self
            .accounts
            .entry(authed.account.clone())
            .or_insert(Account {
                allocations: 0,
                tokens: burst,
                last: now,
            });
        account.allocations += 1;
        let lifetime = self.lifetime(msg);
        self.allocations.insert(
            client,
            Allocation {
                tid: msg.tid,
                relay: None,
                account: authed.account,
                key: authed.key,
                expires: now + lifetime.max(Duration::from_secs(1)),
                permissions: BTreeMap::new(),
                channels: BTreeMap::new(),
            },
        );
        self.stats.allocations = self.allocations.len();
        if self.next_sweep.is_none() {
            self.next_sweep = Some(now + SWEEP);
        }
        self.out.push_back(Output::OpenRelay { client, ipv6 });
    }

    pub(super) fn allocated_reply(
        &mut self,
        client: Client,
        tid: [u8; 12],
        relay: SocketAddr,
        lifetime: u64,
        key: &[u8],
    ) {
        let reply = Builder::new(method::ALLOCATE, Class::Success, tid)
            .xor_address(attr::XOR_RELAYED_ADDRESS, relay)
            .xor_address(attr::XOR_MAPPED_ADDRESS, client.addr)
            .u32(attr::LIFETIME, u32::try_from(lifetime).unwrap_or(u32::MAX))
            .attr(attr::SOFTWARE, SOFTWARE)
            .finish(Some(key));
        self.reply_to(client, reply);
    }

    /// The shell opened (or failed to open) the relay socket asked for by
    /// [`Output::OpenRelay`].
    pub fn relay_opened(
        &mut self,
        client: Client,
        result: Result<SocketAddr, RelayError>,
        now: Duration,
    ) {
        let Some(a) = self.allocations.get_mut(&client) else {
            // The client went away meanwhile.
            if let Ok(relay) = result {
                self.out.push_back(Output::CloseRelay { relay });
            }
            return;
        };
        let (tid, key) = (a.tid, a.key);
        match result {
            Ok(relay) => {
                a.relay = Some(relay);
                let left = a.expires.saturating_sub(now).as_secs();
                self.by_relay.insert(relay, client);
                self.stats.allocated += 1;
                self.allocated_reply(client, tid, relay, left, &key);
            }
            Err(e) => {
                self.remove(client);
                self.refuse(Refusal::Capacity);
                let (code, reason) = match e {
                    RelayError::Family => (440, "Address Family not Supported"),
                    RelayError::Capacity => (508, "Insufficient Capacity"),
                };
                let reply = Builder::new(method::ALLOCATE, Class::Error, tid)
                    .error(code, reason)
                    .attr(attr::SOFTWARE, SOFTWARE)
                    .finish(Some(&key));
                self.reply_to(client, reply);
            }
        }
    }

    /// Whether the client has a ready allocation that the request's user
    /// owns; answers 437 otherwise.
    pub(super) fn owned(&mut self, client: Client, msg: &Message<'_>, authed: &Authed) -> bool {
        let ok = self
            .allocations
            .get(&client)
            .is_some_and(|a| a.relay.is_some() && a.account == authed.account);
        if !ok {
            self.refuse(Refusal::Mismatch);
            self.error(client, msg, 437, "Allocation Mismatch", Some(&authed.key));
        }
        ok
    }

    pub(super) fn refresh(
        &mut self,
        client: Client,
        msg: &Message<'_>,
        authed: &Authed,
        now: Duration,
    ) {
        let lifetime = self.lifetime(msg);
        if lifetime.is_zero() {
            self.remove(client);
        } else if let Some(a) = self.allocations.get_mut(&client) {
            a.expires = now + lifetime;
        }
        let secs = u32::try_from(lifetime.as_secs()).unwrap_or(u32::MAX);
        self.success(client, msg, &authed.key, |b| b.u32(attr::LIFETIME, secs));
    }

    pub(super) fn create_permission(
        &mut self,
        client: Client,
        msg: &Message<'_>,
        authed: &Authed,
        now: Duration,
    ) {
        let peers = match msg.xor_addresses(attr::XOR_PEER_ADDRESS) {
            Some(p) if !p.is_empty() => p,
            _ => {
                self.refuse(Refusal::BadRequest);
                self.error(client, msg, 400, "Bad Request", Some(&authed.key));
                return;
            }
        };
        if peers.iter().any(|p| !self.peer_allowed(*p, false)) {
            self.refuse(Refusal::ForbiddenPeer);
            self.error(client, msg, 403, "Forbidden", Some(&authed.key));
            return;
        }
        let max = self.config.max_permissions;
        let Some(a) = self.allocations.get_mut(&client) else {
            return;
        };
        let new = peers
            .iter()
            .filter(|p| !a.permissions.contains_key(&canonical(p.ip())))
            .count();
        if a.permissions.len() + new > max {
            self.refuse(Refusal::Capacity);
            self.error(client, msg, 508, "Insufficient Capacity", Some(&authed.key));
            return;
        }
        for p in peers {
            a.permissions
                .insert(canonical(p.ip()), now + PERMISSION_LIFETIME);
        }
        self.success(client, msg, &authed.key, |b| b);
    }

    pub(super) fn channel_bind(
        &mut self,
        client: Client,
        msg: &Message<'_>,
        authed: &Authed,
        now: Duration,
    ) {
        let number = msg.u32(attr::CHANNEL_NUMBER).map(|v| (v >> 16) as u16);
        let (Some(number), Some(peer)) = (number, msg.xor_address(attr::XOR_PEER_ADDRESS)) else {
            self.refuse(Refusal::BadRequest);
            self.error(client, msg, 400, "Bad Request", Some(&authed.key));
            return;
        };
        // RFC 8656 narrowed the range to 0x4FFF; RFC 5766 clients use up
        // to 0x7FFE, and refusing them breaks them for nothing.
        if !(0x4000..=0x7FFE).contains(&number) {
            self.refuse(Refusal::BadRequest);
            self.error(client, msg, 400, "Bad Request", Some(&authed.key));
            return;
        }
        if !self.peer_allowed(peer, true) {
            self.refuse(Refusal::ForbiddenPeer);
            self.error(client, msg, 403, "Forbidden", Some(&authed.key));
            return;
        }
        let (max_ch, max_perm) = (self.config.max_channels, self.config.max_permissions);
        let Some(a) = self.allocations.get_mut(&client) else {
            return;
        };
        // A number is bound to one peer and a peer to one number.
        let conflict = a.channels.get(&number).is_some_and(|(p, _)| *p != peer)
            || a.channels
                .iter()
                .any(|(n, (p, _))| *p == peer && *n != number);
        let full = !a.channels.contains_key(&number) && a.channels.len() >= max_ch
            || !a.permissions.contains_key(&canonical(peer.ip()))
                && a.permissions.len() >= max_perm;
        if conflict || full {
            let (why, code, reason) = if conflict {
                (Refusal::BadRequest, 400, "Bad Request")
            } else {
                (Refusal::Capacity, 508, "Insufficient Capacity")
            };
            self.refuse(why);
            self.error(client, msg, code, reason, Some(&authed.key));
            return;
        }
        a.channels.insert(number, (peer, now + CHANNEL_LIFETIME));
        a.permissions
            .insert(canonical(peer.ip()), now + PERMISSION_LIFETIME);
        self.success(client, msg, &authed.key, |b| b);
    }
}
