//! Durability as an injected collaborator: the core reports what changed
//! ([`Op`], mostly [`Dirty`] marks) to an [`Durable`] adapter and never asks
//! whether anything is kept. Without `--data-dir` the adapter is [`InMemory`],
//! which keeps nothing; with it, the redb store in [`crate::persist`].
//!
//! One question stays visible to the core, [`Durable::keeps`]: the publisher
//! needs it to choose when a notification becomes visible (at once, or once
//! committed), and the router installs the wait-for-commit middleware only
//! when there is a commit to wait for, so the status read path pays nothing
//! for a store it does not use.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::domain::ids::{FileId, IdentityCode, JobId, TenantId};
use crate::domain::secret::SecretDigest;
use crate::engine::job::Job;
use crate::events::log::Notification;
use crate::events::webhook::Delivery;

/// What [`Durable::flush`] and friends return: boxed, so the trait stays
/// object-safe (none of them is on a hot path).
pub type Pending<'a> = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>>;

/// Where changes go to be kept (see the module doc).
pub trait Durable: Send + Sync + std::fmt::Debug {
    /// Whether changes are kept at all. When not, a notification is visible
    /// as soon as it is published, and callers may skip building records
    /// that nothing reads.
    fn keeps(&self) -> bool;

    /// Queues `ops`, in the order changes happened; `after` runs once they
    /// are committed (at once, on this thread, when nothing is kept). The
    /// current request answers once they are durable. Never blocks.
    fn submit(&self, ops: Vec<Op>, after: Option<After>);

    /// Records that `d` changed: [`Durable::submit`] of one mark, which the
    /// memory adapter skips without allocating (marks are made on request
    /// paths).
    fn mark(&self, d: Dirty) {
        self.submit(vec![Op::Dirty(d)], None);
    }

    /// Waits until everything queued so far is committed.
    fn flush(&self) -> Pending<'_>;

    /// Waits until change `seq` (as numbered by the adapter) is committed.
    fn wait(&self, seq: u64) -> Pending<'_>;

    /// Commits what is queued and stops keeping anything (a clean shutdown,
    /// or a test that opens the same data dir again).
    fn close(&self) -> Pending<'_>;

    /// Holds the adapter from taking a batch while the guard lives: a reset
    /// empties memory and the store as one step.
    fn exclusive(&self) -> Option<parking_lot::RwLockWriteGuard<'_, ()>>;
}

/// The adapter that keeps nothing: the default, memory-only fake.
#[derive(Debug, Default)]
pub struct InMemory;

impl Durable for InMemory {
    fn keeps(&self) -> bool {
        false
    }

    fn submit(&self, _ops: Vec<Op>, after: Option<After>) {
        if let Some(after) = after {
            after();
        }
    }

    fn mark(&self, _d: Dirty) {}

    fn flush(&self) -> Pending<'_> {
        Box::pin(std::future::ready(Ok(())))
    }

    fn wait(&self, _seq: u64) -> Pending<'_> {
        Box::pin(std::future::ready(Ok(())))
    }

    fn close(&self) -> Pending<'_> {
        Box::pin(std::future::ready(Ok(())))
    }

    fn exclusive(&self) -> Option<parking_lot::RwLockWriteGuard<'_, ()>> {
        None
    }
}

/// The adapter of a state that keeps nothing, shared.
pub fn in_memory() -> Arc<dyn Durable> {
    Arc::new(InMemory)
}

/// Something in memory that changed: the writer stores what memory holds
/// for it when it commits (or removes it when memory no longer has it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dirty {
    /// A tenant's account.
    Tenant(TenantId),
    /// A bearer token (login, long-lived, `--any-token`, fixture), by its
    /// digest: the token itself is never stored.
    Bearer(SecretDigest),
    /// A refresh token (spent ones are removed), by its digest.
    Refresh(SecretDigest),
    /// An account's project at this position.
    Project(TenantId, usize),
    /// An account's long-lived API token listing entry at this position.
    ApiToken(TenantId, usize),
    /// An identity.
    Identity(IdentityCode),
    /// An uploaded file (record and bytes).
    File(FileId),
    /// A job's schedule (the control API finished or failed it early).
    Schedule(JobId),
    /// An account's webhook registration.
    Registration(TenantId),
    /// A webhook delivery (and its account's registration, whose last
    /// response it may have changed).
    Delivery(u64),
    /// A ZIP download link, by its token's digest.
    Download(crate::domain::secret::SecretDigest),
    /// Only the counters and the clock (written with every commit anyway):
    /// `POST /__admin/clock`.
    Clock,
}

/// One change for the store, in the order changes happened.
#[derive(Debug)]
pub enum Op {
    /// See [`Dirty`].
    Dirty(Dirty),
    /// A new job: what it is made of (with the request body it came as),
    /// its inputs' bytes and its schedule.
    Job {
        /// The job.
        job: Arc<Job>,
        /// The request body.
        source: serde_json::Value,
    },
    /// How many of the job's events are applied (and announced).
    JobApplied(JobId, usize),
    /// An evicted job.
    JobGone(JobId),
    /// A notification in its account's log.
    Notification(Arc<Notification>),
    /// A notification deleted, evicted or pushed out of its log.
    NotificationGone(u64),
    /// A new webhook delivery.
    Delivery(Box<Delivery>),
    /// `POST /__admin/reset`: everything goes.
    Clear,
    /// Removes blobs no record names any more (after an eviction).
    CollectBlobs,
}

/// Runs once a change is committed, in commit order, before anyone waiting
/// for it is told: makes notifications visible and queues webhooks.
pub type After = Box<dyn FnOnce() + Send>;

/// Why a change may not be durable.
#[derive(Debug, Clone)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
