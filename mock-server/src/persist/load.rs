//! Start-up on a data dir that holds something: the in-memory state is
//! rebuilt from the database, in dependency order (counters and clock,
//! tenants, tokens, projects, identities, files, jobs, notifications,
//! webhooks, download links). Jobs are parsed again from their request body
//! and fast-forwarded, silently, over the events already applied and
//! announced; the rest of their schedule runs on the clock as usual.

use std::sync::Arc;

use redb::{Database, ReadOnlyTable, ReadableTable};

use super::records::{
    AccountRecord, ApiTokenEntry, Counters, DeliveryRecord, DownloadRecord, FileRecord, GrantRecord, IdentityRecord,
    JobRecord, NotificationRecord, ProjectRecord, RegistrationRecord, ScheduleRecord, decode,
};
use super::tables::{self, Table};
use crate::blob_bytes::{BlobBytes, BlobSource};
use crate::domain::account::Account;
use crate::domain::ids::TenantId;
use crate::domain::job_request::parse;
use crate::domain::secret::SecretDigest;
use crate::durable::{Dirty, Op};
use crate::engine::job::{JobInput, NewJob};
use crate::engine::schedule::Schedule;
use crate::state::AppState;
use crate::storage::records::Tenant;

type Read = ReadOnlyTable<&'static str, &'static [u8]>;

/// Every (key, value) of `table`, in key order.
fn entries(txn: &redb::ReadTransaction, table: Table) -> Result<Vec<(String, Vec<u8>)>, String> {
    let t: Read = match txn.open_table(table) {
        Ok(t) => t,
        // A table no change ever wrote is simply empty.
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.to_string()),
    };
    let mut out = Vec::new();
    for entry in t.iter().map_err(|e| e.to_string())? {
        let (k, v) = entry.map_err(|e| e.to_string())?;
        out.push((k.value().to_owned(), v.value().to_vec()));
    }
    Ok(out)
}

/// Every (key, record) of `table`, in key order. One record that cannot be
/// read refuses the start, naming it: skipping it would lose something a
/// client was told is stored, silently (see docs/persistence.md).
fn records<T: serde::de::DeserializeOwned>(
    txn: &redb::ReadTransaction,
    table: Table,
) -> Result<Vec<(String, T)>, String> {
    use redb::TableHandle as _;
    let mut out = Vec::new();
    for (key, v) in entries(txn, table)? {
        let record = decode::<T>(&v, "record").map_err(|e| {
            format!(
                "the record {}/{key} cannot be read ({e}): another build wrote it, or the file is damaged; start the build that wrote it, or move the file away to start empty",
                table.name()
            )
        })?;
        out.push((key, record));
    }
    Ok(out)
}

/// The bytes stored under `digest`, left in the data dir: read when a
/// request asks for them ([`BlobBytes`]). Not even looked at here: that
/// would page every byte stored through the database's cache at start.
fn blob(blobs: &Arc<dyn BlobSource>, digest: &str) -> BlobBytes {
    BlobBytes::stored(digest, blobs.clone())
}

/// `tenant`'s `Arc`, or an error naming `what` refers to it.
fn tenant(state: &AppState, id: &TenantId, what: &str) -> Result<Arc<Tenant>, String> {
    state
        .store
        .tenant(id)
        .ok_or_else(|| format!("{what} belongs to {id}, which the data dir does not hold"))
}

