//! Job orchestration, one way: the engine steps, each applied event becomes
//! notifications ([`crate::views::notifications`]), and those are published
//! ([`crate::publish`]); the webhook sender then sends what fell due.
//!
//! Reads are exact on the manual clock because every read of a job, its
//! notifications or its deliveries first calls [`catch_up`]: the engine is
//! evaluated lazily, up to "now", by whoever looks. The background ticker
//! calls the same function on a running clock.

use std::sync::Arc;

use crate::clock::Instant;
use crate::deliver::deliver_due;
use crate::domain::ids::{JobId, TenantId};
use crate::durable::Op;
use crate::engine::Applied;
use crate::engine::job::{Job, NewJob};
use crate::publish::{outgoing, release};
use crate::state::AppState;
use crate::views::notifications;
use crate::wire::JobHold;

/// Schedules a new job, held until the returned hold is dropped (see
/// [`crate::wire`]): its first event announces it (`batch_edit`, pending).
/// `epoch` is the reset count ([`crate::domain::ids::IdGen::epoch`]) when
/// its identity, project and files were looked up: if a reset came since,
/// they are gone (and with `--data-dir` the store was emptied), so nothing
/// is done and `None` comes back.
pub fn submit(state: &AppState, mut n: NewJob, epoch: u64) -> Option<(Arc<Job>, JobHold)> {
    let source = std::mem::take(&mut n.source);
    let job = {
        let _section = state.publisher.exclusive();
        // In the section a reset takes too: either the job is queued for
        // the store before the reset's `Clear` (which removes it), or it is
        // refused here.
        if state.ids.epoch() != epoch {
            return None;
        }
        let job = state.engine.submit(n);
        state.save(vec![Op::Job {
            job: job.clone(),
            source,
        }]);
        job
    };
    // Made after the section ends: dropping a hold enters it.
    Some((job.clone(), JobHold::new(state.clone(), job)))
}

/// The job `id` (of `owner`; any tenant's for the control API), brought up
/// to now. A request that names a job by its id has read the id from the
/// job's 202, so whatever of the job goes out now cannot overtake that 202:
/// a job still held (its 202 written but the connection not yet back to
/// flush it) is let go first. Without this a client that reads its 202 and
/// asks for the job at once could, on a busy machine, find it still
/// `pending` at `--time-scale 0` (the bench smoke did).
pub fn named(state: &AppState, owner: Option<&TenantId>, id: &JobId) -> Option<Arc<Job>> {
    let job = match owner {
        Some(owner) => state.engine.get(owner, id),
        None => state.engine.get_any(id),
    };
    if let Some(job) = &job
        && job.is_held()
    {
        release_held(state, job);
    }
    catch_up(state);
    job
}

/// Lets a held job's events apply, and applies those due at once (and
/// wakes the ticker for the rest). Outside the async runtime (a hold
/// dropped there) the next step applies them.
pub fn release_held(state: &AppState, job: &Arc<Job>) {
    if !state.engine.release(job) {
        return;
    }
    if tokio::runtime::Handle::try_current().is_ok() {
        catch_up(state);
    }
    state.ticker.notify_one();
}

/// Brings every job up to now: applies each event due by now, publishes
/// the notifications they cause, and sends the webhook deliveries that are
/// due. Every read of jobs, notifications or deliveries calls it first.
/// When nothing is due it takes no lock and allocates nothing: it runs on
/// every `GET /jobs/{id}/status`.
pub fn catch_up(state: &AppState) -> Vec<Applied> {
    catch_up_then(state, false)
}

/// [`catch_up`] once more, then no more: the graceful shutdown's last one.
/// A request still in flight that catches up later applies nothing, so no
/// event happens after the SSE streams were told to end.
pub fn catch_up_and_freeze(state: &AppState) -> Vec<Applied> {
    catch_up_then(state, true)
}

fn catch_up_then(state: &AppState, freeze: bool) -> Vec<Applied> {
    let now = state.now();
    let mut applied = Vec::new();
    if freeze || state.engine.next_due().is_some_and(|due| due <= now) {
        // Stepping and publishing in one section: notifications get their
        // ids, log places and webhook order in the order events happened.
        let section = state.publisher.exclusive();
        if state.shutdown.events_frozen() {
            drop(section);
            deliver_due(state);
            return applied;
        }
        if freeze {
            // In the section: a catch-up waiting for it finds it frozen.
            state.shutdown.freeze_events();
        }
        applied = state.engine.step(now);
        let mut out = Vec::new();
        let mut ops = Vec::new();
        for a in &applied {
            if state.durable.keeps() {
                ops.push(Op::JobApplied(a.job.id.clone(), a.state.applied));
            }
            let links = state.job_links(&a.job);
            for (name, data) in notifications::for_event(a, |k, kind| links.result(&a.job, k, kind)) {
                out.extend(outgoing(
                    state,
                    &section,
                    &a.job.owner,
                    name,
                    data,
                    a.event.at,
                    a.job.webhook_fault(),
                ));
            }
        }
        if !applied.is_empty() {
            release(state, &section, out, ops);
        }
    }
    deliver_due(state);
    applied
}

/// When the next job event or webhook attempt is due: the ticker sleeps
/// until then.
pub fn next_due(state: &AppState) -> Option<Instant> {
    match (state.engine.next_due(), state.webhooks.next_due()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
