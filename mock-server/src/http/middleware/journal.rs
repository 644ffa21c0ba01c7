//! The journal's middleware: records every request outside the control API
//! in [`crate::journal`], with its contract violations, after the answer.

use std::borrow::Cow;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use sha2::{Digest, Sha256};

use crate::config::JournalBodies;
use crate::contract::Contract;
use crate::domain::auth::request_token;
use crate::domain::secret::SecretDigest;
use crate::http::extract::authorization;
use crate::journal::{Entry, Headers, KeptBody, MAX_KEPT_BODY};
use crate::scenarios::endpoint::ActiveScenario;
use crate::state::AppState;

/// SHA-256 of nothing, hex: most requests (GETs) have no body.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Records every request outside the control API in the journal; every
/// request, the control API's too, has its line in the log.
pub async fn record(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    if req.uri().path().starts_with(crate::http::admin_guard::PREFIX) {
        let method = req.method().clone();
        let path = crate::redact::path(req.uri().path()).into_owned();
        let res = next.run(req).await;
        log_line(&method, &path, &res, started, None);
        return res;
    }
    let at = state.now();
    let (parts, body) = req.into_parts();
    let limit = state.settings.max_upload_bytes + 64 * 1024;
    let (bytes, forwarded) = match read_body(body, limit).await {
        Read::Whole(bytes) => (bytes.clone(), Body::from(bytes)),
        Read::Over { seen, body } => (seen, body),
        Read::Failed(e) if crate::http::body_timeout::stalled(&e) => {
            return crate::http::body_timeout::timed_out(state.settings.body_timeout).into_response();
        }
        Read::Failed(e) => {
            return crate::error::ApiError::invalid(vec![crate::error::FieldError {
                field: None,
                message: format!("the body could not be read: {e}"),
                position: crate::error::Position::Body,
            }])
            .into_response();
        }
    };
    let method = parts.method.clone();
    let path = crate::redact::path(parts.uri.path()).into_owned();
    let query = parts.uri.query().map(crate::redact::query);
    let caller = request_token(authorization(&parts.headers), parts.uri.query())
        .ok()
        .map(|t| SecretDigest::of(&t).caller_id());
    // The router matched the path already: its template names the schema.
    let template = parts.extensions.get::<MatchedPath>().map(MatchedPath::as_str);
    let mut violations = request_violations(method.as_str(), template, &parts.headers, &bytes);
    if caller.is_none()
        && let Some(v) = missing_credentials(method.as_str(), template, &parts.headers)
    {
        violations.push(v);
    }
    if !violations.is_empty() {
        // Counted, not shown: a schema's message quotes the value it refused,
        // which may be a credential. The journal has them, redacted.
        tracing::warn!(%method, %path, violations = violations.len(), "the request breaks the contract (GET /__admin/journal?violations=true)");
    }
    let backoff_key = || format!("{} {method} {path}", caller.as_deref().unwrap_or(""));
    let ignored_retry_after = state.journal.ignores_backoff(backoff_key, at);
    let keep_bodies =
        !violations.is_empty() || ignored_retry_after || state.settings.journal_bodies == JournalBodies::All;
    let request_body = keep_bodies.then(|| KeptBody::keep(parts.headers.get(header::CONTENT_TYPE), &bytes));
    let body_sha256 = if bytes.is_empty() {
        Cow::Borrowed(EMPTY_SHA256)
    } else {
        Cow::Owned(hex::encode(Sha256::digest(&bytes)))
    };
    let size = bytes.len();
    let headers = Headers::record(&parts.headers);
    // Numbered on arrival, recorded when answered.
    let seq = state.journal.next_seq();
    let mut res = next.run(Request::from_parts(parts, forwarded)).await;
    let response_body = if keep_bodies {
        let (kept, whole) = keep_response(res).await;
        res = whole;
        kept
    } else {
        None
    };
    if res.status().as_u16() == 429 {
        let wait = res
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        state
            .journal
            .hold_off(backoff_key(), at, at.plus(Duration::from_secs(wait)));
    }
    log_line(&method, &path, &res, started, caller.as_deref());
    state.journal.push(Entry {
        seq,
        at,
        method,
        path,
        query,
        headers,
        caller,
        body_sha256,
        body_size: size,
        status: res.status().as_u16(),
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        violations,
        ignored_retry_after,
        request_body,
        response_body,
    });
    res
}

