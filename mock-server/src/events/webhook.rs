//! Webhooks: registrations, signing, and the delivery book. Every
//! notification of an account with a webhook becomes a delivery: POSTed as
//! the exact JSON bytes with `X-Webhook-Signature: sha256=<hex HMAC>`,
//! retried on the injected clock with a fixed backoff, in order per job.
//! Sending happens in spawned tasks ([`crate::deliver::deliver_due`]);
//! this module only decides what is due and records what happened.
//!
//! The book keeps an index of what may be sent (the first unfinished
//! delivery of each job, by due time), so enqueueing, taking what is due
//! and recording an attempt cost a logarithm, not a walk over every
//! delivery: with 1,000 jobs in flight the walk held the book's lock long
//! enough to starve the runtime, attempts outlived `--webhook-timeout`
//! after the receiver had accepted them, and their retries were duplicates.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use dashmap::DashMap;
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use serde::Serialize;
use sha2::Sha256;

use crate::clock::Instant;
use crate::domain::ids::TenantId;
use crate::scenarios::{WebhookFault, WebhookFaultMode};

/// Waits after a failed attempt before the next: 7 attempts in all.
pub const RETRY_BACKOFF: [Duration; 6] = [
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
    Duration::from_secs(600),
    Duration::from_secs(1800),
    Duration::from_secs(3600),
];
/// Most deliveries kept in the log; the oldest finished ones go first.
pub const MAX_DELIVERIES: usize = 10_000;

/// `sha256=<hex HMAC-SHA256(secret, body)>`: the `X-Webhook-Signature` value.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a signature header in constant time.
pub fn verify(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// Ends a delivery whose webhook was removed.
fn fail_unregistered(d: &mut Delivery, now: Instant) {
    d.status = DeliveryStatus::Failed;
    d.next_attempt_at = None;
    d.attempts.push(Attempt {
        at: now,
        status_code: None,
        latency_ms: 0,
        error: Some("webhook removed".into()),
    });
}

/// An account's webhook.
#[derive(Debug, Clone, Serialize)]
pub struct Registration {
    /// `wh_…`.
    pub id: String,
    /// Where deliveries go.
    pub url: String,
    /// The signing secret (rotated by every PUT).
    pub secret: String,
    /// Always true while registered.
    pub is_active: bool,
    /// First registration.
    pub created_at: Instant,
    /// Last PUT.
    pub updated_at: Instant,
    /// Status of the last answered attempt.
    pub last_response_status: Option<u16>,
    /// When that was.
    pub last_response_at: Option<Instant>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt (or for an earlier delivery of its job).
    Pending,
    /// An attempt is on the wire.
    InFlight,
    /// A 2xx came back.
    Delivered,
    /// Every attempt failed.
    Failed,
}

/// One attempt's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    /// When it started (injected clock).
    pub at: Instant,
    /// The receiver's status, when it answered.
    pub status_code: Option<u16>,
    /// Wall-clock time from send to answer or failure.
    pub latency_ms: u64,
    /// Why it failed, when it did (timeout, connection refused, non-2xx).
    pub error: Option<String>,
}

/// One notification on its way to one webhook.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// Delivery id (also sent as `X-Webhook-Delivery`).
    pub id: u64,
    /// The account.
    pub account: TenantId,
    /// The URL of the latest attempt.
    pub url: String,
    /// Notification name (`X-Webhook-Event`).
    pub event: &'static str,
    /// The notification's id.
    pub notification_id: u64,
    /// Deliveries with the same key go out in order (a job id).
    pub key: String,
    /// The exact body.
    #[serde(skip)]
    pub body: Bytes,
    /// Status.
    pub status: DeliveryStatus,
    /// Every attempt so far.
    pub attempts: Vec<Attempt>,
    /// When the next attempt is due.
    pub next_attempt_at: Option<Instant>,
    /// When it was enqueued.
    pub created_at: Instant,
    /// A scenario's webhook fault, if the delivery runs under one.
    #[serde(skip)]
    pub fault: Option<WebhookFault>,
}

/// A delivery to send now.
#[derive(Debug, Clone)]
pub struct Send {
    /// Delivery id.
    pub id: u64,
    /// Target.
    pub url: String,
    /// Signing secret (the registration's current one).
    pub secret: String,
    /// Event name.
    pub event: &'static str,
    /// Body bytes.
    pub body: Bytes,
    /// When set, the attempt is not sent: it fails as the scenario says.
    pub simulated: Option<Attempt>,
    /// The book's generation when it was taken (a reset starts a new one).
    pub generation: u64,
}

