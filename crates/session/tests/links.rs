//! Link set-up between real sessions on a virtual clock: negotiation
//! through the ring, glare, a server dialled back, refusals, replacement,
//! and what a failed set-up tells the node.

#![allow(clippy::unwrap_used)]

mod harness;

use chordphone_link::Refusal;
use chordphone_session::{Event, LinkFailure, Transport};
use core::time::Duration;
use harness::Net;

const SETTLE: Duration = Duration::from_secs(60);

/// A server and `n` browsers, all joined.
fn ring(n: usize) -> Net {
    let mut net = Net::new();
    let server = net.add_server();
    for _ in 0..n {
        net.add_browser(server);
    }
    assert!(
        net.run_until(Net::all_joined, SETTLE),
        "the ring did not form"
    );
    // What happened while the ring formed is not what a test looks at.
    for h in &mut net.hosts {
        h.events.clear();
    }
    net
}

/// Two browsers of `net` with no link between them.
fn unlinked_pair(net: &Net) -> (usize, usize) {
    let n = net.hosts.len();
    for a in 1..n {
        for b in a + 1..n {
            if !net.session(a).is_up(&net.id(b)) && !net.session(b).is_up(&net.id(a)) {
                return (a, b);
            }
        }
    }
    panic!("every pair is linked");
}

fn transport_to(net: &Net, i: usize, j: usize) -> Option<Transport> {
    let peer = net.id(j);
    net.session(i)
        .peers()
        .into_iter()
        .find(|(p, _)| p.id == peer)
        .map(|(_, t)| t)
}