/// Rebuilds `state` from `db`. `Ok(false)`: the data dir holds nothing yet
/// (never committed to), and the caller loads the fixture accounts.
pub fn load(db: &Database, blobs: &Arc<dyn BlobSource>, state: &AppState) -> Result<bool, String> {
    let txn = db.begin_read().map_err(|e| e.to_string())?;
    let meta = entries(&txn, tables::META)?;
    let Some((_, counters)) = meta.iter().find(|(k, _)| k == "counters") else {
        return Ok(false);
    };
    let c: Counters = decode(counters, "counters").map_err(|e| e.to_string())?;
    restore_counters(state, &c);

    for (_, record) in records::<AccountRecord>(&txn, tables::TENANTS)? {
        let settings = record.settings();
        let t = Arc::new(Tenant::new(Account::from(record)));
        t.data.lock().settings = settings;
        if let Some(email) = &t.account.email {
            state.tokens.add_login(email, t.clone());
        }
        state.store.add_tenant(t);
    }
    for (table, refresh) in [(tables::BEARER, false), (tables::REFRESH, true)] {
        for (key, r) in records::<GrantRecord>(&txn, table)? {
            let owner = tenant(state, &r.tenant.clone(), "a token")?;
            let grant = r.grant(owner).map_err(|e| e.to_string())?;
            let key = SecretDigest::from_hex(&key).ok_or("a token is not keyed by its digest")?;
            if refresh {
                state.tokens.add_refresh_digest(key, grant);
            } else {
                state.tokens.add_bearer_digest(key, grant);
            }
        }
    }
    // A tenant's scenario is the choice of each of its tokens.
    for t in state.store.tenants() {
        let scenario = t.data.lock().settings.scenario.clone();
        if scenario.is_some() {
            for digest in state.tokens.bearers_of(t.id()) {
                state.scenarios.set_for_digest(digest, scenario.clone());
            }
        }
    }
    for (key, r) in records::<ProjectRecord>(&txn, tables::PROJECTS)? {
        let t = tenant(state, &r.tenant, "a project")?;
        let mut data = t.data.lock();
        check_position(&key, data.projects.len())?;
        data.projects.push(r.project());
    }
    for (key, r) in records::<ApiTokenEntry>(&txn, tables::API_TOKENS)? {
        let t = tenant(state, &r.tenant, "an API token")?;
        let mut data = t.data.lock();
        check_position(&key, data.api_tokens.len())?;
        data.api_tokens.push(r.entry());
    }

    for (code, r) in records::<IdentityRecord>(&txn, tables::IDENTITIES)? {
        let t = tenant(state, &r.owner, "an identity")?;
        let digest: [u8; 32] = hex::decode(&r.image)
            .ok()
            .and_then(|d| d.try_into().ok())
            .ok_or_else(|| format!("identity {code}: a malformed digest"))?;
        let bytes = blob(blobs, &r.image);
        if state.store.insert_identity(&t, digest, r.identity(bytes)).is_err() {
            tracing::warn!(%code, "the data dir holds the same identity image twice: the second is left out");
        }
    }
    for (_, r) in records::<FileRecord>(&txn, tables::FILES)? {
        let bytes = r.blob.as_ref().map(|b| blob(blobs, &b.bytes));
        state.store.insert_file(r.file(bytes));
    }
    load_jobs(&txn, blobs, state)?;

    // What the retention caps push out while loading goes from the data dir
    // too (a crash can leave it there).
    let mut dropped = Vec::new();
    for (_, r) in records::<NotificationRecord>(&txn, tables::NOTIFICATIONS)? {
        let t = tenant(state, &r.owner.clone(), "a notification")?;
        dropped.extend(t.log.append(Arc::new(r.into())).into_iter().map(Op::NotificationGone));
    }
    for (owner, r) in records::<RegistrationRecord>(&txn, tables::WEBHOOKS)? {
        state
            .webhooks
            .restore_registration(TenantId::from_client(&owner), r.into());
    }
    let now = state.now();
    for (_, r) in records::<DeliveryRecord>(&txn, tables::DELIVERIES)? {
        let gone = state.webhooks.insert(r.delivery(now));
        dropped.extend(gone.into_iter().map(|id| Op::Dirty(Dirty::Delivery(id))));
    }
    for (digest, r) in records::<DownloadRecord>(&txn, tables::DOWNLOADS)? {
        let digest = crate::domain::secret::SecretDigest::from_hex(&digest)
            .ok_or_else(|| format!("download link {digest:?}: not a digest"))?;
        state.downloads.insert(digest, r.into());
    }
    if !dropped.is_empty() {
        state.save(dropped);
    }
    tracing::info!(
        tenants = state.store.tenant_count(),
        jobs = state.engine.len(),
        files = state.store.file_count(),
        "loaded the data dir"
    );
    Ok(true)
}

