//! The embedded TURN relay's shell: sockets and tasks around the sans-IO
//! core in `chordphone_relay`.
//!
//! The core sits behind a mutex that is never held across an await. The
//! task that reads a message (the UDP listening socket's, one per relay
//! socket, one per TCP client) hands it to the core itself and sends what
//! comes out: a datagram crosses no channel between tasks on its way
//! through, and UDP sends happen after the lock is released, so that both
//! cores can relay at once. An earlier shell passed every datagram over a channel to
//! one task owning the core; the relay benchmark (`scripts/bench-relay.sh`)
//! measured it at 1.26 times coturn's CPU per relayed packet in a flood
//! (wake-ups and task switches), and its default-sized listening buffer
//! overflowed at 200 calls. Outputs are carried out without waiting on any
//! one client: UDP sends are non-blocking (a full buffer drops the datagram,
//! counted), TCP clients have bounded queues. A timer task runs the core's
//! sweeps.

use crate::clock;
use crate::config::RelaySettings;
use crate::shared::Shared;
use chordphone_relay::framing::frame_len;
use chordphone_relay::{Client, Output, Relay, RelayError, Transport};
use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;

/// Messages queued for one TCP client.
const TCP_QUEUE: usize = 256;
/// Most TCP clients at once.
const MAX_TCP: usize = 1024;
/// How long a TCP client may take to send its first message: a connection
/// that says nothing must not hold one of the `MAX_TCP` places.
const TCP_FIRST_MESSAGE: core::time::Duration = core::time::Duration::from_secs(10);
/// Largest datagram or TCP message: a STUN header and 65,535 bytes.
const MAX_MESSAGE: usize = 20 + 65_535;
/// Largest datagram relayed from a peer. WebRTC keeps its packets under the
/// path MTU; a smaller buffer per relay socket (one per allocation) keeps
/// a thousand allocations from holding 64 MiB of buffers.
const MAX_PEER_DATAGRAM: usize = 4096;
/// Receive and send buffer asked for the listening UDP socket, which takes
/// every client's datagrams: a burst while its reader waits for a core
/// (the machine is busy) must not overflow it. The kernel caps the request
/// at `net.core.rmem_max` / `wmem_max` (Debian: 208 KiB; raise them on a
/// busy relay). coturn asks for as much on its listening sockets.
const LISTEN_BUFFER: usize = 4 << 20;
/// Pause after a socket error before trying again.
const RETRY: core::time::Duration = core::time::Duration::from_millis(50);

/// Where the relay listens, for the URLs handed to peers.
#[derive(Clone, Copy, Debug)]
pub struct Listening {
    /// TURN over UDP.
    pub udp: SocketAddr,
    /// TURN over TCP.
    pub tcp: SocketAddr,
    /// The address peers reach both at.
    pub public_ip: IpAddr,
}

impl Listening {
    /// The RTCPeerConnection URLs of the relay, with `host` (the name peers
    /// reach this server by) when given.
    pub fn urls(&self, host: Option<&str>) -> Vec<String> {
        let host = match host {
            Some(h) => h.to_owned(),
            None => match self.public_ip {
                IpAddr::V4(ip) => ip.to_string(),
                IpAddr::V6(ip) => format!("[{ip}]"),
            },
        };
        vec![
            format!("turn:{host}:{}?transport=udp", self.udp.port()),
            format!("turn:{host}:{}?transport=tcp", self.tcp.port()),
        ]
    }
}

