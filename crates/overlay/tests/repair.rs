//! Record repair when neighbours die, driven through a node's public API
//! on a virtual clock.

// Each test binary uses its own part of the shared harness.
#[allow(dead_code)]
mod harness;

use chordphone_overlay::{
    Config, Id, Identity, Kind, LinkChange, Message, Node, NodeId, Record, Time,
};
use core::time::Duration;
use harness::START;

/// A node between its predecessor and two successors (links up at `now`),
/// holding a copy of a record that lies behind the predecessor: it keeps
/// that copy as a replica for the nodes before it. Returns the node, its
/// predecessor, first successor, second successor and the record's key.
fn node_with_a_copy_from_behind(seed: u8, now: Time) -> (Node, NodeId, NodeId, NodeId, Id) {
    // Four nodes in ring order: the predecessor, this node, two successors.
    let mut idents: Vec<Identity> = (seed..seed + 4)
        .map(|b| Identity::from_seed([b; 32]))
        .collect();
    idents.sort_by_key(|i| i.node_id());
    let ids: Vec<NodeId> = idents.iter().map(Identity::node_id).collect();
    let (pred, s1, s2) = (ids[0], ids[2], ids[3]);
    let me = idents.swap_remove(1);
    let config = Config {
        replicas: 3,
        ..Config::default()
    };
    let mut node = Node::new(me, config, u64::from(seed), START);
    node.install_tables(Some(pred), &[s1, s2], &[], START);
    for peer in [pred, s1, s2] {
        node.handle_link(peer, LinkChange::Up, now);
    }
    let key = s2.add_pow2(0);
    let writer = Identity::from_seed([99; 32]);
    let expires = Time(START.0 + 3_600_000_000);
    let record = Record::sign(&writer, key, Kind::Single, 1, expires, Some(b"v".to_vec()));
    let copy = Message::Replicate {
        records: vec![record],
        copies_left: 0,
    };
    node.handle_message(pred, copy, now);
    while node.poll_output().is_some() {}
    (node, pred, s1, s2, key)
}

/// Drains what the node sends; true if a copy of `key` went to `to`.
fn copy_sent(node: &mut Node, to: NodeId, key: Id) -> bool {
    let mut sent = false;
    while let Some(t) = node.poll_transmit() {
        if let Message::Replicate { records, .. } = &t.msg {
            sent |= t.to == to && records.iter().any(|r| r.key == key);
        }
    }
    sent
}

#[test]
fn a_node_whose_predecessor_died_copies_what_it_holds_from_behind_down_its_chain() {
    let now = START + Duration::from_millis(10);
    let (mut node, pred, s1, _, key) = node_with_a_copy_from_behind(1, now);
    // The predecessor dies: the range of this node now reaches back to
    // whoever is alive before it, and the record may be its own.
    node.handle_link(pred, LinkChange::Down, now);
    assert!(
        copy_sent(&mut node, s1, key),
        "the copy was not passed down the successor chain"
    );
}

#[test]
fn a_node_whose_successor_died_passes_the_copies_it_holds_for_its_predecessor_to_the_next() {
    // The owner of the record is our predecessor; the copies are on it, on
    // us and on our successor. The successor dies: the next node must get
    // a copy from us at once, not a stabilization later from the owner
    // (which may be dying too).
    let now = START + Duration::from_millis(10);
    let (mut node, _, s1, s2, key) = node_with_a_copy_from_behind(21, now);
    node.handle_link(s1, LinkChange::Down, now);
    assert!(
        copy_sent(&mut node, s2, key),
        "the copy was not passed to the new successor"
    );
}

#[test]
fn a_predecessor_that_died_without_its_link_dropping_is_found_within_three_seconds() {
    // The predecessor dies silently: its link stays up (a data channel
    // notices only after seconds), it just stops stabilizing. Its successor
    // inherits its range and holds copies of what it owned; under churn
    // the holders after it may be dying too, so it must notice soon (not
    // after the four-period silence timeout or the link's drop) and pass
    // the copies down its chain.
    let (mut node, _, s1, s2, key) = node_with_a_copy_from_behind(11, START);
    let my_id = node.status().id;
    // From here on the predecessor says nothing; the successor answers
    // every stabilization, so only the predecessor can be found dead.
    let mut pushed_at = None;
    let limit = START + Duration::from_secs(10);
    while pushed_at.is_none() {
        let Some(t) = node.poll_timeout().filter(|t| *t <= limit) else {
            break;
        };
        node.handle_timeout(t);
        let mut answers = Vec::new();
        while let Some(out) = node.poll_transmit() {
            match out.msg {
                Message::Stabilize { seq } if out.to == s1 => {
                    answers.push(Message::StabilizeReply {
                        seq,
                        predecessor: Some(my_id),
                        successors: vec![s2],
                    })
                }
                Message::Replicate { records, .. }
                    if out.to == s1 && records.iter().any(|r| r.key == key) =>
                {
                    pushed_at = Some(t);
                }
                _ => {}
            }
        }
        for m in answers {
            node.handle_message(s1, m, t);
        }
    }
    let pushed_at = pushed_at.expect("the copy was never passed down the chain");
    let took = pushed_at.saturating_since(START);
    assert!(
        took <= Duration::from_secs(3),
        "the dead predecessor was noticed only after {took:?}"
    );
    assert_eq!(node.status().predecessor, None);
}
