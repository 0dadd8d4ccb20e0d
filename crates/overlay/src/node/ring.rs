//! The routing state of one node: predecessor, successor list, fingers, and
//! the choice of the next hop towards a key.

use crate::id::{Id, NodeId, ID_BITS};
use crate::vecmap::VecSet;

/// Fingers kept: bits `ID_BITS - FINGERS .. ID_BITS`. Lower fingers all
/// point at the immediate successor for any ring under 2^40 nodes, so they
/// would only cost memory.
pub const FINGERS: usize = 48;
/// Lowest finger bit kept.
pub const FIRST_BIT: usize = ID_BITS - FINGERS;

/// Predecessor, successors and fingers.
#[derive(Debug, Clone)]
pub struct Ring {
    pub me: NodeId,
    pub pred: Option<NodeId>,
    /// Closest first; never contains `me`; empty when alone.
    pub succ: Vec<NodeId>,
    /// `fingers[i]` approximates successor(me + 2^(FIRST_BIT + i)).
    pub fingers: [Option<NodeId>; FINGERS],
    pub max_succ: usize,
}

impl Ring {
    pub fn new(me: NodeId, max_succ: usize) -> Ring {
        Ring {
            me,
            pred: None,
            succ: Vec::new(),
            fingers: [None; FINGERS],
            max_succ: max_succ.max(1),
        }
    }

    /// The start of finger `i`.
    pub fn finger_start(&self, i: usize) -> Id {
        self.me.add_pow2(FIRST_BIT + i)
    }

    /// Is `key` in this node's range (pred, me], given nodes to treat as
    /// dead? Without a live predecessor the range is unknown: the node then
    /// claims a key only when the previous hop said it should (`last_hop`)
    /// and no live successor covers it.
    pub fn owns(&self, key: &Id, last_hop: bool, avoid: &dyn Fn(&NodeId) -> bool) -> bool {
        if self.succ.iter().all(avoid) && self.pred.is_none_or(|p| avoid(&p)) {
            // Alone, or every neighbour is gone: everything is ours.
            return true;
        }
        match self.pred {
            Some(p) if !avoid(&p) => key.in_half_open(&p, &self.me),
            _ => *key == self.me || (last_hop && !self.succ_covers(key, avoid)),
        }
    }

    /// The live predecessor, if any.
    pub fn live_pred(&self, avoid: &dyn Fn(&NodeId) -> bool) -> Option<NodeId> {
        self.pred.filter(|p| !avoid(p))
    }

    /// True when `key` falls between this node and one of its live successors.
    fn succ_covers(&self, key: &Id, avoid: &dyn Fn(&NodeId) -> bool) -> bool {
        let last = self.succ.iter().rev().find(|s| !avoid(s));
        last.is_some_and(|l| key.in_half_open(&self.me, l))
    }

    /// The successor that owns `key` if `key` lies within the successor list.
    pub fn owner_among_successors(
        &self,
        key: &Id,
        avoid: &dyn Fn(&NodeId) -> bool,
    ) -> Option<NodeId> {
        let mut from = self.me;
        for s in &self.succ {
            if avoid(s) {
                continue;
            }
            if key.in_half_open(&from, s) {
                return Some(*s);
            }
            from = *s;
        }
        None
    }

    /// The node in the tables (fingers, successors) closest before `key`:
    /// Chord's closest preceding node, among those `usable` allows.
    pub fn closest_preceding(&self, key: &Id, usable: &dyn Fn(&NodeId) -> bool) -> Option<NodeId> {
        // Farthest fingers first: the first usable one before the key is
        // usually the answer, and the rest then fail the cheap distance test
        // before `usable` (a link lookup) is asked. Neighbouring fingers
        // often repeat the same node: look at each once.
        let mut last = None;
        let fingers = self
            .fingers
            .iter()
            .rev()
            .flatten()
            .copied()
            .filter(move |f| {
                let fresh = last != Some(*f);
                last = Some(*f);
                fresh
            });
        closest_among(
            &self.me,
            key,
            fingers.chain(self.succ.iter().copied()),
            usable,
        )
    }
    /// Forgets a node everywhere. Returns true if anything changed.
    pub fn remove(&mut self, node: &NodeId) -> bool {
        let mut changed = false;
        if self.pred == Some(*node) {
            self.pred = None;
            changed = true;
        }
        let before = self.succ.len();
        self.succ.retain(|s| s != node);
        changed |= self.succ.len() != before;
        for f in self.fingers.iter_mut() {
            if *f == Some(*node) {
                *f = None;
                changed = true;
            }
        }
        changed
    }

    /// Uses a node heard of to improve fingers: it replaces finger i if it
    /// lies at or after the finger's start and closer to it than the current
    /// entry (and before me: anything past me wraps around the ring).
    pub fn learn(&mut self, node: NodeId) -> bool {
        if node == self.me {
            return false;
        }
        let mut changed = false;
        for i in 0..FINGERS {
            let start = self.finger_start(i);
            let d = start.distance_to(&node);
            if d >= start.distance_to(&self.me) {
                continue;
            }
            let better = self.fingers[i].is_none_or(|cur| d < start.distance_to(&cur));
            if better {
                self.fingers[i] = Some(node);
                changed = true;
            }
        }
        changed
    }

