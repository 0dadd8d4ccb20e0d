//! Call paths between two or three user agents on a virtual clock, each over
//! a reliable harness transport (the overlay), a lossy UDP-like one, and a
//! TCP-like byte stream that delivers every message in 7-byte pieces.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use chordphone_sip::{EndReason, Event, Failure};
use common::{sdp, Kind, Net, FORK, HOLE};

const KINDS: [Kind; 3] = [Kind::Reliable, Kind::Lossy, Kind::Stream];

fn answered(net: &Net, i: usize) -> bool {
    net.has(i, |e| matches!(e, Event::Answered { .. }))
}

fn connected(net: &Net, i: usize) -> bool {
    net.has(i, |e| matches!(e, Event::Connected { .. }))
}

/// Calls 0 -> 1, rings, answers; returns both call ids.
fn connect(net: &mut Net) -> (chordphone_sip::CallId, chordphone_sip::CallId) {
    let a = net.invite(0, 1);
    net.run_secs(2);
    let b = net.incoming(1);
    let now = net.now;
    net.uas[1].ring(b, None, now).unwrap();
    net.run_secs(1);
    let now = net.now;
    net.uas[1].answer(b, sdp("answer"), now).unwrap();
    net.run_secs(10);
    assert!(
        answered(net, 0),
        "{kind:?} caller: {:?}",
        net.events[0],
        kind = net.transport
    );
    assert!(connected(net, 1), "callee: {:?}", net.events[1]);
    assert_eq!(net.uas[0].active_calls(), 1);
    assert_eq!(net.uas[1].active_calls(), 1);
    (a, b)
}

#[test]
fn answer_then_caller_hangs_up() {
    for kind in KINDS {
        let mut net = Net::new(kind, &["alice", "bob"]);
        let (a, b) = connect(&mut net);
        // The answer carries bob's SDP to alice.
        assert!(net.has(
            0,
            |e| matches!(e, Event::Answered { answer: Some(s), .. } if s == &sdp("answer"))
        ));
        // Both sides hold the same confirmed dialog, seen from each end.
        let da = net.uas[0].dialog(a).unwrap().id.clone();
        let db = net.uas[1].dialog(b).unwrap().id.clone();
        assert_eq!(da.call_id, db.call_id);
        assert_eq!(da.local_tag, db.remote_tag);
        assert_eq!(da.remote_tag, db.local_tag);
        let now = net.now;
        net.uas[0].hangup(a, now).unwrap();
        net.run_secs(40);
        assert_eq!(net.ended(0, a), Some(EndReason::LocalHangup), "{kind:?}");
        assert_eq!(net.ended(1, b), Some(EndReason::RemoteHangup), "{kind:?}");
        assert_eq!(net.uas[0].active_calls(), 0);
        assert_eq!(net.uas[1].active_calls(), 0);
        // Every transaction ran its course and nothing leaked.
        assert_eq!(net.uas[0].transactions(), (0, 0), "{kind:?}");
        assert_eq!(net.uas[1].transactions(), (0, 0), "{kind:?}");
        assert_eq!(
            net.uas[0].stats().malformed + net.uas[1].stats().malformed,
            0
        );
        if matches!(kind, Kind::Lossy) {
            assert!(net.dropped > 0, "the lossy net lost nothing");
        }
    }
}

#[test]
fn answer_then_callee_hangs_up() {
    for kind in KINDS {
        let mut net = Net::new(kind, &["alice", "bob"]);
        let (a, b) = connect(&mut net);
        let now = net.now;
        net.uas[1].hangup(b, now).unwrap();
        net.run_secs(40);
        assert_eq!(net.ended(1, b), Some(EndReason::LocalHangup), "{kind:?}");
        assert_eq!(net.ended(0, a), Some(EndReason::RemoteHangup), "{kind:?}");
        assert_eq!(net.uas[0].transactions(), (0, 0));
        assert_eq!(net.uas[1].transactions(), (0, 0));
    }
}

