//! What a tenant owns: account, projects, identities, uploaded files.

use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::HashMap;

use crate::clock::Instant;
use crate::domain::ids::{FileId, IdentityCode, JobId, ProjectId, TenantId, TokenId};
use crate::domain::job_request::SavedDesignValue;
use crate::events::log::AccountLog;
use crate::redact::Redacted;
use crate::storage::fixtures::AccountFixture;

/// The policy that unlocks custom output `width`/`height`.
pub const POLICY_CUSTOM_DIMENSIONS: &str = "OUTPUT_CUSTOM_DIMENSIONS";

/// One account: the unit of isolation. `Debug` hides the password.
#[derive(Clone)]
pub struct Account {
    /// Tenant id.
    pub id: TenantId,
    /// Login e-mail; `None` for `--any-token` tenants, which cannot log in.
    pub email: Option<String>,
    /// Login password.
    pub password: Option<String>,
    /// First name.
    pub name: String,
    /// Last name.
    pub surname: String,
    /// Credits.
    pub credits: i64,
    /// Policies.
    pub policies: Vec<String>,
    /// Saved Design Values.
    pub design_values: Vec<SavedDesignValue>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Destructured so that a new field must be given a place here.
        let Self {
            id,
            email,
            password,
            name,
            surname,
            credits,
            policies,
            design_values,
        } = self;
        f.debug_struct("Account")
            .field("id", id)
            .field("email", email)
            .field("password", &password.as_ref().map(|_| Redacted))
            .field("name", name)
            .field("surname", surname)
            .field("credits", credits)
            .field("policies", policies)
            .field("design_values", design_values)
            .finish()
    }
}

impl Account {
    /// An account from a fixture.
    pub fn from_fixture(id: TenantId, f: &AccountFixture) -> Self {
        Self {
            id,
            email: Some(f.email.clone()),
            password: Some(f.password.clone()),
            name: f.name.clone(),
            surname: f.surname.clone(),
            credits: f.credits,
            policies: f.policies.clone(),
            design_values: f.design_values.clone(),
        }
    }

    /// A fresh `--any-token` account: default policies (none), no saved
    /// Design Values, no login.
    pub fn anonymous(id: TenantId) -> Self {
        Self {
            id,
            email: None,
            password: None,
            name: String::new(),
            surname: String::new(),
            credits: 0,
            policies: Vec::new(),
            design_values: Vec::new(),
        }
    }

    /// Whether the account holds `policy`.
    pub fn has_policy(&self, policy: &str) -> bool {
        self.policies.iter().any(|p| p == policy)
    }

    /// What the account allows for the job request rules that depend on it
    /// (`POST /flat-2-model`, and a job parsed again from `--data-dir`).
    pub fn parse_context(&self) -> crate::domain::job_request::ParseContext<'_> {
        crate::domain::job_request::ParseContext {
            custom_dimensions_allowed: self.has_policy(POLICY_CUSTOM_DIMENSIONS),
            saved_design_values: &self.design_values,
            any_saved_index: false,
        }
    }

    /// The user name shown as `created_by` and in `user.username`.
    pub fn username(&self) -> String {
        self.email.clone().unwrap_or_else(|| self.id.to_string())
    }
}

/// A project.
#[derive(Debug, Clone)]
pub struct Project {
    /// Its id.
    pub id: ProjectId,
    /// Its name, unique in the account.
    pub name: String,
    /// The vendor's `project_key`.
    pub key: String,
    /// Creation time.
    pub created_at: Instant,
}

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

/// An uploaded identity (the model).
#[derive(Debug, Clone)]
pub struct Identity {
    /// `id_…`.
    pub code: IdentityCode,
    /// Owner.
    pub owner: TenantId,
    /// Display name.
    pub name: String,
    /// Optional tag.
    pub tag: Option<String>,
    /// The multipart file name.
    pub original_filename: String,
    /// Detected MIME type.
    pub content_type: &'static str,
    /// The image bytes as uploaded.
    pub bytes: Bytes,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The deterministic face-detection result.
    pub face_detected: bool,
    /// Upload time.
    pub created_at: Instant,
    /// Position in upload order (in the gallery: in `gallery.json`), to
    /// break ties between equal times.
    pub seq: u64,
    /// `Some` for a gallery identity (fixture data every account can use,
    /// public and locked); `None` for an account's own upload.
    pub stock: Option<Stock>,
}

/// What a gallery identity shows beyond an uploaded one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stock {
    /// Shown as `created_by`.
    pub created_by: String,
    /// Shown as `tier`.
    pub tier: String,
    /// Shown as `groups`.
    pub groups: Vec<String>,
}

/// Bytes that arrived through a pre-signed PUT.
#[derive(Debug, Clone)]
pub struct Blob {
    /// The bytes.
    pub bytes: Bytes,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accounts_debug_does_not_show_its_password() {
        let mut a = Account::anonymous(TenantId::from_client("acct_1"));
        a.email = Some("demo@flat2model.test".into());
        a.password = Some("hunter2-secret".into());
        let shown = format!("{a:?}");
        assert!(!shown.contains("hunter2-secret"), "{shown}");
        assert!(
            shown.contains("[redacted]") && shown.contains("demo@flat2model.test"),
            "{shown}"
        );
    }
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
