//! The notification bus's numbering and its one lock.
//!
//! Notification ids increase server-wide, and every account log, SSE stream
//! and webhook book must see notifications in id order. So numbering a
//! notification and placing it (in its log, in the delivery book) happen in
//! one exclusive section. Everything else that must not interleave with
//! publishing (a reset, stepping the engine, forcing a job's end, queueing
//! an eviction for the store) asks for the same section rather than
//! reaching for a lock of its own.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, MutexGuard};

use crate::clock::Instant;
use crate::domain::ids::TenantId;
use crate::events::log::Notification;

/// Owns the notification sequence and the section it is advanced in.
#[derive(Debug, Default)]
pub struct Publisher {
    /// The last notification id handed out.
    seq: AtomicU64,
    lock: Mutex<()>,
}

/// Proof that the caller holds the publisher's exclusive section: the
/// functions that number or place notifications take one, so they cannot be
/// called outside it.
#[derive(Debug)]
pub struct Section<'a> {
    _guard: MutexGuard<'a, ()>,
}

impl Publisher {
    /// Enters the exclusive section: no notification is numbered or placed
    /// by anyone else until it is dropped. Never held across an await.
    pub fn exclusive(&self) -> Section<'_> {
        Section {
            _guard: self.lock.lock(),
        }
    }

    /// A notification for `owner` with the next id, not yet appended
    /// anywhere. `at` is when it happened, `published` when it was made.
    pub fn number(
        &self,
        _section: &Section<'_>,
        owner: &TenantId,
        name: &'static str,
        data: serde_json::Value,
        at: Instant,
        published: Instant,
    ) -> Notification {
        let id = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        Notification {
            id,
            name,
            timestamp: at.seconds_f64(),
            data,
            owner: owner.clone(),
            at,
            published,
            wire_text: std::sync::OnceLock::new(),
        }
    }

    /// Ids start over (a reset).
    pub fn restart(&self, _section: &Section<'_>) {
        self.seq.store(0, Ordering::SeqCst);
    }

    /// The last id handed out (for `--data-dir`'s counters).
    pub fn last_id(&self) -> u64 {
        self.seq.load(Ordering::SeqCst)
    }

    /// Continues after `id` (a state loaded from `--data-dir`).
    pub fn resume_after(&self, id: u64) {
        self.seq.store(id, Ordering::SeqCst);
    }
}
