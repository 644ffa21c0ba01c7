//! The application state: a cheap `Clone` of one `Arc`, holding the
//! settings and every collaborator (clock, IDs, store, tokens, signer).

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use dashmap::DashMap;
use tokio::sync::Notify;

use crate::api::jobs::result_path;
use crate::clock::{Clock, Instant, ManualClock, SystemClock};
use crate::config::{ClockMode, Config};
use crate::domain::ids::IdGen;
use crate::domain::ids::{JobId, TenantId};
use crate::engine::job::{Job, NewJob};
use crate::engine::{Applied, Engine};
use crate::error::{ApiError, FieldError, Position};
use crate::events::log::Notification;
use crate::events::notify;
use crate::events::webhook::Delivery;
use crate::events::webhook::{Attempt, Webhooks, sign};
use crate::scenarios::WebhookFault;
use crate::scenarios::catalogue::Catalogue;
use crate::scenarios::endpoint::CallCounters;
use crate::storage::fixtures::{AccountFixture, AccountsFile, GalleryFile};
use crate::storage::persist::{Dirty, Op, Persist};
use crate::storage::presign::Signer;
use crate::storage::records::{Account, Tenant};
use crate::storage::store::Store;
use crate::storage::tokens::{Grant, GrantKind, Tokens};
use crate::wire::JobHold;

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
    /// `POST /flat-2-model` requests per account per minute; 0 = unlimited.
    pub job_rate_limit: u32,
    /// Whether the job rate limit's 429 carries `Retry-After`.
    pub rate_limit_retry_after: bool,
    /// ZIP link lifetime.
    pub zip_link_ttl: Duration,
    /// SSE keep-alive interval.
    pub sse_keepalive: Duration,
    /// SSE backfill window of a fresh connection.
    pub sse_backfill_window: Duration,
    /// Webhook attempt timeout.
    pub webhook_timeout: Duration,
    /// Largest JSON body.
    pub max_body_bytes: usize,
    /// Largest upload.
    pub max_upload_bytes: usize,
    /// How long a finished job is kept after its last change.
    pub job_ttl: Duration,
    /// How long an uploaded file is kept after `POST /upload`.
    pub file_ttl: Duration,
    /// How long a notification (and a finished webhook delivery) is kept.
    pub notification_ttl: Duration,
    /// How long a graceful shutdown may take.
    pub shutdown_grace: Duration,
    /// `--admin-token`, as its digest: the control API needs it.
    pub admin_token: Option<crate::domain::secret::SecretDigest>,
    /// `--admin-loopback-only`.
    pub admin_loopback_only: bool,
    /// `--cors-origin`: the origins allowed; empty = CORS off.
    pub cors_origins: Vec<String>,
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
    /// ZIP download links, by their token's digest.
    pub downloads: DashMap<crate::domain::secret::SecretDigest, DownloadGrant>,
    /// Wakes the background ticker when a job is added.
    pub ticker: Notify,
    /// Webhook registrations and deliveries.
    pub webhooks: Webhooks,
    /// The HTTP client that delivers webhooks.
    pub http: reqwest::Client,
    /// The last notification id handed out (ids increase server-wide).
    pub notification_seq: AtomicU64,
    /// Renders running at once: one per CPU.
    pub render_permits: Arc<tokio::sync::Semaphore>,
    /// QA scenarios and who runs under which.
    pub scenarios: Catalogue,
    /// Endpoint-fault call counters.
    pub call_counters: CallCounters,
    /// The scenario catalogue as loaded at start (embedded and
    /// `--fixtures`); a reset restores it.
    pub loaded_scenarios: Vec<crate::scenarios::Scenario>,
    /// The request journal.
    pub journal: crate::journal::Journal,
    /// Held while notifications are numbered, logged and queued.
    pub publish_lock: parking_lot::Mutex<()>,
    /// Counts resets; open SSE streams end on a change.
    pub resets: tokio::sync::watch::Sender<u64>,
    /// When expired data was last swept (injected clock), so the ticker
    /// sweeps at most once a minute.
    pub sweeps: crate::storage::eviction::SweepTimer,
    /// Whether a graceful shutdown began; the webhook attempts it waits for.
    pub shutdown: crate::shutdown::Shutdown,
    /// The address the fake listens on (set when it starts serving), so a
    /// webhook URL pointing at the fake itself can be refused.
    pub listen_addr: std::sync::OnceLock<std::net::SocketAddr>,
    /// `--data-dir`: where changes are made durable (`None`: memory only).
    pub persist: Option<Persist>,
}

