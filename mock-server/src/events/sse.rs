//! The SSE stream of `GET /notifications/events`: first `event: backfill`
//! messages for what was not deleted (oldest first), then one
//! `event: backfill_complete` with `data: {}`, then live notifications as
//! plain `data:` lines, each with `id: N`, and a `:keepalive` comment each
//! `--sse-keepalive` while the stream waits.
//!
//! Each message is a notification's pre-formatted bytes
//! ([`Notification::wire_forms`]), shared by every subscriber: delivering
//! one event to 10,000 subscribers copies and formats nothing.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
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

const BACKFILL_COMPLETE: &[u8] = b"event: backfill_complete\ndata: {}\n\n";
const KEEPALIVE: &[u8] = b":keepalive\n\n";

fn message(n: &Notification, backfill: bool) -> Bytes {
    let forms = n.wire_forms();
    if backfill {
        forms.backfill.clone()
    } else {
        forms.live.clone()
    }
}

/// What one subscriber is sent, and how.
#[derive(Debug)]
pub struct Subscription {
    /// The account whose log is read.
    pub tenant: Arc<Tenant>,
    /// Which notifications pass.
    pub filter: Filter,
    /// Where reading starts.
    pub start: Start,
    /// Closes the stream after that many notifications (QA's
    /// dropped-stream scenario).
    pub drop_after: Option<usize>,
    /// A `:keepalive` comment goes out this often while the stream waits.
    pub keepalive: Duration,
}

/// What ends a stream besides its own end.
#[derive(Debug)]
pub struct Ends {
    /// A reset of the fake.
    pub reset: tokio::sync::watch::Receiver<u64>,
    /// The server's shutdown (a clean end of body, so the client sees the
    /// stream finish rather than a broken connection).
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

/// The `text/event-stream` response for `sub`.
pub fn response(sub: Subscription, ends: Ends) -> Response {
    (
        [(CONTENT_TYPE, "text/event-stream"), (CACHE_CONTROL, "no-cache")],
        Body::from_stream(stream(sub, ends)),
    )
        .into_response()
}

/// Once the shutdown began, the last id a stream sends: the latest in its
/// log now. `None` while the server runs.
fn shutdown_end(
    shutdown: &tokio::sync::watch::Receiver<bool>,
    wake: &tokio::sync::watch::Receiver<u64>,
) -> Option<u64> {
    (*shutdown.borrow()).then(|| *wake.borrow())
}

/// The messages for one subscriber.
fn stream(sub: Subscription, ends: Ends) -> impl Stream<Item = Result<Bytes, Infallible>> {
    let Subscription {
        tenant,
        filter,
        start,
        drop_after,
        keepalive,
    } = sub;
    let Ends {
        mut reset,
        mut shutdown,
    } = ends;
    async_stream::stream! {
        let log = &tenant.log;
        // Subscribe before reading, so nothing appended meanwhile is missed.
        let mut wake = log.subscribe();
        // One buffer for every read of the log.
        let mut batch = Vec::with_capacity(16);
        // A tick, not a timer reset per message: no timer work per event.
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + keepalive, keepalive);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sent = 0usize;
        let mut last = match start {
            Start::After(id) => id,
            Start::Window { .. } => 0,
        };
        let since = match start {
            Start::Window { since } => Some(since),
            Start::After(_) => None,
        };
        // Once the shutdown began: the last id this stream sends (the
        // latest in its log when it noticed), then it ends. Checked before
        // every read, so neither a long backfill nor a steady flow of
        // notifications holds it open.
        let mut end_at: Option<u64> = None;
        'backfill: loop {
            end_at = end_at.or_else(|| shutdown_end(&shutdown, &wake));
            log.after_into(last, BATCH, &mut batch);
            let done = batch.len() < BATCH;
            for n in batch.drain(..) {
                if end_at.is_some_and(|end| n.id > end) {
                    break 'backfill;
                }
                last = n.id;
                if since.is_some_and(|s| n.published < s) || !filter.matches(&n) {
                    continue;
                }
                yield Ok(message(&n, true));
                sent += 1;
                if drop_after.is_some_and(|d| sent >= d) {
                    return;
                }
            }
            if done {
                break;
            }
        }
        yield Ok(Bytes::from_static(BACKFILL_COMPLETE));
        loop {
            end_at = end_at.or_else(|| shutdown_end(&shutdown, &wake));
            log.after_into(last, BATCH, &mut batch);
            let full = batch.len() == BATCH;
            for n in batch.drain(..) {
                if end_at.is_some_and(|end| n.id > end) {
                    return;
                }
                last = n.id;
                if !filter.matches(&n) {
                    continue;
                }
                yield Ok(message(&n, false));
                sent += 1;
                if drop_after.is_some_and(|d| sent >= d) {
                    return;
                }
            }
            if full {
                continue;
            }
            if end_at.is_some() {
                // Everything up to the end was read.
                return;
            }
            // The receiver remembers what it has seen: an append since the
            // last read wakes it at once, so nothing is missed. A reset ends
            // the stream: its account is gone, and ids start over, so the
            // client reconnects fresh. The shutdown ends it after one more
            // read (above), which sends what the log holds by then.
            let keepalive_due = tokio::select! {
                biased;
                _ = reset.changed() => return,
                changed = wake.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    false
                }
                _ = shutdown.wait_for(|began| *began) => false,
                _ = ticks.tick() => true,
            };
            if keepalive_due {
                yield Ok(Bytes::from_static(KEEPALIVE));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt as _;

    use super::*;
    use crate::domain::account::Account;
    use crate::domain::ids::TenantId;

    use crate::events::log::test_notification as n;

    /// Found in review: a stream woken by a new notification read on before
    /// it looked at the shutdown, so a steady flow of notifications held it
    /// open to the end of the grace. Once the shutdown began it sends what
    /// its log holds, then ends, however many follow.
    #[tokio::test]
    async fn once_the_shutdown_began_a_stream_ends_though_notifications_keep_coming() {
        let tenant = Arc::new(Tenant::new(Account::anonymous(TenantId::from_client("acct_1"))));
        let (_reset, reset) = tokio::sync::watch::channel(0);
        let (began, shutdown) = tokio::sync::watch::channel(false);
        let sub = Subscription {
            tenant: tenant.clone(),
            filter: Filter::default(),
            start: Start::After(0),
            drop_after: None,
            keepalive: Duration::from_secs(3600),
        };
        let mut s = std::pin::pin!(stream(sub, Ends { reset, shutdown }));
        let mut next = async || s.next().await.map(|m| m.unwrap_or_else(|e| match e {}));
        tenant.log.append(n(1));
        assert_eq!(next().await, Some(message(&n(1), true)));
        assert_eq!(next().await, Some(Bytes::from_static(BACKFILL_COMPLETE)));
        tenant.log.append(n(2));
        began.send_replace(true);
        // Every message read, the next notification comes.
        let mut live = Vec::new();
        for id in 3..100 {
            let Some(m) = next().await else { break };
            live.push(m);
            tenant.log.append(n(id));
        }
        assert_eq!(live.first(), Some(&message(&n(2), false)));
        assert_eq!(live.len(), 1, "what the log held, then the end");
    }
}
