//! A map over sorted vectors, for the small tables of a node (links,
//! pending requests, recent deaths).
//!
//! Keys and values live in two parallel vectors sorted by key: a lookup is a
//! binary search over the keys alone, which sit in a few contiguous cache
//! lines, instead of a walk down B-tree nodes scattered over the heap.
//! Inserting or removing shifts the entries after the position, which is
//! cheap for the few dozen entries these tables hold; a key larger than all
//! others (as increasing request numbers are) is simply pushed.
//! Iteration is in key order, like `BTreeMap`.

/// A map kept as two vectors sorted by key.
#[derive(Clone, PartialEq, Eq)]
pub struct VecMap<K, V> {
    keys: Vec<K>,
    values: Vec<V>,
}

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap {
            keys: Vec::new(),
            values: Vec::new(),
        }
    }
}

impl<K: core::fmt::Debug, V: core::fmt::Debug> core::fmt::Debug for VecMap<K, V> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_map()
            .entries(self.keys.iter().zip(&self.values))
            .finish()
    }
}

impl<K: Ord, V> VecMap<K, V> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn find(&self, key: &K) -> Result<usize, usize> {
        self.keys.binary_search(key)
    }

    /// The value under `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        let i = self.find(key).ok()?;
        self.values.get(i)
    }

    /// The value under `key`, to change it.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let i = self.find(key).ok()?;
        self.values.get_mut(i)
    }

    /// True when `key` has a value.
    pub fn contains_key(&self, key: &K) -> bool {
        self.find(key).is_ok()
    }

    /// Puts `value` under `key`; returns the value it replaces.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        // The common case for increasing keys: at the end, without a search.
        // (The same `insert` below rather than a `push`: one growth path
        // per map type in the WebAssembly, not two.)
        let at = if self.keys.last().is_none_or(|last| *last < key) {
            Err(self.keys.len())
        } else {
            self.find(&key)
        };
        match at {
            Ok(i) => Some(core::mem::replace(&mut self.values[i], value)),
            Err(i) => {
                self.keys.insert(i, key);
                self.values.insert(i, value);
                None
            }
        }
    }

    /// The value under `key`, inserting `make()` first if there is none.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.find(&key) {
            Ok(i) => i,
            Err(i) => {
                self.keys.insert(i, key);
                self.values.insert(i, make());
                i
            }
        };
        &mut self.values[i]
    }

    /// Takes the value under `key` out of the map.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let i = self.find(key).ok()?;
        self.keys.remove(i);
        Some(self.values.remove(i))
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.keys.clear();
        self.values.clear();
    }

    /// Keeps the entries for which `keep` is true, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        let mut kept = 0;
        for i in 0..self.keys.len() {
            if keep(&self.keys[i], &mut self.values[i]) {
                self.keys.swap(kept, i);
                self.values.swap(kept, i);
                kept += 1;
            }
        }
        self.keys.truncate(kept);
        self.values.truncate(kept);
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> + ExactSizeIterator {
        self.keys.iter().zip(&self.values)
    }

    /// Values in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator {
        self.values.iter()
    }

    /// Values in key order, to change them.
    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> + ExactSizeIterator {
        self.values.iter_mut()
    }

    /// Keys in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator {
        self.keys.iter()
    }

    /// Takes the entry with the smallest key out of the map.
    pub fn pop_first(&mut self) -> Option<(K, V)> {
        if self.keys.is_empty() {
            return None;
        }
        Some((self.keys.remove(0), self.values.remove(0)))
    }
}

/// A set kept as a sorted vector: a [`VecMap`] without values, for the same
/// reason (small bounded sets, no B-tree code per element type).
#[derive(Clone, PartialEq, Eq)]
pub struct VecSet<K>(VecMap<K, ()>);

impl<K> Default for VecSet<K> {
    fn default() -> Self {
        VecSet(VecMap::default())
    }
}

impl<K: core::fmt::Debug> core::fmt::Debug for VecSet<K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_set().entries(self.0.keys.iter()).finish()
    }
}

impl<K: Ord> VecSet<K> {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if there are no elements.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when `key` is in the set.
    pub fn contains(&self, key: &K) -> bool {
        self.0.contains_key(key)
    }

    /// Adds `key`; true if it was not there yet.
    pub fn insert(&mut self, key: K) -> bool {
        self.0.insert(key, ()).is_none()
    }

    /// Removes `key`; true if it was there.
    pub fn remove(&mut self, key: &K) -> bool {
        self.0.remove(key).is_some()
    }

    /// Elements in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator {
        self.0.keys()
    }

    /// The elements in order, as a vector.
    pub fn into_vec(self) -> Vec<K> {
        self.0.keys
    }
}