#[test]
fn ringing_reaches_the_caller() {
    let mut net = Net::new(Kind::Reliable, &["alice", "bob"]);
    let _a = net.invite(0, 1);
    net.run_secs(1);
    let b = net.incoming(1);
    let now = net.now;
    net.uas[1].ring(b, Some(sdp("early")), now).unwrap();
    net.run_secs(1);
    assert!(net.has(0, |e| matches!(
        e,
        Event::Progress {
            code: 183,
            body: Some(_),
            ..
        }
    )));
}

#[test]
fn reject_busy_and_declined() {
    for kind in KINDS {
        for (reason, expect) in [
            (Failure::Busy, Failure::Busy),
            (Failure::Declined, Failure::Declined),
        ] {
            let mut net = Net::new(kind, &["alice", "bob"]);
            let a = net.invite(0, 1);
            net.run_secs(2);
            let b = net.incoming(1);
            let now = net.now;
            net.uas[1].reject(b, reason.clone(), now).unwrap();
            net.run_secs(40);
            assert_eq!(
                net.ended(0, a),
                Some(EndReason::Failed(expect.clone())),
                "{kind:?}"
            );
            assert_eq!(net.ended(1, b), Some(EndReason::Failed(reason)), "{kind:?}");
            assert_eq!(net.uas[0].transactions(), (0, 0));
            assert_eq!(net.uas[1].transactions(), (0, 0));
        }
    }
}

#[test]
fn failure_texts_read_well() {
    assert_eq!(Failure::Busy.to_string(), "busy");
    assert_eq!(
        Failure::from_status(603, b"Decline").to_string(),
        "declined"
    );
    assert_eq!(
        Failure::from_status(404, b"Not Found").to_string(),
        "not found: no such person or number"
    );
    assert_eq!(Failure::from_status(480, b"").to_string(), "no answer");
    assert_eq!(Failure::from_status(401, b"").to_string(), "not authorized");
    assert_eq!(
        Failure::from_status(503, b"").to_string(),
        "server error (503)"
    );
    assert_eq!(
        Failure::from_status(499, b"Strange Thing").to_string(),
        "refused: Strange Thing (499)"
    );
    assert_eq!(
        Failure::Unreachable.to_string(),
        "could not reach the other side (network)"
    );
    assert_eq!(
        EndReason::RemoteHangup.to_string(),
        "the other side hung up"
    );
}

#[test]
fn caller_cancels_while_ringing() {
    for kind in KINDS {
        let mut net = Net::new(kind, &["alice", "bob"]);
        let a = net.invite(0, 1);
        net.run_secs(2);
        let b = net.incoming(1);
        let now = net.now;
        net.uas[1].ring(b, None, now).unwrap();
        net.run_secs(1);
        let now = net.now;
        net.uas[0].hangup(a, now).unwrap();
        net.run_secs(40);
        assert_eq!(
            net.ended(0, a),
            Some(EndReason::Failed(Failure::Cancelled)),
            "{kind:?}"
        );
        assert_eq!(
            net.ended(1, b),
            Some(EndReason::Failed(Failure::Cancelled)),
            "{kind:?}"
        );
        assert_eq!(net.uas[0].transactions(), (0, 0), "{kind:?}");
        assert_eq!(net.uas[1].transactions(), (0, 0), "{kind:?}");
    }
}

#[test]
fn cancel_before_any_provisional_waits_for_one() {
    let mut net = Net::new(Kind::Reliable, &["alice", "bob"]);
    let a = net.invite(0, 1);
    // Hang up at once: nothing heard yet, so the CANCEL waits for the 100.
    let now = net.now;
    net.uas[0].hangup(a, now).unwrap();
    net.run_secs(40);
    let b = net.incoming(1);
    assert_eq!(net.ended(0, a), Some(EndReason::Failed(Failure::Cancelled)));
    assert_eq!(net.ended(1, b), Some(EndReason::Failed(Failure::Cancelled)));
}

