//! The bridge on real UDP sockets on loopback: a str0m peer plays the
//! browser (full ICE, DTLS-SRTP) and plain UDP sockets play the trunk.
//! Audio, DTMF both ways, latching, hold and hostile datagrams are checked
//! on what arrives at the other end.
// The shell's part (sockets, the wall clock) is this test's job.
#![allow(clippy::disallowed_methods, clippy::unwrap_used)]

mod support;

use chordphone_bridge::rtp::{self, RtpPacket, TelephoneEvent};
use chordphone_bridge::sdp;
use chordphone_bridge::{BridgeEvent, Leg};
use std::time::Instant;
use support::browser::BROWSER_EVENT_PT;
use support::world::{bound, outbound_call, World, CALL};

#[test]
fn audio_passes_both_ways_and_the_trunk_leg_latches() {
    let mut w = outbound_call(21000, None);

    // Before the trunk has sent anything: to the address its SDP gave.
    for seq in 1..=5 {
        w.browser_sends_audio(seq, seq as u8);
    }
    w.until("5 packets at the signalled address", |w| {
        w.trunk_packets_at(&w.trunk_signalled).len() >= 5
    });
    let got = w.trunk_packets_at(&w.trunk_signalled);
    for (i, (pt, _, seq, ts, payload)) in got.iter().enumerate() {
        assert_eq!(*pt, 0);
        assert_eq!(payload, &vec![i as u8 + 1; 160], "payload unchanged");
        assert_eq!(*seq, got[0].2.wrapping_add(i as u16), "contiguous");
        assert_eq!(*ts, got[0].3.wrapping_add(160 * i as u32), "spaced");
    }

    // The trunk speaks from another port: the bridge latches onto it.
    for i in 0..5u8 {
        w.trunk_sends(
            0,
            1000 + u16::from(i),
            8000 + 160 * u32::from(i),
            i == 0,
            &[0x40 + i; 160],
        );
    }
    w.until("5 packets at the browser", |w| {
        w.browser.received.len() >= 5
    });
    let real = w.trunk_real.local_addr().unwrap();
    assert!(w.events.contains(&BridgeEvent::TrunkLatched {
        call: CALL,
        source: real
    }));
    for (i, p) in w.browser.received.iter().enumerate() {
        assert_eq!(*p.header.payload_type, 0);
        assert_eq!(&p.payload[..], &[0x40 + i as u8; 160], "payload unchanged");
    }

    // From now on the bridge sends where the trunk's packets come from.
    for seq in 6..=8 {
        w.browser_sends_audio(seq, 0x60 + seq as u8);
    }
    w.until("3 packets at the trunk's real address", |w| {
        w.trunk_packets_at(&w.trunk_real).len() >= 3
    });
    assert_eq!(w.trunk_packets_at(&w.trunk_signalled).len(), 5);
    assert_eq!(w.trunk_packets_at(&w.trunk_real)[0].4, vec![0x66; 160]);

    // A packet from a third address is not taken for the trunk.
    let stranger = bound();
    let before = w.bridge.counters().dropped_foreign_source;
    let forged = rtp::write(&RtpPacket {
        marker: false,
        pt: 0,
        seq: 1005,
        timestamp: 8800,
        ssrc: 0x7e57,
        payload: &[0xee; 160],
    });
    stranger
        .send_to(&forged, w.bridge_port(Leg::Trunk))
        .unwrap();
    w.until("the forged packet is dropped", |w| {
        w.bridge.counters().dropped_foreign_source > before
    });
    assert!(w.browser.received.iter().all(|p| p.payload[0] != 0xee));

    w.bridge.close(CALL);
    w.until("both sockets released", |w| w.bridge_sockets.is_empty());
}

