//! Taking entries out of a shared map by a test on each, keeping their
//! keys: what eviction and a tenant's reset do to every map they sweep
//! (the keys go on to `--data-dir`, which deletes the same records).

use std::hash::Hash;

use dashmap::DashMap;

/// Removes the entries of `map` that `remove` picks and returns their keys.
/// `retain` locks one shard at a time, so lookups in other shards (and
/// inserts) go on during the sweep.
pub fn remove_where<K: Eq + Hash + Clone, V>(map: &DashMap<K, V>, mut remove: impl FnMut(&V) -> bool) -> Vec<K> {
    let mut removed = Vec::new();
    map.retain(|k, v| {
        let gone = remove(v);
        if gone {
            removed.push(k.clone());
        }
        !gone
    });
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picked_entries_go_and_their_keys_are_returned() {
        let map: DashMap<u32, &str> = [(1, "a"), (2, "b"), (3, "a")].into_iter().collect();
        let mut gone = remove_where(&map, |v| *v == "a");
        gone.sort_unstable();
        assert_eq!(gone, [1, 3]);
        assert_eq!((map.len(), map.get(&2).map(|v| *v)), (1, Some("b")));
        assert!(remove_where(&map, |_| false).is_empty());
        assert_eq!(map.len(), 1);
    }
}
