//! Draining the server on a shutdown, and the signals that start one (the
//! [`super::Shutdown`] collaborator the state owns is below the state; this,
//! which takes the whole state, is above it).

use hyper_util::server::graceful::GracefulShutdown;
use tokio::task::{JoinHandle, JoinSet};

use crate::durable::StoreError;
use crate::state::AppState;

/// The rest of a graceful shutdown, once the listener is closed, in order:
/// 1. the ticker stops, so no event falls due from here on;
/// 2. the job events due by now are applied; from then on only the webhook
///    deliveries due now are sent ([`crate::events::webhook::Webhooks::send_only_due`]);
/// 3. with `--data-dir`, what is queued is committed, so the notifications
///    of those events are in the logs and their deliveries in the book;
/// 4. SSE streams send what their log holds and end; every connection
///    finishes its request in flight (hyper's graceful shutdown: an idle
///    keep-alive connection closes at once); the webhook attempts on the
///    wire end;
/// 5. connections still open are cut, and with `--data-dir` everything
///    queued (the webhook outcomes too) is committed and the data dir closed.
///
/// All of it within `--shutdown-grace`; past it, whatever is still open is
/// cut off, with a warning.
pub async fn drain(
    state: &AppState,
    connections: GracefulShutdown,
    mut tasks: JoinSet<()>,
    ticker: Option<JoinHandle<()>>,
) {
    let grace = state.settings.shutdown_grace;
    let deadline = tokio::time::Instant::now() + grace;
    tracing::info!(
        connections = connections.count(),
        grace = ?grace,
        "shutting down: no new connections; finishing requests in flight"
    );
    if let Some(ticker) = ticker {
        // It stops at its next wait: never halfway through a step.
        ticker.abort();
        let _ = ticker.await;
    }
    let finished = async {
        crate::jobs::catch_up_and_freeze(state);
        {
            // In the section deliveries are made and queued in, so every
            // one the cutoff lets through is queued (and flushed below).
            let _publishing = state.publisher.exclusive();
            state.webhooks.send_only_due(state.now());
        }
        // Before the streams end, so their subscribers still get what the
        // events announce: with `--data-dir` a notification is appended to
        // its log (and its delivery queued) only once committed.
        state.settle().await;
        state.shutdown.begin();
        tokio::join!(connections.shutdown(), state.shutdown.webhooks_idle());
    };
    let drained = tokio::time::timeout_at(deadline, finished).await.is_ok();
    // Connections still open past the grace end with the server rather
    // than outliving it (and storing nothing more).
    tasks.shutdown().await;
    let stored = tokio::time::timeout_at(deadline, state.durable.close())
        .await
        .unwrap_or_else(|_| Err(StoreError("the last commit did not end within the grace".into())));
    match (drained, stored) {
        (true, Ok(())) => tracing::info!("shut down cleanly"),
        (true, Err(e)) => tracing::warn!(error = %e, "shut down, but the data dir was not closed cleanly"),
        (false, stored) => tracing::warn!(
            webhook_attempts = state.shutdown.in_flight(),
            data_dir_closed = stored.is_ok(),
            grace = ?grace,
            "shutdown grace elapsed: connections and webhook attempts still open are cut off"
        ),
    }
}

/// Resolves on the first SIGTERM or SIGINT. The handlers are installed when
/// this is called, not when the future is first polled, so a signal that
/// arrives right after start-up is not lost.
pub fn signal() -> std::io::Result<impl Future<Output = &'static str>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    })
}