#[test]
fn dtmf_goes_both_ways_as_rfc_4733_events() {
    let mut w = outbound_call(21010, None);
    // Latch first, so that everything goes to the trunk's real address.
    w.trunk_sends(0, 1, 0, true, &[0xff; 160]);
    w.until("the latch", |w| !w.browser.received.is_empty());

    // The dial pad's '5' arrives at the trunk as events 5, ending.
    let now = w.now();
    w.bridge.dtmf(CALL, '5', now).unwrap();
    w.until("the end of event 5 three times", |w| {
        w.trunk_packets_at(&w.trunk_real)
            .iter()
            .filter(|p| p.0 == 101 && p.4[1] & 0x80 != 0)
            .count()
            >= 3
    });
    let events: Vec<_> = w
        .trunk_packets_at(&w.trunk_real)
        .into_iter()
        .filter(|p| p.0 == 101)
        .collect();
    assert!(events[0].1, "the first report has the marker bit");
    assert!(events.iter().all(|p| p.4[0] == 5), "event code 5");
    assert!(events.iter().all(|p| p.3 == events[0].3), "one timestamp");
    let last = TelephoneEvent::parse(&events[events.len() - 1].4).unwrap();
    assert!(last.end);
    assert_eq!(last.duration, 800);

    // The trunk's '#' comes out as an event and reaches the browser at its
    // own telephone-event payload type.
    let received_before = w.browser.received.len();
    for (i, (end, duration)) in [(false, 160u16), (true, 320), (true, 320), (true, 320)]
        .into_iter()
        .enumerate()
    {
        let report = TelephoneEvent {
            code: 11,
            end,
            volume: 10,
            duration,
        };
        w.trunk_sends(101, 2 + i as u16, 4000, i == 0, &report.to_bytes());
    }
    w.until_digit(Leg::Trunk, '#');
    w.until("the events at the browser", |w| {
        w.browser.received.len() >= received_before + 4
    });
    let at_browser = &w.browser.received[received_before..];
    assert!(at_browser
        .iter()
        .all(|p| *p.header.payload_type == BROWSER_EVENT_PT && p.payload[0] == 11));
    let reported = |w: &World| {
        w.events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    BridgeEvent::Dtmf {
                        from: Leg::Trunk,
                        ..
                    }
                )
            })
            .count()
    };
    assert_eq!(reported(&w), 1, "one report per key press");

    // The browser's '7' (at its payload type 126) reaches the trunk at 101.
    for (i, end) in [false, true, true, true].into_iter().enumerate() {
        let report = TelephoneEvent {
            code: 7,
            end,
            volume: 10,
            duration: 160 * (i as u16 + 1),
        };
        w.browser.send_rtp(
            BROWSER_EVENT_PT,
            100 + i as u64,
            48_000,
            i == 0,
            &report.to_bytes(),
            Instant::now(),
        );
    }
    w.until("'7' from the browser at the trunk", |w| {
        w.trunk_packets_at(&w.trunk_real)
            .iter()
            .filter(|p| p.0 == 101 && p.4[0] == 7)
            .count()
            >= 4
    });
    assert!(w.events.contains(&BridgeEvent::Dtmf {
        call: CALL,
        from: Leg::Browser,
        digit: '7',
    }));
}

#[test]
fn hold_stops_forwarding_and_resume_restarts_it() {
    let mut w = outbound_call(21020, None);
    w.trunk_sends(0, 1, 0, true, &[0x01; 160]);
    w.until("the latch", |w| !w.browser.received.is_empty());

    let origin = |w: &World| {
        w.bridge
            .rtp_sdp(CALL)
            .unwrap()
            .lines()
            .nth(1)
            .unwrap()
            .to_owned()
    };
    let before = origin(&w);
    let now = w.now();
    w.bridge.hold(CALL, true, now);
    // A changed SDP is a new version of it (RFC 3264 §8).
    assert_ne!(origin(&w), before);
    let held_sdp = sdp::parse(&w.bridge.rtp_sdp(CALL).unwrap()).unwrap();
    assert_eq!(held_sdp.direction, sdp::Direction::SendOnly);
    let dropped = w.bridge.counters().dropped_not_flowing;
    for seq in 1..=3 {
        w.browser_sends_audio(seq, 0xaa);
        w.trunk_sends(0, 1 + seq as u16, 160 * seq as u32, false, &[0xaa; 160]);
    }
    w.until("6 packets dropped on hold", |w| {
        w.bridge.counters().dropped_not_flowing >= dropped + 6
    });

    let now = w.now();
    w.bridge.hold(CALL, false, now);
    assert_eq!(
        sdp::parse(&w.bridge.rtp_sdp(CALL).unwrap())
            .unwrap()
            .direction,
        sdp::Direction::SendRecv
    );
    w.browser_sends_audio(4, 0xbb);
    w.trunk_sends(0, 5, 800, false, &[0xbb; 160]);
    w.until("media after resume both ways", |w| {
        w.browser.received.iter().any(|p| p.payload[0] == 0xbb)
            && w.trunk_packets_at(&w.trunk_real)
                .iter()
                .any(|p| p.4[0] == 0xbb)
    });
    assert!(w.browser.received.iter().all(|p| p.payload[0] != 0xaa));
    assert!(w
        .trunk_packets_at(&w.trunk_real)
        .iter()
        .all(|p| p.4[0] != 0xaa));
}

