//! What the job engine's events say to clients: a `batch_edit` for every
//! change of a job's status or progress, an `image_result` for every
//! finished output, built from the job's state after the event.

use serde_json::{Value, json};

use crate::engine::Applied;
use crate::engine::job::Job;
use crate::engine::schedule::Event;
use crate::engine::state::JobState;

/// The `batch_edit` data of a job in state `s`.
pub fn batch_edit(job: &Job, s: &JobState) -> Value {
    json!({
        "id_task": job.id,
        "job_type": "flat_2_model",
        "status": s.status.name(),
        "progress": s.progress(),
        "total_images": s.total(),
        "processed_images": s.processed,
        "error_message": s.error_message,
        "should_post_process": job.request.post_process,
        "post_processing_status": s.post_processing_status.map(|p| p.name()),
        "post_processing_error": s.post_processing_error,
        "updated_at": s.updated_at.rfc3339(),
    })
}

/// The `id_image` of output `k` of a job (a filter of the SSE stream).
pub fn image_id(job: &Job, k: usize) -> String {
    format!("{}_{k}", job.id)
}

/// The notifications (name, data) one applied event causes.
pub fn for_event(applied: &Applied, image_urls: impl Fn(usize) -> (String, String)) -> Vec<(&'static str, Value)> {
    let job = &applied.job;
    let s = &applied.state;
    match &applied.event.event {
        // A start changes no field a client sees in batch_edit.
        Event::OutputStarted { .. } => Vec::new(),
        Event::OutputFinished { output, .. } => {
            let k = *output as usize;
            let schedule = job.schedule();
            let (Some(slot), Some(o)) = (schedule.outputs.get(k), s.outputs.get(k)) else {
                return Vec::new();
            };
            let output = if o.status == crate::engine::state::OutputStatus::Completed {
                let (full, thumb) = image_urls(k);
                json!({ "full_size": full, "thumbnail": thumb })
            } else {
                json!({ "full_size": null, "thumbnail": null })
            };
            vec![
                (
                    "image_result",
                    json!({
                        "id_task": job.id,
                        "id_image": image_id(job, k),
                        "image_index": slot.instruction,
                        "group_index": slot.variation,
                        "status": o.status.name(),
                        "model_used": o.model_used.map(|m| m.name()),
                        "error_message": o.error_message,
                        "output": output,
                    }),
                ),
                ("batch_edit", batch_edit(job, s)),
            ]
        }
        _ => vec![("batch_edit", batch_edit(job, s))],
    }
}
