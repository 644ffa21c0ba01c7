//! Webhooks: `PUT /webhooks {url}` registers (and rotates the secret, and
//! sends a `ping`), `GET /webhooks` reads, `DELETE /webhooks` removes,
//! `POST /webhooks/test` sends a `test` event.

use axum::Json;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::routing::{post, put};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::Routes;
use crate::api::extract::{ApiJson, Caller, Scenario};
use crate::error::{ApiError, Position};
use crate::events::webhook::Registration;
use crate::state::AppState;
use crate::storage::persist::Dirty;

/// The longest webhook URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Adds the webhook routes.
pub fn routes(r: Routes) -> Routes {
    r.add(Method::PUT, "/webhooks", put(register))
        .add(Method::GET, "/webhooks", axum::routing::get(show))
        .add(Method::DELETE, "/webhooks", axum::routing::delete(remove))
        .add(Method::POST, "/webhooks/test", post(test))
}

#[derive(Debug, Deserialize)]
struct RegisterRequest {
    url: String,
}

/// The registration as the vendor shows it.
fn view(r: &Registration) -> Value {
    json!({
        "id": r.id,
        "url": r.url,
        "secret": r.secret,
        "is_active": r.is_active,
        "created_at": r.created_at.rfc3339(),
        "updated_at": r.updated_at.rfc3339(),
        "last_response_status": r.last_response_status,
        "last_response_at": r.last_response_at.map(|t| t.rfc3339()),
    })
}

/// An absolute `http://` or `https://` URL with a host, at most 2048 long.
fn parse_url(raw: &str) -> Result<String, ApiError> {
    let bad = |m: &str| ApiError::invalid_field("url", m, Position::Body);
    if raw.len() > MAX_URL_LEN {
        return Err(bad("must be at most 2048 characters"));
    }
    let url = reqwest::Url::parse(raw.trim()).map_err(|e| bad(&format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(bad("must be an absolute http:// or https:// URL"));
    }
    Ok(url.to_string())
}

/// Each PUT rotates the secret and sends a `ping` at once.
async fn register(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    scenario: Scenario,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<Json<Value>, ApiError> {
    let url = parse_url(&req.url)?;
    let now = state.now();
    let reg = state.webhooks.register(
        tenant.id(),
        url,
        state.ids.secret("whsec_"),
        state.ids.secret("wh_"),
        now,
    );
    state.mark(Dirty::Registration(tenant.id().clone()));
    state.send_to_webhook(
        tenant.id(),
        "ping",
        json!({ "webhook_id": reg.id, "url": reg.url }),
        scenario.0.as_ref().and_then(|s| s.webhook.clone()),
    );
    Ok(Json(view(&reg)))
}

fn not_registered() -> ApiError {
    ApiError::not_found("webhook", None)
}

async fn show(State(state): State<AppState>, Caller(tenant): Caller) -> Result<Json<Value>, ApiError> {
    state
        .webhooks
        .get(tenant.id())
        .map(|r| Json(view(&r)))
        .ok_or_else(not_registered)
}

async fn remove(State(state): State<AppState>, Caller(tenant): Caller) -> Result<Json<Value>, ApiError> {
    if !state.webhooks.remove(tenant.id(), state.now()) {
        return Err(not_registered());
    }
    // Its pending deliveries failed with it.
    state.mark(Dirty::Registration(tenant.id().clone()));
    for d in state.webhooks.deliveries(Some(tenant.id())) {
        state.mark(Dirty::Delivery(d.id));
    }
    Ok(Json(json!({ "success": true })))
}

async fn test(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    scenario: Scenario,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if state.webhooks.get(tenant.id()).is_none() {
        return Err(not_registered());
    }
    let (notification, delivery) = state.send_to_webhook(
        tenant.id(),
        "test",
        json!({ "message": "a test event from flat2model-mock" }),
        scenario.0.as_ref().and_then(|s| s.webhook.clone()),
    );
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "success": true, "delivery_id": delivery, "notification_id": notification })),
    ))
}
