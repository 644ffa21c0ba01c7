//! The jobs page (every job, or one tenant's, with its outputs' thumbnails,
//! engines and fallbacks) and a job's page (its outputs, its schedule as a
//! timeline, its fault plan): `GET /__admin/jobs` and
//! `GET /__admin/jobs/{id}` drawn.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::page::{given, newest_first, render};
use crate::admin::job_list::{self, JobQuery};
use crate::domain::ids::JobId;
use crate::error::ApiError;
use crate::http::extract::ApiQuery;
use crate::links::ResultKind;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    /// A tenant id or e-mail; empty or absent: every tenant.
    account: Option<String>,
}

/// Each output of `entry` (a job as the control API shows it) with the
/// links of its pictures once it has them.
fn with_pictures(state: &AppState, mut entry: Value) -> Value {
    let job = entry["job_id"]
        .as_str()
        .and_then(|id| state.engine.get_any(&JobId::from_client(id)));
    let (Some(job), Some(outputs)) = (job, entry["outputs"].as_array_mut()) else {
        return entry;
    };
    let links = state.links();
    for (k, o) in outputs.iter_mut().enumerate() {
        if o["status"] == "completed" {
            o["thumbnail"] = json!(links.result(&job, k, ResultKind::Thumbnail));
            o["full"] = json!(links.result(&job, k, ResultKind::Full));
        }
    }
    entry
}

/// The tenants, for the filter: id and a label people recognise.
fn tenants(state: &AppState) -> Vec<Value> {
    let mut all: Vec<Value> = state
        .store
        .tenants()
        .iter()
        .map(|t| {
            let label = t.account.email.clone().unwrap_or_else(|| t.id().to_string());
            json!({ "account": t.id(), "label": label })
        })
        .collect();
    all.sort_by(|a, b| a["label"].as_str().cmp(&b["label"].as_str()));
    all
}

pub(super) async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    // Before reading: a change while the page is drawn refreshes it again.
    let version = super::live::fingerprint(&state);
    let account = given(q.account);
    let query = JobQuery {
        account: account.clone(),
        ..JobQuery::default()
    };
    let Json(listing) = job_list::list(State(state.clone()), ApiQuery(query)).await?;
    let jobs: Vec<Value> = newest_first(&listing, "jobs")
        .map(|j| with_pictures(&state, j.clone()))
        .collect();
    Ok(render(
        "jobs.html",
        json!({ "title": "Jobs", "page": "jobs",
            "version": version.to_string(), "jobs": jobs, "tenants": tenants(&state), "account": account }),
    ))
}

pub(super) async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    // Before reading: a change while the page is drawn refreshes it again.
    let version = super::live::fingerprint(&state);
    let Json(job) = crate::admin::jobs::internal_view(&state, &id)?;
    let outputs = with_pictures(
        &state,
        json!({ "job_id": job["job_id"], "outputs": job["state"]["outputs"] }),
    );
    let timeline = super::timeline::draw(&job, state.now());
    let fault_plan = serde_json::to_string_pretty(&job["fault_plan"]).map_err(ApiError::internal)?;
    Ok(render(
        "job.html",
        json!({
            "title": format!("Job {id}"),
            "page": "jobs",
            "version": version.to_string(),
            "job": job,
            "outputs": outputs["outputs"],
            "timeline": timeline,
            "fault_plan": fault_plan,
        }),
    ))
}
