//! What code outside the crate (the integration tests, the fuzz targets)
//! may ask of the state, and the few levers it may pull, each named for
//! what it does. The collaborators themselves stay the crate's own
//! (`pub(crate)` on [`Shared`](super::Shared)), so a test pins behaviour,
//! not how the state happens to be built.
//!
//! Nothing here brings jobs up to now or applies what fell due: a test
//! that reads through these sees exactly what the state holds, which is
//! what it needs to check that a refused request changed nothing.

use std::sync::Arc;
use std::time::Duration;

use super::AppState;
use crate::clock::Instant;
use crate::domain::ids::{FileId, JobId};
use crate::durable::StoreError;
use crate::engine::job::Job;
use crate::events::webhook::Delivery;
use crate::storage::records::Tenant;

impl AppState {
    /// The seed every ID, signature and image of this run derives from.
    pub fn seed(&self) -> u64 {
        self.settings.seed
    }

    /// Moves the clock forward by `d` and nothing else: what falls due
    /// happens on the next read or tick (`POST /__admin/clock` applies it
    /// at once).
    pub fn advance_clock(&self, d: Duration) {
        self.clock.advance(d);
    }

    /// Job `id` of any tenant, as held (not caught up to now).
    pub fn job(&self, id: &JobId) -> Option<Arc<Job>> {
        self.engine.get_any(id)
    }

    /// How many jobs are held, of every tenant.
    pub fn job_count(&self) -> usize {
        self.engine.len()
    }

    /// How many tenants exist (fixtures, any-token and API-created ones).
    pub fn tenant_count(&self) -> usize {
        self.store.tenant_count()
    }

    /// The tenant bearer `token` names, whether or not it has expired.
    pub fn tenant_of_token(&self, token: &str) -> Option<Arc<Tenant>> {
        self.tokens.bearer_grant(token).map(|g| g.tenant)
    }

    /// How many identities every tenant holds.
    pub fn identity_count(&self) -> usize {
        self.store
            .tenants()
            .iter()
            .map(|t| self.store.identities_of(t.id()).len())
            .sum()
    }

    /// How many uploaded bytes memory holds: files, identity images (not
    /// the gallery's) and jobs' inputs, each holder counted; bytes left in
    /// the data dir, read when asked for, count nothing.
    pub fn resident_upload_bytes(&self) -> usize {
        let identities: usize = self
            .store
            .tenants()
            .iter()
            .flat_map(|t| self.store.identities_of(t.id()))
            .map(|i| i.bytes.resident_len())
            .sum();
        let inputs: usize = self
            .engine
            .all()
            .iter()
            .flat_map(|j| j.inputs.iter().map(|i| i.bytes.resident_len()))
            .sum();
        identities + inputs + self.store.resident_file_bytes()
    }

    /// How many identities were uploaded since start or the last reset
    /// (the store-wide upload order), without taking a number.
    pub fn upload_count(&self) -> u64 {
        self.store.peek_seq()
    }

    /// Whether the bytes of file `id` (any tenant's) arrived; `None` if no
    /// `POST /upload` announced it.
    pub fn file_uploaded(&self, id: &FileId) -> Option<bool> {
        self.store.file_any(id).map(|f| f.blob.is_some())
    }

    /// How many ZIP download links are held.
    pub fn download_link_count(&self) -> usize {
        self.downloads.len()
    }

    /// Every webhook delivery of every tenant, as the book holds it.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.webhooks.deliveries(None)
    }

    /// When the next webhook attempt falls due, if any is left to send.
    pub fn next_delivery_due(&self) -> Option<Instant> {
        self.webhooks.next_due()
    }

    /// How many webhook attempts are on the wire now.
    pub fn webhook_attempts_in_flight(&self) -> usize {
        self.shutdown.in_flight()
    }

    /// Resolves once a graceful shutdown began.
    pub async fn shutdown_begun(&self) {
        // The sender lives in the state, which `self` holds: the channel
        // cannot close while this waits.
        let _ = self.shutdown.subscribe().wait_for(|b| *b).await;
    }

    /// Starts every endpoint fault's call count again from zero, as a
    /// reset does, leaving everything else as it is.
    pub fn reset_call_counters(&self) {
        self.call_counters.clear();
    }

    /// Commits what is queued and releases the data dir, as a clean
    /// shutdown does; the state keeps nothing from then on.
    pub async fn close_durable(&self) -> Result<(), StoreError> {
        self.durable.close().await
    }
}
