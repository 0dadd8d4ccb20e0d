//! Messages to a user with no device online wait in the overlay, sealed to
//! the user's key, and reach the user's devices once they come back: each
//! once, with the proven sender; forged letters are refused.
#![allow(clippy::unwrap_used)]

mod harness;

use chordphone_overlay::{Identity, Kind, Record, Time};
use chordphone_phone::seal::{seal, sign_sip, Inner};
use chordphone_phone::{
    claim_key, inbox_key, Letter, Letters, MessageId, PhoneEvent, INBOX_REFRESH, MAX_LETTERS,
};
use harness::{user_identity, Net};

const BOB: &str = "sip:bob@chordphone";
const ALICE: &str = "sip:alice@chordphone";

/// Alice (phone 0, user 1) registered; Bob (phone 1, user 2) registered
/// once and gone since.
fn bob_gone() -> Net {
    let mut net = Net::new();
    let a = net.add(1);
    let b = net.add(2);
    net.register(a, "alice");
    net.register(b, "bob");
    net.remove(b);
    net
}

fn received(net: &Net, i: usize) -> Vec<(String, String)> {
    net.events[i]
        .iter()
        .filter_map(|e| match e {
            PhoneEvent::Message { from, text, .. } => Some((from.clone(), text.clone())),
            _ => None,
        })
        .collect()
}

fn done(net: &Net, i: usize) -> Vec<(MessageId, Result<(), String>)> {
    net.events[i]
        .iter()
        .filter_map(|e| match e {
            PhoneEvent::MessageDone { id, outcome } => Some((*id, outcome.clone())),
            _ => None,
        })
        .collect()
}

fn send(net: &mut Net, i: usize, to: &str, text: &str) -> MessageId {
    let id = net.with(i, |p, now| p.send_message(to, text, now)).unwrap();
    net.run_ms(500);
    id
}

/// Bob comes back: a new tab for the same user key registers the name.
fn bob_returns(net: &mut Net) -> usize {
    let b = net.add(2);
    net.register(b, "bob");
    net.run_ms(500);
    b
}

#[test]
fn a_message_to_an_offline_user_waits_and_arrives_once() {
    let mut net = bob_gone();
    let id = send(&mut net, 0, "bob", "call me when you are back");
    assert_eq!(done(&net, 0), vec![(id, Ok(()))]);
    assert!(net.has(
        0,
        |e| matches!(e, PhoneEvent::MessageWaiting { id: w, to } if *w == id && to == BOB)
    ));
    let stored = net.records(inbox_key(BOB), Kind::Multi);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].writer, net.node_identity(0).public_key());
    let value = stored[0].value.clone().unwrap();
    assert!(
        !value.windows(b"call me".len()).any(|w| w == b"call me"),
        "the text is sealed"
    );

    let b = bob_returns(&mut net);
    assert_eq!(
        received(&net, b),
        vec![(ALICE.to_owned(), "call me when you are back".to_owned())]
    );
    // Later reads of the inbox find the same letter: it is not shown again.
    net.run_secs(3 * INBOX_REFRESH.as_secs());
    assert_eq!(received(&net, b).len(), 1);
    assert_eq!(net.phone(b).stats().inbox_refused, 0);
}

#[test]
fn a_user_with_no_device_bound_at_all_gets_it_too() {
    let mut net = Net::new();
    let a = net.add(1);
    net.register(a, "alice");
    let b = net.add(2);
    net.register(b, "bob");
    net.with(b, |p, now| p.unregister(now));
    net.run_ms(500);
    let id = send(&mut net, a, "bob", "you unregistered?");
    assert_eq!(done(&net, a), vec![(id, Ok(()))]);
    net.register(b, "bob");
    net.run_ms(500);
    assert_eq!(
        received(&net, b),
        vec![(ALICE.to_owned(), "you unregistered?".to_owned())]
    );
}

#[test]
fn several_letters_wait_and_every_device_of_the_user_gets_them() {
    let mut net = bob_gone();
    send(&mut net, 0, "bob", "one");
    send(&mut net, 0, "bob", "two");
    // One value per sending device, holding both.
    assert_eq!(net.records(inbox_key(BOB), Kind::Multi).len(), 1);
    let b1 = bob_returns(&mut net);
    let b2 = bob_returns(&mut net);
    for b in [b1, b2] {
        assert_eq!(
            received(&net, b),
            vec![
                (ALICE.to_owned(), "one".to_owned()),
                (ALICE.to_owned(), "two".to_owned())
            ],
            "device {b}"
        );
    }
}

#[test]
fn the_oldest_letters_give_way_beyond_the_bound() {
    let mut net = bob_gone();
    for n in 0..MAX_LETTERS + 2 {
        send(&mut net, 0, "bob", &format!("m{n}"));
    }
    let b = bob_returns(&mut net);
    let texts: Vec<String> = received(&net, b).into_iter().map(|(_, t)| t).collect();
    let want: Vec<String> = (2..MAX_LETTERS + 2).map(|n| format!("m{n}")).collect();
    assert_eq!(texts, want);
}

#[test]
fn a_name_nobody_holds_gets_no_letter() {
    let mut net = bob_gone();
    let id = send(&mut net, 0, "zed", "anyone?");
    assert_eq!(
        done(&net, 0),
        vec![(id, Err("zed is not registered".to_owned()))]
    );
    assert!(net
        .records(inbox_key("sip:zed@chordphone"), Kind::Multi)
        .is_empty());
}