/// Deliveries that go out one after another: one account's, with one key.
type Line = (TenantId, String);

/// What may still be sent once a shutdown began: one attempt for each
/// delivery that was due then ([`Webhooks::send_only_due`]).
#[derive(Debug)]
struct Cutoff {
    /// Due by then (ms of the injected clock) ...
    at: i64,
    /// ... and made by then (ids up to this one) ...
    last_id: u64,
    /// ... and not sent since (or on the wire when it began).
    tried: HashSet<u64>,
}

#[derive(Debug, Default)]
struct Book {
    /// Bumped by every clear, so a result of an attempt sent before a reset
    /// is never recorded against a new delivery that reuses its id.
    generation: u64,
    next_id: u64,
    deliveries: BTreeMap<u64, Delivery>,
    /// The unfinished (pending or in flight) deliveries of each line, by
    /// id: only the first may be sent.
    lines: HashMap<Line, BTreeSet<u64>>,
    /// (next attempt in ms, id) of every pending delivery first in its line:
    /// exactly what is waiting to be sent.
    due: BTreeSet<(i64, u64)>,
    /// Set once a shutdown began: what may still be sent.
    cutoff: Option<Cutoff>,
}

impl Book {
    /// The first entry of the due index that may be sent with the clock at
    /// `now`: the earliest one, or while shutting down the earliest one the
    /// cutoff lets through (the others stay, pending).
    fn next_sendable(&self, now: i64) -> Option<(i64, u64)> {
        let limit = self.cutoff.as_ref().map_or(now, |c| c.at.min(now));
        let mut due = self.due.iter().take_while(|(at, _)| *at <= limit);
        match &self.cutoff {
            None => due.next().copied(),
            Some(c) => due.find(|(_, id)| *id <= c.last_id && !c.tried.contains(id)).copied(),
        }
    }

    /// Puts delivery `id` in the due index when it is pending and first in
    /// its line.
    fn schedule(&mut self, id: u64) {
        let Some(d) = self.deliveries.get(&id) else { return };
        let first = self
            .lines
            .get(&(d.account.clone(), d.key.clone()))
            .and_then(|l| l.first())
            == Some(&id);
        if let (true, DeliveryStatus::Pending, Some(at)) = (first, d.status, d.next_attempt_at) {
            self.due.insert((at.millis(), id));
        }
    }

    /// Takes delivery `id` out of the due index (before its status or next
    /// attempt changes).
    fn unschedule(&mut self, id: u64) {
        if let Some(at) = self.deliveries.get(&id).and_then(|d| d.next_attempt_at) {
            self.due.remove(&(at.millis(), id));
        }
    }

    /// Adds delivery `id` to its line (a new one, or a finished one sent
    /// again); one it moves back from first place stops being due.
    fn join_line(&mut self, id: u64) {
        let Some(d) = self.deliveries.get(&id) else { return };
        let line = self.lines.entry((d.account.clone(), d.key.clone())).or_default();
        let displaced = line.first().copied().filter(|first| *first > id);
        line.insert(id);
        if let Some(first) = displaced {
            self.unschedule(first);
            // A redelivery of an older one waits for the delivery on the
            // wire: one attempt per job at a time. It is first in line, so
            // `leave_line` schedules it when that attempt ends.
            if self
                .deliveries
                .get(&first)
                .is_some_and(|d| d.status == DeliveryStatus::InFlight)
            {
                return;
            }
        }
        self.schedule(id);
    }

    /// Takes finished delivery `id` out of its line; the next one in line
    /// becomes due.
    fn leave_line(&mut self, id: u64) {
        let Some(d) = self.deliveries.get(&id) else { return };
        let key = (d.account.clone(), d.key.clone());
        let Some(line) = self.lines.get_mut(&key) else { return };
        line.remove(&id);
        match line.first().copied() {
            Some(next) => self.schedule(next),
            None => {
                self.lines.remove(&key);
            }
        }
    }
}

/// Registrations and deliveries of the whole server.
#[derive(Debug)]
pub struct Webhooks {
    registrations: DashMap<TenantId, Registration>,
    book: Mutex<Book>,
    /// Earliest due attempt (ms), so a check with nothing due takes no lock.
    next_due: AtomicI64,
}

