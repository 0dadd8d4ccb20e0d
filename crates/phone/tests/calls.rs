//! Calls between phones over the fake overlay, on a virtual clock: answer,
//! ringing, refusals, cancels, timeouts, hang-ups, hold and resume.
#![allow(clippy::unwrap_used)]

mod harness;

use std::time::Duration;

use chordphone_phone::{Action, CallState, Direction, Media, PhoneError, PhoneEvent, MAX_CALLS};
use harness::Net;

const ALICE: u8 = 1;
const BOB: u8 = 2;
const CAROL: u8 = 3;

/// Alice (phone 0) and Bob (phone 1), registered.
fn two() -> Net {
    two_with(|_| {}, |_| {})
}

fn two_with(
    alice: impl FnOnce(&mut chordphone_phone::Config),
    bob: impl FnOnce(&mut chordphone_phone::Config),
) -> Net {
    let mut net = Net::new();
    let a = net.add_with(ALICE, alice);
    let b = net.add_with(BOB, bob);
    net.register(a, "alice");
    net.register(b, "bob");
    net
}

/// Alice calls Bob and Bob answers; both calls.
fn connected(net: &mut Net) -> (chordphone_phone::CallId, chordphone_phone::CallId) {
    let call = net.call(0, "bob");
    net.run_ms(500);
    let inc = net.incoming(1);
    net.with(1, |p, now| p.answer(inc, now)).unwrap();
    net.run_ms(500);
    assert_eq!(net.state(0, call), CallState::Active);
    assert_eq!(net.state(1, inc), CallState::Active);
    (call, inc)
}

#[test]
fn call_answered_passes_the_sdp_both_ways() {
    let mut net = two();
    let call = net.call(0, "Bob");
    // The offer is asked for at once, while the lookup runs.
    assert!(matches!(
        net.media[0].first(),
        Some(Media::Offer { hold: false, .. })
    ));
    assert_eq!(net.state(0, call), CallState::Calling);
    net.run_ms(500);
    let inc = net.incoming(1);
    let v = net.view(1, inc);
    assert_eq!((v.state, v.direction), (CallState::Incoming, Direction::In));
    assert_eq!(v.peer, "sip:alice@chordphone");
    assert_eq!(net.view(0, call).peer, "sip:bob@chordphone");
    net.with(1, |p, now| p.answer(inc, now)).unwrap();
    net.run_ms(500);
    // Bob's shell got Alice's offer as she made it; Alice's got his answer.
    let offer = net.made[0][0].1.clone();
    assert!(net.media[1]
        .iter()
        .any(|m| matches!(m, Media::Answer { offer: o, .. } if *o == offer)));
    let answer = net.made[1][0].1.clone();
    assert!(net.media[0]
        .iter()
        .any(|m| matches!(m, Media::Apply { answer: a, .. } if *a == answer)));
    assert_eq!(net.state(0, call), CallState::Active);
    assert_eq!(net.state(1, inc), CallState::Active);
    assert!(net.view(0, call).answered.is_some());
    assert!(net.view(1, inc).answered.is_some());
    // Both keep a link to the other's node while the call lasts.
    let (na, nb) = (net.nodes[0], net.nodes[1]);
    assert!(net.links[0].contains(&Action::Hold(nb)));
    assert!(net.links[1].contains(&Action::Hold(na)));
}

#[test]
fn ringing_is_reported_to_the_caller() {
    let mut net = two();
    let call = net.call(0, "bob");
    net.run_ms(500);
    assert!(net.has(
        0,
        |e| matches!(e, PhoneEvent::CallChanged(v) if v.id == call && v.state == CallState::Ringing)
    ));
    assert_eq!(net.state(0, call), CallState::Ringing);
}

#[test]
fn a_call_can_be_answered_by_either_side_calling() {
    let mut net = two();
    let call = net.call(1, "alice");
    net.run_ms(500);
    let inc = net.incoming(0);
    net.with(0, |p, now| p.answer(inc, now)).unwrap();
    net.run_ms(500);
    assert_eq!(net.state(1, call), CallState::Active);
    assert_eq!(net.state(0, inc), CallState::Active);
    assert_eq!(net.view(0, inc).peer, "sip:bob@chordphone");
}

