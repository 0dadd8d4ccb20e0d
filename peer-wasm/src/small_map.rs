//! A map kept in a vector, for the shell's few small tables (links, their
//! peers, requests in flight).
//!
//! Every distinct key and value type of a `BTreeMap` brings its own copy of
//! the tree code into the bundle; these tables hold at most a few dozen
//! entries (links) or what the node's own request limit allows, where a
//! linear search costs nothing noticeable and the code is a few hundred
//! bytes.

/// Keys are unique; order is insertion order, changed by removals.
#[derive(Debug)]
pub struct SmallMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        SmallMap {
            entries: Vec::new(),
        }
    }
}

impl<K: PartialEq, V> SmallMap<K, V> {
    fn position(&self, key: &K) -> Option<usize> {
        self.entries.iter().position(|(k, _)| k == key)
    }

    /// The value under `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value under `key`, to change it.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.entries
            .iter_mut()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// True if `key` has a value.
    pub fn contains_key(&self, key: &K) -> bool {
        self.position(key).is_some()
    }

    /// Sets the value under `key`, returning the one it replaces.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.get_mut(&key) {
            Some(slot) => Some(core::mem::replace(slot, value)),
            None => {
                self.entries.push((key, value));
                None
            }
        }
    }

    /// Takes the value under `key` out.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let i = self.position(key)?;
        Some(self.entries.swap_remove(i).1)
    }

    /// The value under `key`, inserting the default first if there is none.
    pub fn get_or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        let i = match self.position(&key) {
            Some(i) => i,
            None => {
                self.entries.push((key, V::default()));
                self.entries.len() - 1
            }
        };
        &mut self.entries[i].1
    }

    /// Entries, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// Values, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_map() {
        let mut m = SmallMap::default();
        assert!(m.is_empty());
        assert_eq!(m.insert(1, "a"), None);
        assert_eq!(m.insert(2, "b"), None);
        assert_eq!(m.insert(1, "c"), Some("a"));
        assert_eq!(m.len(), 2);
        assert_eq!(m.get(&1), Some(&"c"));
        assert!(m.contains_key(&2));
        assert_eq!(m.remove(&1), Some("c"));
        assert_eq!(m.remove(&1), None);
        assert_eq!(m.iter().collect::<Vec<_>>(), vec![(&2, &"b")]);
        let mut w: SmallMap<u8, Vec<u8>> = SmallMap::default();
        w.get_or_default(5).push(1);
        w.get_or_default(5).push(2);
        assert_eq!(w.get(&5), Some(&vec![1, 2]));
        if let Some(v) = w.get_mut(&5) {
            v.clear();
        }
        assert_eq!(w.values().count(), 1);
    }
}