/// Continues every counter where the last commit left it, and the clock: a
/// manual clock where it stood, a system clock never earlier than it stood.
fn restore_counters(state: &AppState, c: &Counters) {
    state.ids.restore(c.ids, c.epoch);
    state.signer.rekey(c.epoch);
    state.resets.send_replace(c.epoch);
    state.publisher.resume_after(c.notifications);
    state.store.restore_seq(c.uploads);
    state.engine.restore_seq(c.jobs);
    state.webhooks.restore_last_id(c.deliveries);
    let at = crate::clock::Instant::from_millis(c.clock_ms);
    if state.clock.is_frozen() || at > state.now() {
        state.clock.set(at);
    }
}

/// Projects and API tokens are kept by their position in the account's
/// list; the `n`-th one read must be at position `n`.
fn check_position(key: &str, n: usize) -> Result<(), String> {
    let pos = key.rsplit_once('/').and_then(|(_, p)| p.parse::<usize>().ok());
    if pos == Some(n) {
        Ok(())
    } else {
        Err(format!(
            "the record {key} is out of place (expected position {n}): the data dir is damaged"
        ))
    }
}

fn load_jobs(txn: &redb::ReadTransaction, blobs: &Arc<dyn BlobSource>, state: &AppState) -> Result<(), String> {
    let schedules: std::collections::HashMap<String, Vec<u8>> =
        entries(txn, tables::JOB_SCHEDULES)?.into_iter().collect();
    let applied: std::collections::HashMap<String, Vec<u8>> = entries(txn, tables::JOB_APPLIED)?.into_iter().collect();
    let mut jobs: Vec<JobRecord> = records(txn, tables::JOBS)?.into_iter().map(|(_, j)| j).collect();
    // In creation order, as the engine breaks ties between equal times.
    jobs.sort_by_key(|j| j.seq);
    for r in jobs {
        let what = format!("job {}", r.id);
        let owner = tenant(state, &r.owner, &what)?;
        let request = parse(&r.source, &owner.account.parse_context()).map_err(|errors| {
            let first = errors
                .first()
                .map(|e| format!("{:?}: {}", e.field, e.message))
                .unwrap_or_default();
            format!("{what}: its request is refused by this version of the fake ({first})")
        })?;
        let identity = state
            .store
            .identity_any(&r.identity)
            .ok_or_else(|| format!("{what}: its identity {} is missing", r.identity))?;
        let mut inputs = Vec::with_capacity(r.inputs.len());
        for i in &r.inputs {
            inputs.push(JobInput {
                file_id: i.file_id.clone(),
                filename: i.filename.clone(),
                note: i.note.clone(),
                bytes: blob(blobs, &i.bytes),
            });
        }
        let schedule: Schedule = schedules
            .get(r.id.as_str())
            .map(|v| decode::<ScheduleRecord>(v, "job schedule"))
            .transpose()
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{what}: its schedule is missing"))?
            .into();
        let done: usize = applied
            .get(r.id.as_str())
            .map(|v| decode::<usize>(v, "job progress"))
            .transpose()
            .map_err(|e| e.to_string())?
            .unwrap_or(0);
        let n = NewJob {
            id: r.id.clone(),
            owner: r.owner.clone(),
            created_at: r.created_at(),
            project: r.project(),
            request,
            identity,
            inputs,
            plan: r.plan,
            scenario: r.scenario.map(Arc::new),
            public_base: r.public_base.map(Arc::from),
            source: serde_json::Value::Null,
        };
        state.engine.restore(n, r.seq, schedule, done);
    }
    Ok(())
}
