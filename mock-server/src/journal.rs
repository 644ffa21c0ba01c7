//! The request journal: what clients actually sent (without credentials:
//! see [`crate::redact`]; a digest of the body), what they got, how long it
//! took, and where the request broke the contract. Kept in a bounded ring.
//! A flagged request (a violation, an ignored `Retry-After`) also keeps
//! both bodies, so a CI report can show them; `--journal-bodies all` keeps
//! every request's. Filters run on the read side: recording stays cheap.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use dashmap::DashMap;
use futures_util::StreamExt as _;
use parking_lot::Mutex;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::clock::Instant;
use crate::config::JournalBodies;
use crate::contract::Contract;
use crate::domain::secret::SecretDigest;
use crate::scenarios::endpoint::ActiveScenario;
use crate::state::AppState;

/// Most entries kept; the oldest go first.
pub const MAX_ENTRIES: usize = 10_000;

/// One request and its answer.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Order of arrival.
    pub seq: u64,
    /// When it arrived (injected clock).
    pub at: Instant,
    /// HTTP method.
    #[serde(serialize_with = "method_str")]
    pub method: Method,
    /// Path (a ZIP link's token redacted).
    pub path: String,
    /// Query string, if any (`token` and `Signature` redacted).
    pub query: Option<String>,
    /// Headers, without `Authorization`, `Proxy-Authorization` and `Cookie`.
    pub headers: Headers,
    /// Who called: a digest of the bearer token (never the token).
    pub caller: Option<String>,
    /// SHA-256 of the body, hex.
    pub body_sha256: Cow<'static, str>,
    /// Body length in bytes.
    pub body_size: usize,
    /// The answer's status.
    pub status: u16,
    /// Wall-clock time to answer.
    pub duration_ms: u64,
    /// Where the request broke `schemas/` (`field: message`).
    pub violations: Vec<String>,
    /// The caller repeated a request that got 429 before its `Retry-After`.
    pub ignored_retry_after: bool,
    /// The request body, when kept (see the module doc).
    pub request_body: Option<KeptBody>,
    /// The answer's body, when kept.
    pub response_body: Option<KeptBody>,
}

/// Most bytes of one body the journal keeps; a longer one keeps its head.
pub const MAX_KEPT_BODY: usize = 64 * 1024;

/// A body the journal kept: `{content_type, size, text | base64,
/// truncated}` in JSON (text when it is UTF-8).
#[derive(Debug, Clone)]
pub struct KeptBody {
    /// Its `Content-Type`, if any.
    pub content_type: Option<String>,
    /// Its whole length in bytes.
    pub size: usize,
    /// Its first [`MAX_KEPT_BODY`] bytes.
    pub bytes: Bytes,
}

impl KeptBody {
    fn keep(content_type: Option<&axum::http::HeaderValue>, bytes: &Bytes) -> Self {
        Self {
            content_type: content_type.and_then(|v| v.to_str().ok()).map(str::to_owned),
            size: bytes.len(),
            bytes: bytes.slice(..bytes.len().min(MAX_KEPT_BODY)),
        }
    }

    /// Whether only the head of the body was kept.
    pub fn truncated(&self) -> bool {
        self.bytes.len() < self.size
    }
}

impl Serialize for KeptBody {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine as _;
        use serde::ser::SerializeMap as _;
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("content_type", &self.content_type)?;
        m.serialize_entry("size", &self.size)?;
        match std::str::from_utf8(&self.bytes) {
            Ok(text) => m.serialize_entry("text", text)?,
            Err(_) => m.serialize_entry("base64", &base64::engine::general_purpose::STANDARD.encode(&self.bytes))?,
        }
        m.serialize_entry("truncated", &self.truncated())?;
        m.end()
    }
}

/// A request's headers as `name: value` lines, one allocation per request;
/// turned into a JSON object (the last of repeated names wins) only when
/// the journal is read.
#[derive(Debug, Clone, Default)]
pub struct Headers(String);

impl Headers {
    fn record(headers: &HeaderMap) -> Self {
        let mut out = String::with_capacity(256);
        for (k, v) in headers {
            if crate::redact::is_secret_header(k) {
                continue;
            }
            out.push_str(k.as_str());
            out.push_str(": ");
            out.push_str(v.to_str().unwrap_or("<binary>"));
            out.push('\n');
        }
        Self(out)
    }

    /// The headers as a JSON object.
    pub fn to_map(&self) -> serde_json::Map<String, serde_json::Value> {
        self.0
            .lines()
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.to_owned(), serde_json::Value::String(v.to_owned())))
            .collect()
    }
}

