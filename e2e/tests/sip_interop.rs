//! chordphone's SIP user agent against SIPp on real UDP sockets (loopback):
//! it calls SIPp's built-in UAS, answers SIPp's built-in UAC, and answers
//! digest challenges (to an INVITE, to a REGISTER with qop=auth) from SIPp
//! scenarios that verify the credentials.
//!
//! A small native driver runs the sans-IO user agent over a tokio UDP
//! socket: every datagram and timer goes in with the current time, every
//! transmit goes out. SIPp runs with `-nostdin`, `-m 1` (one call, then it
//! exits: 0 if the call went as its scenario says), and a global `-timeout`;
//! every wait here is bounded too, and SIPp is killed if the test ends first.
//!
//! Needs `sipp` on PATH (Debian's `sip-tester`; `scripts/setup-web.sh`
//! installs it).

// The driver reads the wall clock to feed the user agent; the ban protects the cores.
#![allow(clippy::disallowed_methods, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chordphone_e2e::sipp::{free_udp_port, Sipp};
use chordphone_sip::{Config, Credentials, EndReason, Event, Flow, Time, Transport, UserAgent};
use tokio::net::UdpSocket;

/// Longest any one step may take before the test fails.
const STEP: Duration = Duration::from_secs(20);

const OFFER: &str = "v=0\r\no=chordphone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

/// The user agent on a real socket.
struct Driver {
    ua: UserAgent<SocketAddr>,
    sock: UdpSocket,
    start: Instant,
    events: Vec<Event>,
    seen: usize,
}