#[test]
fn hangup_by_caller_or_callee_ends_both_sides() {
    for caller_hangs_up in [true, false] {
        let mut net = two();
        let (call, inc) = connected(&mut net);
        if caller_hangs_up {
            net.with(0, |p, now| p.hangup(call, now)).unwrap();
        } else {
            net.with(1, |p, now| p.hangup(inc, now)).unwrap();
        }
        net.run_ms(500);
        assert_eq!(net.reason(0, call).as_deref(), Some("Hung up"));
        assert_eq!(net.reason(1, inc).as_deref(), Some("Hung up"));
        assert!(net.media[0].contains(&Media::Close { call }));
        assert!(net.media[1].contains(&Media::Close { call: inc }));
        assert!(net.links[0].contains(&Action::Release(net.nodes[1])));
        assert!(net.links[1].contains(&Action::Release(net.nodes[0])));
        assert!(net.view(0, call).ended.is_some());
        // Hanging up twice is refused.
        assert_eq!(
            net.with(0, |p, now| p.hangup(call, now)),
            Err(PhoneError::WrongState)
        );
    }
}

#[test]
fn reject_is_declined() {
    let mut net = two();
    let call = net.call(0, "bob");
    net.run_ms(500);
    let inc = net.incoming(1);
    net.with(1, |p, now| p.reject(inc, now)).unwrap();
    net.run_ms(500);
    assert_eq!(net.reason(0, call).as_deref(), Some("Call declined"));
    assert_eq!(net.reason(1, inc).as_deref(), Some("Call declined"));
}

#[test]
fn reject_while_in_a_call_is_busy() {
    let mut net = two();
    let c = net.add(CAROL);
    net.register(c, "carol");
    let (_call, inc) = connected(&mut net);
    // Carol calls Bob while he talks to Alice: it rings too (call waiting).
    let waiting = net.call(c, "bob");
    net.run_ms(500);
    let second = net.incoming(1);
    assert_ne!(second, inc);
    assert_eq!(net.state(1, second), CallState::Incoming);
    assert_eq!(net.state(1, inc), CallState::Active);
    net.with(1, |p, now| p.reject(second, now)).unwrap();
    net.run_ms(500);
    assert_eq!(net.reason(c, waiting).as_deref(), Some("bob is busy"));
    assert_eq!(net.state(1, inc), CallState::Active);
}

#[test]
fn caller_cancels_while_it_rings() {
    let mut net = two();
    let call = net.call(0, "bob");
    net.run_ms(500);
    let inc = net.incoming(1);
    net.with(0, |p, now| p.hangup(call, now)).unwrap();
    net.run_ms(500);
    assert_eq!(net.reason(0, call).as_deref(), Some("Cancelled"));
    assert_eq!(net.reason(1, inc).as_deref(), Some("Cancelled"));
    assert!(net.media[1].contains(&Media::Close { call: inc }));
}

#[test]
fn nobody_answers_the_callee_rings_out_with_480() {
    let mut net = two_with(|_| {}, |c| c.ring_timeout = Duration::from_secs(5));
    let call = net.call(0, "bob");
    net.run_secs(4);
    let inc = net.incoming(1);
    assert_eq!(net.state(1, inc), CallState::Incoming);
    net.run_secs(2);
    assert_eq!(net.reason(0, call).as_deref(), Some("No answer"));
    assert_eq!(net.reason(1, inc).as_deref(), Some("No answer"));
}

#[test]
fn the_caller_gives_up_after_its_call_timeout() {
    let mut net = two_with(|c| c.call_timeout = Duration::from_secs(5), |_| {});
    let call = net.call(0, "bob");
    net.run_secs(4);
    assert_eq!(net.state(0, call), CallState::Ringing);
    net.run_secs(2);
    let inc = net.incoming(1);
    assert_eq!(net.reason(0, call).as_deref(), Some("No answer"));
    assert_eq!(net.reason(1, inc).as_deref(), Some("Cancelled"));
}

