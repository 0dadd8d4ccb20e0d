//! The B2BUA's state machine between real SIP user agents in memory: a
//! tab's user agent on the caller side, trunk user agents playing the
//! network, a fake bridge recording what the gateway asks of it, and a
//! virtual clock.

use std::time::Duration;

use bytes::Bytes;
use chordphone_sip::{CallId, Config, EndReason, Event, Failure, Flow, Time, Transport, UserAgent};

use crate::config::{GatewayConfig, LimitsConfig, TrunkConfig};
use crate::stats::Refusal;
use crate::testing::{Caller, FixedSdp};
use crate::{Gateway, GatewayEvent, LimitHit, NO_LINE};

const GW_TRUNK_SIDE: u32 = 2;
const TRUNK_A: u32 = 100;
const TRUNK_B: u32 = 101;
const ALICE: &str = "sip:alice@chordphone";
const WEBRTC_OFFER: &str = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=sendrecv\r\n";
const WEBRTC_ANSWER: &str = "v=0\r\no=- 2 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 40000 UDP/TLS/RTP/SAVPF 0\r\na=sendrecv\r\n";
const RTP_OFFER: &str = "v=0\r\no=- 3 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 40002 RTP/AVP 0\r\na=sendrecv\r\n";
const RTP_ANSWER: &str = "v=0\r\no=- 4 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\n";

/// The gateway between a tab and two trunks, all in memory.
struct Net {
    gw: Gateway<u32, u32>,
    /// The tab, and what it and the gateway reported.
    caller: Caller,
    trunks: Vec<(u32, UserAgent<u32>)>,
    /// A trunk whose incoming messages are lost.
    lost: Option<u32>,
    media: FixedSdp,
    now: Time,
    trunk_events: Vec<(u32, Event)>,
}

fn trunk_config(name: &str, priority: u32) -> TrunkConfig {
    TrunkConfig {
        name: name.into(),
        host: format!("{name}.example.invalid"),
        options_interval: 0,
        priority,
        ..TrunkConfig::default()
    }
}

impl Net {
    fn new(tweak: impl FnOnce(&mut GatewayConfig), with_media: bool) -> Net {
        let mut config = GatewayConfig {
            trunk: vec![trunk_config("a", 0), trunk_config("b", 1)],
            t1_ms: 100,
            ..GatewayConfig::default()
        };
        tweak(&mut config);
        let mut gw = Gateway::new(
            config,
            "sip:pstn-gateway@chordphone",
            "192.0.2.1:5060",
            vec![TRUNK_A, TRUNK_B],
            9,
        )
        .unwrap();
        let media = FixedSdp::new(WEBRTC_ANSWER, RTP_OFFER);
        if with_media {
            gw.set_media(Box::new(media.clone()));
        }
        let now = Time(1_700_000_000_000_000);
        gw.start(now);
        let trunk_ua = |seed| {
            UserAgent::new(
                Config::new(
                    "sip:trunk@example.invalid",
                    "sip:trunk@192.0.2.9",
                    "192.0.2.9",
                ),
                seed,
            )
        };
        Net {
            gw,
            caller: Caller::new(ALICE, 3),
            trunks: vec![(TRUNK_A, trunk_ua(4)), (TRUNK_B, trunk_ua(5))],
            lost: None,
            media,
            now,
            trunk_events: Vec::new(),
        }
    }

    /// Moves every message until nothing is in flight.
    fn pump(&mut self) {
        loop {
            let mut moved = self.caller.exchange(&mut self.gw, self.now);
            while let Some(t) = self.gw.poll_trunk_transmit() {
                moved = true;
                if self.lost == Some(t.to.addr) {
                    continue;
                }
                let ua = &mut self
                    .trunks
                    .iter_mut()
                    .find(|(a, _)| *a == t.to.addr)
                    .unwrap()
                    .1;
                ua.handle_input(Flow::new(Transport::Udp, GW_TRUNK_SIDE), &t.bytes, self.now);
            }
            for (addr, ua) in &mut self.trunks {
                while let Some(t) = ua.poll_transmit() {
                    moved = true;
                    self.gw.handle_trunk(*addr, &t.bytes, self.now);
                }
                while let Some(e) = ua.poll_event() {
                    self.trunk_events.push((*addr, e));
                }
            }
            if !moved {
                return;
            }
        }
    }

