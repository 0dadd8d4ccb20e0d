//! Remote bytes into the SIP gateway: sealed payloads into its gate, SIP
//! from callers (proven or not) and datagrams from its trunks, on a
//! virtual clock, with a call set up first so that dialogs exist on both
//! sides. Each frame is `[ctl: u8][len: u16 LE][bytes]`: `ctl & 3` picks
//! the way in (0: a proven caller, 1: an unproven caller, 2: trunk a,
//! 3: the gate), bits 4-7 how many 100 ms the clock moves afterwards.
//!
//! Checked: nothing panics, the call table stays within its bound, and
//! everything the gateway sends to a trunk parses as SIP.
#![no_main]

use chordphone_gateway::testing::{Caller, FixedSdp, CALLER_NODE};
use chordphone_gateway::{Gate, Gateway, GatewayConfig, TrunkConfig};
use chordphone_overlay::Identity;
use chordphone_sip::sipx_sip::{parse_datagram, Limits};
use chordphone_sip::Time;
use libfuzzer_sys::fuzz_target;

const MAX_CALLS: usize = 8;
const OFFER: &[u8] = b"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n";

fn flush(gw: &mut Gateway<u32, u32>, tab: &mut Caller, now: Time) {
    for _ in 0..64 {
        let moved = tab.exchange(gw, now);
        while let Some(t) = gw.poll_trunk_transmit() {
            assert!(
                parse_datagram(t.bytes.clone(), &Limits::datagram()).is_ok(),
                "the gateway sent a message that does not parse"
            );
        }
        // Bounded memory: what was reported is looked at no further.
        tab.events.clear();
        tab.gateway_events.clear();
        if !moved {
            return;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let config = GatewayConfig {
        trunk: vec![
            TrunkConfig { name: "a".into(), options_interval: 1, ..TrunkConfig::default() },
            TrunkConfig { name: "b".into(), priority: 1, ..TrunkConfig::default() },
        ],
        max_calls: MAX_CALLS,
        t1_ms: 100,
        ..GatewayConfig::default()
    };
    let Ok(mut gw) = Gateway::new(config, "sip:pstn-gateway@chordphone", "192.0.2.1:5060", vec![100, 101], 1) else {
        return;
    };
    let offer = String::from_utf8_lossy(OFFER);
    gw.set_media(Box::new(FixedSdp::new(&offer, &offer)));
    let mut gate = Gate::new(Identity::from_seed([1; 32]), "sip:pstn-gateway@chordphone", 2, chordphone_overlay::Time(1_700_000_000_000_000));
    let mut tab = Caller::new("sip:alice@chordphone", 3);
    let mut now = Time(1_700_000_000_000_000);
    gw.start(now);
    let _ = tab.invite("+15551234567", &String::from_utf8_lossy(OFFER), now);
    flush(&mut gw, &mut tab, now);
    let mut rest = data;
    while rest.len() >= 3 {
        let ctl = rest[0];
        let len = usize::from(u16::from_le_bytes([rest[1], rest[2]])).min(rest.len() - 3);
        let bytes = &rest[3..3 + len];
        rest = &rest[3 + len..];
        match ctl & 3 {
            0 => gw.handle_caller(CALLER_NODE, Some("sip:alice@chordphone"), bytes, now),
            1 => gw.handle_caller(11, None, bytes, now),
            2 => gw.handle_trunk(100, bytes, now),
            _ => {
                let _ = gate.open(chordphone_overlay::Identity::from_seed([3; 32]).node_id(), bytes, chordphone_overlay::Time(now.0));
            }
        }
        flush(&mut gw, &mut tab, now);
        now = Time(now.0 + u64::from(ctl >> 4) * 100_000);
        if gw.poll_timeout().is_some_and(|t| t <= now) {
            gw.handle_timeout(now);
        }
        assert!(gw.active_calls() <= MAX_CALLS);
    }
    // Long enough for every transaction and keepalive to run out.
    for _ in 0..100 {
        let Some(t) = gw.poll_timeout() else { break };
        now = now.max(t);
        gw.handle_timeout(now);
        flush(&mut gw, &mut tab, now);
        if now.0 > 1_700_000_000_000_000 + 600_000_000 {
            break;
        }
    }
});
