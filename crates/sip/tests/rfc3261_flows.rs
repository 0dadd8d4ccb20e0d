//! The RFC 3261 §24 example flows, typed from the RFC: the registration
//! (§24.1) and the session through two record-routing proxies (§24.2), with
//! this user agent playing Bob, then Alice.
//!
//! The RFC's messages are used as they are, except where a value must be the
//! one our side chose (our tag, branch, Call-ID, CSeq): those lines are
//! replaced by ours, and Content-Length is recomputed for the typed body.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use chordphone_sip::sipx_sip::{parse_datagram, Limits, Message};
use chordphone_sip::{Config, EndReason, Event, Flow, Time, Transport, UserAgent};

const SDP_ALICE: &str = "v=0\r\no=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com\r\ns=-\r\nc=IN IP4 192.0.2.101\r\nt=0 0\r\nm=audio 49172 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
const SDP_BOB: &str = "v=0\r\no=bob 2890844527 2890844527 IN IP4 client.biloxi.example.com\r\ns=-\r\nc=IN IP4 192.0.2.201\r\nt=0 0\r\nm=audio 3456 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

/// §24.2 F5: the INVITE as the biloxi proxy delivers it to Bob.
const F5: &str = "INVITE sip:bob@client.biloxi.example.com SIP/2.0\r
Via: SIP/2.0/TCP ss2.biloxi.example.com:5060;branch=z9hG4bK721e4.1\r
Via: SIP/2.0/TCP ss1.atlanta.example.com:5060;branch=z9hG4bK2d4790.1;received=192.0.2.111\r
Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;received=192.0.2.101\r
Max-Forwards: 68\r
Record-Route: <sip:ss2.biloxi.example.com;lr>, <sip:ss1.atlanta.example.com;lr>\r
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r
To: Bob <sip:bob@biloxi.example.com>\r
Call-ID: 3848276298220188511@atlanta.example.com\r
CSeq: 1 INVITE\r
Contact: <sip:alice@client.atlanta.example.com;transport=tcp>\r
Content-Type: application/sdp\r
";

/// §24.2 F14: the ACK as it reaches Bob (To tag: Bob's, filled in).
const F14: &str = "ACK sip:bob@client.biloxi.example.com SIP/2.0\r
Via: SIP/2.0/TCP ss2.biloxi.example.com:5060;branch=z9hG4bK721e4.2\r
Via: SIP/2.0/TCP ss1.atlanta.example.com:5060;branch=z9hG4bK2d4790.2;received=192.0.2.111\r
Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74b76;received=192.0.2.101\r
Max-Forwards: 68\r
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r
To: Bob <sip:bob@biloxi.example.com>;tag=BOBTAG\r
Call-ID: 3848276298220188511@atlanta.example.com\r
CSeq: 1 ACK\r
Content-Length: 0\r
\r
";

/// §24.2 F11: the 200 OK as the atlanta proxy delivers it to Alice.
const F11: &str = "SIP/2.0 200 OK\r
Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;received=192.0.2.101\r
Record-Route: <sip:ss2.biloxi.example.com;lr>, <sip:ss1.atlanta.example.com;lr>\r
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r
To: Bob <sip:bob@biloxi.example.com>;tag=314159\r
Call-ID: 3848276298220188511@atlanta.example.com\r
CSeq: 1 INVITE\r
Contact: <sip:bob@client.biloxi.example.com;transport=tcp>\r
Content-Type: application/sdp\r
";

/// §24.2 F8: 180 Ringing as it reaches Alice.
const F8: &str = "SIP/2.0 180 Ringing\r
Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;received=192.0.2.101\r
Record-Route: <sip:ss2.biloxi.example.com;lr>, <sip:ss1.atlanta.example.com;lr>\r
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r
To: Bob <sip:bob@biloxi.example.com>;tag=314159\r
Call-ID: 3848276298220188511@atlanta.example.com\r
Contact: <sip:bob@client.biloxi.example.com;transport=tcp>\r
CSeq: 1 INVITE\r
Content-Length: 0\r
\r
";

