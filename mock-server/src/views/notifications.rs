//! What the job engine's events say to clients: a `batch_edit` for every
//! change of a job's status or progress, an `image_result` for every
//! finished output, built from the job's state after the event.

use serde::Serialize;
use serde_json::Value;

use super::status::JobProgressOut;
use crate::domain::ids::JobId;
use crate::engine::Applied;
use crate::engine::job::Job;
use crate::engine::schedule::Event;
use crate::engine::state::{JobState, OutputStatus};
use crate::links::ResultKind;

/// `output` of a result or an `image_result`: its two images' links, both
/// null until it completed.
#[derive(Debug, Serialize)]
pub struct OutputLinks {
    full_size: Option<String>,
    thumbnail: Option<String>,
}

impl OutputLinks {
    /// The links `link` builds when the output is `done`, else nulls.
    pub fn of(done: bool, link: impl Fn(ResultKind) -> String) -> Self {
        Self {
            full_size: done.then(|| link(ResultKind::Full)),
            thumbnail: done.then(|| link(ResultKind::Thumbnail)),
        }
    }
}

/// The `batch_edit` data of a job.
#[derive(Debug, Serialize)]
pub struct BatchEditOut<'a> {
    id_task: &'a JobId,
    #[serde(flatten)]
    progress: JobProgressOut<'a>,
}

impl<'a> BatchEditOut<'a> {
    /// The `batch_edit` of `job` in state `s`.
    pub fn new(job: &'a Job, s: &'a JobState) -> Self {
        Self {
            id_task: &job.id,
            progress: JobProgressOut::new(job, s),
        }
    }
}

/// The `image_result` data of one output.
#[derive(Debug, Serialize)]
pub struct ImageResultOut<'a> {
    id_task: &'a JobId,
    id_image: String,
    image_index: usize,
    group_index: u32,
    status: &'static str,
    model_used: Option<&'static str>,
    error_message: &'a Option<String>,
    output: OutputLinks,
}

/// The `id_image` of output `k` of a job (a filter of the SSE stream).
pub fn image_id(job: &Job, k: usize) -> String {
    format!("{}_{k}", job.id)
}

/// The notifications (name, data) one applied event causes; `link` builds
/// the links of output `k`'s images. The data is kept as a JSON value (the
/// notification log and `--data-dir` hold it so), made from the typed body.
pub fn for_event(applied: &Applied, link: impl Fn(usize, ResultKind) -> String) -> Vec<(&'static str, Value)> {
    let job = &applied.job;
    let s = &applied.state;
    let batch_edit = || ("batch_edit", to_value(&BatchEditOut::new(job, s)));
    match &applied.event.event {
        // A start changes no field a client sees in batch_edit.
        Event::OutputStarted { .. } => Vec::new(),
        Event::OutputFinished { output, .. } => {
            let k = *output as usize;
            let schedule = job.schedule();
            let (Some(slot), Some(o)) = (schedule.outputs.get(k), s.outputs.get(k)) else {
                return Vec::new();
            };
            let result = ImageResultOut {
                id_task: &job.id,
                id_image: image_id(job, k),
                image_index: slot.instruction,
                group_index: slot.variation,
                status: o.status.name(),
                model_used: o.model_used.map(|m| m.name()),
                error_message: &o.error_message,
                output: OutputLinks::of(o.status == OutputStatus::Completed, |kind| link(k, kind)),
            };
            vec![("image_result", to_value(&result)), batch_edit()]
        }
        _ => vec![batch_edit()],
    }
}

/// A typed body as a JSON value; it is made of strings, numbers and
/// options only, so this cannot fail.
fn to_value(body: &impl Serialize) -> Value {
    serde_json::to_value(body).unwrap_or(Value::Null)
}
