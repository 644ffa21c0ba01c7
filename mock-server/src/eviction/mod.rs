//! Memory bounded by time-to-live. One sweep removes, on the injected clock,
//! everything that has outlived its TTL:
//! - jobs in their final state (completed or failed, post-processing ended)
//!   whose last change is `--job-ttl` old, with their renders and decoded
//!   inputs; a job that can still change is never removed;
//! - uploaded files (record and bytes) `--file-ttl` after `POST /upload`;
//! - notifications `--notification-ttl` after they happened, in every
//!   account's log, and finished webhook delivery records (delivered or
//!   given up) as long after their last attempt; a delivery with a retry
//!   pending stays;
//! - ZIP links that have expired and whose jobs are all gone: until then an
//!   expired link keeps answering 410, as documented, rather than 404.
//!
//! - tenants made by `--any-token` idle for `--any-token-idle-ttl`, with
//!   everything they own ([`crate::any_token`]).
//!
//! Other tenants, their identities, projects and tokens are account
//! configuration and stay. With `--data-dir`, what a sweep removes is removed from the data
//! dir too, and blobs no record names any more go with it. Something is removed once `now >= its time + TTL`, the same bound
//! as every other lifetime in the fake (download links, upload URLs).
//!
//! The background ticker sweeps at most once a minute of injected-clock time
//! ([`sweep_if_due`]); `POST /__admin/clock` sweeps after every move
//! ([`sweep_now`]), so tests on the manual clock evict by moving time.

use std::time::Duration;

use serde::Serialize;

use crate::clock::Instant;
use crate::durable::{Dirty, Op};
use crate::remove_where::remove_where;
use crate::state::{AppState, Shared};

pub mod timer;

/// What one sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Evicted {
    /// Finished jobs.
    pub jobs: usize,
    /// Uploaded files.
    pub files: usize,
    /// Notifications, over every account.
    pub notifications: usize,
    /// Finished webhook delivery records.
    pub webhook_deliveries: usize,
    /// Expired ZIP links.
    pub download_links: usize,
    /// Idle `--any-token` tenants, with all they owned.
    pub tenants: usize,
}

/// What is held now: `held` of `GET /__admin/health`, so growth (or the lack
/// of it) can be watched.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Held {
    /// Jobs, running and finished.
    pub jobs: usize,
    /// Uploaded files.
    pub files: usize,
    /// Notifications, over every account.
    pub notifications: usize,
    /// Webhook delivery records, pending and finished.
    pub webhook_deliveries: usize,
    /// ZIP links.
    pub download_links: usize,
}

/// Whether something from `t` has outlived `ttl` at `now`.
fn expired(t: Instant, ttl: Duration, now: Instant) -> bool {
    now >= t.plus(ttl)
}

