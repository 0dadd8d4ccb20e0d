//! An ordered map kept as a sorted vector: what the user agent keeps its
//! calls, transactions, timers and stream parsers in.
//!
//! Why not `BTreeMap`: the browser tab ships this crate as WebAssembly, and
//! every key/value pair a `BTreeMap` is instantiated for brings its own copy
//! of the node-splitting, merging and rebalancing code (about 4 KB each; the
//! user agent had seven). A sorted vector needs a binary search and a
//! `memmove`, a few hundred bytes per instantiation. The tables are bounded
//! (`Config::max_calls`, `Config::max_transactions`), so the linear cost of
//! inserting or removing in the middle stays small, and iteration keeps the
//! key order the user agent's behaviour depends on (calls found in `CallId`
//! order, timers fired in deadline order).

/// Rows `(key, value)` sorted by key, keys unique.
#[derive(Debug)]
pub(crate) struct Table<K, V> {
    rows: Vec<(K, V)>,
}

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Table { rows: Vec::new() }
    }
}

impl<K: Ord, V> Table<K, V> {
    /// The row of `key`, or where it would go.
    fn find(&self, key: &K) -> Result<usize, usize> {
        self.rows.binary_search_by(|(k, _)| k.cmp(key))
    }

    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        let i = self.find(key).ok()?;
        self.rows.get(i).map(|(_, v)| v)
    }

    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let i = self.find(key).ok()?;
        self.rows.get_mut(i).map(|(_, v)| v)
    }

    pub(crate) fn contains_key(&self, key: &K) -> bool {
        self.find(key).is_ok()
    }

    /// Sets `key` to `value`; the value it had, if any.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => self
                .rows
                .get_mut(i)
                .map(|row| core::mem::replace(&mut row.1, value)),
            Err(i) => {
                self.rows.insert(i, (key, value));
                None
            }
        }
    }

    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let i = self.find(key).ok()?;
        Some(self.rows.remove(i).1)
    }

    /// The value of `key`, made with `make` if there is none yet.
    pub(crate) fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.find(&key) {
            Ok(i) => i,
            Err(i) => {
                self.rows.insert(i, (key, make()));
                i
            }
        };
        &mut self.rows[i].1
    }

    /// The row with the smallest key.
    pub(crate) fn first(&self) -> Option<&(K, V)> {
        self.rows.first()
    }

    /// Rows in key order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.rows.iter().map(|(k, v)| (k, v))
    }

    /// Values in key order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.rows.iter().map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::Table;

    #[test]
    fn keeps_rows_in_key_order_and_keys_unique() {
        let mut t = Table::default();
        for k in [5, 1, 9, 3] {
            assert_eq!(t.insert(k, k * 10), None);
        }
        assert_eq!(t.insert(3, 33), Some(30));
        let keys: Vec<i32> = t.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, [1, 3, 5, 9]);
        assert_eq!(t.first(), Some(&(1, 10)));
        assert_eq!(t.get(&3), Some(&33));
        assert_eq!(t.remove(&1), Some(10));
        assert_eq!(t.remove(&1), None);
        assert!(!t.contains_key(&1));
        *t.get_or_insert_with(4, || 0) += 7;
        *t.get_or_insert_with(4, || 100) += 1;
        assert_eq!(t.get(&4), Some(&8));
        assert_eq!(t.values().copied().collect::<Vec<_>>(), [33, 8, 50, 90]);
    }
}
