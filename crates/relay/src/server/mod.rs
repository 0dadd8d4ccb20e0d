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

use crate::stun::{self, attr, method, Builder, Class, Message};
use core::net::{IpAddr, SocketAddr};
use core::time::Duration;
use std::collections::{BTreeMap, VecDeque};

mod auth;
mod data;
mod requests;

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
                    // The rest act on the client's allocation, which must
                    // exist and be the requesting user's.
                    method::REFRESH | method::CREATE_PERMISSION | method::CHANNEL_BIND
                        if !self.owned(client, &msg, &authed) => {}
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
}