fn failures_for(net: &Net, i: usize, j: usize) -> Vec<LinkFailure> {
    let peer = net.id(j);
    net.hosts[i]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::LinkFailed { peer: p, reason } if *p == peer => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn browsers_join_through_the_server_and_link_over_webrtc_negotiated_in_the_ring() {
    let mut net = ring(8);
    let (a, b) = unlinked_pair(&net);
    let idb = net.id(b);
    net.call(a, |s, now| s.connect(idb, now));
    assert!(net.run_until(
        |n| n.session(a).is_up(&n.id(b)) && n.session(b).is_up(&n.id(a)),
        SETTLE
    ));
    assert_eq!(
        transport_to(&net, a, b),
        Some(Transport::WebRtc { offerer: true })
    );
    assert_eq!(
        transport_to(&net, b, a),
        Some(Transport::WebRtc { offerer: false })
    );
    // Each browser reached the server over a WebSocket it dialled.
    assert_eq!(
        transport_to(&net, a, 0),
        Some(Transport::WebSocket { dialled: true })
    );
    assert!(failures_for(&net, a, b).is_empty());
}

#[test]
fn glare_two_offers_at_once_leave_exactly_one_link() {
    let mut net = ring(8);
    let (a, b) = unlinked_pair(&net);
    let (ida, idb) = (net.id(a), net.id(b));
    // Both ask in the same instant: the offers cross in the ring.
    net.call(a, |s, now| s.connect(idb, now));
    net.call(b, |s, now| s.connect(ida, now));
    assert!(net.run_until(
        |n| n.session(a).is_up(&idb) && n.session(b).is_up(&ida),
        SETTLE
    ));
    net.run_for(Duration::from_secs(2));
    // One peer connection between them, the larger id's offer.
    let (offerer, answerer) = if ida > idb { (a, b) } else { (b, a) };
    assert_eq!(
        transport_to(&net, offerer, answerer),
        Some(Transport::WebRtc { offerer: true })
    );
    assert_eq!(
        transport_to(&net, answerer, offerer),
        Some(Transport::WebRtc { offerer: false })
    );
    // The refused side was not told its link failed: the other offer
    // brought it.
    assert!(failures_for(&net, answerer, offerer).is_empty());
    assert!(
        failures_for(&net, offerer, answerer).is_empty(),
        "{:?}",
        failures_for(&net, offerer, answerer)
    );
}

#[test]
fn a_server_that_wants_a_browser_asks_it_to_dial_back() {
    let mut net = Net::new();
    let s1 = net.add_server();
    let a = net.add_browser(s1);
    assert!(net.run_until(Net::all_joined, SETTLE));
    // A second server joins through the first; it cannot open a connection
    // to the browser, so it asks the browser to dial it.
    let s2 = net.add_lone_server();
    let url = net.session(s1).config().public_url.clone().unwrap();
    net.call(s2, |s, now| {
        s.set_bootstrap(vec![url]);
        s.join(now);
    });
    assert!(net.run_until(Net::all_joined, SETTLE));
    let ida = net.id(a);
    net.call(s2, |s, now| s.connect(ida, now));
    assert!(net.run_until(|n| n.session(s2).is_up(&ida), SETTLE));
    assert_eq!(
        transport_to(&net, a, s2),
        Some(Transport::WebSocket { dialled: true })
    );
    assert_eq!(
        transport_to(&net, s2, a),
        Some(Transport::WebSocket { dialled: false })
    );
    assert!(net.session(s2).stats().dial_up >= 1);
}

#[test]
fn a_peer_at_its_transport_limit_refuses_and_the_asker_is_told_why() {
    let mut net = ring(8);
    let (a, b) = unlinked_pair(&net);
    let idb = net.id(b);
    // b holds as many transports as it takes.
    let held = net.session(b).transports();
    net.call(b, |s, _| s.set_max_transports(held));
    net.call(a, |s, now| s.connect(idb, now));
    assert!(net.run_until(|n| !failures_for(n, a, b).is_empty(), SETTLE));
    assert_eq!(
        failures_for(&net, a, b)[0],
        LinkFailure::Refused(Refusal::Busy)
    );
    assert!(!net.session(a).is_up(&idb));
    assert_eq!(net.session(b).transports(), held);
}

#[test]
fn a_new_link_from_a_peer_that_lost_its_side_replaces_the_old_one_quietly() {
    let mut net = ring(8);
    let (a, b) = unlinked_pair(&net);
    let (ida, idb) = (net.id(a), net.id(b));
    net.call(a, |s, now| s.connect(idb, now));
    assert!(net.run_until(
        |n| n.session(a).is_up(&idb) && n.session(b).is_up(&ida),
        SETTLE
    ));
    let links_up_before = net.session(a).stats().links_up;
    // b loses its peer connection; a still holds its half.
    net.cut_one_side(b, ida);
    assert!(!net.session(b).is_up(&ida));
    net.call(b, |s, now| s.connect(ida, now));
    assert!(net.run_until(
        |n| n.session(b).is_up(&ida) && n.session(a).stats().links_up > links_up_before,
        SETTLE
    ));
    // a took the newer link without ever reporting b's link as failed, and
    // holds one transport to b, not two.
    assert!(net.session(a).is_up(&idb));
    assert!(failures_for(&net, a, b).is_empty());
    let to_b = net
        .session(a)
        .peers()
        .into_iter()
        .filter(|(p, _)| p.id == idb)
        .count();
    assert_eq!(to_b, 1);
    assert_eq!(
        transport_to(&net, a, b),
        Some(Transport::WebRtc { offerer: false })
    );
}

#[test]
fn a_link_to_a_dead_peer_fails_with_a_reason_and_leaves_no_transport() {
    let mut net = ring(8);
    let (a, dead) = unlinked_pair(&net);
    let idd = net.id(dead);
    net.kill(dead);
    let before = net.session(a).transports();
    net.call(a, |s, now| s.connect(idd, now));
    assert!(net.run_until(|n| !failures_for(n, a, dead).is_empty(), SETTLE));
    // Whatever was set up for it is gone again.
    net.run_for(Duration::from_secs(1));
    assert!(net.session(a).transports() <= before);
    assert!(!net.session(a).is_up(&idd));
}

#[test]
fn a_peer_out_of_reach_over_webrtc_is_not_taken_for_dead() {
    // Enough nodes that some finger has no link (how many fingers are
    // linked depends on the seeded choices of the nodes).
    let mut net = ring(12);
    // A node and a finger of it that it has no link to.
    let pair = (1..net.hosts.len()).find_map(|a| {
        let status = net.session(a).node().status();
        status
            .fingers
            .iter()
            .find(|f| !net.session(a).is_up(f) && (1..net.hosts.len()).any(|b| net.id(b) == **f))
            .map(|f| (a, (1..net.hosts.len()).find(|b| net.id(*b) == *f).unwrap()))
    });
    let Some((a, b)) = pair else {
        panic!("every finger is linked; the ring needs more nodes")
    };
    let idb = net.id(b);
    net.block(a, b);
    net.call(a, |s, now| s.connect(idb, now));
    assert!(net.run_until(|n| !failures_for(n, a, b).is_empty(), SETTLE));
    assert_eq!(failures_for(&net, a, b)[0], LinkFailure::Timeout);
    // Out of reach this way is no evidence of death: b keeps its place in
    // a's view of the ring.
    let status = net.session(a).node().status();
    assert!(
        status.fingers.contains(&idb) || status.successors.contains(&idb),
        "{status:?}"
    );
}

#[test]
fn a_tab_left_without_links_reconnects_through_the_server_and_is_back_in_its_ring() {
    let mut net = Net::new();
    let server = net.add_server();
    let tab = net.add_browser(server);
    let (ids, idt) = (net.id(server), net.id(tab));
    assert!(net.run_until(Net::all_joined, SETTLE));
    // Blocked for long enough that the server takes it for dead and
    // closes its link: once free, the tab is in a ring of its own.
    net.stall(tab, Duration::from_secs(8));
    assert!(net.run_until(|n| !n.session(server).is_up(&idt), SETTLE));
    // Nothing else would bring it back: it dials the server again, and
    // each side has the other as its neighbour once more.
    assert!(net.run_until(
        |n| {
            let (s, t) = (
                n.session(server).node().status(),
                n.session(tab).node().status(),
            );
            n.session(tab).is_up(&ids)
                && s.successors.first() == Some(&idt)
                && t.successors.first() == Some(&ids)
        },
        SETTLE
    ));
}
