//! Jobs: `POST /flat-2-model`, `GET /jobs/{id}/status`,
//! `GET /jobs/{id}/results`, `GET /jobs/{id}/versions/{image_index}`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use crate::domain::ids::JobId;
use crate::domain::job_request::parse;
use crate::engine::job::{Job, JobInput, NewJob};
use crate::engine::plan::FaultPlan;
use crate::error::{ApiError, FieldError, Position};
use crate::http::Routes;
use crate::http::extract::{ApiJson, ApiQuery, Caller, Scenario};
use crate::state::AppState;
use crate::storage::records::{Blob, RetryAfter, Tenant};
use crate::views::{JobCreatedOut, JobResultsOut, JobStatusOut, VersionsOut};

/// A header carrying a JSON fault plan for the job being created (QA's
/// escape hatch; scenarios build on the same plan).
pub const FAULT_PLAN_HEADER: &str = "x-mock-fault-plan";

/// Adds the job routes.
pub fn routes(r: Routes) -> Routes {
    r.add(Method::POST, "/flat-2-model", post(create))
        .add(Method::GET, "/jobs/{id}/status", get(status))
        .add(Method::GET, "/jobs/{id}/results", get(results))
        .add(Method::GET, "/jobs/{id}/versions/{image_index}", get(versions))
}

fn not_found_ref(field: String, what: &str) -> FieldError {
    FieldError::new(field, format!("{what} not found in this account"), Position::Body)
}

/// Resolves the request's identity, project and files in the caller's
/// account. Unknown ones answer 404; files whose bytes never arrived, or
/// are no usable image (as the probe found at their PUT), 400.
fn resolve_inputs(
    state: &AppState,
    tenant: &Tenant,
    req: &crate::domain::job_request::JobRequest,
) -> Result<
    (
        Arc<crate::domain::identity::Identity>,
        crate::domain::project::Project,
        Vec<JobInput>,
    ),
    ApiError,
> {
    let mut missing = Vec::new();
    let mut unusable = Vec::new();
    let identity = state.store.identity(tenant.id(), &req.identity_code);
    if identity.is_none() {
        missing.push(not_found_ref("identity_code".into(), "identity"));
    }
    let project = crate::domain::project::referenced(&tenant.data.lock().projects, &req.project_id).cloned();
    if project.is_none() {
        missing.push(not_found_ref("project_id".into(), "project"));
    }
    let mut inputs = Vec::new();
    for (i, img) in req.images.iter().enumerate() {
        match state.store.file(tenant.id(), &img.file_id) {
            None => missing.push(not_found_ref(format!("images[{i}]"), "file")),
            Some(f) => match f.blob {
                None => unusable.push(FieldError::new(
                    format!("images[{i}]"),
                    "the file's bytes were never uploaded: PUT them to its upload_url first",
                    Position::Body,
                )),
                Some(Blob {
                    unusable: Some(why), ..
                }) => unusable.push(FieldError::new(format!("images[{i}]"), why.0, Position::Body)),
                Some(b) => inputs.push(JobInput {
                    file_id: f.id,
                    filename: f.filename,
                    note: img.note.clone(),
                    bytes: b.bytes,
                }),
            },
        }
    }
    if !missing.is_empty() {
        let mut e = ApiError::new(StatusCode::NOT_FOUND);
        for d in missing.into_iter().chain(unusable) {
            e = e.with_detail(d);
        }
        return Err(e);
    }
    if !unusable.is_empty() {
        return Err(ApiError::invalid(unusable));
    }
    match (identity, project) {
        (Some(i), Some(p)) => Ok((i, p, inputs)),
        _ => Err(ApiError::internal("resolved references vanished")),
    }
}

fn injected_plan(headers: &HeaderMap) -> Result<Option<FaultPlan>, ApiError> {
    let Some(v) = headers.get(FAULT_PLAN_HEADER) else {
        return Ok(None);
    };
    let bad = |m: String| ApiError::invalid_field("X-Mock-Fault-Plan", m, Position::Header);
    let text = v.to_str().map_err(|_| bad("must be ASCII JSON".into()))?;
    let mut value: Value = serde_json::from_str(text).map_err(|e| bad(format!("not a fault plan: {e}")))?;
    crate::http::extract::integral_floats_as_integers(&mut value);
    let plan: FaultPlan = serde_json::from_value(value).map_err(|e| bad(format!("not a fault plan: {e}")))?;
    plan.validate().map_err(bad)?;
    Ok(Some(plan))
}

/// The caller of `POST /flat-2-model`, its request counted against the job
/// rate limit ([`Tenant::admit_job`], `--job-rate-limit` or the tenant's
/// own setting; 429, with
/// `Retry-After` unless `--rate-limit-retry-after false`). An extractor ordered before
/// the body's ([`ApiJson`]), so every authenticated request counts, a
/// broken one too, and the one over the limit is 429 whatever its body;
/// an unauthenticated one is 401 first and counts for nobody.
#[derive(Debug)]
pub struct RateLimited(pub Arc<Tenant>);

impl FromRequestParts<AppState> for RateLimited {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Caller(tenant) = Caller::from_request_parts(parts, state).await?;
        if let Err(RetryAfter { secs: retry, limit }) = tenant.admit_job(state.now(), state.settings.job_rate_limit) {
            let e = ApiError::new(StatusCode::TOO_MANY_REQUESTS).with_detail(FieldError {
                field: None,
                message: format!(
                    "at most {limit} requests a minute per account on POST /flat-2-model; retry in {retry} s"
                ),
                position: Position::Body,
            });
            return Err(if state.settings.rate_limit_retry_after {
                e.with_retry_after(retry)
            } else {
                e
            });
        }
        Ok(Self(tenant))
    }
}

