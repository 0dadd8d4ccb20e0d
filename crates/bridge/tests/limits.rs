//! The gateway's requests the bridge must refuse, and its bounds: calls,
//! ports, digits, SDP sizes, hostile datagrams; no sockets needed (the
//! bridge binds none itself).
#![allow(clippy::disallowed_methods, clippy::unwrap_used)]

mod support;

use chordphone_bridge::{
    Bridge, BridgeConfig, BridgeEvent, Leg, MediaCall, MediaError, MAX_BROWSER_SDP, MAX_DATAGRAM,
    MAX_QUEUED_DIGITS,
};
use chordphone_sip::Time;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;
use support::browser::BrowserPeer;

const IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const NOW: Time = Time(5_000_000);

fn bridge(ports: (u16, u16), max_calls: usize) -> Bridge {
    let config = BridgeConfig {
        bind_ip: IP,
        advertise_ip: IP,
        ports,
        max_calls,
        seed: 9,
    };
    Bridge::new(config, Instant::now(), NOW).unwrap()
}

fn offer() -> String {
    let addr: SocketAddr = "127.0.0.1:50000".parse().unwrap();
    BrowserPeer::new(addr, Instant::now()).offer().0
}

fn binds(b: &mut Bridge) -> Vec<(Leg, SocketAddr)> {
    let mut out = Vec::new();
    while let Some(e) = b.poll_event() {
        if let BridgeEvent::Bind { leg, local, .. } = e {
            out.push((leg, local));
        }
    }
    out
}

const TRUNK_PCMU: &str =
    "c=IN IP4 127.0.0.1\r\nm=audio 6000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";

#[test]
fn calls_and_ports_are_bounded_and_freed_on_close() {
    let offer = offer();
    // Three ports: room for one call (two ports), not two.
    let mut b = bridge((30000, 30002), 4);
    b.outbound(MediaCall(1), &offer, NOW).unwrap();
    let first = binds(&mut b);
    assert_eq!(first.len(), 2);
    assert!(first
        .iter()
        .all(|(_, a)| (30000..=30002).contains(&a.port())));
    assert_eq!(
        b.outbound(MediaCall(1), &offer, NOW),
        Err(MediaError::DuplicateCall)
    );
    assert_eq!(
        b.outbound(MediaCall(2), &offer, NOW),
        Err(MediaError::NoPorts)
    );
    // The refused call leaked no port: after the close, a call fits again.
    b.close(MediaCall(1));
    let mut unbound = Vec::new();
    while let Some(e) = b.poll_event() {
        if let BridgeEvent::Unbind { local, .. } = e {
            unbound.push(local);
        }
    }
    assert_eq!(unbound.len(), 2);
    assert_eq!(b.calls(), 0);
    b.outbound(MediaCall(2), &offer, NOW).unwrap();
    assert_eq!(binds(&mut b).len(), 2);

    let mut b = bridge((30000, 30099), 1);
    b.outbound(MediaCall(1), &offer, NOW).unwrap();
    assert_eq!(
        b.outbound(MediaCall(2), &offer, NOW),
        Err(MediaError::TooManyCalls(1))
    );
}