impl Default for Webhooks {
    fn default() -> Self {
        Self {
            registrations: DashMap::new(),
            book: Mutex::new(Book::default()),
            next_due: AtomicI64::new(i64::MAX),
        }
    }
}

impl Webhooks {
    /// Forgets everything (while shutting down, nothing made after this is
    /// sent).
    pub fn clear(&self) {
        let mut book = self.book.lock();
        let cutoff = book.cutoff.take().map(|c| Cutoff {
            at: c.at,
            last_id: 0,
            tried: HashSet::new(),
        });
        *book = Book {
            generation: book.generation + 1,
            cutoff,
            ..Book::default()
        };
        self.registrations.clear();
        self.next_due.store(i64::MAX, Ordering::SeqCst);
    }

    /// Registers or updates `owner`'s webhook with a new `secret`.
    pub fn register(&self, owner: &TenantId, url: String, secret: String, id: String, now: Instant) -> Registration {
        let mut entry = self.registrations.entry(owner.clone()).or_insert_with(|| Registration {
            id,
            url: url.clone(),
            secret: secret.clone(),
            is_active: true,
            created_at: now,
            updated_at: now,
            last_response_status: None,
            last_response_at: None,
        });
        entry.url = url;
        entry.secret = secret;
        entry.updated_at = now;
        entry.clone()
    }

    /// `owner`'s webhook.
    pub fn get(&self, owner: &TenantId) -> Option<Registration> {
        self.registrations.get(owner).map(|r| r.clone())
    }

    /// Removes `owner`'s webhook; its pending deliveries fail.
    pub fn remove(&self, owner: &TenantId, now: Instant) -> bool {
        let removed = self.registrations.remove(owner).is_some();
        if removed {
            let mut book = self.book.lock();
            let pending: Vec<u64> = book
                .deliveries
                .values()
                .filter(|d| &d.account == owner && d.status == DeliveryStatus::Pending)
                .map(|d| d.id)
                .collect();
            for id in pending {
                book.unschedule(id);
                if let Some(d) = book.deliveries.get_mut(&id) {
                    fail_unregistered(d, now);
                }
                book.leave_line(id);
            }
            self.publish_next_due(&book);
        }
        removed
    }

    /// A delivery of `body` to `owner`'s webhook, with its id taken but not
    /// yet in the book ([`Webhooks::insert`] queues it; `--data-dir` first
    /// makes it durable). `None` when `owner` has no webhook.
    #[allow(clippy::too_many_arguments)]
    pub fn prepare(
        &self,
        owner: &TenantId,
        event: &'static str,
        notification_id: u64,
        key: String,
        body: Bytes,
        fault: Option<WebhookFault>,
        now: Instant,
    ) -> Option<Delivery> {
        let url = self.registrations.get(owner)?.url.clone();
        let id = {
            let mut book = self.book.lock();
            book.next_id += 1;
            book.next_id
        };
        Some(Delivery {
            id,
            account: owner.clone(),
            url,
            event,
            notification_id,
            key,
            body,
            status: DeliveryStatus::Pending,
            attempts: Vec::new(),
            next_attempt_at: Some(now),
            created_at: now,
            fault,
        })
    }

    /// Puts a delivery in the book (a prepared one, or one kept by
    /// `--data-dir`); returns the ids of finished deliveries the cap of
    /// [`MAX_DELIVERIES`] pushed out.
    pub fn insert(&self, d: Delivery) -> Vec<u64> {
        let mut book = self.book.lock();
        book.next_id = book.next_id.max(d.id);
        let (id, unfinished) = (
            d.id,
            matches!(d.status, DeliveryStatus::Pending | DeliveryStatus::InFlight),
        );
        book.deliveries.insert(id, d);
        if unfinished {
            book.join_line(id);
        }
        let mut dropped = Vec::new();
        if book.deliveries.len() > MAX_DELIVERIES {
            dropped = book
                .deliveries
                .values()
                .filter(|d| matches!(d.status, DeliveryStatus::Delivered | DeliveryStatus::Failed))
                .map(|d| d.id)
                .take(book.deliveries.len() - MAX_DELIVERIES)
                .collect();
            // Finished ones are in no line and not due: the index stays right.
            for f in &dropped {
                book.deliveries.remove(f);
            }
        }
        self.publish_next_due(&book);
        dropped
    }

