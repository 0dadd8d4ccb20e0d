//! The gateway's signalling against SIPp playing SIP trunks on real UDP
//! sockets (loopback): a caller's INVITE to a phone number goes out to the
//! trunk, which challenges it with digest (SIPp verifies the credentials),
//! rings, sends early media and answers; the caller hangs up and SIPp gets
//! the BYE. Also: CANCEL before the answer, busy (486 and its words), a
//! trunk that answers no keepalive (marked down, the call fails over to
//! another SIPp trunk, or gets a clear 503 when none is left), and fraud
//! attempts refused without a single message reaching SIPp.
//!
//! A small native driver runs the sans-IO gateway over a tokio UDP socket
//! towards the trunks. The caller side is a chordphone SIP user agent in
//! memory, as a tab's would be after the overlay and the seal (the gate
//! that proves the caller's name is the phone core's, tested there): the
//! driver tells the gateway which name it proved, or that it proved none.
//! The media bridge is a stand-in that hands back fixed SDP: these tests
//! are about signalling, not audio.
//!
//! Needs `sipp` on PATH (`scripts/setup-web.sh` installs it).

// The driver reads the wall clock to feed the cores; the ban protects the cores.
#![allow(clippy::disallowed_methods, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chordphone_e2e::sipp::Sipp;
use chordphone_gateway::testing::{Caller, FixedSdp};
use chordphone_gateway::{
    Gateway, GatewayConfig, GatewayEvent, LimitHit, LimitsConfig, Refusal, TrunkConfig, TrunkState,
    NO_LINE,
};
use chordphone_sip::{CallId, EndReason, Event, Failure, Time};
use tokio::net::UdpSocket;

/// Longest any one step may take before the test fails.
const STEP: Duration = Duration::from_secs(20);

const ALICE: &str = "sip:alice@chordphone";
const NUMBER: &str = "sip:+15551234567@chordphone";

const WEBRTC_OFFER: &str = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\n";
const WEBRTC_ANSWER: &str = "v=0\r\no=- 2 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 40000 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\n";
const RTP_OFFER: &str = "v=0\r\no=gateway 3 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

/// A trunk at `addr` as the configuration names it.
fn trunk(name: &str, addr: SocketAddr, priority: u32, keepalive: u64) -> TrunkConfig {
    TrunkConfig {
        name: name.into(),
        host: addr.ip().to_string(),
        port: addr.port(),
        username: "gateway".into(),
        password: "s3cret".into(),
        realm: Some("sipp.test".into()),
        options_interval: keepalive,
        priority,
        ..TrunkConfig::default()
    }
}

/// The gateway on a real socket, and a tab's user agent in memory.
struct Driver {
    gw: Gateway<u32, SocketAddr>,
    sock: UdpSocket,
    /// The tab's user agent (and what the gate proved), with what it and
    /// the gateway reported.
    tab: Caller,
    bridge: FixedSdp,
    start: Instant,
}

impl Driver {
    async fn new(trunks: Vec<TrunkConfig>, tweak: impl FnOnce(&mut GatewayConfig)) -> Driver {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let local = sock.local_addr().unwrap().to_string();
        let addrs = trunks
            .iter()
            .map(|t| SocketAddr::new(t.host.parse().unwrap(), t.port))
            .collect();
        let mut config = GatewayConfig {
            trunk: trunks,
            // Quick UDP timeouts: a silent trunk is given up after 3.2 s.
            t1_ms: 50,
            ..GatewayConfig::default()
        };
        tweak(&mut config);
        let mut gw =
            Gateway::new(config, "sip:pstn-gateway@chordphone", &local, addrs, 0x5eed).unwrap();
        let bridge = FixedSdp::new(WEBRTC_ANSWER, RTP_OFFER);
        gw.set_media(Box::new(bridge.clone()));
        let mut d = Driver {
            gw,
            sock,
            tab: Caller::new(ALICE, 7),
            bridge,
            start: Instant::now(),
        };
        let now = d.now();
        d.gw.start(now);
        d
    }

