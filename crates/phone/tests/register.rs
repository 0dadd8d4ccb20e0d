//! Registration: claims, bindings, names taken, two devices, refreshes.
#![allow(clippy::unwrap_used)]

mod harness;

use chordphone_overlay::Kind;
use chordphone_phone::{claim_key, devices_key, Binding, PhoneError, PhoneEvent, RegisterError};
use harness::{user_identity, Net};

const AOR: &str = "sip:alice@chordphone";

#[test]
fn register_stores_a_user_signed_claim_and_a_node_signed_binding() {
    let mut net = Net::new();
    let a = net.add(1);
    assert_eq!(net.phone(a).aor(), None);
    net.register(a, " Alice ");
    assert!(net.has(a, |e| *e == PhoneEvent::Registered { aor: AOR.into() }));
    assert_eq!(net.phone(a).aor(), Some(AOR));
    let claims = net.records(claim_key(AOR), Kind::Single);
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].writer, user_identity(1).public_key());
    let bindings = net.records(devices_key(AOR), Kind::Multi);
    assert_eq!(bindings.len(), 1);
    assert_eq!(bindings[0].writer, net.node_identity(a).public_key());
    let b = Binding::decode(bindings[0].value.as_deref().unwrap()).unwrap();
    assert!(b.verify());
    assert_eq!(b.user_key, user_identity(1).public_key());
    assert_eq!(b.label, "browser");
}

#[test]
fn a_name_held_by_another_user_key_is_taken_and_nothing_else_is_written() {
    let mut net = Net::new();
    let a = net.add(1);
    let m = net.add(3);
    net.register(a, "alice");
    net.register(m, "alice");
    let failed = net.events[m].iter().find_map(|e| match e {
        PhoneEvent::RegisterFailed { aor, reason } => Some((aor.clone(), reason.clone())),
        _ => None,
    });
    let (aor, reason) = failed.expect("refused");
    assert_eq!(aor, AOR);
    assert_eq!(reason, RegisterError::NameTaken);
    assert_eq!(
        reason.to_string(),
        "that name is already taken by someone else"
    );
    assert_eq!(net.phone(m).aor(), None);
    assert!(!net.has(m, |e| matches!(e, PhoneEvent::Registered { .. })));
    // Only Alice's device is bound to the name.
    let bindings = net.records(devices_key(AOR), Kind::Multi);
    assert_eq!(bindings.len(), 1);
    assert_eq!(bindings[0].writer, net.node_identity(a).public_key());
    // The loser cannot call.
    assert_eq!(
        net.with(m, |p, now| p.call("alice", now)),
        Err(PhoneError::NotRegistered)
    );
}

#[test]
fn two_devices_of_one_user_register_the_same_name() {
    let mut net = Net::new();
    let a1 = net.add(1);
    let a2 = net.add_with(1, |c| c.device_label = "laptop".into());
    net.register(a1, "alice");
    net.run_secs(5);
    net.register(a2, "alice");
    assert_eq!(net.phone(a1).aor(), Some(AOR));
    assert_eq!(net.phone(a2).aor(), Some(AOR));
    let mut labels: Vec<String> = net
        .records(devices_key(AOR), Kind::Multi)
        .iter()
        .map(|r| Binding::decode(r.value.as_deref().unwrap()).unwrap().label)
        .collect();
    labels.sort();
    assert_eq!(labels, ["browser", "laptop"]);
}

#[test]
fn bad_names_are_refused_at_once() {
    let mut net = Net::new();
    let a = net.add(1);
    for bad in ["", "a b", "x".repeat(33).as_str(), "ünï"] {
        assert_eq!(
            net.with(a, |p, now| p.register(bad, now)),
            Err(PhoneError::BadName)
        );
    }
    assert!(net.events[a].is_empty());
}

#[test]
fn claim_and_binding_are_refreshed_while_registered() {
    let mut net = Net::new();
    let a = net.add(1);
    net.register(a, "alice");
    // Well past both lifetimes (binding 5 min, claim 24 h).
    net.run_secs(25 * 3600);
    assert_eq!(net.records(claim_key(AOR), Kind::Single).len(), 1);
    assert_eq!(net.records(devices_key(AOR), Kind::Multi).len(), 1);
    // Registered once, not again on every refresh.
    let n = net.events[a]
        .iter()
        .filter(|e| matches!(e, PhoneEvent::Registered { .. }))
        .count();
    assert_eq!(n, 1);
}

