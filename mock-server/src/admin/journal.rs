//! The request journal through the control API: `GET /__admin/journal`
//! (filters: method, path pattern, status, violations), `DELETE` to clear,
//! and `POST /__admin/journal/verify` to count matching requests.

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::http::Routes;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::journal::Filter;
use crate::state::AppState;

/// Adds the journal routes.
pub fn routes(r: Routes) -> Routes {
    r.add(Method::GET, "/__admin/journal", get(list))
        .add(Method::DELETE, "/__admin/journal", axum::routing::delete(clear))
        .add(Method::POST, "/__admin/journal/verify", post(verify))
}

async fn list(State(state): State<AppState>, ApiQuery(f): ApiQuery<Filter>) -> Json<Value> {
    Json(json!({ "requests": state.journal.query(&f) }))
}

async fn clear(State(state): State<AppState>) -> Json<Value> {
    state.journal.clear();
    Json(json!({ "success": true }))
}

/// `{"method": "GET", "path": "/jobs/*/status"}` → how many requests match.
async fn verify(State(state): State<AppState>, ApiJson(f): ApiJson<Filter>) -> Json<Value> {
    let matched = state.journal.query(&f);
    Json(json!({
        "count": matched.len(),
        "ignored_retry_after": matched.iter().filter(|e| e.ignored_retry_after).count(),
        "with_violations": matched.iter().filter(|e| !e.violations.is_empty()).count(),
    }))
}