    fn now(&self) -> Time {
        Time(self.start.elapsed().as_micros() as u64)
    }

    /// Moves the caller side's messages (in memory) and the trunk side's
    /// (to the socket) until nothing is in flight.
    async fn flush(&mut self) {
        loop {
            let now = self.now();
            let mut moved = self.tab.exchange(&mut self.gw, now);
            while let Some(t) = self.gw.poll_trunk_transmit() {
                moved = true;
                self.sock.send_to(&t.bytes, t.to.addr).await.unwrap();
            }
            if !moved {
                return;
            }
        }
    }

    /// Runs everything until `done` holds (bounded by [`STEP`]).
    async fn until(&mut self, what: &str, done: impl Fn(&Driver) -> bool) {
        let deadline = Instant::now() + STEP;
        loop {
            self.flush().await;
            if done(self) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; tab: {:?}\ngateway: {:?}",
                self.tab.events,
                self.tab.gateway_events
            );
            self.turn(deadline).await;
        }
    }

    /// Keeps the gateway running (answering retransmissions, ACKing the
    /// trunk's final responses) until SIPp exits; its exit code.
    async fn finish(&mut self, sipp: &mut Sipp) -> i32 {
        let deadline = Instant::now() + STEP * 2;
        loop {
            self.flush().await;
            if let Some(code) = sipp.exited() {
                return code;
            }
            assert!(
                Instant::now() < deadline,
                "sipp did not exit:\n{}",
                sipp.errors()
            );
            self.turn(Instant::now() + Duration::from_millis(50)).await;
        }
    }

    /// One datagram in, or the timers due, waiting at most until `until`.
    async fn turn(&mut self, until: Instant) {
        let mut buf = vec![0u8; 65_536];
        let mut wait = until.saturating_duration_since(Instant::now());
        for t in [self.gw.poll_timeout(), self.tab.ua.poll_timeout()]
            .into_iter()
            .flatten()
        {
            wait = wait.min(Duration::from_micros(t.0.saturating_sub(self.now().0)));
        }
        match tokio::time::timeout(wait, self.sock.recv_from(&mut buf)).await {
            Ok(Ok((n, from))) => {
                let now = self.now();
                self.gw.handle_trunk(from, &buf[..n], now);
            }
            Ok(Err(e)) => panic!("recv: {e}"),
            Err(_) => {
                let now = self.now();
                self.gw.handle_timeout(now);
                self.tab.ua.handle_timeout(now);
            }
        }
    }

    /// The tab calls `target` through the gateway.
    async fn call(&mut self, target: &str) -> CallId {
        let now = self.now();
        let call = self.tab.invite(target, WEBRTC_OFFER, now).unwrap();
        self.flush().await;
        call
    }

    fn ended(&self, call: CallId) -> Option<EndReason> {
        self.tab.ended(call)
    }
}

fn scenario(name: &str) -> (Sipp, SocketAddr) {
    let xml = match name {
        "gateway_digest_uas.xml" => include_str!("../sipp/gateway_digest_uas.xml"),
        "gateway_cancel_uas.xml" => include_str!("../sipp/gateway_cancel_uas.xml"),
        "gateway_busy_uas.xml" => include_str!("../sipp/gateway_busy_uas.xml"),
        _ => unreachable!("no scenario {name}"),
    };
    Sipp::scenario(name, xml)
}

