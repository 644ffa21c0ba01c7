//! The middleware that applies a request's scenario: endpoint faults
//! (429/5xx on the Nth call or with a seeded probability, delays) before the
//! handler, contract violations after it. Call numbers are counted per
//! caller (bearer token), scenario and fault, so concurrent clients each see
//! exactly their plan.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dashmap::DashMap;
use sha2::{Digest, Sha256};

use crate::contract::template_matches;
use crate::domain::secret::SecretDigest;
use crate::error::{ApiError, FieldError, Position};
use crate::scenarios::{ContractViolation, EndpointFault, SCENARIO_HEADER, Scenario};
use crate::state::AppState;

/// The scenario a request runs under, for handlers to read; also on its
/// response, for the request's log line ([`crate::journal`]).
#[derive(Debug, Clone, Default)]
pub struct ActiveScenario(pub Option<Arc<Scenario>>);

/// Most (caller, scenario, fault) counters kept.
pub const MAX_COUNTERS: usize = 100_000;

/// Call counters: (caller, scenario, fault index) → calls so far. The
/// caller is a token: kept as its digest, compared in constant time.
#[derive(Debug, Default)]
pub struct CallCounters(DashMap<(SecretDigest, String, usize), AtomicU64>);

impl CallCounters {
    /// Counts a call; returns its number (from 1).
    fn next(&self, caller: &str, scenario: &str, fault: usize) -> u64 {
        // Callers are counted before authentication, so made-up tokens could
        // grow the map without end: past the cap, counting starts over.
        if self.0.len() >= MAX_COUNTERS {
            self.0.clear();
        }
        let key = (SecretDigest::of(caller), scenario.to_owned(), fault);
        self.0.entry(key).or_default().fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Forgets the counts of the callers `digests` (a reset of their tenant).
    pub fn forget(&self, digests: &[SecretDigest]) {
        self.0.retain(|(d, _, _), _| !digests.contains(d));
    }

    /// Forgets every count.
    pub fn clear(&self) {
        self.0.clear();
    }
}

/// Whether call `n` of `caller` is hit by fault `idx`: in `calls` (or every
/// call), and below the seeded probability. A pure function of its inputs.
pub fn is_hit(f: &EndpointFault, seed: u64, caller: &str, scenario: &str, idx: usize, n: u64) -> bool {
    if !f.calls.is_empty() && !f.calls.contains(&n) {
        return false;
    }
    let Some(p) = f.probability else { return true };
    let d = Sha256::new()
        .chain_update(seed.to_le_bytes())
        .chain_update(caller.as_bytes())
        .chain_update(scenario.as_bytes())
        .chain_update((idx as u64).to_le_bytes())
        .chain_update(n.to_le_bytes())
        .finalize();
    let x = u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]);
    (x as f64 / u64::MAX as f64) < p
}

/// The bearer token of a request (header, else `?token=`), the caller key.
pub fn caller_token(req: &Request) -> Option<String> {
    if let Some(h) = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        return crate::domain::auth::parse_bearer(Some(h)).ok().map(str::to_owned);
    }
    let q = req.uri().query()?;
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
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
    e.injected().into_response()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(calls: Vec<u64>, probability: Option<f64>) -> EndpointFault {
        EndpointFault {
            method: "GET".into(),
            path: "/x".into(),
            calls,
            probability,
            status: Some(503),
            retry_after: None,
            delay_ms: None,
        }
    }

    #[test]
    fn nth_calls_and_seeded_probability_are_pure() {
        let f = fault(vec![2, 3], None);
        let hits: Vec<bool> = (1..=4).map(|n| is_hit(&f, 0, "t", "s", 0, n)).collect();
        assert_eq!(hits, [false, true, true, false]);
        let f = fault(vec![], Some(0.3));
        let a: Vec<bool> = (1..=1000).map(|n| is_hit(&f, 7, "t", "s", 0, n)).collect();
        let b: Vec<bool> = (1..=1000).map(|n| is_hit(&f, 7, "t", "s", 0, n)).collect();
        assert_eq!(a, b, "the same seed and calls give the same hits");
        let share = a.iter().filter(|h| **h).count();
        assert!((200..400).contains(&share), "about 30 %: {share}");
        let other: Vec<bool> = (1..=1000).map(|n| is_hit(&f, 8, "t", "s", 0, n)).collect();
        assert_ne!(a, other);
    }
}
