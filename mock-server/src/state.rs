//! The application state: a cheap `Clone` of one `Arc`, holding the
//! settings and every collaborator (clock, IDs, store, tokens, signer).

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use dashmap::DashMap;
use tokio::sync::Notify;

use crate::clock::{Clock, Instant, ManualClock, SystemClock};
use crate::config::{ClockMode, Config};
use crate::domain::ids::IdGen;
use crate::domain::ids::{JobId, TenantId};
use crate::engine::job::{Job, NewJob};
use crate::engine::{Applied, Engine};
use crate::error::{ApiError, FieldError, Position};
use crate::storage::fixtures::AccountsFile;
use crate::storage::presign::Signer;
use crate::storage::records::{Account, Tenant};
use crate::storage::store::Store;
use crate::storage::tokens::{Grant, GrantKind, Tokens};

/// Settings fixed at start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base of every URL handed out, without a trailing slash.
    pub public_url: String,
    /// `--any-token`.
    pub any_token: bool,
    /// `--seed`.
    pub seed: u64,
    /// `--time-scale`.
    pub time_scale: f64,
    /// Pre-signed upload URL lifetime.
    pub upload_url_ttl: Duration,
    /// Download link lifetime.
    pub download_url_ttl: Duration,
    /// Access token lifetime.
    pub access_token_ttl: Duration,
    /// Refresh token lifetime.
    pub refresh_token_ttl: Duration,
    /// Job creations per account per minute; 0 = unlimited.
    pub job_rate_limit: u32,
    /// ZIP link lifetime.
    pub zip_link_ttl: Duration,
    /// Largest JSON body.
    pub max_body_bytes: usize,
    /// Largest upload.
    pub max_upload_bytes: usize,
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct Shared {
    /// Settings.
    pub settings: Settings,
    /// The injected clock.
    pub clock: Arc<dyn Clock>,
    /// ID and secret generator.
    pub ids: IdGen,
    /// Stored objects.
    pub store: Store,
    /// Tokens and logins.
    pub tokens: Tokens,
    /// Pre-signed URL signer.
    pub signer: Signer,
    /// The fixture accounts, reloaded on reset.
    pub fixtures: AccountsFile,
    /// Jobs.
    pub engine: Engine,
    /// ZIP download links.
    pub downloads: DashMap<String, DownloadGrant>,
    /// Wakes the background ticker when a job is added.
    pub ticker: Notify,
}

/// What a ZIP download link gives access to.
#[derive(Debug, Clone)]
pub struct DownloadGrant {
    /// Owner of the jobs.
    pub owner: TenantId,
    /// The jobs whose results the ZIP holds.
    pub jobs: Vec<JobId>,
    /// Expiry.
    pub expires_at: Instant,
}

/// The state handed to every handler.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Builds the state for `cfg`, serving under `public_url`, and loads the
    /// fixture accounts.
    pub fn new(cfg: &Config, public_url: String) -> Result<Self, String> {
        let clock: Arc<dyn Clock> = match cfg.clock {
            ClockMode::System => Arc::new(SystemClock::default()),
            ClockMode::Manual => Arc::new(ManualClock::new(cfg.start_time)),
        };
        Self::with_clock(cfg, public_url, clock)
    }

    /// Like [`AppState::new`] with an explicit clock.
    pub fn with_clock(cfg: &Config, public_url: String, clock: Arc<dyn Clock>) -> Result<Self, String> {
        if !(cfg.time_scale.is_finite() && cfg.time_scale >= 0.0) {
            return Err("--time-scale must be a finite number >= 0".into());
        }
        let settings = Settings {
            public_url: public_url.trim_end_matches('/').to_owned(),
            any_token: cfg.any_token,
            seed: cfg.seed,
            time_scale: cfg.time_scale,
            upload_url_ttl: cfg.upload_url_ttl,
            download_url_ttl: cfg.download_url_ttl,
            access_token_ttl: cfg.access_token_ttl,
            refresh_token_ttl: cfg.refresh_token_ttl,
            job_rate_limit: cfg.job_rate_limit,
            zip_link_ttl: cfg.zip_link_ttl,
            max_body_bytes: cfg.max_body_bytes,
            max_upload_bytes: cfg.max_upload_bytes,
        };
        let state = Self(Arc::new(Shared {
            settings,
            clock,
            ids: IdGen::new(cfg.seed),
            store: Store::default(),
            tokens: Tokens::default(),
            signer: Signer::from_seed(cfg.seed),
            fixtures: AccountsFile::load(&cfg.fixtures_dir())?,
            engine: Engine::new(cfg.seed, cfg.time_scale),
            downloads: DashMap::new(),
            ticker: Notify::new(),
        }));
        state.load_fixtures();
        Ok(state)
    }

    /// The current time.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Forgets all data and tokens and reloads the fixture accounts; IDs
    /// start over. The clock is left where it is.
    pub fn reset(&self) {
        self.store.clear();
        self.tokens.clear();
        self.engine.clear();
        self.downloads.clear();
        self.ids.reset();
        self.load_fixtures();
    }

    fn load_fixtures(&self) {
        for f in &self.fixtures.accounts {
            let tenant = Arc::new(Tenant::new(Account::from_fixture(self.ids.next(), f)));
            self.store.add_tenant(tenant.clone());
            self.tokens.add_login(&f.email, tenant.clone());
            self.tokens.add_bearer(
                f.api_token.clone(),
                Grant {
                    tenant,
                    kind: GrantKind::Static,
                    expires_at: None,
                },
            );
        }
    }

    /// A fresh tenant for an unknown token under `--any-token`.
    pub fn new_anonymous_tenant(&self) -> Arc<Tenant> {
        let tenant = Arc::new(Tenant::new(Account::anonymous(self.ids.next())));
        self.store.add_tenant(tenant.clone());
        tenant
    }

    /// Schedules a new job and wakes the ticker.
    pub fn submit_job(&self, n: NewJob) -> Arc<Job> {
        let job = self.engine.submit(n);
        self.run_due();
        self.ticker.notify_one();
        job
    }

    /// Applies every job event due by now.
    pub fn run_due(&self) -> Vec<Applied> {
        self.engine.step(self.now())
    }

    /// The vendor's limit on job creation: `--job-rate-limit` a minute per
    /// account, else 429 with `Retry-After`. Records the creation when allowed.
    pub fn check_job_rate(&self, tenant: &Tenant) -> Result<(), ApiError> {
        let limit = self.settings.job_rate_limit as usize;
        if limit == 0 {
            return Ok(());
        }
        let now = self.now();
        let window_start = now.millis() - 60_000;
        let mut data = tenant.data.lock();
        while data.recent_jobs.front().is_some_and(|t| t.millis() <= window_start) {
            data.recent_jobs.pop_front();
        }
        if data.recent_jobs.len() >= limit {
            let oldest = data.recent_jobs.front().map_or(now.millis(), |t| t.millis());
            let retry = u64::try_from((oldest + 60_000 - now.millis() + 999) / 1000)
                .unwrap_or(1)
                .max(1);
            return Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, "Too many requests")
                .with_detail(FieldError {
                    field: None,
                    message: format!("at most {limit} jobs a minute per account; retry in {retry} s"),
                    position: Position::Body,
                })
                .with_retry_after(retry));
        }
        data.recent_jobs.push_back(now);
        Ok(())
    }

    /// An absolute URL under `--public-url`.
    pub fn public(&self, path: &str) -> String {
        format!("{}{path}", self.settings.public_url)
    }
}
