//! The job engine: jobs on the injected clock. Each job's timeline is
//! decided at creation ([`schedule`]); [`Engine::step`] applies every event
//! due at a time, in global time order, and is what tests, the control API
//! and the background ticker drive.

pub mod job;
pub mod plan;
pub mod schedule;
pub mod state;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use dashmap::DashMap;
use parking_lot::Mutex;

use crate::clock::Instant;
use crate::domain::ids::{JobId, TenantId};
use crate::engine::job::{Job, NewJob};
use crate::engine::schedule::TimedEvent;
use crate::remove_where::remove_where;

/// An event the engine applied.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The job.
    pub job: Arc<Job>,
    /// The event.
    pub event: TimedEvent,
    /// The job's state right after it.
    pub state: state::JobState,
}

/// All jobs and the queue of what is due.
#[derive(Debug)]
pub struct Engine {
    jobs: DashMap<JobId, Arc<Job>>,
    due: Mutex<BinaryHeap<Reverse<(Instant, u64, JobId)>>>,
    /// Earliest due time in `due` (ms), so a step with nothing due takes no lock.
    next_due: AtomicI64,
    seq: AtomicU64,
    seed: u64,
    time_scale: f64,
}

impl Engine {
    /// An engine for `--seed` and `--time-scale`.
    pub fn new(seed: u64, time_scale: f64) -> Self {
        Self {
            jobs: DashMap::new(),
            due: Mutex::new(BinaryHeap::new()),
            next_due: AtomicI64::new(i64::MAX),
            seq: AtomicU64::new(0),
            seed,
            time_scale,
        }
    }

    /// Forgets every job.
    pub fn clear(&self) {
        let mut due = self.due.lock();
        due.clear();
        self.jobs.clear();
        self.seq.store(0, Ordering::SeqCst);
        self.next_due.store(i64::MAX, Ordering::SeqCst);
    }

    /// Schedules and stores a new job, held: none of its events applies
    /// until [`Engine::release`] (its first one announces it).
    pub fn submit(&self, n: NewJob) -> Arc<Job> {
        let seed = job_seed(self.seed, &n.id);
        let schedule = schedule::build(&n.request, &n.plan, n.created_at, seed, self.time_scale);
        let job = Arc::new(Job::new(n, self.seq.fetch_add(1, Ordering::Relaxed), schedule, true));
        self.jobs.insert(job.id.clone(), job.clone());
        job
    }

    /// Lets a held job's events apply: those already due apply at the next
    /// step, in their order. Whether it was held (and is still this engine's
    /// job: a reset may have come since).
    pub fn release(&self, job: &Arc<Job>) -> bool {
        if !job.release() {
            return false;
        }
        let current = self.jobs.get(&job.id).is_some_and(|j| Arc::ptr_eq(j.value(), job));
        if current {
            self.enqueue(job);
        }
        current
    }

    /// Puts back a job kept by `--data-dir`: its schedule as it was (with any
    /// change the control API made), its first `applied` events already
    /// applied (their notifications were published before the restart). The
    /// rest apply on the clock as usual.
    pub fn restore(&self, n: NewJob, seq: u64, schedule: schedule::Schedule, applied: usize) -> Arc<Job> {
        let job = Arc::new(Job::restore(n, seq, schedule, applied));
        self.jobs.insert(job.id.clone(), job.clone());
        self.enqueue(&job);
        job
    }

    /// The next creation-order number, without taking it (kept by `--data-dir`).
    pub fn peek_seq(&self) -> u64 {
        self.seq.load(Ordering::SeqCst)
    }

    /// Continues the creation order from `seq` (a restart on `--data-dir`).
    pub fn restore_seq(&self, seq: u64) {
        self.seq.store(seq, Ordering::SeqCst);
    }

    fn enqueue(&self, job: &Job) {
        if let Some(at) = job.next_due() {
            let mut due = self.due.lock();
            due.push(Reverse((at, job.seq, job.id.clone())));
            self.next_due.fetch_min(at.millis(), Ordering::SeqCst);
        }
    }

    /// The owner's job `id`; another tenant's job is `None`, like a missing one.
    pub fn get(&self, owner: &TenantId, id: &JobId) -> Option<Arc<Job>> {
        self.jobs
            .get(id)
            .filter(|j| &j.owner == owner)
            .map(|j| j.value().clone())
    }

