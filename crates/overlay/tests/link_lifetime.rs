//! How long links live: holds that keep a link open for an application,
//! and peers out of reach one way that are not taken for dead. Driven
//! through the deterministic network of `harness` (virtual time only).

// Each test binary uses its own part of the shared harness.
#[allow(dead_code)]
mod harness;

use chordphone_overlay::{Config, Event, Identity, LinkChange, Node, NodeId, Time};
use core::time::Duration;
use harness::{Net, START};

#[test]
fn a_held_link_stays_open_while_idle_and_closes_once_every_hold_is_released() {
    let config = Config::default();
    let mut net = Net::new(4, &config);
    net.form_ring_of(3);
    // Node 3 is no member: no ring rule needs its link to node 0, which
    // carries nothing.
    net.link(0, 3);
    let x = net.id(3);
    let linked = |net: &Net| net.node(0).status().links.contains(&x);
    net.call(0, |node, _| node.hold(x));
    net.call(0, |node, _| node.hold(x));
    net.run_for(config.link_idle * 2);
    assert!(linked(&net), "a held link was closed as idle");
    net.call(0, |node, _| node.release(x));
    net.run_for(config.link_idle * 2);
    assert!(linked(&net), "two holds need two releases");
    net.call(0, |node, _| node.release(x));
    net.run_for(config.link_idle + Duration::from_secs(10));
    assert!(!linked(&net), "a released idle link stays open");
}

/// A node placed in a ring of two from computed tables; its only neighbour
/// is `peer` (successor, predecessor and finger), to which it has no link.
fn node_beside_an_unlinked_peer() -> (Node, NodeId) {
    let config = Config::default();
    let mut node = Node::new(Identity::from_seed([1; 32]), config, 1, START);
    let peer = Identity::from_seed([2; 32]).node_id();
    let fingers = [Some(peer)];
    node.install_tables(Some(peer), &[peer], &fingers, START);
    (node, peer)
}

/// Runs `node` alone until `end`, answering every link it asks for to
/// `peer` with `answer`; returns when it asked.
fn asks_for_links(
    node: &mut Node,
    peer: NodeId,
    from: Time,
    end: Time,
    answer: LinkChange,
) -> Vec<Time> {
    let mut asked = Vec::new();
    let mut now = from;
    loop {
        while let Some(out) = node.poll_event() {
            if out == Event::Connect(peer) {
                asked.push(now);
                node.handle_link(peer, answer, now);
            }
        }
        while node.poll_transmit().is_some() {}
        match node.poll_timeout() {
            Some(t) if t <= end => {
                now = t.max(now);
                node.handle_timeout(now);
            }
            _ => return asked,
        }
    }
}

#[test]
fn a_peer_out_of_reach_stays_in_the_ring_view_and_is_asked_again_ever_later() {
    let (mut node, peer) = node_beside_an_unlinked_peer();
    let end = START + Duration::from_secs(900);
    let asked = asks_for_links(&mut node, peer, START, end, LinkChange::Unreachable);
    // Not taken for dead: still the successor and a finger.
    let status = node.status();
    assert_eq!(status.successors, vec![peer]);
    assert!(status.fingers.contains(&peer), "{status:?}");
    // Asked again and again, each time after a longer wait, up to a bound.
    assert!(asked.len() >= 6, "asked only at {asked:?}");
    let gaps: Vec<Duration> = asked
        .windows(2)
        .map(|w| w[1].saturating_since(w[0]))
        .collect();
    assert!(gaps[0] >= Duration::from_secs(10), "{gaps:?}");
    assert!(
        gaps[2] > gaps[0] * 3,
        "the back-off does not grow: {gaps:?}"
    );
    let bound = Duration::from_secs(160 + 10);
    assert!(gaps.iter().all(|g| *g <= bound), "{gaps:?}");
    assert!(gaps.last() > gaps.first(), "{gaps:?}");
}

#[test]
fn a_link_that_came_up_resets_the_back_off() {
    let (mut node, peer) = node_beside_an_unlinked_peer();
    let mid = START + Duration::from_secs(300);
    let before = asks_for_links(&mut node, peer, START, mid, LinkChange::Unreachable);
    assert!(before.len() >= 4, "{before:?}");
    let last = *before.last().expect("asked");
    // The link comes up at last; later the peer turns it away (over its
    // budget), which is no failure either.
    node.handle_link(peer, LinkChange::Up, last);
    node.handle_link(peer, LinkChange::Refused, last);
    let end = mid + Duration::from_secs(300);
    let after = asks_for_links(&mut node, peer, last, end, LinkChange::Unreachable);
    assert!(after.len() >= 2, "{after:?}");
    // Failures after a link was had count from the start again.
    let gap = after[1].saturating_since(after[0]);
    assert!(gap < Duration::from_secs(20), "{after:?}");
}

#[test]
fn the_link_budget_never_closes_a_held_link() {
    let config = Config {
        max_links: 4,
        ..Config::default()
    };
    let mut net = Net::new(12, &config);
    net.form_ring_of(11);
    // Node 11 is no member; node 0 holds its link to it.
    net.link(0, 11);
    let x = net.id(11);
    net.call(0, |node, _| node.hold(x));
    // Node 0's successor dies: node 0 needs a link to the next one, over a
    // full budget, and closes the least useful link it holds to make room.
    let succ = net.node(0).status().successors[0];
    let s = net.index_of(&succ).expect("a node of the net");
    net.kill(s);
    net.run_for(Duration::from_secs(30));
    let status = net.node(0).status();
    assert!(status.links.len() <= config.max_links, "{status:?}");
    assert!(status.links.contains(&x), "the held link was closed");
    assert!(!status.successors.contains(&succ), "{status:?}");
}
