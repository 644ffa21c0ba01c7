//! What storage keeps of a tenant beyond the domain's entities (the
//! account, projects and identities: [`crate::domain`]): its lock-guarded
//! data, uploaded files, download links.

use parking_lot::Mutex;
use std::collections::HashMap;

use crate::blob_bytes::BlobBytes;
use crate::clock::Instant;
use crate::domain::account::Account;
use crate::domain::ids::{FileId, IdentityCode, JobId, ProjectId, TenantId, TokenId};
use crate::domain::project::Project;
use crate::events::log::AccountLog;

/// A long-lived API token, as listed by `GET /auth/token`.
#[derive(Debug, Clone)]
pub struct ApiTokenRecord {
    /// Listing id.
    pub id: TokenId,
    /// Expiry.
    pub expires_at: Instant,
}

/// What one tenant owns that needs a per-tenant lock: uniqueness of project
/// names and identity images, and the token list.
#[derive(Debug, Default)]
pub struct TenantData {
    /// Projects in creation order.
    pub projects: Vec<Project>,
    /// SHA-256 of each identity image → its code, to find duplicates.
    pub identity_digests: HashMap<[u8; 32], IdentityCode>,
    /// Long-lived API tokens.
    pub api_tokens: Vec<ApiTokenRecord>,
    /// When the jobs of the last minute were created (rate limit).
    pub recent_jobs: std::collections::VecDeque<Instant>,
    /// Settings of this tenant alone, through the control API.
    pub settings: TenantSettings,
}

/// What the control API set for one tenant (`PATCH /__admin/tenants/{account}`);
/// `None` follows the flags. Kept with `--data-dir`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantSettings {
    /// Jobs a minute on `POST /flat-2-model` (0: no limit) instead of
    /// `--job-rate-limit`.
    pub job_rate_limit: Option<u32>,
    /// The scenario of every token of the tenant.
    pub scenario: Option<String>,
}

/// A tenant: its account and its data.
#[derive(Debug)]
pub struct Tenant {
    /// The account.
    pub account: Account,
    /// Data needing a per-tenant lock (never held across an await).
    pub data: Mutex<TenantData>,
    /// The notification log.
    pub log: AccountLog,
    /// When it was last used, and whether it is kept (`--any-token`).
    pub activity: super::activity::Activity,
}

impl Tenant {
    /// A tenant with no data yet.
    pub fn new(account: Account) -> Self {
        Self {
            account,
            data: Mutex::new(TenantData::default()),
            log: AccountLog::default(),
            activity: super::activity::Activity::default(),
        }
    }

    /// The tenant id.
    pub fn id(&self) -> &TenantId {
        &self.account.id
    }

    /// The vendor's limit on job creation: at most `limit` jobs (the
    /// tenant's own setting, else `default`) in any 60 s of the injected
    /// clock (0: no limit). Records the job when admitted,
    /// whatever becomes of it; a refused one is not recorded, so a client
    /// that keeps knocking is let in once the oldest job leaves the window,
    /// as the returned [`RetryAfter`] says.
    pub fn admit_job(&self, now: Instant, default: u32) -> Result<(), RetryAfter> {
        let mut data = self.data.lock();
        let limit = data.settings.job_rate_limit.unwrap_or(default);
        if limit == 0 {
            return Ok(());
        }
        let window_start = now.millis() - 60_000;
        while data.recent_jobs.front().is_some_and(|t| t.millis() <= window_start) {
            data.recent_jobs.pop_front();
        }
        if data.recent_jobs.len() >= limit as usize {
            let oldest = data.recent_jobs.front().map_or(now.millis(), |t| t.millis());
            let secs = u64::try_from((oldest + 60_000 - now.millis() + 999) / 1000)
                .unwrap_or(1)
                .max(1);
            return Err(RetryAfter { secs, limit });
        }
        data.recent_jobs.push_back(now);
        Ok(())
    }
}

/// A job refused by [`Tenant::admit_job`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter {
    /// The window has room again in this many whole seconds (at least 1).
    pub secs: u64,
    /// The limit that refused it.
    pub limit: u32,
}

/// Bytes that arrived through a pre-signed PUT.
#[derive(Debug, Clone)]
pub struct Blob {
    /// The bytes (in memory, or read from the data dir).
    pub bytes: BlobBytes,
    /// Quoted ETag.
    pub etag: String,
    /// Arrival time.
    pub uploaded_at: Instant,
    /// Why a job cannot use the bytes as an image (not a decodable JPEG,
    /// PNG or WebP, or too large), or `None` when it can. Storage keeps
    /// whatever arrives, as S3 does; the probe runs once per PUT, since the
    /// bytes only change with the next PUT, so a job refuses them at once.
    pub unusable: Option<crate::domain::image_probe::ProbeError>,
}

/// A file announced through `POST /upload`.
#[derive(Debug, Clone)]
pub struct StoredFile {
    /// `sku_…`.
    pub id: FileId,
    /// Owner.
    pub owner: TenantId,
    /// The name the client gave.
    pub filename: String,
    /// The content type the PUT must carry.
    pub content_type: &'static str,
    /// The project it was uploaded into, if any: (id, name).
    pub project: Option<(ProjectId, String)>,
    /// When `POST /upload` was called.
    pub created_at: Instant,
    /// Until when the upload URL is valid.
    pub upload_expires_at: Instant,
    /// The bytes, once a PUT succeeded; `None` marks a file whose bytes
    /// never arrived.
    pub blob: Option<Blob>,
}

/// What a ZIP download link gives access to.
#[derive(Debug, Clone)]
pub struct DownloadGrant {
    /// The account the jobs belong to: only its jobs may be named.
    pub owner: TenantId,
    /// The jobs whose results the ZIP holds.
    pub jobs: Vec<JobId>,
    /// When the link stops working (injected clock).
    pub expires_at: Instant,
}