    /// Delivery `id`, if the book holds it.
    pub fn delivery(&self, id: u64) -> Option<Delivery> {
        self.book.lock().deliveries.get(&id).cloned()
    }

    /// The last delivery id handed out (kept by `--data-dir`).
    pub fn last_id(&self) -> u64 {
        self.book.lock().next_id
    }

    /// Continues delivery ids after `id` (a restart on `--data-dir`).
    pub fn restore_last_id(&self, id: u64) {
        let mut book = self.book.lock();
        book.next_id = book.next_id.max(id);
    }

    /// Puts back a registration kept by `--data-dir`.
    pub fn restore_registration(&self, owner: TenantId, r: Registration) {
        self.registrations.insert(owner, r);
    }

    /// A shutdown began at `now`: from here on [`Webhooks::take_due`] gives
    /// one attempt to each delivery that is due now — made by now, with its
    /// attempt due by `now` (also one waiting behind an earlier delivery of
    /// its job, which keeps their order) — and nothing else. A delivery whose
    /// attempt fails, or was on the wire already, gets no retry; one made
    /// later is not sent: they stay pending (with `--data-dir`, for the next
    /// start). So the attempts of a shutdown are finite and end.
    pub fn send_only_due(&self, now: Instant) {
        let mut book = self.book.lock();
        let tried = book
            .deliveries
            .values()
            .filter(|d| d.status == DeliveryStatus::InFlight)
            .map(|d| d.id)
            .collect();
        book.cutoff = Some(Cutoff {
            at: now.millis(),
            last_id: book.next_id,
            tried,
        });
    }

    /// Marks and returns every delivery due at `now` that is first in line
    /// for its (account, key); once a shutdown began, only those
    /// [`Webhooks::send_only_due`] lets through.
    pub fn take_due(&self, now: Instant) -> Vec<Send> {
        if self.next_due.load(Ordering::SeqCst) > now.millis() {
            return Vec::new();
        }
        let mut book = self.book.lock();
        let generation = book.generation;
        let mut out = Vec::new();
        while let Some((at, id)) = book.next_sendable(now.millis()) {
            book.due.remove(&(at, id));
            if let Some(c) = book.cutoff.as_mut() {
                c.tried.insert(id);
            }
            let Some(d) = book.deliveries.get_mut(&id) else {
                continue;
            };
            let Some(reg) = self.registrations.get(&d.account) else {
                fail_unregistered(d, now);
                book.leave_line(id);
                continue;
            };
            // Always the current URL and secret: a receiver moved or a
            // secret rotated since the delivery was queued is honoured.
            d.status = DeliveryStatus::InFlight;
            d.url.clone_from(&reg.url);
            let simulated = d
                .fault
                .as_ref()
                .filter(|f| (d.attempts.len() as u32) < f.fail_attempts)
                .map(|f| Attempt {
                    at: now,
                    status_code: (f.mode == WebhookFaultMode::Status).then_some(f.status),
                    latency_ms: 0,
                    error: Some(match f.mode {
                        WebhookFaultMode::Status => format!("HTTP {} (simulated by scenario)", f.status),
                        WebhookFaultMode::Timeout => "timed out (simulated by scenario)".to_owned(),
                    }),
                });
            out.push(Send {
                id: d.id,
                url: d.url.clone(),
                secret: reg.secret.clone(),
                event: d.event,
                body: d.body.clone(),
                simulated,
                generation,
            });
        }
        self.publish_next_due(&book);
        out
    }

    /// Records an attempt's outcome; schedules a retry or ends the delivery.
    pub fn record(&self, id: u64, generation: u64, attempt: Attempt, now: Instant) {
        let mut book = self.book.lock();
        if book.generation != generation {
            return;
        }
        let Some(d) = book.deliveries.get_mut(&id) else { return };
        if !self.registrations.contains_key(&d.account) {
            d.attempts.push(attempt);
            fail_unregistered(d, now);
            book.leave_line(id);
            self.publish_next_due(&book);
            return;
        }
        let ok = attempt.error.is_none();
        let started = attempt.at;
        let simulated = attempt.error.as_deref().is_some_and(|e| e.contains("simulated"));
        if let Some(code) = attempt.status_code.filter(|_| !simulated)
            && let Some(mut reg) = self.registrations.get_mut(&d.account)
        {
            reg.last_response_status = Some(code);
            reg.last_response_at = Some(now);
        }
        d.attempts.push(attempt);
        if ok {
            d.status = DeliveryStatus::Delivered;
            d.next_attempt_at = None;
            book.leave_line(id);
        } else if let Some(wait) = RETRY_BACKOFF.get(d.attempts.len() - 1) {
            d.status = DeliveryStatus::Pending;
            // Counted from the failed attempt's start, so a test that moves
            // the clock while the attempt is on the wire sees the same schedule.
            d.next_attempt_at = Some(started.plus(*wait).max(now));
            book.schedule(id);
        } else {
            d.status = DeliveryStatus::Failed;
            d.next_attempt_at = None;
            book.leave_line(id);
        }
        self.publish_next_due(&book);
    }

