//! The contact list follows the user to every device of the same identity,
//! sealed so only the user reads it, written only by the user's key, the
//! newest write winning; contacts' presence shows within seconds, goes
//! offline when the devices go, and forged presence values are ignored.
#![allow(clippy::unwrap_used)]

mod harness;

use std::time::Duration;

use chordphone_overlay::{Identity, Kind, Record, StoreError};
use chordphone_phone::{
    claim_record, contacts_key, presence_key, Announcement, Binding, ContactView, PhoneError,
    Presence, CONTACTS_POLL, CONTACTS_TTL, PRESENCE_POLL, PRESENCE_REFRESH, PRESENCE_TTL,
};
use harness::{user_identity, Net};

const ALICE: u8 = 1;
const BOB: u8 = 2;
const CAROL: u8 = 3;
const MALLORY: u8 = 9;
const BOB_AOR: &str = "sip:bob@chordphone";

fn contacts(net: &mut Net, i: usize) -> Vec<(String, String, Presence)> {
    net.phone(i)
        .contacts()
        .into_iter()
        .map(
            |ContactView {
                 aor,
                 name,
                 presence,
             }| (aor, name, presence),
        )
        .collect()
}

fn presence_of(net: &mut Net, i: usize, aor: &str) -> Option<Presence> {
    contacts(net, i)
        .into_iter()
        .find(|(a, _, _)| a == aor)
        .map(|(_, _, p)| p)
}

/// Runs until phone `i` shows `want` for `aor`, at most `bound`; how long it took.
fn wait_presence(net: &mut Net, i: usize, aor: &str, want: Presence, bound: Duration) -> Duration {
    let start = net.now;
    while net.now < start + bound {
        if presence_of(net, i, aor) == Some(want) {
            return Duration::from_micros(net.now.as_micros() - start.as_micros());
        }
        net.run_ms(100);
    }
    panic!(
        "{aor} shows {:?}, not {want:?}, after {bound:?}",
        presence_of(net, i, aor)
    );
}

fn add(net: &mut Net, i: usize, target: &str, label: Option<&str>) {
    net.with(i, |p, now| p.add_contact(target, label, now))
        .unwrap();
    net.run_ms(200);
}

/// Alice (phone 0) and Bob (phone 1) registered; Alice has Bob as a contact.
fn alice_knows_bob() -> Net {
    let mut net = Net::new();
    let a = net.add(ALICE);
    let b = net.add(BOB);
    net.register(a, "alice");
    net.register(b, "bob");
    add(&mut net, a, "Bob", Some("Bob Builder"));
    net
}

#[test]
fn the_list_follows_the_user_to_another_device_and_only_the_user_reads_it() {
    let mut net = alice_knows_bob();
    let stored = net.records(contacts_key(&user_identity(ALICE)), Kind::Single);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].writer, user_identity(ALICE).public_key());
    let value = stored[0].value.clone().unwrap();
    for secret in [&b"bob"[..], b"Builder"] {
        assert!(
            !value.windows(secret.len()).any(|w| w == secret),
            "the list is sealed"
        );
    }

    // Alice's second device: the same list, once registered.
    let a2 = net.add(ALICE);
    net.register(a2, "alice");
    net.run_ms(500);
    assert_eq!(
        contacts(&mut net, a2),
        vec![(
            BOB_AOR.to_owned(),
            "Bob Builder".to_owned(),
            Presence::Online
        )]
    );

    // A change on one device shows on the other within a poll.
    add(&mut net, a2, "carol", None);
    net.with(a2, |p, now| p.remove_contact("bob", now)).unwrap();
    net.run_ms(200);
    net.run_secs(CONTACTS_POLL.as_secs() + 1);
    assert_eq!(
        contacts(&mut net, 0),
        vec![(
            "sip:carol@chordphone".to_owned(),
            "carol".to_owned(),
            Presence::Offline
        )]
    );

    // Someone else's device reads nothing of it.
    let m = net.add(MALLORY);
    net.register(m, "mallory");
    net.run_ms(500);
    assert!(contacts(&mut net, m).is_empty());
}

