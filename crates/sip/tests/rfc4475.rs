//! The RFC 4475 torture messages, each fed to a user agent as a UDP datagram:
//! what it must answer (or not), and that nothing else changes.
//!
//! The messages in `data/rfc4475/` are the RFC's own (Appendix A carries them
//! as a base64 tar archive so they can be had byte-exact; several cannot be
//! retyped: escaped NULs, raw UTF-8, trailing spaces).
//!
//! The expected responses are those the RFC names for an element that is a
//! user agent. Where the RFC speaks of a registrar (REGISTER requests), this
//! user agent is not one and answers 405 Method Not Allowed, which RFC 3261
//! §8.2.1 prescribes for a method it does not serve.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use chordphone_sip::sipx_sip::{parse_datagram, Limits, Message};
use chordphone_sip::{Config, Event, Flow, Time, Transport, UserAgent};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Answered with this status.
    Respond(u16),
    /// A new call rings (the app is told; a 100 follows from the transaction).
    Rings,
    /// A response (or worse) that is dropped without a word.
    Silent,
}

use Expect::{Respond, Rings, Silent};

/// Name, RFC 4475 section, whether the RFC calls it valid (3.1.1, 3.2, 3.3,
/// 3.4: must parse), and what this user agent does with it.
const CASES: &[(&str, &str, bool, Expect)] = &[
    // 3.1.1 Valid messages.
    ("wsinv", "3.1.1.1", true, Respond(481)), // in-dialog (To tag), no such dialog here
    ("intmeth", "3.1.1.2", true, Respond(501)), // unknown method
    ("esc01", "3.1.1.3", true, Rings),
    ("escnull", "3.1.1.4", true, Respond(405)), // REGISTER: not a registrar
    ("esc02", "3.1.1.5", true, Respond(501)),   // RE%47IST%45R is not REGISTER
    ("lwsdisp", "3.1.1.6", true, Respond(200)),
    ("longreq", "3.1.1.7", true, Rings),
    ("dblreq", "3.1.1.8", true, Respond(405)), // only the REGISTER; the trailing INVITE is ignored
    ("semiuri", "3.1.1.9", true, Respond(200)),
    ("transports", "3.1.1.10", true, Respond(200)),
    ("mpart01", "3.1.1.11", true, Respond(200)), // MESSAGE with a multipart body
    ("unreason", "3.1.1.12", true, Silent),      // a response nobody asked for
    ("noreason", "3.1.1.13", true, Silent),
    // 3.1.2 Invalid messages: a request gets 400 (505 for the version).
    ("badinv01", "3.1.2.1", false, Respond(400)),
    ("clerr", "3.1.2.2", false, Respond(400)),
    ("ncl", "3.1.2.3", false, Respond(400)),
    ("scalar02", "3.1.2.4", false, Respond(400)),
    ("scalarlg", "3.1.2.5", false, Silent),
    ("quotbal", "3.1.2.6", false, Respond(400)),
    ("ltgtruri", "3.1.2.7", false, Respond(400)),
    ("lwsruri", "3.1.2.8", false, Respond(400)),
    ("lwsstart", "3.1.2.9", false, Respond(400)),
    ("trws", "3.1.2.10", false, Respond(400)),
    ("escruri", "3.1.2.11", false, Respond(400)),
    // "An element wishing to process this message could ignore the Date header field value."
    ("baddate", "3.1.2.12", false, Rings),
    ("regbadct", "3.1.2.13", false, Respond(400)),
    ("badaspec", "3.1.2.14", false, Respond(400)),
    ("baddn", "3.1.2.15", false, Respond(400)),
    ("badvers", "3.1.2.16", false, Respond(505)),
    ("mismatch01", "3.1.2.17", false, Respond(400)),
    ("mismatch02", "3.1.2.18", false, Respond(400)),
    ("bigcode", "3.1.2.19", false, Silent),
    // 3.2 Transaction layer semantics.
    ("badbranch", "3.2.1", true, Respond(200)), // matched the RFC 2543 way
    // 3.3 Application layer semantics.
    ("insuf", "3.3.1", true, Respond(400)),
    ("unkscm", "3.3.2", true, Respond(416)),
    ("novelsc", "3.3.3", true, Respond(416)),
    ("unksm2", "3.3.4", true, Respond(405)), // REGISTER
    ("bext01", "3.3.5", true, Respond(420)),
    ("invut", "3.3.6", true, Respond(415)),
    ("regaut01", "3.3.7", true, Respond(405)), // REGISTER
    ("multi01", "3.3.8", true, Respond(400)),
    ("mcl01", "3.3.9", false, Respond(400)), // two Content-Lengths: cannot be framed
    ("bcast", "3.3.10", true, Silent),       // a 200 with a broadcast second Via: discarded
    ("zeromf", "3.3.11", true, Respond(200)), // an endpoint processes Max-Forwards 0 normally
    ("cparam01", "3.3.12", true, Respond(405)), // REGISTER
    ("cparam02", "3.3.13", true, Respond(405)), // REGISTER
    ("regescrt", "3.3.14", true, Respond(405)), // REGISTER
    ("sdp01", "3.3.15", true, Respond(406)),
    // 3.4 Backward compatibility.
    ("inv2543", "3.4.1", true, Rings),
];