/// §24.2 F17: Bob's BYE as it reaches Alice.
const F17: &str = "BYE sip:alice@client.atlanta.example.com SIP/2.0\r
Via: SIP/2.0/TCP ss1.atlanta.example.com:5060;branch=z9hG4bKA8aa4.1\r
Via: SIP/2.0/TCP ss2.biloxi.example.com:5060;branch=z9hG4bKb2f9s.1;received=192.0.2.222\r
Via: SIP/2.0/TCP client.biloxi.example.com:5060;branch=z9hG4bKnashds7;received=192.0.2.201\r
Max-Forwards: 68\r
From: Bob <sip:bob@biloxi.example.com>;tag=314159\r
To: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r
Call-ID: 3848276298220188511@atlanta.example.com\r
CSeq: 1 BYE\r
Content-Length: 0\r
\r
";

/// §24.1 F2: the registrar's 200 OK.
#[cfg(feature = "register")]
const REG_F2: &str = "SIP/2.0 200 OK\r
Via: SIP/2.0/UDP bobspc.biloxi.example.com:5060;branch=z9hG4bKnashds7;received=192.0.2.4\r
To: Bob <sip:bob@biloxi.example.com>;tag=2493k59kd\r
From: Bob <sip:bob@biloxi.example.com>;tag=456248\r
Call-ID: 843817637684230@998sdasdh09\r
CSeq: 1826 REGISTER\r
Contact: <sip:bob@192.0.2.4>\r
Expires: 7200\r
Content-Length: 0\r
\r
";

