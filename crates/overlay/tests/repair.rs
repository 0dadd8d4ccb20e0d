//! Record repair when neighbours die, driven through a node's public API
//! on a virtual clock.

// Each test binary uses its own part of the shared harness.
#[allow(dead_code)]
mod harness;

use chordphone_overlay::{Config, Identity, Kind, LinkChange, Message, Node, NodeId, Record, Time};
use core::time::Duration;
use harness::START;

#[test]
fn a_node_whose_predecessor_died_copies_what_it_holds_from_behind_down_its_chain() {
    // Four nodes in ring order: the predecessor, this node, two successors.
    let mut idents: Vec<Identity> = (1..=4u8).map(|b| Identity::from_seed([b; 32])).collect();
    idents.sort_by_key(|i| i.node_id());
    let ids: Vec<NodeId> = idents.iter().map(Identity::node_id).collect();
    let (pred, s1, s2) = (ids[0], ids[2], ids[3]);
    let me = idents.swap_remove(1);
    let config = Config {
        replicas: 3,
        ..Config::default()
    };
    let mut node = Node::new(me, config, 1, START);
    node.install_tables(Some(pred), &[s1, s2], &[], START);
    let now = START + Duration::from_millis(10);
    for peer in [pred, s1, s2] {
        node.handle_link(peer, LinkChange::Up, now);
    }
    // A copy of a record that lies behind the predecessor: this node holds
    // it as a replica for the nodes before.
    let key = s2.add_pow2(0);
    let writer = Identity::from_seed([9; 32]);
    let expires = Time(START.0 + 3_600_000_000);
    let record = Record::sign(&writer, key, Kind::Single, 1, expires, Some(b"v".to_vec()));
    let copy = Message::Replicate {
        records: vec![record],
        copies_left: 0,
    };
    node.handle_message(pred, copy, now);
    while node.poll_output().is_some() {}
    // The predecessor dies: the range of this node now reaches back to
    // whoever is alive before it, and the record may be its own.
    node.handle_link(pred, LinkChange::Down, now);
    let mut pushed = false;
    while let Some(t) = node.poll_transmit() {
        if let Message::Replicate { records, .. } = &t.msg {
            pushed |= t.to == s1 && records.iter().any(|r| r.key == key);
        }
    }
    assert!(pushed, "the copy was not passed down the successor chain");
}