/// 3.1.2 cases the RFC calls invalid that parse (the faults are in header
/// values a parser reads lazily): everything else in 3.1.2 must not parse.
const PARSE_LAZILY: &[&str] = &[
    "badinv01",
    "scalar02",
    "scalarlg",
    "quotbal",
    "escruri",
    "baddate",
    "regbadct",
    "badaspec",
    "badvers",
    "mismatch01",
    "mismatch02",
];

fn data(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/data/rfc4475/{name}.dat",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn ua() -> UserAgent<u32> {
    UserAgent::new(
        Config::new("sip:ua@ua.test", "sip:ua@ua.test", "ua.test"),
        7,
    )
}

#[test]
fn the_corpus_is_complete() {
    assert_eq!(CASES.len(), 49);
    let dir = format!("{}/tests/data/rfc4475", env!("CARGO_MANIFEST_DIR"));
    let files = std::fs::read_dir(dir).unwrap().count();
    // 49 referenced messages and the archive's unreferenced test.dat.
    assert_eq!(files, 50);
}

#[test]
fn valid_messages_parse_and_reserialise() {
    for &(name, section, valid, _) in CASES {
        let bytes = data(name);
        let parsed = parse_datagram(Bytes::from(bytes.clone()), &Limits::datagram());
        if valid {
            let msg = parsed.unwrap_or_else(|e| panic!("{section} {name}: {e}"));
            let out = msg.to_bytes();
            // Byte-exact, but for dblreq's trailing octets, which are not part of the message.
            assert!(
                bytes.starts_with(&out),
                "{section} {name} re-serialised differently"
            );
            let again = parse_datagram(out, &Limits::datagram()).unwrap();
            assert_eq!(again.to_bytes(), msg.to_bytes());
        } else if !PARSE_LAZILY.contains(&name) {
            assert!(parsed.is_err(), "{section} {name} must not parse");
        }
    }
}

#[test]
fn every_message_gets_the_response_the_rfc_names() {
    for &(name, section, _, expect) in CASES {
        let mut ua = ua();
        let from = Flow::new(Transport::Udp, 9);
        ua.handle_input(from.clone(), &data(name), Time(0));
        let sent: Vec<Bytes> = std::iter::from_fn(|| ua.poll_transmit())
            .map(|t| t.bytes)
            .collect();
        let events: Vec<Event> = std::iter::from_fn(|| ua.poll_event()).collect();
        match expect {
            Respond(code) => {
                assert_eq!(sent.len(), 1, "{section} {name}: {sent:?}");
                let status = format!("SIP/2.0 {code} ");
                assert!(
                    sent[0].starts_with(status.as_bytes()),
                    "{section} {name}: expected {code}, sent {:?}",
                    String::from_utf8_lossy(&sent[0])
                );
                // The response itself is a valid SIP response.
                let Message::Response(r) =
                    parse_datagram(sent[0].clone(), &Limits::datagram()).unwrap()
                else {
                    panic!("{name}: not a response");
                };
                assert_eq!(r.status.code(), code);
                assert_eq!(ua.active_calls(), 0, "{section} {name}");
                if code >= 300 {
                    assert!(
                        !events.iter().any(|e| matches!(e, Event::Incoming { .. })),
                        "{section} {name}"
                    );
                }
            }
            Rings => {
                assert!(
                    events.iter().any(|e| matches!(e, Event::Incoming { .. })),
                    "{section} {name}: {events:?} {sent:?}"
                );
                assert_eq!(ua.active_calls(), 1);
                // The transaction sends 100 Trying by itself after 200 ms.
                ua.handle_timeout(Time(200_000));
                let t = ua.poll_transmit().unwrap();
                assert!(t.bytes.starts_with(b"SIP/2.0 100 "), "{section} {name}");
            }
            Silent => {
                assert!(sent.is_empty(), "{section} {name}: {sent:?}");
                assert!(events.is_empty(), "{section} {name}: {events:?}");
                assert_eq!(ua.transactions(), (0, 0));
            }
        }
        // Refusals are stateless: nothing is kept for a request refused at the gate.
        if matches!(expect, Respond(400 | 406 | 415 | 416 | 420 | 505)) {
            assert_eq!(ua.transactions(), (0, 0), "{section} {name}");
        }
    }
}

