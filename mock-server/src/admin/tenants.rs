//! Tenants through the control API, for a fake shared by parallel CI jobs:
//! `POST /__admin/tenants` makes a fresh tenant and hands out its token;
//! `GET` and `PATCH /__admin/tenants/{account}` read and change its own
//! settings (job rate limit, scenario). A reset of one tenant is
//! `POST /__admin/reset {"token"}` (see [`super`]).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::{get, patch, post};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, Position};
use crate::http::Routes;
use crate::http::extract::{ApiJson, parse_json};
use crate::state::AppState;
use crate::storage::records::{Tenant, TenantSettings};

/// Adds the tenant routes.
pub fn routes(r: Routes) -> Routes {
    r.add(Method::POST, "/__admin/tenants", post(create))
        .add(Method::GET, "/__admin/tenants/{account}", get(read))
        .add(Method::PATCH, "/__admin/tenants/{account}", patch(change))
}

/// A change of settings: an absent field stays as it is, `null` goes back
/// to the flags' default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Change {
    #[serde(default, deserialize_with = "present")]
    pub(crate) job_rate_limit: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    pub(crate) scenario: Option<Option<String>>,
}

fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

impl Change {
    /// `current` with the change applied; an unknown scenario is a 404.
    fn apply_to(self, state: &AppState, mut current: TenantSettings) -> Result<TenantSettings, ApiError> {
        if let Some(Some(name)) = &self.scenario
            && state.scenarios.get(name).is_none()
        {
            return Err(ApiError::not_found("scenario", Some(("scenario", Position::Body))));
        }
        if let Some(limit) = self.job_rate_limit {
            current.job_rate_limit = limit;
        }
        if let Some(scenario) = self.scenario {
            current.scenario = scenario;
        }
        Ok(current)
    }
}

pub(crate) fn view(state: &AppState, t: &Tenant) -> Value {
    let settings = t.data.lock().settings.clone();
    let mut callers: Vec<String> = crate::tenancy::callers(state, t).into_iter().collect();
    callers.sort();
    json!({
        "account": t.id(),
        "email": t.account.email,
        "callers": callers,
        "job_rate_limit": settings.job_rate_limit.unwrap_or(state.settings.job_rate_limit),
        "scenario": settings.scenario,
    })
}

/// A fresh tenant; the body (optional) sets its first settings.
async fn create(State(state): State<AppState>, body: Bytes) -> Result<(StatusCode, Json<Value>), ApiError> {
    let change: Change = if body.iter().all(u8::is_ascii_whitespace) {
        Change::default()
    } else {
        parse_json(&body)?
    };
    let settings = change.apply_to(&state, TenantSettings::default())?;
    let (token, tenant) = crate::tenancy::create(&state, settings);
    let mut v = view(&state, &tenant);
    v["caller"] = json!(crate::domain::secret::SecretDigest::of(&token).caller_id());
    v["token"] = json!(token);
    state.settle().await;
    Ok((StatusCode::CREATED, Json(v)))
}

async fn read(State(state): State<AppState>, Path(account): Path<String>) -> Result<Json<Value>, ApiError> {
    let t = super::tenant_named(&state, &account, "account", Position::Path)?;
    Ok(Json(view(&state, &t)))
}

pub(crate) async fn change(
    State(state): State<AppState>,
    Path(account): Path<String>,
    ApiJson(change): ApiJson<Change>,
) -> Result<Json<Value>, ApiError> {
    let t = super::tenant_named(&state, &account, "account", Position::Path)?;
    let current = t.data.lock().settings.clone();
    let settings = change.apply_to(&state, current)?;
    crate::tenancy::apply(&state, &t, settings);
    state.settle().await;
    Ok(Json(view(&state, &t)))
}
