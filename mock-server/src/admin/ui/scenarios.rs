//! The scenarios page: the global choice, each tenant's own and each
//! token's, with one button a scenario to switch any of them (`GET
//! /__admin/scenarios` drawn; the buttons are `PUT /__admin/scenarios/active`
//! for the global choice and `PATCH /__admin/tenants/{account}` for a
//! tenant's, behind a form).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::page::{given, parse_form, render, see_other};
use crate::admin::scenarios::{self, Activate};
use crate::admin::tenants::{self, Change};
use crate::error::ApiError;
use crate::http::extract::ApiJson;
use crate::state::AppState;

pub(super) async fn page(State(state): State<AppState>) -> Response {
    // Before reading: a change while the page is drawn refreshes it again.
    let version = super::live::fingerprint(&state);
    let Json(v) = scenarios::list(State(state.clone())).await;
    let mut tenants: Vec<Value> = state.store.tenants().iter().map(|t| tenants::view(&state, t)).collect();
    tenants.sort_by(|a, b| a["account"].as_str().cmp(&b["account"].as_str()));
    let catalogue: Vec<Value> = v["scenarios"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| json!({ "name": s["name"], "description": s["description"] }))
        .collect();
    render(
        "scenarios.html",
        json!({
            "title": "Scenarios",
            "page": "scenarios",
            "version": version.to_string(),
            "global": v["global"],
            "tokens": v["tokens"],
            "tenants": tenants,
            "scenarios": catalogue,
        }),
    )
}

/// `account` (empty: the global choice) runs under `name` (empty: none).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Switch {
    account: Option<String>,
    name: Option<String>,
}

pub(super) async fn switch(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let form: Switch = parse_form(&body)?;
    let name = given(form.name);
    match given(form.account) {
        None => {
            let req = Activate {
                name: Some(name),
                token: None,
            };
            let _choices = scenarios::activate(State(state), ApiJson(req)).await?;
        }
        Some(account) => {
            let req = Change {
                scenario: Some(name),
                job_rate_limit: None,
            };
            let _tenant = tenants::change(State(state), Path(account), ApiJson(req)).await?;
        }
    }
    Ok(see_other("/__admin/ui/scenarios"))
}