#[test]
fn requests_out_of_turn_or_unusable_are_refused_in_words() {
    let mut b = bridge((30000, 30099), 8);
    let call = MediaCall(1);
    assert_eq!(
        b.rtp_answer(call, TRUNK_PCMU, NOW),
        Err(MediaError::UnknownCall)
    );
    let opus_only =
        BrowserPeer::with_g711("127.0.0.1:50000".parse().unwrap(), Instant::now(), false)
            .offer()
            .0;
    let refused = b.outbound(call, &opus_only, NOW).unwrap_err();
    assert_eq!(refused, MediaError::BrowserCodec);
    assert_eq!(
        refused.to_string(),
        "the browser's offer has no audio we can pass to the trunk (PCMU or PCMA)"
    );
    assert!(matches!(
        b.outbound(call, &"v".repeat(MAX_BROWSER_SDP + 1), NOW),
        Err(MediaError::BrowserSdp(_))
    ));
    assert!(matches!(
        b.outbound(call, "not sdp", NOW),
        Err(MediaError::BrowserSdp(_))
    ));
    assert_eq!(b.calls(), 0, "nothing is kept of a refused call");

    b.outbound(call, &offer(), NOW).unwrap();
    // No trunk answer yet: nowhere to send digits.
    assert!(matches!(
        b.dtmf(call, '1', NOW),
        Err(MediaError::WrongState(_))
    ));
    assert!(matches!(
        b.webrtc_answer(call, "v=0\r\n", NOW),
        Err(MediaError::BrowserSdp(_)) | Err(MediaError::WrongState(_))
    ));
    // The trunk answers a codec the browser does not send.
    let pcma = "c=IN IP4 127.0.0.1\r\nm=audio 6000 RTP/AVP 8\r\n";
    assert_eq!(b.rtp_answer(call, pcma, NOW), Err(MediaError::TrunkCodec));
    assert!(matches!(
        b.rtp_answer(
            call,
            "c=IN IP4 127.0.0.1\r\nm=audio 6000 RTP/SAVP 0\r\n",
            NOW
        ),
        Err(MediaError::TrunkSdp(_))
    ));
    b.rtp_answer(call, TRUNK_PCMU, NOW).unwrap();
    assert_eq!(b.dtmf(call, 'x', NOW), Err(MediaError::BadDigit('x')));
    // One key is on the wire at once, the queue holds the rest up to its bound.
    for _ in 0..=MAX_QUEUED_DIGITS {
        b.dtmf(call, '1', NOW).unwrap();
    }
    assert_eq!(b.dtmf(call, '1', NOW), Err(MediaError::DtmfBusy));

    // An inbound offer the bridge cannot carry.
    assert_eq!(
        b.inbound(
            MediaCall(2),
            "c=IN IP4 127.0.0.1\r\nm=audio 6000 RTP/AVP 9\r\n",
            NOW
        ),
        Err(MediaError::TrunkCodec)
    );
    assert_eq!(
        b.webrtc_answer(MediaCall(2), "v=0\r\n", NOW).unwrap_err(),
        MediaError::UnknownCall
    );
}

#[test]
fn hostile_datagrams_are_counted_and_dropped() {
    let mut b = bridge((30000, 30099), 8);
    let call = MediaCall(1);
    b.outbound(call, &offer(), NOW).unwrap();
    let ports = binds(&mut b);
    let trunk = ports.iter().find(|(l, _)| *l == Leg::Trunk).unwrap().1;
    let browser = ports.iter().find(|(l, _)| *l == Leg::Browser).unwrap().1;
    let from: SocketAddr = "127.0.0.1:9".parse().unwrap();
    while b.poll_transmit().is_some() {}

    b.handle_datagram(trunk, from, &[0u8; MAX_DATAGRAM + 1], NOW);
    b.handle_datagram("127.0.0.1:29999".parse().unwrap(), from, &[0x80; 20], NOW);
    b.handle_datagram(trunk, from, &[0x80, 0, 0], NOW);
    b.handle_datagram(browser, from, &[0xff; 30], NOW);
    // RTP before the trunk's SDP is known: nothing to latch onto.
    let mut rtp = vec![0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
    rtp.extend_from_slice(&[0; 160]);
    b.handle_datagram(trunk, from, &rtp, NOW);
    // A payload type nobody agreed to.
    b.rtp_answer(call, TRUNK_PCMU, NOW).unwrap();
    rtp[1] = 96;
    b.handle_datagram(trunk, from, &rtp, NOW);

    let c = b.counters();
    assert_eq!(c.dropped_oversize, 1);
    assert_eq!(c.dropped_unknown_port, 1);
    assert_eq!(c.dropped_malformed, 2);
    assert_eq!(c.dropped_not_flowing, 1);
    assert_eq!(c.dropped_unknown_pt, 1);
    assert_eq!(c.to_browser + c.to_trunk, 0);
    assert!(b.poll_transmit().is_none(), "no reply to any of it");
    assert_eq!(b.poll_event(), None);
}
