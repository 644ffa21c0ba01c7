//! Scenarios through the control API: list, load, clear, and choose one
//! globally or for a token.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::routing::{delete, get, put};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, Position};
use crate::http::Routes;
use crate::http::extract::ApiJson;
use crate::scenarios::Scenario;
use crate::state::AppState;

/// Adds the scenario control routes.
pub fn routes(r: Routes) -> Routes {
    r.add(Method::GET, "/__admin/scenarios", get(list))
        .add(Method::POST, "/__admin/scenarios", axum::routing::post(load))
        .add(Method::DELETE, "/__admin/scenarios", delete(clear))
        .add(Method::DELETE, "/__admin/scenarios/{name}", delete(remove))
        .add(Method::PUT, "/__admin/scenarios/active", put(activate))
}

/// The choices: loaded scenarios by name, the global choice, the per-token
/// ones. What a change answers: the catalogue itself (5 KB and more) is
/// `GET /__admin/scenarios`'s alone.
fn choices(state: &AppState) -> Json<Value> {
    let Json(mut v) = choices_with(state, Value::Null);
    v["names"] = json!(state.scenarios.all().iter().map(|s| s.name.clone()).collect::<Vec<_>>());
    Json(v)
}

/// The full listing: every scenario in full, with the choices.
fn view(state: &AppState) -> Json<Value> {
    let all = state
        .scenarios
        .all()
        .iter()
        .map(|s| serde_json::to_value(&**s).unwrap_or(Value::Null))
        .collect();
    choices_with(state, Value::Array(all))
}

fn choices_with(state: &AppState, scenarios: Value) -> Json<Value> {
    // Each caller with a scenario of its own, named as the journal names it
    // (never by its token: the listing is open to whoever reaches the port).
    let tokens: Vec<Value> = state
        .scenarios
        .token_choices()
        .into_iter()
        .map(|(digest, scenario)| {
            let account = state
                .tokens
                .bearer_tenant(&digest)
                .and_then(|t| t.account.email.clone());
            json!({ "caller": digest.caller_id(), "account": account, "scenario": scenario })
        })
        .collect();
    let mut v = json!({ "global": state.scenarios.global(), "tokens": tokens });
    if !scenarios.is_null() {
        v["scenarios"] = scenarios;
    }
    Json(v)
}

pub(crate) async fn list(State(state): State<AppState>) -> Json<Value> {
    view(&state)
}

/// Loads (or replaces) a scenario given as JSON.
async fn load(State(state): State<AppState>, ApiJson(body): ApiJson<Value>) -> Result<Json<Value>, ApiError> {
    let s: Scenario = crate::http::extract::parse_json(body.to_string().as_bytes())?;
    s.validate().map_err(|m| {
        let (field, message) = m.split_once(": ").unwrap_or(("", m.as_str()));
        ApiError::invalid_field(field, message, Position::Body)
    })?;
    state.scenarios.insert(s);
    Ok(choices(&state))
}

/// Forgets every scenario and choice (files come back on reset).
async fn clear(State(state): State<AppState>) -> Json<Value> {
    state.scenarios.clear();
    choices(&state)
}

async fn remove(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    if !state.scenarios.remove(&name) {
        return Err(ApiError::not_found("scenario", Some(("name", Position::Path))));
    }
    Ok(choices(&state))
}

struct ActivateResolved {
    name: Option<String>,
    token: Option<String>,
}

/// `{"name": "…"}` globally, `{"name": "…", "token": "…"}` for a token;
/// `"name": null` clears the choice.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Activate {
    /// Required, `null` to clear: missing and null differ.
    #[serde(default, deserialize_with = "present")]
    pub(crate) name: Option<Option<String>>,
    #[serde(default)]
    pub(crate) token: Option<String>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

pub(crate) async fn activate(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<Activate>,
) -> Result<Json<Value>, ApiError> {
    let Some(name) = req.name else {
        return Err(ApiError::invalid_field(
            "name",
            "is required (null clears the choice)",
            Position::Body,
        ));
    };
    let req = ActivateResolved { name, token: req.token };
    if let Some(name) = &req.name
        && state.scenarios.get(name).is_none()
    {
        return Err(ApiError::not_found("scenario", Some(("name", Position::Body))));
    }
    // For a session export: the token as the journal names its caller.
    let caller = req
        .token
        .as_deref()
        .map(|t| crate::domain::secret::SecretDigest::of(t).caller_id());
    state
        .journal
        .note_control(json!({"method": "PUT", "path": "/__admin/scenarios/active",
        "body": {"name": req.name, "caller": caller}}));
    match &req.token {
        Some(t) => state.scenarios.set_for_token(t, req.name),
        None => state.scenarios.set_global(req.name),
    }
    Ok(choices(&state))
}