#[test]
fn a_trunk_calls_in_with_pcma_and_a_tab_answers() {
    let mut w = World::new(21030);
    let signalled = w.trunk_signalled.local_addr().unwrap().port();
    let offer = format!(
        "v=0\r\no=trunk 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {signalled} RTP/AVP 8 0 96\r\na=rtpmap:96 telephone-event/8000\r\na=sendrecv\r\n"
    );
    let now = w.now();
    let webrtc_offer = w.bridge.inbound(CALL, &offer, now).unwrap();
    let answer = w.browser.accept_offer(&webrtc_offer);
    let now = w.now();
    let rtp_answer = sdp::parse(&w.bridge.webrtc_answer(CALL, &answer, now).unwrap()).unwrap();
    assert_eq!(rtp_answer.g711, vec![(sdp::G711::Pcma, 8)]);
    assert_eq!(rtp_answer.telephone_event, Some(96));
    w.until("ICE and DTLS with the browser", |w| {
        w.browser.connected
            && w.events
                .contains(&BridgeEvent::BrowserConnected { call: CALL })
    });
    w.trunk_sends(8, 1, 0, true, &[0x55; 160]);
    w.until("PCMA at the browser", |w| !w.browser.received.is_empty());
    assert_eq!(*w.browser.received[0].header.payload_type, 8);
    w.browser
        .send_rtp(8, 1, 0, false, &[0xd5; 160], Instant::now());
    w.until("PCMA at the trunk", |w| {
        !w.trunk_packets_at(&w.trunk_real).is_empty()
    });
    assert_eq!(w.trunk_packets_at(&w.trunk_real)[0].0, 8);

    // Events at the trunk's own payload type (96) both ways; the browser
    // has them at the one the bridge offered it (101).
    for (i, end) in [false, true, true, true].into_iter().enumerate() {
        let report = TelephoneEvent {
            code: 12,
            end,
            volume: 10,
            duration: 160 * (i as u16 + 1),
        };
        w.trunk_sends(96, 10 + i as u16, 3200, i == 0, &report.to_bytes());
    }
    w.until_digit(Leg::Trunk, 'A');
    w.until("the events at the browser", |w| {
        w.browser
            .received
            .iter()
            .filter(|p| *p.header.payload_type == 101 && p.payload[0] == 12)
            .count()
            >= 4
    });
    let now = w.now();
    w.bridge.dtmf(CALL, '#', now).unwrap();
    w.until("'#' at the trunk at 96", |w| {
        w.trunk_packets_at(&w.trunk_real)
            .iter()
            .filter(|p| p.0 == 96 && p.4[0] == 11 && p.4[1] & 0x80 != 0)
            .count()
            >= 3
    });

    // Hostile datagrams at both ports are counted and change nothing.
    let stranger = bound();
    let c = w.bridge.counters();
    stranger
        .send_to(&[0x80; 5], w.bridge_port(Leg::Trunk))
        .unwrap();
    stranger
        .send_to(&[0x16; 40], w.bridge_port(Leg::Browser))
        .unwrap();
    stranger
        .send_to(&[0u8; 1600], w.bridge_port(Leg::Browser))
        .unwrap();
    w.until("three refusals", |w| {
        let n = w.bridge.counters();
        n.dropped_malformed + n.dropped_oversize >= c.dropped_malformed + c.dropped_oversize + 3
    });
    w.browser
        .send_rtp(8, 2, 160, false, &[0xd6; 160], Instant::now());
    w.until("media still flows", |w| {
        w.trunk_packets_at(&w.trunk_real)
            .iter()
            .any(|p| p.4[0] == 0xd6)
    });
}
