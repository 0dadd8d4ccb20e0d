//! Shared driver of the fuzz targets, also used by the seed generator
//! (`examples/seeds.rs`) so that seeds replay exactly what a target does.
#![forbid(unsafe_code)]

use chordphone_overlay::{
    Config, Identity, LinkChange, Message, Node, NodeId, ServiceId, Time, Transmit,
};
use core::time::Duration;
use std::sync::OnceLock;

/// The clock when the node under test is created.
pub const START: Time = Time(1_700_000_000_000_000);
/// Most frames one `node_input` run feeds.
pub const MAX_FRAMES: usize = 64;
/// The service the node under test serves, so that application messages
/// reach the origin check and the shell.
pub const SERVICE: ServiceId = ServiceId(5060);

/// The node's identity and the linked peer's id, derived once: under
/// coverage instrumentation the Ed25519 key derivation would otherwise take
/// most of every run.
pub fn identities() -> &'static (Identity, NodeId) {
    static IDS: OnceLock<(Identity, NodeId)> = OnceLock::new();
    IDS.get_or_init(|| {
        (
            Identity::from_seed([1; 32]),
            Identity::from_seed([2; 32]).node_id(),
        )
    })
}

/// The `wire_decode` check: whatever `Message::decode` accepts must encode
/// and decode back to the same message.
pub fn check_wire(data: &[u8]) {
    let Ok(msg) = Message::decode(data) else {
        return;
    };
    let bytes = msg
        .encode()
        .unwrap_or_else(|e| panic!("accepted message does not re-encode: {e:?}\n{msg:?}"));
    let again = Message::decode(&bytes)
        .unwrap_or_else(|e| panic!("re-encoded message does not decode: {e:?}\n{msg:?}"));
    assert_eq!(again, msg, "round trip changed the message");
}

/// One `node_input` frame: `[step][len: u16 LE][bytes]`.
pub fn frame(step: u8, bytes: &[u8]) -> Vec<u8> {
    let len = u16::try_from(bytes.len()).expect("frame longer than u16::MAX");
    let mut out = vec![step];
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
    out
}

/// Splits `node_input` data into (step, frame) pairs; a tail shorter than
/// its header or its length is the last frame.
pub fn frames(mut data: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    core::iter::from_fn(move || {
        if data.is_empty() {
            return None;
        }
        if data.len() < 3 {
            let f = data;
            data = &[];
            return Some((0, f));
        }
        let step = data[0];
        let len = usize::from(u16::from_le_bytes([data[1], data[2]]));
        let rest = &data[3..];
        let (f, tail) = rest.split_at(len.min(rest.len()));
        data = tail;
        Some((step, f))
    })
    .take(MAX_FRAMES)
}

/// Drains the node; every message it wants to send must encode to a frame
/// that a peer's `decode` accepts.
fn drain(node: &mut Node, after: usize, seen: &mut impl FnMut(usize, &Transmit)) {
    while let Some(t) = node.poll_transmit() {
        let bytes = t.msg.encode().unwrap_or_else(|e| {
            panic!("node built a message it cannot encode: {e:?}\n{:?}", t.msg)
        });
        if let Err(e) = Message::decode(&bytes) {
            panic!("node sent a message peers refuse: {e:?}\n{:?}", t.msg);
        }
        seen(after, &t);
    }
    while node.poll_event().is_some() {}
}

/// The `node_input` run: a node alone in its ring, linked to one peer,
/// receives the frames of `data` from that peer; after each frame the clock
/// moves on by `step` ms and due timers run; at the end the clock jumps past
/// every request, connect and idle timeout. `seen` gets every transmit with
/// the number of frames handled before it (`MAX_FRAMES + 1` for the final
/// timeouts).
pub fn run_node(data: &[u8], mut seen: impl FnMut(usize, &Transmit)) -> Node {
    let (identity, peer) = identities();
    let peer = *peer;
    let mut now = START;
    let mut node = Node::new(identity.clone(), Config::default(), 7, now);
    node.create(now);
    node.serve(SERVICE);
    node.handle_link(peer, LinkChange::Up, now);
    drain(&mut node, 0, &mut seen);

    for (i, (step, bytes)) in frames(data).enumerate() {
        let _ = node.handle_bytes(peer, bytes, now);
        drain(&mut node, i + 1, &mut seen);
        now = now + Duration::from_millis(u64::from(step));
        if node.poll_timeout().is_some_and(|t| t <= now) {
            node.handle_timeout(now);
            drain(&mut node, i + 1, &mut seen);
        }
    }

    for jump in [Duration::from_secs(11), Duration::from_secs(61)] {
        now = now + jump;
        node.handle_timeout(now);
        drain(&mut node, MAX_FRAMES + 1, &mut seen);
    }
    node
}

/// The peer of the `session_input` run, derived once.
fn peer_identity() -> &'static Identity {
    static PEER: OnceLock<Identity> = OnceLock::new();
    PEER.get_or_init(|| Identity::from_seed([2; 32]))
}

