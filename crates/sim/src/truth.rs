//! The global view the simulator has and the nodes do not: which nodes are
//! live and who truly owns a key.

use chordphone_overlay::{Id, NodeId};
use std::collections::BTreeSet;

/// The sorted set of live, joined node ids.
#[derive(Debug, Default, Clone)]
pub struct Truth {
    pub live: BTreeSet<NodeId>,
}

impl Truth {
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
