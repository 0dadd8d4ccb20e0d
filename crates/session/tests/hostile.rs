//! What a session does with a peer that breaks a link's rules: each case
//! closes that link with its code, is counted, and leaves the rest alone.

use chordphone_link::{CloseCode, Handshake, Role, Step};
use chordphone_overlay::{Identity, Time};
use chordphone_session::{Config, Event, LinkId, Output, Session};
use core::time::Duration;

const NOW: Time = Time(1_700_000_000_000_000);

fn server() -> Session {
    Session::new(
        Identity::from_seed([1; 32]),
        Config::server("ws://server".to_owned()),
        [1; 32],
        NOW,
    )
}

fn drain(s: &mut Session) -> Vec<Output> {
    core::iter::from_fn(|| s.poll_output()).collect()
}

fn closes(outs: &[Output], link: LinkId) -> Option<CloseCode> {
    outs.iter().find_map(|o| match o {
        Output::Close { link: l, code, .. } if *l == link => Some(*code),
        _ => None,
    })
}

fn hello_of(outs: &[Output], link: LinkId) -> Vec<u8> {
    outs.iter()
        .find_map(|o| match o {
            Output::Send { link: l, frame } if *l == link => Some(frame.clone()),
            _ => None,
        })
        .expect("the session says hello first")
}

/// Runs the handshake of a peer with `identity` against the server's link.
fn handshake(s: &mut Session, link: LinkId, identity: &Identity) {
    let hello = hello_of(&drain(s), link);
    let mut peer = Handshake::new(identity, [5; 32], Role::Peer);
    s.handle_frame(link, &peer.hello(), NOW);
    let Ok(Step::Send(proof)) = peer.handle(&hello) else {
        panic!("the server's hello is valid")
    };
    s.handle_frame(link, &proof, NOW);
}

#[test]
fn an_overlay_frame_before_the_handshake_closes_with_4001() {
    let mut s = server();
    let link = s.accept(NOW);
    drain(&mut s);
    s.handle_frame(link, &[chordphone_overlay::WIRE_VERSION, 0], NOW);
    let outs = drain(&mut s);
    assert_eq!(closes(&outs, link), Some(CloseCode::Handshake));
    assert_eq!(s.stats().handshakes_failed, 1);
    assert_eq!(s.transports(), 0);
}

#[test]
fn a_proven_peer_sending_garbage_is_closed_with_4000_and_the_node_is_told() {
    let mut s = server();
    let link = s.accept(NOW);
    let peer = Identity::from_seed([2; 32]);
    handshake(&mut s, link, &peer);
    let outs = drain(&mut s);
    assert!(outs
        .iter()
        .any(|o| matches!(o, Output::Event(Event::LinkUp { .. }))));
    assert!(s.is_up(&peer.node_id()));
    s.handle_frame(link, &[0x42, 1, 2, 3], NOW);
    let outs = drain(&mut s);
    assert_eq!(closes(&outs, link), Some(CloseCode::Malformed));
    assert!(outs.iter().any(|o| matches!(
        o,
        Output::Event(Event::Misbehaved {
            code: CloseCode::Malformed,
            ..
        })
    )));
    assert_eq!(s.stats().malformed, 1);
    assert!(!s.is_up(&peer.node_id()));
}

#[test]
fn a_second_connection_of_the_same_node_replaces_the_first() {
    let mut s = server();
    let peer = Identity::from_seed([2; 32]);
    let first = s.accept(NOW);
    handshake(&mut s, first, &peer);
    drain(&mut s);
    let second = s.accept(NOW);
    handshake(&mut s, second, &peer);
    let outs = drain(&mut s);
    assert_eq!(closes(&outs, first), Some(CloseCode::Replaced));
    assert!(s.is_up(&peer.node_id()));
    assert_eq!(s.transports(), 1);
}

#[test]
fn a_silent_connection_is_closed_when_set_up_time_runs_out() {
    let mut s = server();
    let link = s.accept(NOW);
    drain(&mut s);
    // Timers run as they come due; the link is closed at its set-up
    // deadline and not before.
    let limit = NOW + Duration::from_secs(10);
    let mut closed = None;
    while let Some(t) = s.poll_timeout().filter(|t| *t <= limit) {
        s.handle_timeout(t);
        if let Some(code) = closes(&drain(&mut s), link) {
            closed = Some((code, t));
            break;
        }
    }
    let (code, at) = closed.expect("closed within ten seconds");
    assert_eq!(code, CloseCode::Handshake);
    assert!(at >= NOW + Duration::from_secs(9));
    assert_eq!(s.stats().handshakes_failed, 1);
    assert_eq!(s.transports(), 0);
}