#[test]
fn unregister_removes_the_binding_and_the_name_stops_answering() {
    let mut net = Net::new();
    let a = net.add(1);
    let b = net.add(2);
    net.register(a, "alice");
    net.register(b, "bob");
    net.with(a, |p, now| p.unregister(now));
    net.run_ms(100);
    assert_eq!(net.phone(a).aor(), None);
    assert!(net.records(devices_key(AOR), Kind::Multi).is_empty());
    let call = net.call(b, "alice");
    net.run_secs(1);
    assert_eq!(
        net.reason(b, call).as_deref(),
        Some("alice is not registered")
    );
}

#[test]
fn no_route_to_the_network_fails_the_registration_in_plain_words() {
    let node = chordphone_overlay::Identity::from_seed([50; 32]);
    let mut phone =
        chordphone_phone::Phone::new(chordphone_phone::Config::new(node, user_identity(1), 9));
    phone.register("alice", harness::T0).unwrap();
    let token = match phone.poll_action() {
        Some(chordphone_phone::Action::Put { token, .. }) => token,
        other => panic!("expected the claim first, got {other:?}"),
    };
    phone.handle_outcome(
        token,
        Err(chordphone_overlay::QueryError::NotJoined),
        harness::T0,
    );
    let event = core::iter::from_fn(|| phone.poll_action()).find_map(|a| match a {
        chordphone_phone::Action::Event(PhoneEvent::RegisterFailed { reason, .. }) => Some(reason),
        _ => None,
    });
    assert_eq!(event, Some(RegisterError::NoRoute));
    assert!(RegisterError::NoRoute
        .to_string()
        .starts_with("could not reach the network"));
    assert_eq!(phone.aor(), None);
}

#[test]
fn a_new_name_after_calls_under_the_old_one_starts_clean() {
    let mut net = Net::new();
    let a = net.add(1);
    let b = net.add(2);
    net.register(a, "alice");
    net.register(b, "bob");
    let first = net.call(b, "alice");
    net.run_ms(500);
    let old = net.incoming(a);
    // Alice takes another name while Bob's call rings: it ends.
    net.register(a, "alicia");
    assert_eq!(net.phone(a).aor(), Some("sip:alicia@chordphone"));
    assert_eq!(net.reason(a, old).as_deref(), Some("Call declined"));
    net.run_ms(500);
    assert!(net.reason(b, first).is_some());
    // A call to the new name rings as a new call, not the old one.
    let second = net.call(b, "alicia");
    net.run_ms(500);
    let new = net.incoming(a);
    assert_ne!(new, old);
    assert_eq!(
        net.view(a, new).state,
        chordphone_phone::CallState::Incoming
    );
    net.with(a, |p, now| p.answer(new, now)).unwrap();
    net.run_ms(500);
    assert_eq!(
        net.view(b, second).state,
        chordphone_phone::CallState::Active
    );
    assert_eq!(net.view(a, old).state, chordphone_phone::CallState::Ended);
    // Once the old call is forgotten, the new one still hears its hang-up.
    net.run_secs(61);
    assert!(net.phone(a).calls().iter().all(|c| c.id != old));
    net.with(b, |p, now| p.hangup(second, now)).unwrap();
    net.run_ms(500);
    assert_eq!(net.reason(a, new).as_deref(), Some("Hung up"));
}

#[test]
fn a_claim_is_accepted_by_an_owner_whose_clock_is_behind() {
    // The owner's clock is five minutes behind the phone's.
    let mut net = Net::new();
    let a = net.add(1);
    net.register(a, "alice");
    let claim = net.records(claim_key(AOR), Kind::Single).remove(0);
    let mut store = chordphone_overlay::Store::new(chordphone_overlay::StoreLimits {
        max_value: 4096,
        max_ttl: std::time::Duration::from_secs(24 * 3600),
        max_records: 10,
    });
    let behind = net.now - std::time::Duration::from_secs(300);
    assert!(store.put(claim, behind).is_ok());
}
