//! Building and serving the app. `main` and the tests share these.

use std::io::Write as _;

use axum::Router;
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

/// Serves `state` on `listener` until the process ends.
pub async fn serve_on(state: AppState, listener: TcpListener) -> std::io::Result<()> {
    axum::serve(listener, app(state)).await
}
