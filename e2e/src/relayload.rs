//! Relayed calls as load for a TURN server: two [`TurnLeg`]s per call,
//! each reaching the other's relay address, carrying RTP-sized datagrams
//! both ways, either paced like a voice call or as fast as the relay
//! answers. Bounded in count and time; loopback only.
//!
//! Each datagram carries its send time and a sequence number, so the
//! receiving leg counts what arrived and how late. One task per direction
//! sends on one leg's socket and reads the other's.

use crate::turnleg::TurnLeg;
use chordphone_relay::credential;
use chordphone_relay::stun::{self, attr, Message};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::task::JoinSet;

/// The payload of one datagram: an RTP header (12 bytes) and 20 ms of
/// PCMU (160 bytes).
pub const PAYLOAD: usize = 172;
/// The channel each leg binds to the other.
const CHANNEL: u16 = 0x4000;
/// At most this many delays kept per direction.
const KEEP_DELAYS: usize = 4096;
/// How long a closed-loop flow waits for an answer before it takes what
/// is in flight as lost.
const LOSS_WAIT: Duration = Duration::from_millis(20);
/// How long a credential lives: longer than any run.
const CREDENTIAL_LIFETIME: u64 = 3600;

/// How the legs hand media to the relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// ChannelData both ways (what browsers use once a channel is bound).
    Channel,
    /// Send indications out, Data indications in (permissions only).
    Indication,
}

/// Two legs on one relay that reach each other.
#[derive(Debug)]
pub struct Call {
    a: TurnLeg,
    b: TurnLeg,
    framing: Framing,
}

impl Call {
    /// Allocates both legs on `server` with a credential for `user`
    /// signed with `secret`, and binds a channel (or installs a
    /// permission) each way.
    pub async fn set_up(
        server: SocketAddr,
        secret: &[u8],
        user: &str,
        framing: Framing,
    ) -> crate::Result<Call> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs();
        let c = credential::issue(secret, user, now, CREDENTIAL_LIFETIME)
            .map_err(|e| format!("credential: {e}"))?;
        let mut a = TurnLeg::allocate(server, &c.username, &c.password).await?;
        let mut b = TurnLeg::allocate(server, &c.username, &c.password).await?;
        match framing {
            Framing::Channel => {
                a.bind(CHANNEL, b.relayed).await?;
                b.bind(CHANNEL, a.relayed).await?;
            }
            Framing::Indication => {
                a.permit(b.relayed).await?;
                b.permit(a.relayed).await?;
            }
        }
        Ok(Call { a, b, framing })
    }

    /// Deletes both allocations.
    pub async fn release(self) {
        self.a.release().await;
        self.b.release().await;
    }

    /// The two directions: (sender, its peer's relay address, receiver).
    fn directions(&self) -> [Direction; 2] {
        let one = |from: &TurnLeg, to: &TurnLeg| Direction {
            tx: Arc::clone(&from.socket),
            server: from.server,
            peer: to.relayed,
            rx: Arc::clone(&to.socket),
            framing: self.framing,
        };
        [one(&self.a, &self.b), one(&self.b, &self.a)]
    }
}

/// Sets up `count` calls on `server`, a few at a time (users `<prefix><i>`).
pub async fn set_up_calls(
    server: SocketAddr,
    secret: &[u8],
    prefix: &str,
    count: usize,
    framing: Framing,
) -> crate::Result<Vec<Call>> {
    let mut calls = Vec::with_capacity(count);
    for chunk in (0..count).collect::<Vec<_>>().chunks(16) {
        let mut set = JoinSet::new();
        for &i in chunk {
            let (secret, user) = (secret.to_vec(), format!("{prefix}{i}"));
            set.spawn(async move { (i, Call::set_up(server, &secret, &user, framing).await) });
        }
        let mut got = Vec::new();
        while let Some(r) = set.join_next().await {
            let (i, call) = r.map_err(|e| format!("set-up task: {e}"))?;
            got.push((i, call?));
        }
        got.sort_by_key(|(i, _)| *i);
        calls.extend(got.into_iter().map(|(_, c)| c));
    }
    Ok(calls)
}

