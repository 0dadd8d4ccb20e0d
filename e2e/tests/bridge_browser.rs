//! The media bridge with a real Chromium tab on the WebRTC leg and SIPp's
//! RTP echo (`-rtp_echo`) as the trunk: the tab's microphone plays a
//! 440 Hz tone, the bridge passes it as PCMU to SIPp, SIPp sends it back,
//! and the tab hears its own tone (found by the FFT probe); the tab's
//! `insertDTMF('5')` reaches SIPp as RFC 4733 events (they come back from it).
//!
//! The bridge runs in a small shell thread of this test on sockets bound to
//! 127.0.0.1; it sends to loopback addresses only (Chromium also tries its
//! other host addresses; those replies are left out). Needs `sipp` on PATH
//! (`scripts/setup-web.sh`) and the built app (any page of the server will do).

// The shell reads the wall clock and owns sockets; the ban protects the cores.
#![allow(clippy::disallowed_methods, clippy::unwrap_used)]

use chordphone_bridge::{Bridge, BridgeConfig, BridgeEvent, Leg, MediaCall};
use chordphone_e2e::browser::{Browser, Chromedriver, LaunchOpts};
use chordphone_e2e::media::{Source, TONE_A_HZ};
use chordphone_e2e::server::{Server, ServerOpts};
use chordphone_e2e::wait::{until, OrPanic};
use chordphone_sip::Time;
use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

#[path = "../../crates/bridge/tests/support/sipp.rs"]
mod sipp;
use sipp::SippEcho;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const CALL: MediaCall = MediaCall(1);
/// Generous bounds: each takes well under a second on a quiet machine.
const BOUND: Duration = Duration::from_secs(30);

/// The tab's side: its microphone to a peer connection, whatever comes back
/// into `<audio id="e2e-bridge">`; returns the offer.
const OFFER: &str = r#"
return (async () => {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  const pc = new RTCPeerConnection();
  window.e2eBridge = pc;
  pc.addTrack(stream.getAudioTracks()[0], stream);
  pc.ontrack = (e) => {
    const el = document.createElement('audio');
    el.id = 'e2e-bridge';
    el.muted = true;
    el.srcObject = new MediaStream([e.track]);
    document.body.appendChild(el);
    el.play().catch(() => {});
  };
  await pc.setLocalDescription();
  return pc.localDescription.sdp;
})();
"#;

const ANSWER: &str = r#"
return window.e2eBridge.setRemoteDescription({ type: 'answer', sdp: arguments[0] })
  .then(() => 'ok', (e) => 'error: ' + e);
"#;

const DTMF: &str = r#"
const dtmf = window.e2eBridge.getSenders()[0].dtmf;
if (!dtmf || !dtmf.canInsertDTMF) return 'no DTMF sender';
dtmf.insertDTMF(arguments[0], 100, 70);
return 'ok';
"#;

