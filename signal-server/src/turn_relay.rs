//! The embedded TURN relay's shell: sockets and tasks around the sans-IO
//! core in `chordphone_relay`.
//!
//! One task owns the core. Readers feed it (the UDP listening socket, one
//! task per TCP client, one per relay socket) over a bounded channel; what
//! does not fit is dropped and counted, like a full UDP buffer would. The
//! core's outputs are carried out without waiting on any one client: UDP
//! sends are non-blocking, TCP clients have bounded queues.

use crate::clock;
use crate::config::RelaySettings;
use crate::shared::Shared;
use chordphone_relay::framing::frame_len;
use chordphone_relay::{Client, Output, Relay, RelayError, Transport};
use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Inputs waiting for the relay task.
const INPUTS: usize = 4096;
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

enum In {
    Client(Client, Vec<u8>),
    Peer(SocketAddr, SocketAddr, Vec<u8>),
    TcpOpen(Client, mpsc::Sender<Vec<u8>>),
    TcpGone(Client),
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
    let (tx, rx) = mpsc::channel(INPUTS);
    let udp = Arc::new(udp);
    let stop = shared.stop.subscribe();
    spawn_until(
        stop.clone(),
        udp_reader(Arc::clone(&udp), tx.clone(), Arc::clone(&shared)),
    );
    spawn_until(
        stop.clone(),
        tcp_acceptor(tcp, tx.clone(), Arc::clone(&shared)),
    );
    let core = Core {
        relay: Relay::new(config, seed),
        udp,
        tcp: BTreeMap::new(),
        sockets: BTreeMap::new(),
        ip,
        public_ip,
        tx,
        shared,
    };
    spawn_until(stop, core.run(rx));
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

/// Hands an input to the core, or drops and counts it when the core is
/// behind.
fn offer(tx: &mpsc::Sender<In>, shared: &Shared, input: In) {
    if tx.try_send(input).is_err() {
        shared.metrics.relay_dropped();
    }
}

async fn udp_reader(udp: Arc<UdpSocket>, tx: mpsc::Sender<In>, shared: Arc<Shared>) {
    datagrams(&udp, MAX_MESSAGE, |from, bytes| {
        let client = Client {
            transport: Transport::Udp,
            addr: from,
        };
        offer(&tx, &shared, In::Client(client, bytes.to_vec()));
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

async fn tcp_acceptor(listener: TcpListener, tx: mpsc::Sender<In>, shared: Arc<Shared>) {
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
        if tx.send(In::TcpOpen(client, out_tx)).await.is_err() {
            return;
        }
        let (tx, shared, held) = (tx.clone(), Arc::clone(&shared), Arc::clone(&open));
        tokio::spawn(async move {
            tcp_client(stream, client, out_rx, &tx, &shared).await;
            let _ = tx.send(In::TcpGone(client)).await;
            drop(held);
        });
    }
}

async fn tcp_client(
    stream: TcpStream,
    client: Client,
    mut out: mpsc::Receiver<Vec<u8>>,
    tx: &mpsc::Sender<In>,
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
        let mut first = true;
        loop {
            // Whole messages first, then more bytes.
            while let Ok(Some(len)) = frame_len(&buf) {
                if buf.len() < len {
                    break;
                }
                let msg: Vec<u8> = buf.drain(..len).collect();
                first = false;
                offer(tx, shared, In::Client(client, msg));
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
    tx: mpsc::Sender<In>,
    shared: Arc<Shared>,
}

impl Core {
    async fn run(mut self, mut rx: mpsc::Receiver<In>) {
        loop {
            // Timers run when due even while packets keep coming: under
            // steady traffic the sleep below might never be the branch
            // taken.
            let now = clock::since_epoch();
            if self.relay.poll_timeout().is_some_and(|t| t <= now) {
                self.relay.handle_timeout(now);
                self.drain().await;
            }
            let sleep = self
                .relay
                .poll_timeout()
                .map_or(core::time::Duration::from_secs(1), |t| {
                    t.saturating_sub(now)
                });
            tokio::select! {
                input = rx.recv() => match input {
                    Some(input) => self.input(input),
                    None => return,
                },
                () = tokio::time::sleep(sleep) => {}
            }
            self.drain().await;
        }
    }

    fn input(&mut self, input: In) {
        let now = clock::since_epoch();
        match input {
            In::Client(c, bytes) => self.relay.handle_client(c, &bytes, now),
            In::Peer(relay, peer, bytes) => self.relay.handle_peer(relay, peer, &bytes, now),
            In::TcpOpen(c, tx) => {
                self.tcp.insert(c, tx);
            }
            In::TcpGone(c) => {
                self.tcp.remove(&c);
                self.relay.client_gone(c);
            }
        }
    }

    async fn drain(&mut self) {
        while let Some(out) = self.relay.poll_output() {
            match out {
                Output::ToClient { client, data } => match client.transport {
                    Transport::Udp => {
                        if self.udp.try_send_to(&data, client.addr).is_err() {
                            self.shared.metrics.relay_dropped();
                        }
                    }
                    Transport::Tcp => {
                        let sent = self.tcp.get(&client).map(|t| t.try_send(data));
                        if !matches!(sent, Some(Ok(()))) {
                            self.shared.metrics.relay_dropped();
                        }
                    }
                },
                Output::ToPeer { relay, peer, data } => {
                    let sent = self
                        .sockets
                        .get(&relay)
                        .map(|(s, _)| s.try_send_to(&data, peer));
                    if !matches!(sent, Some(Ok(_))) {
                        self.shared.metrics.relay_dropped();
                    }
                }
                Output::OpenRelay { client, ipv6 } => {
                    let result = self.open(ipv6).await;
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
    }

    /// Opens a relay socket on the relay's IP address, any free port.
    async fn open(&mut self, ipv6: bool) -> Result<SocketAddr, RelayError> {
        if ipv6 != self.public_ip.is_ipv6() {
            return Err(RelayError::Family);
        }
        let socket = UdpSocket::bind((self.ip, 0))
            .await
            .map_err(|_| RelayError::Capacity)?;
        let port = socket
            .local_addr()
            .map_err(|_| RelayError::Capacity)?
            .port();
        let public = SocketAddr::new(self.public_ip, port);
        let socket = Arc::new(socket);
        let (reader, tx, shared) = (
            Arc::clone(&socket),
            self.tx.clone(),
            Arc::clone(&self.shared),
        );
        let task = tokio::spawn(async move {
            datagrams(&reader, MAX_PEER_DATAGRAM, |from, bytes| {
                offer(&tx, &shared, In::Peer(public, from, bytes.to_vec()));
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
