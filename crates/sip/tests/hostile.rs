//! Hostile and excessive input: it is counted, answered where it can be,
//! and changes nothing else.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use chordphone_sip::{Config, EndReason, Event, Flow, Time, Transport, UserAgent};
use common::{sdp, Kind, Net};

fn invite_from(n: u32) -> Vec<u8> {
    let body = "v=0\r\n";
    format!(
        "INVITE sip:ua@ua.test SIP/2.0\r\nVia: SIP/2.0/UDP h{n}.test;branch=z9hG4bKflood{n}\r\nMax-Forwards: 70\r\nFrom: <sip:x{n}@h.test>;tag=f{n}\r\nTo: <sip:ua@ua.test>\r\nCall-ID: flood-{n}\r\nCSeq: 1 INVITE\r\nContact: <sip:x{n}@h{n}.test>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn status_of(bytes: &Bytes) -> u16 {
    std::str::from_utf8(&bytes[8..11]).unwrap().parse().unwrap()
}

#[test]
fn a_call_survives_garbage_and_forgeries() {
    let mut net = Net::new(Kind::Reliable, &["alice", "bob"]);
    let a = net.invite(0, 1);
    net.run_secs(1);
    let b = net.incoming(1);
    let now = net.now;
    net.uas[1].answer(b, sdp("answer"), now).unwrap();
    net.run_secs(1);
    let dialog = net.uas[1].dialog(b).unwrap().id.clone();
    let junk: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"\r\n\r\n".to_vec(),
        vec![0xff; 3000],
        b"SIP/2.0 200 OK\r\n\r\n".to_vec(),
        b"BYE sip:x SIP/2.0\r\n\r\n".to_vec(),
        // A BYE with the right Call-ID and tags but an older CSeq: out of order, 500.
        format!(
            "BYE sip:bob@ua1.test SIP/2.0\r\nVia: SIP/2.0/P2P ua0.test:5060;branch=z9hG4bKold\r\nMax-Forwards: 70\r\nFrom: <sip:alice@example.test>;tag={}\r\nTo: <sip:bob@example.test>;tag={}\r\nCall-ID: {}\r\nCSeq: 0 BYE\r\nContent-Length: 0\r\n\r\n",
            dialog.remote_tag, dialog.local_tag, dialog.call_id
        )
        .into_bytes(),
        // The same with a tag of nobody's: 481.
        format!(
            "BYE sip:bob@ua1.test SIP/2.0\r\nVia: SIP/2.0/P2P ua0.test:5060;branch=z9hG4bKforged\r\nMax-Forwards: 70\r\nFrom: <sip:alice@example.test>;tag=forged\r\nTo: <sip:bob@example.test>;tag={}\r\nCall-ID: {}\r\nCSeq: 999999 BYE\r\nContent-Length: 0\r\n\r\n",
            dialog.local_tag, dialog.call_id
        )
        .into_bytes(),
        // A response to nothing we sent.
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/P2P ua1.test:5060;branch=z9hG4bKnothing\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: none\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n".to_vec(),
    ];
    let mut codes = Vec::new();
    for j in &junk {
        let now = net.now;
        let flow = net.flow(0);
        net.uas[1].handle_input(flow, j, now);
        while let Some(t) = net.uas[1].poll_transmit() {
            codes.push(status_of(&t.bytes));
        }
    }
    assert_eq!(codes, [500, 481]);
    let s = net.uas[1].stats().clone();
    assert_eq!(s.keepalives, 1, "{s:?}");
    assert_eq!(s.malformed, 2, "{s:?}");
    assert!(s.invalid >= 3, "{s:?}");
    assert!(s.stray >= 2, "{s:?}");
    // The call is untouched: the real hang-up still works.
    assert_eq!(net.uas[1].active_calls(), 1);
    net.run_secs(1);
    assert!(net.events[1]
        .iter()
        .all(|e| !matches!(e, Event::Ended { .. })));
    let now = net.now;
    net.uas[0].hangup(a, now).unwrap();
    net.run_secs(10);
    assert_eq!(net.ended(1, b), Some(EndReason::RemoteHangup));
}

#[test]
fn calls_and_transactions_are_bounded() {
    let mut config = Config::new("sip:ua@ua.test", "sip:ua@ua.test", "ua.test");
    config.max_calls = 3;
    config.max_transactions = 5;
    let mut ua: UserAgent<u32> = UserAgent::new(config, 9);
    let mut codes = Vec::new();
    for n in 0..10 {
        ua.handle_input(Flow::new(Transport::Udp, n), &invite_from(n), Time(0));
        while let Some(t) = ua.poll_transmit() {
            codes.push(status_of(&t.bytes));
        }
    }
    // Three calls ring; the next two are refused busy (their transactions
    // count), then the transaction table is full: 503 without state.
    assert_eq!(ua.active_calls(), 3);
    assert_eq!(codes, [486, 486, 503, 503, 503, 503, 503]);
    assert_eq!(ua.transactions(), (0, 5));
    assert_eq!(ua.stats().overload, 7);
    // Retransmissions of a known INVITE still reach its transaction.
    ua.handle_input(Flow::new(Transport::Udp, 0), &invite_from(0), Time(1));
    assert!(
        ua.poll_transmit().is_none(),
        "absorbed: nothing answered yet"
    );
}