#[test]
fn hold_and_resume_by_reinvite() {
    let mut net = two();
    let (call, inc) = connected(&mut net);
    net.with(0, |p, now| p.hold(call, now)).unwrap();
    assert!(matches!(
        net.media[0].last(),
        Some(Media::Offer { hold: true, .. })
    ));
    net.run_ms(500);
    assert_eq!(net.state(0, call), CallState::Held);
    assert!(net.view(1, inc).held_by_peer);
    assert_eq!(net.state(1, inc), CallState::Active);
    assert!(!net.view(0, call).held_by_peer);
    // Bob's shell was asked to answer the sendonly offer; Alice applied it.
    assert!(net.media[1]
        .iter()
        .any(|m| matches!(m, Media::Answer { offer, .. } if offer.contains("a=sendonly"))));
    assert!(net.media[0]
        .iter()
        .any(|m| matches!(m, Media::Apply { answer, .. } if answer.contains("a=recvonly"))));
    // Holding twice is refused; resuming works.
    assert_eq!(
        net.with(0, |p, now| p.hold(call, now)),
        Err(PhoneError::WrongState)
    );
    net.with(0, |p, now| p.resume(call, now)).unwrap();
    net.run_ms(500);
    assert_eq!(net.state(0, call), CallState::Active);
    assert!(!net.view(1, inc).held_by_peer);
    // The callee can hold too.
    net.with(1, |p, now| p.hold(inc, now)).unwrap();
    net.run_ms(500);
    assert_eq!(net.state(1, inc), CallState::Held);
    assert!(net.view(0, call).held_by_peer);
}

#[test]
fn a_broken_media_path_is_restarted_by_reinvite_and_the_call_goes_on() {
    let mut net = two();
    let (call, inc) = connected(&mut net);
    net.with(0, |p, now| p.restart_media(call, now)).unwrap();
    assert!(matches!(
        net.media[0].last(),
        Some(Media::Offer {
            hold: false,
            restart: true,
            ..
        })
    ));
    // A second restart while the first is under way waits for it.
    assert_eq!(
        net.with(0, |p, now| p.restart_media(call, now)),
        Err(PhoneError::MediaPending)
    );
    net.run_ms(500);
    // The re-INVITE went through and its answer came back (Bob's user
    // agent answers an offer that did not change with the answer it gave;
    // a browser's restart offer always changes: new ICE credentials).
    let n = net.media[0].len();
    assert!(matches!(
        net.media[0][n - 2],
        Media::Offer { restart: true, .. }
    ));
    assert!(matches!(&net.media[0][n - 1], Media::Apply { call: c, .. } if *c == call));
    assert_eq!(net.state(0, call), CallState::Active);
    assert_eq!(net.state(1, inc), CallState::Active);
    assert_eq!(net.view(0, call).restarts, 1);
    assert_eq!(net.phone(0).calls().len(), 1);
    // A held call stays held through a restart.
    net.with(0, |p, now| p.hold(call, now)).unwrap();
    net.run_ms(500);
    net.with(0, |p, now| p.restart_media(call, now)).unwrap();
    assert!(matches!(
        net.media[0].last(),
        Some(Media::Offer {
            hold: true,
            restart: true,
            ..
        })
    ));
    net.run_ms(500);
    assert_eq!(net.state(0, call), CallState::Held);
    assert!(net.view(1, inc).held_by_peer);
    assert_eq!(net.view(0, call).restarts, 2);
    // An ended call has nothing to restart.
    net.with(0, |p, now| p.hangup(call, now)).unwrap();
    net.run_ms(500);
    assert_eq!(
        net.with(0, |p, now| p.restart_media(call, now)),
        Err(PhoneError::WrongState)
    );
}

#[test]
fn calling_an_unknown_name_is_not_registered() {
    let mut net = two();
    let call = net.call(0, "zed");
    net.run_ms(500);
    assert_eq!(
        net.reason(0, call).as_deref(),
        Some("zed is not registered")
    );
    assert!(net.media[0].contains(&Media::Close { call }));
}

#[test]
fn a_number_without_any_gateway_in_the_ring_has_no_line() {
    let mut net = two();
    for t in ["+49 30 123", "tel:+4930123"] {
        let call = net.call(0, t);
        net.run_ms(500);
        assert_eq!(
            net.reason(0, call).as_deref(),
            Some(chordphone_phone::NO_LINE),
            "{t}"
        );
    }
}

