//! Building and serving the app. `main` and the tests share these.

use std::io::Write as _;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit};
use axum::response::IntoResponse as _;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt as _;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{DefaultOnFailure, TraceLayer};

use std::sync::Arc;

use crate::clock::{Clock, ManualClock, SystemClock};
use crate::config::{ClockMode, Config};
use crate::durable::Durable;
use crate::error::ApiError;
use crate::http::{self, Routes};
use crate::jobs::{catch_up, next_due};
use crate::persist::{Opened, Persist};
use crate::state::AppState;

// The state is assembled here, at the top, because choosing its durability
// adapter names `persist`, which reads the whole state and so sits above it.
impl AppState {
    /// Builds the state for `cfg`, serving under `public_url`: the clock
    /// `--clock` names, the data dir's store with `--data-dir` (loaded from
    /// it), and the fixture accounts.
    pub fn new(cfg: &Config, public_url: String) -> Result<Self, String> {
        let clock: Arc<dyn Clock> = match cfg.clock {
            ClockMode::System => Arc::new(SystemClock::default()),
            ClockMode::Manual => Arc::new(ManualClock::new(cfg.start_time)),
        };
        Self::with_clock(cfg, public_url, clock)
    }

    /// Like [`AppState::new`] with an explicit clock.
    pub fn with_clock(cfg: &Config, public_url: String, clock: Arc<dyn Clock>) -> Result<Self, String> {
        let Some(dir) = &cfg.data_dir else {
            let state = Self::assemble(cfg, public_url, clock, |_| Ok(crate::durable::in_memory()))?;
            state.seed_fixtures(false);
            return Ok(state);
        };
        let mut store: Option<Arc<Persist>> = None;
        let state = Self::assemble(cfg, public_url, clock, |shared| {
            let p = Arc::new(Opened::open(dir, cfg.seed)?.start(shared));
            store = Some(p.clone());
            Ok(p as Arc<dyn Durable>)
        })?;
        let loaded = match &store {
            Some(p) => crate::persist::load_into(p, &state)?,
            None => false,
        };
        state.seed_fixtures(loaded);
        Ok(state)
    }
}

/// Every route of the fake: the vendor API, and the control API behind its
/// guard. The table is what the OpenAPI test compares with
/// `schemas/openapi.yaml`.
pub fn routes(state: &AppState) -> Routes {
    let vendor = crate::api::routes(Routes::default(), state);
    vendor.merge(crate::admin::routes(Routes::default()).guarded(state))
}

/// The whole HTTP app, every layer in order: routes, the API's own 404/405
/// bodies, body limits, panics turned into a 500 in the error envelope, and
/// request tracing. CORS is layered only when switched on, so by default it
/// costs the request path nothing; the control API's guard is a layer of the
/// control routes alone.
pub fn app(state: AppState) -> Router {
    let max_body = state.settings.max_body_bytes;
    let mut router = routes(&state)
        .into_router()
        .fallback(http::not_found)
        .method_not_allowed_fallback(http::method_not_allowed);
    if state.settings.any_token {
        // Inside the wait for durability: a response waits for what
        // keeping or taking back its tenant queued.
        router = router.layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::any_token::settle,
        ));
    }
    if state.durable.keeps() {
        // Innermost: a response waits for its changes to be durable, and
        // the journal records the status actually sent.
        router = router.layer(axum::middleware::from_fn_with_state(
            state.clone(),
            http::middleware::durable::durable,
        ));
    }
    router = router
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn(http::utf8::refuse_undecodable_path))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            http::middleware::scenarios::apply,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            http::middleware::journal::record,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(http::body_budget::BodyBudget::new(
                state.settings.max_body_bytes_in_flight,
                // The most the journal reads of one body.
                state.settings.max_upload_bytes.max(max_body) + 64 * 1024,
                crate::admission::bodies_cap(
                    state.settings.max_bodies_in_flight,
                    crate::admission::connection_cap(state.settings.max_connections),
                ),
            )),
            http::body_budget::admit,
        ));
    // Outside the control API's guard (a route layer of its routes): a
    // preflight carries no credentials, and a browser can read a 401's body
    // only with the CORS headers on it.
    if let Some(cors) = http::cors::layer(&state.settings.cors_origin) {
        router = router.layer(cors);
    }
    // Only when URLs follow the request: otherwise it costs nothing.
    if state.settings.public_from_request {
        router = router.layer(crate::public_base::Layer {
            trust_proxy: state.settings.trust_proxy,
        });
    }
    router
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal("a request handler panicked").into_response()
        }))
        // A 5xx is logged where it is made (a bug of the fake at error, an
        // injected one at info, a bound's once per burst), not a second
        // time here as an ERROR.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        )
        .with_state(state)
}

/// The span of one request in the log (at debug level): its method and URI
/// with credentials redacted, never its headers.
fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %req.method(),
        uri = %crate::redact::uri(req.uri()),
        version = ?req.version(),
    )
}

/// Serves `cfg` on an already bound listener until `shutdown` resolves, then
/// shuts down gracefully; prints `listening on …`.
pub async fn run(cfg: Config, listener: TcpListener, shutdown: impl Future<Output = ()>) -> Result<(), String> {
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let public = cfg.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    let raised = crate::admission::raise_open_file_limit();
    let state = AppState::new(&cfg, public)?;
    // One line on stdout that scripts and tests wait for.
    let mut out = std::io::stdout();
    writeln!(out, "listening on http://{addr}")
        .and_then(|()| out.flush())
        .map_err(|e| e.to_string())?;
    tracing::info!(
        %addr,
        seed = cfg.seed,
        any_token = cfg.any_token,
        admin_token = cfg.admin_token.is_some(),
        admin_loopback_only = cfg.admin_loopback_only,
        cors = !cfg.cors_origin.is_empty(),
        "serving"
    );
    startup_lines(&cfg, &state, addr)?;
    if let Some((before, after)) = raised {
        tracing::info!(before, after, "open-file limit raised to the hard limit");
    }
    serve_until(state, listener, shutdown).await.map_err(|e| e.to_string())
}

