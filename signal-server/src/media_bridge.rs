//! The media bridge's shell: the sans-IO [`Bridge`] behind a mutex, one
//! task that binds the ports it names, sends what it queues and runs its
//! timers, and one reader task per bound port.
//!
//! The gateway core (in the node task) drives the bridge through
//! [`MediaHandle`], its `Media`: each call locks the bridge for the length
//! of one SDP step and then wakes the pump, which binds the new call's
//! sockets. Readers hand each datagram to the bridge under the lock and
//! wake the pump, which sends what the datagram caused (a forwarded RTP
//! packet, a STUN answer); many datagrams between two wake-ups are sent
//! in one round. A leg that fails goes back to the node task, which ends
//! the call in the gateway.
//!
//! ```text
//! pump: loop {
//!     lock; Bind -> bind a socket, spawn its reader; Unbind -> drop it;
//!           LegFailed -> node task; send every transmit; unlock
//!     wait for a wake-up or the bridge's next timeout (then handle_timeout)
//! }
//! reader: loop { recv; lock; handle_datagram; unlock; wake the pump }
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

use chordphone_bridge::{
    Bridge, BridgeConfig, BridgeEvent, ConfigError, Counters, Leg, MAX_DATAGRAM,
};
use chordphone_gateway::{Media, MediaCall, MediaError, OutboundMedia};
use chordphone_sip::Time;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, Notify};
use tokio::task::AbortHandle;

use crate::clock;
use crate::inputs::NodeInput;

/// What the bridge's shell counts beside the bridge's own counters.
#[derive(Debug, Default)]
pub struct ShellCounters {
    /// Key presses that arrived from tabs (RFC 4733 over SRTP).
    pub dtmf_from_browser: AtomicU64,
    /// Key presses that arrived from trunks (RFC 4733 over RTP).
    pub dtmf_from_trunk: AtomicU64,
    /// Calls whose browser leg finished ICE and DTLS.
    pub browser_connected: AtomicU64,
    /// Calls whose trunk leg latched onto the trunk's first packet.
    pub trunk_latched: AtomicU64,
    /// Legs that failed (each ends its call).
    pub legs_failed: AtomicU64,
    /// Ports that could not be bound (the call then has no audio that way).
    pub bind_failed: AtomicU64,
    /// Datagrams the operating system refused to send (a full buffer).
    pub send_failed: AtomicU64,
}

/// The bridge's counters for `/metrics`.
#[derive(Clone, Copy, Debug, Default)]
pub struct MediaMetrics {
    /// Calls with media now.
    pub calls: usize,
    /// The bridge's own counters.
    pub bridge: Counters,
    /// Key presses from tabs and from trunks.
    pub dtmf_in: (u64, u64),
    /// Browser legs connected, trunk legs latched, legs failed.
    pub legs: (u64, u64, u64),
    /// Ports not bound, datagrams not sent.
    pub io_failed: (u64, u64),
}

/// The bridge, shared by the gateway (through [`MediaHandle`]), the pump
/// and the readers.
#[derive(Clone, Debug)]
pub struct MediaHandle {
    bridge: Arc<Mutex<Bridge>>,
    wake: Arc<Notify>,
    counters: Arc<ShellCounters>,
}

impl MediaHandle {
    /// Makes the bridge and starts its pump; `node_tx` hears of failed legs.
    pub fn start(
        config: BridgeConfig,
        node_tx: mpsc::Sender<NodeInput>,
    ) -> Result<MediaHandle, ConfigError> {
        let now = clock::now();
        // The one Instant the bridge maps its times onto, read with `now`.
        #[allow(clippy::disallowed_methods)]
        let base = std::time::Instant::now();
        let bridge = Bridge::new(config, base, Time(now.as_micros()))?;
        let handle = MediaHandle {
            bridge: Arc::new(Mutex::new(bridge)),
            wake: Arc::new(Notify::new()),
            counters: Arc::new(ShellCounters::default()),
        };
        tokio::spawn(pump(handle.clone(), node_tx));
        Ok(handle)
    }

    fn lock(&self) -> MutexGuard<'_, Bridge> {
        // A panic while holding the lock cannot leave the bridge half
        // changed in a way worse than the panic itself: carry on.
        self.bridge.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the bridge, then wakes the pump for what it queued.
    fn with<R>(&self, f: impl FnOnce(&mut Bridge) -> R) -> R {
        let r = f(&mut self.lock());
        self.wake.notify_one();
        r
    }

    /// The counters for `/metrics`.
    pub fn metrics(&self) -> MediaMetrics {
        let b = self.lock();
        let c = &self.counters;
        MediaMetrics {
            calls: b.calls(),
            bridge: b.counters(),
            dtmf_in: (
                c.dtmf_from_browser.load(Relaxed),
                c.dtmf_from_trunk.load(Relaxed),
            ),
            legs: (
                c.browser_connected.load(Relaxed),
                c.trunk_latched.load(Relaxed),
                c.legs_failed.load(Relaxed),
            ),
            io_failed: (c.bind_failed.load(Relaxed), c.send_failed.load(Relaxed)),
        }
    }
}

impl Media for MediaHandle {
    fn outbound(
        &mut self,
        call: MediaCall,
        webrtc_offer: &str,
        now: Time,
    ) -> Result<OutboundMedia, MediaError> {
        self.with(|b| Media::outbound(b, call, webrtc_offer, now))
    }

    fn rtp_answer(
        &mut self,
        call: MediaCall,
        rtp_answer: &str,
        now: Time,
    ) -> Result<(), MediaError> {
        self.with(|b| Media::rtp_answer(b, call, rtp_answer, now))
    }

