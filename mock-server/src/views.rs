//! What the API says about a job, shared by the vendor API, the control
//! API and the notifications, so that one field is written in one place.

use serde_json::{Value, json};

use crate::engine::job::Job;
use crate::engine::state::JobState;

/// The fields `status` and `results` share.
pub fn status_view(job: &Job, s: &JobState) -> Value {
    let o = &job.request.options;
    json!({
        "job_id": job.id,
        "job_type": "flat_2_model",
        "status": s.status.name(),
        "progress": s.progress(),
        "total_images": s.total(),
        "processed_images": s.processed,
        "should_post_process": job.request.post_process,
        "post_processing_status": s.post_processing_status.map(|p| p.name()),
        "post_processing_error": s.post_processing_error,
        "error_message": s.error_message,
        "created_at": job.created_at.rfc3339(),
        "updated_at": s.updated_at.rfc3339(),
        "identity_code": job.identity.code,
        "identity_name": job.identity.name,
        "project_id": job.project.id,
        "project_text": job.project.name,
        "project_key": job.project.key,
        "processing_options": {
            "model": o.model.name(),
            "use_anchor": o.use_anchor,
            "anchor_index": o.anchor_index.get(),
            "add_ai_watermark": o.add_ai_watermark,
            "use_alternative_method": o.legacy_alternative_method,
            "post_process": job.request.post_process,
        },
    })
}