/// Deletes every call's allocations.
pub async fn release_calls(calls: Vec<Call>) {
    let mut set = JoinSet::new();
    for call in calls {
        set.spawn(call.release());
    }
    while set.join_next().await.is_some() {}
}

/// One direction of a call.
struct Direction {
    tx: Arc<UdpSocket>,
    server: SocketAddr,
    peer: SocketAddr,
    rx: Arc<UdpSocket>,
    framing: Framing,
}

/// What one direction (or a whole run) sent and received.
#[derive(Clone, Debug, Default)]
pub struct Counts {
    /// Datagrams sent to the relay.
    pub sent: u64,
    /// Datagrams that arrived at the far leg.
    pub received: u64,
    /// One-way delays in µs, a sample.
    pub delays_us: Vec<f64>,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.sent += other.sent;
        self.received += other.received;
        self.delays_us.extend(other.delays_us);
    }

    /// Lost datagrams over sent ones.
    pub fn loss(&self) -> f64 {
        if self.sent == 0 {
            return 0.0;
        }
        self.sent.saturating_sub(self.received) as f64 / self.sent as f64
    }
}

impl Direction {
    /// The datagram for sequence number `seq`, sent at `at` µs after
    /// `epoch`, into `out`.
    fn frame(&self, seq: u64, at: u64, out: &mut Vec<u8>) {
        let mut payload = [0u8; PAYLOAD];
        payload[..8].copy_from_slice(&at.to_be_bytes());
        payload[8..16].copy_from_slice(&seq.to_be_bytes());
        out.clear();
        match self.framing {
            Framing::Channel => {
                out.extend_from_slice(&CHANNEL.to_be_bytes());
                out.extend_from_slice(&(PAYLOAD as u16).to_be_bytes());
                out.extend_from_slice(&payload);
            }
            Framing::Indication => {
                let mut tid = [0u8; 12];
                tid[4..].copy_from_slice(&seq.to_be_bytes());
                out.extend_from_slice(&chordphone_relay::client::send(tid, self.peer, &payload));
            }
        }
    }

    async fn send(&self, seq: u64, epoch: Instant, out: &mut Vec<u8>) {
        self.frame(seq, micros_since(epoch), out);
        // A full socket buffer or a refused send is a lost datagram,
        // counted by the receiver's tally.
        let _ = self.tx.send_to(out, self.server).await;
    }
}

fn micros_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// The send time stamped in a relayed datagram, if it is one of ours.
fn stamp(bytes: &[u8]) -> Option<u64> {
    let payload = if stun::is_channel_data(bytes) {
        stun::decode_channel_data(bytes)?.1
    } else {
        Message::decode(bytes).ok()?.get(attr::DATA)?
    };
    if payload.len() != PAYLOAD {
        return None;
    }
    Some(u64::from_be_bytes(payload[..8].try_into().ok()?))
}

fn note(counts: &mut Counts, bytes: &[u8], epoch: Instant) {
    if let Some(at) = stamp(bytes) {
        counts.received += 1;
        if counts.delays_us.len() < KEEP_DELAYS {
            counts
                .delays_us
                .push(micros_since(epoch).saturating_sub(at) as f64);
        }
    }
}

/// Every call sends `rate` datagrams a second each way for `seconds`
/// (calls staggered over one interval, as independent calls are); then
/// stragglers are awaited for `drain`.
pub async fn paced(calls: &[Call], rate: u32, seconds: u32, drain: Duration) -> Counts {
    let interval = Duration::from_secs(1) / rate.max(1);
    let count = u64::from(rate) * u64::from(seconds);
    let epoch = Instant::now();
    let base = tokio::time::Instant::now() + Duration::from_millis(50);
    let n = calls.len().max(1) as u32;
    let mut set = JoinSet::new();
    for (i, call) in calls.iter().enumerate() {
        let start = base + interval * (i as u32) / n;
        let end = start + interval * (count as u32) + drain;
        for dir in call.directions() {
            set.spawn(paced_flow(dir, count, interval, start, end, epoch));
        }
    }
    collect(set).await
}

