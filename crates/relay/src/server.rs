//! A sans-IO TURN server core (RFC 8656): allocations with UDP relay
//! addresses for clients on UDP or TCP, permissions, channels, Send and
//! Data indications, authenticated with TURN REST credentials.
//!
//! The shell owns the sockets. It passes what a client sent
//! ([`Relay::handle_client`]), what a peer sent to a relay address
//! ([`Relay::handle_peer`]), a relay socket it opened on request
//! ([`Relay::relay_opened`]) and a TCP client that went away
//! ([`Relay::client_gone`]), then carries out [`Relay::poll_output`] until it
//! returns `None` and calls [`Relay::handle_timeout`] at
//! [`Relay::poll_timeout`].
//!
//! Policy, because an open relay is a way into the network it runs in:
//! every request but Binding needs a credential signed with the secret and
//! not expired; allocations and bandwidth are limited per user (the user
//! part of the credential up to its first `/`, so one account cannot
//! multiply itself by naming many peers); peers in loopback or private
//! ranges are refused unless allowed, except this relay's own relay
//! addresses, so that two clients of the same relay always reach each
//! other. Every refusal is counted in [`Stats`].

use crate::address::{canonical, scope, Scope};
use crate::credential::{self, CredentialError};
use crate::stun::{self, attr, method, Builder, Class, Message};
use core::net::{IpAddr, SocketAddr};
use core::time::Duration;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use std::collections::{BTreeMap, VecDeque};

/// How long a permission lives without a refresh (RFC 8656: 300 s).
const PERMISSION_LIFETIME: Duration = Duration::from_secs(300);
/// How long a channel binding lives without a refresh (RFC 8656: 600 s).
const CHANNEL_LIFETIME: Duration = Duration::from_secs(600);
/// How often expired allocations are swept.
const SWEEP: Duration = Duration::from_secs(1);
/// The SOFTWARE attribute of our responses.
const SOFTWARE: &[u8] = b"chordphone-relay";

/// The relay's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// The realm clients put in their requests.
    pub realm: String,
    /// The secret credentials are signed with.
    pub secret: Vec<u8>,
    /// Relay to loopback peers (127.0.0.0/8, ::1).
    pub allow_loopback: bool,
    /// Relay to private peers (RFC 1918, link-local, unique local...).
    pub allow_private: bool,
    /// Most allocations at once.
    pub max_allocations: usize,
    /// Most allocations of one user at once.
    pub max_allocations_per_user: usize,
    /// Bytes per second one user may relay, both directions together
    /// (bursts of twice this).
    pub bandwidth: u64,
    /// Most permissions (peer IPs) per allocation.
    pub max_permissions: usize,
    /// Most channels per allocation.
    pub max_channels: usize,
    /// Allocation lifetime when the client asks for none.
    pub default_lifetime: Duration,
    /// Longest allocation lifetime granted.
    pub max_lifetime: Duration,
    /// How long a nonce stays fresh.
    pub nonce_lifetime: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            realm: "chordphone".to_owned(),
            secret: Vec::new(),
            allow_loopback: false,
            allow_private: false,
            max_allocations: 1024,
            max_allocations_per_user: 8,
            bandwidth: 512 * 1024,
            max_permissions: 32,
            max_channels: 32,
            default_lifetime: Duration::from_secs(600),
            max_lifetime: Duration::from_secs(3600),
            nonce_lifetime: Duration::from_secs(3600),
        }
    }
}

/// The client's transport to the relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Transport {
    /// UDP: datagrams.
    Udp,
    /// TCP: a stream; ChannelData is padded.
    Tcp,
}

/// A client: its transport and address (the 5-tuple, the relay's own
/// listening address being fixed per transport).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Client {
    /// UDP or TCP.
    pub transport: Transport,
    /// Its address as the relay sees it.
    pub addr: SocketAddr,
}

/// What the shell must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send bytes to a client.
    ToClient {
        /// The client.
        client: Client,
        /// One message.
        data: Vec<u8>,
    },
    /// Send a datagram from a relay address to a peer.
    ToPeer {
        /// The relay address (its socket).
        relay: SocketAddr,
        /// The peer.
        peer: SocketAddr,
        /// The payload.
        data: Vec<u8>,
    },
    /// Open a UDP relay socket for `client`, then call
    /// [`Relay::relay_opened`].
    OpenRelay {
        /// Whose allocation.
        client: Client,
        /// IPv6 requested (REQUESTED-ADDRESS-FAMILY).
        ipv6: bool,
    },
    /// Close the relay socket with this address.
    CloseRelay {
        /// Its address.
        relay: SocketAddr,
    },
}

