//! Graceful shutdown. On SIGTERM or SIGINT (or the future a test passes to
//! [`crate::app::serve_until`]) the server stops accepting, applies the job
//! events due by now (with `--data-dir`, until they are durable and so
//! announced), ends open SSE streams once they have sent what is in their
//! log (a clean end of body), lets in-flight requests finish, sends the
//! webhook deliveries that were due and waits for their attempts, then
//! commits what is left and closes the data dir: all within
//! `--shutdown-grace`; then the process exits 0.

use std::sync::Arc;

use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::durable::StoreError;
use crate::jobs::catch_up;
use crate::state::AppState;

/// The server's side of a shutdown: whether it began, and how many webhook
/// attempts are on the wire.
#[derive(Debug)]
pub struct Shutdown {
    began: watch::Sender<bool>,
    in_flight: Arc<watch::Sender<usize>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self {
            began: watch::Sender::new(false),
            in_flight: Arc::new(watch::Sender::new(0)),
        }
    }
}

/// Counts one webhook attempt while it lives.
#[derive(Debug)]
pub struct InFlight(Arc<watch::Sender<usize>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

impl Shutdown {
    /// Marks the shutdown as begun: open SSE streams send what their log
    /// holds, then end. Called once the listener is closed, so whoever sees
    /// it also sees new connections refused.
    pub fn begin(&self) {
        self.began.send_replace(true);
    }

    /// Whether the shutdown began.
    pub fn has_begun(&self) -> bool {
        *self.began.borrow()
    }

    /// A receiver that SSE streams (and tests) wait on.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.began.subscribe()
    }

    /// Counts a webhook attempt until the returned guard is dropped.
    pub fn track(&self) -> InFlight {
        self.in_flight.send_modify(|n| *n += 1);
        InFlight(self.in_flight.clone())
    }

    /// How many webhook attempts are on the wire.
    pub fn in_flight(&self) -> usize {
        *self.in_flight.borrow()
    }

    /// Resolves once no webhook attempt is on the wire.
    pub async fn webhooks_idle(&self) {
        let mut rx = self.in_flight.subscribe();
        // The sender lives in `self`, so the channel cannot close meanwhile.
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}

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
        catch_up(state);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_waits_for_every_attempt_to_end() {
        let s = Shutdown::default();
        s.webhooks_idle().await;
        let a = s.track();
        let b = s.track();
        assert_eq!(s.in_flight(), 2);
        drop(a);
        let idle = s.webhooks_idle();
        tokio::pin!(idle);
        assert!(futures_util::poll!(idle.as_mut()).is_pending(), "one attempt left");
        drop(b);
        idle.await;
        assert_eq!(s.in_flight(), 0);
    }

    #[tokio::test]
    async fn a_receiver_made_after_the_shutdown_began_sees_it() {
        let s = Shutdown::default();
        let mut early = s.subscribe();
        assert!(!s.has_begun());
        s.begin();
        assert!(early.wait_for(|b| *b).await.is_ok());
        assert!(s.subscribe().wait_for(|b| *b).await.is_ok());
        assert!(s.has_begun());
    }
}