#[test]
fn nobody_answers_480() {
    for kind in KINDS {
        let mut net = Net::with(kind, &["alice", "bob"], |c| {
            c.ring_timeout = Duration::from_secs(30)
        });
        let a = net.invite(0, 1);
        net.run_secs(2);
        let b = net.incoming(1);
        let now = net.now;
        net.uas[1].ring(b, None, now).unwrap();
        net.run_secs(60);
        assert_eq!(
            net.ended(1, b),
            Some(EndReason::Failed(Failure::NoAnswer)),
            "{kind:?}"
        );
        assert_eq!(
            net.ended(0, a),
            Some(EndReason::Failed(Failure::NoAnswer)),
            "{kind:?}"
        );
    }
}

#[test]
fn caller_gives_up_after_invite_timeout() {
    let mut net = Net::with(Kind::Reliable, &["alice", "bob"], |c| {
        c.invite_timeout = Duration::from_secs(20);
        c.ring_timeout = Duration::from_secs(600);
    });
    let a = net.invite(0, 1);
    net.run_secs(2);
    let b = net.incoming(1);
    net.run_secs(60);
    assert_eq!(net.ended(0, a), Some(EndReason::Failed(Failure::NoAnswer)));
    assert_eq!(net.ended(1, b), Some(EndReason::Failed(Failure::Cancelled)));
}

#[test]
fn unreachable_peer() {
    for kind in KINDS {
        let mut net = Net::new(kind, &["alice"]);
        let a = net.invite(0, HOLE);
        net.run_secs(40);
        assert_eq!(
            net.ended(0, a),
            Some(EndReason::Failed(Failure::Unreachable)),
            "{kind:?}"
        );
        assert_eq!(net.uas[0].transactions(), (0, 0));
    }
}

#[test]
fn hold_and_resume() {
    for kind in KINDS {
        let mut net = Net::new(kind, &["alice", "bob"]);
        let (a, b) = connect(&mut net);
        net.take(0);
        net.take(1);
        for (offer, answer) in [
            ("hold-sendonly", "held-recvonly"),
            ("resume-sendrecv", "resumed"),
        ] {
            let now = net.now;
            net.uas[0].reinvite(a, sdp(offer), now).unwrap();
            net.run_secs(2);
            let got = net.take(1);
            assert!(
                got.iter().any(|e| matches!(e, Event::Reoffer { call, offer: o } if *call == b && o == &sdp(offer))),
                "{kind:?} {got:?}"
            );
            let now = net.now;
            net.uas[1].accept_reoffer(b, sdp(answer), now).unwrap();
            net.run_secs(10);
            let got = net.take(0);
            assert!(
                got.iter().any(|e| matches!(e, Event::MediaChanged { call, answer: s } if *call == a && s == &sdp(answer))),
                "{kind:?} {got:?}"
            );
        }
        // The callee may refuse a change: the call goes on.
        let now = net.now;
        net.uas[1].reinvite(b, sdp("video"), now).unwrap();
        net.run_secs(2);
        let now = net.now;
        net.uas[0].reject_reoffer(a, now).unwrap();
        net.run_secs(10);
        assert!(net.has(1, |e| matches!(
            e,
            Event::ReofferFailed {
                failure: Failure::Incompatible,
                ..
            }
        )));
        assert_eq!(net.uas[0].active_calls(), 1);
        let now = net.now;
        net.uas[1].hangup(b, now).unwrap();
        net.run_secs(40);
        assert_eq!(net.ended(0, a), Some(EndReason::RemoteHangup));
    }
}

