//! The middleware that applies a request's scenario: endpoint faults
//! (429/5xx on the Nth call or with a seeded probability, delays) before the
//! handler, contract violations after it (the counters and the rules are
//! [`crate::scenarios::endpoint`]'s).

use std::borrow::Cow;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::contract::template_matches;
use crate::domain::auth::request_token;
use crate::error::{ApiError, FieldError, Position};
use crate::http::extract::authorization;
use crate::scenarios::endpoint::{ActiveScenario, is_hit};
use crate::scenarios::{ContractViolation, SCENARIO_HEADER};
use crate::state::AppState;

/// The bearer token of a request ([`request_token`]), the caller key.
pub fn caller_token(req: &Request) -> Option<String> {
    request_token(authorization(req.headers()), req.uri().query())
        .ok()
        .map(Cow::into_owned)
}

/// Applies the scenario of the request (see the module doc).
pub async fn apply(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if req.uri().path().starts_with(crate::http::admin_guard::PREFIX) {
        return next.run(req).await;
    }
    let header = req
        .headers()
        .get(SCENARIO_HEADER)
        .map(|v| v.to_str().unwrap_or("\u{0}").to_owned());
    // No header and nothing chosen: nothing to look up or copy.
    if header.is_none() && !state.scenarios.any_chosen() {
        return next.run(req).await;
    }
    let path = req.uri().path().to_owned();
    let token = caller_token(&req);
    let scenario = match state.scenarios.resolve(header.as_deref(), token.as_deref()) {
        Ok(s) => s,
        Err(m) => return ApiError::invalid_field("X-Mock-Scenario", m, Position::Header).into_response(),
    };
    let Some(scenario) = scenario else {
        return next.run(req).await;
    };
    let method = req.method().as_str().to_owned();
    let caller = token.unwrap_or_else(|| "anonymous".to_owned());
    for (idx, f) in scenario.endpoints.iter().enumerate() {
        if !(f.method.eq_ignore_ascii_case(&method) && template_matches(&f.path, &path)) {
            continue;
        }
        let n = state.call_counters.next(&caller, &scenario.name, idx);
        if !is_hit(f, state.settings.seed, &caller, &scenario.name, idx, n) {
            continue;
        }
        if let Some(ms) = f.delay_ms {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        if let Some(status) = f.status {
            // The fake does as asked: no error of its own, so at info.
            tracing::info!(scenario = %scenario.name, %method, path = %crate::redact::path(&path), status, call = n, "fault injected");
            let mut res = fault_response(&scenario.name, status, f.retry_after);
            res.extensions_mut().insert(ActiveScenario(Some(scenario)));
            return res;
        }
    }
    req.extensions_mut().insert(ActiveScenario(Some(scenario.clone())));
    let res = next.run(req).await;
    let mut res = match scenario
        .contract_violations
        .iter()
        .find(|v| v.method.eq_ignore_ascii_case(&method) && template_matches(&v.path, &path))
    {
        Some(v) if res.status().is_success() && is_json(&res) => {
            tracing::info!(scenario = %scenario.name, %method, path = %crate::redact::path(&path), "contract violation injected into the answer");
            violate(res, v).await
        }
        _ => res,
    };
    res.extensions_mut().insert(ActiveScenario(Some(scenario)));
    res
}

fn is_json(res: &Response) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"))
}

fn fault_response(scenario: &str, status: u16, retry_after: Option<u64>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    // The same envelope and summary as the fake's own answer with this
    // status: a client's error handling is tested against what it will see.
    let mut e = ApiError::new(code).with_detail(FieldError {
        field: None,
        message: format!("injected by scenario {scenario}"),
        position: Position::Path,
    });
    if let Some(s) = retry_after {
        e = e.with_retry_after(s);
    }
    e.deliberate().into_response()
}

/// Rewrites a JSON answer so that it breaks the contract as `v` says.
async fn violate(res: Response, v: &ContractViolation) -> Response {
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 << 20).await else {
        return ApiError::internal("could not read a response body").into_response();
    };
    let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    if let Some(field) = &v.remove_field {
        let (parent, last) = field.rsplit_once('.').map_or(("", field.as_str()), |(p, l)| (p, l));
        if let Some(obj) = walk(&mut json, parent).and_then(|p| p.as_object_mut()) {
            obj.remove(last);
        }
    }
    if let Some(set) = &v.set_field {
        let (parent, last) = set
            .field
            .rsplit_once('.')
            .map_or(("", set.field.as_str()), |(p, l)| (p, l));
        if let Some(obj) = walk(&mut json, parent).and_then(|p| p.as_object_mut()) {
            obj.insert(last.to_owned(), set.value.clone());
        }
    }
    let body = json.to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

fn walk<'a>(v: &'a mut serde_json::Value, dotted: &str) -> Option<&'a mut serde_json::Value> {
    dotted
        .split('.')
        .filter(|s| !s.is_empty())
        .try_fold(v, |cur, seg| match seg.parse::<usize>() {
            Ok(i) => cur.get_mut(i),
            Err(_) => cur.get_mut(seg),
        })
}
