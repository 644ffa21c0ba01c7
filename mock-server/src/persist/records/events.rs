//! Notifications, webhook registrations and deliveries.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::Instant;
use crate::domain::ids::TenantId;
use crate::events::log::Notification;
use crate::events::webhook::{Attempt, Delivery, DeliveryStatus, Registration};
use crate::scenarios::WebhookFault;

use super::{at, intern, ms};

/// A notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationRecord {
    id: u64,
    /// Owner.
    pub owner: TenantId,
    name: String,
    timestamp: f64,
    data: Value,
    at: i64,
    published: i64,
}

impl From<&Notification> for NotificationRecord {
    fn from(n: &Notification) -> Self {
        Self {
            id: n.id,
            owner: n.owner.clone(),
            name: n.name.to_owned(),
            timestamp: n.timestamp,
            data: n.data.clone(),
            at: ms(n.at),
            published: ms(n.published),
        }
    }
}

impl From<NotificationRecord> for Notification {
    fn from(r: NotificationRecord) -> Self {
        Self {
            id: r.id,
            name: intern(&r.name),
            timestamp: r.timestamp,
            data: r.data,
            owner: r.owner,
            at: at(r.at),
            published: at(r.published),
            wire_text: std::sync::OnceLock::new(),
        }
    }
}

/// A webhook registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationRecord {
    id: String,
    url: String,
    secret: String,
    is_active: bool,
    created_at: i64,
    updated_at: i64,
    last_response_status: Option<u16>,
    last_response_at: Option<i64>,
}

impl From<&Registration> for RegistrationRecord {
    fn from(r: &Registration) -> Self {
        Self {
            id: r.id.clone(),
            url: r.url.clone(),
            secret: r.secret.clone(),
            is_active: r.is_active,
            created_at: ms(r.created_at),
            updated_at: ms(r.updated_at),
            last_response_status: r.last_response_status,
            last_response_at: r.last_response_at.map(ms),
        }
    }
}

impl From<RegistrationRecord> for Registration {
    fn from(r: RegistrationRecord) -> Self {
        Self {
            id: r.id,
            url: r.url,
            secret: r.secret,
            is_active: r.is_active,
            created_at: at(r.created_at),
            updated_at: at(r.updated_at),
            last_response_status: r.last_response_status,
            last_response_at: r.last_response_at.map(at),
        }
    }
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct AttemptRecord {
    at: i64,
    status_code: Option<u16>,
    latency_ms: u64,
    error: Option<String>,
}

/// A webhook delivery and its attempts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    id: u64,
    account: TenantId,
    url: String,
    event: String,
    notification_id: u64,
    key: String,
    /// The exact body (JSON text).
    body: String,
    status: DeliveryStatus,
    attempts: Vec<AttemptRecord>,
    next_attempt_at: Option<i64>,
    created_at: i64,
    fault: Option<WebhookFault>,
}

impl From<&Delivery> for DeliveryRecord {
    fn from(d: &Delivery) -> Self {
        Self {
            id: d.id,
            account: d.account.clone(),
            url: d.url.clone(),
            event: d.event.to_owned(),
            notification_id: d.notification_id,
            key: d.key.clone(),
            body: String::from_utf8_lossy(&d.body).into_owned(),
            status: d.status,
            attempts: d
                .attempts
                .iter()
                .map(|a| AttemptRecord {
                    at: ms(a.at),
                    status_code: a.status_code,
                    latency_ms: a.latency_ms,
                    error: a.error.clone(),
                })
                .collect(),
            next_attempt_at: d.next_attempt_at.map(ms),
            created_at: ms(d.created_at),
            fault: d.fault.clone(),
        }
    }
}

impl DeliveryRecord {
    /// The delivery as the book holds it. One that was on the wire when
    /// the process ended is pending again, due at `now` (its attempt's
    /// outcome was never recorded): the receiver may see it twice, which
    /// `X-Webhook-Delivery` lets it notice.
    pub fn delivery(self, now: Instant) -> Delivery {
        let in_flight = self.status == DeliveryStatus::InFlight;
        Delivery {
            id: self.id,
            account: self.account,
            url: self.url,
            event: intern(&self.event),
            notification_id: self.notification_id,
            key: self.key,
            body: Bytes::from(self.body),
            status: if in_flight {
                DeliveryStatus::Pending
            } else {
                self.status
            },
            attempts: self
                .attempts
                .into_iter()
                .map(|a| Attempt {
                    at: at(a.at),
                    status_code: a.status_code,
                    latency_ms: a.latency_ms,
                    error: a.error,
                })
                .collect(),
            next_attempt_at: if in_flight {
                Some(now)
            } else {
                self.next_attempt_at.map(at)
            },
            created_at: at(self.created_at),
            fault: self.fault,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::records::{round_trip, t};

    #[test]
    fn notifications_and_deliveries_round_trip_and_one_in_flight_is_due_again() {
        let n = Notification {
            id: 42,
            name: "batch_edit",
            timestamp: 1_767_225_600.123,
            data: serde_json::json!({ "id_task": "job_1", "progress": 33.3 }),
            owner: TenantId::from_client("acct_1"),
            at: t(1_767_225_600_123),
            published: t(1_767_225_700_000),
            wire_text: std::sync::OnceLock::new(),
        };
        let back: Notification = round_trip(&NotificationRecord::from(&n)).into();
        assert_eq!(back, n);
        assert_eq!(back.wire_json(), n.wire_json(), "the same bytes on the wire");
        let d = Delivery {
            id: 7,
            account: TenantId::from_client("acct_1"),
            url: "http://127.0.0.1:1/hook".into(),
            event: "batch_edit",
            notification_id: 42,
            key: "job_1".into(),
            body: Bytes::from(n.wire_json().as_bytes().to_vec()),
            status: DeliveryStatus::InFlight,
            attempts: vec![Attempt {
                at: t(5),
                status_code: Some(503),
                latency_ms: 3,
                error: Some("HTTP 503".into()),
            }],
            next_attempt_at: None,
            created_at: t(4),
            fault: Some(WebhookFault {
                fail_attempts: 3,
                mode: crate::scenarios::WebhookFaultMode::Timeout,
                status: 503,
            }),
        };
        let now = t(99);
        let back = round_trip(&DeliveryRecord::from(&d)).delivery(now);
        assert_eq!(
            back.status,
            DeliveryStatus::Pending,
            "in flight at the crash: due again"
        );
        assert_eq!(back.next_attempt_at, Some(now));
        assert_eq!(
            (back.body, back.attempts, back.fault),
            (d.body.clone(), d.attempts.clone(), d.fault.clone())
        );
        let done = Delivery {
            status: DeliveryStatus::Delivered,
            ..d
        };
        let back = round_trip(&DeliveryRecord::from(&done)).delivery(now);
        assert_eq!((back.status, back.next_attempt_at), (DeliveryStatus::Delivered, None));
        let reg = Registration {
            id: "wh_1".into(),
            url: "http://x/hook".into(),
            secret: "whsec_1".into(),
            is_active: true,
            created_at: t(1),
            updated_at: t(2),
            last_response_status: Some(204),
            last_response_at: Some(t(3)),
        };
        let back: Registration = round_trip(&RegistrationRecord::from(&reg)).into();
        assert_eq!(RegistrationRecord::from(&back), RegistrationRecord::from(&reg));
    }
}