impl Serialize for Headers {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(s)
    }
}

fn method_str<S: serde::Serializer>(m: &Method, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(m.as_str())
}

/// Most Retry-After deadlines kept; past it, the expired ones go.
const MAX_BACKOFFS: usize = 10_000;

/// The journal.
#[derive(Debug, Default)]
pub struct Journal {
    entries: Mutex<VecDeque<Arc<Entry>>>,
    seq: AtomicU64,
    /// "caller method path" → the time a 429 said to wait until.
    backoff: DashMap<String, Instant>,
    /// Whether any 429 was answered: until then no request builds a key.
    any_backoff: AtomicBool,
}

impl Journal {
    /// Forgets the requests of `callers` (digests, as [`Entry::caller`])
    /// and their `Retry-After` deadlines: a reset of one tenant.
    pub fn forget_callers(&self, callers: &std::collections::HashSet<String>) {
        self.entries
            .lock()
            .retain(|e| e.caller.as_ref().is_none_or(|c| !callers.contains(c)));
        self.backoff
            .retain(|k, _| k.split_once(' ').is_none_or(|(c, _)| !callers.contains(c)));
    }

    /// Forgets everything.
    pub fn clear(&self) {
        self.entries.lock().clear();
        self.backoff.clear();
        self.any_backoff.store(false, Ordering::Relaxed);
        self.seq.store(0, Ordering::SeqCst);
    }

    /// Notes that `key` was told to wait until `until`; forgets deadlines
    /// already past once there are many, so the map stays bounded.
    fn hold_off(&self, key: String, at: Instant, until: Instant) {
        if self.backoff.len() >= MAX_BACKOFFS {
            self.backoff.retain(|_, u| *u > at);
        }
        self.backoff.insert(key, until);
        self.any_backoff.store(true, Ordering::Relaxed);
    }

    /// Whether `key` is asking again before its deadline.
    fn ignores_backoff(&self, key: &str, at: Instant) -> bool {
        self.backoff.get(key).is_some_and(|until| at < *until)
    }

    /// Entries matching the filters, oldest first.
    /// Filters a copy, so a slow filter never holds up recording.
    pub fn query(&self, f: &Filter) -> Vec<Arc<Entry>> {
        let all: Vec<Arc<Entry>> = self.entries.lock().iter().cloned().collect();
        all.into_iter().filter(|e| f.matches(e)).collect()
    }

    fn push(&self, e: Entry) {
        let e = Arc::new(e);
        let oldest = {
            let mut entries = self.entries.lock();
            entries.push_back(e);
            (entries.len() > MAX_ENTRIES).then(|| entries.pop_front())
        };
        // Freed outside the lock.
        drop(oldest);
    }
}

/// What to select from the journal.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// HTTP method.
    pub method: Option<String>,
    /// A path pattern: `*` (or a template's `{id}`) matches within a
    /// segment, `**` across segments.
    pub path: Option<String>,
    /// Exact status.
    pub status: Option<u16>,
    /// Only requests with contract violations.
    pub violations: Option<bool>,
    /// Only requests that ignored a `Retry-After` (or only those that did not).
    pub ignored_retry_after: Option<bool>,
    /// One caller: the 12-hex digest of its token ([`Entry::caller`]).
    pub caller: Option<String>,
    /// One account (tenant id or e-mail): every caller whose token is the
    /// account's. Resolved by the control API into [`Filter::callers`].
    pub account: Option<String>,
    /// Only requests numbered above this `seq`.
    pub after: Option<u64>,
    /// Only requests that arrived at or after this time (RFC 3339, injected clock).
    pub since: Option<String>,
    /// Only requests that arrived before this time.
    pub until: Option<String>,
    /// The callers of `account`, as resolved.
    #[serde(skip)]
    pub callers: Option<std::collections::HashSet<String>>,
    /// `since` and `until`, parsed.
    #[serde(skip)]
    pub window: (Option<Instant>, Option<Instant>),
}

impl Filter {
    /// Whether `e` is selected.
    pub fn matches(&self, e: &Entry) -> bool {
        let caller = e.caller.as_deref();
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(e.method.as_str()))
            && self.path.as_deref().is_none_or(|p| glob(p, &e.path))
            && self.status.is_none_or(|s| s == e.status)
            && self.violations.is_none_or(|v| v != e.violations.is_empty())
            && self.ignored_retry_after.is_none_or(|v| v == e.ignored_retry_after)
            && self.caller.as_deref().is_none_or(|c| caller == Some(c))
            && self
                .callers
                .as_ref()
                .is_none_or(|set| caller.is_some_and(|c| set.contains(c)))
            && self.after.is_none_or(|a| e.seq > a)
            && self.window.0.is_none_or(|t| e.at >= t)
            && self.window.1.is_none_or(|t| e.at < t)
    }
}