    fn inbound(
        &mut self,
        call: MediaCall,
        rtp_offer: &str,
        now: Time,
    ) -> Result<String, MediaError> {
        self.with(|b| Media::inbound(b, call, rtp_offer, now))
    }

    fn webrtc_answer(
        &mut self,
        call: MediaCall,
        webrtc_answer: &str,
        now: Time,
    ) -> Result<String, MediaError> {
        self.with(|b| Media::webrtc_answer(b, call, webrtc_answer, now))
    }

    fn hold(&mut self, call: MediaCall, on: bool, now: Time) {
        self.with(|b| Media::hold(b, call, on, now));
    }

    fn dtmf(&mut self, call: MediaCall, digit: char, now: Time) -> Result<(), MediaError> {
        self.with(|b| Media::dtmf(b, call, digit, now))
    }

    fn close(&mut self, call: MediaCall) {
        self.with(|b| Media::close(b, call));
    }
}

/// A bound port: its socket and its reader.
struct Port {
    sock: Arc<UdpSocket>,
    reader: AbortHandle,
}

impl Drop for Port {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

fn sip_now() -> Time {
    Time(clock::now().as_micros())
}

/// Binds, sends and times for the bridge until the node task is gone.
async fn pump(handle: MediaHandle, node_tx: mpsc::Sender<NodeInput>) {
    let mut ports: BTreeMap<SocketAddr, Port> = BTreeMap::new();
    loop {
        let mut failed = Vec::new();
        let next = {
            let mut b = handle.lock();
            let now = sip_now();
            if b.poll_timeout().is_some_and(|t| t <= now) {
                b.handle_timeout(now);
            }
            while let Some(e) = b.poll_event() {
                if let Some(call) = on_event(&handle, &mut ports, e) {
                    failed.push(call);
                }
            }
            while let Some(t) = b.poll_transmit() {
                let sent = ports
                    .get(&t.from)
                    .is_some_and(|p| p.sock.try_send_to(&t.bytes, t.to).is_ok());
                if !sent {
                    handle.counters.send_failed.fetch_add(1, Relaxed);
                }
            }
            b.poll_timeout()
        };
        for call in failed {
            if node_tx.send(NodeInput::MediaFailed { call }).await.is_err() {
                return;
            }
        }
        if node_tx.is_closed() {
            return;
        }
        let sleep = next.map(|t| {
            let wait = t.0.saturating_sub(sip_now().0);
            tokio::time::sleep(core::time::Duration::from_micros(wait))
        });
        match sleep {
            Some(s) => {
                tokio::select! {
                    () = handle.wake.notified() => {}
                    () = s => {}
                }
            }
            None => handle.wake.notified().await,
        }
    }
}

/// One event of the bridge; returns the call whose leg failed, if so.
fn on_event(
    handle: &MediaHandle,
    ports: &mut BTreeMap<SocketAddr, Port>,
    e: BridgeEvent,
) -> Option<MediaCall> {
    let c = &handle.counters;
    match e {
        BridgeEvent::Bind { call, leg, local } => match bind(local) {
            Ok(sock) => {
                let sock = Arc::new(sock);
                let reader = tokio::spawn(read(Arc::clone(&sock), local, handle.clone()));
                ports.insert(
                    local,
                    Port {
                        sock,
                        reader: reader.abort_handle(),
                    },
                );
            }
            Err(e) => {
                c.bind_failed.fetch_add(1, Relaxed);
                tracing::warn!(call = call.0, ?leg, %local, "media: cannot bind: {e}");
            }
        },
        BridgeEvent::Unbind { local, .. } => {
            ports.remove(&local);
        }
        BridgeEvent::BrowserConnected { call } => {
            c.browser_connected.fetch_add(1, Relaxed);
            tracing::info!(
                call = call.0,
                "media: the tab's leg is connected (ICE, DTLS)"
            );
        }
        BridgeEvent::TrunkLatched { call, source } => {
            c.trunk_latched.fetch_add(1, Relaxed);
            tracing::info!(call = call.0, %source, "media: the trunk's RTP arrived");
        }
        BridgeEvent::Dtmf { call, from, digit } => {
            match from {
                Leg::Browser => c.dtmf_from_browser.fetch_add(1, Relaxed),
                Leg::Trunk => c.dtmf_from_trunk.fetch_add(1, Relaxed),
            };
            tracing::debug!(call = call.0, ?from, %digit, "media: key press");
        }
        BridgeEvent::LegFailed { call, leg, reason } => {
            c.legs_failed.fetch_add(1, Relaxed);
            tracing::info!(call = call.0, ?leg, "media: leg failed: {reason}");
            return Some(call);
        }
    }
    None
}

fn bind(local: SocketAddr) -> std::io::Result<UdpSocket> {
    let sock = std::net::UdpSocket::bind(local)?;
    sock.set_nonblocking(true)?;
    UdpSocket::from_std(sock)
}

/// Hands what one port receives to the bridge until the port is unbound.
async fn read(sock: Arc<UdpSocket>, local: SocketAddr, handle: MediaHandle) {
    // One byte more than the bridge takes, so that an oversized datagram
    // reaches it whole enough to be counted as oversized.
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    loop {
        let Ok((n, from)) = sock.recv_from(&mut buf).await else {
            // ICMP errors (a port unreachable) surface here: keep reading.
            continue;
        };
        handle.with(|b| b.handle_datagram(local, from, &buf[..n], sip_now()));
    }
}
