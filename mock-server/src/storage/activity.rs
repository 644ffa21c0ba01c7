//! What an `--any-token` tenant's life hangs on: when it was last used (it
//! is evicted once idle for `--any-token-idle-ttl`), and whether a request
//! of it ever succeeded (until one does, the request that made it takes it
//! back if it fails). Atomics only: touched on every request of such a
//! tenant, the status read included, so no lock and no allocation.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use crate::clock::Instant;

/// Not used yet since this process started (loaded from a data dir, or
/// never an `--any-token` tenant).
const UNSEEN: i64 = i64::MIN;

/// A tenant's activity (see the module doc).
#[derive(Debug)]
pub struct Activity {
    last_used_ms: AtomicI64,
    confirmed: AtomicBool,
}

impl Default for Activity {
    /// Confirmed and unseen: every tenant not just made by `--any-token`.
    fn default() -> Self {
        Self {
            last_used_ms: AtomicI64::new(UNSEEN),
            confirmed: AtomicBool::new(true),
        }
    }
}

impl Activity {
    /// A tenant just made by `--any-token` at `now`: kept only once a
    /// request of it succeeds.
    pub fn provisional(&self, now: Instant) {
        self.touch(now);
        self.confirmed.store(false, Ordering::SeqCst);
    }

    /// A request of the tenant at `now`.
    pub fn touch(&self, now: Instant) {
        // fetch_max: a request racing with an older one never moves it back.
        self.last_used_ms.fetch_max(now.millis(), Ordering::Relaxed);
    }

    /// When it was last used; a tenant not used since this process started
    /// counts from `now` (a restart does not evict what it loaded at once).
    pub fn last_used(&self, now: Instant) -> Instant {
        let _ = self
            .last_used_ms
            .compare_exchange(UNSEEN, now.millis(), Ordering::Relaxed, Ordering::Relaxed);
        Instant::from_millis(self.last_used_ms.load(Ordering::Relaxed))
    }

    /// Whether a request of the tenant succeeded (always, for a tenant not
    /// made by `--any-token`).
    pub fn is_confirmed(&self) -> bool {
        self.confirmed.load(Ordering::SeqCst)
    }

    /// Records a successful request; true if it is the first.
    pub fn confirm(&self) -> bool {
        !self.confirmed.swap(true, Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_use_only_moves_forward_and_an_unseen_tenant_counts_from_now() {
        let a = Activity::default();
        assert!(a.is_confirmed());
        assert_eq!(a.last_used(Instant::from_millis(500)), Instant::from_millis(500));
        a.touch(Instant::from_millis(900));
        a.touch(Instant::from_millis(700));
        assert_eq!(a.last_used(Instant::from_millis(1_000)), Instant::from_millis(900));
    }

    #[test]
    fn a_provisional_tenant_is_confirmed_once() {
        let a = Activity::default();
        a.provisional(Instant::from_millis(1));
        assert!(!a.is_confirmed());
        assert!(a.confirm());
        assert!(!a.confirm(), "only the first success confirms");
        assert!(a.is_confirmed());
    }
}
