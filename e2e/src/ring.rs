//! The ring a set of live node ids implies, computed independently of the
//! overlay: ids sorted, each node's successor is the next id clockwise, its
//! predecessor the previous one, and a key belongs to the first id at or
//! after it (wrapping past the largest id).

use crate::status::NodeStatus;
use chordphone_overlay::Id;

/// The expected ring over a set of live ids.
#[derive(Clone, Debug)]
pub struct Ring {
    ids: Vec<Id>,
}

impl Ring {
    /// The ring over `ids` (duplicates ignored).
    pub fn new(ids: impl IntoIterator<Item = Id>) -> Ring {
        let mut ids: Vec<Id> = ids.into_iter().collect();
        ids.sort();
        ids.dedup();
        Ring { ids }
    }

    /// The live ids in ring order.
    pub fn ids(&self) -> &[Id] {
        &self.ids
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True with no node.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    fn index(&self, id: &Id) -> Option<usize> {
        self.ids.binary_search(id).ok()
    }

    /// The next live id clockwise after `id` (itself in a ring of one).
    pub fn successor_of(&self, id: &Id) -> Option<Id> {
        let i = self.index(id)?;
        Some(self.ids[(i + 1) % self.ids.len()])
    }

    /// The previous live id (itself in a ring of one).
    pub fn predecessor_of(&self, id: &Id) -> Option<Id> {
        let i = self.index(id)?;
        Some(self.ids[(i + self.ids.len() - 1) % self.ids.len()])
    }

    /// The node that owns `key`: the first id at or after it, wrapping.
    pub fn owner(&self, key: &Id) -> Option<Id> {
        let i = self.ids.partition_point(|id| id < key);
        self.ids.get(i).or_else(|| self.ids.first()).copied()
    }

    /// The owner of the key for a name: SHA-1 of its UTF-8 bytes.
    pub fn owner_of_name(&self, name: &str) -> Option<Id> {
        self.owner(&Id::for_key(name))
    }

    /// Checks each status against the ring: joined, first successor and
    /// predecessor as the sorted ids say. Returns every mismatch.
    pub fn mismatches(&self, nodes: &[NodeStatus]) -> Vec<String> {
        let mut out = Vec::new();
        for n in nodes {
            let (Some(succ), Some(pred)) = (self.successor_of(&n.id), self.predecessor_of(&n.id))
            else {
                out.push(format!("{} ({:?}) is not in the ring", n.label, n.id));
                continue;
            };
            if !n.joined {
                out.push(format!("{} ({:?}) has not joined", n.label, n.id));
            }
            if n.successors.first() != Some(&succ) {
                out.push(format!(
                    "{} ({:?}): successor {:?}, expected {:?}",
                    n.label,
                    n.id,
                    n.successors.first(),
                    succ
                ));
            }
            if n.predecessor != Some(pred) {
                out.push(format!(
                    "{} ({:?}): predecessor {:?}, expected {:?}",
                    n.label, n.id, n.predecessor, pred
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(v: u64) -> Id {
        Id::from_u64_top(v)
    }

    #[test]
    fn neighbours_wrap_around_the_ring() {
        let ring = Ring::new([id(30), id(10), id(20), id(10)]);
        assert_eq!(ring.ids(), &[id(10), id(20), id(30)]);
        assert_eq!(ring.successor_of(&id(30)), Some(id(10)));
        assert_eq!(ring.predecessor_of(&id(10)), Some(id(30)));
        assert_eq!(ring.successor_of(&id(10)), Some(id(20)));
        assert_eq!(ring.successor_of(&id(15)), None);
        let one = Ring::new([id(5)]);
        assert_eq!(one.successor_of(&id(5)), Some(id(5)));
        assert_eq!(one.predecessor_of(&id(5)), Some(id(5)));
    }

    #[test]
    fn a_key_belongs_to_the_first_id_at_or_after_it() {
        let ring = Ring::new([id(10), id(20), id(30)]);
        assert_eq!(ring.owner(&id(10)), Some(id(10)));
        assert_eq!(ring.owner(&id(11)), Some(id(20)));
        assert_eq!(ring.owner(&id(31)), Some(id(10)));
        assert_eq!(ring.owner(&Id::ZERO), Some(id(10)));
        assert_eq!(Ring::new([]).owner(&id(1)), None);
    }

    #[test]
    fn mismatches_name_the_wrong_neighbour() {
        let ring = Ring::new([id(10), id(20), id(30)]);
        let status = |me: u64, pred: u64, succ: u64| NodeStatus {
            label: format!("n{me}"),
            id: id(me),
            predecessor: Some(id(pred)),
            successors: vec![id(succ)],
            peers: vec![],
            webrtc: 0,
            websocket: 0,
            records: 0,
            joined: true,
            state: None,
            raw: serde_json::Value::Null,
        };
        let good = [status(10, 30, 20), status(20, 10, 30), status(30, 20, 10)];
        assert!(ring.mismatches(&good).is_empty());
        let bad = [status(10, 30, 30)];
        let found = ring.mismatches(&bad);
        assert_eq!(found.len(), 1);
        assert!(found[0].contains("successor"), "{found:?}");
    }
}