    /// Sets the successor list from a candidate sequence: drops me, dead
    /// nodes and duplicates, keeps ring order from me, truncates to r.
    /// Returns true if the list changed.
    pub fn set_successors(
        &mut self,
        candidates: impl IntoIterator<Item = NodeId>,
        dead: &dyn Fn(&NodeId) -> bool,
    ) -> bool {
        let mut seen = VecSet::new();
        let mut list: Vec<NodeId> = candidates
            .into_iter()
            .filter(|c| *c != self.me && !dead(c) && seen.insert(*c))
            .collect();
        in_ring_order(self.me, &mut list);
        list.truncate(self.max_succ);
        if list != self.succ {
            self.succ = list;
            true
        } else {
            false
        }
    }

    /// Distinct fingers, in ring order from me.
    pub fn distinct_fingers(&self) -> Vec<NodeId> {
        let set: VecSet<NodeId> = self.fingers.iter().flatten().copied().collect();
        let mut v: Vec<NodeId> = set.into_vec();
        in_ring_order(self.me, &mut v);
        v
    }
}

/// Sorts `nodes` clockwise from `me`. One function for every such sort:
/// each call site of a generic sort would bring its own copy of the sort.
#[inline(never)]
fn in_ring_order(me: NodeId, nodes: &mut [NodeId]) {
    nodes.sort_by_key(|c| me.distance_to(c));
}

/// Of `candidates`, the one closest before `key` going clockwise from `me`
/// (strictly between the two), among those `usable` allows.
fn closest_among(
    me: &NodeId,
    key: &Id,
    candidates: impl Iterator<Item = NodeId>,
    usable: &dyn Fn(&NodeId) -> bool,
) -> Option<NodeId> {
    // Compare clockwise distances from me as word pairs, computed once each.
    let limit = me.distance_key(key);
    let mut best: Option<((u32, u128), NodeId)> = None;
    for c in candidates {
        let d = me.distance_key(&c);
        if d == (0, 0) || d >= limit || best.is_some_and(|(bd, _)| d <= bd) || !usable(&c) {
            continue;
        }
        best = Some((d, c));
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(v: u64) -> Id {
        Id::from_u64_top(v)
    }
    fn none(_: &NodeId) -> bool {
        false
    }

    #[test]
    fn ownership_follows_predecessor_and_avoid_list() {
        let mut r = Ring::new(id(100), 4);
        assert!(r.owns(&id(5), false, &none), "alone: owns everything");
        r.succ = vec![id(200), id(300)];
        r.pred = Some(id(50));
        assert!(r.owns(&id(60), false, &none));
        assert!(r.owns(&id(100), false, &none));
        assert!(!r.owns(&id(40), true, &none));
        assert!(!r.owns(&id(150), true, &none));
        // Predecessor dead: a last hop is taken unless a successor covers it.
        let dead50 = |n: &NodeId| *n == id(50);
        assert!(r.owns(&id(40), true, &dead50));
        assert!(!r.owns(&id(40), false, &dead50));
        assert!(!r.owns(&id(250), true, &dead50));
    }

    #[test]
    fn successor_owner_and_closest_preceding() {
        let mut r = Ring::new(id(100), 4);
        r.succ = vec![id(200), id(300), id(400)];
        r.fingers[FINGERS - 1] = Some(id(1 << 63));
        assert_eq!(r.owner_among_successors(&id(250), &none), Some(id(300)));
        let dead300 = |n: &NodeId| *n == id(300);
        assert_eq!(r.owner_among_successors(&id(250), &dead300), Some(id(400)));
        assert_eq!(r.owner_among_successors(&id(500), &none), None);
        let all = |_: &NodeId| true;
        let key = id((1 << 63) + 5);
        assert_eq!(r.closest_preceding(&key, &all), Some(id(1 << 63)));
        let key = id(350);
        assert_eq!(r.closest_preceding(&key, &all), Some(id(300)));
    }

    #[test]
    fn learn_fills_fingers_only_with_fitting_nodes() {
        let mut r = Ring::new(id(0), 4);
        let half = id(1 << 63);
        assert!(r.learn(half));
        assert_eq!(r.fingers[FINGERS - 1], Some(half));
        // A node just before the top finger's start must not become that finger.
        let mut r2 = Ring::new(id(0), 4);
        r2.learn(id((1 << 63) - 1));
        assert_eq!(r2.fingers[FINGERS - 1], None);
        assert_eq!(r2.fingers[FINGERS - 2], Some(id((1 << 63) - 1)));
        // A closer node replaces a farther one.
        r.learn(id((1 << 63) + 10));
        assert_eq!(r.fingers[FINGERS - 1], Some(half));
    }

    #[test]
    fn successors_are_sorted_deduplicated_and_bounded() {
        let mut r = Ring::new(id(100), 3);
        let changed =
            r.set_successors([id(300), id(200), id(100), id(300), id(50), id(400)], &none);
        assert!(changed);
        assert_eq!(r.succ, vec![id(200), id(300), id(400)]);
        assert!(!r.set_successors([id(200), id(300), id(400)], &none));
    }
}
