//! The global view the simulator has and the nodes do not: which nodes are
//! live and who truly owns a key.

use chordphone_overlay::Time;
use chordphone_overlay::{Id, NodeId};
use core::time::Duration;
use std::collections::{BTreeSet, VecDeque};

/// The sorted set of live, joined node ids.
#[derive(Debug, Default, Clone)]
pub struct Truth {
    pub live: BTreeSet<NodeId>,
    /// The recent changes of `live`, oldest first: when a node joined
    /// (true) or died (false). They let a lookup be judged against the
    /// owner its key had at an earlier moment.
    pub(crate) changes: VecDeque<(Time, NodeId, bool)>,
}

/// How far back the owner of a key can be asked for: longer than any
/// lookup may take.
const HISTORY: Duration = Duration::from_secs(60);

impl Truth {
    /// A node joined at `at`.
    pub fn insert(&mut self, id: NodeId, at: Time) {
        if self.live.insert(id) {
            self.log(at, id, true);
        }
    }

    /// A node died at `at`.
    pub fn remove(&mut self, id: &NodeId, at: Time) {
        if self.live.remove(id) {
            self.log(at, *id, false);
        }
    }

    fn log(&mut self, at: Time, id: NodeId, joined: bool) {
        while self
            .changes
            .front()
            .is_some_and(|(t, _, _)| at.saturating_since(*t) > HISTORY)
        {
            self.changes.pop_front();
        }
        self.changes.push_back((at, id, joined));
    }

    /// The owner `key` had at `at` (a moment within the last minute): the
    /// live set with the changes since undone.
    pub fn owner_at(&self, key: &Id, at: Time) -> Option<NodeId> {
        let later = self.changes.iter().filter(|(t, _, _)| *t > at);
        let joined_since: BTreeSet<NodeId> = later
            .clone()
            .filter(|(_, _, j)| *j)
            .map(|(_, n, _)| *n)
            .collect();
        let live_now = self
            .live
            .range(*key..)
            .chain(self.live.range(..*key))
            .find(|n| !joined_since.contains(n));
        let died_since = later
            .filter(|(_, n, j)| !*j && !joined_since.contains(n))
            .map(|(_, n, _)| n);
        live_now
            .into_iter()
            .chain(died_since)
            .min_by_key(|n| key.distance_key(n))
            .copied()
    }

    /// The first live node at or after `key`, wrapping around.
    pub fn owner(&self, key: &Id) -> Option<NodeId> {
        self.live
            .range(*key..)
            .next()
            .or_else(|| self.live.iter().next())
            .copied()
    }

    /// The first live node strictly after `id`, wrapping around.
    pub fn successor(&self, id: &NodeId) -> Option<NodeId> {
        use core::ops::Bound;
        self.live
            .range((Bound::Excluded(*id), Bound::Unbounded))
            .next()
            .or_else(|| self.live.iter().next())
            .copied()
    }

    /// The first live node strictly before `id`, wrapping around.
    pub fn predecessor(&self, id: &NodeId) -> Option<NodeId> {
        self.live
            .range(..*id)
            .next_back()
            .or_else(|| self.live.iter().next_back())
            .copied()
    }

    /// The `n` live nodes after `id`, closest first (never `id` itself).
    pub fn successors(&self, id: &NodeId, n: usize) -> Vec<NodeId> {
        let mut out = Vec::with_capacity(n);
        let mut cur = *id;
        while out.len() < n.min(self.live.len().saturating_sub(1)) {
            match self.successor(&cur) {
                Some(s) if s != *id => {
                    out.push(s);
                    cur = s;
                }
                _ => break,
            }
        }
        out
    }

    /// Largest ownership arc over the mean arc: how unevenly the key space
    /// (and so the keys) is spread over the nodes.
    pub fn max_over_mean_arc(&self) -> f64 {
        let ids: Vec<u64> = self.live.iter().map(Id::top_u64).collect();
        if ids.len() < 2 {
            return 1.0;
        }
        let mut max = 0u64;
        for w in 0..ids.len() {
            let prev = ids[(w + ids.len() - 1) % ids.len()];
            let arc = ids[w].wrapping_sub(prev);
            max = max.max(arc);
        }
        let mean = (u64::MAX as f64) / ids.len() as f64;
        max as f64 / mean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(top: u64) -> NodeId {
        Id::from_u64_top(top)
    }

    #[test]
    fn the_owner_at_an_earlier_moment_undoes_later_joins_and_deaths() {
        let t = |s: u64| Time(1_000_000_000 + s * 1_000_000);
        let mut truth = Truth::default();
        for n in [10, 20, 30] {
            truth.insert(id(n), t(0));
        }
        let key = id(15);
        truth.insert(id(17), t(5));
        truth.remove(&id(20), t(6));
        truth.remove(&id(17), t(8));
        assert_eq!(truth.owner(&key), Some(id(30)));
        assert_eq!(truth.owner_at(&key, t(9)), Some(id(30)));
        assert_eq!(truth.owner_at(&key, t(7)), Some(id(17)));
        assert_eq!(truth.owner_at(&key, t(5)), Some(id(17)));
        assert_eq!(truth.owner_at(&key, t(4)), Some(id(20)));
        // Wrapping round zero: a key past the last node belongs to the first.
        assert_eq!(truth.owner_at(&id(40), t(4)), Some(id(10)));
    }
}
