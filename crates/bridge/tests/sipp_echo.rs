//! SIPp as the trunk: its RTP echo (`-rtp_echo`) sends every packet back to
//! where it came from, so the browser hears its own audio through the
//! bridge, both legs and SIPp, and the dial pad's events come back from
//! SIPp as the trunk's.
//!
//! Needs `sipp` on PATH (Debian's `sip-tester`; `scripts/setup-web.sh`
//! installs it and `scripts/test.sh` runs it first); without it the test
//! says SKIPPED and passes, as the coturn test of the server does.
#![allow(clippy::disallowed_methods, clippy::unwrap_used)]

mod support;

use chordphone_bridge::{BridgeEvent, Leg};
use support::browser::BROWSER_EVENT_PT;
use support::sipp::SippEcho;
use support::world::{outbound_call, CALL};

#[test]
fn sipp_echoes_the_browsers_audio_and_dtmf_back() {
    if !SippEcho::installed() {
        eprintln!("SKIPPED: sipp is not installed (scripts/setup-web.sh installs it)");
        return;
    }
    let echo = SippEcho::start(60);
    let sipp = echo.media;
    let mut w = outbound_call(21040, Some(sipp));

    // Until SIPp listens, packets are lost; send until the echo comes.
    let mut seq = 0;
    w.until("the first echo from SIPp", |w| {
        if w.browser.received.is_empty() {
            seq += 1;
            w.browser_sends_audio(seq, 0x10 + (seq % 64) as u8);
        }
        !w.browser.received.is_empty()
    });
    assert!(w.events.contains(&BridgeEvent::TrunkLatched {
        call: CALL,
        source: sipp
    }));
    let echo = &w.browser.received[0];
    assert_eq!(*echo.header.payload_type, 0);
    assert!(echo.payload.len() == 160 && echo.payload.iter().all(|b| *b == echo.payload[0]));
    let first = echo.payload[0];
    assert!((0x10..0x50).contains(&first), "the browser's own audio");

    // The dial pad's '9' reaches SIPp and comes back as the trunk's event.
    let now = w.now();
    w.bridge.dtmf(CALL, '9', now).unwrap();
    w.until_digit(Leg::Trunk, '9');
    w.until("the events at the browser", |w| {
        w.browser
            .received
            .iter()
            .any(|p| *p.header.payload_type == BROWSER_EVENT_PT && p.payload[0] == 9)
    });
}