/// Why the shell could not open a relay socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    /// The requested address family is not available.
    #[error("address family not supported")]
    Family,
    /// No socket could be had.
    #[error("insufficient capacity")]
    Capacity,
}

/// Why a request or a packet was refused; each is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The credential's signature is wrong (or the username malformed).
    BadCredential,
    /// The credential has expired.
    Expired,
    /// The nonce was stale or not ours (the client retries with a new one).
    StaleNonce,
    /// The user has as many allocations as allowed.
    UserQuota,
    /// The relay has as many allocations, permissions or channels as allowed.
    Capacity,
    /// A peer address in a loopback or private range.
    ForbiddenPeer,
    /// Over the user's bandwidth.
    Bandwidth,
    /// Data to or from a peer without a permission.
    NoPermission,
    /// A request about an allocation the client does not have, or a
    /// second allocation.
    Mismatch,
    /// A malformed or unsupported request.
    BadRequest,
}

impl Refusal {
    /// Every refusal, in the order of [`Stats::refused`].
    pub const ALL: [Refusal; 10] = [
        Refusal::BadCredential,
        Refusal::Expired,
        Refusal::StaleNonce,
        Refusal::UserQuota,
        Refusal::Capacity,
        Refusal::ForbiddenPeer,
        Refusal::Bandwidth,
        Refusal::NoPermission,
        Refusal::Mismatch,
        Refusal::BadRequest,
    ];

    /// A metric label.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::BadCredential => "bad_credential",
            Refusal::Expired => "expired",
            Refusal::StaleNonce => "stale_nonce",
            Refusal::UserQuota => "user_quota",
            Refusal::Capacity => "capacity",
            Refusal::ForbiddenPeer => "forbidden_peer",
            Refusal::Bandwidth => "bandwidth",
            Refusal::NoPermission => "no_permission",
            Refusal::Mismatch => "mismatch",
            Refusal::BadRequest => "bad_request",
        }
    }

    fn index(self) -> usize {
        Refusal::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// Counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Allocations open now.
    pub allocations: usize,
    /// Allocations granted since the start.
    pub allocated: u64,
    /// Requests and packets refused, by [`Refusal`] in `Refusal::ALL` order.
    pub refused: [u64; Refusal::ALL.len()],
    /// Payload bytes relayed, both directions.
    pub relayed_bytes: u64,
}

impl Stats {
    /// How many of one refusal.
    pub fn refusals(&self, why: Refusal) -> u64 {
        self.refused[why.index()]
    }
}

/// One user's allowance.
#[derive(Debug)]
struct Account {
    allocations: usize,
    /// Bytes available (bursts up to twice the rate).
    tokens: u64,
    last: Duration,
}

#[derive(Debug)]
struct Allocation {
    tid: [u8; 12],
    relay: Option<SocketAddr>,
    account: String,
    key: [u8; 16],
    expires: Duration,
    permissions: BTreeMap<IpAddr, Duration>,
    /// Channel number -> (peer, expiry).
    channels: BTreeMap<u16, (SocketAddr, Duration)>,
}

/// The TURN server core.
#[derive(Debug)]
pub struct Relay {
    config: Config,
    nonce_key: [u8; 32],
    allocations: BTreeMap<Client, Allocation>,
    by_relay: BTreeMap<SocketAddr, Client>,
    accounts: BTreeMap<String, Account>,
    out: VecDeque<Output>,
    stats: Stats,
    next_sweep: Option<Duration>,
    /// Data indications sent: their transaction ids.
    indications: u64,
}

/// A request that passed authentication.
struct Authed {
    key: [u8; 16],
    account: String,
}

