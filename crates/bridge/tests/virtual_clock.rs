//! What takes long in real time, on a virtual clock: the bridge and a str0m
//! browser peer connected in memory.
#![allow(clippy::disallowed_methods, clippy::unwrap_used)]

mod support;

use chordphone_bridge::{BridgeEvent, Leg};
use std::time::Duration;
use support::memory::{Setup, CALL};

fn failures(s: &mut Setup) -> Vec<BridgeEvent> {
    std::iter::from_fn(|| s.bridge.poll_event())
        .filter(|e| matches!(e, BridgeEvent::LegFailed { .. }))
        .collect()
}

#[test]
fn a_call_stays_up_while_the_browser_answers_and_fails_once_it_is_gone() {
    let mut s = Setup::connect();
    // A minute of a live call: the peer's ICE checks keep the leg up.
    for _ in 0..600 {
        s.tick(Duration::from_millis(100));
        s.exchange();
    }
    assert_eq!(failures(&mut s), vec![], "the leg stays up");

    // The tab is gone (closed, crashed, network lost): nothing comes any more.
    let mut failed = Vec::new();
    for _ in 0..1200 {
        s.tick(Duration::from_millis(100));
        while s.bridge.poll_transmit().is_some() {}
        failed.extend(failures(&mut s));
        if !failed.is_empty() {
            break;
        }
    }
    assert!(
        matches!(
            failed.as_slice(),
            [BridgeEvent::LegFailed {
                call: CALL,
                leg: Leg::Browser,
                ..
            }]
        ),
        "one failure of the browser leg within two minutes: {failed:?}"
    );
    // Reported once, however long the gateway takes to close the call.
    for _ in 0..100 {
        s.tick(Duration::from_millis(100));
    }
    assert_eq!(failures(&mut s), vec![]);
}
