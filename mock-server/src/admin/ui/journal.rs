//! The journal page: the vendor-API requests, newest first, those that
//! broke the contract highlighted with why, and both bodies when
//! `--journal-bodies` kept them (`GET /__admin/journal` drawn).

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::page::{newest_first, render};
use crate::error::ApiError;
use crate::http::extract::ApiQuery;
use crate::journal::Filter;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct JournalQuery {
    /// `true`: only the requests that broke the contract.
    #[serde(default)]
    violations: bool,
}

pub(super) async fn page(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<JournalQuery>,
) -> Result<Response, ApiError> {
    // Before reading: a change while the page is drawn refreshes it again.
    let version = super::live::fingerprint(&state);
    let filter = Filter {
        violations: q.violations.then_some(true),
        ..Filter::default()
    };
    let Json(v) = crate::admin::journal::list(State(state), ApiQuery(filter)).await?;
    let requests: Vec<Value> = newest_first(&v, "requests").cloned().collect();
    Ok(render(
        "journal.html",
        json!({ "title": "Journal", "page": "journal",
            "version": version.to_string(), "requests": requests, "only_violations": q.violations }),
    ))
}