/// Removes everything expired at `now` (see the module documentation);
/// returns what went. No global lock is held: each map is swept a shard or
/// an account at a time, and the webhook book (capped at 10,000) under its
/// own lock.
pub fn sweep(state: &Shared, now: Instant) -> Evicted {
    let s = &state.settings;
    let epoch = state.ids.epoch();
    let jobs = state.engine.evict_final_ids(|t| expired(t, s.job_ttl, now));
    let files = state.store.evict_files_ids(|t| expired(t, s.file_ttl, now));
    let mut notifications = Vec::new();
    for tenant in state.store.tenants() {
        notifications.extend(tenant.log.evict_ids(|t| expired(t, s.notification_ttl, now)));
    }
    let deliveries = state
        .webhooks
        .evict_finished_ids(|t| expired(t, s.notification_ttl, now));
    // After the jobs, so a link whose jobs just went goes in the same sweep.
    let links = remove_where(&state.downloads, |g| {
        now >= g.expires_at && g.jobs.iter().all(|id| state.engine.get_any(id).is_none())
    });
    // Last: what an idle tenant owns goes with it, counted apart.
    let tenants = crate::any_token::evict_idle(state, now);
    let out = Evicted {
        tenants,
        jobs: jobs.len(),
        files: files.len(),
        notifications: notifications.len(),
        webhook_deliveries: deliveries.len(),
        download_links: links.len(),
    };
    if out != Evicted::default() {
        // The same goes from the data dir, then the bytes no one names.
        let collect = !(jobs.is_empty() && files.is_empty());
        // Queued in the publisher section a reset holds: if one ran since the sweep
        // began, its `Clear` is queued already and removed what was swept
        // before it, while ids start over: a deletion by id could hit new
        // data, so those are dropped. (Marks are safe: each writes what
        // memory holds at commit.)
        let _publishing = state.publisher.exclusive();
        let mut ops: Vec<Op> = Vec::new();
        if state.ids.epoch() == epoch {
            ops.extend(jobs.into_iter().map(Op::JobGone));
            ops.extend(notifications.into_iter().map(Op::NotificationGone));
        }
        ops.extend(files.into_iter().map(|id| Op::Dirty(Dirty::File(id))));
        ops.extend(deliveries.into_iter().map(|id| Op::Dirty(Dirty::Delivery(id))));
        ops.extend(links.into_iter().map(|t| Op::Dirty(Dirty::Download(t))));
        if collect {
            ops.push(Op::CollectBlobs);
        }
        state.durable.submit(ops, None);
    }
    if out != Evicted::default() {
        tracing::debug!(
            jobs = out.jobs,
            files = out.files,
            notifications = out.notifications,
            webhook_deliveries = out.webhook_deliveries,
            download_links = out.download_links,
            tenants = out.tenants,
            "evicted expired data"
        );
    }
    out
}

/// Sweeps now, whenever the last sweep was (after the control API moved
/// the clock).
pub fn sweep_now(state: &Shared) -> Evicted {
    let now = state.clock.now();
    state.sweeps.record(now);
    sweep(state, now)
}

/// Whether [`sweep_if_due`] would sweep now: checked on the ticker's
/// worker, so the blocking pool is only asked once a minute of clock time.
pub fn sweep_is_due(state: &Shared) -> bool {
    state.sweeps.due(state.clock.now())
}

/// Sweeps if a minute of injected-clock time has passed since the last
/// sweep (the background ticker calls this when [`sweep_is_due`]).
pub fn sweep_if_due(state: &Shared) -> Option<Evicted> {
    let now = state.clock.now();
    state.sweeps.claim(now).then(|| sweep(state, now))
}

/// Runs `sweep` ([`sweep_now`] or [`sweep_if_due`]) on the blocking pool
/// and waits for it: a sweep that removes thousands of idle tenants must
/// not hold one of the runtime's few worker threads (two on a 2-core
/// machine), which serve the requests meanwhile.
pub async fn off_the_workers<T: Send + 'static>(state: &AppState, sweep: fn(&Shared) -> T) -> T {
    let state = state.clone();
    tokio::task::spawn_blocking(move || sweep(&state))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// Counts what is held now.
