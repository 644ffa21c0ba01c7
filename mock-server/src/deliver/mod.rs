//! The webhook sender: the one place that puts deliveries on the wire.
//!
//! The delivery book ([`crate::events::webhook`]) decides what is due, in
//! which order, and what a failure means; this module takes what is due,
//! POSTs each in a task of its own (so delivery never blocks the engine or
//! the API), and writes the outcome back to the book. Handlers only queue
//! deliveries and call [`deliver_due`].
//!
//! At most `--webhook-max-in-flight` attempts are on the wire at once: each
//! holds a socket from the same open-file pool the API serves from, and a
//! receiver that never answers holds it for all of `--webhook-timeout`.
//! What is due past that stays pending in the book (where the cap of
//! `--webhook-max-pending` can still drop it) until an attempt ends.

pub mod client;

use crate::durable::Dirty;
use crate::events::webhook::{Attempt, sign};
use crate::state::AppState;

/// Sends the webhook deliveries due now, each in its own task, as many as
/// there are free slots. A finished attempt sends again (the next delivery
/// of its job may be waiting, or one that found no slot).
pub fn deliver_due(state: &AppState) {
    loop {
        let free = state.webhook_slots.available_permits();
        let due = state.webhooks.take_due_at_most(state.now(), free);
        if due.is_empty() {
            return;
        }
        for send in due {
            send_one(state, send);
        }
    }
}

/// Records `send`'s simulated failure at once, or puts it on the wire in a
/// task of its own, holding a slot.
fn send_one(state: &AppState, send: crate::events::webhook::Send) {
    if let Some(attempt) = send.simulated {
        tracing::info!(
            delivery = send.id,
            event = send.event,
            error = attempt.error.as_deref().unwrap_or(""),
            "webhook fault injected"
        );
        state.webhooks.record(send.id, send.generation, attempt, state.now());
        state.mark(Dirty::Delivery(send.id));
        state.ticker.notify_one();
        return;
    }
    let state = state.clone();
    // Counted while on the wire: a graceful shutdown waits for it.
    let in_flight = state.shutdown.track();
    let slot = state.webhook_slots.clone().try_acquire_owned();
    tokio::spawn(async move {
        let _in_flight = in_flight;
        // Taken by another caller between the count and here: this one
        // waits for a slot, holding no socket meanwhile. (The semaphore
        // is never closed.)
        let slot = match slot {
            Ok(slot) => Some(slot),
            Err(_) => state.webhook_slots.clone().acquire_owned().await.ok(),
        };
        let at = state.now();
        let started = std::time::Instant::now();
        let request = state
            .http
            .post(&send.url)
            .header("content-type", "application/json")
            .header("x-webhook-signature", sign(&send.secret, &send.body))
            .header("x-webhook-event", send.event)
            .header("x-webhook-delivery", send.id.to_string())
            .body(send.body.clone())
            .send();
        let outcome = tokio::time::timeout(state.settings.webhook_timeout, request).await;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (status_code, error) = match outcome {
            Err(_) => (
                None,
                Some(format!("timed out after {:?}", state.settings.webhook_timeout)),
            ),
            Ok(Err(e)) => (None, Some(client::attempt_error(&e))),
            Ok(Ok(r)) if r.status().is_success() => (Some(r.status().as_u16()), None),
            Ok(Ok(r)) => (Some(r.status().as_u16()), Some(format!("HTTP {}", r.status().as_u16()))),
        };
        if let Some(e) = &error {
            tracing::warn!(delivery = send.id, event = send.event, error = %e, "webhook delivery attempt failed");
        }
        state.webhooks.record(
            send.id,
            send.generation,
            Attempt {
                at,
                status_code,
                latency_ms,
                error,
            },
            state.now(),
        );
        state.mark(Dirty::Delivery(send.id));
        // The slot is free before looking for what may use it.
        drop(slot);
        deliver_due(&state);
        state.ticker.notify_one();
    });
}
