//! `POST /__admin/webhooks/trigger`: the fake emits a chosen notification
//! to a tenant, as `stripe trigger` does, so a receiver can be tried
//! without building a job by hand: `batch_edit.completed`, `.failed` or
//! `.aborted`, optionally `"retried": true` (its first attempt fails with a
//! simulated 503, the next one is sent 5 s later on the fake's clock).
//!
//! The notification is a real one: numbered, in the tenant's log (polling
//! and SSE see it) and queued for its webhook like any other. The job it
//! names (`job_trigger_…`) does not exist: asking for its status is a 404.

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::deliver::deliver_due;
use crate::error::{ApiError, Position};
use crate::http::Routes;
use crate::http::extract::ApiJson;
use crate::scenarios::{WebhookFault, WebhookFaultMode};
use crate::state::AppState;

/// The events `event` may name, and the job status each carries.
const EVENTS: [(&str, &str); 3] = [
    ("batch_edit.completed", "completed"),
    ("batch_edit.failed", "failed"),
    ("batch_edit.aborted", "aborted"),
];

/// Adds the route.
pub fn routes(r: Routes) -> Routes {
    r.add(Method::POST, "/__admin/webhooks/trigger", post(trigger))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Trigger {
    event: String,
    token: Option<String>,
    account: Option<String>,
    #[serde(default)]
    retried: bool,
}

/// The `batch_edit` data of a finished one-output job in `status`.
fn batch_edit(task: &str, status: &str, updated_at: String) -> Value {
    let (processed, error) = match status {
        "completed" => (1, None),
        "failed" => (1, Some("generation failed (triggered by the control API)")),
        _ => (0, Some("job aborted by the operator")),
    };
    json!({
        "id_task": task,
        "job_type": "flat_2_model",
        "status": status,
        "progress": 100.0,
        "total_images": 1,
        "processed_images": processed,
        "should_post_process": false,
        "post_processing_status": null,
        "post_processing_error": null,
        "error_message": error,
        "updated_at": updated_at,
    })
}

async fn trigger(State(state): State<AppState>, ApiJson(req): ApiJson<Trigger>) -> Result<Json<Value>, ApiError> {
    let Some((event, status)) = EVENTS.iter().find(|(name, _)| *name == req.event) else {
        return Err(ApiError::invalid_field(
            "event",
            "must be batch_edit.completed, batch_edit.failed or batch_edit.aborted",
            Position::Body,
        ));
    };
    let scope = super::TenantScope {
        token: req.token,
        account: req.account,
    };
    let tenant = scope.resolve(&state)?.ok_or_else(|| {
        ApiError::invalid_field("account", "give 'token' or 'account': whose webhook", Position::Body)
    })?;
    let task = format!("job_trigger_{}", state.ids.next_hex("trigger", 16));
    let fault = req.retried.then_some(WebhookFault {
        fail_attempts: 1,
        mode: WebhookFaultMode::Status,
        status: 503,
    });
    let now = state.now();
    crate::publish::publish(
        &state,
        tenant.id(),
        "batch_edit",
        batch_edit(&task, status, now.rfc3339()),
        now,
        fault,
    );
    state.settle().await;
    deliver_due(&state);
    let delivery = state
        .webhooks
        .deliveries(Some(tenant.id()))
        .into_iter()
        .rev()
        .find(|d| d.key == task)
        .map(|d| d.id);
    Ok(Json(json!({
        "event": event,
        "account": tenant.id(),
        "id_task": task,
        "delivery_id": delivery,
    })))
}
