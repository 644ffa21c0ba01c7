//! `GET /__admin/notifications` (filter by account),
//! `GET /__admin/webhooks/deliveries` (the delivery log) and
//! `POST /__admin/webhooks/deliveries/{id}/redeliver`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::deliver::deliver_due;
use crate::domain::ids::TenantId;
use crate::error::{ApiError, Position};
use crate::http::Routes;
use crate::http::extract::ApiQuery;
use crate::jobs::catch_up;
use crate::state::AppState;

/// Adds the event control routes.
pub fn routes(r: Routes) -> Routes {
    r.add(Method::GET, "/__admin/notifications", get(notifications))
        .add(Method::GET, "/__admin/webhooks/deliveries", get(deliveries))
        .add(
            Method::POST,
            "/__admin/webhooks/deliveries/{id}/redeliver",
            post(redeliver),
        )
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct AccountQuery {
    /// A tenant id (`acct_…`) or a fixture account's e-mail.
    pub(crate) account: Option<String>,
    /// Only deliveries with this status.
    pub(crate) status: Option<String>,
}

/// Resolves `account` (tenant id or e-mail); unknown → 404.
fn account(state: &AppState, q: Option<&str>) -> Result<Option<TenantId>, ApiError> {
    q.map(|q| super::tenant_named(state, q, "account", Position::Query).map(|t| t.id().clone()))
        .transpose()
}

pub(crate) async fn notifications(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AccountQuery>,
) -> Result<Json<Value>, ApiError> {
    catch_up(&state);
    state.settle().await;
    let only = account(&state, q.account.as_deref())?;
    let mut items: Vec<Value> = state
        .store
        .tenants()
        .into_iter()
        .filter(|t| only.as_ref().is_none_or(|a| a == t.id()))
        .flat_map(|t| {
            t.log.all().into_iter().map(move |n| {
                let mut v = n.wire();
                v["account"] = json!(t.id());
                v
            })
        })
        .collect();
    items.sort_by_key(|v| v["id"].as_u64());
    Ok(Json(json!({ "notifications": items })))
}

pub(crate) async fn deliveries(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AccountQuery>,
) -> Result<Json<Value>, ApiError> {
    let only = account(&state, q.account.as_deref())?;
    if let Some(s) = q.status.as_deref()
        && !["pending", "in_flight", "delivered", "failed", "dropped"].contains(&s)
    {
        return Err(ApiError::invalid_field(
            "status",
            "must be pending, in_flight, delivered, failed or dropped",
            Position::Query,
        ));
    }
    let list: Vec<Value> = state
        .webhooks
        .deliveries(only.as_ref())
        .into_iter()
        .filter_map(|d| serde_json::to_value(&d).ok())
        .filter(|d| q.status.as_deref().is_none_or(|s| d["status"] == s))
        .collect();
    // Of the account asked for, as the list is; not of the status asked
    // for: it counts drops, whose records the log's cap may have removed.
    let dropped = state.webhooks.dropped(only.as_ref());
    Ok(Json(json!({ "deliveries": list, "dropped": dropped })))
}

pub(crate) async fn redeliver(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let not_found = || ApiError::not_found("delivery", Some(("id", Position::Path)));
    let id: u64 = id.parse().map_err(|_| not_found())?;
    let d = state.webhooks.redeliver(id, state.now()).ok_or_else(not_found)?;
    state.mark(crate::durable::Dirty::Delivery(id));
    deliver_due(&state);
    Ok(Json(serde_json::to_value(&d).map_err(ApiError::internal)?))
}