    /// Runs the virtual clock `d` further, firing every timer on the way.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.pump();
            let next = [
                self.gw.poll_timeout(),
                self.caller.ua.poll_timeout(),
                self.trunks[0].1.poll_timeout(),
                self.trunks[1].1.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.gw.handle_timeout(self.now);
                    self.caller.ua.handle_timeout(self.now);
                    for (_, ua) in &mut self.trunks {
                        ua.handle_timeout(self.now);
                    }
                }
                _ => break,
            }
        }
        self.now = end;
        self.pump();
    }

    /// The tab calls `target` (see [`Caller::invite`]).
    fn call(&mut self, target: &str) -> CallId {
        let call = self.caller.invite(target, WEBRTC_OFFER, self.now).unwrap();
        self.pump();
        call
    }

    /// The call ringing at trunk `addr`, with its Request-URI's To.
    fn incoming_at(&self, addr: u32) -> Option<(CallId, String)> {
        self.trunk_events.iter().rev().find_map(|(a, e)| match e {
            Event::Incoming { call, to, .. } if *a == addr => Some((*call, to.clone())),
            _ => None,
        })
    }

    /// Trunk `addr` answers its call `tc` with its SDP.
    fn answer_at(&mut self, addr: u32, tc: CallId) {
        let t = self.now;
        self.trunk(addr)
            .answer(tc, Bytes::from_static(RTP_ANSWER.as_bytes()), t)
            .unwrap();
        self.pump();
    }

    fn trunk(&mut self, addr: u32) -> &mut UserAgent<u32> {
        &mut self.trunks.iter_mut().find(|(a, _)| *a == addr).unwrap().1
    }
}

#[test]
fn a_call_rings_with_early_media_is_answered_and_hung_up_from_the_tab() {
    let mut net = Net::new(|_| {}, true);
    let call = net.call("tel:+1-555-123-4567");
    let (tc, to) = net
        .incoming_at(TRUNK_A)
        .expect("the INVITE reached trunk a");
    assert!(to.contains("+15551234567"), "{to}");
    let t = net.now;
    net.trunk(TRUNK_A).ring(tc, None, t).unwrap();
    net.pump();
    net.trunk(TRUNK_A)
        .ring(tc, Some(Bytes::from_static(RTP_ANSWER.as_bytes())), t)
        .unwrap();
    net.pump();
    let progress: Vec<(u16, bool)> = net
        .caller
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Progress { code, body, .. } => {
                Some((*code, body.as_deref() == Some(WEBRTC_ANSWER.as_bytes())))
            }
            _ => None,
        })
        .collect();
    assert_eq!(progress, vec![(180, false), (183, true)]);
    net.answer_at(TRUNK_A, tc);
    assert_eq!(
        net.caller.answered(call).as_deref(),
        Some(WEBRTC_ANSWER.as_bytes())
    );
    assert_eq!(net.gw.active_calls(), 1);
    net.advance(Duration::from_secs(30));
    let t = net.now;
    net.caller.ua.hangup(call, t).unwrap();
    net.pump();
    assert!(net.trunk_events.iter().any(|(_, e)| *e
        == Event::Ended {
            call: tc,
            reason: EndReason::RemoteHangup
        }));
    assert_eq!(net.gw.active_calls(), 0);
    // The bridge was asked once for each step, the RTP answer given once.
    let log = net.media.log();
    assert_eq!(log.steps, vec!["outbound 1", "rtp_answer 1", "close 1"]);
    assert_eq!(log.rtp_answers, vec![RTP_ANSWER]);
    let s = net.gw.stats();
    assert_eq!(
        (s.calls_out, s.answered, s.failed, s.refused_total()),
        (1, 1, 0, 0)
    );
    assert_eq!(net.caller.words(), vec![None]);
}

#[test]
fn the_trunk_hangs_up_and_the_tab_hears_it() {
    let mut net = Net::new(|_| {}, true);
    let call = net.call("+15551234567");
    let (tc, _) = net.incoming_at(TRUNK_A).unwrap();
    let t = net.now;
    net.answer_at(TRUNK_A, tc);
    net.trunk(TRUNK_A).hangup(tc, t).unwrap();
    net.pump();
    assert_eq!(net.caller.ended(call), Some(EndReason::RemoteHangup));
    assert_eq!(net.gw.active_calls(), 0);
}