/// A record at alice's contact list key, signed by `user`'s key.
fn list_record(net: &Net, user: u8, version: u64, value: Vec<u8>) -> Record {
    let key = contacts_key(&user_identity(ALICE));
    let expires = net.now + CONTACTS_TTL;
    Record::sign(
        &user_identity(user),
        key,
        Kind::Single,
        version,
        expires,
        Some(value),
    )
}

#[test]
fn only_the_users_key_writes_the_list_and_the_newest_write_wins() {
    let mut net = alice_knows_bob();
    let key = contacts_key(&user_identity(ALICE));
    let old = net.records(key, Kind::Single).remove(0);

    // Another key cannot take the slot.
    let forged = list_record(&net, MALLORY, old.version + 1, vec![1, 2, 3]);
    assert_eq!(
        net.store.put(forged, net.now),
        Err(StoreError::NotOwner),
        "the list is the user's alone"
    );

    // Two devices: the later write wins on both, an older one is refused.
    let a2 = net.add(ALICE);
    net.register(a2, "alice");
    net.run_ms(500);
    add(&mut net, 0, "carol", None);
    net.run_ms(100);
    add(&mut net, a2, "dave", None);
    net.run_secs(CONTACTS_POLL.as_secs() + 1);
    let names = |net: &mut Net, i| {
        contacts(net, i)
            .into_iter()
            .map(|(a, _, _)| a)
            .collect::<Vec<_>>()
    };
    let want = vec![
        BOB_AOR.to_owned(),
        "sip:carol@chordphone".to_owned(),
        "sip:dave@chordphone".to_owned(),
    ];
    assert_eq!(names(&mut net, 0), want);
    assert_eq!(names(&mut net, a2), want);
    assert_eq!(
        net.store.put(old, net.now),
        Err(StoreError::StaleVersion),
        "an older list does not come back"
    );

    // A list written by the user's key that does not open (a bug, or a
    // key leaked and misused) is counted and ignored.
    let newest = net.records(key, Kind::Single).remove(0);
    let junk = list_record(&net, ALICE, newest.version + 1, vec![0xff; 64]);
    net.store.put(junk, net.now).unwrap();
    net.run_secs(CONTACTS_POLL.as_secs() + 1);
    assert_eq!(names(&mut net, 0), want);
    assert!(net.phone(0).stats().contacts_refused >= 1);
}

#[test]
fn contacts_are_a_bounded_list_of_names() {
    let mut net = alice_knows_bob();
    let err = net.with(0, |p, now| p.add_contact("tel:+4930123", None, now));
    assert_eq!(err, Err(PhoneError::BadTarget));
    let err = net.with(0, |p, now| p.remove_contact("nobody", now));
    assert_eq!(err, Err(PhoneError::UnknownContact));
    // Long labels are cut; the list refuses what would not fit in a record.
    let mut added = 1;
    let full = loop {
        let name = format!("contact-with-a-long-name-{added:04}");
        match net.with(0, |p, now| p.add_contact(&name, Some(&"L".repeat(99)), now)) {
            Ok(()) => added += 1,
            Err(e) => break e,
        }
        assert!(added <= chordphone_phone::MAX_CONTACTS);
    };
    assert_eq!(full, PhoneError::ContactsFull);
    net.run_ms(500);
    let stored = net.records(contacts_key(&user_identity(ALICE)), Kind::Single);
    assert!(stored[0].value.as_ref().unwrap().len() <= chordphone_phone::MAX_CONTACTS_VALUE);
    assert_eq!(contacts(&mut net, 0).len(), added);
    assert!(contacts(&mut net, 0)
        .iter()
        .all(|(_, n, _)| n.len() <= chordphone_phone::MAX_CONTACT_LABEL));
    // Unregistered phones keep no list.
    let c = net.add(CAROL);
    let err = net.with(c, |p, now| p.add_contact("bob", None, now));
    assert_eq!(err, Err(PhoneError::NotRegistered));
}