#[test]
fn counted_in_stats() {
    let mut ua = ua();
    for &(name, ..) in CASES {
        ua.handle_input(Flow::new(Transport::Udp, 9), &data(name), Time(0));
    }
    let s = ua.stats().clone();
    assert_eq!(s.received, 49);
    // clerr ncl ltgtruri lwsruri lwsstart trws baddn bigcode mcl01 do not parse.
    assert_eq!(s.malformed, 9, "{s:?}");
    assert!(s.invalid >= 20, "{s:?}");
}

#[test]
fn bad_extension_lists_what_is_unsupported() {
    let mut ua = ua();
    ua.handle_input(Flow::new(Transport::Udp, 9), &data("bext01"), Time(0));
    let t = ua.poll_transmit().unwrap();
    let text = String::from_utf8_lossy(&t.bytes).to_ascii_lowercase();
    assert!(
        text.contains("unsupported: nothingsupportsthis, nothingsupportsthiseither"),
        "{text}"
    );
    // Proxy-Require is for proxies: not listed.
    assert!(!text.contains("noproxiessupportthis"));
}

#[test]
fn unsupported_media_type_says_what_is_accepted() {
    let mut ua = ua();
    ua.handle_input(Flow::new(Transport::Udp, 9), &data("invut"), Time(0));
    let t = ua.poll_transmit().unwrap();
    assert!(String::from_utf8_lossy(&t.bytes).contains("Accept: application/sdp"));
}

#[test]
fn error_responses_echo_the_request_identity() {
    // The 400 to a request whose start line did not parse still carries its
    // Via, From, To, Call-ID and CSeq, so the sender can match it.
    let mut ua = ua();
    ua.handle_input(Flow::new(Transport::Udp, 9), &data("lwsruri"), Time(0));
    let t = ua.poll_transmit().unwrap();
    let msg = parse_datagram(t.bytes, &Limits::datagram()).unwrap();
    assert!(matches!(msg, Message::Response(_)));
    let text = String::from_utf8_lossy(&msg.to_bytes()).into_owned();
    assert!(
        text.contains("Call-ID: lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423"),
        "{text}"
    );
    assert!(text.contains("branch=z9hG4bKkdjuw"), "{text}");
}

#[test]
fn too_large_and_truncated() {
    let mut ua = ua();
    let mut big = b"OPTIONS sip:ua@ua.test SIP/2.0\r\nVia: SIP/2.0/UDP h.test;branch=z9hG4bKbig\r\nMax-Forwards: 70\r\nFrom: <sip:a@h.test>;tag=1\r\nTo: <sip:ua@ua.test>\r\nCall-ID: big\r\nCSeq: 1 OPTIONS\r\nContent-Type: text/plain\r\n".to_vec();
    let body = vec![b'x'; 70_000];
    big.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    big.extend_from_slice(&body);
    ua.handle_input(Flow::new(Transport::Udp, 9), &big, Time(0));
    let t = ua.poll_transmit().unwrap();
    assert!(
        t.bytes.starts_with(b"SIP/2.0 513 "),
        "{:?}",
        String::from_utf8_lossy(&t.bytes)
    );
    // A WebSocket frame may carry more, but not a larger body than allowed.
    let mut ua = UserAgent::<u32>::new(
        {
            let mut c = Config::new("sip:ua@ua.test", "sip:ua@ua.test", "ua.test");
            c.max_message_bytes = 200_000;
            c
        },
        1,
    );
    ua.handle_input(Flow::new(Transport::Ws, 9), &big, Time(0));
    let t = ua.poll_transmit().unwrap();
    assert!(
        t.bytes.starts_with(b"SIP/2.0 200 "),
        "{:?}",
        String::from_utf8_lossy(&t.bytes)
    );
    // Truncated anywhere: never a panic, never a call.
    let msg = data("wsinv");
    let mut ua = ua_default();
    for cut in 0..msg.len() {
        ua.handle_input(Flow::new(Transport::Udp, 9), &msg[..cut], Time(0));
        ua.handle_input(Flow::new(Transport::Ws, 9), &msg[..cut], Time(0));
        ua.handle_input(Flow::new(Transport::Tcp, 9), &msg[..cut], Time(0));
    }
    assert_eq!(ua.active_calls(), 0);
}

fn ua_default() -> UserAgent<u32> {
    ua()
}
