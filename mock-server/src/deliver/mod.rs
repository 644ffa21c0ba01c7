//! The webhook sender: the one place that puts deliveries on the wire.
//!
//! The delivery book ([`crate::events::webhook`]) decides what is due, in
//! which order, and what a failure means; this module takes what is due,
//! POSTs each in a task of its own (so delivery never blocks the engine or
//! the API), and writes the outcome back to the book. Handlers only queue
//! deliveries and call [`deliver_due`].

pub mod client;

use crate::durable::Dirty;
use crate::events::webhook::{Attempt, sign};
use crate::state::AppState;

/// Sends every webhook delivery due now, each in its own task. A finished
/// attempt sends again (the next delivery of its job may be waiting).
pub fn deliver_due(state: &AppState) {
    for send in state.webhooks.take_due(state.now()) {
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
            continue;
        }
        let state = state.clone();
        // Counted while on the wire: a graceful shutdown waits for it.
        let in_flight = state.shutdown.track();
        tokio::spawn(async move {
            let _in_flight = in_flight;
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
            deliver_due(&state);
            state.ticker.notify_one();
        });
    }
}