async fn paced_flow(
    dir: Direction,
    count: u64,
    interval: Duration,
    start: tokio::time::Instant,
    end: tokio::time::Instant,
    epoch: Instant,
) -> Counts {
    let mut ticks = tokio::time::interval_at(start, interval);
    let stop = tokio::time::sleep_until(end);
    tokio::pin!(stop);
    let (mut out, mut buf) = (Vec::with_capacity(256), vec![0u8; 2048]);
    let mut counts = Counts::default();
    while counts.received < count {
        tokio::select! {
            _ = ticks.tick(), if counts.sent < count => {
                dir.send(counts.sent, epoch, &mut out).await;
                counts.sent += 1;
            }
            got = dir.rx.recv_from(&mut buf) => {
                if let Ok((n, _)) = got {
                    note(&mut counts, &buf[..n], epoch);
                }
            }
            () = &mut stop => break,
        }
    }
    counts
}

/// Every call keeps up to `window` datagrams in flight each way, sending
/// one for each that arrives, for `seconds`: as fast as the relay relays.
pub async fn closed_loop(calls: &[Call], window: u64, seconds: u32) -> Counts {
    let epoch = Instant::now();
    let until = epoch + Duration::from_secs(u64::from(seconds));
    let mut set = JoinSet::new();
    for call in calls {
        for dir in call.directions() {
            set.spawn(window_flow(dir, window.max(1), until, epoch));
        }
    }
    collect(set).await
}

async fn window_flow(dir: Direction, window: u64, until: Instant, epoch: Instant) -> Counts {
    let (mut out, mut buf) = (Vec::with_capacity(256), vec![0u8; 2048]);
    let mut counts = Counts::default();
    let mut in_flight = 0u64;
    while Instant::now() < until {
        while in_flight < window {
            dir.send(counts.sent, epoch, &mut out).await;
            counts.sent += 1;
            in_flight += 1;
        }
        // What has arrived already, without a timer; else wait a little.
        let got = match dir.rx.try_recv_from(&mut buf) {
            Ok((n, _)) => Some(n),
            Err(_) => match tokio::time::timeout(LOSS_WAIT, dir.rx.recv_from(&mut buf)).await {
                Ok(Ok((n, _))) => Some(n),
                Ok(Err(_)) => None,
                // Nothing for a while: what is in flight is lost.
                Err(_) => {
                    in_flight = 0;
                    None
                }
            },
        };
        if let Some(n) = got {
            let before = counts.received;
            note(&mut counts, &buf[..n], epoch);
            if counts.received > before {
                in_flight = in_flight.saturating_sub(1);
            }
        }
    }
    // Still in flight at the end: neither relayed nor lost.
    counts.sent = counts.sent.saturating_sub(in_flight);
    counts
}

async fn collect(mut set: JoinSet<Counts>) -> Counts {
    let mut total = Counts::default();
    while let Some(r) = set.join_next().await {
        if let Ok(c) = r {
            total.add(c);
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a leg sends comes back out of the relay as ChannelData or a
    /// Data indication around the same payload; the receiver reads the
    /// send time from either, and nothing from a foreign datagram.
    #[tokio::test]
    async fn the_send_time_survives_both_framings() {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
        let peer: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
        for framing in [Framing::Channel, Framing::Indication] {
            let dir = Direction {
                tx: Arc::clone(&socket),
                server: peer,
                peer,
                rx: Arc::clone(&socket),
                framing,
            };
            let mut out = Vec::new();
            dir.frame(7, 123_456, &mut out);
            let payload = match framing {
                Framing::Channel => stun::decode_channel_data(&out).expect("channel data").1,
                Framing::Indication => Message::decode(&out)
                    .expect("stun")
                    .get(attr::DATA)
                    .expect("data"),
            };
            assert_eq!(payload.len(), PAYLOAD);
            // As the relay delivers it to the far leg.
            let relayed = match framing {
                Framing::Channel => stun::encode_channel_data(CHANNEL, payload, false),
                Framing::Indication => chordphone_relay::stun::Builder::new(
                    stun::method::DATA,
                    stun::Class::Indication,
                    [1; 12],
                )
                .xor_address(attr::XOR_PEER_ADDRESS, peer)
                .attr(attr::DATA, payload)
                .finish(None),
            };
            assert_eq!(stamp(&relayed), Some(123_456));
        }
        assert_eq!(stamp(&[0x40, 0, 0, 3, 1, 2, 3]), None);
        assert_eq!(stamp(b"not a relayed datagram"), None);
    }
}