/// Takes every output of a session and checks it: each frame it sends must
/// be one a peer reads, and the table of transports stays within its
/// bound. Returns the first frame sent (the session's hello).
fn drain_session(s: &mut chordphone_session::Session) -> Option<Vec<u8>> {
    use chordphone_session::Output;
    let mut first = None;
    while let Some(out) = s.poll_output() {
        if let Output::Send { frame, .. } = out {
            if let Err(e) = chordphone_link::classify(&frame) {
                panic!("session sent a frame peers refuse: {e:?}");
            }
            first.get_or_insert(frame);
        }
    }
    assert!(
        s.transports() <= s.config().max_transports,
        "transports beyond the limit"
    );
    first
}

/// The `session_input` run: a server session accepts one connection and
/// gets the frames of `data` on it (framed as for `node_input`). If the
/// first byte is odd, the peer first passes the identity handshake, so
/// that later frames reach the overlay node behind the session. After each
/// frame the clock moves on by its step and due timers run; at the end the
/// clock jumps past every set-up and request deadline.
pub fn check_session(data: &[u8]) {
    use chordphone_link::{Handshake, Role, Step};
    use chordphone_session::{Config as SessionConfig, Session};
    let (identity, _) = identities();
    let mut now = START;
    let config = SessionConfig::server("ws://fuzz.test/ws".to_owned());
    let mut s = Session::new(identity.clone(), config, [9; 32], now);
    s.node_mut().create(now);
    s.node_mut().serve(SERVICE);
    let link = s.accept(now);
    let hello = drain_session(&mut s);
    if data.first().is_some_and(|b| b & 1 == 1) {
        let mut peer = Handshake::new(peer_identity(), [3; 32], Role::Peer);
        s.handle_frame(link, &peer.hello(), now);
        drain_session(&mut s);
        let hello = hello.expect("the session says hello first");
        if let Ok(Step::Send(proof)) = peer.handle(&hello) {
            s.handle_frame(link, &proof, now);
        }
        drain_session(&mut s);
        assert!(
            s.is_up(&peer_identity().node_id()),
            "a valid handshake fails"
        );
    }
    for (step, bytes) in frames(data.get(1..).unwrap_or_default()) {
        s.handle_frame(link, bytes, now);
        drain_session(&mut s);
        now = now + Duration::from_millis(u64::from(step));
        if s.poll_timeout().is_some_and(|t| t <= now) {
            s.handle_timeout(now);
            drain_session(&mut s);
        }
    }
    for jump in [Duration::from_secs(11), Duration::from_secs(61)] {
        now = now + jump;
        s.handle_timeout(now);
        drain_session(&mut s);
    }
}

/// The `link_input` check: link frames, the handshake and signalling
/// payloads from a remote peer never panic, and what parses round-trips.
pub fn check_link(data: &[u8]) {
    use chordphone_link::{classify, FrameKind, Handshake, Role, Signal};
    if let Ok(FrameKind::Control(c)) = classify(data) {
        assert_eq!(
            classify(&c.encode()),
            Ok(FrameKind::Control(c.clone())),
            "control frame round trip"
        );
    }
    if let Ok(s) = Signal::decode(data) {
        let bytes = s
            .encode()
            .unwrap_or_else(|e| panic!("accepted signal does not encode: {e:?}\n{s:?}"));
        assert_eq!(Signal::decode(&bytes), Ok(s), "signal round trip");
    }
    // The same bytes split into frames, fed to a handshake in order.
    let mut hs = Handshake::new(&identities().0, [5; 32], Role::Server);
    for chunk in data.split(|b| *b == 0xFF) {
        if hs.handle(chunk).is_err() {
            break;
        }
    }
}

/// The `relay_offer` check: a record read from `service:relay` whose
/// fields come from `data` (`[shape][value...]`). The reader must never
/// panic, accept only a signed `Multi` offer of a live plain URL, and what
/// it accepts must be exactly the value that was written.
pub fn check_relay_offer(data: &[u8]) {
    use chordphone_overlay::{decode_relay_offer, relay_key, relay_offers, Id, Kind, Record};
    let Some((&shape, value)) = data.split_first() else {
        return;
    };
    let (me, _) = identities();
    let key = if shape & 1 == 0 {
        relay_key()
    } else {
        Id::hash(value)
    };
    let kind = if shape & 2 == 0 {
        Kind::Multi
    } else {
        Kind::Single
    };
    let expires = if shape & 4 == 0 {
        START + Duration::from_secs(600)
    } else {
        START
    };
    let value = (shape & 8 == 0).then(|| value.to_vec());
    let mut record = Record::sign(me, key, kind, 1, expires, value.clone());
    if shape & 16 != 0 {
        // Someone else's name on it.
        record.writer[0] ^= 1;
    }
    let got = decode_relay_offer(&record, START);
    if let Ok(offer) = &got {
        assert!(shape & 0x1f == 0, "accepted a record of shape {shape:#x}");
        assert_eq!(Some(offer.ice_url.as_bytes()), value.as_deref());
        assert_eq!(offer.node, me.node_id());
    }
    let (offers, refused) = relay_offers(&[record.clone(), record], START);
    assert_eq!(offers.len() + refused, 2);
}
