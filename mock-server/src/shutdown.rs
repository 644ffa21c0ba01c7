//! Graceful shutdown. On SIGTERM or SIGINT (or the future a test passes to
//! [`crate::app::serve_until`]) the server stops accepting, lets in-flight
//! requests finish, ends open SSE streams (a clean end of body), sends the
//! webhook deliveries that are due and waits for their attempts, all within
//! `--shutdown-grace`; then the process exits 0.

use std::sync::Arc;

use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::watch;

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
    /// Marks the shutdown as begun: open SSE streams end. Called once the
    /// listener is closed, so whoever sees it also sees new connections
    /// refused.
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

/// The rest of a graceful shutdown, once the listener is closed: job events
/// and webhook deliveries due by now are applied and sent, SSE streams end,
/// every connection finishes its request in flight (hyper's graceful
/// shutdown: an idle keep-alive connection closes at once), and the webhook
/// attempts on the wire end. At most `--shutdown-grace`; past it, whatever
/// is still open is cut off, with a warning.
pub async fn drain(state: &AppState, connections: GracefulShutdown) {
    let grace = state.settings.shutdown_grace;
    tracing::info!(
        connections = connections.count(),
        grace = ?grace,
        "shutting down: no new connections; finishing requests in flight"
    );
    // Before the streams end, so their subscribers still get what is due.
    state.run_due();
    state.shutdown.begin();
    let finished = async {
        tokio::join!(connections.shutdown(), state.shutdown.webhooks_idle());
    };
    match tokio::time::timeout(grace, finished).await {
        Ok(()) => tracing::info!("shut down cleanly"),
        Err(_) => tracing::warn!(
            webhook_attempts = state.shutdown.in_flight(),
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
