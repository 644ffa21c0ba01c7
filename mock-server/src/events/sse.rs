//! The SSE stream of `GET /notifications/events`: first `event: backfill`
//! messages for what was not deleted (oldest first), then one
//! `event: backfill_complete` with `data: {}`, then live notifications as
//! plain `data:` lines, each with `id: N`. Keep-alive comments `:keepalive`
//! come from axum's `KeepAlive`.

use std::convert::Infallible;
use std::sync::Arc;

use axum::response::sse::Event;
use futures_util::Stream;

use crate::clock::Instant;
use crate::events::log::Notification;
use crate::storage::records::Tenant;

/// How many notifications a subscriber takes from the log at a time.
const BATCH: usize = 256;

/// The stream's filters (`id_task`, `id_image`, `name_list`); empty lists
/// let everything through.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Job ids.
    pub id_task: Vec<String>,
    /// Output ids (`{job_id}_{k}`).
    pub id_image: Vec<String>,
    /// Notification names.
    pub name_list: Vec<String>,
}

impl Filter {
    /// Whether `n` passes.
    pub fn matches(&self, n: &Notification) -> bool {
        let field = |key: &str| n.data.get(key).and_then(|v| v.as_str()).unwrap_or("");
        (self.id_task.is_empty() || self.id_task.iter().any(|t| t == field("id_task")))
            && (self.id_image.is_empty() || self.id_image.iter().any(|t| t == field("id_image")))
            && (self.name_list.is_empty() || self.name_list.iter().any(|t| t == n.name))
    }
}

/// Where a connection starts reading the log.
#[derive(Debug, Clone, Copy)]
pub enum Start {
    /// A fresh connection: backfill what is at most this old.
    Window {
        /// The oldest time backfilled.
        since: Instant,
    },
    /// A resumed one (`Last-Event-ID`): everything after that id.
    After(u64),
}

fn event(n: &Notification, backfill: bool) -> Event {
    let e = Event::default().id(n.id.to_string()).data(&*n.wire_json());
    if backfill { e.event("backfill") } else { e }
}

/// The stream for one subscriber. `drop_after` closes it after that many
/// notifications (QA's dropped-stream scenario); a reset or the server's
/// shutdown ends it (a clean end of body, so the client sees the stream
/// finish rather than a broken connection).
pub fn stream(
    tenant: Arc<Tenant>,
    filter: Filter,
    start: Start,
    drop_after: Option<usize>,
    mut reset: tokio::sync::watch::Receiver<u64>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    async_stream::stream! {
        let log = &tenant.log;
        // Subscribe before reading, so nothing appended meanwhile is missed.
        let mut wake = log.subscribe();
        let mut sent = 0usize;
        let mut last = match start {
            Start::After(id) => id,
            Start::Window { .. } => 0,
        };
        let since = match start {
            Start::Window { since } => Some(since),
            Start::After(_) => None,
        };
        loop {
            let batch = log.after(last, BATCH);
            let done = batch.len() < BATCH;
            for n in batch {
                last = n.id;
                if since.is_some_and(|s| n.published < s) || !filter.matches(&n) {
                    continue;
                }
                yield Ok(event(&n, true));
                sent += 1;
                if drop_after.is_some_and(|d| sent >= d) {
                    return;
                }
            }
            if done {
                break;
            }
        }
        yield Ok(Event::default().event("backfill_complete").data("{}"));
        loop {
            let batch = log.after(last, BATCH);
            let full = batch.len() == BATCH;
            for n in batch {
                last = n.id;
                if !filter.matches(&n) {
                    continue;
                }
                yield Ok(event(&n, false));
                sent += 1;
                if drop_after.is_some_and(|d| sent >= d) {
                    return;
                }
            }
            // The receiver remembers what it has seen: an append since the
            // last read wakes it at once, so nothing is missed.
            if !full {
                // A reset ends the stream: its account is gone, and ids
                // start over, so the client reconnects fresh. The shutdown
                // ends it too, but only after what was appended before it
                // (hence the order).
                tokio::select! {
                    biased;
                    _ = reset.changed() => return,
                    changed = wake.changed() => if changed.is_err() { return },
                    _ = shutdown.wait_for(|began| *began) => return,
                }
            }
        }
    }
}