#[test]
fn reinvite_glare_491_then_retry() {
    for kind in KINDS {
        let mut net = Net::new(kind, &["alice", "bob"]);
        net.latency = Duration::from_millis(50);
        let (a, b) = connect(&mut net);
        net.take(0);
        net.take(1);
        // Both offer at the same instant: each gets 491 from the other.
        let now = net.now;
        net.uas[0].reinvite(a, sdp("alice-video"), now).unwrap();
        net.uas[1].reinvite(b, sdp("bob-hold"), now).unwrap();
        net.drain();
        let start = net.now;
        // Bob (not the Call-ID owner) retries within 0-2 s; answer whatever comes.
        let mut changed = [None, None];
        for _ in 0..200 {
            net.run(Duration::from_millis(50));
            for (i, call) in [(0usize, a), (1usize, b)] {
                for e in net.take(i) {
                    match e {
                        Event::Reoffer { .. } => {
                            let now = net.now;
                            net.uas[i].accept_reoffer(call, sdp("ok"), now).unwrap();
                        }
                        Event::MediaChanged { .. } => changed[i] = Some(net.now),
                        other => panic!("{kind:?}: unexpected {other:?}"),
                    }
                }
            }
        }
        let bob_done = changed[1].expect("bob's offer went through");
        let alice_done = changed[0].expect("alice's offer went through");
        // Bob (not the owner of the Call-ID) waits 0-2 s; alice 2.1-4 s.
        if matches!(kind, Kind::Reliable) {
            assert!(
                bob_done.saturating_since(start) < Duration::from_millis(2300),
                "{kind:?}"
            );
            assert!(
                alice_done.saturating_since(start) >= Duration::from_millis(2100),
                "{kind:?}"
            );
        }
        assert_eq!(net.uas[0].active_calls(), 1);
        assert_eq!(net.uas[1].active_calls(), 1);
    }
}

#[test]
fn forked_call_first_answer_wins_other_cancelled() {
    for kind in KINDS {
        let mut net = Net::new(kind, &["alice", "desk", "mobile"]);
        net.fork = vec![1, 2];
        let a = net.invite(0, FORK);
        net.run_secs(2);
        let desk = net.incoming(1);
        let mobile = net.incoming(2);
        let now = net.now;
        net.uas[1].ring(desk, None, now).unwrap();
        net.uas[2].ring(mobile, None, now).unwrap();
        net.run_secs(2);
        if matches!(kind, Kind::Reliable) {
            // Two early dialogs, one per device: two Ringing.
            let ringing = net.events[0]
                .iter()
                .filter(|e| matches!(e, Event::Progress { code: 180, .. }))
                .count();
            assert_eq!(ringing, 2);
        }
        let now = net.now;
        net.uas[2].answer(mobile, sdp("mobile"), now).unwrap();
        net.run_secs(40);
        assert!(
            net.has(
                0,
                |e| matches!(e, Event::Answered { answer: Some(s), .. } if s == &sdp("mobile"))
            ),
            "{kind:?} {:?}",
            net.events[0]
        );
        assert!(connected(&net, 2), "{kind:?}");
        assert_eq!(
            net.ended(1, desk),
            Some(EndReason::Failed(Failure::Cancelled)),
            "{kind:?}"
        );
        assert_eq!(net.ended(0, a), None);
        let now = net.now;
        net.uas[0].hangup(a, now).unwrap();
        net.run_secs(40);
        assert_eq!(
            net.ended(2, mobile),
            Some(EndReason::RemoteHangup),
            "{kind:?}"
        );
    }
}

#[test]
fn forked_call_both_answer_second_is_acked_and_byed() {
    let mut net = Net::new(Kind::Reliable, &["alice", "desk", "mobile"]);
    net.fork = vec![1, 2];
    let a = net.invite(0, FORK);
    net.run_secs(1);
    let desk = net.incoming(1);
    let mobile = net.incoming(2);
    // Both answer at the same instant: both 2xx reach alice.
    let now = net.now;
    net.uas[1].answer(desk, sdp("desk"), now).unwrap();
    net.uas[2].answer(mobile, sdp("mobile"), now).unwrap();
    net.run_secs(40);
    let answers = net.events[0]
        .iter()
        .filter(|e| matches!(e, Event::Answered { .. }))
        .count();
    assert_eq!(answers, 1);
    // One device keeps the call, the other was ACKed and then BYEd.
    let kept = [net.ended(1, desk), net.ended(2, mobile)];
    assert!(kept.contains(&None), "{kept:?}");
    assert!(kept.contains(&Some(EndReason::RemoteHangup)), "{kept:?}");
    assert_eq!(net.ended(0, a), None);
}