#[test]
fn busy_and_unknown_numbers_reach_the_tab_as_words() {
    for (failure, words, status) in [
        (Failure::Busy, "The number is busy", Failure::Busy),
        (
            Failure::NotFound,
            "That number does not exist",
            Failure::NotFound,
        ),
        (
            Failure::Unauthorized,
            "The trunk refused the call",
            Failure::Unauthorized,
        ),
    ] {
        let mut net = Net::new(|_| {}, true);
        let call = net.call("+15551234567");
        let (tc, _) = net.incoming_at(TRUNK_A).unwrap();
        let t = net.now;
        net.trunk(TRUNK_A).reject(tc, failure, t).unwrap();
        net.pump();
        assert_eq!(net.caller.ended(call), Some(EndReason::Failed(status)));
        assert_eq!(net.caller.words(), vec![Some(words)]);
        // Not a trunk failure: no failover.
        assert!(net.incoming_at(TRUNK_B).is_none());
        assert_eq!(net.gw.stats().failed, 1);
        assert_eq!(
            net.media.log().steps.last().map(String::as_str),
            Some("close 1")
        );
    }
}

#[test]
fn the_tab_cancels_before_the_answer() {
    let mut net = Net::new(|_| {}, true);
    let call = net.call("+15551234567");
    let (tc, _) = net.incoming_at(TRUNK_A).unwrap();
    let t = net.now;
    net.trunk(TRUNK_A).ring(tc, None, t).unwrap();
    net.pump();
    net.caller.ua.hangup(call, t).unwrap();
    net.pump();
    assert!(net.trunk_events.iter().any(|(_, e)| matches!(
        e,
        Event::Ended { call, reason: EndReason::Failed(Failure::Cancelled) } if *call == tc
    )));
    assert_eq!(net.gw.active_calls(), 0);
}

#[test]
fn a_5xx_fails_over_to_the_next_trunk() {
    let mut net = Net::new(|_| {}, true);
    let call = net.call("+15551234567");
    let (tc, _) = net.incoming_at(TRUNK_A).unwrap();
    let t = net.now;
    net.trunk(TRUNK_A)
        .reject(tc, Failure::ServerError { code: 503 }, t)
        .unwrap();
    net.pump();
    let (tb, _) = net.incoming_at(TRUNK_B).expect("failed over to b");
    net.answer_at(TRUNK_B, tb);
    assert!(net.caller.answered(call).is_some());
    assert_eq!(net.gw.stats().failovers, 1);
    assert!(net.caller.gateway_events.contains(&GatewayEvent::Failover {
        call: 1,
        from: "a".into(),
        to: "b".into()
    }));
}

#[test]
fn a_silent_trunk_is_marked_down_and_the_call_fails_over() {
    let mut net = Net::new(|_| {}, true);
    // Everything sent to trunk a is lost: it never answers.
    net.lost = Some(TRUNK_A);
    let call = net.call("+15551234567");
    // 64 × T1 (100 ms) later the INVITE has timed out.
    net.advance(Duration::from_millis(6500));
    let (tb, _) = net.incoming_at(TRUNK_B).expect("failed over to b");
    net.answer_at(TRUNK_B, tb);
    assert!(net.caller.answered(call).is_some());
    assert_eq!(net.gw.stats().trunk_down, 1);
    assert!(net
        .caller
        .gateway_events
        .contains(&GatewayEvent::TrunkDown { trunk: "a".into() }));
}

#[test]
fn no_bridge_means_no_line_503() {
    let mut net = Net::new(|_| {}, false);
    let call = net.call("+15551234567");
    assert_eq!(
        net.caller.ended(call),
        Some(EndReason::Failed(Failure::ServerError { code: 503 }))
    );
    assert_eq!(net.gw.stats().refused(Refusal::NoMedia), 1);
    assert!(net
        .caller
        .gateway_events
        .iter()
        .any(|e| matches!(e, GatewayEvent::Refused { words, .. } if *words == NO_LINE)));
    assert!(net.trunk_events.is_empty());
}

