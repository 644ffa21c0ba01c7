//! `GET /__admin/jobs`: every job of every tenant, in creation order, with
//! where each stands; filters `account` (or its alias `tenant`), `status`
//! and `since`. A job's full state stays at `GET /__admin/jobs/{id}`.

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::clock::Instant;
use crate::engine::job::Job;
use crate::engine::state::JobState;
use crate::error::{ApiError, Position};
use crate::http::Routes;
use crate::http::extract::ApiQuery;
use crate::jobs::catch_up;
use crate::state::AppState;
use crate::views::JobProgressOut;

/// The statuses `status` may name.
const STATUSES: [&str; 5] = ["pending", "processing", "completed", "failed", "aborted"];

/// Adds the route.
pub fn routes(r: Routes) -> Routes {
    r.add(Method::GET, "/__admin/jobs", get(list))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JobQuery {
    /// A tenant id (`acct_…`) or a fixture account's e-mail.
    pub(crate) account: Option<String>,
    /// The same, under the name the dashboard and the issue use.
    pub(crate) tenant: Option<String>,
    /// One of [`STATUSES`].
    pub(crate) status: Option<String>,
    /// RFC 3339: jobs created at or after it.
    pub(crate) since: Option<String>,
}

/// One job in the listing: the status fields, its owner and scenario, and
/// each output's state (the engine that made it, whether it fell back).
fn entry(job: &Job, s: &JobState) -> Value {
    let mut v = serde_json::to_value(JobProgressOut::new(job, s)).unwrap_or_else(|_| json!({}));
    v["job_id"] = json!(job.id);
    v["owner"] = json!(job.owner);
    v["created_at"] = json!(job.created_at);
    v["scenario"] = json!(job.scenario.as_ref().map(|sc| &sc.name));
    v["outputs"] = json!(s.outputs);
    v
}

pub(crate) async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<JobQuery>,
) -> Result<Json<Value>, ApiError> {
    let named = match (&q.account, &q.tenant) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_field(
                "tenant",
                "give 'account' or 'tenant', not both",
                Position::Query,
            ));
        }
        (Some(a), None) => Some(("account", a)),
        (None, Some(t)) => Some(("tenant", t)),
        (None, None) => None,
    };
    let owner = named
        .map(|(field, q)| super::tenant_named(&state, q, field, Position::Query).map(|t| t.id().clone()))
        .transpose()?;
    if let Some(s) = q.status.as_deref()
        && !STATUSES.contains(&s)
    {
        return Err(ApiError::invalid_field(
            "status",
            "must be pending, processing, completed, failed or aborted",
            Position::Query,
        ));
    }
    let since = q
        .since
        .as_deref()
        .map(|s| {
            Instant::parse_rfc3339(s).ok_or_else(|| {
                ApiError::invalid_field(
                    "since",
                    "must be an RFC 3339 time such as 2026-01-01T00:00:00Z",
                    Position::Query,
                )
            })
        })
        .transpose()?;
    catch_up(&state);
    let jobs: Vec<Value> = state
        .engine
        .all()
        .iter()
        .filter(|j| owner.as_ref().is_none_or(|o| &j.owner == o))
        .filter(|j| since.is_none_or(|t| j.created_at >= t))
        .filter_map(|j| {
            let s = j.state();
            q.status
                .as_deref()
                .is_none_or(|want| s.status.name() == want)
                .then(|| entry(j, &s))
        })
        .collect();
    Ok(Json(json!({ "jobs": jobs })))
}
