//! When eviction last swept: a collaborator the state owns (the sweeps
//! themselves are [`super`]'s, above the state).

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::clock::Instant;

/// The ticker sweeps at most this often (injected-clock time): a sweep looks
/// at every job, file and notification, so not on every 250 ms tick.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// When the last sweep ran.
#[derive(Debug)]
pub struct SweepTimer {
    /// Injected-clock ms of the last sweep; `i64::MIN` before the first.
    last_ms: AtomicI64,
}

impl Default for SweepTimer {
    fn default() -> Self {
        Self {
            last_ms: AtomicI64::new(i64::MIN),
        }
    }
}

impl SweepTimer {
    /// Whether a sweep is due at `now` and, if so, records it as done, so
    /// that of several callers at once only one sweeps. Due when a minute has
    /// passed since the last one, or when the clock was set back before it
    /// (else a clock set back a day would stop sweeps for a day).
    pub(super) fn claim(&self, now: Instant) -> bool {
        let last = self.last_ms.load(Ordering::SeqCst);
        Self::due_after(last, now)
            && self
                .last_ms
                .compare_exchange(last, now.millis(), Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
    }

    /// Whether a sweep is due at `now`, without claiming it.
    pub(super) fn due(&self, now: Instant) -> bool {
        Self::due_after(self.last_ms.load(Ordering::SeqCst), now)
    }

    fn due_after(last: i64, now: Instant) -> bool {
        let interval = i64::try_from(SWEEP_INTERVAL.as_millis()).unwrap_or(i64::MAX);
        last == i64::MIN || now.millis() < last || now.millis() - last >= interval
    }

    pub(super) fn record(&self, now: Instant) {
        self.last_ms.store(now.millis(), Ordering::SeqCst);
    }
}