impl Relay {
    /// A relay with `config`; `seed` keys its nonces.
    pub fn new(config: Config, seed: [u8; 32]) -> Relay {
        Relay {
            config,
            nonce_key: seed,
            allocations: BTreeMap::new(),
            by_relay: BTreeMap::new(),
            accounts: BTreeMap::new(),
            out: VecDeque::new(),
            stats: Stats::default(),
            next_sweep: None,
            indications: 0,
        }
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Relay::handle_timeout`] wants to run.
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.next_sweep
    }

    fn refuse(&mut self, why: Refusal) {
        self.stats.refused[why.index()] += 1;
    }

    /// Expires allocations, permissions and channels. `now` is the time
    /// since the Unix epoch, as everywhere in this type.
    pub fn handle_timeout(&mut self, now: Duration) {
        let expired: Vec<Client> = self
            .allocations
            .iter()
            .filter(|(_, a)| a.expires <= now)
            .map(|(c, _)| *c)
            .collect();
        for c in expired {
            self.remove(c);
        }
        for a in self.allocations.values_mut() {
            a.permissions.retain(|_, e| *e > now);
            a.channels.retain(|_, (_, e)| *e > now);
        }
        self.next_sweep = (!self.allocations.is_empty()).then_some(now + SWEEP);
    }

    /// A TCP client's connection closed: its allocation ends with it.
    pub fn client_gone(&mut self, client: Client) {
        self.remove(client);
    }

    fn remove(&mut self, client: Client) {
        let Some(a) = self.allocations.remove(&client) else {
            return;
        };
        if let Some(relay) = a.relay {
            self.by_relay.remove(&relay);
            self.out.push_back(Output::CloseRelay { relay });
        }
        if let Some(acc) = self.accounts.get_mut(&a.account) {
            acc.allocations = acc.allocations.saturating_sub(1);
            if acc.allocations == 0 {
                self.accounts.remove(&a.account);
            }
        }
        self.stats.allocations = self.allocations.len();
    }

    /// Bytes from a client: a STUN message or ChannelData.
    pub fn handle_client(&mut self, client: Client, bytes: &[u8], now: Duration) {
        if stun::is_channel_data(bytes) {
            self.client_channel_data(client, bytes, now);
            return;
        }
        let Ok(msg) = Message::decode(bytes) else {
            return;
        };
        match (msg.class, msg.method) {
            (Class::Request, method::BINDING) => {
                let reply = Builder::new(method::BINDING, Class::Success, msg.tid)
                    .xor_address(attr::XOR_MAPPED_ADDRESS, client.addr)
                    .attr(attr::SOFTWARE, SOFTWARE)
                    .finish(None);
                self.reply_to(client, reply);
            }
            (Class::Request, m) => {
                let Some(authed) = self.authenticate(client, &msg, now) else {
                    return;
                };
                match m {
                    method::ALLOCATE => self.allocate(client, &msg, authed, now),
                    method::REFRESH => self.refresh(client, &msg, &authed, now),
                    method::CREATE_PERMISSION => self.create_permission(client, &msg, &authed, now),
                    method::CHANNEL_BIND => self.channel_bind(client, &msg, &authed, now),
                    _ => {
                        self.refuse(Refusal::BadRequest);
                        self.error(client, &msg, 400, "Bad Request", Some(&authed.key));
                    }
                }
            }
            (Class::Indication, method::SEND) => self.send_indication(client, &msg, now),
            // Responses and other indications from clients mean nothing here.
            _ => {}
        }
    }

    fn reply_to(&mut self, client: Client, data: Vec<u8>) {
        self.out.push_back(Output::ToClient { client, data });
    }

    fn error(
        &mut self,
        client: Client,
        msg: &Message<'_>,
        code: u16,
        reason: &str,
        key: Option<&[u8]>,
    ) {
        let reply = Builder::new(msg.method, Class::Error, msg.tid)
            .error(code, reason)
            .attr(attr::SOFTWARE, SOFTWARE)
            .finish(key);
        self.reply_to(client, reply);
    }

    fn nonce(&self, client: Client, issued: u64) -> String {
        let mut s = format!("{issued:016x}");
        for b in &self.nonce_mac(client, issued)[..8] {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    fn nonce_mac(&self, client: Client, issued: u64) -> [u8; 20] {
        let mut mac =
            <Hmac<Sha1> as Mac>::new_from_slice(&self.nonce_key).unwrap_or_else(|_| unreachable!());
        mac.update(&issued.to_be_bytes());
        mac.update(format!("{:?}", client).as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// A nonce is ours (bound to the client), and fresh.
    fn nonce_ok(&self, client: Client, nonce: &str, now: Duration) -> bool {
        let Some(issued) = nonce
            .get(..16)
            .and_then(|h| u64::from_str_radix(h, 16).ok())
        else {
            return false;
        };
        now.as_secs().saturating_sub(issued) < self.config.nonce_lifetime.as_secs()
            && issued <= now.as_secs()
            && self.nonce(client, issued) == nonce
    }

    fn challenge(
        &mut self,
        client: Client,
        msg: &Message<'_>,
        code: u16,
        reason: &str,
        now: Duration,
    ) {
        let nonce = self.nonce(client, now.as_secs());
        let reply = Builder::new(msg.method, Class::Error, msg.tid)
            .error(code, reason)
            .attr(attr::REALM, self.config.realm.as_bytes())
            .attr(attr::NONCE, nonce.as_bytes())
            .attr(attr::SOFTWARE, SOFTWARE)
            .finish(None);
        self.reply_to(client, reply);
    }

    /// The long-term credential check with REST credentials; answers the
    /// client itself when it fails.
    fn authenticate(&mut self, client: Client, msg: &Message<'_>, now: Duration) -> Option<Authed> {
        if !msg.has_integrity() {
            // The usual first request: tell the realm and a nonce.
            self.challenge(client, msg, 401, "Unauthorized", now);
            return None;
        }
        let (Some(username), Some(realm), Some(nonce)) = (
            msg.text(attr::USERNAME),
            msg.text(attr::REALM),
            msg.text(attr::NONCE),
        ) else {
            self.refuse(Refusal::BadRequest);
            self.error(client, msg, 400, "Bad Request", None);
            return None;
        };
        if realm != self.config.realm || !self.nonce_ok(client, nonce, now) {
            self.refuse(Refusal::StaleNonce);
            self.challenge(client, msg, 438, "Stale Nonce", now);
            return None;
        }
        let claim = match credential::parse(username) {
            Ok(c) => c,
            Err(_) => {
                self.refuse(Refusal::BadCredential);
                self.challenge(client, msg, 401, "Unauthorized", now);
                return None;
            }
        };
        let password = credential::password(&self.config.secret, username);
        let key = stun::long_term_key(username, realm, &password);
        if !msg.check_integrity(&key) {
            self.refuse(Refusal::BadCredential);
            self.challenge(client, msg, 401, "Unauthorized", now);
            return None;
        }
        if credential::check_expiry(&claim, now.as_secs()) == Err(CredentialError::Expired) {
            self.refuse(Refusal::Expired);
            self.challenge(client, msg, 401, "Unauthorized", now);
            return None;
        }
        let account = claim
            .user
            .split('/')
            .next()
            .unwrap_or(claim.user)
            .to_owned();
        Some(Authed { key, account })
    }

    fn success(
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

    fn lifetime(&self, msg: &Message<'_>) -> Duration {
        msg.u32(attr::LIFETIME)
            .map_or(self.config.default_lifetime, |s| {
                Duration::from_secs(u64::from(s))
            })
            .min(self.config.max_lifetime)
    }

    fn allocate(&mut self, client: Client, msg: &Message<'_>, authed: Authed, now: Duration) {
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

    fn allocated_reply(
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

    /// The client's ready allocation, if the request's user owns it;
    /// answers 437 otherwise.
    fn owned(&mut self, client: Client, msg: &Message<'_>, authed: &Authed) -> bool {
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

    fn refresh(&mut self, client: Client, msg: &Message<'_>, authed: &Authed, now: Duration) {
        if !self.owned(client, msg, authed) {
            return;
        }
        let lifetime = self.lifetime(msg);
        if lifetime.is_zero() {
            self.remove(client);
        } else if let Some(a) = self.allocations.get_mut(&client) {
            a.expires = now + lifetime;
        }
        let secs = u32::try_from(lifetime.as_secs()).unwrap_or(u32::MAX);
        self.success(client, msg, &authed.key, |b| b.u32(attr::LIFETIME, secs));
    }

    /// Whether data may go to (or come from) `peer`. Internal addresses
    /// pass when allowed, or when `peer` is one of our own relay addresses
    /// (`exact`) or on the IP of one (permissions, which are per IP).
    fn peer_allowed(&self, peer: SocketAddr, exact: bool) -> bool {
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

    fn create_permission(
        &mut self,
        client: Client,
        msg: &Message<'_>,
        authed: &Authed,
        now: Duration,
    ) {
        if !self.owned(client, msg, authed) {
            return;
        }
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

    fn channel_bind(&mut self, client: Client, msg: &Message<'_>, authed: &Authed, now: Duration) {
        if !self.owned(client, msg, authed) {
            return;
        }
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

    /// Takes `n` bytes from the user's allowance.
    fn spend(&mut self, account: &str, n: usize, now: Duration) -> bool {
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
    fn relay_out(&mut self, client: Client, peer: SocketAddr, data: &[u8], now: Duration) {
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

    fn send_indication(&mut self, client: Client, msg: &Message<'_>, now: Duration) {
        let (Some(peer), Some(data)) =
            (msg.xor_address(attr::XOR_PEER_ADDRESS), msg.get(attr::DATA))
        else {
            self.refuse(Refusal::BadRequest);
            return;
        };
        self.relay_out(client, peer, data, now);
    }

    fn client_channel_data(&mut self, client: Client, bytes: &[u8], now: Duration) {
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
