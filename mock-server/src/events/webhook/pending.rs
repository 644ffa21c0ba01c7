//! Each account's unfinished deliveries (pending, or with an attempt on the
//! wire), so the cap of `--webhook-max-pending` is checked without a walk
//! over the book, and the drop bursts that cap causes, so a flood of drops
//! is logged once, not once per delivery.

use std::collections::{BTreeSet, HashMap};

use crate::clock::Instant;
use crate::domain::ids::TenantId;

/// Drops of one account less than this far apart (injected clock) belong
/// to one burst, logged once.
pub(super) const BURST_QUIET_MS: i64 = 60_000;

#[derive(Debug, Default)]
pub(super) struct Unfinished {
    /// The unfinished deliveries of each account, by id (so oldest first).
    by_account: HashMap<TenantId, BTreeSet<u64>>,
    /// When each account last had a delivery dropped (ms).
    last_drop: HashMap<TenantId, i64>,
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

    /// Notes a drop of `account`'s at `at`; whether it begins a burst (no
    /// drop of that account in the [`BURST_QUIET_MS`] before it).
    pub(super) fn note_drop(&mut self, account: &TenantId, at: Instant) -> bool {
        let at = at.millis();
        let begins = self
            .last_drop
            .get(account)
            .is_none_or(|last| at.saturating_sub(*last) >= BURST_QUIET_MS);
        if begins {
            // Bursts that ended are forgotten here, rarely, so accounts
            // that come and go (`--any-token`) do not pile up.
            self.last_drop
                .retain(|_, last| at.saturating_sub(*last) < BURST_QUIET_MS);
        }
        self.last_drop.insert(account.clone(), at);
        begins
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_close_together_are_one_burst_and_a_quiet_minute_ends_it() {
        let mut u = Unfinished::default();
        let (a, b) = (TenantId::from_client("acct_a"), TenantId::from_client("acct_b"));
        let t0 = Instant::from_millis(1_000_000);
        assert!(u.note_drop(&a, t0), "the first drop begins a burst");
        assert!(!u.note_drop(&a, t0), "the next at once belongs to it");
        assert!(!u.note_drop(&a, t0.plus(std::time::Duration::from_secs(59))));
        assert!(u.note_drop(&b, t0), "another account's burst is its own");
        let later = t0.plus(std::time::Duration::from_secs(59 + 60));
        assert!(u.note_drop(&a, later), "after a quiet minute, a new burst");
        assert_eq!(u.last_drop.len(), 1, "the ended burst of b is forgotten");
    }

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
