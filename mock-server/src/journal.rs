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

use axum::http::{HeaderMap, Method};
use bytes::Bytes;
use dashmap::DashMap;
use parking_lot::Mutex;
use serde::Serialize;

use crate::clock::Instant;

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
    /// The head of `bytes`, sent as `content_type`.
    pub(crate) fn keep(content_type: Option<&axum::http::HeaderValue>, bytes: &Bytes) -> Self {
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
    pub(crate) fn record(headers: &HeaderMap) -> Self {
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
    /// The control calls that change a run (clock moves, scenario choices,
    /// jobs ended by hand), each after the request `seq` it followed: the
    /// session export ([`crate::admin::session`]) puts them back in order.
    controls: Mutex<Vec<(u64, serde_json::Value)>>,
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

    /// Notes a control call that changes a run (`{method, path, body}`),
    /// after the requests recorded so far.
    pub fn note_control(&self, step: serde_json::Value) {
        self.controls.lock().push((self.seq.load(Ordering::SeqCst), step));
    }

    /// The control calls noted, each with the request `seq` it followed.
    pub fn controls(&self) -> Vec<(u64, serde_json::Value)> {
        self.controls.lock().clone()
    }

    /// Forgets everything.
    pub fn clear(&self) {
        self.controls.lock().clear();
        self.entries.lock().clear();
        self.backoff.clear();
        self.any_backoff.store(false, Ordering::Relaxed);
        self.seq.store(0, Ordering::SeqCst);
    }

    /// Notes that `key` was told to wait until `until`; forgets deadlines
    /// already past once there are many, so the map stays bounded.
    pub(crate) fn hold_off(&self, key: String, at: Instant, until: Instant) {
        if self.backoff.len() >= MAX_BACKOFFS {
            self.backoff.retain(|_, u| *u > at);
        }
        self.backoff.insert(key, until);
        self.any_backoff.store(true, Ordering::Relaxed);
    }

    /// Whether the key `key()` names is asking again before its deadline;
    /// until any 429 was answered, no key is built.
    pub(crate) fn ignores_backoff(&self, key: impl FnOnce() -> String, at: Instant) -> bool {
        self.any_backoff.load(Ordering::Relaxed) && self.backoff.get(&key()).is_some_and(|until| at < *until)
    }

    /// The number of a request that just arrived.
    pub(crate) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Entries matching the filters, oldest first.
    /// Filters a copy, so a slow filter never holds up recording.
    pub fn query(&self, f: &Filter) -> Vec<Arc<Entry>> {
        let all: Vec<Arc<Entry>> = self.entries.lock().iter().cloned().collect();
        all.into_iter().filter(|e| f.matches(e)).collect()
    }

    /// Records an answered request; the oldest goes past [`MAX_ENTRIES`].
    pub(crate) fn push(&self, e: Entry) {
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

#[cfg(test)]
mod tests {
    use super::glob;

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
