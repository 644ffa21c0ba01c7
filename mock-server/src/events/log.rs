//! The notification log of one account: every job change, appended in order
//! with increasing ids, kept until deleted, evicted by age
//! (`--notification-ttl`) or pushed out by the retention cap. SSE subscribers read it at their own pace, woken by a watch channel,
//! so a slow subscriber holds no buffer of its own and never slows anyone.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use parking_lot::RwLock;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;

use crate::clock::Instant;
use crate::domain::ids::TenantId;

/// Most notifications an account keeps; older ones are dropped first.
pub const MAX_LOG_ENTRIES: usize = 10_000;

/// One notification, as the vendor shapes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    /// Increasing id (unique in the server).
    pub id: u64,
    /// `batch_edit`, `image_result`, `identity_preprocessing`, `ping`, `test`.
    pub name: &'static str,
    /// Seconds since the epoch, with a fraction.
    pub timestamp: f64,
    /// Event data (`id_task`, `status`, …).
    pub data: Value,
    /// Owner (not sent to clients).
    #[serde(skip)]
    pub owner: TenantId,
    /// When it happened.
    #[serde(skip)]
    pub at: Instant,
    /// When it was published (the clock's time then): the SSE backfill
    /// window counts from here, so a jump of the manual clock does not hide
    /// what the jump itself produced.
    #[serde(skip)]
    pub published: Instant,
    /// [`Self::wire`] as text and as SSE messages, made once: every SSE
    /// subscriber and the webhook send the same bytes, so 10,000
    /// subscribers cost one serialisation and no copy, not 10,000.
    #[serde(skip)]
    pub wire_text: OnceLock<WireForms>,
}

/// A notification's bytes on the wire, shared by every reader.
#[derive(Debug, Clone, PartialEq)]
pub struct WireForms {
    /// The JSON `{id, name, data, timestamp}` (webhook body, SSE data).
    pub json: Arc<str>,
    /// The live SSE message: `id: N`, `data: JSON`, blank line.
    pub live: Bytes,
    /// The backfill SSE message: `event: backfill` before the same lines.
    pub backfill: Bytes,
}

impl Notification {
    /// The JSON sent over SSE and webhooks: `{id, name, data, timestamp}`.
    pub fn wire(&self) -> Value {
        serde_json::json!({ "id": self.id, "name": self.name, "data": self.data, "timestamp": self.timestamp })
    }

    /// [`Self::wire`] serialised, shared.
    pub fn wire_json(&self) -> Arc<str> {
        self.wire_forms().json.clone()
    }

    /// The bytes every reader sends, made on first use.
    pub fn wire_forms(&self) -> &WireForms {
        self.wire_text.get_or_init(|| {
            // serde_json writes no raw newline in compact JSON, so the data
            // is one `data:` line.
            let json = self.wire().to_string();
            let live = format!("id: {}\ndata: {json}\n\n", self.id);
            WireForms {
                backfill: Bytes::from(format!("event: backfill\n{live}")),
                live: Bytes::from(live),
                json: json.into(),
            }
        })
    }

    /// The job this notification is about, if any.
    pub fn task(&self) -> Option<&str> {
        self.data.get("id_task").and_then(Value::as_str)
    }
}

/// One account's log.
#[derive(Debug)]
pub struct AccountLog {
    entries: RwLock<VecDeque<Arc<Notification>>>,
    latest: watch::Sender<u64>,
}

impl Default for AccountLog {
    fn default() -> Self {
        Self {
            entries: RwLock::new(VecDeque::new()),
            latest: watch::Sender::new(0),
        }
    }
}

impl AccountLog {
    /// Appends `n` and wakes every subscriber; returns the ids of the oldest
    /// notifications the retention cap pushed out (`--data-dir` deletes them).
    pub fn append(&self, n: Arc<Notification>) -> Vec<u64> {
        let id = n.id;
        let mut dropped = Vec::new();
        {
            let mut entries = self.entries.write();
            entries.push_back(n);
            while entries.len() > MAX_LOG_ENTRIES {
                dropped.extend(entries.pop_front().map(|n| n.id));
            }
        }
        self.latest.send_replace(id);
        dropped
    }

    /// Notifications with an id above `after`, oldest first, at most `limit`.
    pub fn after(&self, after: u64, limit: usize) -> Vec<Arc<Notification>> {
        let mut out = Vec::new();
        self.after_into(after, limit, &mut out);
        out
    }

    /// [`Self::after`] into `out` (cleared first), so a subscriber reuses
    /// one buffer for every read.
    pub fn after_into(&self, after: u64, limit: usize, out: &mut Vec<Arc<Notification>>) {
        out.clear();
        let entries = self.entries.read();
        let start = entries.partition_point(|n| n.id <= after);
        out.extend(entries.range(start..).take(limit).cloned());
    }

