//! Each account's unfinished deliveries (pending, or with an attempt on the
//! wire), so the cap of `--webhook-max-pending` is checked without a walk
//! over the book.

use std::collections::{BTreeSet, HashMap};

use crate::domain::ids::TenantId;

#[derive(Debug, Default)]
pub(super) struct Unfinished {
    /// The unfinished deliveries of each account, by id (so oldest first).
    by_account: HashMap<TenantId, BTreeSet<u64>>,
}

impl Unfinished {
    /// Delivery `id` of `account` is unfinished (again).
    pub(super) fn add(&mut self, account: &TenantId, id: u64) {
        self.by_account.entry(account.clone()).or_default().insert(id);
    }

    /// Delivery `id` of `account` finished (or left the book).
    pub(super) fn remove(&mut self, account: &TenantId, id: u64) {
        if let Some(ids) = self.by_account.get_mut(account) {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_account.remove(account);
            }
        }
    }

    /// How many deliveries of `account` are unfinished.
    pub(super) fn count(&self, account: &TenantId) -> usize {
        self.by_account.get(account).map_or(0, BTreeSet::len)
    }

    /// The unfinished deliveries of `account`, oldest first.
    pub(super) fn of(&self, account: &TenantId) -> impl Iterator<Item = u64> + '_ {
        self.by_account.get(account).into_iter().flatten().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unfinished_of_an_account_are_counted_oldest_first() {
        let mut u = Unfinished::default();
        let a = TenantId::from_client("acct_a");
        for id in [5, 2, 9] {
            u.add(&a, id);
        }
        u.add(&a, 2);
        assert_eq!((u.count(&a), u.of(&a).collect::<Vec<_>>()), (3, vec![2, 5, 9]));
        for id in [2, 5, 9] {
            u.remove(&a, id);
        }
        assert!(u.by_account.is_empty(), "an account with none is not kept");
    }
}
