//! Building and serving the app. `main` and the tests share these.

use std::io::Write as _;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::state::AppState;

/// The whole HTTP app: the vendor API and the control API.
pub fn app(state: AppState) -> Router {
    crate::api::router(state)
}

/// Serves `cfg` on an already bound listener; prints `listening on …`.
pub async fn run(cfg: Config, listener: TcpListener) -> Result<(), String> {
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let public = cfg.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    let state = AppState::new(&cfg, public)?;
    // One line on stdout that scripts and tests wait for.
    let mut out = std::io::stdout();
    writeln!(out, "listening on http://{addr}")
        .and_then(|()| out.flush())
        .map_err(|e| e.to_string())?;
    tracing::info!(%addr, seed = cfg.seed, any_token = cfg.any_token, "serving");
    serve_on(state, listener).await.map_err(|e| e.to_string())
}

/// Serves `state` on `listener` until the process ends; on a running clock
/// a background ticker applies job events as they fall due.
///
/// Each connection is served by hyper's HTTP/1.1 connection directly rather
/// than `axum::serve`: an idle connection then holds about 10 KB instead of
/// about 40 KB, which is what lets 10,000 SSE subscribers fit in a small
/// footprint (`bench/report.md`). The header-read timeout keeps a client that
/// never finishes its request line from holding a connection for ever.
pub async fn serve_on(state: AppState, listener: TcpListener) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        let _ = state.listen_addr.set(addr);
    }
    if !state.clock.is_frozen() {
        tokio::spawn(tick(state.clone()));
    }
    let app = app(state);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, or a connection reset before it
                // was accepted: wait a little, never stop serving.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        // Small answers go out at once rather than waiting for more.
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(30))
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
}

/// Applies due job events, sleeping until the next one is due (at most
/// 250 ms, so a clock moved by the control API is noticed) or a job is added;
/// once a minute of clock time it also sweeps out expired data.
async fn tick(state: AppState) {
    loop {
        state.run_due();
        crate::storage::eviction::sweep_if_due(&state);
        let wait = state
            .next_due()
            .map_or(250, |due| (due.millis() - state.now().millis()).clamp(1, 250));
        let wait = std::time::Duration::from_millis(u64::try_from(wait).unwrap_or(250));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = state.ticker.notified() => {}
        }
    }
}
