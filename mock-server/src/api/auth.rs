//! `POST /auth/login`, `POST /auth/refresh`, `POST|GET /auth/token`.

use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderMap, Method, header};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::Instant;
use crate::domain::auth::{MAX_ACTIVE_API_TOKENS, parse_basic, parse_token_lifetime};
use crate::domain::ids::TokenId;
use crate::domain::pagination::{PageRequest, Pagination};
use crate::domain::secret::SecretDigest;
use crate::durable::Dirty;
use crate::error::{ApiError, Position};
use crate::http::Routes;
use crate::http::extract::{ApiJson, ApiQuery, Caller};
use crate::state::AppState;
use crate::storage::records::{ApiTokenRecord, Tenant};
use crate::storage::tokens::{AuthFailure, Grant, GrantKind};

/// Adds the auth routes.
pub fn routes(r: Routes) -> Routes {
    r.add(Method::POST, "/auth/login", post(login))
        .add(Method::POST, "/auth/refresh", post(refresh))
        .add(Method::POST, "/auth/token", post(create_api_token))
        .add(Method::GET, "/auth/token", get(list_api_tokens))
}

/// An access token and a refresh token.
#[derive(Debug, Serialize)]
struct Session {
    token: String,
    expiration_date: String,
    refresh_token: String,
    refresh_expiration: String,
}

fn new_session(state: &AppState, tenant: Arc<Tenant>) -> Session {
    let now = state.now();
    let exp = now.plus(state.settings.access_token_ttl);
    let refresh_exp = now.plus(state.settings.refresh_token_ttl);
    let token = state.ids.secret("at_");
    let refresh_token = state.ids.secret("rt_");
    state.tokens.add_bearer(
        token.clone(),
        Grant {
            tenant: tenant.clone(),
            kind: GrantKind::Access,
            expires_at: Some(exp),
        },
    );
    state.tokens.add_refresh(
        refresh_token.clone(),
        Grant {
            tenant,
            kind: GrantKind::Access,
            expires_at: Some(refresh_exp),
        },
    );
    state.mark(Dirty::Bearer(SecretDigest::of(&token)));
    state.mark(Dirty::Refresh(SecretDigest::of(&refresh_token)));
    Session {
        token,
        expiration_date: exp.rfc3339(),
        refresh_token,
        refresh_expiration: refresh_exp.rfc3339(),
    }
}

fn user_object(tenant: &Tenant, now: Instant) -> Value {
    let a = &tenant.account;
    json!({
        "username": a.username(),
        "email": a.email,
        "name": a.name,
        "surname": a.surname,
        "verified": true,
        "credits": a.credits,
        "contract": null,
        "affiliation": null,
        "address": null,
        "country": null,
        "vat_num": null,
        "groups": [],
        "last_active": now.rfc3339(),
    })
}

async fn login(
    axum::extract::State(state): axum::extract::State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let header = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let (email, password) = header
        .and_then(parse_basic)
        .ok_or_else(|| ApiError::unauthorized("HTTP Basic credentials (email:password) are required"))?;
    let tenant = state
        .tokens
        .login(&email, &password)
        .ok_or_else(|| ApiError::unauthorized("wrong email or password"))?;
    let now = state.now();
    let user = user_object(&tenant, now);
    let mut body = serde_json::to_value(new_session(&state, tenant)).map_err(ApiError::internal)?;
    body["user"] = user;
    Ok(Json(body))
}

#[derive(Debug, Deserialize)]
struct RefreshRequest {
    refresh_token: String,
}

async fn refresh(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<Json<Session>, ApiError> {
    let tenant = state
        .tokens
        .take_refresh(&req.refresh_token, state.now())
        .map_err(|f| {
            let msg = match f {
                AuthFailure::Unknown => "unknown refresh token",
                AuthFailure::Expired => "refresh token expired",
            };
            ApiError::new(axum::http::StatusCode::UNAUTHORIZED).with_detail(crate::error::FieldError::new(
                "refresh_token",
                msg,
                Position::Body,
            ))
        })?;
    // Spent: gone from the data dir too.
    state.mark(Dirty::Refresh(SecretDigest::of(&req.refresh_token)));
    Ok(Json(new_session(&state, tenant)))
}

#[derive(Debug, Deserialize)]
struct ApiTokenRequest {
    expiration: Value,
}

async fn create_api_token(
    axum::extract::State(state): axum::extract::State<AppState>,
    Caller(tenant): Caller,
    ApiJson(req): ApiJson<ApiTokenRequest>,
) -> Result<Json<Value>, ApiError> {
    let lifetime =
        parse_token_lifetime(&req.expiration).map_err(|m| ApiError::invalid_field("expiration", m, Position::Body))?;
    let now = state.now();
    let expires_at = now.plus(lifetime);
    {
        let mut data = tenant.data.lock();
        let active = data.api_tokens.iter().filter(|t| t.expires_at > now).count();
        if active >= MAX_ACTIVE_API_TOKENS {
            return Err(ApiError::invalid_field(
                "expiration",
                format!("at most {MAX_ACTIVE_API_TOKENS} active API tokens per user"),
                Position::Body,
            ));
        }
        data.api_tokens.push(ApiTokenRecord {
            id: state.ids.next::<TokenId>(),
            expires_at,
        });
        state.mark(Dirty::ApiToken(tenant.id().clone(), data.api_tokens.len() - 1));
    }
    let token = state.ids.secret("lt_");
    state.tokens.add_bearer(
        token.clone(),
        Grant {
            tenant,
            kind: GrantKind::ApiToken,
            expires_at: Some(expires_at),
        },
    );
    state.mark(Dirty::Bearer(SecretDigest::of(&token)));
    Ok(Json(json!({ "token": token, "expiration_date": expires_at.rfc3339() })))
}

#[derive(Debug, Deserialize)]
struct TokenListQuery {
    page: Option<u32>,
    per_page: Option<u32>,
    #[serde(default)]
    include_expired: Option<bool>,
}

#[derive(Debug, Serialize)]
struct TokenList {
    pagination: Pagination,
    tokens: Vec<Value>,
}

async fn list_api_tokens(
    axum::extract::State(state): axum::extract::State<AppState>,
    Caller(tenant): Caller,
    ApiQuery(q): ApiQuery<TokenListQuery>,
) -> Result<Json<TokenList>, ApiError> {
    let page = PageRequest::parse(q.page, q.per_page).map_err(|v| ApiError::violated([v], Position::Query))?;
    let now = state.now();
    let all: Vec<Value> = tenant
        .data
        .lock()
        .api_tokens
        .iter()
        .filter(|t| q.include_expired.unwrap_or(false) || t.expires_at > now)
        .map(|t| json!({ "token_id": t.id, "expiration_date": t.expires_at.rfc3339() }))
        .collect();
    let (tokens, pagination) = page.slice(all);
    Ok(Json(TokenList { pagination, tokens }))
}
