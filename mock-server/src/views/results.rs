//! A job's results: one body per output, the summary, and the versions of
//! one output.

use serde::Serialize;

use super::notifications::OutputLinks;
use super::status::JobStatusOut;
use crate::domain::ids::{FileId, JobId};
use crate::engine::job::{Job, OUTPUT_VERSION};
use crate::engine::state::{JobState, OutputStatus};
use crate::links::Links;

/// One input image of a result: its bytes' link (also as the thumbnail).
#[derive(Debug, Serialize)]
pub struct InputOut<'a> {
    full_size: String,
    thumbnail: String,
    file_id: &'a FileId,
    note: &'a Option<String>,
}

/// One output of a job (`results[]`, `versions[]`).
#[derive(Debug, Serialize)]
pub struct JobResultOut<'a> {
    job_id: &'a JobId,
    image_index: usize,
    group_index: u32,
    version: u32,
    original_filename: String,
    download_filename: String,
    inputs: Vec<InputOut<'a>>,
    output: OutputLinks,
    width: u32,
    height: u32,
    format: &'static str,
    input_description: String,
    status: &'static str,
    quality_score: Option<f64>,
    processing_time: Option<f64>,
    error_message: &'a Option<String>,
    feedback: Option<()>,
    feedback_comment: Option<()>,
    created_at: String,
    model_used: Option<&'static str>,
    fallback_used: bool,
    preset_name: &'a Option<String>,
    category_names: &'a [String],
}

impl<'a> JobResultOut<'a> {
    /// Output `k` of `job` in state `s`, its links built by `links`.
    pub fn new(job: &'a Job, s: &'a JobState, k: usize, links: &Links<'_>) -> Self {
        let schedule = job.schedule();
        let slot = &schedule.outputs[k];
        let ins = &job.request.instructions[slot.instruction];
        let out = &s.outputs[k];
        let name = job.output_name(slot);
        let done = out.status == OutputStatus::Completed;
        let inputs = job
            .inputs
            .iter()
            .map(|i| {
                let u = links.file(&i.file_id);
                InputOut {
                    full_size: u.clone(),
                    thumbnail: u,
                    file_id: &i.file_id,
                    note: &i.note,
                }
            })
            .collect();
        Self {
            job_id: &job.id,
            image_index: slot.instruction,
            group_index: slot.variation,
            version: OUTPUT_VERSION,
            original_filename: name.original(),
            download_filename: name.download(),
            inputs,
            output: OutputLinks::of(done, |kind| links.result(job, k, kind)),
            width: slot.width,
            height: slot.height,
            format: ins.format.name(),
            input_description: ins.descriptor_texts().join("; "),
            status: out.status.name(),
            quality_score: done.then_some(slot.quality_score),
            processing_time: match (out.started_at, out.finished_at) {
                (Some(a), Some(b)) => Some(((b.millis() - a.millis()) as f64) / 1000.0),
                _ => None,
            },
            error_message: &out.error_message,
            feedback: None,
            feedback_comment: None,
            created_at: out.finished_at.unwrap_or(job.created_at).rfc3339(),
            model_used: out.model_used.map(|m| m.name()),
            fallback_used: out.fell_back,
            preset_name: &ins.preset_name,
            category_names: &ins.category_names,
        }
    }
}

/// `summary` of the results.
#[derive(Debug, Serialize)]
pub struct SummaryOut {
    total_images: usize,
    successful: usize,
    failed: usize,
    average_quality_score: Option<f64>,
    success_rate: f64,
}

/// Rounded to three decimals, as the vendor shows scores and rates.
fn milli_round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `GET /jobs/{id}/results`: the status, every output, and a summary.
#[derive(Debug, Serialize)]
pub struct JobResultsOut<'a> {
    #[serde(flatten)]
    status: JobStatusOut<'a>,
    results: Vec<JobResultOut<'a>>,
    summary: SummaryOut,
    credits_used: usize,
}

impl<'a> JobResultsOut<'a> {
    /// The results of `job` in state `s`.
    pub fn new(job: &'a Job, s: &'a JobState, links: &Links<'_>) -> Self {
        let schedule = job.schedule();
        let ok: Vec<f64> = s
            .outputs
            .iter()
            .zip(&schedule.outputs)
            .filter(|(o, _)| o.status == OutputStatus::Completed)
            .map(|(_, slot)| slot.quality_score)
            .collect();
        let failed = s.outputs.iter().filter(|o| o.status == OutputStatus::Failed).count();
        let total = s.outputs.len();
        let average = (!ok.is_empty()).then(|| milli_round(ok.iter().sum::<f64>() / ok.len() as f64));
        Self {
            status: JobStatusOut::new(job, s),
            results: (0..total).map(|k| JobResultOut::new(job, s, k, links)).collect(),
            summary: SummaryOut {
                total_images: total,
                successful: ok.len(),
                failed,
                average_quality_score: average,
                success_rate: if total == 0 {
                    0.0
                } else {
                    milli_round(ok.len() as f64 / total as f64)
                },
            },
            credits_used: ok.len(),
        }
    }
}

/// `GET /jobs/{id}/versions/{image_index}`: the versions of one output,
/// oldest first (exactly one: the fake never re-edits).
#[derive(Debug, Serialize)]
pub struct VersionsOut<'a> {
    job_id: &'a JobId,
    image_index: usize,
    group_index: u32,
    versions: [JobResultOut<'a>; 1],
}

impl<'a> VersionsOut<'a> {
    /// The versions of output `k` of `job` (instruction `image_index`,
    /// variation `group_index`).
    pub fn new(job: &'a Job, s: &'a JobState, k: usize, links: &Links<'_>) -> Self {
        let result = JobResultOut::new(job, s, k, links);
        Self {
            job_id: &job.id,
            image_index: result.image_index,
            group_index: result.group_index,
            versions: [result],
        }
    }
}