/// A copy of a response's body, and the response to send on. Only a body
/// of known length within [`MAX_KEPT_BODY`] is read: a stream (SSE) or a
/// large image or ZIP passes untouched, noted by its size alone.
async fn keep_response(res: Response) -> (Option<KeptBody>, Response) {
    let ct = res.headers().get(header::CONTENT_TYPE).cloned();
    match axum::body::HttpBody::size_hint(res.body()).exact() {
        Some(n) if usize::try_from(n).is_ok_and(|n| n <= MAX_KEPT_BODY) => {
            let (parts, body) = res.into_parts();
            match axum::body::to_bytes(body, MAX_KEPT_BODY).await {
                Ok(bytes) => (
                    Some(KeptBody::keep(ct.as_ref(), &bytes)),
                    Response::from_parts(parts, Body::from(bytes)),
                ),
                Err(_) => (None, Response::from_parts(parts, Body::empty())),
            }
        }
        Some(n) => {
            let size = usize::try_from(n).unwrap_or(usize::MAX);
            let kept = KeptBody {
                content_type: ct.and_then(|v| v.to_str().ok().map(str::to_owned)),
                size,
                bytes: Bytes::new(),
            };
            (Some(kept), res)
        }
        None => (None, res),
    }
}

/// A request without any credentials to an operation that needs them (its
/// `security` in `openapi.yaml`): the client forgot its token.
/// The request's line in the log, at info: method, path (credentials
/// redacted), status, time taken, the caller (a digest of its token, never
/// the token) and the scenario it ran under, if any. Its own target, so
/// `MOCK_LOG=info,mock_server::request=warn` silences it alone.
fn log_line(method: &Method, path: &str, res: &Response, started: std::time::Instant, caller: Option<&str>) {
    let scenario = res
        .extensions()
        .get::<ActiveScenario>()
        .and_then(|s| s.0.as_deref())
        .map_or("-", |s| s.name.as_str());
    tracing::info!(
        target: "mock_server::request",
        %method,
        path,
        status = res.status().as_u16(),
        ms = micros_to_ms(started.elapsed()),
        tenant = caller.unwrap_or("-"),
        scenario,
        "request"
    );
}

/// Milliseconds to the microsecond: `0.523`, short in a log line.
fn micros_to_ms(d: Duration) -> f64 {
    u32::try_from(d.as_micros()).map_or(f64::MAX, |us| f64::from(us) / 1000.0)
}

fn missing_credentials(method: &str, template: Option<&str>, headers: &HeaderMap) -> Option<String> {
    let needs = template.is_some_and(|t| Contract::global().needs_credentials(method, t));
    (needs && !headers.contains_key(header::AUTHORIZATION))
        .then(|| "Authorization: missing: this operation needs credentials (its security in openapi.yaml)".to_owned())
}

/// A request body as the journal read it.
enum Read {
    /// All of it, within the limit.
    Whole(Bytes),
    /// More than the limit: the bytes read so far, and the whole body again
    /// (those bytes, then the rest as it arrives) for the route, which
    /// refuses it with its own answer (S3's XML on a pre-signed PUT).
    Over { seen: Bytes, body: Body },
    /// The client's stream broke.
    Failed(axum::Error),
}

