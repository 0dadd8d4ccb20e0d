//! Throughput of the SIP layer, with sipx-sip's own parser as the peer figure:
//!
//! - `codec/parse/*`: sipx-sip's `parse_datagram` alone (the peer).
//! - `codec/serialise/*`: re-serialising a parsed message.
//! - `ua/receive/invite`: one INVITE through the whole gate of a user agent
//!   (parse, validation, the UA's checks, a server transaction, a new call).
//! - `ua/call`: a full call between two user agents back to back on a
//!   reliable transport: INVITE, 200, ACK, BYE, 200 (5 messages, 2 INVITE
//!   and 2 BYE transactions), each message serialised and parsed.
//!
//! `cargo bench -p chordphone-sip --bench sip`

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use chordphone_sip::sipx_sip::{parse_datagram, Limits};
use chordphone_sip::{Config, Event, Flow, Time, Transport, UserAgent};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

const SDP: &str = "v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.101\r\ns=-\r\nc=IN IP4 192.0.2.101\r\nt=0 0\r\nm=audio 49172 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

fn invite() -> Vec<u8> {
    format!(
        "INVITE sip:bob@ua1.test SIP/2.0\r\n\
Via: SIP/2.0/UDP ua0.test:5060;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@example.test>\r\n\
From: Alice <sip:alice@example.test>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@ua0.test\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@ua0.test:5060>\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE\r\n\
Supported: timer\r\n\
User-Agent: chordphone\r\n\
Content-Type: application/sdp\r\n\
Content-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    )
    .into_bytes()
}

fn ok200() -> Vec<u8> {
    format!(
        "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP ua0.test:5060;branch=z9hG4bK776asdhds;rport=5060;received=192.0.2.101\r\n\
To: Bob <sip:bob@example.test>;tag=a6c85cf\r\n\
From: Alice <sip:alice@example.test>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@ua0.test\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:bob@ua1.test:5060>\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE\r\n\
Content-Type: application/sdp\r\n\
Content-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    )
    .into_bytes()
}

fn config(i: u32) -> Config {
    let host = format!("ua{i}.test:5060");
    Config::new(
        &format!("sip:u{i}@example.test"),
        &format!("sip:u{i}@{host}"),
        &host,
    )
}

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(1));
    for (name, msg) in [("invite", invite()), ("200ok", ok200())] {
        let buf = Bytes::from(msg);
        g.bench_function(format!("parse/{name}"), |b| {
            b.iter(|| parse_datagram(black_box(buf.clone()), &Limits::datagram()).ok())
        });
        let parsed = parse_datagram(buf.clone(), &Limits::datagram()).expect("parses");
        g.bench_function(format!("serialise/{name}"), |b| {
            b.iter(|| black_box(&parsed).to_bytes())
        });
    }
    g.finish();
}

/// Delivers everything each user agent sends to the other until both are quiet.
fn pump(uas: &mut [UserAgent<u32>; 2], now: Time) {
    loop {
        let mut any = false;
        for i in 0..2 {
            while let Some(t) = uas[i].poll_transmit() {
                any = true;
                uas[1 - i].handle_input(Flow::new(Transport::Overlay, i as u32), &t.bytes, now);
            }
        }
        if !any {
            return;
        }
    }
}

fn ua(c: &mut Criterion) {
    let mut g = c.benchmark_group("ua");
    g.throughput(Throughput::Elements(1));
    let inv = invite();
    g.bench_function("receive/invite", |b| {
        b.iter_batched(
            || UserAgent::<u32>::new(config(1), 1),
            |mut ua| {
                ua.handle_input(Flow::new(Transport::Udp, 0), black_box(&inv), Time(0));
                ua
            },
            BatchSize::SmallInput,
        )
    });
    // One full call per iteration between two long-lived user agents; the
    // clock jumps 40 s per call so the previous call's transactions end.
    let mut uas = [
        UserAgent::<u32>::new(config(0), 1),
        UserAgent::<u32>::new(config(1), 2),
    ];
    let mut now = Time(0);
    let offer = Bytes::from_static(SDP.as_bytes());
    g.bench_function("call", |b| {
        b.iter(|| {
            now = Time(now.0 + 40_000_000);
            for ua in uas.iter_mut() {
                ua.handle_timeout(now);
            }
            let call = uas[0]
                .invite(
                    "sip:u1@example.test",
                    Flow::new(Transport::Overlay, 1),
                    Some(offer.clone()),
                    now,
                )
                .expect("invite");
            pump(&mut uas, now);
            let incoming = std::iter::from_fn(|| uas[1].poll_event())
                .find_map(|e| match e {
                    Event::Incoming { call, .. } => Some(call),
                    _ => None,
                })
                .expect("incoming");
            uas[1].answer(incoming, offer.clone(), now).expect("answer");
            pump(&mut uas, now);
            uas[0].hangup(call, now).expect("hangup");
            pump(&mut uas, now);
            while uas[0].poll_event().is_some() {}
            while uas[1].poll_event().is_some() {}
        })
    });
    g.finish();
}

fn short() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = short();
    targets = codec, ua
}
criterion_main!(benches);
