//! Instant messages: delivered, and the plain-words reasons when not.
#![allow(clippy::unwrap_used)]

mod harness;

use chordphone_phone::{PhoneError, PhoneEvent, MAX_MESSAGE_BYTES};
use harness::Net;

fn two() -> Net {
    let mut net = Net::new();
    let a = net.add(1);
    let b = net.add(2);
    net.register(a, "alice");
    net.register(b, "bob");
    net
}

fn done(net: &Net, i: usize) -> Vec<(chordphone_phone::MessageId, Result<(), String>)> {
    net.events[i]
        .iter()
        .filter_map(|e| match e {
            PhoneEvent::MessageDone { id, outcome } => Some((*id, outcome.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_message_is_delivered_with_its_sender() {
    let mut net = two();
    let id = net
        .with(0, |p, now| {
            p.send_message("sip:bob@chordphone", "hello, Bob", now)
        })
        .unwrap();
    net.run_ms(500);
    assert_eq!(done(&net, 0), vec![(id, Ok(()))]);
    let got: Vec<_> = net.events[1]
        .iter()
        .filter_map(|e| match e {
            PhoneEvent::Message { from, text, .. } => Some((from.clone(), text.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        got,
        vec![("sip:alice@chordphone".to_owned(), "hello, Bob".to_owned())]
    );
    // And back.
    net.with(1, |p, now| p.send_message("alice", "hi!", now))
        .unwrap();
    net.run_ms(500);
    assert!(net.has(0, |e| matches!(e, PhoneEvent::Message { from, text, .. } if from == "sip:bob@chordphone" && text == "hi!")));
}

#[test]
fn a_message_to_an_unknown_name_is_not_delivered() {
    let mut net = two();
    let id = net
        .with(0, |p, now| p.send_message("zed", "anyone?", now))
        .unwrap();
    net.run_ms(500);
    assert_eq!(
        done(&net, 0),
        vec![(id, Err("zed is not registered".to_owned()))]
    );
}

#[test]
fn a_message_to_a_device_that_is_gone_waits_for_it() {
    let mut net = two();
    net.remove(1);
    let id = net
        .with(0, |p, now| p.send_message("bob", "still there?", now))
        .unwrap();
    net.run_ms(500);
    assert_eq!(done(&net, 0), vec![(id, Ok(()))]);
    assert!(net.has(0, |e| matches!(e, PhoneEvent::MessageWaiting { id: w, to } if *w == id && to == "sip:bob@chordphone")));
}

#[test]
fn messages_are_bounded_in_length_and_need_a_name() {
    let mut net = two();
    let long = "x".repeat(MAX_MESSAGE_BYTES + 1);
    assert_eq!(
        net.with(0, |p, now| p.send_message("bob", &long, now)),
        Err(PhoneError::MessageTooLong)
    );
    let c = net.add(3);
    assert_eq!(
        net.with(c, |p, now| p.send_message("bob", "hi", now)),
        Err(PhoneError::NotRegistered)
    );
}
