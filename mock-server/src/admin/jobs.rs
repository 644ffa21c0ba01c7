//! `GET /__admin/jobs/{id}` (the full internal state) and
//! `POST /__admin/jobs/{id}/complete` (finish it now).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::domain::ids::JobId;
use crate::durable::Dirty;
use crate::engine::plan::JOB_ABORTED;
use crate::engine::schedule::Event;
use crate::error::{ApiError, Position};
use crate::http::Routes;
use crate::jobs::catch_up;
use crate::state::AppState;
use crate::views::JobStatusOut;

/// Adds the job control routes.
pub fn routes(r: Routes) -> Routes {
    r.add(Method::GET, "/__admin/jobs/{id}", get(show))
        .add(Method::POST, "/__admin/jobs/{id}/complete", post(complete))
        .add(Method::POST, "/__admin/jobs/{id}/state", post(force))
}

pub(crate) fn internal_view(state: &AppState, id: &str) -> Result<Json<Value>, ApiError> {
    let job = crate::jobs::named(state, None, &JobId::from_client(id))
        .ok_or_else(|| ApiError::not_found("job", Some(("id", Position::Path))))?;
    let s = job.state();
    Ok(Json(json!({
        "job_id": job.id,
        "owner": job.owner,
        "created_at": job.created_at,
        "status": JobStatusOut::new(&job, &s),
        "state": s,
        "schedule": *job.schedule(),
        "fault_plan": job.plan,
        "inputs": job.inputs.iter().map(|i| json!({"file_id": i.file_id, "filename": i.filename, "note": i.note})).collect::<Vec<_>>(),
    })))
}

async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    internal_view(&state, &id)
}

/// The schedule changes and is marked for `--data-dir` in the publisher's
/// exclusive section, which every step of the engine holds: no event of the new schedule
/// can be stored before the schedule it belongs to.
async fn complete(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let job_id = JobId::from_client(&id);
    // Named by its id: a job still held is let go first (see `jobs::named`).
    crate::jobs::named(&state, None, &job_id);
    {
        let _stepping = state.publisher.exclusive();
        if !state.engine.pull_forward(&job_id, state.now()) {
            return Err(ApiError::not_found("job", Some(("id", Position::Path))));
        }
        state.mark(Dirty::Schedule(job_id));
    }
    state
        .journal
        .note_control(json!({"method": "POST", "path": format!("/__admin/jobs/{id}/complete"), "body": null}));
    catch_up(&state);
    internal_view(&state, &id)
}

/// `{"status": "completed"}` finishes the job now (as `/complete`);
/// `{"status": "failed", "error_message": "…"}` fails it now;
/// `{"status": "aborted", "error_message"?}` aborts it now.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ForceState {
    status: String,
    #[serde(default)]
    error_message: Option<String>,
}

async fn force(
    State(state): State<AppState>,
    Path(id): Path<String>,
    crate::http::extract::ApiJson(req): crate::http::extract::ApiJson<ForceState>,
) -> Result<Json<Value>, ApiError> {
    let job_id = JobId::from_client(&id);
    let job = crate::jobs::named(&state, None, &job_id)
        .ok_or_else(|| ApiError::not_found("job", Some(("id", Position::Path))))?;
    let ended = || {
        ApiError::new(axum::http::StatusCode::CONFLICT).with_detail(crate::error::FieldError::new(
            "status",
            "the job has already ended",
            Position::Body,
        ))
    };
    if job.state().status.is_terminal() {
        return Err(ended());
    }
    let end = match req.status.as_str() {
        "completed" => None,
        "failed" => Some(Event::JobFailed {
            message: req
                .error_message
                .unwrap_or_else(|| "failed by the control API".to_owned()),
        }),
        "aborted" => Some(Event::JobAborted {
            message: req.error_message.unwrap_or_else(|| JOB_ABORTED.to_owned()),
        }),
        _ => {
            return Err(ApiError::invalid_field(
                "status",
                "must be 'completed', 'failed' or 'aborted'",
                Position::Body,
            ));
        }
    };
    {
        let _stepping = state.publisher.exclusive();
        // Again in the section every step holds: a job that ended since
        // must not get a second end (and a second terminal notification).
        if job.state().status.is_terminal() {
            return Err(ended());
        }
        match end {
            None => state.engine.pull_forward(&job_id, state.now()),
            Some(end) => state.engine.end_now(&job_id, state.now(), end),
        };
        state.mark(Dirty::Schedule(job_id));
    }
    catch_up(&state);
    internal_view(&state, &id)
}