/// A notification on its way out: to its account's log (unless it is for
/// the webhook only) and, when the account has one, to its webhook.
struct Outgoing {
    log: Option<Arc<Tenant>>,
    notification: Arc<Notification>,
    delivery: Option<Delivery>,
}

impl Outgoing {
    /// Appends and queues; what the caps of the log and the delivery book
    /// pushed out, for `--data-dir` to delete.
    fn show(self, state: &AppState) -> Vec<Op> {
        let mut gone = Vec::new();
        if let Some(tenant) = self.log {
            let dropped = tenant.log.append(self.notification);
            gone.extend(dropped.into_iter().map(Op::NotificationGone));
        }
        if let Some(d) = self.delivery {
            let dropped = state.webhooks.insert(d);
            gone.extend(dropped.into_iter().map(|id| Op::Dirty(Dirty::Delivery(id))));
        }
        gone
    }
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
        if !(cfg.time_scale.is_finite() && (0.0..=1000.0).contains(&cfg.time_scale)) {
            return Err("--time-scale must be a number from 0 to 1000".into());
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
            rate_limit_retry_after: cfg.rate_limit_retry_after,
            zip_link_ttl: cfg.zip_link_ttl,
            sse_keepalive: cfg.sse_keepalive,
            sse_backfill_window: cfg.sse_backfill_window,
            webhook_timeout: cfg.webhook_timeout,
            max_body_bytes: cfg.max_body_bytes,
            max_upload_bytes: cfg.max_upload_bytes,
            job_ttl: cfg.job_ttl,
            file_ttl: cfg.file_ttl,
            notification_ttl: cfg.notification_ttl,
            shutdown_grace: cfg.shutdown_grace,
            admin_token: cfg.admin_token,
            admin_loopback_only: cfg.admin_loopback_only,
            cors_origins: cfg.cors_origin.clone(),
        };
        let source = cfg.fixture_source()?;
        let (fixtures, _) = AccountsFile::load(&source)?;
        let gallery = GalleryFile::load(&source)?;
        let loaded_scenarios = crate::scenarios::catalogue::load(&source)?;
        let http = crate::events::http::client(cfg)?;
        let opened = match &cfg.data_dir {
            Some(dir) => Some(crate::storage::persist::Opened::open(dir, cfg.seed)?),
            None => None,
        };
        // Cyclic: the data-dir writer reads the state it writes (weakly, so
        // the state still drops when the last handle goes).
        let state = Self(Arc::new_cyclic(|shared| Shared {
            settings,
            clock,
            ids: IdGen::new(cfg.seed),
            store: Store::with_gallery(gallery),
            tokens: Tokens::default(),
            signer: Signer::from_seed(cfg.seed),
            fixtures,
            engine: Engine::new(cfg.seed, cfg.time_scale),
            downloads: DashMap::new(),
            ticker: Notify::new(),
            webhooks: Webhooks::default(),
            http,
            notification_seq: AtomicU64::new(0),
            render_permits: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
            )),
            scenarios: Catalogue::default(),
            call_counters: CallCounters::default(),
            loaded_scenarios,
            journal: crate::journal::Journal::default(),
            publish_lock: parking_lot::Mutex::new(()),
            resets: tokio::sync::watch::Sender::new(0),
            sweeps: crate::storage::eviction::SweepTimer::default(),
            shutdown: crate::shutdown::Shutdown::default(),
            listen_addr: std::sync::OnceLock::new(),
            persist: opened.map(|o| o.start(shared.clone())),
        }));
        for s in &state.loaded_scenarios {
            state.scenarios.insert(s.clone());
        }
        for a in &state.fixtures.accounts {
            if let Some(name) = &a.scenario
                && state.scenarios.get(name).is_none()
            {
                return Err(format!(
                    "accounts.json: {} names scenario {name:?}, which is not in the scenario catalogue",
                    a.email
                ));
            }
        }
        if crate::storage::persist::load_into(&state)? {
            // Accounts added to the fixtures since the data dir was written
            // join; the others keep what the data dir holds.
            for f in &state.fixtures.accounts {
                let kept = state.store.tenants().iter().any(|t| {
                    t.account
                        .email
                        .as_deref()
                        .is_some_and(|e| e.eq_ignore_ascii_case(&f.email))
                });
                if kept {
                    state.scenarios.set_for_token(&f.api_token, f.scenario.clone());
                } else {
                    state.add_fixture(f);
                }
            }
        } else {
            state.load_fixtures();
        }
        Ok(state)
    }

    /// The current time.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Forgets all data and tokens and reloads the fixture accounts; IDs
    /// start over. The gallery stays as loaded (nothing changes it). The
    /// clock is left where it is. With `--data-dir` the database is emptied
    /// in the same order, under the publish lock, so no change from before
    /// the reset lands after it.
    pub fn reset(&self) {
        let _publishing = self.publish_lock.lock();
        let _batch = self.persist.as_ref().map(Persist::exclusive);
        self.store.clear();
        self.tokens.clear();
        self.engine.clear();
        self.downloads.clear();
        self.webhooks.clear();
        self.notification_seq.store(0, Ordering::SeqCst);
        self.ids.reset();
        self.signer.rekey(self.ids.epoch());
        self.resets.send_replace(self.ids.epoch());
        self.scenarios.clear();
        self.call_counters.clear();
        self.journal.clear();
        self.save(vec![Op::Clear]);
        for s in &self.loaded_scenarios {
            self.scenarios.insert(s.clone());
        }
        self.load_fixtures();
    }

    fn load_fixtures(&self) {
        for f in &self.fixtures.accounts {
            self.add_fixture(f);
        }
    }

    /// Creates the tenant of fixture account `f`, with its login, static
    /// token and scenario.
    fn add_fixture(&self, f: &AccountFixture) {
        let tenant = Arc::new(Tenant::new(Account::from_fixture(self.ids.next(), f)));
        self.store.add_tenant(tenant.clone());
        self.tokens.add_login(&f.email, tenant.clone());
        if f.scenario.is_some() {
            self.scenarios.set_for_token(&f.api_token, f.scenario.clone());
        }
        let id = tenant.id().clone();
        self.tokens.add_bearer(
            f.api_token.clone(),
            Grant {
                tenant,
                kind: GrantKind::Static,
                expires_at: None,
            },
        );
        self.mark(Dirty::Tenant(id));
        self.mark(Dirty::Bearer(f.api_token.clone()));
    }

    /// With `--data-dir`, waits until every change queued so far is durable
    /// and so visible (notifications are appended to the logs only then):
    /// for a handler that applied due events and then reads a log.
    pub async fn settle(&self) {
        if let Some(p) = &self.persist {
            // A failure is the middleware's to report (503).
            let _ = p.flush().await;
        }
    }

    /// Queues `ops` for `--data-dir` (nothing without it); the current
    /// request answers once they are durable.
    pub fn save(&self, ops: Vec<Op>) {
        if let Some(p) = &self.persist {
            p.submit(ops, None);
        }
    }

    /// Records that `d` changed, for `--data-dir` (nothing without it).
    pub fn mark(&self, d: Dirty) {
        if let Some(p) = &self.persist {
            p.submit(vec![Op::Dirty(d)], None);
        }
    }

    /// A fresh tenant for an unknown token under `--any-token`.
    pub fn new_anonymous_tenant(&self) -> Arc<Tenant> {
        let tenant = Arc::new(Tenant::new(Account::anonymous(self.ids.next())));
        self.store.add_tenant(tenant.clone());
        tenant
    }

    /// Schedules a new job, held until the returned hold is dropped (see
    /// [`crate::wire`]): its first event announces it (`batch_edit`,
    /// pending). `epoch` is the reset count ([`IdGen::epoch`]) when its
    /// identity, project and files were looked up: if a reset came since,
    /// they are gone (and with `--data-dir` the store was emptied), so
    /// nothing is done and `None` comes back.
    pub fn submit_job(&self, mut n: NewJob, epoch: u64) -> Option<(Arc<Job>, JobHold)> {
        let source = std::mem::take(&mut n.source);
        let job = {
            let _guard = self.publish_lock.lock();
            // Under the lock a reset takes too: either the job is queued for
            // the store before the reset's `Clear` (which removes it), or it
            // is refused here.
            if self.ids.epoch() != epoch {
                return None;
            }
            let job = self.engine.submit(n);
            self.save(vec![Op::Job {
                job: job.clone(),
                source,
            }]);
            job
        };
        // Made after the lock is let go: dropping a hold takes it.
        Some((job.clone(), JobHold::new(self.clone(), job)))
    }

    /// Lets a held job's events apply, and applies those due at once (and
    /// wakes the ticker for the rest). Outside the async runtime (a hold
    /// dropped there) the next step applies them.
    pub fn release_job(&self, job: &Arc<Job>) {
        if !self.engine.release(job) {
            return;
        }
        if tokio::runtime::Handle::try_current().is_ok() {
            self.run_due();
        }
        self.ticker.notify_one();
    }

    /// Applies every job event due by now, publishes the notifications they
    /// cause, and sends the webhook deliveries that are due.
    pub fn run_due(&self) -> Vec<Applied> {
        let now = self.now();
        let mut applied = Vec::new();
        if self.engine.next_due().is_some_and(|due| due <= now) {
            // Stepping and publishing under one lock: notifications get their
            // ids, log places and webhook order in the order events happened.
            let guard = self.publish_lock.lock();
            applied = self.engine.step(now);
            let mut out = Vec::new();
            let mut ops = Vec::new();
            for a in &applied {
                if self.persist.is_some() {
                    ops.push(Op::JobApplied(a.job.id.clone(), a.state.applied));
                }
                let urls = |k: usize| {
                    let exp = self.now().plus(self.settings.download_url_ttl);
                    let sign = |kind| {
                        self.signer
                            .url(&self.settings.public_url, "GET", &result_path(&a.job, k, kind), "", exp)
                    };
                    (sign("full"), sign("thumbnail"))
                };
                for (name, data) in notify::for_event(a, urls) {
                    out.extend(self.outgoing(
                        &guard,
                        &a.job.owner,
                        name,
                        data,
                        a.event.at,
                        a.job.webhook_fault(),
                        true,
                    ));
                }
            }
            if !applied.is_empty() {
                self.release(&guard, out, ops);
            }
        }
        self.dispatch_webhooks();
        applied
    }

    /// Appends a notification to `owner`'s log (waking its SSE subscribers)
    /// and queues it for the webhook.
    pub fn publish(
        &self,
        owner: &TenantId,
        name: &'static str,
        data: serde_json::Value,
        at: Instant,
        fault: Option<WebhookFault>,
    ) {
        let guard = self.publish_lock.lock();
        let out = self.outgoing(&guard, owner, name, data, at, fault, true);
        self.release(&guard, out.into_iter().collect(), Vec::new());
    }

    /// Sends a notification to `owner`'s webhook only, not to its log (the
    /// `ping` of a registration, `POST /webhooks/test`); its id, and the
    /// delivery's when the account has a webhook.
    pub fn send_to_webhook(
        &self,
        owner: &TenantId,
        name: &'static str,
        data: serde_json::Value,
        fault: Option<WebhookFault>,
    ) -> (u64, Option<u64>) {
        let guard = self.publish_lock.lock();
        let n = Arc::new(self.notification(owner, name, data, self.now()));
        let ids = (n.id, None);
        let Some(delivery) = self.prepare_webhook(&n, fault) else {
            return ids;
        };
        let ids = (n.id, Some(delivery.id));
        let out = Outgoing {
            log: None,
            notification: n,
            delivery: Some(delivery),
        };
        self.release(&guard, vec![out], Vec::new());
        drop(guard);
        self.dispatch_webhooks();
        ids
    }

    /// A notification for `owner` with the next id, and its webhook
    /// delivery, on their way out (see [`AppState::release`]); `None` when
    /// the tenant is gone. `logged`: it goes to the account's log too.
    #[allow(clippy::too_many_arguments)]
    fn outgoing(
        &self,
        _guard: &parking_lot::MutexGuard<'_, ()>,
        owner: &TenantId,
        name: &'static str,
        data: serde_json::Value,
        at: Instant,
        fault: Option<WebhookFault>,
        logged: bool,
    ) -> Option<Outgoing> {
        let tenant = self.store.tenant(owner)?;
        let notification = Arc::new(self.notification(owner, name, data, at));
        let delivery = self.prepare_webhook(&notification, fault);
        Some(Outgoing {
            log: logged.then_some(tenant),
            notification,
            delivery,
        })
    }

    /// Makes `out` visible: appended to the accounts' logs and queued for
    /// their webhooks, in order. Without `--data-dir` at once; with it once
    /// they are durable, together with `ops` in the same transaction (a job
    /// event and what it announces are stored together or not at all). Called
    /// with the publish lock held, so the store gets changes in the order
    /// they happened.
    fn release(&self, _guard: &parking_lot::MutexGuard<'_, ()>, out: Vec<Outgoing>, mut ops: Vec<Op>) {
        let Some(p) = &self.persist else {
            for o in out {
                o.show(self);
            }
            return;
        };
        for o in &out {
            if o.log.is_some() {
                ops.push(Op::Notification(o.notification.clone()));
            }
            if let Some(d) = &o.delivery {
                ops.push(Op::Delivery(Box::new(d.clone())));
            }
        }
        let state = self.clone();
        // A reset between here and the commit makes these stale: they were
        // cleared from the store, and must not reach the new logs and book.
        let epoch = self.ids.epoch();
        p.submit(
            ops,
            Some(Box::new(move || {
                let gone: Vec<Op> = {
                    let _publishing = state.publish_lock.lock();
                    if state.ids.epoch() != epoch {
                        return;
                    }
                    out.into_iter().flat_map(|o| o.show(&state)).collect()
                };
                if !gone.is_empty() {
                    state.save(gone);
                }
                state.dispatch_webhooks();
            })),
        );
    }

    /// A notification with the next id (not yet appended anywhere).
    pub fn notification(
        &self,
        owner: &TenantId,
        name: &'static str,
        data: serde_json::Value,
        at: Instant,
    ) -> Notification {
        let id = self.notification_seq.fetch_add(1, Ordering::SeqCst) + 1;
        Notification {
            id,
            name,
            timestamp: at.seconds_f64(),
            data,
            owner: owner.clone(),
            at,
            published: self.now(),
            wire_text: std::sync::OnceLock::new(),
        }
    }

    /// The delivery of `n` to its owner's webhook (if any), keyed by its job
    /// so deliveries of one job keep their order; not yet queued.
    fn prepare_webhook(&self, n: &Notification, fault: Option<WebhookFault>) -> Option<Delivery> {
        let body = bytes::Bytes::from(n.wire_json().as_bytes().to_vec());
        let key = n.task().map_or_else(|| format!("n{}", n.id), str::to_owned);
        self.webhooks
            .prepare(&n.owner, n.name, n.id, key, body, fault, self.now())
    }

    /// Sends every webhook delivery due now, each in its own task, so
    /// delivery never blocks the engine or the API. A finished attempt
    /// dispatches again (the next delivery of its job may be waiting).
    pub fn dispatch_webhooks(&self) {
        for send in self.webhooks.take_due(self.now()) {
            if let Some(attempt) = send.simulated {
                self.webhooks.record(send.id, send.generation, attempt, self.now());
                self.mark(Dirty::Delivery(send.id));
                self.ticker.notify_one();
                continue;
            }
            let state = self.clone();
            // Counted while on the wire: a graceful shutdown waits for it.
            let in_flight = self.shutdown.track();
            tokio::spawn(async move {
                let _in_flight = in_flight;
                let at = state.now();
                let started = std::time::Instant::now();
                let request = state
                    .http
                    .post(&send.url)
                    .header("content-type", "application/json")
                    .header("x-webhook-signature", sign(&send.secret, &send.body))
                    .header("x-webhook-event", send.event)
                    .header("x-webhook-delivery", send.id.to_string())
                    .body(send.body.clone())
                    .send();
                let outcome = tokio::time::timeout(state.settings.webhook_timeout, request).await;
                let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                let (status_code, error) = match outcome {
                    Err(_) => (
                        None,
                        Some(format!("timed out after {:?}", state.settings.webhook_timeout)),
                    ),
                    Ok(Err(e)) => (None, Some(crate::events::http::attempt_error(&e))),
                    Ok(Ok(r)) if r.status().is_success() => (Some(r.status().as_u16()), None),
                    Ok(Ok(r)) => (Some(r.status().as_u16()), Some(format!("HTTP {}", r.status().as_u16()))),
                };
                state.webhooks.record(
                    send.id,
                    send.generation,
                    Attempt {
                        at,
                        status_code,
                        latency_ms,
                        error,
                    },
                    state.now(),
                );
                state.mark(Dirty::Delivery(send.id));
                state.dispatch_webhooks();
                state.ticker.notify_one();
            });
        }
    }

    /// When the next job event or webhook attempt is due.
    pub fn next_due(&self) -> Option<Instant> {
        match (self.engine.next_due(), self.webhooks.next_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The vendor's limit on `POST /flat-2-model`: `--job-rate-limit`
    /// requests per account in any 60 s of the injected clock, else 429
    /// (with `Retry-After` unless `--rate-limit-retry-after false`). Records
    /// the request when allowed, whatever becomes of it; a refused one is
    /// not recorded, so a client that keeps knocking is let in once the
    /// oldest request leaves the window, as `Retry-After` says.
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
            let e = ApiError::new(StatusCode::TOO_MANY_REQUESTS).with_detail(FieldError {
                field: None,
                message: format!(
                    "at most {limit} requests a minute per account on POST /flat-2-model; retry in {retry} s"
                ),
                position: Position::Body,
            });
            return Err(if self.settings.rate_limit_retry_after {
                e.with_retry_after(retry)
            } else {
                e
            });
        }
        data.recent_jobs.push_back(now);
        Ok(())
    }

    /// An absolute URL under `--public-url`.
    pub fn public(&self, path: &str) -> String {
        format!("{}{path}", self.settings.public_url)
    }
}