    /// Sends delivery `id` again now (keeping its attempt history).
    pub fn redeliver(&self, id: u64, now: Instant) -> Option<Delivery> {
        let mut book = self.book.lock();
        let status = book.deliveries.get(&id)?.status;
        if status != DeliveryStatus::InFlight {
            book.unschedule(id);
            if let Some(d) = book.deliveries.get_mut(&id) {
                d.status = DeliveryStatus::Pending;
                d.next_attempt_at = Some(now);
            }
            // A finished one queues again; a pending one is already in line.
            book.join_line(id);
        }
        let d = book.deliveries.get(&id)?.clone();
        self.publish_next_due(&book);
        Some(d)
    }

    /// The delivery log, oldest first, optionally of one account.
    pub fn deliveries(&self, account: Option<&TenantId>) -> Vec<Delivery> {
        self.book
            .lock()
            .deliveries
            .values()
            .filter(|d| account.is_none_or(|a| &d.account == a))
            .cloned()
            .collect()
    }

    /// How many deliveries the log holds.
    pub fn delivery_count(&self) -> usize {
        self.book.lock().deliveries.len()
    }

    /// Removes every finished delivery (delivered, or given up) for which
    /// `expired(when it finished)` holds — its last attempt, or its creation
    /// when it never had one; returns how many. A delivery with a retry
    /// pending or an attempt on the wire is never removed.
    pub fn evict_finished(&self, expired: impl FnMut(Instant) -> bool) -> usize {
        self.evict_finished_ids(expired).len()
    }

    /// [`Webhooks::evict_finished`], naming what went (so `--data-dir`
    /// deletes it too).
    pub fn evict_finished_ids(&self, mut expired: impl FnMut(Instant) -> bool) -> Vec<u64> {
        let mut book = self.book.lock();
        let mut removed = Vec::new();
        book.deliveries.retain(|id, d| {
            let finished = matches!(d.status, DeliveryStatus::Delivered | DeliveryStatus::Failed);
            let evict = finished && expired(d.attempts.last().map_or(d.created_at, |a| a.at));
            if evict {
                removed.push(*id);
            }
            !evict
        });
        // Only finished deliveries went, and those are in no line and never
        // due: the index and `next_due` stay right.
        removed
    }

    /// When the next attempt is due.
    pub fn next_due(&self) -> Option<Instant> {
        let ms = self.next_due.load(Ordering::SeqCst);
        (ms != i64::MAX).then(|| Instant::from_millis(ms))
    }

