//! Hostile input: forged senders, payloads altered on the route or sealed
//! for another node, garbage. Each is refused, counted and reported, and
//! changes nothing; a readable forged request gets a sealed 403.
#![allow(clippy::unwrap_used)]

mod harness;

use std::cell::RefCell;
use std::rc::Rc;

use chordphone_overlay::{node_id_of, Identity, Kind, NodeId, Record, Time};
use chordphone_phone::seal::{open, seal, sign_sip, Inner, Sealed};
use chordphone_phone::{claim_key, CallState, Phone, PhoneEvent, MAX_ACTIONS};
use harness::{user_identity, Net};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

const ALICE: usize = 0;
const BOB: usize = 1;
const MALLORY: usize = 2;

/// Alice, Bob and Mallory (user key 3), registered.
fn net() -> Net {
    let mut net = Net::new();
    for (user, name) in [(1, "alice"), (2, "bob"), (3, "mallory")] {
        let i = net.add(user);
        net.register(i, name);
    }
    net
}

fn claim_of(net: &Net, name: &str) -> Record {
    let aor = format!("sip:{name}@chordphone");
    net.records(claim_key(&aor), Kind::Single).remove(0)
}

fn invite(from_aor: &str, call_id: &str) -> Vec<u8> {
    let body = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendrecv\r\n";
    format!(
        "INVITE sip:bob@chordphone SIP/2.0\r\nVia: SIP/2.0/P2P m.invalid;branch=z9hG4bK{call_id}\r\nMax-Forwards: 70\r\nFrom: <{from_aor}>;tag=f{call_id}\r\nTo: <sip:bob@chordphone>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:m@m.invalid>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// `sip` sealed from `node` to the node with key `to_key`, signed by `user`.
fn sealed(
    node: &Identity,
    user: &Identity,
    claim: Record,
    to_key: [u8; 32],
    sip: Vec<u8>,
) -> Vec<u8> {
    sealed_at(node, user, claim, to_key, sip, harness::T0)
}

/// Like [`sealed`], sealed at `sent`.
fn sealed_at(
    node: &Identity,
    user: &Identity,
    claim: Record,
    to_key: [u8; 32],
    sip: Vec<u8>,
    sent: Time,
) -> Vec<u8> {
    let to = node_id_of(&to_key);
    let inner = Inner {
        node_key: node.public_key(),
        claim,
        sent,
        user_sig: sign_sip(user, &node.node_id(), &to, sent, &sip),
        sip,
    };
    seal(&inner, &node.node_id(), &to_key, [9; 32]).unwrap()
}

/// Collects what phone `from` sends to node `to`.
fn capture(net: &mut Net, from: usize, to: NodeId) -> Rc<RefCell<Vec<Vec<u8>>>> {
    let got = Rc::new(RefCell::new(Vec::new()));
    let sink = got.clone();
    net.tap = Some(Box::new(move |i, dest, payload| {
        if i == from && dest == to {
            sink.borrow_mut().push(payload.clone());
        }
        true
    }));
    got
}

fn no_incoming(net: &Net, i: usize) -> bool {
    net.phones[i].as_ref().unwrap().calls().is_empty()
}

#[test]
fn a_well_formed_invite_from_its_claimed_sender_rings() {
    // The control for the forgeries below: the same crafting, honest.
    let mut net = net();
    let m = net.node_identity(MALLORY);
    let bob_key = net.node_identity(BOB).public_key();
    let payload = sealed(
        &m,
        &user_identity(3),
        claim_of(&net, "mallory"),
        bob_key,
        invite("sip:mallory@chordphone", "c1"),
    );
    net.inject(m.node_id(), BOB, &payload);
    net.run_ms(100);
    let inc = net.incoming(BOB);
    assert_eq!(net.view(BOB, inc).peer, "sip:mallory@chordphone");
    assert_eq!(net.state(BOB, inc), CallState::Incoming);
    assert_eq!(net.refusals(BOB), 0);
}

#[test]
fn an_invite_in_another_users_name_is_refused_with_403() {
    let mut net = net();
    let m = net.node_identity(MALLORY);
    let bob_node = net.nodes[BOB];
    let bob_key = net.node_identity(BOB).public_key();
    let answers = capture(&mut net, BOB, m.node_id());
    // Mallory's own valid claim, Alice's name in From.
    let forged = sealed(
        &m,
        &user_identity(3),
        claim_of(&net, "mallory"),
        bob_key,
        invite("sip:alice@chordphone", "f1"),
    );
    net.inject(m.node_id(), BOB, &forged);
    // Alice's claim (public, from the store), signed with Mallory's user key.
    let stolen = sealed(
        &m,
        &user_identity(3),
        claim_of(&net, "alice"),
        bob_key,
        invite("sip:alice@chordphone", "f2"),
    );
    net.inject(m.node_id(), BOB, &stolen);
    net.run_ms(100);
    let stats = net.phone(BOB).stats().clone();
    assert_eq!(stats.wrong_sender, 1);
    assert_eq!(stats.bad_user_sig, 1);
    assert_eq!(stats.accepted, 0);
    assert_eq!(stats.forbidden_sent, 2);
    assert_eq!(net.refusals(BOB), 2);
    assert!(net.has(
        BOB,
        |e| matches!(e, PhoneEvent::Refused { from, .. } if *from == m.node_id())
    ));
    assert!(no_incoming(&net, BOB));
    // Mallory got two 403s, sealed to her node, that she can read.
    let got = answers.borrow();
    assert_eq!(got.len(), 2);
    for payload in got.iter() {
        let inner = open(payload, &bob_node, &m).unwrap();
        assert!(
            inner.sip.starts_with(b"SIP/2.0 403 "),
            "{}",
            String::from_utf8_lossy(&inner.sip)
        );
    }
}

#[test]
fn forged_claims_and_borrowed_node_keys_are_refused() {
    let mut net = net();
    let m = net.node_identity(MALLORY);
    let bob_key = net.node_identity(BOB).public_key();
    // A claim whose value was changed after signing.
    let mut claim = claim_of(&net, "mallory");
    claim.expires = claim.expires + std::time::Duration::from_secs(1);
    let bad_claim = sealed(
        &m,
        &user_identity(3),
        claim,
        bob_key,
        invite("sip:mallory@chordphone", "b1"),
    );
    net.inject(m.node_id(), BOB, &bad_claim);
    // Alice's node key inside, sent from Mallory's node.
    let sip = invite("sip:mallory@chordphone", "b2");
    let inner = Inner {
        node_key: net.node_identity(ALICE).public_key(),
        claim: claim_of(&net, "mallory"),
        sent: net.now,
        user_sig: sign_sip(
            &user_identity(3),
            &m.node_id(),
            &net.nodes[BOB],
            net.now,
            &sip,
        ),
        sip,
    };
    let borrowed = seal(&inner, &m.node_id(), &bob_key, [3; 32]).unwrap();
    net.inject(m.node_id(), BOB, &borrowed);
    let stats = net.phone(BOB).stats().clone();
    assert_eq!(stats.bad_claim, 1);
    assert_eq!(stats.wrong_node_key, 1);
    assert_eq!(net.refusals(BOB), 2);
    assert!(no_incoming(&net, BOB));
}

#[test]
fn a_payload_altered_on_the_route_is_refused() {
    let mut net = net();
    let bob = net.nodes[BOB];
    let flipped = Rc::new(RefCell::new(0));
    let count = flipped.clone();
    net.tap = Some(Box::new(move |i, to, payload| {
        if i == ALICE && to == bob {
            let mut s: Sealed = postcard::from_bytes(payload).unwrap();
            let mid = s.ciphertext.len() / 2;
            s.ciphertext[mid] ^= 0x01;
            *payload = postcard::to_allocvec(&s).unwrap();
            *count.borrow_mut() += 1;
        }
        true
    }));
    let call = net.call(ALICE, "bob");
    net.run_ms(500);
    assert!(*flipped.borrow() > 0);
    let stats = net.phone(BOB).stats().clone();
    assert_eq!(stats.undecryptable, *flipped.borrow() as u64);
    assert_eq!(stats.accepted, 0);
    assert!(net.has(
        BOB,
        |e| matches!(e, PhoneEvent::Refused { from, .. } if *from == net.nodes[ALICE])
    ));
    assert!(no_incoming(&net, BOB));
    assert_ne!(net.state(ALICE, call), CallState::Active);
}

#[test]
fn a_payload_sealed_to_another_node_is_refused() {
    let mut net = net();
    let a = net.node_identity(ALICE);
    let carol = Identity::from_seed([77; 32]);
    let for_carol = sealed(
        &a,
        &user_identity(1),
        claim_of(&net, "alice"),
        carol.public_key(),
        invite("sip:alice@chordphone", "r1"),
    );
    net.inject(a.node_id(), BOB, &for_carol);
    assert_eq!(net.phone(BOB).stats().undecryptable, 1);
    assert_eq!(net.refusals(BOB), 1);
    assert!(no_incoming(&net, BOB));
    // Sealed to Bob but replayed as if from another origin.
    let bob_key = net.node_identity(BOB).public_key();
    let for_bob = sealed(
        &a,
        &user_identity(1),
        claim_of(&net, "alice"),
        bob_key,
        invite("sip:alice@chordphone", "r2"),
    );
    net.inject(net.nodes[MALLORY], BOB, &for_bob);
    assert_eq!(net.phone(BOB).stats().undecryptable, 2);
    assert!(no_incoming(&net, BOB));
}

#[test]
fn garbage_is_counted_and_changes_nothing() {
    let mut net = net();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let from = net.nodes[MALLORY];
    const N: u64 = 500;
    for i in 0..N {
        let len = (rng.next_u32() % 300) as usize;
        let mut bytes = vec![0u8; len];
        rng.fill_bytes(&mut bytes);
        if i % 2 == 0 {
            // Shaped like an envelope: a key and a ciphertext of random bytes.
            let mut key = [0u8; 32];
            rng.fill_bytes(&mut key);
            bytes = postcard::to_allocvec(&Sealed {
                ephemeral: key,
                ciphertext: bytes,
            })
            .unwrap();
        }
        net.inject(from, BOB, &bytes);
    }
    let s = net.phone(BOB).stats().clone();
    assert_eq!(s.received, N);
    assert_eq!(s.garbage + s.undecryptable + s.malformed, N);
    assert!(s.garbage > 0 && s.undecryptable > 0);
    assert_eq!(s.accepted, 0);
    assert!(no_incoming(&net, BOB));
    assert_eq!(net.phone(BOB).aor(), Some("sip:bob@chordphone"));
    // Bob still takes real calls.
    let call = net.call(ALICE, "bob");
    net.run_ms(500);
    assert_eq!(net.state(ALICE, call), CallState::Ringing);
}

#[test]
fn a_flood_does_not_grow_the_action_queue() {
    let node = Identity::from_seed([5; 32]);
    let mut phone = Phone::new(chordphone_phone::Config::new(node, user_identity(5), 1));
    let from = Identity::from_seed([6; 32]).node_id();
    for _ in 0..3 * MAX_ACTIONS {
        phone.handle_app(from, b"junk", harness::T0);
    }
    let queued = core::iter::from_fn(|| phone.poll_action()).count();
    assert!(queued <= MAX_ACTIONS, "{queued}");
    assert_eq!(phone.stats().dropped_events, (2 * MAX_ACTIONS) as u64);
    assert_eq!(phone.stats().garbage, (3 * MAX_ACTIONS) as u64);
}

#[test]
fn a_captured_invite_replayed_later_does_not_ring_again() {
    let mut net = net();
    let bob = net.nodes[BOB];
    let captured = capture(&mut net, ALICE, bob);
    let call = net.call(ALICE, "bob");
    net.run_ms(500);
    let inc = net.incoming(BOB);
    net.with(BOB, |p, now| p.reject(inc, now)).unwrap();
    net.run_ms(500);
    assert_eq!(net.reason(ALICE, call).as_deref(), Some("Call declined"));
    // Every message Alice sent Bob, played again a little later...
    let payloads = captured.borrow().clone();
    assert!(!payloads.is_empty());
    net.run_secs(10);
    let from = net.nodes[ALICE];
    for p in &payloads {
        net.inject(from, BOB, p);
    }
    let s = net.phone(BOB).stats().clone();
    assert_eq!(s.replayed, payloads.len() as u64);
    assert_eq!(net.phone(BOB).calls().len(), 1, "no second call");
    // ...and much later, after Bob forgot the call and the signatures.
    net.run_secs(3600);
    for p in &payloads {
        net.inject(from, BOB, p);
    }
    assert_eq!(net.phone(BOB).stats().replayed, 2 * payloads.len() as u64);
    assert!(net.phone(BOB).calls().is_empty());
}

#[test]
fn a_message_sealed_long_ago_is_refused() {
    let mut net = net();
    let m = net.node_identity(MALLORY);
    let bob_key = net.node_identity(BOB).public_key();
    let claim = claim_of(&net, "mallory");
    let then = net.now - std::time::Duration::from_secs(600);
    let old = sealed_at(
        &m,
        &user_identity(3),
        claim.clone(),
        bob_key,
        invite("sip:mallory@chordphone", "o1"),
        then,
    );
    net.inject(m.node_id(), BOB, &old);
    assert_eq!(net.phone(BOB).stats().replayed, 1);
    assert!(no_incoming(&net, BOB));
    // The same, sealed now, rings.
    let fresh = sealed_at(
        &m,
        &user_identity(3),
        claim,
        bob_key,
        invite("sip:mallory@chordphone", "o2"),
        net.now,
    );
    net.inject(m.node_id(), BOB, &fresh);
    assert!(!no_incoming(&net, BOB));
}
