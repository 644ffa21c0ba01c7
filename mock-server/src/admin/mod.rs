//! The control API under the reserved prefix `/__admin` (open unless
//! `--admin-token` or `--admin-loopback-only`, and never to a web page of
//! an origin not in `--cors-origin`: see [`crate::http::admin_guard`]): health,
//! reset (of everything, or of one tenant), the clock, tenants, jobs,
//! events, scenarios and the journal.

pub mod events;
pub mod har;
pub mod job_list;
pub mod jobs;
pub mod journal;
pub mod scenarios;
pub mod session;
pub mod tenants;
pub mod trigger;
pub mod ui;

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::routing::{get, post};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::clock::{Instant, parse_duration};
use crate::contract::{Contract, Document};
use crate::domain::secret::SecretDigest;
use crate::error::{ApiError, Position};
use crate::http::Routes;
use crate::http::extract::{ApiJson, parse_json};
use crate::jobs::catch_up;
use crate::state::AppState;
use crate::storage::records::Tenant;

/// Adds the control routes.
pub fn routes(r: Routes) -> Routes {
    let r = tenants::routes(journal::routes(scenarios::routes(events::routes(jobs::routes(r)))));
    let r = ui::routes(session::routes(trigger::routes(job_list::routes(r))));
    r.add(Method::GET, "/__admin/health", get(health))
        .add(
            Method::GET,
            "/__admin/openapi.json",
            get(|s| json_of(s, Document::Vendor)),
        )
        .add(
            Method::GET,
            "/__admin/openapi.yaml",
            get(|s| yaml_of(s, Document::Vendor)),
        )
        .add(
            Method::GET,
            "/__admin/control-openapi.json",
            get(|s| json_of(s, Document::Control)),
        )
        .add(
            Method::GET,
            "/__admin/control-openapi.yaml",
            get(|s| yaml_of(s, Document::Control)),
        )
        .add(Method::POST, "/__admin/reset", post(reset))
        .add(Method::GET, "/__admin/clock", get(clock))
        .add(Method::POST, "/__admin/clock", post(move_clock))
}

/// A published document as served: bundled, its `servers` the fake's
/// public URL, so a tool that loads it reaches this fake wherever it runs.
pub fn served(state: &AppState, which: Document) -> Value {
    let mut doc = Contract::global().bundled(which).clone();
    doc["servers"] = json!([{ "url": state.settings.public_url }]);
    doc
}

async fn json_of(State(state): State<AppState>, which: Document) -> Json<Value> {
    Json(served(&state, which))
}

async fn yaml_of(State(state): State<AppState>, which: Document) -> axum::response::Response {
    use axum::response::IntoResponse;
    match serde_yaml_ng::to_string(&served(&state, which)) {
        Ok(text) => ([(axum::http::header::CONTENT_TYPE, "application/yaml")], text).into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

async fn health(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "now": state.now().rfc3339_millis(),
        "tenants": state.store.tenant_count(),
        "held": crate::eviction::held(&state),
    }))
}

/// The tenant named `q`: its id (`acct_…`) or its e-mail; unknown → 404
/// naming `field`.
pub fn tenant_named(state: &AppState, q: &str, field: &str, position: Position) -> Result<Arc<Tenant>, ApiError> {
    state
        .store
        .tenants()
        .into_iter()
        .find(|t| t.id().as_str() == q || t.account.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(q)))
        .ok_or_else(|| ApiError::not_found("account", Some((field, position))))
}

/// The tenant of bearer `token`; unknown → 404 naming `token`.
pub fn tenant_of_token(state: &AppState, token: &str, position: Position) -> Result<Arc<Tenant>, ApiError> {
    state
        .tokens
        .bearer_tenant(&SecretDigest::of(token))
        .ok_or_else(|| ApiError::not_found("token", Some(("token", position))))
}

/// One tenant, by its token or its account: the body of a tenant-scoped
/// control request.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantScope {
    /// A bearer token of the tenant.
    pub token: Option<String>,
    /// The tenant's id or e-mail.
    pub account: Option<String>,
}

impl TenantScope {
    /// The tenant named, `None` when neither is given; both → 400.
    pub fn resolve(&self, state: &AppState) -> Result<Option<Arc<Tenant>>, ApiError> {
        match (&self.token, &self.account) {
            (Some(_), Some(_)) => Err(ApiError::invalid_field(
                "account",
                "give 'token' or 'account', not both",
                Position::Body,
            )),
            (Some(t), None) => tenant_of_token(state, t, Position::Body).map(Some),
            (None, Some(a)) => tenant_named(state, a, "account", Position::Body).map(Some),
            (None, None) => Ok(None),
        }
    }
}