impl Driver {
    async fn new(tweak: impl FnOnce(&mut Config)) -> Driver {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let local = sock.local_addr().unwrap();
        let mut config = Config::new(
            "sip:chordphone@127.0.0.1",
            &format!("sip:chordphone@{local}"),
            &local.to_string(),
        );
        tweak(&mut config);
        Driver {
            ua: UserAgent::new(config, 0x5eed),
            sock,
            start: Instant::now(),
            events: Vec::new(),
            seen: 0,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }

    fn now(&self) -> Time {
        Time(self.start.elapsed().as_micros() as u64)
    }

    async fn flush(&mut self) {
        while let Some(t) = self.ua.poll_transmit() {
            self.sock.send_to(&t.bytes, t.to.addr).await.unwrap();
        }
        while let Some(e) = self.ua.poll_event() {
            self.events.push(e);
        }
    }

    /// Runs the user agent until an event matches (bounded by [`STEP`]).
    async fn until(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        let deadline = Instant::now() + STEP;
        let mut buf = vec![0u8; 65_536];
        loop {
            self.flush().await;
            while self.seen < self.events.len() {
                let e = self.events[self.seen].clone();
                self.seen += 1;
                if pred(&e) {
                    return e;
                }
            }
            let now = Instant::now();
            assert!(
                now < deadline,
                "timed out waiting for {what}; events: {:?}",
                self.events
            );
            let mut wait = deadline - now;
            if let Some(t) = self.ua.poll_timeout() {
                let due = Duration::from_micros(t.0.saturating_sub(self.now().0));
                wait = wait.min(due);
            }
            match tokio::time::timeout(wait, self.sock.recv_from(&mut buf)).await {
                Ok(Ok((n, from))) => {
                    let now = self.now();
                    self.ua
                        .handle_input(Flow::new(Transport::Udp, from), &buf[..n], now);
                }
                Ok(Err(e)) => panic!("recv: {e}"),
                Err(_) => {
                    let now = self.now();
                    self.ua.handle_timeout(now);
                }
            }
        }
    }
}

#[tokio::test]
async fn calls_sipp_uas() {
    let mut d = Driver::new(|_| {}).await;
    let port = free_udp_port();
    let dir = tempfile::tempdir().unwrap();
    let mut sipp = Sipp::start(
        &["-sn", "uas", "-i", "127.0.0.1", "-p", &port.to_string()],
        dir,
    );
    let peer: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let now = d.now();
    // If SIPp is not listening yet, the INVITE's timer A retransmits it.
    let call =
        d.ua.invite(
            &format!("sip:service@{peer}"),
            Flow::new(Transport::Udp, peer),
            Some(Bytes::from_static(OFFER.as_bytes())),
            now,
        )
        .unwrap();
    d.until("180 from SIPp", |e| {
        matches!(e, Event::Progress { code: 180, .. })
    })
    .await;
    d.until("200 from SIPp", |e| matches!(e, Event::Answered { .. }))
        .await;
    assert!(d.ua.dialog(call).is_some());
    let now = d.now();
    d.ua.hangup(call, now).unwrap();
    let e = d
        .until("the call's end", |e| matches!(e, Event::Ended { .. }))
        .await;
    assert_eq!(
        e,
        Event::Ended {
            call,
            reason: EndReason::LocalHangup
        }
    );
    // Let the BYE's 200 come in, then SIPp reports the call.
    let code = sipp.finish().await;
    assert_eq!(code, 0, "sipp failed the call:\n{}", sipp.errors());
}

#[tokio::test]
async fn answers_sipp_uac() {
    let mut d = Driver::new(|_| {}).await;
    let port = free_udp_port();
    let dir = tempfile::tempdir().unwrap();
    let target = d.addr().to_string();
    let mut sipp = Sipp::start(
        &[
            "-sn",
            "uac",
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-s",
            "chordphone",
            &target,
        ],
        dir,
    );
    let incoming = d
        .until("SIPp's INVITE", |e| matches!(e, Event::Incoming { .. }))
        .await;
    let Event::Incoming { call, offer, .. } = incoming else {
        unreachable!()
    };
    assert!(offer.is_some(), "SIPp's uac offers SDP");
    let now = d.now();
    d.ua.ring(call, None, now).unwrap();
    let now = d.now();
    d.ua.answer(call, Bytes::from_static(OFFER.as_bytes()), now)
        .unwrap();
    d.until("SIPp's ACK", |e| matches!(e, Event::Connected { .. }))
        .await;
    // SIPp's uac pauses, then hangs up.
    let e = d
        .until("SIPp's BYE", |e| matches!(e, Event::Ended { .. }))
        .await;
    assert_eq!(
        e,
        Event::Ended {
            call,
            reason: EndReason::RemoteHangup
        }
    );
    // Keep answering retransmissions while SIPp finishes.
    let code = sipp.finish().await;
    assert_eq!(code, 0, "sipp failed the call:\n{}", sipp.errors());
}

/// A UAS that challenges the INVITE with 401 and checks the digest answer
/// with SIPp's `verifyauth`: a wrong answer gets 403 and fails the test.
const DIGEST_UAS: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="UAS challenging with digest">
  <recv request="INVITE" />
  <send>
    <![CDATA[

      SIP/2.0 401 Unauthorized
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      WWW-Authenticate: Digest realm="sipp.test", nonce="c7f1a9e6b3d24f5a", algorithm=MD5
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK" />
  <recv request="INVITE">
    <action>
      <verifyauth assign_to="authvalid" username="gateway" password="s3cret" />
    </action>
  </recv>
  <nop hide="true" test="authvalid" next="good" />
  <send next="refused">
    <![CDATA[

      SIP/2.0 403 Forbidden
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <label id="good" />
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]>
  </send>
  <recv request="ACK" />
  <recv request="BYE" />
  <send next="done">
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <label id="refused" />
  <recv request="ACK" optional="true" timeout="1000" ontimeout="done" />
  <label id="done" />
</scenario>
"#;

#[tokio::test]
async fn answers_a_digest_challenge_from_sipp() {
    let mut d = Driver::new(|c| {
        c.credentials = Some(Credentials::new("gateway", "s3cret"));
    })
    .await;
    let (mut sipp, peer) = Sipp::scenario("digest_uas.xml", DIGEST_UAS);
    let now = d.now();
    let call =
        d.ua.invite(
            &format!("sip:trunk@{peer}"),
            Flow::new(Transport::Udp, peer),
            Some(Bytes::from_static(OFFER.as_bytes())),
            now,
        )
        .unwrap();
    let e = d
        .until("the 200 after the digest answer", |e| {
            matches!(e, Event::Answered { .. } | Event::Ended { .. })
        })
        .await;
    assert!(
        matches!(e, Event::Answered { .. }),
        "digest refused: {e:?}\n{}",
        sipp.errors()
    );
    let now = d.now();
    d.ua.hangup(call, now).unwrap();
    d.until("the call's end", |e| matches!(e, Event::Ended { .. }))
        .await;
    let code = sipp.finish().await;
    assert_eq!(code, 0, "sipp failed the call:\n{}", sipp.errors());
}

#[tokio::test]
async fn wrong_password_is_unauthorized() {
    let mut d = Driver::new(|c| {
        c.credentials = Some(Credentials::new("gateway", "wrong"));
    })
    .await;
    let (_sipp, peer) = Sipp::scenario("digest_uas.xml", DIGEST_UAS);
    let now = d.now();
    let call =
        d.ua.invite(
            &format!("sip:trunk@{peer}"),
            Flow::new(Transport::Udp, peer),
            None,
            now,
        )
        .unwrap();
    let e = d
        .until("the refusal", |e| matches!(e, Event::Ended { .. }))
        .await;
    assert_eq!(
        e,
        Event::Ended {
            call,
            reason: EndReason::Failed(chordphone_sip::Failure::Unauthorized)
        }
    );
}

/// A registrar that challenges REGISTER with 401 and checks the answer.
const DIGEST_REGISTRAR: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="registrar challenging with digest">
  <recv request="REGISTER" />
  <send>
    <![CDATA[

      SIP/2.0 401 Unauthorized
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag02[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      WWW-Authenticate: Digest realm="sipp.test", nonce="9d2e4c1b7a6f3e50", qop="auth", algorithm=MD5
      Content-Length: 0

    ]]>
  </send>
  <recv request="REGISTER">
    <action>
      <verifyauth assign_to="authvalid" username="gateway" password="s3cret" />
    </action>
  </recv>
  <nop hide="true" test="authvalid" next="good" />
  <send next="done">
    <![CDATA[

      SIP/2.0 403 Forbidden
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag02[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <label id="good" />
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag02[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Contact:];expires=300
      Content-Length: 0

    ]]>
  </send>
  <label id="done" />
</scenario>
"#;

#[tokio::test]
async fn registers_with_digest_at_a_sipp_registrar() {
    let mut d = Driver::new(|c| {
        c.credentials = Some(Credentials::new("gateway", "s3cret"));
    })
    .await;
    let (mut sipp, peer) = Sipp::scenario("registrar.xml", DIGEST_REGISTRAR);
    let now = d.now();
    let id =
        d.ua.register(
            &format!("sip:{peer}"),
            Flow::new(Transport::Udp, peer),
            600,
            now,
        )
        .unwrap();
    let e = d
        .until("the registration", |e| {
            matches!(
                e,
                Event::Registered { .. } | Event::RegistrationFailed { .. }
            )
        })
        .await;
    // The registrar granted 300 s of the 600 asked for (Contact expires).
    assert_eq!(
        e,
        Event::Registered { id, expires: 300 },
        "{}",
        sipp.errors()
    );
    let code = sipp.finish().await;
    assert_eq!(code, 0, "sipp failed the registration:\n{}", sipp.errors());
}
