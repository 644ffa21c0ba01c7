//! A job's status: the fields every view of a job shares.

use serde::Serialize;

use crate::domain::ids::{IdentityCode, JobId, ProjectId};
use crate::engine::job::Job;
use crate::engine::state::JobState;

/// The job type every body names.
const JOB_TYPE: &str = "flat_2_model";

/// How far a job is: the fields of the status that `batch_edit` repeats.
#[derive(Debug, Serialize)]
pub struct JobProgressOut<'a> {
    job_type: &'static str,
    status: &'static str,
    progress: f64,
    total_images: u32,
    processed_images: u32,
    should_post_process: bool,
    post_processing_status: Option<&'static str>,
    post_processing_error: &'a Option<String>,
    error_message: &'a Option<String>,
    updated_at: String,
}

impl<'a> JobProgressOut<'a> {
    /// The progress of `job` in state `s`.
    pub fn new(job: &Job, s: &'a JobState) -> Self {
        Self {
            job_type: JOB_TYPE,
            status: s.status.name(),
            progress: s.progress(),
            total_images: s.total(),
            processed_images: s.processed,
            should_post_process: job.request.post_process,
            post_processing_status: s.post_processing_status.map(|p| p.name()),
            post_processing_error: &s.post_processing_error,
            error_message: &s.error_message,
            updated_at: s.updated_at.rfc3339(),
        }
    }
}

/// `processing_options` of the status: the request's options as applied.
#[derive(Debug, Serialize)]
pub struct ProcessingOptionsOut {
    model: &'static str,
    use_anchor: bool,
    anchor_index: usize,
    add_ai_watermark: bool,
    use_alternative_method: bool,
    post_process: bool,
}

/// `GET /jobs/{id}/status`.
#[derive(Debug, Serialize)]
pub struct JobStatusOut<'a> {
    job_id: &'a JobId,
    #[serde(flatten)]
    progress: JobProgressOut<'a>,
    created_at: String,
    identity_code: &'a IdentityCode,
    identity_name: &'a str,
    project_id: &'a ProjectId,
    project_text: &'a str,
    project_key: &'a str,
    processing_options: ProcessingOptionsOut,
}

impl<'a> JobStatusOut<'a> {
    /// The status of `job` in state `s`.
    pub fn new(job: &'a Job, s: &'a JobState) -> Self {
        let o = &job.request.options;
        Self {
            job_id: &job.id,
            progress: JobProgressOut::new(job, s),
            created_at: job.created_at.rfc3339(),
            identity_code: &job.identity.code,
            identity_name: &job.identity.name,
            project_id: &job.project.id,
            project_text: &job.project.name,
            project_key: &job.project.key,
            processing_options: ProcessingOptionsOut {
                model: o.model.name(),
                use_anchor: o.use_anchor,
                anchor_index: o.anchor_index.get(),
                add_ai_watermark: o.add_ai_watermark,
                use_alternative_method: o.legacy_alternative_method,
                post_process: job.request.post_process,
            },
        }
    }
}

/// The 202 of `POST /flat-2-model`.
#[derive(Debug, Serialize)]
pub struct JobCreatedOut<'a> {
    job_id: &'a JobId,
    status: &'static str,
    message: &'static str,
    total_outputs: u32,
}

impl<'a> JobCreatedOut<'a> {
    /// Job `id` accepted, with `total_outputs` outputs to come.
    pub fn new(id: &'a JobId, total_outputs: u32) -> Self {
        Self {
            job_id: id,
            status: "pending",
            message: "Job created successfully",
            total_outputs,
        }
    }
}