    /// Every notification kept, oldest first.
    pub fn all(&self) -> Vec<Arc<Notification>> {
        self.entries.read().iter().cloned().collect()
    }

    /// The oldest id kept, if any.
    pub fn oldest_id(&self) -> Option<u64> {
        self.entries.read().front().map(|n| n.id)
    }

    /// Deletes notification `id`; `false` when the account has none such.
    pub fn delete(&self, id: u64) -> bool {
        let mut entries = self.entries.write();
        match entries.binary_search_by_key(&id, |n| n.id) {
            Ok(i) => {
                entries.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// How many notifications are kept.
    pub fn len(&self) -> usize {
        self.entries.read().len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.read().is_empty()
    }

    /// Removes every notification for which `expired(when it happened)`
    /// holds; returns how many. Order (and so the id search) is kept.
    /// Readers and appenders are held up only when something goes.
    pub fn evict(&self, expired: impl FnMut(Instant) -> bool) -> usize {
        self.evict_ids(expired).len()
    }

    /// [`AccountLog::evict`], naming what went (so `--data-dir` deletes it too).
    pub fn evict_ids(&self, mut expired: impl FnMut(Instant) -> bool) -> Vec<u64> {
        // Not by the oldest entry alone: a clock set back makes `at` out of
        // order with ids, so every entry is looked at.
        if !self.entries.read().iter().any(|n| expired(n.at)) {
            return Vec::new();
        }
        let mut entries = self.entries.write();
        let mut removed = Vec::new();
        entries.retain(|n| {
            let evict = expired(n.at);
            if evict {
                removed.push(n.id);
            }
            !evict
        });
        removed
    }

    /// A receiver that wakes when something is appended.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.latest.subscribe()
    }
}

/// A `batch_edit` notification of account `acct_1` with id `id`, for the
/// events modules' unit tests.
#[cfg(test)]
pub(crate) fn test_notification(id: u64) -> Arc<Notification> {
    Arc::new(Notification {
        id,
        name: "batch_edit",
        timestamp: 0.0,
        data: Value::Null,
        owner: TenantId::from_client("acct_1"),
        at: Instant::from_millis(0),
        published: Instant::from_millis(0),
        wire_text: OnceLock::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::test_notification as n;

    #[test]
    fn reads_after_an_id_and_deletes() {
        let log = AccountLog::default();
        for id in [1, 2, 5, 9] {
            log.append(n(id));
        }
        let ids = |v: Vec<Arc<Notification>>| v.iter().map(|n| n.id).collect::<Vec<_>>();
        assert_eq!(ids(log.after(2, 10)), [5, 9]);
        assert_eq!(ids(log.after(0, 2)), [1, 2]);
        assert!(log.delete(5));
        assert!(!log.delete(5));
        assert_eq!(ids(log.after(2, 10)), [9]);
        assert_eq!(*log.subscribe().borrow(), 9);
    }

    #[test]
    fn sse_messages_carry_the_wire_json_on_one_data_line() {
        let mut x = (*n(7)).clone();
        x.data = serde_json::json!({"id_task": "j1", "note": "two\nlines"});
        let forms = x.wire_forms();
        assert_eq!(&*forms.json, x.wire().to_string());
        let live = std::str::from_utf8(&forms.live).expect("utf-8");
        assert_eq!(live, format!("id: 7\ndata: {}\n\n", forms.json));
        assert_eq!(
            live.matches('\n').count(),
            3,
            "a newline in the data is escaped: {live:?}"
        );
        assert_eq!(forms.backfill, format!("event: backfill\n{live}").as_bytes());
        assert!(std::ptr::eq(x.wire_forms(), forms), "made once");
    }

    #[test]
    fn evicts_by_age_and_keeps_the_rest_searchable() {
        let at = |id: u64, ms: i64| {
            let mut x = (*n(id)).clone();
            x.at = Instant::from_millis(ms);
            Arc::new(x)
        };
        let log = AccountLog::default();
        // Out of time order on purpose (a clock set back between them).
        for (id, ms) in [(1, 100), (2, 500), (3, 50), (4, 900)] {
            log.append(at(id, ms));
        }
        let older_than_200 = |t: Instant| t.millis() < 200;
        assert_eq!(log.evict(older_than_200), 2);
        assert_eq!(log.len(), 2);
        assert_eq!(log.evict(older_than_200), 0, "a second sweep finds nothing");
        let ids = |v: Vec<Arc<Notification>>| v.iter().map(|n| n.id).collect::<Vec<_>>();
        assert_eq!(ids(log.after(0, 10)), [2, 4]);
        assert!(!log.delete(3), "an evicted notification is gone");
        assert!(log.delete(4));
    }
}