/// A letter to Bob written by the node `node`, claiming to be from
/// `claim`'s holder and signed by `signer`.
fn forged(net: &Net, node: u8, claim: &Record, signer: &Identity, to: &str) -> Record {
    forged_n(net, node, claim, signer, to, 1)
}

/// [`forged`] with `n` letters.
fn forged_n(net: &Net, node: u8, claim: &Record, signer: &Identity, to: &str, n: usize) -> Record {
    let mallory_node = Identity::from_seed([node; 32]);
    let bob_user = user_identity(2);
    let letters = (0..n as u64)
        .map(|id| Letter {
            id,
            sent: net.now,
            text: "send me your password".to_owned(),
        })
        .collect();
    let body = postcard::to_allocvec(&Letters {
        to: to.to_owned(),
        letters,
    })
    .unwrap();
    let me = mallory_node.node_id();
    let inner = Inner {
        node_key: mallory_node.public_key(),
        claim: claim.clone(),
        sent: net.now,
        user_sig: sign_sip(signer, &me, &bob_user.node_id(), net.now, &body),
        sip: body,
    };
    let value = seal(&inner, &me, &bob_user.public_key(), [9; 32]).unwrap();
    Record::sign(
        &mallory_node,
        inbox_key(BOB),
        Kind::Multi,
        1,
        Time(net.now.as_micros() + 3_600_000_000),
        Some(value),
    )
}

#[test]
fn forged_and_foreign_letters_are_refused_and_counted() {
    let mut net = bob_gone();
    let alice_claim = net.records(claim_key(ALICE), Kind::Single).remove(0);
    let mallory = user_identity(66);
    // Alice's claim, but Mallory's signature.
    let forged_sender = forged(&net, 66, &alice_claim, &mallory, BOB);
    // Properly Alice's (her user key), but for another AOR: copied here.
    let elsewhere = forged(
        &net,
        69,
        &alice_claim,
        &user_identity(1),
        "sip:carol@chordphone",
    );
    // Properly Alice's, but more letters than any sender keeps.
    let too_many = forged_n(
        &net,
        70,
        &alice_claim,
        &user_identity(1),
        BOB,
        MAX_LETTERS + 1,
    );
    // Not sealed at all.
    let garbage = Record::sign(
        &Identity::from_seed([67; 32]),
        inbox_key(BOB),
        Kind::Multi,
        1,
        forged_sender.expires,
        Some(b"hello".to_vec()),
    );
    // Alice's real letter, copied under another node's key.
    send(&mut net, 0, "bob", "the real one");
    let real = net.records(inbox_key(BOB), Kind::Multi).remove(0);
    let copied = Record::sign(
        &Identity::from_seed([68; 32]),
        inbox_key(BOB),
        Kind::Multi,
        1,
        real.expires,
        real.value.clone(),
    );
    for r in [forged_sender, elsewhere, too_many, garbage, copied] {
        net.store.put(r, net.now).unwrap();
    }
    let b = bob_returns(&mut net);
    assert_eq!(
        received(&net, b),
        vec![(ALICE.to_owned(), "the real one".to_owned())]
    );
    assert_eq!(net.phone(b).stats().inbox_refused, 5);
    assert_eq!(net.refusals(b), 5);
    // Read again later: counted once, not at every read.
    net.run_secs(2 * INBOX_REFRESH.as_secs());
    assert_eq!(net.phone(b).stats().inbox_refused, 5);
    assert_eq!(received(&net, b).len(), 1);
}

#[test]
fn a_letter_sealed_to_another_user_is_not_read() {
    let mut net = bob_gone();
    send(&mut net, 0, "bob", "for bob only");
    // Carol's phone reads Bob's inbox as if it were hers: nothing opens.
    let c = net.add(3);
    net.register(c, "carol");
    let value = net.records(inbox_key(BOB), Kind::Multi).remove(0);
    net.store
        .put(
            Record::sign(
                &net.node_identity(0),
                inbox_key("sip:carol@chordphone"),
                Kind::Multi,
                value.version + 1,
                value.expires,
                value.value.clone(),
            ),
            net.now,
        )
        .unwrap();
    net.run_secs(INBOX_REFRESH.as_secs() + 1);
    assert!(received(&net, c).is_empty());
    assert_eq!(net.phone(c).stats().inbox_refused, 1);
}

#[test]
fn a_rewritten_value_shows_only_its_new_letters() {
    let mut net = bob_gone();
    send(&mut net, 0, "bob", "one");
    let b = bob_returns(&mut net);
    assert_eq!(received(&net, b).len(), 1);
    // Bob goes away again; Alice's next letter rewrites her value with
    // both letters in it. Back, Bob's device shows only the new one.
    net.with(b, |p, now| p.unregister(now));
    net.run_ms(500);
    send(&mut net, 0, "bob", "two");
    let stored = net.records(inbox_key(BOB), Kind::Multi);
    assert_eq!(stored.len(), 1, "still one value for Alice's device");
    net.register(b, "bob");
    net.run_ms(500);
    assert_eq!(
        received(&net, b),
        vec![
            (ALICE.to_owned(), "one".to_owned()),
            (ALICE.to_owned(), "two".to_owned())
        ]
    );
}