impl<K: Ord> FromIterator<K> for VecSet<K> {
    fn from_iter<I: IntoIterator<Item = K>>(iter: I) -> Self {
        // Element by element rather than sort and dedup: these sets are
        // small, and a sort would bring its own code per element type.
        let mut set = VecSet::new();
        for key in iter {
            set.insert(key);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::{VecMap, VecSet};
    use rand_chacha::ChaCha8Rng;
    use rand_core::{RngCore, SeedableRng};
    use std::collections::BTreeMap;

    fn keys<K: Ord + Copy, V>(m: &VecMap<K, V>) -> Vec<K> {
        m.iter().map(|(k, _)| *k).collect()
    }

    #[test]
    fn basic_operations() {
        let mut m = VecMap::new();
        assert_eq!(m.len(), 0);
        assert_eq!(m.insert(5, "e"), None);
        assert_eq!(m.insert(1, "a"), None);
        assert_eq!(m.insert(3, "c"), None);
        assert_eq!(m.insert(3, "C"), Some("c"));
        assert_eq!(m.len(), 3);
        assert_eq!(m.get(&3), Some(&"C"));
        assert_eq!(m.get(&4), None);
        assert!(m.contains_key(&1));
        assert!(!m.contains_key(&2));
        *m.get_mut(&1).expect("present") = "A";
        assert_eq!(
            m.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(),
            vec![(1, "A"), (3, "C"), (5, "e")]
        );
        assert_eq!(m.remove(&3), Some("C"));
        assert_eq!(m.remove(&3), None);
        assert_eq!(keys(&m), vec![1, 5]);
        *m.get_or_insert_with(2, || "b") = "B";
        assert_eq!(*m.get_or_insert_with(2, || "x"), "B");
        assert_eq!(m.values().copied().collect::<Vec<_>>(), vec!["A", "B", "e"]);
        m.retain(|k, _| *k != 2);
        assert_eq!(keys(&m), vec![1, 5]);
        m.clear();
        assert_eq!(m.len(), 0);
        assert_eq!(format!("{m:?}"), "{}");
    }

    #[test]
    fn pop_first_and_keys() {
        let mut m: VecMap<u32, char> =
            [(7, 'g'), (2, 'b'), (4, 'd')]
                .into_iter()
                .fold(VecMap::new(), |mut m, (k, v)| {
                    m.insert(k, v);
                    m
                });
        assert_eq!(m.keys().copied().collect::<Vec<_>>(), vec![2, 4, 7]);
        assert_eq!(m.pop_first(), Some((2, 'b')));
        assert_eq!(m.pop_first(), Some((4, 'd')));
        assert_eq!(m.pop_first(), Some((7, 'g')));
        assert_eq!(m.pop_first(), None);
    }

    #[test]
    fn set_operations() {
        let mut s: VecSet<u8> = [5, 1, 5, 3].into_iter().collect();
        assert_eq!(s.len(), 3);
        assert!(s.contains(&5) && !s.contains(&2));
        assert!(s.insert(2));
        assert!(!s.insert(2));
        assert!(s.remove(&1));
        assert!(!s.remove(&1));
        assert_eq!(s.iter().copied().collect::<Vec<_>>(), vec![2, 3, 5]);
        assert_eq!(format!("{s:?}"), "{2, 3, 5}");
        assert_eq!(s.into_vec(), vec![2, 3, 5]);
        assert!(VecSet::<u8>::new().is_empty());
    }

    /// Random operations give the same results and contents as a `BTreeMap`.
    #[test]
    fn matches_btreemap() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for round in 0..50 {
            let mut ours: VecMap<u16, u64> = VecMap::new();
            let mut theirs: BTreeMap<u16, u64> = BTreeMap::new();
            // Small key spaces collide often; large ones rarely.
            let span = if round % 2 == 0 { 64 } else { 4096 };
            for step in 0..2000u64 {
                let key = (rng.next_u32() % span) as u16;
                match rng.next_u32() % 8 {
                    0..=2 => assert_eq!(ours.insert(key, step), theirs.insert(key, step)),
                    3 => assert_eq!(ours.remove(&key), theirs.remove(&key)),
                    4 => assert_eq!(ours.get(&key), theirs.get(&key)),
                    5 => {
                        if let (Some(a), Some(b)) = (ours.get_mut(&key), theirs.get_mut(&key)) {
                            *a += 1;
                            *b += 1;
                        } else {
                            assert_eq!(ours.contains_key(&key), theirs.contains_key(&key));
                        }
                    }
                    6 => {
                        *ours.get_or_insert_with(key, || step) += 3;
                        *theirs.entry(key).or_insert(step) += 3;
                    }
                    _ => {
                        let cut = rng.next_u64() % 2000;
                        ours.retain(|k, v| (u64::from(*k) + *v) % 7 != cut % 7);
                        theirs.retain(|k, v| (u64::from(*k) + *v) % 7 != cut % 7);
                    }
                }
                assert_eq!(ours.len(), theirs.len());
            }
            assert!(ours.iter().eq(theirs.iter()));
            assert!(ours.values().eq(theirs.values()));
            assert!(ours.iter().rev().eq(theirs.iter().rev()));
        }
    }

    /// Increasing keys (request numbers) append at the end.
    #[test]
    fn increasing_keys() {
        let mut m = VecMap::new();
        for k in 0..100u64 {
            m.insert(k, k * 2);
        }
        for k in (0..100u64).step_by(3) {
            assert_eq!(m.remove(&k), Some(k * 2));
        }
        m.insert(1000, 0);
        let k = keys(&m);
        assert_eq!(k.last(), Some(&1000));
        assert!(k.windows(2).all(|w| w[0] < w[1]));
    }
}
