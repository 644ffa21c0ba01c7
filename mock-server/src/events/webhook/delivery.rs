//! One notification on its way to one webhook: the delivery, its status,
//! its attempts, and what the sender is handed.

use bytes::Bytes;
use serde::Serialize;

use crate::clock::Instant;
use crate::domain::ids::TenantId;
use crate::scenarios::WebhookFault;

/// Ends a delivery whose webhook was removed.
pub(super) fn fail_unregistered(d: &mut Delivery, now: Instant) {
    d.status = DeliveryStatus::Failed;
    d.next_attempt_at = None;
    d.attempts.push(Attempt {
        at: now,
        status_code: None,
        latency_ms: 0,
        error: Some("webhook removed".into()),
    });
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt (or for an earlier delivery of its job).
    Pending,
    /// An attempt is on the wire.
    InFlight,
    /// A 2xx came back.
    Delivered,
    /// Every attempt failed.
    Failed,
    /// Never sent: its account had more deliveries unfinished than
    /// `--webhook-max-pending`, and it was the oldest pending one.
    Dropped,
}

impl DeliveryStatus {
    /// Whether nothing more will happen to it (unless redelivered).
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Delivered | Self::Failed | Self::Dropped)
    }
}

/// One attempt's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    /// When it started (injected clock).
    pub at: Instant,
    /// The receiver's status, when it answered.
    pub status_code: Option<u16>,
    /// Wall-clock time from send to answer or failure.
    pub latency_ms: u64,
    /// Why it failed, when it did (timeout, connection refused, non-2xx).
    pub error: Option<String>,
}

/// One notification on its way to one webhook.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// Delivery id (also sent as `X-Webhook-Delivery`).
    pub id: u64,
    /// The account.
    pub account: TenantId,
    /// The URL of the latest attempt.
    pub url: String,
    /// Notification name (`X-Webhook-Event`).
    pub event: &'static str,
    /// The notification's id.
    pub notification_id: u64,
    /// Deliveries with the same key go out in order (a job id).
    pub key: String,
    /// The exact body.
    #[serde(skip)]
    pub body: Bytes,
    /// Status.
    pub status: DeliveryStatus,
    /// Every attempt so far.
    pub attempts: Vec<Attempt>,
    /// When the next attempt is due.
    pub next_attempt_at: Option<Instant>,
    /// When it was enqueued.
    pub created_at: Instant,
    /// A scenario's webhook fault, if the delivery runs under one.
    #[serde(skip)]
    pub fault: Option<WebhookFault>,
}

/// A delivery to send now.
#[derive(Debug, Clone)]
pub struct Send {
    /// Delivery id.
    pub id: u64,
    /// Target.
    pub url: String,
    /// Signing secret (the registration's current one).
    pub secret: String,
    /// Event name.
    pub event: &'static str,
    /// Body bytes.
    pub body: Bytes,
    /// When set, the attempt is not sent: it fails as the scenario says.
    pub simulated: Option<Attempt>,
    /// The book's generation when it was taken (a reset starts a new one).
    pub generation: u64,
}