#[test]
fn fraud_is_refused_before_any_trunk_sees_it() {
    let mut net = Net::new(
        |c| {
            c.dial_plan.deny = vec!["+1900".into()];
            c.limits = LimitsConfig {
                concurrent_calls: 1,
                ..LimitsConfig::default()
            };
        },
        true,
    );
    // Not a proven identity.
    net.caller.proven = None;
    let c1 = net.call("+15551234567");
    assert_eq!(
        net.caller.ended(c1),
        Some(EndReason::Failed(Failure::Unauthorized))
    );
    // Proven, but as someone else than the SIP From.
    net.caller.proven = Some("sip:mallory@chordphone".into());
    let c2 = net.call("+15551234567");
    assert_eq!(
        net.caller.ended(c2),
        Some(EndReason::Failed(Failure::Unauthorized))
    );
    net.caller.proven = Some(ALICE.into());
    let c3 = net.call("+1 900 555 0100");
    assert_eq!(
        net.caller.ended(c3),
        Some(EndReason::Failed(Failure::Unauthorized))
    );
    let c4 = net.call("sip:bob@chordphone");
    assert_eq!(
        net.caller.ended(c4),
        Some(EndReason::Failed(Failure::NotFound))
    );
    assert!(net.trunk_events.is_empty(), "{:?}", net.trunk_events);
    // One call at once: the second is refused, the first reaches the trunk.
    let _c5 = net.call("+15551234567");
    let c6 = net.call("+15551234568");
    assert_eq!(
        net.caller.ended(c6),
        Some(EndReason::Failed(Failure::Unauthorized))
    );
    assert_eq!(net.trunk_events.len(), 1);
    let s = net.gw.stats();
    assert_eq!(s.refused(Refusal::Unregistered), 1);
    assert_eq!(s.refused(Refusal::WrongIdentity), 1);
    assert_eq!(s.refused(Refusal::ForbiddenDestination), 1);
    assert_eq!(s.refused(Refusal::NotANumber), 1);
    assert_eq!(s.refused(Refusal::Limit(LimitHit::Concurrent)), 1);
    assert_eq!(s.calls_out, 1);
}

#[test]
fn the_minutes_of_the_day_cut_a_call() {
    let mut net = Net::new(
        |c| {
            c.limits = LimitsConfig {
                minutes_per_day: 1,
                ..LimitsConfig::default()
            };
        },
        true,
    );
    let call = net.call("+15551234567");
    let (tc, _) = net.incoming_at(TRUNK_A).unwrap();
    net.answer_at(TRUNK_A, tc);
    net.advance(Duration::from_secs(59));
    assert!(net.caller.ended(call).is_none());
    net.advance(Duration::from_secs(2));
    assert_eq!(net.caller.ended(call), Some(EndReason::RemoteHangup));
    assert!(net.trunk_events.iter().any(|(_, e)| *e
        == Event::Ended {
            call: tc,
            reason: EndReason::RemoteHangup
        }));
    assert_eq!(net.gw.stats().minutes_cut, 1);
    // Nothing left today.
    let again = net.call("+15551234567");
    assert_eq!(
        net.caller.ended(again),
        Some(EndReason::Failed(Failure::Unauthorized))
    );
    assert_eq!(
        net.gw
            .stats()
            .refused(Refusal::Limit(LimitHit::MinutesPerDay)),
        1
    );
}

#[test]
fn hold_from_the_tab_reaches_the_trunk_and_back() {
    let mut net = Net::new(|_| {}, true);
    let call = net.call("+15551234567");
    let (tc, _) = net.incoming_at(TRUNK_A).unwrap();
    let t = net.now;
    net.answer_at(TRUNK_A, tc);
    let held = crate::with_direction(WEBRTC_OFFER, crate::Direction::SendOnly);
    net.caller.ua.reinvite(call, Bytes::from(held), t).unwrap();
    net.pump();
    let offer = net
        .trunk_events
        .iter()
        .find_map(|(_, e)| match e {
            Event::Reoffer { offer, .. } => Some(offer.clone()),
            _ => None,
        })
        .expect("the hold reached the trunk");
    assert!(String::from_utf8_lossy(&offer).contains("a=sendonly"));
    let answer = crate::with_direction(RTP_ANSWER, crate::Direction::RecvOnly);
    net.trunk(TRUNK_A)
        .accept_reoffer(tc, Bytes::from(answer), t)
        .unwrap();
    net.pump();
    let changed = net.caller.events.iter().find_map(|e| match e {
        Event::MediaChanged { answer, .. } => Some(answer.clone()),
        _ => None,
    });
    assert!(
        String::from_utf8_lossy(&changed.expect("the tab's hold was answered"))
            .contains("a=recvonly")
    );
    assert!(net.media.log().steps.contains(&"hold 1 true".to_owned()));
}