/// The bridge's shell: binds what it asks for, carries datagrams, runs its
/// timers, and hands its events to the test, until `stop`.
fn run_shell(mut bridge: Bridge, stop: Arc<AtomicBool>, events: mpsc::Sender<BridgeEvent>) {
    let start = Instant::now();
    let now = || Time(1_000_000 + u64::try_from(start.elapsed().as_micros()).unwrap());
    let mut sockets: BTreeMap<SocketAddr, UdpSocket> = BTreeMap::new();
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::SeqCst) {
        let mut moved = false;
        while let Some(e) = bridge.poll_event() {
            moved = true;
            match &e {
                BridgeEvent::Bind { local, .. } => {
                    let s = UdpSocket::bind(local).unwrap();
                    s.set_nonblocking(true).unwrap();
                    sockets.insert(*local, s);
                }
                BridgeEvent::Unbind { local, .. } => {
                    sockets.remove(local);
                }
                _ => {}
            }
            let _ = events.send(e);
        }
        while let Some(t) = bridge.poll_transmit() {
            moved = true;
            if t.to.ip().is_loopback() {
                let _ = sockets[&t.from].send_to(&t.bytes, t.to);
            }
        }
        let mut arrived = Vec::new();
        for (local, s) in &sockets {
            loop {
                match s.recv_from(&mut buf) {
                    Ok((n, from)) => arrived.push((*local, from, buf[..n].to_vec())),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("recv: {e}"),
                }
            }
        }
        for (local, from, bytes) in arrived {
            moved = true;
            bridge.handle_datagram(local, from, &bytes, now());
        }
        let t = now();
        if bridge.poll_timeout().is_some_and(|due| due <= t) {
            bridge.handle_timeout(t);
        }
        if !moved {
            // Idle: look again in a moment (media comes every 20 ms).
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_hears_its_own_tone_through_the_bridge_and_sipps_echo() {
    let sipp = SippEcho::start(120);
    let server = Server::start("bridge", ServerOpts::default())
        .await
        .or_panic();
    let driver = Chromedriver::start().await.or_panic();
    let opts = LaunchOpts {
        tone_hz: Some(TONE_A_HZ),
        webrtc_loopback: true,
    };
    let browser = Browser::launch_with(&driver, "bridge", opts)
        .await
        .or_panic();
    let tab = browser
        .open_page("bridge", &server.base_url())
        .await
        .or_panic();

    let offer = tab.execute(OFFER, vec![]).await.or_panic();
    let offer = offer.as_str().expect("the tab's offer");
    let config = BridgeConfig {
        bind_ip: LOOPBACK,
        advertise_ip: LOOPBACK,
        ports: (21100, 21109),
        max_calls: 1,
        seed: 3,
    };
    let mut bridge = Bridge::new(config, Instant::now(), Time(1_000_000)).unwrap();
    let media = bridge.outbound(CALL, offer, Time(1_000_000)).unwrap();
    assert!(
        media.rtp_offer.contains("RTP/AVP 0 101"),
        "{}",
        media.rtp_offer
    );
    let trunk = format!(
        "v=0\r\no=sipp 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n",
        sipp.media.port()
    );
    bridge.rtp_answer(CALL, &trunk, Time(1_000_000)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let shell = {
        let stop = stop.clone();
        std::thread::spawn(move || run_shell(bridge, stop, tx))
    };
    let answered = tab
        .execute(ANSWER, vec![serde_json::json!(media.webrtc_answer)])
        .await
        .or_panic();
    assert_eq!(answered, serde_json::json!("ok"));

    let mut seen = Vec::new();
    let mut seen_event = async |wanted: BridgeEvent, what: &str| {
        until(what, BOUND, async || {
            seen.extend(rx.try_iter());
            if seen.contains(&wanted) {
                Ok(())
            } else {
                Err(format!("events so far: {seen:?}"))
            }
        })
        .await
        .or_panic();
    };
    seen_event(
        BridgeEvent::BrowserConnected { call: CALL },
        "ICE and DTLS with Chromium",
    )
    .await;
    seen_event(
        BridgeEvent::TrunkLatched {
            call: CALL,
            source: sipp.media,
        },
        "the first echo from SIPp",
    )
    .await;

    until(
        "the tab hears its own 440 Hz tone back",
        BOUND,
        async || {
            let probe = tab
                .probe_media(Source::Element("#e2e-bridge"), Duration::from_secs(1))
                .await?;
            if probe.tone.as_ref().is_some_and(|t| t.is(TONE_A_HZ)) {
                Ok(())
            } else {
                Err(format!("{probe:?}"))
            }
        },
    )
    .await
    .or_panic();

    let sent = tab
        .execute(DTMF, vec![serde_json::json!("5")])
        .await
        .or_panic();
    assert_eq!(sent, serde_json::json!("ok"));
    for from in [Leg::Browser, Leg::Trunk] {
        seen_event(
            BridgeEvent::Dtmf {
                call: CALL,
                from,
                digit: '5',
            },
            &format!("'5' from the {from:?} leg"),
        )
        .await;
    }

    stop.store(true, Ordering::SeqCst);
    shell.join().unwrap();
}
