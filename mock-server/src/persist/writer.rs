//! The one thread that writes the database. It takes every change queued
//! since its last commit (a group commit: many requests, one fsync), writes
//! them in order in one transaction with the counters and the clock, commits
//! (durable when `commit` returns: redb's default durability), runs each
//! change's `after` step in order, then tells the waiting requests.
//!
//! A failed write stops the writer for good: from then on every change
//! answers 503 rather than pretending to be durable.

use std::collections::HashSet;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Weak};

use parking_lot::RwLock;
use redb::{Database, ReadableTable, WriteTransaction};
use tokio::sync::watch;

use super::records::{
    AccountRecord, ApiTokenEntry, Counters, DeliveryRecord, DownloadRecord, FileRecord, GrantRecord, IdentityRecord,
    JobRecord, NotificationRecord, ProjectRecord, RegistrationRecord, ScheduleRecord, decode, digest, encode,
};
use super::tables::{self, Table, number_key, position_key};
use super::{Change, Msg, Progress};
use crate::blob_bytes::BlobBytes;
use crate::domain::ids::TenantId;
use crate::durable::{Dirty, Op};
use crate::state::Shared;
use crate::storage::records::TenantData;

/// A failed write: any of redb's errors, boxed (they are large).
#[derive(Debug)]
pub(super) struct WriteError(Box<redb::Error>);

impl<E: Into<redb::Error>> From<E> for WriteError {
    fn from(e: E) -> Self {
        Self(Box::new(e.into()))
    }
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Most changes one transaction takes: a bound on how long the first of
/// them waits for the commit.
const MAX_BATCH: usize = 2048;

pub(super) struct Writer {
    pub(super) db: Arc<Database>,
    pub(super) rx: Receiver<Msg>,
    pub(super) shared: Weak<Shared>,
    pub(super) gate: Arc<RwLock<()>>,
    pub(super) progress: watch::Sender<Progress>,
    pub(super) runtime: tokio::runtime::Handle,
}

impl Drop for Writer {
    /// However the writer ends — closed, a failed write, or a panic in an
    /// `after` step — nobody waits for it for ever: they are told it stopped.
    fn drop(&mut self) {
        self.progress.send_modify(|p| p.stopped = true);
    }
}

/// The counters and the clock of `state` now.
pub(super) fn counters(state: &Shared) -> Counters {
    let (ids, epoch) = state.ids.counters();
    Counters {
        ids,
        epoch,
        notifications: state.publisher.last_id(),
        uploads: state.store.peek_seq(),
        jobs: state.engine.peek_seq(),
        deliveries: state.webhooks.last_id(),
        clock_ms: state.clock.now().millis(),
    }
}

impl Writer {
    pub(super) fn run(self) {
        // `after` steps queue webhooks, which spawns tasks.
        let runtime = self.runtime.clone();
        let _runtime = runtime.enter();
        while let Ok(first) = self.rx.recv() {
            let state = self.shared.upgrade();
            let mut changes = Vec::new();
            let mut close = None;
            let counters = {
                let _gate = self.gate.read();
                let mut next = Some(first);
                while let Some(msg) = next.take() {
                    match msg {
                        Msg::Change(c) => changes.push(c),
                        Msg::Close(ack) => {
                            close = Some(ack);
                            break;
                        }
                    }
                    if changes.len() < MAX_BATCH {
                        next = self.rx.try_recv().ok();
                    }
                }
                state.as_deref().map(counters)
            };
            if let Some(last) = changes.last().map(|c| c.seq) {
                let started = std::time::Instant::now();
                if let Err(e) = self.commit(&changes, counters, state.as_deref()) {
                    tracing::error!(error = %e, "the data dir could not be written: no further change is stored");
                    self.progress.send_modify(|p| p.stopped = true);
                    return;
                }
                tracing::debug!(changes = changes.len(), took = ?started.elapsed(), "data dir: committed");
                for c in changes {
                    if let Some(after) = c.after {
                        after();
                    }
                }
                self.progress.send_modify(|p| p.committed = last);
            }
            drop(state);
            if let Some(ack) = close {
                self.progress.send_modify(|p| p.stopped = true);
                // The lock goes with the last handle of the database: before
                // the closer hears that it may open the data dir again.
                drop(self);
                let _ = ack.send(());
                return;
            }
        }
    }

