//! Draining the clock: `POST /__admin/clock {"until_idle": true}` runs
//! every job event and webhook attempt still to come, jumping the clock to
//! each next one in turn, until nothing is pending (or a cap is reached).
//!
//! Moving the clock by hand cannot do this in one call: a retry is
//! scheduled from the failed attempt's start, so one jump fires one attempt
//! per job and the next retry lands after the new "now" (a webhook outage
//! took twelve `{"advance": "1h"}` calls to drain one job's deliveries).
//! Here each jump goes exactly to the next due time, and waits for the
//! attempts it put on the wire to come back before looking again.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;

use crate::clock::Instant;
use crate::domain::ids::{JobId, TenantId};
use crate::durable::Dirty;
use crate::engine::schedule::Event;
use crate::jobs::{catch_up, next_due};
use crate::state::AppState;

/// Jumps a drain makes at most unless told otherwise: a job's events and
/// its deliveries' retries are finite, so a fake with thousands of jobs
/// still ends well before it.
pub const DEFAULT_MAX_STEPS: u32 = 10_000;

/// What a drain ran, in the order it happened.
#[derive(Debug, Serialize)]
pub struct Drained {
    /// Nothing is pending any more (`false`: the cap stopped it).
    pub idle: bool,
    /// Clock jumps made (each to the next due event).
    pub steps: u32,
    /// Every job event applied.
    pub job_events: Vec<JobEventRun>,
    /// Every webhook attempt made.
    pub webhook_attempts: Vec<AttemptRun>,
}

/// One job event a drain applied.
#[derive(Debug, Serialize)]
pub struct JobEventRun {
    /// The job.
    pub job_id: JobId,
    /// When it was due (injected clock).
    pub at: Instant,
    /// What happened (as in the job's schedule).
    #[serde(flatten)]
    pub event: Event,
}

/// One webhook attempt a drain made.
#[derive(Debug, Serialize)]
pub struct AttemptRun {
    /// The delivery (`X-Webhook-Delivery`).
    pub delivery_id: u64,
    /// Its account.
    pub account: TenantId,
    /// The notification (`X-Webhook-Event`).
    pub event: &'static str,
    /// When the attempt started (injected clock).
    pub at: Instant,
    /// The receiver's answer, if it answered.
    pub status_code: Option<u16>,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// Runs everything due, then jumps to the next due time and again, until
/// nothing is pending or `max_steps` jumps were made.
pub async fn until_idle(state: &AppState, max_steps: u32) -> Drained {
    let attempts_before: HashMap<u64, usize> = state
        .webhooks
        .deliveries(None)
        .iter()
        .map(|d| (d.id, d.attempts.len()))
        .collect();
    let mut job_events = Vec::new();
    let mut steps = 0;
    let idle = loop {
        job_events.extend(catch_up(state).into_iter().map(|a| JobEventRun {
            job_id: a.job.id.clone(),
            at: a.event.at,
            event: a.event.event,
        }));
        state.settle().await;
        // An attempt on the wire schedules its retry (or the next delivery
        // of its job) when it comes back: wait for it before looking. Each
        // is bounded by --webhook-timeout; the margin covers the task.
        let wait = state.settings.webhook_timeout + Duration::from_secs(5);
        let _ = tokio::time::timeout(wait, state.shutdown.webhooks_idle()).await;
        let Some(at) = next_due(state) else {
            break true;
        };
        if steps >= max_steps {
            break false;
        }
        steps += 1;
        if at > state.now() {
            state.clock.set(at);
            state.mark(Dirty::Clock);
        }
    };
    let mut webhook_attempts: Vec<AttemptRun> = state
        .webhooks
        .deliveries(None)
        .into_iter()
        .flat_map(|d| {
            let skip = attempts_before.get(&d.id).copied().unwrap_or(0);
            d.attempts
                .into_iter()
                .skip(skip)
                .map(|a| AttemptRun {
                    delivery_id: d.id,
                    account: d.account.clone(),
                    event: d.event,
                    at: a.at,
                    status_code: a.status_code,
                    error: a.error,
                })
                .collect::<Vec<_>>()
        })
        .collect();
    webhook_attempts.sort_by_key(|a| (a.at, a.delivery_id));
    // Read before: what the jumps made expire goes now, as after any move.
    crate::eviction::sweep_now(state);
    Drained {
        idle,
        steps,
        job_events,
        webhook_attempts,
    }
}