#[test]
fn stream_input_in_any_pieces() {
    let msg = invite_from(1);
    for size in [1, 2, 3, 50, msg.len()] {
        let mut ua: UserAgent<u32> = UserAgent::new(
            Config::new("sip:ua@ua.test", "sip:ua@ua.test", "ua.test"),
            1,
        );
        // Two messages back to back on one TCP flow, cut every `size` bytes.
        let mut stream = msg.clone();
        stream.extend_from_slice(&invite_from(2));
        for piece in stream.chunks(size) {
            ua.handle_input(Flow::new(Transport::Tcp, 7), piece, Time(0));
        }
        let calls = std::iter::from_fn(|| ua.poll_event())
            .filter(|e| matches!(e, Event::Incoming { .. }))
            .count();
        assert_eq!(calls, 2, "pieces of {size}");
    }
    // A stream without Content-Length cannot be framed: dropped, counted,
    // and the next message on the same flow parses again.
    let mut ua: UserAgent<u32> = UserAgent::new(
        Config::new("sip:ua@ua.test", "sip:ua@ua.test", "ua.test"),
        1,
    );
    let bad = b"OPTIONS sip:ua@ua.test SIP/2.0\r\nVia: SIP/2.0/TCP h.test;branch=z9hG4bKx\r\n\r\n";
    ua.handle_input(Flow::new(Transport::Tcp, 7), bad, Time(0));
    assert_eq!(ua.stats().malformed, 1);
    ua.handle_input(Flow::new(Transport::Tcp, 7), &invite_from(3), Time(0));
    assert!(matches!(ua.poll_event(), Some(Event::Incoming { .. })));
}

#[test]
fn local_misuse_is_a_typed_error() {
    use chordphone_sip::{CallId, LocalError};
    let mut ua: UserAgent<u32> = UserAgent::new(
        Config::new("sip:ua@ua.test", "sip:ua@ua.test", "ua.test"),
        1,
    );
    let flow = Flow::new(Transport::Udp, 1);
    assert_eq!(
        ua.invite("not a uri", flow.clone(), None, Time(0)),
        Err(LocalError::BadUri)
    );
    assert_eq!(ua.hangup(CallId(99), Time(0)), Err(LocalError::UnknownCall));
    let call = ua.invite("sip:b@h.test", flow, None, Time(0)).unwrap();
    // Not ours to answer: we are the caller.
    assert_eq!(
        ua.answer(call, Bytes::new(), Time(0)),
        Err(LocalError::WrongState)
    );
    assert_eq!(
        ua.reinvite(call, Bytes::new(), Time(0)),
        Err(LocalError::WrongState)
    );
    assert_eq!(
        LocalError::BadUri.to_string(),
        "the address is not a valid SIP URI"
    );
}

/// `Require: timer` is served only where session timers are built in;
/// without them the INVITE is refused 420 naming the extension, and no call
/// starts.
#[test]
fn require_timer_needs_session_timers() {
    let mut ua: UserAgent<u32> = UserAgent::new(
        Config::new("sip:ua@ua.test", "sip:ua@ua.test", "ua.test"),
        3,
    );
    let invite = String::from_utf8(invite_from(1)).unwrap().replace(
        "Content-Type:",
        "Require: timer\r\nSupported: timer\r\nSession-Expires: 1800\r\nContent-Type:",
    );
    ua.handle_input(Flow::new(Transport::Overlay, 7), invite.as_bytes(), Time(0));
    let incoming = matches!(ua.poll_event(), Some(Event::Incoming { .. }));
    let sent: Vec<Bytes> = std::iter::from_fn(|| ua.poll_transmit())
        .map(|t| t.bytes)
        .collect();
    if cfg!(feature = "session-timer") {
        assert!(incoming);
        assert!(sent.iter().all(|b| status_of(b) != 420));
    } else {
        assert!(!incoming);
        assert_eq!(sent.len(), 1);
        assert_eq!(status_of(&sent[0]), 420);
        let text = String::from_utf8_lossy(&sent[0]);
        assert!(text.contains("\r\nUnsupported: timer\r\n"), "{text}");
        assert_eq!(ua.active_calls(), 0);
    }
}