/// What a reader hands to the core.
enum In<'a> {
    Client(Client, &'a [u8]),
    Peer(SocketAddr, SocketAddr, &'a [u8]),
}

/// Binds the relay's sockets and starts its tasks; they end when `stop`
/// turns true.
pub async fn start(
    settings: &RelaySettings,
    http_ip: IpAddr,
    secret: Vec<u8>,
    seed: [u8; 32],
    shared: Arc<Shared>,
) -> io::Result<Listening> {
    let ip = settings.listen.map_or(http_ip, |l| l.ip());
    let (udp, tcp) = match settings.listen {
        Some(l) => (UdpSocket::bind(l).await?, TcpListener::bind(l).await?),
        None => bind_pair(ip).await?,
    };
    let sock = socket2::SockRef::from(&udp);
    if sock.set_recv_buffer_size(LISTEN_BUFFER).is_err()
        || sock.set_send_buffer_size(LISTEN_BUFFER).is_err()
    {
        tracing::warn!("the relay's UDP socket keeps its default buffers");
    }
    let public_ip = settings.public_ip.unwrap_or(ip);
    if public_ip.is_unspecified() {
        tracing::warn!("the relay listens on all interfaces without relay.public_ip: peers get unusable relay addresses");
    }
    let listening = Listening {
        udp: udp.local_addr()?,
        tcp: tcp.local_addr()?,
        public_ip,
    };
    let config = chordphone_relay::Config {
        secret,
        allow_loopback: settings.allow_loopback,
        allow_private: settings.allow_private,
        max_allocations: settings.max_allocations,
        max_allocations_per_user: settings.max_allocations_per_user,
        bandwidth: settings.bandwidth,
        ..chordphone_relay::Config::default()
    };
    let udp = Arc::new(udp);
    let timer = Arc::new(Notify::new());
    // The tasks started here hold the core; relay sockets' readers and TCP
    // clients only reach it while it lives, so all of it goes at `stop`.
    let core = Arc::new_cyclic(|this| {
        Mutex::new(Core {
            relay: Relay::new(config, seed),
            udp: Arc::clone(&udp),
            tcp: BTreeMap::new(),
            sockets: BTreeMap::new(),
            ip,
            public_ip,
            this: this.clone(),
            timer: Arc::clone(&timer),
            timer_at: None,
            shared: Arc::clone(&shared),
        })
    });
    let stop = shared.stop.subscribe();
    spawn_until(
        stop.clone(),
        udp_reader(udp, Arc::clone(&core), Arc::clone(&shared)),
    );
    spawn_until(
        stop.clone(),
        tcp_acceptor(tcp, Arc::clone(&core), Arc::clone(&shared)),
    );
    spawn_until(stop, sweeper(core, timer, shared));
    tracing::info!(udp = %listening.udp, tcp = %listening.tcp, "TURN relay listening");
    Ok(listening)
}

/// UDP and TCP on one port free for both (else any two ports). Not the
/// standard 3478: peers learn the port from `/ice`, and a fixed default
/// would collide with a coturn or a second server on the same machine.
async fn bind_pair(ip: IpAddr) -> io::Result<(UdpSocket, TcpListener)> {
    for _ in 0..8 {
        let u = UdpSocket::bind((ip, 0)).await?;
        if let Ok(t) = TcpListener::bind(u.local_addr()?).await {
            return Ok((u, t));
        }
    }
    Ok((
        UdpSocket::bind((ip, 0)).await?,
        TcpListener::bind((ip, 0)).await?,
    ))
}

fn spawn_until<F>(mut stop: watch::Receiver<bool>, f: F) -> JoinHandle<()>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        tokio::select! {
            () = f => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    })
}

/// A datagram the core produced, sent once its lock is released.
struct Datagram {
    socket: Arc<UdpSocket>,
    to: SocketAddr,
    data: Vec<u8>,
}

fn lock(core: &Mutex<Core>) -> MutexGuard<'_, Core> {
    // A panic while holding it cannot leave the core half-updated in a way
    // that matters more than stopping the relay would.
    core.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sends (and empties) `sends`; each failure is a dropped datagram.
fn send_all(sends: &mut Vec<Datagram>, shared: &Shared) {
    for d in sends.drain(..) {
        if d.socket.try_send_to(&d.data, d.to).is_err() {
            shared.metrics.relay_dropped();
        }
    }
}

/// Hands one message to the core and carries out what it asks. `sends`
/// is the caller's scratch space, kept between calls.
fn handle(core: &Mutex<Core>, shared: &Shared, input: In<'_>, sends: &mut Vec<Datagram>) {
    lock(core).input(input, sends);
    send_all(sends, shared);
}

async fn udp_reader(udp: Arc<UdpSocket>, core: Arc<Mutex<Core>>, shared: Arc<Shared>) {
    let mut sends = Vec::new();
    datagrams(&udp, MAX_MESSAGE, |from, bytes| {
        let client = Client {
            transport: Transport::Udp,
            addr: from,
        };
        handle(&core, &shared, In::Client(client, bytes), &mut sends);
    })
    .await;
}

