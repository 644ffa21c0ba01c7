//! Graceful shutdown. On SIGTERM or SIGINT (or the future a test passes to
//! [`crate::app::serve_until`]) the server stops accepting, applies the job
//! events due by now (with `--data-dir`, until they are durable and so
//! announced), ends open SSE streams once they have sent what is in their
//! log (a clean end of body), lets in-flight requests finish, sends the
//! webhook deliveries that were due and waits for their attempts, then
//! commits what is left and closes the data dir: all within
//! `--shutdown-grace`; then the process exits 0.

use std::sync::Arc;

use tokio::sync::watch;

pub mod drain;

/// The server's side of a shutdown: whether it began, and how many webhook
/// attempts are on the wire.
#[derive(Debug)]
pub struct Shutdown {
    began: watch::Sender<bool>,
    /// Set by the drain's last catch-up, in the publisher's section: no job
    /// event is applied after it, so every SSE stream ends with exactly
    /// what the saved log holds.
    events_frozen: std::sync::atomic::AtomicBool,
    in_flight: Arc<watch::Sender<usize>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self {
            began: watch::Sender::new(false),
            events_frozen: std::sync::atomic::AtomicBool::new(false),
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
    /// Stops job events from being applied (the drain, once it applied
    /// those due).
    pub fn freeze_events(&self) {
        self.events_frozen.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether job events are no longer applied.
    pub fn events_frozen(&self) -> bool {
        self.events_frozen.load(std::sync::atomic::Ordering::SeqCst)
    }

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
