//! Publishing notifications: numbered in the publisher's exclusive section
//! ([`crate::events::publisher`]), appended to the account's log (waking its
//! SSE subscribers) and queued for its webhook, in id order.
//!
//! With `--data-dir` a notification becomes visible only once the change
//! that announces it is committed (`release`), so no client sees one that
//! a crash could take back.

use std::sync::Arc;

use crate::clock::Instant;
use crate::deliver::deliver_due;
use crate::domain::ids::TenantId;
use crate::durable::{Dirty, Op};
use crate::events::log::Notification;
use crate::events::publisher::Section;
use crate::events::webhook::Delivery;
use crate::scenarios::WebhookFault;
use crate::state::AppState;
use crate::storage::records::Tenant;

/// A notification on its way out: to its account's log (unless it is for
/// the webhook only) and, when the account has one, to its webhook.
pub(crate) struct Outgoing {
    log: Option<Arc<Tenant>>,
    notification: Arc<Notification>,
    delivery: Option<Delivery>,
}

impl Outgoing {
    /// Appends and queues; what the caps of the log and the delivery book
    /// pushed out, for `--data-dir` to delete.
    fn show(self, state: &AppState) -> Vec<Op> {
        let mut gone = Vec::new();
        if let Some(tenant) = self.log {
            let dropped = tenant.log.append(self.notification);
            gone.extend(dropped.into_iter().map(Op::NotificationGone));
        }
        if let Some(d) = self.delivery {
            let dropped = state.webhooks.insert(d);
            gone.extend(dropped.into_iter().map(|id| Op::Dirty(Dirty::Delivery(id))));
        }
        gone
    }
}

/// Appends a notification to `owner`'s log (waking its SSE subscribers)
/// and queues it for the webhook.
pub fn publish(
    state: &AppState,
    owner: &TenantId,
    name: &'static str,
    data: serde_json::Value,
    at: Instant,
    fault: Option<WebhookFault>,
) {
    let section = state.publisher.exclusive();
    let out = outgoing(state, &section, owner, name, data, at, fault);
    release(state, &section, out.into_iter().collect(), Vec::new());
}

/// Sends a notification to `owner`'s webhook only, not to its log (the
/// `ping` of a registration, `POST /webhooks/test`); its id, and the
/// delivery's when the account has a webhook.
pub fn send_to_webhook(
    state: &AppState,
    owner: &TenantId,
    name: &'static str,
    data: serde_json::Value,
    fault: Option<WebhookFault>,
) -> (u64, Option<u64>) {
    let section = state.publisher.exclusive();
    let n = Arc::new(
        state
            .publisher
            .number(&section, owner, name, data, state.now(), state.now()),
    );
    let ids = (n.id, None);
    let Some(delivery) = prepare_webhook(state, &n, fault) else {
        return ids;
    };
    let ids = (n.id, Some(delivery.id));
    let out = Outgoing {
        log: None,
        notification: n,
        delivery: Some(delivery),
    };
    release(state, &section, vec![out], Vec::new());
    drop(section);
    deliver_due(state);
    ids
}

/// A notification for `owner` with the next id, and its webhook delivery,
/// on their way to its log and webhook (see [`release`]); `None` when the
/// tenant is gone.
pub(crate) fn outgoing(
    state: &AppState,
    section: &Section<'_>,
    owner: &TenantId,
    name: &'static str,
    data: serde_json::Value,
    at: Instant,
    fault: Option<WebhookFault>,
) -> Option<Outgoing> {
    let tenant = state.store.tenant(owner)?;
    let notification = Arc::new(state.publisher.number(section, owner, name, data, at, state.now()));
    let delivery = prepare_webhook(state, &notification, fault);
    Some(Outgoing {
        log: Some(tenant),
        notification,
        delivery,
    })
}

/// Makes `out` visible: appended to the accounts' logs and queued for
/// their webhooks, in order. In memory at once; with `--data-dir` once
/// they are durable, together with `ops` in the same transaction (a job
/// event and what it announces are stored together or not at all). Called
/// in the exclusive section, so the store gets changes in the order they
/// happened.
pub(crate) fn release(state: &AppState, _section: &Section<'_>, out: Vec<Outgoing>, mut ops: Vec<Op>) {
    if !state.durable.keeps() {
        for o in out {
            o.show(state);
        }
        return;
    }
    for o in &out {
        if o.log.is_some() {
            ops.push(Op::Notification(o.notification.clone()));
        }
        if let Some(d) = &o.delivery {
            ops.push(Op::Delivery(Box::new(d.clone())));
        }
    }
    let handle = state.clone();
    // A reset between here and the commit makes these stale: they were
    // cleared from the store, and must not reach the new logs and book.
    let epoch = state.ids.epoch();
    state.durable.submit(
        ops,
        Some(Box::new(move || {
            let state = handle;
            let gone: Vec<Op> = {
                let _section = state.publisher.exclusive();
                if state.ids.epoch() != epoch {
                    return;
                }
                out.into_iter().flat_map(|o| o.show(&state)).collect()
            };
            if !gone.is_empty() {
                state.save(gone);
            }
            deliver_due(&state);
        })),
    );
}

/// The delivery of `n` to its owner's webhook (if any), keyed by its job
/// so deliveries of one job keep their order; not yet queued.
fn prepare_webhook(state: &AppState, n: &Notification, fault: Option<WebhookFault>) -> Option<Delivery> {
    let body = bytes::Bytes::from(n.wire_json().as_bytes().to_vec());
    let key = n.task().map_or_else(|| format!("n{}", n.id), str::to_owned);
    state
        .webhooks
        .prepare(&n.owner, n.name, n.id, key, body, fault, state.now())
}