/// Reads datagrams of up to `max` bytes for ever, handing each to `each`
/// (larger ones are dropped). A failed read is retried after a pause: a
/// socket error must not make the task spin.
async fn datagrams(socket: &UdpSocket, max: usize, mut each: impl FnMut(SocketAddr, &[u8])) {
    let mut buf = vec![0u8; max + 1];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, from)) if n <= max => each(from, &buf[..n]),
            Ok(_) => {}
            Err(_) => tokio::time::sleep(RETRY).await,
        }
    }
}

/// Runs the core's timeouts when due, and sooner when an input asks for
/// an earlier one (`timer`).
async fn sweeper(core: Arc<Mutex<Core>>, timer: Arc<Notify>, shared: Arc<Shared>) {
    let mut sends = Vec::new();
    loop {
        let now = clock::since_epoch();
        let next = {
            let mut c = lock(&core);
            if c.relay.poll_timeout().is_some_and(|t| t <= now) {
                c.relay.handle_timeout(now);
                c.drain(&mut sends);
            }
            c.timer_at = c.relay.poll_timeout();
            c.timer_at
        };
        send_all(&mut sends, &shared);
        match next {
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep(at.saturating_sub(now)) => {}
                    () = timer.notified() => {}
                }
            }
            None => timer.notified().await,
        }
    }
}

async fn tcp_acceptor(listener: TcpListener, core: Arc<Mutex<Core>>, shared: Arc<Shared>) {
    let open = Arc::new(());
    loop {
        let Ok((stream, from)) = listener.accept().await else {
            // Out of descriptors and the like: pause, then go on.
            tokio::time::sleep(RETRY).await;
            continue;
        };
        // Each client task holds a clone: the count of clones is the
        // number of clients.
        if Arc::strong_count(&open) > MAX_TCP {
            shared.metrics.relay_dropped();
            continue;
        }
        let _ = stream.set_nodelay(true);
        let client = Client {
            transport: Transport::Tcp,
            addr: from,
        };
        let (out_tx, out_rx) = mpsc::channel(TCP_QUEUE);
        lock(&core).tcp.insert(client, out_tx);
        let (core, shared, held) = (
            Arc::downgrade(&core),
            Arc::clone(&shared),
            Arc::clone(&open),
        );
        tokio::spawn(async move {
            tcp_client(stream, client, out_rx, &core, &shared).await;
            if let Some(core) = core.upgrade() {
                let mut c = lock(&core);
                c.tcp.remove(&client);
                c.relay.client_gone(client);
                let mut sends = Vec::new();
                c.drain(&mut sends);
                drop(c);
                send_all(&mut sends, &shared);
            }
            drop(held);
        });
    }
}