pub fn held(state: &Shared) -> Held {
    Held {
        jobs: state.engine.len(),
        files: state.store.file_count(),
        notifications: state.store.tenants().iter().map(|t| t.log.len()).sum(),
        webhook_deliveries: state.webhooks.delivery_count(),
        download_links: state.downloads.len(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::timer::{SWEEP_INTERVAL, SweepTimer};
    use super::*;
    use crate::clock::ManualClock;
    use crate::config::Config;
    use crate::domain::ids::{FileId, JobId};
    use crate::state::AppState;
    use crate::storage::records::DownloadGrant;
    use crate::storage::records::StoredFile;

    const HOUR: Duration = Duration::from_secs(3600);

    fn state() -> AppState {
        let cfg = Config::for_tests();
        let clock = Arc::new(ManualClock::new(cfg.start_time));
        AppState::with_clock(&cfg, "http://fake".into(), clock).expect("state")
    }

    #[test]
    fn the_ticker_sweeps_at_most_once_a_minute_of_clock_time() {
        let t = SweepTimer::default();
        let t0 = Instant::from_millis(1_000_000);
        assert!(t.claim(t0), "the first tick sweeps");
        assert!(!t.claim(t0));
        assert!(!t.claim(t0.plus(Duration::from_millis(59_999))));
        assert!(t.claim(t0.plus(SWEEP_INTERVAL)));
        assert!(!t.claim(t0.plus(SWEEP_INTERVAL)));
        assert!(t.claim(t0), "a clock set back does not stop sweeps");
        t.record(t0.plus(HOUR));
        assert!(
            !t.claim(t0.plus(HOUR).plus(Duration::from_secs(1))),
            "a forced sweep counts"
        );
    }

    #[test]
    fn expiry_is_at_exactly_the_ttl() {
        let t = Instant::from_millis(0);
        assert!(!expired(t, HOUR, Instant::from_millis(3_599_999)));
        assert!(expired(t, HOUR, Instant::from_millis(3_600_000)));
    }

    #[test]
    fn files_go_after_their_ttl_counted_from_creation() {
        let state = state();
        let t0 = state.now();
        let tenant = state.store.tenants()[0].id().clone();
        let file = |id: &str, created_at: Instant| StoredFile {
            id: FileId::from_client(id),
            owner: tenant.clone(),
            filename: "a.png".into(),
            content_type: "image/png",
            project: None,
            created_at,
            upload_expires_at: created_at,
            blob: None,
        };
        state.store.insert_file(file("sku_old", t0));
        state.store.insert_file(file("sku_new", t0.plus(HOUR)));
        let just_before = Instant::from_millis(t0.plus(24 * HOUR).millis() - 1);
        assert_eq!(sweep(&state, just_before).files, 0);
        let r = sweep(&state, t0.plus(24 * HOUR));
        assert_eq!(r.files, 1);
        assert!(state.store.file_any(&FileId::from_client("sku_old")).is_none());
        assert!(state.store.file_any(&FileId::from_client("sku_new")).is_some());
        assert_eq!(held(&state).files, 1);
    }

    #[test]
    fn notifications_go_from_every_account_and_health_counts_drop() {
        let state = state();
        let t0 = state.now();
        for tenant in state.store.tenants() {
            for at in [t0, t0.plus(12 * HOUR)] {
                let section = state.publisher.exclusive();
                let n = state
                    .publisher
                    .number(&section, tenant.id(), "test", serde_json::Value::Null, at, at);
                tenant.log.append(Arc::new(n));
            }
        }
        let accounts = state.store.tenant_count();
        assert_eq!(held(&state).notifications, 2 * accounts);
        let r = sweep(&state, t0.plus(24 * HOUR));
        assert_eq!(r.notifications, accounts, "the old one of each account");
        assert_eq!(held(&state).notifications, accounts);
        assert_eq!(sweep(&state, t0.plus(36 * HOUR)).notifications, accounts);
        assert_eq!(held(&state).notifications, 0);
    }

    #[test]
    fn an_expired_zip_link_goes_once_its_jobs_are_gone() {
        let state = state();
        let t0 = state.now();
        let owner = state.store.tenants()[0].id().clone();
        state.downloads.insert(
            crate::domain::secret::SecretDigest::of("dl_gone"),
            DownloadGrant {
                owner: owner.clone(),
                jobs: vec![JobId::from_client("job_evicted")],
                expires_at: t0.plus(HOUR),
            },
        );
        assert_eq!(sweep(&state, t0).download_links, 0, "not expired yet");
        assert_eq!(sweep(&state, t0.plus(HOUR)).download_links, 1);
        assert!(state.downloads.is_empty());
    }

    #[test]
    fn sweep_now_counts_as_the_tickers_sweep() {
        let state = state();
        sweep_now(&state);
        assert!(sweep_if_due(&state).is_none(), "swept a moment ago");
        state.clock.advance(SWEEP_INTERVAL);
        assert!(sweep_if_due(&state).is_some());
    }
}
