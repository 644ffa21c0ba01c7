//! The notifications page: every tenant's notification log, newest first
//! (`GET /__admin/notifications` drawn).

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};

use super::page::{newest_first, render};
use crate::admin::events::{self, AccountQuery};
use crate::error::ApiError;
use crate::http::extract::ApiQuery;
use crate::state::AppState;

pub(super) async fn page(State(state): State<AppState>) -> Result<Response, ApiError> {
    // Before reading: a change while the page is drawn refreshes it again.
    let version = super::live::fingerprint(&state);
    let Json(v) = events::notifications(State(state), ApiQuery(AccountQuery::default())).await?;
    let items: Vec<Value> = newest_first(&v, "notifications")
        .map(|n| {
            let mut n = n.clone();
            n["pretty"] = json!(serde_json::to_string_pretty(&n["data"]).unwrap_or_default());
            n
        })
        .collect();
    Ok(render(
        "notifications.html",
        json!({ "title": "Notifications", "page": "notifications",
            "version": version.to_string(), "notifications": items }),
    ))
}
