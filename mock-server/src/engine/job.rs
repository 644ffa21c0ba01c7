//! One job: what it was asked, what it is made from, its schedule and its
//! state, and its rendered outputs (each rendered once, on first need, off
//! the async runtime, then kept encoded).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use parking_lot::RwLock;
use tokio::sync::{OnceCell, Semaphore};

use crate::blob_bytes::BlobBytes;
use crate::clock::Instant;
use crate::domain::identity::Identity;
use crate::domain::ids::{FileId, JobId, TenantId};
use crate::domain::job_request::{Format, JobRequest};
use crate::domain::project::Project;
use crate::engine::plan::FaultPlan;
use crate::engine::schedule::{OutputSlot, Schedule};
use crate::engine::state::{JobState, PostStatus};
use crate::render::{Inputs, OutputFormat, OutputSpec, RenderError, Rendered, render_inputs};
use crate::scenarios::{Scenario, WebhookFault};

/// One input image, as it was when the job was created.
#[derive(Debug, Clone)]
pub struct JobInput {
    /// The file.
    pub file_id: FileId,
    /// Its upload name.
    pub filename: String,
    /// Its styling note.
    pub note: Option<String>,
    /// Its bytes (in memory, or read from the data dir).
    pub bytes: BlobBytes,
}

/// Every output has exactly one version, 0: the fake has no re-edit.
pub const OUTPUT_VERSION: u32 = 0;

/// What output `k`'s names are built from: its instruction
/// (`image_index`), its variation (`group_index`) and its own format. Only
/// indexes, never client input, so no name can escape a folder or a ZIP.
#[derive(Debug, Clone, Copy)]
pub struct OutputName {
    image_index: usize,
    group_index: u32,
    /// The file extension of its format (`jpg`, `png`).
    pub ext: &'static str,
}

impl OutputName {
    /// `output_{image_index}_{group_index}.{ext}`: unique per output, so a
    /// client naming saved files after it (the vendor's `flat_to_model.py`
    /// writes `{stem}_v{version}.{ext}`) keeps every output.
    pub fn original(&self) -> String {
        format!("output_{}_{}.{}", self.image_index, self.group_index, self.ext)
    }

    /// `output_{image_index}_{group_index}_v{version}.{ext}`: the ZIP entry
    /// and `download_filename`.
    pub fn download(&self) -> String {
        format!(
            "output_{}_{}_v{OUTPUT_VERSION}.{}",
            self.image_index, self.group_index, self.ext
        )
    }
}

/// A job.
#[derive(Debug)]
pub struct Job {
    /// `job_…`.
    pub id: JobId,
    /// Owner.
    pub owner: TenantId,
    /// Creation order, to break ties.
    pub seq: u64,
    /// Creation time.
    pub created_at: Instant,
    /// The parsed request.
    pub request: JobRequest,
    /// The model.
    pub identity: Arc<Identity>,
    /// The project.
    pub project: Project,
    /// The inputs, in request order.
    pub inputs: Vec<JobInput>,
    /// The fault plan it runs under.
    pub plan: FaultPlan,
    /// The scenario it was created under (it keeps it).
    pub scenario: Option<Arc<Scenario>>,
    /// The base URL of the request that created it, when URLs follow the
    /// request ([`crate::public_base`]): its events' links use it.
    pub public_base: Option<Arc<str>>,
    schedule: RwLock<Arc<Schedule>>,
    state: RwLock<JobState>,
    renders: Vec<OnceCell<Arc<Rendered>>>,
    decoded: OnceCell<Arc<Inputs>>,
    /// The status body and the state (events applied) it shows.
    status_body: RwLock<Option<(usize, Bytes)>>,
    /// Its events wait: the answer that names it is not on the wire yet
    /// ([`crate::wire`]), and a client cannot follow a job it cannot name.
    held: AtomicBool,
}

/// What a new job is made of.
#[derive(Debug)]
pub struct NewJob {
    /// `job_…`.
    pub id: JobId,
    /// Owner.
    pub owner: TenantId,
    /// Creation time.
    pub created_at: Instant,
    /// The parsed request.
    pub request: JobRequest,
    /// The model.
    pub identity: Arc<Identity>,
    /// The project.
    pub project: Project,
    /// The inputs.
    pub inputs: Vec<JobInput>,
    /// The fault plan.
    pub plan: FaultPlan,
    /// The scenario of the creating request.
    pub scenario: Option<Arc<Scenario>>,
    /// The creating request's base URL, when URLs follow the request.
    pub public_base: Option<Arc<str>>,
    /// The request body as received: `--data-dir` keeps it and parses it
    /// again on restart (`Null` when nothing keeps it). Not held by the job.
    pub source: serde_json::Value,
}

