//! `GET /__admin/jobs/{id}` (the full internal state) and
//! `POST /__admin/jobs/{id}/complete` (finish it now).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::api::Routes;
use crate::domain::ids::JobId;
use crate::error::{ApiError, Position};
use crate::state::AppState;

/// Adds the job control routes.
pub fn routes(r: Routes) -> Routes {
    r.add(Method::GET, "/__admin/jobs/{id}", get(show))
        .add(Method::POST, "/__admin/jobs/{id}/complete", post(complete))
}

fn internal_view(state: &AppState, id: &str) -> Result<Json<Value>, ApiError> {
    let job = state
        .engine
        .get_any(&JobId::from_client(id))
        .ok_or_else(|| ApiError::not_found("job", Some(("id", Position::Path))))?;
    let s = job.state();
    Ok(Json(json!({
        "job_id": job.id,
        "owner": job.owner,
        "created_at": job.created_at,
        "status": crate::api::jobs::status_view(&job, &s),
        "state": s,
        "schedule": *job.schedule(),
        "fault_plan": job.plan,
        "inputs": job.inputs.iter().map(|i| json!({"file_id": i.file_id, "filename": i.filename, "note": i.note})).collect::<Vec<_>>(),
    })))
}

async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    state.run_due();
    internal_view(&state, &id)
}

async fn complete(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    state.run_due();
    let job_id = JobId::from_client(&id);
    if !state.engine.pull_forward(&job_id, state.now()) {
        return Err(ApiError::not_found("job", Some(("id", Position::Path))));
    }
    state.run_due();
    internal_view(&state, &id)
}