/// Without a body (or `{}`), resets everything; with `{"token"}` or
/// `{"account"}`, one tenant ([`crate::tenancy::reset`]).
async fn reset(State(state): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let scope: TenantScope = if body.iter().all(u8::is_ascii_whitespace) {
        TenantScope::default()
    } else {
        parse_json(&body)?
    };
    let now = || state.now().rfc3339_millis();
    match scope.resolve(&state)? {
        None => {
            state.reset();
            Ok(Json(json!({ "status": "reset", "now": now() })))
        }
        Some(tenant) => {
            crate::tenancy::reset(&state, &tenant);
            Ok(Json(json!({ "status": "reset", "now": now(), "account": tenant.id() })))
        }
    }
}

pub(crate) fn clock_view(state: &AppState) -> Json<Value> {
    let now = state.now();
    Json(json!({
        "now": now.rfc3339_millis(),
        "now_ms": now.millis(),
        "mode": if state.clock.is_frozen() { "manual" } else { "system" },
    }))
}

async fn clock(State(state): State<AppState>) -> Json<Value> {
    clock_view(&state)
}

/// `{"set": "2026-01-01T00:00:00Z"}` jumps to a time; `{"advance": "15m"}`
/// (or a number of seconds) moves forward; both may be given (set first);
/// `{"until_idle": true}` then runs everything still to come ([`crate::drain`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MoveClock {
    pub(crate) set: Option<String>,
    pub(crate) advance: Option<Value>,
    #[serde(default)]
    pub(crate) until_idle: bool,
    pub(crate) max_steps: Option<u32>,
}

pub(crate) async fn move_clock(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<MoveClock>,
) -> Result<Json<Value>, ApiError> {
    let set = match req.set.as_deref() {
        None => None,
        Some(s) => Some(Instant::parse_rfc3339(s).ok_or_else(|| {
            ApiError::invalid_field(
                "set",
                "must be an RFC 3339 time such as 2026-01-01T00:00:00Z",
                Position::Body,
            )
        })?),
    };
    let advance = match &req.advance {
        None => None,
        Some(Value::Number(n)) => Some(n.as_u64().map(std::time::Duration::from_secs).ok_or_else(|| {
            ApiError::invalid_field("advance", "must be a whole number of seconds >= 0", Position::Body)
        })?),
        Some(Value::String(s)) => Some(parse_duration(s).ok_or_else(|| {
            ApiError::invalid_field(
                "advance",
                "must be a duration such as 90s, 15m or 1h 30m",
                Position::Body,
            )
        })?),
        Some(_) => {
            return Err(ApiError::invalid_field(
                "advance",
                "must be a duration string or seconds",
                Position::Body,
            ));
        }
    };
    if advance.is_some_and(|d| d > std::time::Duration::from_secs(315_360_000)) {
        return Err(ApiError::invalid_field(
            "advance",
            "must be at most 10 years",
            Position::Body,
        ));
    }
    let target = set.unwrap_or_else(|| state.now()).plus(advance.unwrap_or_default());
    if target.unix_seconds() > crate::clock::MAX_RFC3339_SECS / 2 {
        return Err(ApiError::invalid_field(
            "advance",
            "would move the clock too far into the future (beyond the year 5900)",
            Position::Body,
        ));
    }
    if req.max_steps.is_some_and(|n| !req.until_idle || n == 0 || n > 100_000) {
        return Err(ApiError::invalid_field(
            "max_steps",
            "goes with 'until_idle': true, from 1 to 100000",
            Position::Body,
        ));
    }
    if set.is_none() && advance.is_none() && !req.until_idle {
        return Err(ApiError::invalid_field(
            "advance",
            "give 'set', 'advance', 'until_idle' or several",
            Position::Body,
        ));
    }
    state
        .journal
        .note_control(json!({"method": "POST", "path": "/__admin/clock", "body": {
            "set": req.set, "advance": req.advance, "until_idle": req.until_idle, "max_steps": req.max_steps,
        }}));
    if let Some(t) = set {
        state.clock.set(t);
    }
    if let Some(d) = advance {
        state.clock.advance(d);
    }
    // With --data-dir the clock is kept: it answers once that is durable.
    state.mark(crate::durable::Dirty::Clock);
    // Whatever fell due in the jump happens now, in order; then what the
    // jump made expire goes, so a manual clock evicts by moving.
    catch_up(&state);
    state.settle().await;
    crate::eviction::off_the_workers(&state, crate::eviction::sweep_now).await;
    if !req.until_idle {
        return Ok(clock_view(&state));
    }
    let drained = crate::drain::until_idle(&state, req.max_steps.unwrap_or(crate::drain::DEFAULT_MAX_STEPS)).await;
    let Json(mut view) = clock_view(&state);
    view["drained"] = serde_json::to_value(drained).map_err(ApiError::internal)?;
    Ok(Json(view))
}