#[test]
fn calling_a_name_whose_devices_are_gone_is_offline() {
    let mut net = two();
    net.remove(1);
    let call = net.call(0, "bob");
    net.run_ms(500);
    assert_eq!(net.reason(0, call).as_deref(), Some("bob is offline"));
}

#[test]
fn targets_other_than_names_of_this_overlay_are_refused() {
    let mut net = two();
    for t in [
        "sips:bob@chordphone",
        "sip:bob@elsewhere",
        "sip:+4930123@elsewhere",
    ] {
        assert_eq!(
            net.with(0, |p, now| p.call(t, now)),
            Err(PhoneError::BadTarget),
            "{t}"
        );
    }
    assert_eq!(
        net.with(0, |p, now| p.call("bob smith", now)),
        Err(PhoneError::BadName)
    );
}

#[test]
fn ended_calls_are_forgotten_after_a_minute() {
    let mut net = two();
    let call = net.call(0, "zed");
    net.run_secs(30);
    assert_eq!(net.phone(0).calls().len(), 1);
    assert_eq!(net.state(0, call), CallState::Ended);
    net.run_secs(31);
    assert!(net.phone(0).calls().is_empty());
}

#[test]
fn calls_are_bounded() {
    let mut net = two();
    for _ in 0..MAX_CALLS {
        net.with(0, |p, now| p.call("bob", now)).unwrap();
    }
    assert_eq!(
        net.with(0, |p, now| p.call("bob", now)),
        Err(PhoneError::TooManyCalls)
    );
}

#[test]
fn media_failure_ends_the_call_with_its_reason() {
    let mut net = two();
    let (call, inc) = connected(&mut net);
    net.with(0, |p, now| {
        p.media_failed(call, "Camera unavailable".into(), now)
    });
    net.run_ms(500);
    assert_eq!(net.reason(0, call).as_deref(), Some("Camera unavailable"));
    assert_eq!(net.reason(1, inc).as_deref(), Some("Hung up"));
}

#[test]
fn incoming_calls_beyond_the_table_are_busy() {
    let mut net = two();
    let c = net.add(CAROL);
    net.register(c, "carol");
    for _ in 0..MAX_CALLS {
        net.call(0, "bob");
    }
    net.run_ms(500);
    assert_eq!(net.phone(1).calls().len(), MAX_CALLS);
    let extra = net.call(c, "bob");
    net.run_ms(500);
    assert_eq!(net.reason(c, extra).as_deref(), Some("bob is busy"));
    assert_eq!(net.phone(1).calls().len(), MAX_CALLS);
    assert_eq!(net.phone(1).stats().calls_refused, 1);
}

#[test]
fn a_device_bound_to_a_name_it_no_longer_holds_answers_not_found() {
    use chordphone_overlay::{Kind, Record};
    use chordphone_phone::{devices_key, Binding};
    let mut net = two();
    // Bob's tab takes another name; a binding of it to "bob" is still
    // around (it crashed before removing it, say).
    net.register(1, "robert");
    let bob = "sip:bob@chordphone";
    let node = net.node_identity(1);
    let expires = net.now + Duration::from_secs(300);
    let b = Binding::sign(
        &harness::user_identity(BOB),
        node.public_key(),
        bob,
        "old tab",
        expires,
    );
    let stale = Record::sign(
        &node,
        devices_key(bob),
        Kind::Multi,
        u64::MAX / 2,
        expires,
        Some(b.encode()),
    );
    net.store.put(stale, net.now).unwrap();
    // The claim on "bob" is still Bob's too.
    assert!(!net
        .records(chordphone_phone::claim_key(bob), Kind::Single)
        .is_empty());
    let call = net.call(0, "bob");
    net.run_ms(500);
    assert_eq!(
        net.reason(0, call).as_deref(),
        Some("bob is not registered")
    );
    assert!(net.phone(1).calls().is_empty());
    assert_eq!(net.phone(1).stats().misdirected, 1);
    assert_eq!(net.refusals(1), 0);
}
