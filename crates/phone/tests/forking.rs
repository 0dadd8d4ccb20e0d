//! A name on two devices: both ring, the first answer wins, the other
//! device hears "Answered elsewhere"; messages reach both.
#![allow(clippy::unwrap_used)]

mod harness;

use chordphone_phone::{Action, CallState, PhoneEvent};
use harness::Net;

/// Alice (phone 0), Bob on two devices (phones 1 and 2).
fn net() -> Net {
    let mut net = Net::new();
    let a = net.add(1);
    let b1 = net.add(2);
    let b2 = net.add_with(2, |c| c.device_label = "laptop".into());
    net.register(a, "alice");
    net.register(b1, "bob");
    net.register(b2, "bob");
    net
}

#[test]
fn both_devices_ring_and_the_first_answer_wins() {
    let mut net = net();
    let call = net.call(0, "bob");
    net.run_ms(500);
    let r1 = net.incoming(1);
    let r2 = net.incoming(2);
    assert_eq!(net.state(1, r1), CallState::Incoming);
    assert_eq!(net.state(2, r2), CallState::Incoming);
    // Both were offered the same SDP.
    let offer = net.made[0][0].1.clone();
    net.with(2, |p, now| p.answer(r2, now)).unwrap();
    net.run_ms(500);
    assert_eq!(net.state(0, call), CallState::Active);
    assert_eq!(net.state(2, r2), CallState::Active);
    assert_eq!(net.reason(1, r1).as_deref(), Some("Answered elsewhere"));
    assert!(net.media[2]
        .iter()
        .any(|m| matches!(m, chordphone_phone::Media::Answer { offer: o, .. } if *o == offer)));
    // Alice keeps the link to the device that answered and lets the other go.
    assert!(net.links[0].contains(&Action::Release(net.nodes[1])));
    assert!(!net.links[0].contains(&Action::Release(net.nodes[2])));
    // Hanging up reaches the device that answered.
    net.with(0, |p, now| p.hangup(call, now)).unwrap();
    net.run_ms(500);
    assert_eq!(net.reason(2, r2).as_deref(), Some("Hung up"));
}

#[test]
fn a_second_answer_at_the_same_time_is_hung_up() {
    let mut net = net();
    let call = net.call(0, "bob");
    net.run_ms(500);
    let r1 = net.incoming(1);
    let r2 = net.incoming(2);
    net.with(1, |p, now| p.answer(r1, now)).unwrap();
    net.with(2, |p, now| p.answer(r2, now)).unwrap();
    net.run_ms(1000);
    assert_eq!(net.state(0, call), CallState::Active);
    let states = [net.state(1, r1), net.state(2, r2)];
    assert!(states.contains(&CallState::Active), "{states:?}");
    assert!(states.contains(&CallState::Ended), "{states:?}");
    // Alice has one call, once.
    assert_eq!(net.phone(0).calls().len(), 1);
}

#[test]
fn declining_on_one_device_stops_the_others() {
    let mut net = net();
    let call = net.call(0, "bob");
    net.run_ms(500);
    let r1 = net.incoming(1);
    let r2 = net.incoming(2);
    net.with(1, |p, now| p.reject(r1, now)).unwrap();
    net.run_ms(500);
    assert_eq!(net.reason(0, call).as_deref(), Some("Call declined"));
    assert_eq!(net.reason(2, r2).as_deref(), Some("Declined elsewhere"));
}

#[test]
fn one_device_busy_leaves_the_other_ringing() {
    let mut net = net();
    let c = net.add(3);
    net.register(c, "carol");
    // Bob's first device takes a call from Carol.
    let first = net.call(c, "sip:bob@chordphone");
    net.run_ms(500);
    let r1 = net.incoming(1);
    let r2 = net.incoming(2);
    net.with(1, |p, now| p.answer(r1, now)).unwrap();
    net.run_ms(500);
    assert_eq!(net.state(c, first), CallState::Active);
    assert_eq!(net.reason(2, r2).as_deref(), Some("Answered elsewhere"));
    // Alice calls: device 1 refuses (busy), device 2 still rings, and answers.
    let call = net.call(0, "bob");
    net.run_ms(500);
    let w1 = net.incoming(1);
    let w2 = net.incoming(2);
    net.with(1, |p, now| p.reject(w1, now)).unwrap();
    net.run_ms(500);
    assert_eq!(net.state(0, call), CallState::Ringing);
    net.with(2, |p, now| p.answer(w2, now)).unwrap();
    net.run_ms(500);
    assert_eq!(net.state(0, call), CallState::Active);
}

#[test]
fn one_device_gone_the_other_still_rings() {
    let mut net = net();
    net.remove(1);
    let call = net.call(0, "bob");
    net.run_ms(500);
    let r2 = net.incoming(2);
    assert_eq!(net.state(0, call), CallState::Ringing);
    net.with(2, |p, now| p.answer(r2, now)).unwrap();
    net.run_ms(500);
    assert_eq!(net.state(0, call), CallState::Active);
}

#[test]
fn a_message_reaches_every_device() {
    let mut net = net();
    let id = net
        .with(0, |p, now| p.send_message("bob", "hi both", now))
        .unwrap();
    net.run_ms(500);
    assert!(net.has(0, |e| *e
        == PhoneEvent::MessageDone {
            id,
            outcome: Ok(())
        }));
    for i in [1, 2] {
        assert!(
            net.has(i, |e| matches!(e, PhoneEvent::Message { from, text, .. }
            if from == "sip:alice@chordphone" && text == "hi both"))
        );
    }
    // Done once, not per device.
    let n = net.events[0]
        .iter()
        .filter(|e| matches!(e, PhoneEvent::MessageDone { .. }))
        .count();
    assert_eq!(n, 1);
}
