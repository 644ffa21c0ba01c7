//! The application state: a cheap `Clone` of one `Arc`, holding the
//! settings and every collaborator (clock, IDs, store, tokens, signer).

use std::ops::Deref;
use std::sync::{Arc, Weak};

use dashmap::DashMap;
use tokio::sync::Notify;

use crate::clock::{Clock, Instant};
use crate::config::Config;
use crate::domain::account::Account;
use crate::domain::ids::IdGen;
use crate::durable::{Dirty, Durable, Op};
use crate::engine::Engine;
use crate::events::publisher::Publisher;
use crate::events::webhook::Webhooks;
use crate::links::Links;
use crate::scenarios::catalogue::Catalogue;
use crate::scenarios::endpoint::CallCounters;
use crate::storage::fixtures::{AccountFixture, AccountsFile, GalleryFile};
use crate::storage::presign::Signer;
use crate::storage::records::{DownloadGrant, Tenant};
use crate::storage::store::Store;
use crate::storage::tokens::{Grant, GrantKind, Tokens};

mod inspect;
mod settings;

pub use settings::Settings;

/// Everything the handlers share.
#[derive(Debug)]
pub struct Shared {
    /// What the core reads of the flags, taken once from the `Config`.
    pub(crate) settings: Settings,
    /// The injected clock.
    pub(crate) clock: Arc<dyn Clock>,
    /// ID and secret generator.
    pub(crate) ids: IdGen,
    /// Stored objects.
    pub(crate) store: Store,
    /// Tokens and logins.
    pub(crate) tokens: Tokens,
    /// Pre-signed URL signer.
    pub(crate) signer: Signer,
    /// The fixture accounts, reloaded on reset.
    pub(crate) fixtures: AccountsFile,
    /// Jobs.
    pub(crate) engine: Engine,
    /// ZIP download links, by their token's digest.
    pub(crate) downloads: DashMap<crate::domain::secret::SecretDigest, DownloadGrant>,
    /// Wakes the background ticker when a job is added.
    pub(crate) ticker: Notify,
    /// Webhook registrations and deliveries.
    pub(crate) webhooks: Webhooks,
    /// The HTTP client that delivers webhooks ([`crate::deliver`]).
    pub(crate) http: reqwest::Client,
    /// One permit per webhook attempt on the wire (`--webhook-max-in-flight`).
    pub(crate) webhook_slots: Arc<tokio::sync::Semaphore>,
    /// Numbers notifications, and the section they are published in.
    pub(crate) publisher: Publisher,
    /// Renders running at once: one per CPU.
    pub(crate) render_permits: Arc<tokio::sync::Semaphore>,
    /// QA scenarios and who runs under which.
    pub(crate) scenarios: Catalogue,
    /// Endpoint-fault call counters.
    pub(crate) call_counters: CallCounters,
    /// The scenario catalogue as loaded at start (embedded and
    /// `--fixtures`); a reset restores it.
    pub(crate) loaded_scenarios: Vec<crate::scenarios::Scenario>,
    /// The request journal.
    pub(crate) journal: crate::journal::Journal,
    /// Counts resets; open SSE streams end on a change.
    pub(crate) resets: tokio::sync::watch::Sender<u64>,
    /// When expired data was last swept (injected clock), so the ticker
    /// sweeps at most once a minute.
    pub(crate) sweeps: crate::eviction::timer::SweepTimer,
    /// Whether a graceful shutdown began; the webhook attempts it waits for.
    pub(crate) shutdown: crate::shutdown::Shutdown,
    /// The address the fake listens on (set when it starts serving), so a
    /// webhook URL pointing at the fake itself can be refused.
    pub(crate) listen_addr: std::sync::OnceLock<std::net::SocketAddr>,
    /// Where changes are kept: [`crate::durable::InMemory`] unless
    /// `--data-dir` gives the redb store ([`crate::persist`]).
    pub(crate) durable: Arc<dyn Durable>,
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
    /// Builds the state for `cfg` on `clock`, serving under `public_url`,
    /// keeping changes in what `durable` makes of the state (it may hold the
    /// state weakly, so the state still drops when the last handle goes),
    /// and loads the scenario files. The accounts come next:
    /// [`AppState::seed_fixtures`]. `app.rs` chooses the adapter
    /// ([`AppState::new`]).
    pub fn assemble(
        cfg: &Config,
        public_url: String,
        clock: Arc<dyn Clock>,
        durable: impl FnOnce(Weak<Shared>) -> Result<Arc<dyn Durable>, String>,
    ) -> Result<Self, String> {
        if !(cfg.time_scale.is_finite() && (0.0..=1000.0).contains(&cfg.time_scale)) {
            return Err("--time-scale must be a number from 0 to 1000".into());
        }
        let settings = Settings::new(cfg, &public_url);
        let source = cfg.fixture_source()?;
        let (fixtures, _) = AccountsFile::load(&source)?;
        let gallery = GalleryFile::load(&source)?;
        let loaded_scenarios = crate::scenarios::catalogue::load(&source)?;
        let http = crate::deliver::client::client(cfg)?;
        let mut durable = Some(durable);
        let mut opened = Ok(());
        // Cyclic: the data-dir writer reads the state it writes.
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
            webhooks: Webhooks::with_max_pending(cfg.webhook_max_pending as usize),
            http,
            webhook_slots: Arc::new(tokio::sync::Semaphore::new(cfg.webhook_max_in_flight as usize)),
            publisher: Publisher::default(),
            render_permits: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
            )),
            scenarios: Catalogue::default(),
            call_counters: CallCounters::default(),
            loaded_scenarios,
            journal: crate::journal::Journal::default(),
            resets: tokio::sync::watch::Sender::new(0),
            sweeps: crate::eviction::timer::SweepTimer::default(),
            shutdown: crate::shutdown::Shutdown::default(),
            listen_addr: std::sync::OnceLock::new(),
            durable: durable
                .take()
                .map_or_else(|| Ok(crate::durable::in_memory()), |make| make(shared.clone()))
                .unwrap_or_else(|e| {
                    opened = Err(e);
                    crate::durable::in_memory()
                }),
        }));
        opened?;
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
        Ok(state)
    }

    /// Loads the fixture accounts. `loaded`: the state was loaded from a
    /// data dir, so only accounts added to the fixtures since join.
    pub fn seed_fixtures(&self, loaded: bool) {
        let state = self;
        if loaded {
            // Accounts added to the fixtures since the data dir was written
            // join; the others keep what the data dir holds.
            for f in &state.fixtures.accounts {
                let kept = state.store.tenants().into_iter().find(|t| {
                    t.account
                        .email
                        .as_deref()
                        .is_some_and(|e| e.eq_ignore_ascii_case(&f.email))
                });
                if let Some(t) = kept {
                    // A scenario set for the tenant through the control API wins.
                    if t.data.lock().settings.scenario.is_none() {
                        state.scenarios.set_for_token(&f.api_token, f.scenario.clone());
                    }
                } else {
                    state.add_fixture(f);
                }
            }
        } else {
            state.load_fixtures();
        }
    }

    /// The current time.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Forgets all data and tokens and reloads the fixture accounts; IDs
    /// start over. The gallery stays as loaded (nothing changes it). The
    /// clock is left where it is. With `--data-dir` the database is emptied
    /// in the same order, in the publisher's exclusive section, so no change
    /// from before the reset lands after it.
    pub fn reset(&self) {
        let section = self.publisher.exclusive();
        let _batch = self.durable.exclusive();
        self.store.clear();
        self.tokens.clear();
        self.engine.clear();
        self.downloads.clear();
        self.webhooks.clear();
        self.publisher.restart(&section);
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
        let tenant = Arc::new(Tenant::new(f.account(self.ids.next())));
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
        self.mark(Dirty::Bearer(crate::domain::secret::SecretDigest::of(&f.api_token)));
    }

    /// With `--data-dir`, waits until every change queued so far is durable
    /// and so visible (notifications are appended to the logs only then):
    /// for a handler that applied due events and then reads a log.
    pub async fn settle(&self) {
        // A failure is the middleware's to report (503).
        let _ = self.durable.flush().await;
    }

    /// Queues `ops` for `--data-dir` (nothing without it); the current
    /// request answers once they are durable.
    pub fn save(&self, ops: Vec<Op>) {
        self.durable.submit(ops, None);
    }

    /// Records that `d` changed, for `--data-dir` (nothing without it).
    pub fn mark(&self, d: Dirty) {
        self.durable.mark(d);
    }

    /// A fresh tenant for an unknown token under `--any-token`.
    pub fn new_anonymous_tenant(&self) -> Arc<Tenant> {
        let tenant = Arc::new(Tenant::new(Account::anonymous(self.ids.next())));
        self.store.add_tenant(tenant.clone());
        tenant
    }

    /// The base of the URLs handed out now: the request's own when URLs
    /// follow the request ([`crate::public_base`]), else `--public-url` or
    /// the bound address.
    pub fn public_base(&self) -> std::borrow::Cow<'_, str> {
        crate::public_base::current().map_or(std::borrow::Cow::Borrowed(&*self.settings.public_url), Into::into)
    }

    /// The links handed out now: under [`AppState::public_base`], signed
    /// with the current key, download links valid for `--download-url-ttl`.
    pub fn links(&self) -> Links<'_> {
        self.links_under(self.public_base())
    }

    /// The links of `job`'s notifications: under the base of the request
    /// that created it (they go to whoever follows the job, not to the
    /// request that happens to catch it up), else `--public-url`.
    pub fn job_links<'a>(&'a self, job: &'a crate::engine::job::Job) -> Links<'a> {
        self.links_under(job.public_base.as_deref().unwrap_or(&self.settings.public_url))
    }

    fn links_under<'a>(&'a self, base: impl Into<std::borrow::Cow<'a, str>>) -> Links<'a> {
        Links::new(&self.signer, base, self.now(), self.settings.download_url_ttl)
    }
}
