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
//!
//! - `signature`: signing and verifying a body;
//! - `delivery`: a delivery, its attempts, what the sender is handed;
//! - `book`: the indexes behind [`Webhooks`];
//! - `finished`: the finished deliveries, in the order the log's cap
//!   removes them (dropped ones last);
//! - `pending`: each account's unfinished deliveries, against
//!   `--webhook-max-pending`;
//! - `drops`: how many deliveries each account had dropped past that cap,
//!   and the bursts they come in.

mod book;
mod delivery;
mod drops;
mod finished;
mod pending;
mod signature;

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use dashmap::DashMap;
use parking_lot::Mutex;
use serde::Serialize;

use book::{Book, Cutoff};
use delivery::fail_unregistered;
pub use delivery::{Attempt, Delivery, DeliveryStatus, Send};
pub use signature::{sign, verify};

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
/// Most deliveries kept in the log; the oldest finished ones go first,
/// delivered and failed ones before dropped ones.
pub const MAX_DELIVERIES: usize = 10_000;

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

/// Registrations and deliveries of the whole server.
#[derive(Debug)]
pub struct Webhooks {
    registrations: DashMap<TenantId, Registration>,
    book: Mutex<Book>,
    /// Earliest due attempt (ms), so a check with nothing due takes no lock.
    next_due: AtomicI64,
    /// Most unfinished deliveries of one account (`--webhook-max-pending`).
    max_pending: usize,
}

impl Default for Webhooks {
    /// A book without a cap on an account's unfinished deliveries.
    fn default() -> Self {
        Self::with_max_pending(usize::MAX)
    }
}

impl Webhooks {
    /// A book that keeps at most `max_pending` deliveries of one account
    /// unfinished: one more drops the oldest pending one.
    pub fn with_max_pending(max_pending: usize) -> Self {
        Self {
            registrations: DashMap::new(),
            book: Mutex::new(Book::default()),
            next_due: AtomicI64::new(i64::MAX),
            max_pending,
        }
    }

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

    /// Forgets the webhook of each tenant `owned` picks and every delivery
    /// of it, pending or not, with its count of drops (a reset of those
    /// tenants, in one pass over the book); returns the deliveries' ids.
    pub fn forget_accounts(&self, owned: impl Fn(&TenantId) -> bool) -> Vec<u64> {
        self.registrations.retain(|owner, _| !owned(owner));
        let mut book = self.book.lock();
        book.drops.forget(&owned);
        let ids: Vec<u64> = book
            .deliveries
            .values()
            .filter(|d| owned(&d.account))
            .map(|d| d.id)
            .collect();
        for id in &ids {
            book.forget(*id);
        }
        self.publish_next_due(&book);
        ids
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
    /// `--data-dir`); returns the ids of the deliveries it changed besides:
    /// the oldest pending ones of its account dropped past the account's
    /// cap (now `dropped`), and finished ones the cap of
    /// [`MAX_DELIVERIES`] pushed out (gone).
    pub fn insert(&self, d: Delivery) -> Vec<u64> {
        let mut book = self.book.lock();
        book.next_id = book.next_id.max(d.id);
        let (id, status) = (d.id, d.status);
        let (account, made) = (d.account.clone(), d.created_at);
        book.deliveries.insert(id, d);
        let mut dropped = Vec::new();
        if status.is_finished() {
            book.finished.note(id, status);
            if status == DeliveryStatus::Dropped {
                // One kept by `--data-dir`: the count is not stored, so
                // after a restart it starts again from the drops kept.
                book.drops.count(&account, 1);
            }
        } else {
            book.join_line(id);
            dropped = book.drop_oldest_past(&account, self.max_pending);
        }
        let burst = !dropped.is_empty() && book.drops.note_burst(&account, made);
        let excess = book.deliveries.len().saturating_sub(MAX_DELIVERIES);
        if excess > 0 {
            let gone = book.finished.take_prunable(excess);
            // Finished ones are in no line and not due: the other indexes
            // stay right.
            for f in &gone {
                book.deliveries.remove(f);
            }
            dropped.extend(gone);
        }
        self.publish_next_due(&book);
        drop(book);
        if burst {
            tracing::warn!(
                account = %account,
                cap = self.max_pending,
                "an account has more webhook deliveries unfinished than --webhook-max-pending: \
                 its oldest pending ones are dropped (`dropped` in the delivery log); \
                 logged once per burst of drops"
            );
        }
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
        self.take_due_at_most(now, usize::MAX)
    }

    /// [`Webhooks::take_due`], at most `max` of them (the free slots for
    /// attempts); the others stay pending, in the due index.
    pub fn take_due_at_most(&self, now: Instant, max: usize) -> Vec<Send> {
        if max == 0 || self.next_due.load(Ordering::SeqCst) > now.millis() {
            return Vec::new();
        }
        let mut book = self.book.lock();
        let generation = book.generation;
        let mut out = Vec::new();
        while out.len() < max
            && let Some((at, id)) = book.next_sendable(now.millis())
        {
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

    /// How many deliveries were dropped past `--webhook-max-pending`, of
    /// one account or of all, since the start or the account's reset:
    /// still counted once the log's cap removed their records.
    pub fn dropped(&self, account: Option<&TenantId>) -> u64 {
        self.book.lock().drops.total(account)
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
            let finished = d.status.is_finished();
            let evict = finished && expired(d.attempts.last().map_or(d.created_at, |a| a.at));
            if evict {
                removed.push(*id);
            }
            !evict
        });
        // Only finished deliveries went, and those are in no line and never
        // due: the lines, the due index and `next_due` stay right.
        for id in &removed {
            book.finished.remove(*id);
        }
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
mod tests;