#[tokio::test]
async fn a_call_to_a_number_answers_the_digest_rings_with_early_media_and_hangs_up() {
    let (mut sipp, addr) = scenario("gateway_digest_uas.xml");
    let mut d = Driver::new(vec![trunk("carrier", addr, 0, 0)], |_| {}).await;
    let call = d.call(NUMBER).await;
    d.until("the 200 through the gateway", |d| {
        d.tab
            .events
            .iter()
            .any(|e| matches!(e, Event::Answered { .. } | Event::Ended { .. }))
    })
    .await;
    let progress: Vec<(u16, bool)> = d
        .tab
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Progress { code, body, .. } => Some((*code, body.is_some())),
            _ => None,
        })
        .collect();
    assert_eq!(
        progress,
        vec![(180, false), (183, true)],
        "{:?}",
        d.tab.events
    );
    let answer = d.tab.events.iter().find_map(|e| match e {
        Event::Answered { answer, .. } => answer.clone(),
        _ => None,
    });
    assert_eq!(
        answer.as_deref(),
        Some(WEBRTC_ANSWER.as_bytes()),
        "the tab gets the bridge's WebRTC answer; sipp: {}",
        sipp.errors()
    );
    // The trunk's SDP (from the 183) went to the bridge, once.
    let answers = d.bridge.log().rtp_answers;
    assert_eq!(answers.len(), 1);
    assert!(answers[0].contains("m=audio"));
    let now = d.now();
    d.tab.ua.hangup(call, now).unwrap();
    d.until("the call's end", |d| d.gw.active_calls() == 0)
        .await;
    // SIPp saw the BYE (its scenario ends with it) and answered it.
    let code = d.finish(&mut sipp).await;
    assert_eq!(code, 0, "sipp failed the call:\n{}", sipp.errors());
    let s = d.gw.stats();
    assert_eq!((s.calls_out, s.answered, s.failed), (1, 1, 0));
    assert_eq!(d.tab.words(), vec![None]);
}

#[tokio::test]
async fn the_caller_cancels_before_the_answer() {
    let (mut sipp, addr) = scenario("gateway_cancel_uas.xml");
    let mut d = Driver::new(vec![trunk("carrier", addr, 0, 0)], |_| {}).await;
    let call = d.call(NUMBER).await;
    d.until("the ringing", |d| {
        d.tab
            .events
            .iter()
            .any(|e| matches!(e, Event::Progress { code: 180, .. }))
    })
    .await;
    let now = d.now();
    d.tab.ua.hangup(call, now).unwrap();
    d.until("the CANCEL's end", |d| d.gw.active_calls() == 0)
        .await;
    let code = d.finish(&mut sipp).await;
    assert_eq!(code, 0, "sipp did not get the CANCEL:\n{}", sipp.errors());
    assert_eq!(d.ended(call), Some(EndReason::Failed(Failure::Cancelled)));
}

#[tokio::test]
async fn a_busy_number_is_told_in_words() {
    let (mut sipp, addr) = scenario("gateway_busy_uas.xml");
    let mut d = Driver::new(vec![trunk("carrier", addr, 0, 0)], |_| {}).await;
    let call = d.call("tel:+1-555-123-4567").await;
    d.until("the busy signal", |d| d.ended(call).is_some())
        .await;
    assert_eq!(d.ended(call), Some(EndReason::Failed(Failure::Busy)));
    assert_eq!(d.tab.words(), vec![Some("The number is busy")]);
    let code = d.finish(&mut sipp).await;
    assert_eq!(code, 0, "sipp:\n{}", sipp.errors());
}

