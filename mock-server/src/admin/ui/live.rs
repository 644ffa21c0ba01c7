//! `GET /__admin/ui/live`: an event stream that says `changed` whenever
//! what the dashboard shows has changed (a job moved, a delivery was tried,
//! a notification or a scenario choice came, the manual clock moved), so an
//! open page refetches its live region without a reload. It looks a few
//! times a second rather than hooking every writer: the dashboard is a QA
//! tool, and the request path pays nothing for it.

use std::convert::Infallible;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;

use crate::http::extract::ApiQuery;
use crate::state::AppState;

/// How often the stream looks for a change (wall time).
const LOOK_EVERY: Duration = Duration::from_millis(200);

/// A digest of what the pages show: each job's status and how far its
/// schedule went, each delivery's status and attempts, the count of drops,
/// the notifications, the scenario choices, and the clock when it is manual
/// (a running one moves every instant).
pub(super) fn fingerprint(state: &AppState) -> u64 {
    crate::jobs::catch_up(state);
    let mut h = DefaultHasher::new();
    for job in state.engine.all() {
        let s = job.state();
        (job.id.as_str(), s.status.name(), s.applied).hash(&mut h);
    }
    for d in state.webhooks.deliveries(None) {
        (d.id, d.attempts.len(), format!("{:?}", d.status)).hash(&mut h);
    }
    state.webhooks.dropped(None).hash(&mut h);
    for t in state.store.tenants() {
        (
            t.id().as_str(),
            t.log.all().len(),
            t.data.lock().settings.scenario.clone(),
        )
            .hash(&mut h);
    }
    let tokens: Vec<(String, String)> = state
        .scenarios
        .token_choices()
        .into_iter()
        .map(|(d, s)| (d.caller_id(), s))
        .collect();
    (state.scenarios.global(), tokens).hash(&mut h);
    if state.clock.is_frozen() {
        state.now().millis().hash(&mut h);
    }
    h.finish()
}

/// `since`: the fingerprint the page was drawn at (its `data-version`), so
/// that a change between the drawing and this stream's opening is not lost.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LiveQuery {
    since: Option<u64>,
}

pub(super) async fn stream(State(state): State<AppState>, ApiQuery(q): ApiQuery<LiveQuery>) -> Response {
    let mut shutdown = state.shutdown.subscribe();
    let body = async_stream::stream! {
        let mut last = q.since.unwrap_or_else(|| fingerprint(&state));
        // Comment first: the browser's EventSource opens at once.
        yield Ok::<_, Infallible>(Bytes::from_static(b": live\n\n"));
        let mut ticks = tokio::time::interval(LOOK_EVERY);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                // The server stops: the stream ends cleanly, so the
                // graceful shutdown does not wait on an open page.
                _ = shutdown.wait_for(|b| *b) => break,
            }
            let now = fingerprint(&state);
            if now != last {
                last = now;
                yield Ok(Bytes::from_static(b"event: changed\ndata: {}\n\n"));
            }
        }
    };
    (
        [(CONTENT_TYPE, "text/event-stream"), (CACHE_CONTROL, "no-cache")],
        Body::from_stream(body),
    )
        .into_response()
}