/// Reads `body` up to `limit` bytes. One chunk is kept as it came; only a
/// body in several chunks is copied into one buffer.
async fn read_body(body: Body, limit: usize) -> Read {
    let mut stream = body.into_data_stream();
    let mut first: Option<Bytes> = None;
    let mut joined = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => return Read::Failed(e),
        };
        match first.take() {
            None if joined.is_empty() => first = Some(chunk),
            earlier => {
                joined.extend_from_slice(&earlier.unwrap_or_default());
                joined.extend_from_slice(&chunk);
            }
        }
        let read = first.as_ref().map_or(joined.len(), Bytes::len);
        if read > limit {
            let seen = first.take().unwrap_or_else(|| joined.split().freeze());
            let replay = futures_util::stream::once(std::future::ready(Ok::<_, axum::Error>(seen.clone())));
            return Read::Over {
                seen,
                body: Body::from_stream(replay.chain(stream)),
            };
        }
    }
    Read::Whole(first.unwrap_or_else(|| joined.freeze()))
}

/// The request's contract violations: a JSON body checked against the
/// schema `openapi.yaml` names for its operation (by path template).
fn request_violations(method: &str, template: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Vec<String> {
    let c = Contract::global();
    let Some(schema) = template.and_then(|t| c.request_schema_of(method, t)) else {
        return Vec::new();
    };
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/json"));
    if !is_json {
        return vec![format!("Content-Type: must be application/json ({schema})")];
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Err(e) => vec![format!("body: not JSON: {e}")],
        Ok(v) => match long_array(&v, MAX_VALIDATED_ITEMS) {
            // Checking 100,000 wrong items one by one takes the validator
            // about a second, on every such request; the length says enough.
            Some((path, n)) => vec![format!(
                "{}: an array of {n} items, too long to check item by item (over {MAX_VALIDATED_ITEMS})",
                if path.is_empty() { "body" } else { &path }
            )],
            _ => c
                .first_errors(schema, &v, MAX_VIOLATIONS)
                .iter()
                .map(|e| clipped(e.to_string()))
                .collect(),
        },
    }
}

/// The longest array a body may hold and still be checked against its
/// schema (the contract's arrays take at most 100).
pub const MAX_VALIDATED_ITEMS: usize = 1000;

/// The path and length of an array in `v` longer than `max` (the first
/// found), without walking into it. Walks with its own stack.
fn long_array(v: &serde_json::Value, max: usize) -> Option<(String, usize)> {
    use serde_json::Value;
    let mut stack = vec![(String::new(), v)];
    while let Some((path, v)) = stack.pop() {
        match v {
            Value::Array(items) if items.len() > max => return Some((path, items.len())),
            Value::Array(items) => stack.extend(
                items
                    .iter()
                    .enumerate()
                    .filter(|(_, x)| x.is_array() || x.is_object())
                    .map(|(i, x)| (format!("{path}[{i}]"), x)),
            ),
            Value::Object(m) => stack.extend(
                m.iter()
                    .filter(|(_, x)| x.is_array() || x.is_object())
                    .map(|(k, x)| (crate::domain::rule::join_path(&path, k), x)),
            ),
            _ => {}
        }
    }
    None
}

/// Most violations recorded for one request.
pub const MAX_VIOLATIONS: usize = 20;
/// Longest violation recorded, in characters: a message may quote the whole
/// offending value (`[0,0,0,…] has more than 10 items`).
pub const MAX_VIOLATION_LEN: usize = 300;

fn clipped(mut s: String) -> String {
    if let Some((at, _)) = s.char_indices().nth(MAX_VIOLATION_LEN) {
        s.truncate(at);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::long_array;

    #[test]
    fn a_long_array_is_found_with_its_path() {
        let v = serde_json::json!({"a": [1, 2], "b": {"c": [[1, 2, 3, 4], 5]}, "d": "x"});
        assert_eq!(long_array(&v, 3), Some(("b.c[0]".to_owned(), 4)));
        assert_eq!(long_array(&v, 4), None);
        assert_eq!(long_array(&serde_json::json!({"a": 1}), 0), None);
        assert_eq!(long_array(&serde_json::json!(vec![0; 5]), 4), Some((String::new(), 5)));
    }
}