    /// Any tenant's job (for signed URLs and the control API).
    pub fn get_any(&self, id: &JobId) -> Option<Arc<Job>> {
        self.jobs.get(id).map(|j| j.value().clone())
    }

    /// Every job, in creation order (for the control API's listing).
    pub fn all(&self) -> Vec<Arc<Job>> {
        let mut jobs: Vec<Arc<Job>> = self.jobs.iter().map(|j| j.value().clone()).collect();
        jobs.sort_by_key(|j| j.seq);
        jobs
    }

    /// How many jobs exist.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Whether no job exists.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Removes every job that has reached its final state (see
    /// [`Job::final_since`]) and for which `expired(time of its last change)`
    /// holds; returns how many. The job's renders and decoded inputs go with
    /// it once no request still holds it. A job still running is never removed.
    pub fn evict_final(&self, expired: impl FnMut(Instant) -> bool) -> usize {
        self.evict_final_ids(expired).len()
    }

    /// [`Engine::evict_final`], naming what went (so `--data-dir` deletes it too).
    pub fn evict_final_ids(&self, mut expired: impl FnMut(Instant) -> bool) -> Vec<JobId> {
        // One shard at a time: lookups and job creation go on meanwhile.
        remove_where(&self.jobs, |job| job.final_since().is_some_and(&mut expired))
    }

    /// Removes every job of the tenants `owned` picks, running or not (a
    /// reset of those tenants, in one pass); returns their ids. Queue
    /// entries of a removed job are skipped when they fall due.
    pub fn remove_owned(&self, owned: impl Fn(&TenantId) -> bool) -> Vec<JobId> {
        remove_where(&self.jobs, |job| owned(&job.owner))
    }

    /// When the next event of any job is due.
    pub fn next_due(&self) -> Option<Instant> {
        let ms = self.next_due.load(Ordering::SeqCst);
        (ms != i64::MAX).then(|| Instant::from_millis(ms))
    }

    /// Applies every event due at `now`, one at a time in global order of
    /// (time, job creation, event order), and returns them in that order.
    pub fn step(&self, now: Instant) -> Vec<Applied> {
        if self.next_due.load(Ordering::SeqCst) > now.millis() {
            return Vec::new();
        }
        let mut applied = Vec::new();
        let mut due = self.due.lock();
        while let Some(Reverse((at, seq, id))) = due.peek().cloned() {
            if at > now {
                break;
            }
            due.pop();
            let Some(job) = self.jobs.get(&id).map(|j| j.value().clone()) else {
                continue;
            };
            // Checked under the queue's lock, which `release` takes after it
            // lets go: either it is released now, or it is queued again then.
            if job.is_held() {
                continue;
            }
            match job.next_due() {
                // A stale entry (the job was pulled forward or already ran).
                Some(actual) if actual != at => due.push(Reverse((actual, seq, id))),
                Some(_) => {
                    if let Some((event, state)) = job.apply_next(now) {
                        applied.push(Applied {
                            job: job.clone(),
                            event,
                            state,
                        });
                    }
                    if let Some(next) = job.next_due() {
                        due.push(Reverse((next, seq, id)));
                    }
                }
                None => {}
            }
        }
        let next = due.peek().map_or(i64::MAX, |Reverse((at, ..))| at.millis());
        self.next_due.store(next, Ordering::SeqCst);
        applied
    }

    /// Makes job `id` end now with `end` (`JobFailed` or `JobAborted`): its
    /// remaining events are replaced by it, applied (and announced) by the
    /// next step.
    pub fn end_now(&self, id: &JobId, now: Instant, end: schedule::Event) -> bool {
        let Some(job) = self.get_any(id) else { return false };
        job.replace_rest(now, vec![end]);
        self.enqueue(&job);
        true
    }

    /// Makes job `id` finish now: its remaining events move to `now`, to be
    /// applied (and announced) by the next step.
    pub fn pull_forward(&self, id: &JobId, now: Instant) -> bool {
        let Some(job) = self.get_any(id) else { return false };
        job.pull_forward(now);
        self.enqueue(&job);
        true
    }
}

/// A job's own seed: from `--seed` and its id, so one job's timeline does not
/// depend on how many other jobs exist.
fn job_seed(seed: u64, id: &JobId) -> u64 {
    use sha2::{Digest, Sha256};
    let d = Sha256::new()
        .chain_update(seed.to_le_bytes())
        .chain_update(id.as_str())
        .finalize();
    u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}
