//! Remote bytes into the media bridge's trunk-leg decoders: the trunk's
//! SDP, RTP packets and RFC 4733 event payloads. Nothing panics, and an SDP
//! the reader accepts, written back by the bridge's writer as an answer,
//! reads back the same.
#![no_main]

use chordphone_bridge::rtp::{self, TelephoneEvent};
use chordphone_bridge::sdp::{self, LocalSdp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = rtp::parse(data) {
        assert!(packet.payload.len() <= data.len());
        let again = rtp::write(&packet);
        assert_eq!(rtp::parse(&again).map(|p| p.payload), Ok(packet.payload));
    }
    if let Some(event) = TelephoneEvent::parse(data) {
        assert_eq!(TelephoneEvent::parse(&event.to_bytes()), Some(event));
    }
    let text = String::from_utf8_lossy(data);
    let Ok(remote) = sdp::parse(&text) else {
        return;
    };
    assert!(remote.port != 0);
    assert!(remote.payload_types.len() <= sdp::MAX_PAYLOAD_TYPES);
    let Some(codec) = remote.preferred_g711() else {
        return;
    };
    let answer = LocalSdp {
        addr: remote.addr,
        port: remote.port,
        codecs: vec![codec],
        telephone_event: remote.telephone_event,
        direction: remote.direction,
        session_id: 1,
        version: 1,
    };
    let back = sdp::parse(&answer.to_string()).expect("the bridge reads its own SDP");
    assert_eq!(back.g711, vec![codec]);
    assert_eq!(back.telephone_event, remote.telephone_event);
    assert_eq!((back.addr, back.port), (remote.addr, remote.port));
});