async fn tcp_client(
    stream: TcpStream,
    client: Client,
    mut out: mpsc::Receiver<Vec<u8>>,
    core: &Weak<Mutex<Core>>,
    shared: &Shared,
) {
    let (mut rd, mut wr) = stream.into_split();
    let writer = async move {
        while let Some(m) = out.recv().await {
            if wr.write_all(&m).await.is_err() {
                return;
            }
        }
    };
    let reader = async {
        let mut buf = Vec::with_capacity(1024);
        let mut chunk = [0u8; 2048];
        let mut sends = Vec::new();
        let mut first = true;
        loop {
            // Whole messages first, then more bytes.
            while let Ok(Some(len)) = frame_len(&buf) {
                if buf.len() < len {
                    break;
                }
                first = false;
                // The relay is gone (shutdown): so is this client.
                let Some(core) = core.upgrade() else {
                    return;
                };
                handle(&core, shared, In::Client(client, &buf[..len]), &mut sends);
                buf.drain(..len);
            }
            if frame_len(&buf).is_err() || buf.len() > MAX_MESSAGE + 4 {
                return;
            }
            let read = rd.read(&mut chunk);
            let read = if first {
                match tokio::time::timeout(TCP_FIRST_MESSAGE, read).await {
                    Ok(r) => r,
                    Err(_) => return,
                }
            } else {
                read.await
            };
            match read {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::select! {
        () = writer => {}
        () = reader => {}
    }
}

struct Core {
    relay: Relay,
    udp: Arc<UdpSocket>,
    tcp: BTreeMap<Client, mpsc::Sender<Vec<u8>>>,
    /// Relay sockets by their public address.
    sockets: BTreeMap<SocketAddr, (Arc<UdpSocket>, JoinHandle<()>)>,
    ip: IpAddr,
    public_ip: IpAddr,
    /// Itself, for the readers of the relay sockets it opens.
    this: Weak<Mutex<Core>>,
    /// Wakes the sweeper when the core wants to run sooner than `timer_at`.
    timer: Arc<Notify>,
    timer_at: Option<core::time::Duration>,
    shared: Arc<Shared>,
}

impl Core {
    fn input(&mut self, input: In<'_>, sends: &mut Vec<Datagram>) {
        let now = clock::since_epoch();
        match input {
            In::Client(c, bytes) => self.relay.handle_client(c, bytes, now),
            In::Peer(relay, peer, bytes) => self.relay.handle_peer(relay, peer, bytes, now),
        }
        self.drain(sends);
    }

    /// Carries out the core's outputs; UDP datagrams go to `sends`.
    fn drain(&mut self, sends: &mut Vec<Datagram>) {
        while let Some(out) = self.relay.poll_output() {
            match out {
                Output::ToClient { client, data } => match client.transport {
                    Transport::Udp => sends.push(Datagram {
                        socket: Arc::clone(&self.udp),
                        to: client.addr,
                        data,
                    }),
                    Transport::Tcp => {
                        let sent = self.tcp.get(&client).map(|t| t.try_send(data));
                        if !matches!(sent, Some(Ok(()))) {
                            self.shared.metrics.relay_dropped();
                        }
                    }
                },
                Output::ToPeer { relay, peer, data } => match self.sockets.get(&relay) {
                    Some((socket, _)) => sends.push(Datagram {
                        socket: Arc::clone(socket),
                        to: peer,
                        data,
                    }),
                    None => self.shared.metrics.relay_dropped(),
                },
                Output::OpenRelay { client, ipv6 } => {
                    let result = self.open(ipv6);
                    self.relay
                        .relay_opened(client, result, clock::since_epoch());
                }
                Output::CloseRelay { relay } => {
                    if let Some((_, task)) = self.sockets.remove(&relay) {
                        task.abort();
                    }
                }
            }
        }
        self.shared.metrics.set_relay(self.relay.stats());
        if let Some(t) = self.relay.poll_timeout() {
            if self.timer_at.is_none_or(|at| t < at) {
                self.timer_at = Some(t);
                self.timer.notify_one();
            }
        }
    }

    /// Opens a relay socket on the relay's IP address, any free port, and
    /// starts its reader. Binding a UDP socket does not block, so it is
    /// done under the lock.
    fn open(&mut self, ipv6: bool) -> Result<SocketAddr, RelayError> {
        if ipv6 != self.public_ip.is_ipv6() {
            return Err(RelayError::Family);
        }
        let socket = std::net::UdpSocket::bind((self.ip, 0))
            .and_then(|s| {
                s.set_nonblocking(true)?;
                UdpSocket::from_std(s)
            })
            .map_err(|_| RelayError::Capacity)?;
        let port = socket
            .local_addr()
            .map_err(|_| RelayError::Capacity)?
            .port();
        let public = SocketAddr::new(self.public_ip, port);
        let socket = Arc::new(socket);
        let (reader, core, shared) = (
            Arc::clone(&socket),
            self.this.clone(),
            Arc::clone(&self.shared),
        );
        let task = tokio::spawn(async move {
            let mut sends = Vec::new();
            datagrams(&reader, MAX_PEER_DATAGRAM, |from, bytes| {
                if let Some(core) = core.upgrade() {
                    handle(&core, &shared, In::Peer(public, from, bytes), &mut sends);
                }
            })
            .await;
        });
        self.sockets.insert(public, (socket, task));
        Ok(public)
    }
}

impl Drop for Core {
    /// The relay sockets' readers end with the core (at shutdown).
    fn drop(&mut self) {
        for (_, task) in self.sockets.values() {
            task.abort();
        }
    }
}
