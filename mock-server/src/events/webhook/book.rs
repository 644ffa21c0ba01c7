//! The delivery book's indexes: the deliveries by id, the lines (what must
//! go out one after another) and the due index (what may be sent, by due
//! time). [`super::Webhooks`] takes its lock and keeps them in step.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::drops::Drops;
use super::finished::Finished;
use super::pending::Unfinished;
use super::{Delivery, DeliveryStatus};
use crate::domain::ids::TenantId;

/// Deliveries that go out one after another: one account's, with one key.
pub(super) type Line = (TenantId, String);

/// What may still be sent once a shutdown began: one attempt for each
/// delivery that was due then ([`super::Webhooks::send_only_due`]).
#[derive(Debug)]
pub(super) struct Cutoff {
    /// Due by then (ms of the injected clock) ...
    pub(super) at: i64,
    /// ... and made by then (ids up to this one) ...
    pub(super) last_id: u64,
    /// ... and not sent since (or on the wire when it began).
    pub(super) tried: HashSet<u64>,
}

#[derive(Debug, Default)]
pub(super) struct Book {
    /// Bumped by every clear, so a result of an attempt sent before a reset
    /// is never recorded against a new delivery that reuses its id.
    pub(super) generation: u64,
    pub(super) next_id: u64,
    pub(super) deliveries: BTreeMap<u64, Delivery>,
    /// The unfinished (pending or in flight) deliveries of each line, by
    /// id: only the first may be sent.
    pub(super) lines: HashMap<Line, BTreeSet<u64>>,
    /// (next attempt in ms, id) of every pending delivery first in its line:
    /// exactly what is waiting to be sent.
    pub(super) due: BTreeSet<(i64, u64)>,
    /// Set once a shutdown began: what may still be sent.
    pub(super) cutoff: Option<Cutoff>,
    /// Each account's unfinished deliveries: exactly those in its lines.
    pub(super) unfinished: Unfinished,
    /// The finished deliveries, in the order the log's cap removes them.
    pub(super) finished: Finished,
    /// Each account's drops: how many, and their bursts.
    pub(super) drops: Drops,
}

impl Book {
    /// The first entry of the due index that may be sent with the clock at
    /// `now`: the earliest one, or while shutting down the earliest one the
    /// cutoff lets through (the others stay, pending).
    pub(super) fn next_sendable(&self, now: i64) -> Option<(i64, u64)> {
        let limit = self.cutoff.as_ref().map_or(now, |c| c.at.min(now));
        let mut due = self.due.iter().take_while(|(at, _)| *at <= limit);
        match &self.cutoff {
            None => due.next().copied(),
            Some(c) => due.find(|(_, id)| *id <= c.last_id && !c.tried.contains(id)).copied(),
        }
    }

    /// Puts delivery `id` in the due index when it is pending and first in
    /// its line.
    pub(super) fn schedule(&mut self, id: u64) {
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
    pub(super) fn unschedule(&mut self, id: u64) {
        if let Some(at) = self.deliveries.get(&id).and_then(|d| d.next_attempt_at) {
            self.due.remove(&(at.millis(), id));
        }
    }

    /// Adds delivery `id` to its line (a new one, or a finished one sent
    /// again); one it moves back from first place stops being due.
    pub(super) fn join_line(&mut self, id: u64) {
        let Some(d) = self.deliveries.get(&id) else { return };
        self.unfinished.add(&d.account, id);
        self.finished.remove(id);
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

    /// Takes finished delivery `id` out of its line (every change to a
    /// finished status goes through here, so the finished index follows);
    /// the next one in line becomes due.
    pub(super) fn leave_line(&mut self, id: u64) {
        let Some(d) = self.deliveries.get(&id) else { return };
        self.unfinished.remove(&d.account, id);
        self.finished.note(id, d.status);
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

    /// While `account` has more than `cap` unfinished deliveries, drops its
    /// oldest pending one (one on the wire runs its course): never sent,
    /// out of its line, so the next delivery of its job may go; counted
    /// as the account's drops. Returns the ids dropped.
    pub(super) fn drop_oldest_past(&mut self, account: &TenantId, cap: usize) -> Vec<u64> {
        let mut dropped = Vec::new();
        while self.unfinished.count(account) > cap {
            let deliveries = &self.deliveries;
            let Some(id) = self
                .unfinished
                .of(account)
                .find(|id| deliveries.get(id).is_some_and(|d| d.status == DeliveryStatus::Pending))
            else {
                break;
            };
            self.unschedule(id);
            if let Some(d) = self.deliveries.get_mut(&id) {
                d.status = DeliveryStatus::Dropped;
                d.next_attempt_at = None;
            }
            self.leave_line(id);
            dropped.push(id);
        }
        self.drops.count(account, dropped.len() as u64);
        dropped
    }

    /// Removes delivery `id` from the book and every index.
    pub(super) fn forget(&mut self, id: u64) {
        self.unschedule(id);
        self.leave_line(id);
        self.finished.remove(id);
        self.deliveries.remove(&id);
    }
}