#[test]
fn message_and_options() {
    for kind in KINDS {
        let mut net = Net::new(kind, &["alice", "bob"]);
        let now = net.now;
        let flow = net.flow(1);
        let m = net.uas[0]
            .message(
                "sip:bob@example.test",
                flow.clone(),
                "text/plain",
                "hello".into(),
                now,
            )
            .unwrap();
        #[cfg(feature = "options")]
        let o = net.uas[0]
            .options("sip:bob@example.test", flow, now)
            .unwrap();
        net.run_secs(40);
        assert!(
            net.has(
                0,
                |e| matches!(e, Event::RequestDone { id, outcome: Ok(200) } if *id == m)
            ),
            "{kind:?}"
        );
        #[cfg(feature = "options")]
        assert!(
            net.has(
                0,
                |e| matches!(e, Event::RequestDone { id, outcome: Ok(200) } if *id == o)
            ),
            "{kind:?}"
        );
        assert!(net.has(1, |e| matches!(e, Event::Message { content_type, body, .. } if content_type == "text/plain" && &body[..] == b"hello")));
        // To nobody: the request times out (timer F).
        let now = net.now;
        let flow = net.flow(HOLE);
        #[cfg(feature = "options")]
        let lost = net.uas[0]
            .options("sip:nobody@example.test", flow, now)
            .unwrap();
        #[cfg(not(feature = "options"))]
        let lost = net.uas[0]
            .message(
                "sip:nobody@example.test",
                flow,
                "text/plain",
                "hi".into(),
                now,
            )
            .unwrap();
        net.run_secs(40);
        assert!(net.has(0, |e| matches!(e, Event::RequestDone { id, outcome: Err(Failure::Unreachable) } if *id == lost)));
        assert_eq!(net.uas[0].transactions(), (0, 0));
        assert_eq!(net.uas[1].transactions(), (0, 0));
    }
}

#[cfg(feature = "session-timer")]
#[test]
fn session_timer_refreshes_and_detects_a_dead_peer() {
    for kind in KINDS {
        let mut net = Net::with(kind, &["alice", "bob"], |c| {
            c.session_expires = Some(Duration::from_secs(120));
        });
        let (a, b) = connect(&mut net);
        // Ten minutes: refreshes keep the call up.
        net.run_secs(600);
        assert_eq!(net.ended(0, a), None, "{kind:?} {:?}", net.events[0]);
        assert_eq!(net.ended(1, b), None, "{kind:?} {:?}", net.events[1]);
        // The refresher (bob, the UAS, by default) dies: alice notices.
        net.mute = Some(1);
        net.run_secs(300);
        assert_eq!(
            net.ended(0, a),
            Some(EndReason::Failed(Failure::SessionExpired)),
            "{kind:?}"
        );
    }
}

#[test]
fn bye_for_an_unknown_dialog_gets_481_and_changes_nothing() {
    let mut net = Net::new(Kind::Reliable, &["alice", "bob"]);
    let (_a, _b) = connect(&mut net);
    let bye = b"BYE sip:bob@ua1.test SIP/2.0\r\nVia: SIP/2.0/P2P ua9.test;branch=z9hG4bKstray\r\nMax-Forwards: 70\r\nFrom: <sip:x@example.test>;tag=zz\r\nTo: <sip:bob@example.test>;tag=nope\r\nCall-ID: nothing\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n";
    let now = net.now;
    let flow = net.flow(9);
    net.uas[1].handle_input(flow, bye, now);
    let t = net.uas[1].poll_transmit().unwrap();
    assert!(t.bytes.starts_with(b"SIP/2.0 481 "));
    assert_eq!(net.uas[1].active_calls(), 1);
}