/// The start-up lines after `serving`: where the URLs handed out come
/// from, and what was loaded, with the addresses a person tries first.
fn startup_lines(cfg: &Config, state: &AppState, addr: std::net::SocketAddr) -> Result<(), String> {
    // On every interface the bound address (0.0.0.0) is no URL; this
    // machine's loopback is one that works here.
    let shown = if cfg.public_from_request() {
        let from = if cfg.trust_proxy {
            "X-Forwarded-Proto and X-Forwarded-Host (--trust-proxy), else Host"
        } else {
            "each request's Host header"
        };
        tracing::info!(
            "URLs handed out follow {from}: --host {} without --public-url; \
             set --public-url (MOCK_PUBLIC_URL) to fix them",
            cfg.host
        );
        format!("http://127.0.0.1:{}", addr.port())
    } else {
        tracing::info!(public_url = %state.settings.public_url, "URLs handed out start with the public URL");
        state.settings.public_url.clone()
    };
    let source = cfg.fixture_source()?;
    let embedded_accounts = source.is_embedded("accounts.json")?;
    // The compiled-in demo token is public (the README gives it); the
    // tokens of a --fixtures folder's accounts are someone's: never logged.
    let demo_token = match state.fixtures.accounts.first() {
        Some(a) if embedded_accounts => a.api_token.as_str(),
        _ => "(not logged: the accounts are the --fixtures folder's)",
    };
    tracing::info!(
        accounts = state.fixtures.accounts.len(),
        accounts_from = if embedded_accounts { "compiled in" } else { "the --fixtures folder" },
        scenarios = state.loaded_scenarios.len(),
        fixtures = %source.dir().map_or_else(
            || "compiled in".to_owned(),
            |d| format!("compiled in, with {} laid over them", d.display()),
        ),
        demo_token,
        control_api = %format!("{shown}{}/", crate::http::admin_guard::PREFIX),
        openapi = %format!("{shown}{}/openapi.json", crate::http::admin_guard::PREFIX),
        "fixtures loaded"
    );
    Ok(())
}

/// Serves `state` on `listener` until the process ends.
pub async fn serve_on(state: AppState, listener: TcpListener) -> std::io::Result<()> {
    serve_until(state, listener, std::future::pending()).await
}

/// Serves `state` on `listener` until `shutdown` resolves, then shuts down
/// gracefully ([`crate::shutdown::drain::drain`]: with `--data-dir` the store is
/// committed and closed, so another server may open it) and returns. On a
/// running clock a background ticker applies job events as they fall due.
///
/// Each connection is served by hyper's HTTP/1.1 connection directly rather
/// than `axum::serve`: an idle connection then holds about 10 KB instead of
/// about 40 KB, which is what lets 10,000 SSE subscribers fit in a small
/// footprint (`bench/report.md`). The header-read timeout keeps a client that
/// never finishes its request line from holding a connection for ever.
pub async fn serve_until(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        let _ = state.listen_addr.set(addr);
    }
    let ticker = (!state.clock.is_frozen()).then(|| tokio::spawn(tick(state.clone())));
    let app = app(state.clone());
    let connections = GracefulShutdown::new();
    // The connections' tasks, so that those still open past the grace
    // period are ended with the server rather than outliving it.
    let mut tasks = tokio::task::JoinSet::new();
    let body_timeout = state.settings.body_timeout;
    let admission = crate::admission::Admission::new(
        crate::admission::connection_cap(state.settings.max_connections),
        crate::admission::CONNECTIONS,
    );
    let mut accept_failing = false;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => {
                    accept_failing = false;
                    accepted
                }
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it
                    // was accepted: wait a little, never stop serving. Logged
                    // once a streak, not every 50 ms.
                    if !std::mem::replace(&mut accept_failing, true) {
                        tracing::warn!(error = %e, "accept failed; retrying every 50 ms");
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(admitted) = admission.admit() else {
            drop(stream);
            continue;
        };
        // Small answers go out at once rather than waiting for more.
        let _ = stream.set_nodelay(true);
        // The peer's address, for the control API's loopback restriction.
        let service = TowerToHyperService::new(app.clone().map_request(
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.map(|body| http::body_timeout::wrap(body_timeout, body))
            },
        ));
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(std::time::Duration::from_secs(30))
            .serve_connection(crate::wire::Flushed(TokioIo::new(stream)), service);
        let conn = connections.watch(conn);
        while tasks.try_join_next().is_some() {}
        // In a scope where a new job's 202 lets go of the job once written.
        tasks.spawn(crate::wire::scope(async move {
            let _admitted = admitted;
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended");
            }
        }));
    }
    // Closed before anything else: from here on a new connection is refused.
    drop(listener);
    crate::shutdown::drain::drain(&state, connections, tasks, ticker).await;
    Ok(())
}

/// Applies due job events, sleeping until the next one is due (at most
/// 250 ms, so a clock moved by the control API is noticed) or a job is added;
/// once a minute of clock time it also sweeps out expired data.
async fn tick(state: AppState) {
    loop {
        catch_up(&state);
        if crate::eviction::sweep_is_due(&state) {
            crate::eviction::off_the_workers(&state, crate::eviction::sweep_if_due).await;
        }
        let wait = next_due(&state).map_or(250, |due| (due.millis() - state.now().millis()).clamp(1, 250));
        let wait = std::time::Duration::from_millis(u64::try_from(wait).unwrap_or(250));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = state.ticker.notified() => {}
        }
    }
}
