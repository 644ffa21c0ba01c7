//! The webhook deliveries page (each delivery with its attempts and a
//! redeliver button, and the count of drops when there were any) and the button's form: `GET
//! /__admin/webhooks/deliveries` drawn, `POST
//! /__admin/webhooks/deliveries/{id}/redeliver` behind a form.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::page::{newest_first, render, see_other};
use crate::admin::events::{self, AccountQuery};
use crate::error::ApiError;
use crate::http::extract::ApiQuery;
use crate::state::AppState;

pub(super) async fn page(State(state): State<AppState>) -> Result<Response, ApiError> {
    // Before reading: a change while the page is drawn refreshes it again.
    let version = super::live::fingerprint(&state);
    let Json(v) = events::deliveries(State(state), ApiQuery(AccountQuery::default())).await?;
    let list: Vec<Value> = newest_first(&v, "deliveries").cloned().collect();
    Ok(render(
        "deliveries.html",
        json!({ "title": "Webhook deliveries", "page": "deliveries",
            "version": version.to_string(), "deliveries": list, "dropped": v["dropped"] }),
    ))
}

/// Queues delivery `id` again now, then back to the list.
pub(super) async fn redeliver(state: State<AppState>, id: Path<String>) -> Result<Response, ApiError> {
    let _queued = events::redeliver(state, id).await?;
    Ok(see_other("/__admin/ui/deliveries"))
}