async fn create(
    State(state): State<AppState>,
    RateLimited(tenant): RateLimited,
    scenario: Scenario,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let prepared = prepare(&state, &tenant, scenario.0, &headers, body)?;
    submit(&state, prepared)
}

/// A `POST /flat-2-model` request checked and resolved in the caller's
/// account, not yet submitted ([`submit`]).
#[derive(Debug)]
pub struct Prepared {
    job: NewJob,
    total: u32,
    /// The reset count when its identity, project and files were looked up.
    epoch: u64,
}

/// The first half of `POST /flat-2-model`: parses the request, looks up
/// what it names in `tenant`'s account and merges the fault plans (the job
/// rate limit came before, with [`RateLimited`]).
pub fn prepare(
    state: &AppState,
    tenant: &Tenant,
    scenario: Option<Arc<crate::scenarios::Scenario>>,
    headers: &HeaderMap,
    body: Value,
) -> Result<Prepared, ApiError> {
    let req = parse(&body, &tenant.account.parse_context()).map_err(|v| ApiError::violated(v, Position::Body))?;
    let extra_plan = injected_plan(headers)?;
    // Before the look-ups: a reset after them is caught by `submit`.
    let epoch = state.ids.epoch();
    let (identity, project, inputs) = resolve_inputs(state, tenant, &req)?;
    // Markers, then the scenario's plan, then the header's: later ones win.
    let mut plan = FaultPlan::from_markers(&req);
    for extra in scenario
        .as_ref()
        .and_then(|s| s.job.as_ref())
        .into_iter()
        .chain(extra_plan.as_ref())
    {
        plan = plan.merged(extra);
    }
    let total = req.total_outputs();
    let job = NewJob {
        id: state.ids.next(),
        owner: tenant.id().clone(),
        created_at: state.now(),
        request: req,
        identity,
        project,
        inputs,
        plan,
        scenario,
        public_base: crate::public_base::current().map(Arc::from),
        source: body,
    };
    Ok(Prepared { job, total, epoch })
}

/// The second half of `POST /flat-2-model`: schedules the job and answers
/// 202, whose body holds the job until it is sent ([`crate::wire`]). If
/// `POST /__admin/reset` ran since [`prepare`], what the request names is
/// gone, so it answers 404 as it would have after the reset (and nothing is
/// stored that names what the reset removed).
pub fn submit(state: &AppState, p: Prepared) -> Result<Response, ApiError> {
    let images = p.job.request.images.len();
    let Some((job, hold)) = crate::jobs::submit(state, p.job, p.epoch) else {
        let mut e = ApiError::new(StatusCode::NOT_FOUND)
            .with_detail(not_found_ref("identity_code".into(), "identity"))
            .with_detail(not_found_ref("project_id".into(), "project"));
        for i in 0..images {
            e = e.with_detail(not_found_ref(format!("images[{i}]"), "file"));
        }
        return Err(e);
    };
    let (parts, body) = (StatusCode::ACCEPTED, Json(JobCreatedOut::new(&job.id, p.total)))
        .into_response()
        .into_parts();
    Ok(Response::from_parts(parts, crate::wire::held_body(body, hold)))
}

/// A body's bytes. The views hold strings, numbers and options only, so
/// serialising one cannot fail.
fn to_json(body: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(body).unwrap_or_default()
}

/// The caller's job, with every event due by now applied first.
fn find(state: &AppState, tenant: &Tenant, id: &str) -> Result<Arc<Job>, ApiError> {
    crate::jobs::named(state, Some(tenant.id()), &JobId::from_client(id))
        .ok_or_else(|| ApiError::not_found("job", Some(("id", Position::Path))))
}

async fn status(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = find(&state, &tenant, &id)?;
    let body = job.status_body(|job, s| Bytes::from(to_json(&JobStatusOut::new(job, s))));
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response())
}

async fn results(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = find(&state, &tenant, &id)?;
    let s = job.state();
    Ok(Json(JobResultsOut::new(&job, &s, &state.links())).into_response())
}

/// `GET /jobs/{id}/versions/{image_index}?group_index=`.
#[derive(Debug, Deserialize)]
struct VersionsQuery {
    /// The variation; 0 when absent.
    group_index: Option<u32>,
}

/// The versions of one output (instruction `image_index`, variation
/// `group_index`), oldest first: the fake never re-edits, so there is
/// exactly one, version 0, shown as its result.
async fn versions(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    Path((id, image_index)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<VersionsQuery>,
) -> Result<Response, ApiError> {
    let job = find(&state, &tenant, &id)?;
    let index: usize = image_index
        .parse()
        .ok()
        .filter(|i| *i < job.request.instructions.len())
        .ok_or_else(|| ApiError::not_found("output", Some(("image_index", Position::Path))))?;
    let group = q.group_index.unwrap_or(0);
    let k = job
        .schedule()
        .outputs
        .iter()
        .position(|slot| slot.instruction == index && slot.variation == group)
        .ok_or_else(|| ApiError::not_found("output", Some(("group_index", Position::Query))))?;
    let s = job.state();
    Ok(Json(VersionsOut::new(&job, &s, k, &state.links())).into_response())
}