    fn commit(&self, changes: &[Change], taken: Option<Counters>, state: Option<&Shared>) -> Result<(), WriteError> {
        let txn = self.db.begin_write()?;
        {
            let mut w = Tables::open(&txn)?;
            let mut resolved = HashSet::new();
            for op in changes.iter().flat_map(|c| &c.ops) {
                w.apply(op, state, &mut resolved)?;
            }
            // The counters as they stand now, after the marks were written
            // from memory (which may name IDs taken since the batch was
            // taken), unless a reset came in between: then as they stood
            // when the batch was taken, which its data belongs to.
            let now = state.map(counters);
            let c = match (taken, now) {
                (Some(then), Some(now)) if now.epoch == then.epoch => Some(now),
                (then, _) => then,
            };
            if let Some(c) = c {
                w.meta.insert("counters", encode(&c).as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }
}

type T<'t> = redb::Table<'t, &'static str, &'static [u8]>;

/// Every table, open in one write transaction.
struct Tables<'t> {
    meta: T<'t>,
    tenants: T<'t>,
    bearer: T<'t>,
    refresh: T<'t>,
    projects: T<'t>,
    api_tokens: T<'t>,
    identities: T<'t>,
    files: T<'t>,
    jobs: T<'t>,
    job_schedules: T<'t>,
    job_applied: T<'t>,
    job_blobs: T<'t>,
    notifications: T<'t>,
    webhooks: T<'t>,
    deliveries: T<'t>,
    downloads: T<'t>,
    blobs: T<'t>,
}

/// `f` of `tenant`'s locked data, if the tenant exists.
fn of_tenant<R>(state: &Shared, tenant: &TenantId, f: impl FnOnce(&TenantData) -> Option<R>) -> Option<R> {
    state.store.tenant(tenant).and_then(|t| f(&t.data.lock()))
}

/// Writes `value` under `key`, or removes `key` when there is none.
fn put_or_remove(t: &mut T<'_>, key: &str, value: Option<Vec<u8>>) -> Result<(), WriteError> {
    match value {
        Some(v) => {
            t.insert(key, v.as_slice())?;
        }
        None => {
            t.remove(key)?;
        }
    }
    Ok(())
}

impl<'t> Tables<'t> {
    fn open(txn: &'t WriteTransaction) -> Result<Self, WriteError> {
        let open = |t: Table| txn.open_table(t);
        Ok(Self {
            meta: open(tables::META)?,
            tenants: open(tables::TENANTS)?,
            bearer: open(tables::BEARER)?,
            refresh: open(tables::REFRESH)?,
            projects: open(tables::PROJECTS)?,
            api_tokens: open(tables::API_TOKENS)?,
            identities: open(tables::IDENTITIES)?,
            files: open(tables::FILES)?,
            jobs: open(tables::JOBS)?,
            job_schedules: open(tables::JOB_SCHEDULES)?,
            job_applied: open(tables::JOB_APPLIED)?,
            job_blobs: open(tables::JOB_BLOBS)?,
            notifications: open(tables::NOTIFICATIONS)?,
            webhooks: open(tables::WEBHOOKS)?,
            deliveries: open(tables::DELIVERIES)?,
            downloads: open(tables::DOWNLOADS)?,
            blobs: open(tables::BLOBS)?,
        })
    }

    /// Stores `bytes` once; their digest.
    fn blob(&mut self, bytes: &BlobBytes) -> Result<String, WriteError> {
        let Some(resident) = bytes.in_memory() else {
            // Bytes read from the data dir at start are in it, unless a
            // collection earlier in this batch took them (their file was
            // evicted just as a job was made from it): then they are put
            // back from the last commit, which still holds them.
            let d = bytes.stored_digest().unwrap_or_default().to_owned();
            if self.blobs.get(d.as_str())?.is_none() {
                match bytes.read() {
                    Ok(b) => {
                        self.blobs.insert(d.as_str(), b.as_ref())?;
                    }
                    Err(e) => tracing::error!(error = %e, "a record names bytes the data dir lost"),
                }
            }
            return Ok(d);
        };
        let d = digest(resident);
        if self.blobs.get(d.as_str())?.is_none() {
            self.blobs.insert(d.as_str(), resident.as_ref())?;
        }
        Ok(d)
    }

    fn apply(&mut self, op: &Op, state: Option<&Shared>, resolved: &mut HashSet<Dirty>) -> Result<(), WriteError> {
        match op {
            // What memory holds is written once per batch, whatever number
            // of changes marked it (after a reset in the batch, again).
            Op::Dirty(d) => {
                if let Some(state) = state
                    && resolved.insert(d.clone())
                {
                    self.resolve(d, state)?;
                }
            }
            Op::Job { job, source } => {
                let id = job.id.as_str();
                let mut digests = Vec::with_capacity(job.inputs.len());
                for input in &job.inputs {
                    digests.push(self.blob(&input.bytes)?);
                }
                self.job_blobs.insert(id, encode(&digests).as_slice())?;
                let record = JobRecord::new(job, source.clone(), digests);
                self.jobs.insert(id, encode(&record).as_slice())?;
                let schedule = ScheduleRecord::from(&*job.schedule());
                self.job_schedules.insert(id, encode(&schedule).as_slice())?;
            }
            Op::JobApplied(id, applied) => {
                // Not for a job already evicted (a sweep can see a job end
                // before its last event's change is queued).
                if self.jobs.get(id.as_str())?.is_some() {
                    self.job_applied.insert(id.as_str(), encode(applied).as_slice())?;
                }
            }
            Op::JobGone(id) => {
                for t in [
                    &mut self.jobs,
                    &mut self.job_schedules,
                    &mut self.job_applied,
                    &mut self.job_blobs,
                ] {
                    t.remove(id.as_str())?;
                }
            }
            Op::Notification(n) => {
                let record = NotificationRecord::from(&**n);
                self.notifications
                    .insert(number_key(n.id).as_str(), encode(&record).as_slice())?;
            }
            Op::NotificationGone(id) => {
                self.notifications.remove(number_key(*id).as_str())?;
            }
            Op::Delivery(d) => {
                let record = DeliveryRecord::from(&**d);
                self.deliveries
                    .insert(number_key(d.id).as_str(), encode(&record).as_slice())?;
            }
            Op::Clear => {
                for t in self.data_tables() {
                    t.retain(|_, _| false)?;
                }
                resolved.clear();
            }
            Op::CollectBlobs => self.collect_blobs()?,
        }
        Ok(())
    }

    fn data_tables(&mut self) -> [&mut T<'t>; 16] {
        [
            &mut self.tenants,
            &mut self.bearer,
            &mut self.refresh,
            &mut self.projects,
            &mut self.api_tokens,
            &mut self.identities,
            &mut self.files,
            &mut self.jobs,
            &mut self.job_schedules,
            &mut self.job_applied,
            &mut self.job_blobs,
            &mut self.notifications,
            &mut self.webhooks,
            &mut self.deliveries,
            &mut self.downloads,
            &mut self.blobs,
        ]
    }

    /// Writes what memory holds for `d` now.
    fn resolve(&mut self, d: &Dirty, state: &Shared) -> Result<(), WriteError> {
        match d {
            Dirty::Tenant(id) => {
                let record = state.store.tenant(id).map(|t| encode(&AccountRecord::of(&t)));
                put_or_remove(&mut self.tenants, id.as_str(), record)?;
            }
            Dirty::Bearer(key) => {
                let record = state
                    .tokens
                    .bearer_grant_of(key)
                    .map(|g| encode(&GrantRecord::from(&g)));
                put_or_remove(&mut self.bearer, key.to_hex().as_str(), record)?;
            }
            Dirty::Refresh(key) => {
                let record = state
                    .tokens
                    .refresh_grant_of(key)
                    .map(|g| encode(&GrantRecord::from(&g)));
                put_or_remove(&mut self.refresh, key.to_hex().as_str(), record)?;
            }
            Dirty::Project(tenant, pos) => {
                let record = of_tenant(state, tenant, |d| {
                    d.projects.get(*pos).map(|p| encode(&ProjectRecord::new(tenant, p)))
                });
                // None: the tenant was reset, its projects went.
                put_or_remove(&mut self.projects, position_key(tenant, *pos).as_str(), record)?;
            }
            Dirty::ApiToken(tenant, pos) => {
                let record = of_tenant(state, tenant, |d| {
                    d.api_tokens.get(*pos).map(|e| encode(&ApiTokenEntry::new(tenant, e)))
                });
                if let Some(r) = record {
                    self.api_tokens
                        .insert(position_key(tenant, *pos).as_str(), r.as_slice())?;
                }
            }
            Dirty::Identity(code) => {
                // The gallery is fixture data, read from `--fixtures`: never kept.
                let record = match state.store.identity_any(code).filter(|i| i.stock.is_none()) {
                    Some(i) => Some(encode(&IdentityRecord::new(&i, self.blob(&i.bytes)?))),
                    None => None,
                };
                put_or_remove(&mut self.identities, code.as_str(), record)?;
            }
            Dirty::File(id) => {
                let record = match state.store.file_any(id) {
                    Some(f) => {
                        let digest = match &f.blob {
                            Some(b) => Some(self.blob(&b.bytes)?),
                            None => None,
                        };
                        Some(encode(&FileRecord::new(&f, digest)))
                    }
                    None => None,
                };
                put_or_remove(&mut self.files, id.as_str(), record)?;
            }
            Dirty::Schedule(id) => {
                // An evicted job's schedule went with its `JobGone`.
                if let Some(job) = state.engine.get_any(id) {
                    let record = ScheduleRecord::from(&*job.schedule());
                    self.job_schedules.insert(id.as_str(), encode(&record).as_slice())?;
                }
            }
            Dirty::Registration(tenant) => {
                let record = state
                    .webhooks
                    .get(tenant)
                    .map(|r| encode(&RegistrationRecord::from(&r)));
                put_or_remove(&mut self.webhooks, tenant.as_str(), record)?;
            }
            Dirty::Delivery(id) => {
                let delivery = state.webhooks.delivery(*id);
                if let Some(d) = &delivery
                    && let Some(r) = state.webhooks.get(&d.account)
                {
                    self.webhooks
                        .insert(d.account.as_str(), encode(&RegistrationRecord::from(&r)).as_slice())?;
                }
                let record = delivery.map(|d| encode(&DeliveryRecord::from(&d)));
                put_or_remove(&mut self.deliveries, number_key(*id).as_str(), record)?;
            }
            Dirty::Download(digest) => {
                let record = state
                    .downloads
                    .get(digest)
                    .map(|g| encode(&DownloadRecord::from(g.value())));
                put_or_remove(&mut self.downloads, &digest.to_hex(), record)?;
            }
            Dirty::Clock => {}
        }
        Ok(())
    }

    /// Removes every blob that no identity, file or job names. A record
    /// that cannot be read stops the collection: better a blob too many
    /// than one too few.
    fn collect_blobs(&mut self) -> Result<(), WriteError> {
        let mut named: HashSet<String> = HashSet::new();
        for entry in self.identities.iter()? {
            let (_, v) = entry?;
            let Ok(r) = decode::<IdentityRecord>(v.value(), "identity") else {
                return Ok(());
            };
            named.insert(r.image);
        }
        for entry in self.files.iter()? {
            let (_, v) = entry?;
            let Ok(r) = decode::<FileRecord>(v.value(), "file") else {
                return Ok(());
            };
            named.extend(r.blob.map(|b| b.bytes));
        }
        for entry in self.job_blobs.iter()? {
            let (_, v) = entry?;
            let Ok(list) = decode::<Vec<String>>(v.value(), "job blobs") else {
                return Ok(());
            };
            named.extend(list);
        }
        self.blobs.retain(|k, _| named.contains(k))?;
        Ok(())
    }
}