impl Job {
    /// A job with its schedule, in its initial state; `held`: its events
    /// wait until [`Job::release`].
    pub fn new(n: NewJob, seq: u64, schedule: Schedule, held: bool) -> Self {
        let outputs = schedule.outputs.len();
        Self {
            held: AtomicBool::new(held),
            state: RwLock::new(JobState::new(outputs, n.request.post_process, n.created_at)),
            renders: (0..outputs).map(|_| OnceCell::new()).collect(),
            decoded: OnceCell::new(),
            status_body: RwLock::new(None),
            schedule: RwLock::new(Arc::new(schedule)),
            id: n.id,
            owner: n.owner,
            seq,
            created_at: n.created_at,
            request: n.request,
            identity: n.identity,
            project: n.project,
            inputs: n.inputs,
            plan: n.plan,
            scenario: n.scenario,
            public_base: n.public_base,
        }
    }

    /// A job kept by `--data-dir`, with its first `applied` events applied
    /// again, silently: the state is a function of the events, so it comes
    /// back exactly as it was.
    pub fn restore(n: NewJob, seq: u64, schedule: Schedule, applied: usize) -> Self {
        let job = Self::new(n, seq, schedule, false);
        {
            let schedule = job.schedule();
            let mut state = job.state.write();
            for ev in schedule.events.iter().take(applied) {
                state.apply(ev.at, &ev.event);
            }
        }
        job
    }

    /// Whether its events wait (see [`Job::new`]).
    pub fn is_held(&self) -> bool {
        self.held.load(Ordering::SeqCst)
    }

    /// Lets its events apply; whether it was held.
    pub(crate) fn release(&self) -> bool {
        self.held.swap(false, Ordering::SeqCst)
    }

    /// The webhook fault of the job's scenario.
    pub fn webhook_fault(&self) -> Option<WebhookFault> {
        self.scenario.as_ref().and_then(|s| s.webhook.clone())
    }

    /// The current state (as of the engine's last step).
    pub fn state(&self) -> JobState {
        self.state.read().clone()
    }

    /// The status body, made by `render` once per state change: clients
    /// poll far more often than a job changes, so most polls are a copy of
    /// a reference. Only applying an event changes the state, and each one
    /// counts in `applied`.
    pub fn status_body(&self, render: impl FnOnce(&Self, &JobState) -> Bytes) -> Bytes {
        let state = self.state.read();
        if let Some((applied, body)) = &*self.status_body.read()
            && *applied == state.applied
        {
            return body.clone();
        }
        let body = render(self, &state);
        *self.status_body.write() = Some((state.applied, body.clone()));
        body
    }

    /// The schedule.
    pub fn schedule(&self) -> Arc<Schedule> {
        self.schedule.read().clone()
    }

    /// The names of the output in `slot` of this job's schedule.
    pub fn output_name(&self, slot: &OutputSlot) -> OutputName {
        OutputName {
            image_index: slot.instruction,
            group_index: slot.variation,
            ext: self.request.instructions[slot.instruction].format.name(),
        }
    }

    /// The names of output `k`, if the job has one.
    pub fn output_name_of(&self, k: usize) -> Option<OutputName> {
        self.schedule().outputs.get(k).map(|slot| self.output_name(slot))
    }

    /// The ZIP entry and `download_filename` of output `k`.
    pub fn download_filename(&self, k: usize) -> String {
        self.output_name_of(k)
            .map_or_else(|| format!("output_{k}.bin"), |n| n.download())
    }

    /// The time of the job's last change once it can change no more —
    /// `completed` or `failed`, post-processing ended, no event left — and
    /// `None` while it still runs (eviction must never take a running job).
    pub fn final_since(&self) -> Option<Instant> {
        let (terminal, post_running, applied, updated_at) = {
            let s = self.state.read();
            (
                s.status.is_terminal(),
                matches!(
                    s.post_processing_status,
                    Some(PostStatus::Pending | PostStatus::Processing)
                ),
                s.applied,
                s.updated_at,
            )
        };
        // Read after the state lock is released: no path takes the state
        // lock while holding the schedule lock, and this keeps it that way.
        let events_left = self.schedule.read().events.len() > applied;
        (terminal && !post_running && !events_left).then_some(updated_at)
    }

    /// When the next unapplied event is due.
    pub fn next_due(&self) -> Option<Instant> {
        let applied = self.state.read().applied;
        self.schedule.read().events.get(applied).map(|e| e.at)
    }