/// `*` matches any run of characters but `/`, and so does a path
/// template's `{name}` (the scenario files' form: `/jobs/{id}/status`);
/// `**` any run at all. Linear in pattern × path: a set of reachable path
/// positions, advanced per pattern token (no backtracking, so no pattern
/// can stall the server).
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let mut reach = vec![false; t.len() + 1];
    reach[0] = true;
    let mut i = 0;
    while i < p.len() {
        let mut next = vec![false; t.len() + 1];
        // `{name}` up to its `}` is one `*` (an unclosed `{` is a letter).
        let template = (p[i] == b'{').then(|| p[i..].iter().position(|&b| b == b'}')).flatten();
        if p[i] == b'*' || template.is_some() {
            let double = template.is_none() && p.get(i + 1) == Some(&b'*');
            for j in 0..=t.len() {
                next[j] = reach[j] || (j > 0 && next[j - 1] && (double || t[j - 1] != b'/'));
            }
            i += template.map_or(if double { 2 } else { 1 }, |end| end + 1);
        } else {
            for j in 0..t.len() {
                next[j + 1] = reach[j] && t[j] == p[i];
            }
            i += 1;
        }
        reach = next;
    }
    reach[t.len()]
}

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
    let caller = caller_token(&parts.headers, parts.uri.query()).map(|t| SecretDigest::of(&t).caller_id());
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
    let ignored_retry_after =
        state.journal.any_backoff.load(Ordering::Relaxed) && state.journal.ignores_backoff(&backoff_key(), at);
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
    let seq = state.journal.seq.fetch_add(1, Ordering::SeqCst) + 1;
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
fn missing_credentials(method: &str, template: Option<&str>, headers: &HeaderMap) -> Option<String> {
    let needs = template.is_some_and(|t| Contract::global().needs_credentials(method, t));
    (needs && !headers.contains_key(header::AUTHORIZATION))
        .then(|| "Authorization: missing: this operation needs credentials (its security in openapi.yaml)".to_owned())
}

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

/// The bearer token (header, else the SSE endpoint's `?token=`).
fn caller_token<'a>(headers: &'a HeaderMap, query: Option<&str>) -> Option<Cow<'a, str>> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| crate::domain::auth::parse_bearer(Some(h)).ok());
    if let Some(t) = bearer {
        return Some(Cow::Borrowed(t));
    }
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| Cow::Owned(v.into_owned()))
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
                    .map(|(k, x)| (crate::http::extract::join_path(&path, k), x)),
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
    use super::{glob, long_array};

    #[test]
    fn a_long_array_is_found_with_its_path() {
        let v = serde_json::json!({"a": [1, 2], "b": {"c": [[1, 2, 3, 4], 5]}, "d": "x"});
        assert_eq!(long_array(&v, 3), Some(("b.c[0]".to_owned(), 4)));
        assert_eq!(long_array(&v, 4), None);
        assert_eq!(long_array(&serde_json::json!({"a": 1}), 0), None);
        assert_eq!(long_array(&serde_json::json!(vec![0; 5]), 4), Some((String::new(), 5)));
    }

    #[test]
    fn globs_match_segments_and_everything() {
        assert!(glob("/jobs/*/status", "/jobs/job_1/status"));
        assert!(!glob("/jobs/*/status", "/jobs/a/b/status"));
        assert!(glob("/jobs/**", "/jobs/a/b/status"));
        assert!(glob("/flat-2-model", "/flat-2-model"));
        assert!(!glob("/flat-2-model", "/flat-2-models"));
        assert!(glob("/a*/*c", "/ab/xc") && !glob("/a*c", "/ab/c") && glob("**", ""));
        // A path template's `{name}` is one segment, as in scenario files.
        assert!(glob("/jobs/{id}/status", "/jobs/job_1/status"));
        assert!(!glob("/jobs/{id}/status", "/jobs/a/b/status"));
        assert!(glob("/jobs/{id}/versions/{image_index}", "/jobs/j/versions/0"));
        assert!(
            glob("/x{", "/x{") && !glob("/x{", "/xa"),
            "an unclosed brace is a letter"
        );
        // The pattern that made a backtracking matcher take forever.
        let evil = format!("{}/zz", "/**".repeat(40));
        assert!(!glob(&evil, &"/a".repeat(500)));
    }
}
