//! What each account's drops past `--webhook-max-pending` leave behind
//! besides their records: how many there were, which the delivery log
//! shows even once its cap has removed the records themselves, and the
//! bursts they come in, so a flood of drops is logged once, not once per
//! delivery.

use std::collections::HashMap;

use crate::clock::Instant;
use crate::domain::ids::TenantId;

/// Drops of one account less than this far apart (injected clock) belong
/// to one burst, logged once.
pub(super) const BURST_QUIET_MS: i64 = 60_000;

#[derive(Debug, Default)]
pub(super) struct Drops {
    /// Deliveries dropped per account since the start or its reset (only
    /// accounts with one: a reset or an eviction forgets the entry).
    count: HashMap<TenantId, u64>,
    /// When each account last had a delivery dropped (ms).
    last_drop: HashMap<TenantId, i64>,
}

impl Drops {
    /// Counts `n` more drops of `account`'s.
    pub(super) fn count(&mut self, account: &TenantId, n: u64) {
        if n > 0 {
            *self.count.entry(account.clone()).or_default() += n;
        }
    }

    /// Drops of `account`, or of every account.
    pub(super) fn total(&self, account: Option<&TenantId>) -> u64 {
        match account {
            Some(a) => self.count.get(a).copied().unwrap_or(0),
            None => self.count.values().sum(),
        }
    }

    /// Forgets the accounts `owned` picks (a reset of them).
    pub(super) fn forget(&mut self, owned: impl Fn(&TenantId) -> bool) {
        self.count.retain(|a, _| !owned(a));
        self.last_drop.retain(|a, _| !owned(a));
    }

    /// Notes a drop of `account`'s at `at`; whether it begins a burst (no
    /// drop of that account in the [`BURST_QUIET_MS`] before it).
    pub(super) fn note_burst(&mut self, account: &TenantId, at: Instant) -> bool {
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
        let mut d = Drops::default();
        let (a, b) = (TenantId::from_client("acct_a"), TenantId::from_client("acct_b"));
        let t0 = Instant::from_millis(1_000_000);
        assert!(d.note_burst(&a, t0), "the first drop begins a burst");
        assert!(!d.note_burst(&a, t0), "the next at once belongs to it");
        assert!(!d.note_burst(&a, t0.plus(std::time::Duration::from_secs(59))));
        assert!(d.note_burst(&b, t0), "another account's burst is its own");
        let later = t0.plus(std::time::Duration::from_secs(59 + 60));
        assert!(d.note_burst(&a, later), "after a quiet minute, a new burst");
        assert_eq!(d.last_drop.len(), 1, "the ended burst of b is forgotten");
    }

    #[test]
    fn drops_are_counted_per_account_and_a_forgotten_account_counts_none() {
        let mut d = Drops::default();
        let (a, b) = (TenantId::from_client("acct_a"), TenantId::from_client("acct_b"));
        d.count(&a, 2);
        d.count(&b, 3);
        d.count(&a, 0);
        assert_eq!((d.total(Some(&a)), d.total(Some(&b)), d.total(None)), (2, 3, 5));
        d.note_burst(&a, Instant::from_millis(0));
        d.forget(|t| t == &a);
        assert_eq!((d.total(Some(&a)), d.total(None)), (0, 3));
        assert!(!d.last_drop.contains_key(&a), "its burst is forgotten too");
    }
}