    /// Publishes the earliest attempt due (one waiting behind another in
    /// its line is not due), so a check with nothing due takes no lock.
    fn publish_next_due(&self, book: &Book) {
        let next = book.due.first().map_or(i64::MAX, |(at, _)| *at);
        self.next_due.store(next, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn signature_matches_a_fixed_vector() {
        // Computed independently with Python's hmac and hashlib.
        assert_eq!(
            sign("whsec_test", br#"{"id":1,"name":"batch_edit"}"#),
            "sha256=2d181bd620628ca8abd40363aa15a988b8eb431ebc2bf02c85e3d751ea176d71"
        );
        assert!(verify("whsec_test", b"x", &sign("whsec_test", b"x")));
        assert!(!verify("whsec_test", b"y", &sign("whsec_test", b"x")));
        assert!(!verify("other", b"x", &sign("whsec_test", b"x")));
        assert!(!verify("whsec_test", b"x", "sha256=zz"));
    }

    /// Queues a delivery with no scenario fault; its id.
    fn queue(w: &Webhooks, owner: &TenantId, event: &'static str, n: u64, key: &str, body: Bytes, now: Instant) -> u64 {
        let d = w
            .prepare(owner, event, n, key.to_owned(), body, None, now)
            .expect("a webhook");
        let id = d.id;
        w.insert(d);
        id
    }

    /// A book with one account's webhook registered at `now`.
    /// The ids of a batch of sends.
    fn ids(v: Vec<Send>) -> Vec<u64> {
        v.iter().map(|s| s.id).collect()
    }

    fn registered(now: Instant) -> (Webhooks, TenantId) {
        let w = Webhooks::default();
        let owner = TenantId::from_client("acct_1");
        w.register(&owner, "http://x".into(), "s".into(), "wh_1".into(), now);
        (w, owner)
    }

    fn attempt(ok: bool, at: Instant) -> Attempt {
        Attempt {
            at,
            status_code: Some(if ok { 200 } else { 500 }),
            latency_ms: 1,
            error: (!ok).then(|| "HTTP 500".to_owned()),
        }
    }

    #[test]
    fn retries_follow_the_backoff_and_keep_order_per_key() {
        let w = Webhooks::default();
        let owner = TenantId::from_client("acct_1");
        let t0 = Instant::from_millis(1_000_000);
        w.register(&owner, "http://x".into(), "s".into(), "wh_1".into(), t0);
        let a = queue(&w, &owner, "batch_edit", 1, "job_a", Bytes::from_static(b"1"), t0);
        let b = queue(&w, &owner, "batch_edit", 2, "job_a", Bytes::from_static(b"2"), t0);
        let c = queue(&w, &owner, "batch_edit", 3, "job_c", Bytes::from_static(b"3"), t0);
        assert_eq!(ids(w.take_due(t0)), [a, c], "b waits behind a");
        assert!(w.take_due(t0).is_empty(), "in flight is not sent twice");
        w.record(a, 0, attempt(false, t0), t0);
        assert_eq!(w.next_due(), Some(t0.plus(RETRY_BACKOFF[0])));
        assert!(w.take_due(t0).is_empty(), "the retry waits 5 s and b waits behind it");
        assert_eq!(ids(w.take_due(t0.plus(RETRY_BACKOFF[0]))), [a]);
        w.record(a, 0, attempt(true, t0), t0);
        assert_eq!(ids(w.take_due(t0.plus(RETRY_BACKOFF[0]))), [b]);
        let log = w.deliveries(Some(&owner));
        assert_eq!(log[0].attempts.len(), 2);
        assert_eq!(log[0].status, DeliveryStatus::Delivered);
    }

    /// Found by the load test (issue #8): every enqueue, take and record
    /// walked the whole book under its lock; with 1,000 jobs in flight that
    /// starved the runtime, attempts outlived `--webhook-timeout` after the
    /// receiver had accepted them, and their retries were duplicates. Each
    /// delivery goes out once, one per job at a time, in order.
    #[test]
    fn the_deliveries_of_a_thousand_jobs_go_out_once_each_in_order_per_job() {
        let t0 = Instant::from_millis(0);
        let (w, owner) = registered(t0);
        let job = |n: u64| format!("job_{}", n % 1000);
        let ids: Vec<u64> = (0..MAX_DELIVERIES as u64)
            .map(|n| queue(&w, &owner, "batch_edit", n, &job(n), Bytes::new(), t0))
            .collect();
        let key_of: HashMap<u64, String> = ids.iter().zip(0..).map(|(id, n)| (*id, job(n))).collect();
        let mut last_sent: HashMap<&str, u64> = HashMap::new();
        let mut rounds = 0;
        loop {
            let batch = w.take_due(t0);
            if batch.is_empty() {
                break;
            }
            rounds += 1;
            let mut jobs_in_batch = std::collections::HashSet::new();
            for s in &batch {
                let key = key_of[&s.id].as_str();
                assert!(jobs_in_batch.insert(key), "one delivery of {key} at a time");
                assert!(
                    last_sent.insert(key, s.id).is_none_or(|prev| prev < s.id),
                    "{key} in order"
                );
                w.record(s.id, 0, attempt(true, t0), t0);
            }
        }
        assert_eq!(rounds, 10, "ten deliveries a job, one after another");
        let log = w.deliveries(None);
        assert!(
            log.iter()
                .all(|d| d.status == DeliveryStatus::Delivered && d.attempts.len() == 1)
        );
        assert!(w.next_due().is_none());
    }

    #[test]
    fn a_redelivery_goes_before_the_later_deliveries_of_its_job() {
        let t0 = Instant::from_millis(0);
        let retry_at = t0.plus(RETRY_BACKOFF[0]);
        let (w, owner) = registered(t0);
        let a = queue(&w, &owner, "batch_edit", 1, "job", Bytes::new(), t0);
        let b = queue(&w, &owner, "batch_edit", 2, "job", Bytes::new(), t0);
        assert_eq!(w.take_due(t0).len(), 1);
        w.record(a, 0, attempt(true, t0), t0);
        assert_eq!(w.take_due(t0)[0].id, b);
        w.record(b, 0, attempt(false, t0), t0);
        assert_eq!(w.next_due(), Some(retry_at));
        // `a` again: it is first in its job's line, so `b` waits behind it.
        w.redeliver(a, t0).expect("known");
        assert_eq!(w.next_due(), Some(t0));
        assert_eq!(w.take_due(t0)[0].id, a);
        assert!(w.take_due(retry_at).is_empty(), "b waits while a is on the wire");
        assert!(w.next_due().is_none());
        w.record(a, 0, attempt(true, t0), t0);
        assert_eq!(w.next_due(), Some(retry_at), "b is due again once a is through");
        assert_eq!(w.take_due(retry_at)[0].id, b);
    }

    /// Found in review: redelivering an older delivery while a later one of
    /// the same job was on the wire sent both at once.
    #[test]
    fn a_redelivery_waits_for_its_jobs_delivery_on_the_wire() {
        let t0 = Instant::from_millis(0);
        let (w, owner) = registered(t0);
        let a = queue(&w, &owner, "batch_edit", 1, "job", Bytes::new(), t0);
        let b = queue(&w, &owner, "batch_edit", 2, "job", Bytes::new(), t0);
        assert_eq!(ids(w.take_due(t0)), [a]);
        w.record(a, 0, attempt(true, t0), t0);
        assert_eq!(ids(w.take_due(t0)), [b]);
        w.redeliver(a, t0).expect("known");
        assert!(w.take_due(t0).is_empty(), "a waits while b is on the wire");
        w.record(b, 0, attempt(true, t0), t0);
        assert_eq!(ids(w.take_due(t0)), [a], "a goes once b is through");
        w.record(a, 0, attempt(true, t0), t0);
        assert!(w.take_due(t0).is_empty());
    }

    #[test]
    fn a_delivery_fails_after_seven_attempts() {
        let w = Webhooks::default();
        let owner = TenantId::from_client("acct_1");
        let mut now = Instant::from_millis(0);
        w.register(&owner, "http://x".into(), "s".into(), "wh_1".into(), now);
        let id = queue(&w, &owner, "ping", 1, "k", Bytes::new(), now);
        for _ in 0..7 {
            assert_eq!(w.take_due(now).len(), 1);
            w.record(id, 0, attempt(false, now), now);
            now = now.plus(Duration::from_secs(3600));
        }
        assert_eq!(w.deliveries(None)[0].status, DeliveryStatus::Failed);
        assert!(w.next_due().is_none());
        assert!(w.redeliver(id, now).is_some());
        assert_eq!(w.take_due(now).len(), 1, "a redelivery goes out again");
    }

    #[test]
    fn removing_a_webhook_fails_a_delivery_that_is_in_flight() {
        let w = Webhooks::default();
        let owner = TenantId::from_client("acct_1");
        let now = Instant::from_millis(0);
        w.register(&owner, "http://x".into(), "s".into(), "wh_1".into(), now);
        let id = queue(&w, &owner, "ping", 1, "k", Bytes::new(), now);
        let sent = w.take_due(now);
        assert!(w.remove(&owner, now));
        w.record(id, sent[0].generation, attempt(false, now), now);
        assert_eq!(w.deliveries(None)[0].status, DeliveryStatus::Failed);
        assert!(w.next_due().is_none(), "nothing stays due, so the ticker can sleep");
    }

    #[test]
    fn eviction_takes_finished_deliveries_and_never_one_with_a_retry_pending() {
        let w = Webhooks::default();
        let owner = TenantId::from_client("acct_1");
        let t0 = Instant::from_millis(0);
        let later = Instant::from_millis(10_000);
        w.register(&owner, "http://x".into(), "s".into(), "wh_1".into(), t0);
        let delivered = queue(&w, &owner, "ping", 1, "a", Bytes::new(), t0);
        let retrying = queue(&w, &owner, "ping", 2, "b", Bytes::new(), t0);
        let waiting = queue(&w, &owner, "ping", 3, "c", Bytes::new(), t0);
        assert_eq!(w.take_due(t0).len(), 3);
        w.record(delivered, 0, attempt(true, t0), t0);
        w.record(retrying, 0, attempt(false, t0), t0);
        let everything = |_: Instant| true;
        assert_eq!(w.evict_finished(everything), 1, "only the delivered one is finished");
        let left: Vec<u64> = w.deliveries(None).iter().map(|d| d.id).collect();
        assert_eq!(left, [retrying, waiting], "the retry and the one in flight stay");
        assert_eq!(w.next_due(), Some(t0.plus(RETRY_BACKOFF[0])), "the retry is still due");
        w.record(waiting, 0, attempt(true, later), later);
        let before_later = |t: Instant| t < later;
        assert_eq!(w.evict_finished(before_later), 0, "finished at `later`: not old enough");
        assert_eq!(w.delivery_count(), 2);
    }

    /// Found in review: while shutting down, each finished attempt sent the
    /// next delivery of its job at once (and a retry falling due was sent
    /// too), so the attempts on the wire might never all end and the
    /// shutdown ran to the end of its grace. Once it began, each delivery
    /// due then gets one attempt, in its job's order; a retry and a delivery
    /// made later stay pending.
    #[test]
    fn once_a_shutdown_began_each_delivery_due_then_gets_one_attempt_and_nothing_else_goes() {
        let t0 = Instant::from_millis(0);
        let far = t0.plus(Duration::from_secs(86_400));
        let (w, owner) = registered(t0);
        let on_wire = queue(&w, &owner, "ping", 1, "ping", Bytes::new(), t0);
        assert_eq!(ids(w.take_due(t0)), [on_wire]);
        let a = queue(&w, &owner, "batch_edit", 2, "job_a", Bytes::new(), t0);
        let b = queue(&w, &owner, "batch_edit", 3, "job_a", Bytes::new(), t0);
        let c = queue(&w, &owner, "batch_edit", 4, "job_c", Bytes::new(), t0);

        w.send_only_due(t0);
        let later = queue(&w, &owner, "batch_edit", 5, "job_a", Bytes::new(), t0);
        let fresh = queue(&w, &owner, "test", 6, "test", Bytes::new(), t0);
        assert_eq!(ids(w.take_due(t0)), [a, c], "b waits behind a; what came later waits");
        w.record(on_wire, 0, attempt(false, t0), t0);
        w.record(c, 0, attempt(false, t0), t0);
        w.record(a, 0, attempt(true, t0), t0);
        assert_eq!(ids(w.take_due(far)), [b], "b was due: it follows a; no retry goes");
        w.record(b, 0, attempt(true, t0), t0);
        assert!(
            w.take_due(far).is_empty(),
            "`later` is first in line now, but came later"
        );

        let status = |id: u64| w.delivery(id).expect("kept").status;
        for id in [on_wire, c, later, fresh] {
            assert_eq!(status(id), DeliveryStatus::Pending, "delivery {id} waits for a restart");
        }
        for id in [a, b] {
            assert_eq!(status(id), DeliveryStatus::Delivered);
        }
        w.clear();
        w.register(&owner, "http://x".into(), "s".into(), "wh_1".into(), t0);
        queue(&w, &owner, "ping", 1, "ping", Bytes::new(), t0);
        assert!(w.take_due(t0).is_empty(), "nor after a reset during the shutdown");
    }

    #[test]
    fn a_result_from_before_a_reset_is_not_recorded_on_a_new_delivery() {
        let w = Webhooks::default();
        let owner = TenantId::from_client("acct_1");
        let now = Instant::from_millis(0);
        w.register(&owner, "http://x".into(), "s".into(), "wh_1".into(), now);
        queue(&w, &owner, "ping", 1, "k", Bytes::new(), now);
        let old = w.take_due(now);
        w.clear();
        w.register(&owner, "http://x".into(), "s".into(), "wh_1".into(), now);
        let id = queue(&w, &owner, "ping", 1, "k", Bytes::new(), now);
        assert_eq!(id, old[0].id, "ids start over after a reset");
        w.record(old[0].id, old[0].generation, attempt(true, now), now);
        assert_eq!(w.deliveries(None)[0].status, DeliveryStatus::Pending);
        assert!(w.deliveries(None)[0].attempts.is_empty());
    }
}