#[tokio::test]
async fn a_trunk_silent_to_keepalives_is_down_and_calls_go_to_the_next() {
    // Trunk "dead" is a socket that reads nothing and answers nothing.
    let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    dead.set_nonblocking(true).unwrap();
    let dead_addr = dead.local_addr().unwrap();
    let (mut sipp, addr) = scenario("gateway_digest_uas.xml");
    let mut d = Driver::new(
        vec![trunk("dead", dead_addr, 0, 1), trunk("spare", addr, 1, 0)],
        |_| {},
    )
    .await;
    d.until("the dead trunk marked down", |d| {
        d.gw.trunk_states()[0].1 == TrunkState::Down
    })
    .await;
    assert!(d.tab.gateway_events.contains(&GatewayEvent::TrunkDown {
        trunk: "dead".into()
    }));
    let call = d.call(NUMBER).await;
    d.until("the answer from the spare trunk", |d| {
        d.tab
            .events
            .iter()
            .any(|e| matches!(e, Event::Answered { .. } | Event::Ended { .. }))
    })
    .await;
    assert!(d.ended(call).is_none(), "{:?}", d.tab.events);
    let now = d.now();
    d.tab.ua.hangup(call, now).unwrap();
    d.until("the call's end", |d| d.gw.active_calls() == 0)
        .await;
    assert_eq!(d.finish(&mut sipp).await, 0, "sipp:\n{}", sipp.errors());
    // The dead trunk got keepalives, never the INVITE.
    let mut buf = [0u8; 65_536];
    let mut got = Vec::new();
    while let Ok((n, _)) = dead.recv_from(&mut buf) {
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(got.iter().any(|m| m.starts_with("OPTIONS ")));
    assert!(!got.iter().any(|m| m.starts_with("INVITE ")), "{got:?}");
}

#[tokio::test]
async fn with_every_trunk_down_the_caller_is_told_there_is_no_line() {
    let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut d = Driver::new(
        vec![trunk("dead", dead.local_addr().unwrap(), 0, 1)],
        |_| {},
    )
    .await;
    d.until("the trunk marked down", |d| {
        d.gw.trunk_states()[0].1 == TrunkState::Down
    })
    .await;
    let call = d.call(NUMBER).await;
    d.until("the refusal", |d| d.ended(call).is_some()).await;
    assert_eq!(
        d.ended(call),
        Some(EndReason::Failed(Failure::ServerError { code: 503 }))
    );
    assert!(d.tab.gateway_events.iter().any(|e| matches!(
        e,
        GatewayEvent::Refused { why: Refusal::NoTrunk, words, .. } if *words == NO_LINE
    )));
}

#[tokio::test]
async fn fraud_attempts_never_reach_the_trunk() {
    // SIPp takes one call and answers it 486: if any refused INVITE had
    // reached it, the honest call at the end would find it gone.
    let (mut sipp, addr) = scenario("gateway_busy_uas.xml");
    let mut d = Driver::new(vec![trunk("carrier", addr, 0, 0)], |c| {
        c.dial_plan.deny = vec!["+1900".into()];
        c.limits = LimitsConfig {
            calls_per_hour: 1,
            ..LimitsConfig::default()
        };
    })
    .await;
    // No proven name.
    d.tab.proven = None;
    let unregistered = d.call(NUMBER).await;
    // A premium-rate number.
    d.tab.proven = Some(ALICE.into());
    let premium = d.call("sip:+19005550100@chordphone").await;
    d.until("two refusals", |d| {
        d.ended(unregistered).is_some() && d.ended(premium).is_some()
    })
    .await;
    for c in [unregistered, premium] {
        assert_eq!(d.ended(c), Some(EndReason::Failed(Failure::Unauthorized)));
    }
    assert_eq!(sipp.exited(), None, "sipp got a call: {}", sipp.errors());
    // The one call of the hour reaches the trunk...
    let honest = d.call(NUMBER).await;
    d.until("the busy signal", |d| d.ended(honest).is_some())
        .await;
    assert_eq!(d.ended(honest), Some(EndReason::Failed(Failure::Busy)));
    assert_eq!(d.finish(&mut sipp).await, 0, "sipp:\n{}", sipp.errors());
    // ...and the next is over quota.
    let greedy = d.call(NUMBER).await;
    d.until("the quota refusal", |d| d.ended(greedy).is_some())
        .await;
    assert_eq!(
        d.ended(greedy),
        Some(EndReason::Failed(Failure::Unauthorized))
    );
    let s = d.gw.stats();
    assert_eq!(s.refused(Refusal::Unregistered), 1);
    assert_eq!(s.refused(Refusal::ForbiddenDestination), 1);
    assert_eq!(s.refused(Refusal::Limit(LimitHit::PerHour)), 1);
    assert_eq!(s.calls_out, 1);
}
