//! The request journal through the control API: `GET /__admin/journal`
//! (filters: method, path pattern, status, violations, ignored
//! `Retry-After`, caller, account, a window of `seq` or time), its HAR
//! export `GET /__admin/journal.har`, `DELETE` to clear, and
//! `POST /__admin/journal/verify` to count matching requests.

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::clock::Instant;
use crate::error::{ApiError, Position};
use crate::http::Routes;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::journal::Filter;
use crate::state::AppState;

/// Adds the journal routes.
pub fn routes(r: Routes) -> Routes {
    r.add(Method::GET, "/__admin/journal", get(list))
        .add(Method::DELETE, "/__admin/journal", axum::routing::delete(clear))
        .add(Method::GET, "/__admin/journal.har", get(har))
        .add(Method::POST, "/__admin/journal/verify", post(verify))
}

/// Resolves what a filter names: `account` into its callers (a read-side
/// scan of the tokens, so recording pays nothing for it), `since` and
/// `until` into times.
fn resolve(state: &AppState, mut f: Filter, position: Position) -> Result<Filter, ApiError> {
    if let Some(a) = &f.account {
        let t = super::tenant_named(state, a, "account", position)?;
        f.callers = Some(crate::tenancy::callers(state, &t));
    }
    let time = |field: &str, v: &Option<String>| -> Result<Option<Instant>, ApiError> {
        v.as_deref()
            .map(|s| {
                Instant::parse_rfc3339(s).ok_or_else(|| {
                    ApiError::invalid_field(field, "must be an RFC 3339 time such as 2026-01-01T00:00:00Z", position)
                })
            })
            .transpose()
    };
    f.window = (time("since", &f.since)?, time("until", &f.until)?);
    Ok(f)
}

pub(crate) async fn list(
    State(state): State<AppState>,
    ApiQuery(f): ApiQuery<Filter>,
) -> Result<Json<Value>, ApiError> {
    let f = resolve(&state, f, Position::Query)?;
    Ok(Json(json!({ "requests": state.journal.query(&f) })))
}

/// The selected requests as a HAR 1.2 log (`?violations=true` for the
/// ones that broke the contract).
async fn har(State(state): State<AppState>, ApiQuery(f): ApiQuery<Filter>) -> Result<Json<super::har::Har>, ApiError> {
    let f = resolve(&state, f, Position::Query)?;
    Ok(Json(super::har::of(
        &state.journal.query(&f),
        &state.settings.public_url,
    )))
}

async fn clear(State(state): State<AppState>) -> Json<Value> {
    state.journal.clear();
    Json(json!({ "success": true }))
}

/// `{"method": "GET", "path": "/jobs/{id}/status"}` → how many requests match.
async fn verify(State(state): State<AppState>, ApiJson(f): ApiJson<Filter>) -> Result<Json<Value>, ApiError> {
    let f = resolve(&state, f, Position::Body)?;
    let matched = state.journal.query(&f);
    Ok(Json(json!({
        "count": matched.len(),
        "ignored_retry_after": matched.iter().filter(|e| e.ignored_retry_after).count(),
        "with_violations": matched.iter().filter(|e| !e.violations.is_empty()).count(),
    })))
}