    /// Applies the next event if it is due at `now`; returns it and the
    /// state right after it.
    pub(crate) fn apply_next(&self, now: Instant) -> Option<(crate::engine::schedule::TimedEvent, JobState)> {
        let schedule = self.schedule.read().clone();
        let mut state = self.state.write();
        let ev = schedule.events.get(state.applied).filter(|e| e.at <= now)?;
        state.apply(ev.at, &ev.event);
        Some((ev.clone(), state.clone()))
    }

    /// Replaces every event still to come by `events`, all at `now`.
    pub(crate) fn replace_rest(&self, now: Instant, events: Vec<crate::engine::schedule::Event>) {
        let applied = self.state.read().applied;
        let mut guard = self.schedule.write();
        let mut s = (**guard).clone();
        // A held job's announcement stays first, also when its end is forced
        // before its answer went out: nothing of a job comes before it.
        let created = s
            .events
            .get(applied)
            .is_some_and(|e| e.event == crate::engine::schedule::Event::Created);
        s.events.truncate(applied + usize::from(created));
        s.events.extend(
            events
                .into_iter()
                .map(|event| crate::engine::schedule::TimedEvent { at: now, event }),
        );
        *guard = Arc::new(s);
    }

    /// Moves every event still to come to `now` (keeping their order), so
    /// the next step finishes the job.
    pub(crate) fn pull_forward(&self, now: Instant) {
        let applied = self.state.read().applied;
        let mut guard = self.schedule.write();
        let mut s = (**guard).clone();
        for e in s.events.iter_mut().skip(applied) {
            if e.at > now {
                e.at = now;
            }
        }
        *guard = Arc::new(s);
    }

    /// Output `k`'s full image and thumbnail, rendered on first call. The
    /// render runs in its own task (so a client that hangs up does not waste
    /// it), on a blocking thread, holding one of `permits` (so renders never
    /// take more CPUs and memory than there are permits).
    pub async fn rendered(self: &Arc<Self>, k: usize, permits: Arc<Semaphore>) -> Result<Arc<Rendered>, RenderError> {
        let cell = self
            .renders
            .get(k)
            .ok_or_else(|| RenderError(format!("no output {k}")))?;
        if let Some(r) = cell.get() {
            return Ok(r.clone());
        }
        let job = self.clone();
        let task = tokio::spawn(async move {
            let cell = &job.renders[k];
            cell.get_or_try_init(|| async {
                let _permit = permits.acquire_owned().await.map_err(|e| RenderError(e.to_string()))?;
                let inputs = job.inputs().await?;
                let spec = job.output_spec(k)?;
                tokio::task::spawn_blocking(move || render_inputs(&spec, &inputs).map(Arc::new))
                    .await
                    .map_err(|e| RenderError(format!("render task failed: {e}")))?
            })
            .await
            .cloned()
        });
        task.await
            .map_err(|e| RenderError(format!("render task failed: {e}")))?
    }

    /// The inputs, decoded and shrunk once per job.
    async fn inputs(&self) -> Result<Arc<Inputs>, RenderError> {
        self.decoded
            .get_or_try_init(|| async {
                let identity = self.identity.bytes.clone();
                let garments: Vec<BlobBytes> = self.inputs.iter().map(|i| i.bytes.clone()).collect();
                tokio::task::spawn_blocking(move || {
                    // Stored bytes are read here, off the runtime, and
                    // dropped once decoded.
                    let read = |b: &BlobBytes| b.read().map_err(|e| RenderError(e.to_string()));
                    let garments = garments.iter().map(read).collect::<Result<Vec<_>, _>>()?;
                    Inputs::decode(&read(&identity)?, &garments).map(Arc::new)
                })
                .await
                .map_err(|e| RenderError(format!("decode task failed: {e}")))?
            })
            .await
            .cloned()
    }

    fn output_spec(&self, k: usize) -> Result<OutputSpec, RenderError> {
        let schedule = self.schedule();
        let slot = schedule
            .outputs
            .get(k)
            .ok_or_else(|| RenderError(format!("no output {k}")))?;
        let ins = &self.request.instructions[slot.instruction];
        Ok(OutputSpec {
            width: slot.width,
            height: slot.height,
            format: match ins.format {
                Format::Jpg => OutputFormat::Jpeg,
                Format::Png => OutputFormat::Png,
            },
            style_key: slot.style_key,
            watermark: self.request.options.add_ai_watermark,
        })
    }
}