#[test]
fn presence_changes_show_within_seconds_and_calls_set_in_call() {
    let mut net = alice_knows_bob();
    let bound = PRESENCE_POLL + Duration::from_secs(1);
    wait_presence(&mut net, 0, BOB_AOR, Presence::Online, bound);
    assert_eq!(net.phone(1).presence(), Presence::Online);

    net.with(1, |p, now| p.set_presence(Presence::Away, now))
        .unwrap();
    wait_presence(&mut net, 0, BOB_AOR, Presence::Away, bound);
    assert_eq!(
        net.with(1, |p, now| p.set_presence(Presence::InCall, now)),
        Err(PhoneError::BadPresence),
        "in a call is the phone's to say"
    );

    // Bob takes a call from Carol: in a call, then back to away.
    let c = net.add(CAROL);
    net.register(c, "carol");
    let call = net.call(c, "bob");
    net.run_ms(500);
    let inc = net.incoming(1);
    net.with(1, |p, now| p.answer(inc, now)).unwrap();
    net.run_ms(300);
    assert_eq!(net.phone(1).presence(), Presence::InCall);
    wait_presence(&mut net, 0, BOB_AOR, Presence::InCall, bound);
    net.with(c, |p, now| p.hangup(call, now)).unwrap();
    net.run_ms(300);
    wait_presence(&mut net, 0, BOB_AOR, Presence::Away, bound);
}

#[test]
fn a_device_that_leaves_or_vanishes_goes_offline() {
    let mut net = alice_knows_bob();
    let bound = PRESENCE_POLL + Duration::from_secs(1);
    wait_presence(&mut net, 0, BOB_AOR, Presence::Online, bound);
    // Leaving removes the value at once.
    net.with(1, |p, now| p.unregister(now));
    wait_presence(&mut net, 0, BOB_AOR, Presence::Offline, bound);

    // A tab that closes without a word is offline once its value expires.
    let b2 = net.add(BOB);
    net.register(b2, "bob");
    wait_presence(&mut net, 0, BOB_AOR, Presence::Online, bound);
    net.remove(b2);
    let took = wait_presence(
        &mut net,
        0,
        BOB_AOR,
        Presence::Offline,
        PRESENCE_TTL + bound,
    );
    // Written at most one refresh before the tab went: it stayed until
    // it expired, not a moment less.
    assert!(
        took >= PRESENCE_TTL - PRESENCE_REFRESH,
        "it stayed until it expired"
    );
}

#[test]
fn forged_presence_values_are_ignored() {
    let mut net = alice_knows_bob();
    let bound = PRESENCE_POLL + Duration::from_secs(1);
    net.with(1, |p, now| p.set_presence(Presence::Busy, now))
        .unwrap();
    wait_presence(&mut net, 0, BOB_AOR, Presence::Busy, bound);

    // Mallory's node says bob is in a call, with bob's own claim (copied
    // from the overlay) and a binding mallory's key signed.
    let node = Identity::from_seed([77; 32]);
    let bob_claim = claim_record(&user_identity(BOB), BOB_AOR, 1, net.now + CONTACTS_TTL);
    let later = net.now + PRESENCE_TTL;
    let forged = Announcement {
        state: Presence::InCall,
        claim: bob_claim,
        binding: Binding::sign(
            &user_identity(MALLORY),
            node.public_key(),
            BOB_AOR,
            "evil",
            later,
        ),
    };
    let record = Record::sign(
        &node,
        presence_key(BOB_AOR),
        Kind::Multi,
        1,
        later,
        Some(forged.encode()),
    );
    net.store.put(record, net.now).unwrap();
    net.run_secs(2 * PRESENCE_POLL.as_secs());
    assert_eq!(presence_of(&mut net, 0, BOB_AOR), Some(Presence::Busy));
    assert!(net.phone(0).stats().presence_refused >= 1);

    // Bob's value survives mallory's writes: the key holds one per writer.
    net.with(1, |p, now| p.set_presence(Presence::Online, now))
        .unwrap();
    wait_presence(&mut net, 0, BOB_AOR, Presence::Online, bound);
}