fn with_body(head: &str, body: &str) -> Vec<u8> {
    format!("{head}Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

/// Replaces the whole line of header `name` (first occurrence) with `line`.
fn replace(msg: &[u8], name: &str, line: &str) -> Vec<u8> {
    let text = String::from_utf8(msg.to_vec()).unwrap();
    let mut done = false;
    let out: Vec<String> = text
        .split("\r\n")
        .map(|l| {
            if !done && l.starts_with(&format!("{name}:")) {
                done = true;
                line.to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect();
    out.join("\r\n").into_bytes()
}

fn parse(bytes: &Bytes) -> Message {
    parse_datagram(bytes.clone(), &Limits::datagram()).unwrap()
}

fn header(msg: &Message, name: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(&msg.to_bytes()).into_owned();
    text.split("\r\n")
        .filter_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_owned))
        .collect()
}

fn start_line(msg: &Message) -> String {
    let text = String::from_utf8_lossy(&msg.to_bytes()).into_owned();
    text.split("\r\n").next().unwrap().to_owned()
}

#[test]
fn bob_answers_through_two_record_routing_proxies() {
    let mut bob: UserAgent<u32> = UserAgent::new(
        Config::new(
            "sip:bob@biloxi.example.com",
            "sip:bob@client.biloxi.example.com;transport=tcp",
            "client.biloxi.example.com:5060",
        ),
        3,
    );
    let proxy = Flow::new(Transport::Tcp, 2);
    bob.handle_input(proxy.clone(), &with_body(F5, SDP_ALICE), Time(0));
    let call = match bob.poll_event() {
        Some(Event::Incoming {
            call, offer, from, ..
        }) => {
            assert_eq!(offer.as_deref(), Some(SDP_ALICE.as_bytes()));
            assert_eq!(from, "Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl");
            call
        }
        other => panic!("{other:?}"),
    };
    bob.ring(call, None, Time(1000)).unwrap();
    let f6 = parse(&bob.poll_transmit().unwrap().bytes);
    // F6: all three Vias back, in order; the Record-Route; Bob's tag; a Contact.
    assert_eq!(start_line(&f6), "SIP/2.0 180 Ringing");
    assert_eq!(header(&f6, "Via").len(), 3);
    assert!(header(&f6, "Via")[0].contains("z9hG4bK721e4.1"));
    assert!(header(&f6, "To")[0].starts_with("Bob <sip:bob@biloxi.example.com>;tag="));
    assert_eq!(
        header(&f6, "Contact"),
        ["<sip:bob@client.biloxi.example.com;transport=tcp>"]
    );

    bob.answer(call, Bytes::from_static(SDP_BOB.as_bytes()), Time(2000))
        .unwrap();
    let f9 = parse(&bob.poll_transmit().unwrap().bytes);
    assert_eq!(start_line(&f9), "SIP/2.0 200 OK");
    assert_eq!(f9.body().as_ref(), SDP_BOB.as_bytes());
    assert_eq!(header(&f9, "Content-Type"), ["application/sdp"]);
    let to = header(&f9, "To")[0].clone();
    let tag = to.split("tag=").nth(1).unwrap().to_owned();

    // F14: the ACK through the proxies confirms the call.
    let f14 = F14.replace("BOBTAG", &tag);
    bob.handle_input(proxy.clone(), f14.as_bytes(), Time(3000));
    assert_eq!(bob.poll_event(), Some(Event::Connected { call }));
    assert!(
        bob.poll_transmit().is_none(),
        "no 2xx retransmission on TCP"
    );

    // F15: Bob hangs up. The BYE goes to Alice's Contact through the route
    // set, in the order the proxies recorded it.
    bob.hangup(call, Time(4000)).unwrap();
    let f15 = parse(&bob.poll_transmit().unwrap().bytes);
    assert_eq!(
        start_line(&f15),
        "BYE sip:alice@client.atlanta.example.com;transport=tcp SIP/2.0"
    );
    assert_eq!(
        header(&f15, "Route"),
        [
            "<sip:ss2.biloxi.example.com;lr>",
            "<sip:ss1.atlanta.example.com;lr>"
        ]
    );
    assert_eq!(
        header(&f15, "To"),
        ["Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl"]
    );
    assert_eq!(header(&f15, "From"), [to]);
    assert_eq!(
        header(&f15, "Call-ID"),
        ["3848276298220188511@atlanta.example.com"]
    );
    assert!(header(&f15, "Via")[0]
        .starts_with("SIP/2.0/TCP client.biloxi.example.com:5060;branch=z9hG4bK"));
    assert_eq!(
        bob.poll_event(),
        Some(Event::Ended {
            call,
            reason: EndReason::LocalHangup
        })
    );

    // F20: the 200 OK to the BYE ends its transaction.
    let Message::Request(bye) = f15 else { panic!() };
    let mut ok = format!(
        "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {}\r\nContent-Length: 0\r\n\r\n",
        String::from_utf8_lossy(&bye.headers.value(&chordphone_sip::sipx_sip::HeaderName::Via).unwrap()),
        header(&Message::Request(bye.clone()), "From")[0],
        header(&Message::Request(bye.clone()), "To")[0],
        header(&Message::Request(bye.clone()), "Call-ID")[0],
        header(&Message::Request(bye.clone()), "CSeq")[0],
    )
    .into_bytes();
    bob.handle_input(proxy, &ok, Time(5000));
    ok.clear();
    bob.handle_timeout(Time(60_000_000));
    assert_eq!(bob.transactions(), (0, 0));
    assert_eq!(bob.active_calls(), 0);
}

#[test]
fn alice_calls_through_two_record_routing_proxies() {
    let mut alice: UserAgent<u32> = UserAgent::new(
        Config::new(
            "sip:alice@atlanta.example.com",
            "sip:alice@client.atlanta.example.com;transport=tcp",
            "client.atlanta.example.com:5060",
        ),
        4,
    );
    let proxy = Flow::new(Transport::Tcp, 1);
    let call = alice
        .invite(
            "sip:bob@biloxi.example.com",
            proxy.clone(),
            Some(Bytes::from_static(SDP_ALICE.as_bytes())),
            Time(0),
        )
        .unwrap();
    let f1 = parse(&alice.poll_transmit().unwrap().bytes);
    assert_eq!(start_line(&f1), "INVITE sip:bob@biloxi.example.com SIP/2.0");
    assert_eq!(header(&f1, "Max-Forwards"), ["70"]);
    assert_eq!(
        header(&f1, "Contact"),
        ["<sip:alice@client.atlanta.example.com;transport=tcp>"]
    );
    assert_eq!(f1.body().as_ref(), SDP_ALICE.as_bytes());
    // Our Via, tag, Call-ID and CSeq go into the RFC's responses.
    let ours = |msg: &[u8]| answering(msg, &f1);
    alice.handle_input(proxy.clone(), &ours(F8.as_bytes()), Time(100));
    assert_ringing(&mut alice, call);
    alice.handle_input(proxy.clone(), &ours(&with_body(F11, SDP_BOB)), Time(200));
    assert_eq!(
        alice.poll_event(),
        Some(Event::Answered {
            call,
            answer: Some(Bytes::from_static(SDP_BOB.as_bytes()))
        })
    );
    // F12: the ACK goes to Bob's Contact, routed through both proxies in
    // the reverse of the Record-Route order.
    let f12 = parse(&alice.poll_transmit().unwrap().bytes);
    assert_eq!(
        start_line(&f12),
        "ACK sip:bob@client.biloxi.example.com;transport=tcp SIP/2.0"
    );
    assert_eq!(
        header(&f12, "Route"),
        [
            "<sip:ss1.atlanta.example.com;lr>",
            "<sip:ss2.biloxi.example.com;lr>"
        ]
    );
    assert_eq!(
        header(&f12, "To"),
        ["Bob <sip:bob@biloxi.example.com>;tag=314159"]
    );
    let seq = header(&f1, "CSeq")[0].split(' ').next().unwrap().to_owned();
    assert_eq!(header(&f12, "CSeq"), [format!("{seq} ACK")]);
    let dialog = alice.dialog(call).unwrap();
    assert_eq!(dialog.id.remote_tag, "314159");

    // F17: Bob's BYE through the proxies: answered 200 with all three Vias.
    let f17 = replace(
        F17.as_bytes(),
        "To",
        &format!("To: {}", header(&f1, "From")[0]),
    );
    let f17 = replace(
        &f17,
        "Call-ID",
        &format!("Call-ID: {}", header(&f1, "Call-ID")[0]),
    );
    alice.handle_input(proxy, &f17, Time(10_000_000));
    let f18 = parse(&alice.poll_transmit().unwrap().bytes);
    assert_eq!(start_line(&f18), "SIP/2.0 200 OK");
    assert_eq!(header(&f18, "Via").len(), 3);
    assert_eq!(header(&f18, "CSeq"), ["1 BYE"]);
    assert_eq!(
        alice.poll_event(),
        Some(Event::Ended {
            call,
            reason: EndReason::RemoteHangup
        })
    );
}

#[cfg(feature = "register")]
#[test]
fn bob_registers() {
    let mut bob: UserAgent<u32> = UserAgent::new(
        Config::new(
            "sip:bob@biloxi.example.com",
            "sip:bob@192.0.2.4",
            "bobspc.biloxi.example.com:5060",
        ),
        5,
    );
    let registrar = Flow::new(Transport::Udp, 3);
    let id = bob
        .register(
            "sip:registrar.biloxi.example.com",
            registrar.clone(),
            7200,
            Time(0),
        )
        .unwrap();
    // F1: REGISTER to the registrar, To = From = the address of record.
    let f1 = parse(&bob.poll_transmit().unwrap().bytes);
    assert_eq!(
        start_line(&f1),
        "REGISTER sip:registrar.biloxi.example.com SIP/2.0"
    );
    assert_eq!(header(&f1, "To"), ["<sip:bob@biloxi.example.com>"]);
    assert!(header(&f1, "From")[0].starts_with("<sip:bob@biloxi.example.com>;tag="));
    assert_eq!(header(&f1, "Contact"), ["<sip:bob@192.0.2.4>"]);
    assert_eq!(header(&f1, "Expires"), ["7200"]);
    assert!(header(&f1, "Via")[0]
        .starts_with("SIP/2.0/UDP bobspc.biloxi.example.com:5060;branch=z9hG4bK"));
    let f2 = replace(
        REG_F2.as_bytes(),
        "Via",
        &format!("Via: {}", header(&f1, "Via")[0]),
    );
    let f2 = replace(&f2, "From", &format!("From: {}", header(&f1, "From")[0]));
    let f2 = replace(
        &f2,
        "Call-ID",
        &format!("Call-ID: {}", header(&f1, "Call-ID")[0]),
    );
    let f2 = replace(&f2, "CSeq", &format!("CSeq: {}", header(&f1, "CSeq")[0]));
    bob.handle_input(registrar, &f2, Time(50_000));
    assert_eq!(
        bob.poll_event(),
        Some(Event::Registered { id, expires: 7200 })
    );
    // Timer K (T4) ends the transaction; the next wake-up is the refresh, at half time.
    bob.handle_timeout(Time(5_100_000));
    assert_eq!(bob.transactions(), (0, 0));
    assert_eq!(bob.poll_timeout(), Some(Time(50_000 + 3_600_000_000)));
}

/// Alice calls Bob through the atlanta proxy (over TCP); her INVITE and
/// §24.2 F8 (180 Ringing) sent reliably (Require: 100rel, RSeq) in reply to it.
fn alice_and_a_reliable_180() -> (UserAgent<u32>, chordphone_sip::CallId, Message, Vec<u8>) {
    let mut alice: UserAgent<u32> = UserAgent::new(
        Config::new(
            "sip:alice@atlanta.example.com",
            "sip:alice@client.atlanta.example.com;transport=tcp",
            "client.atlanta.example.com:5060",
        ),
        6,
    );
    let proxy = Flow::new(Transport::Tcp, 1);
    let call = alice
        .invite("sip:bob@biloxi.example.com", proxy, None, Time(0))
        .unwrap();
    let f1 = parse(&alice.poll_transmit().unwrap().bytes);
    let reliable = F8.replace(
        "Content-Length: 0\r\n",
        "Require: 100rel\r\nRSeq: 988789\r\nContent-Length: 0\r\n",
    );
    let reliable = answering(reliable.as_bytes(), &f1);
    (alice, call, f1, reliable)
}

/// `msg` (a response from the RFC) as the answer to our request `ours`:
/// with our Via, From (our tag), Call-ID and CSeq.
fn answering(msg: &[u8], ours: &Message) -> Vec<u8> {
    let mut out = msg.to_vec();
    for name in ["Via", "From", "Call-ID", "CSeq"] {
        let line = format!("{name}: {}", header(ours, name)[0]);
        out = replace(&out, name, &line);
    }
    out
}

/// The next event is `call` ringing (180, no early media).
fn assert_ringing(ua: &mut UserAgent<u32>, call: chordphone_sip::CallId) {
    assert_eq!(
        ua.poll_event(),
        Some(Event::Progress {
            call,
            code: 180,
            body: None
        })
    );
}

/// RFC 3262: a 180 sent reliably (Require: 100rel, RSeq) is acknowledged
/// with one PRACK in its early dialog; its retransmission is not.
#[cfg(feature = "prack")]
#[test]
fn reliable_ringing_gets_one_prack() {
    let (mut alice, call, f1, reliable) = alice_and_a_reliable_180();
    let proxy = Flow::new(Transport::Tcp, 1);
    assert!(header(&f1, "Supported")[0].contains("100rel"));
    alice.handle_input(proxy.clone(), &reliable, Time(100));
    assert_ringing(&mut alice, call);
    let prack = parse(&alice.poll_transmit().unwrap().bytes);
    let seq: u32 = header(&f1, "CSeq")[0]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        start_line(&prack),
        "PRACK sip:bob@client.biloxi.example.com;transport=tcp SIP/2.0"
    );
    assert_eq!(header(&prack, "RAck"), [format!("988789 {seq} INVITE")]);
    assert_eq!(header(&prack, "CSeq"), [format!("{} PRACK", seq + 1)]);
    assert_eq!(
        header(&prack, "To"),
        ["Bob <sip:bob@biloxi.example.com>;tag=314159"]
    );
    assert_eq!(
        header(&prack, "Route"),
        [
            "<sip:ss1.atlanta.example.com;lr>",
            "<sip:ss2.biloxi.example.com;lr>"
        ]
    );
    // The same 180 again: no second PRACK, no second event.
    alice.handle_input(proxy, &reliable, Time(200));
    assert!(alice.poll_transmit().is_none());
    assert!(alice.poll_event().is_none());
}

/// Without the `prack` feature we do not offer 100rel, and a 1xx sent
/// reliably anyway is taken as it comes: reported, never PRACKed.
#[cfg(not(feature = "prack"))]
#[test]
fn without_prack_a_reliable_ringing_is_only_reported() {
    let (mut alice, call, f1, reliable) = alice_and_a_reliable_180();
    let proxy = Flow::new(Transport::Tcp, 1);
    assert!(header(&f1, "Supported")
        .iter()
        .all(|v| !v.contains("100rel")));
    alice.handle_input(proxy, &reliable, Time(100));
    assert_ringing(&mut alice, call);
    assert!(alice.poll_transmit().is_none());
}
