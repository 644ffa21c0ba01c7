//! `contract-tests replay FILE --base-url URL`: plays a session exported
//! by the fake (`GET /__admin/session`) against a fresh fake and reports
//! every answer that differs from the recorded one, so a bug report can
//! carry a file that reproduces the failure.
//!
//! - **IDs are mapped**: where a recorded answer and the new one differ
//!   only by an ID (`job_…`, `sku_…`, any `word_hex`), the new ID stands
//!   for the old one in every later request and comparison.
//! - **Timestamps are ignored**: RFC 3339 strings, and numbers under a
//!   key that names a time (`timestamp`, `expires`, `…_at`).
//! - **URLs are compared without their query** (signatures, expiries), the
//!   recorded base URL read as the new one.
//! - **Credentials** never travel in the file: each request names its
//!   caller (a digest of its token); `--token` gives the tokens to use,
//!   matched by that digest.

use std::collections::HashMap;

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::suite::RunError;

/// The only format read.
pub const FORMAT: &str = "flat2model-session/1";

/// What the export puts for a credential: not compared.
const REDACTED: &str = "<redacted>";

/// A difference between the recorded run and the replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// 1-based step number in the session.
    pub step: usize,
    /// `METHOD path` of the step.
    pub request: String,
    /// What differs.
    pub what: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "step {} {}: {}", self.step, self.request, self.what)
    }
}

/// The journal's caller id of `token`: the first 12 hex digits of its SHA-256.
fn caller_of(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))[..12].to_owned()
}

/// Whether `s` looks like an ID the fake made: `prefix_` then letters and
/// digits (`job_93654805…`, `sku_…`, `id_…`, `wh_…`, `acct_…`).
fn looks_like_id(s: &str) -> bool {
    s.split_once('_').is_some_and(|(p, rest)| {
        !p.is_empty()
            && p.len() <= 8
            && p.bytes().all(|b| b.is_ascii_lowercase())
            && rest.len() >= 6
            && rest.bytes().all(|b| b.is_ascii_alphanumeric())
            && rest.bytes().any(|b| b.is_ascii_digit())
    })
}

/// Whether `key` names a time.
fn time_key(key: &str) -> bool {
    key == "timestamp" || key == "expires" || key.ends_with("_at") || key == "now" || key == "now_ms"
}

/// Whether `s` is an RFC 3339 time (`2026-01-01T00:00:00…`).
fn is_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 19 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':'
}

/// A replay in progress: the ID map and the bases.
struct Replayer {
    ids: HashMap<String, String>,
    /// A link handed out (its path) → the new one, whole: the journal
    /// redacts a link's signature, so a request to it takes the new link.
    links: HashMap<String, String>,
    recorded_base: String,
    base: String,
}

impl Replayer {
    /// `s` with every mapped ID and the recorded base replaced.
    fn map(&self, s: &str) -> String {
        let mut out = s.replace(&self.recorded_base, &self.base);
        let mut keys: Vec<&String> = self.ids.keys().collect();
        keys.sort_by_key(|k| std::cmp::Reverse(k.len()));
        for k in keys {
            out = out.replace(k.as_str(), &self.ids[k]);
        }
        out
    }

    /// Learns the IDs where `got` differs from `recorded` only by an ID.
    fn learn(&mut self, recorded: &Value, got: &Value) {
        match (recorded, got) {
            (Value::String(a), Value::String(b)) if a != b && looks_like_id(a) && looks_like_id(b) => {
                self.ids.entry(a.clone()).or_insert_with(|| b.clone());
            }
            (Value::String(a), Value::String(b)) if a.starts_with(&self.recorded_base) && b.starts_with(&self.base) => {
                let path = |u: &str, base: &str| u[base.len()..].split('?').next().unwrap_or("").to_owned();
                self.links.insert(path(a, &self.recorded_base), b.clone());
            }
            (Value::Object(a), Value::Object(b)) => {
                for (k, v) in a {
                    if let Some(w) = b.get(k) {
                        self.learn(v, w);
                    }
                }
            }
            (Value::Array(a), Value::Array(b)) => {
                for (v, w) in a.iter().zip(b) {
                    self.learn(v, w);
                }
            }
            _ => {}
        }
    }

    /// Where `recorded` (mapped) and `got` differ, as `path: recorded ≠ got`
    /// lines; times ignored, URLs without their query.
    fn compare(&self, path: &str, key: &str, recorded: &Value, got: &Value, out: &mut Vec<String>) {
        if time_key(key) {
            return;
        }
        match (recorded, got) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, v) in a {
                    match b.get(k) {
                        Some(w) => self.compare(&format!("{path}.{k}"), k, v, w, out),
                        None => out.push(format!("{path}.{k}: missing (recorded {v})")),
                    }
                }
                for k in b.keys().filter(|k| !a.contains_key(*k)) {
                    out.push(format!("{path}.{k}: new field {}", b[k]));
                }
            }
            (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
                for (i, (v, w)) in a.iter().zip(b).enumerate() {
                    self.compare(&format!("{path}[{i}]"), key, v, w, out);
                }
            }
            (Value::String(a), Value::String(b)) => {
                if (is_time(a) && is_time(b)) || a == REDACTED {
                    return;
                }
                let strip = |s: &str| s.split('?').next().unwrap_or("").to_owned();
                let a = self.map(a);
                let (a, b) = if a.starts_with("http") {
                    (strip(&a), strip(b))
                } else {
                    (a, b.clone())
                };
                if a != b {
                    out.push(format!("{path}: recorded {a:?}, got {b:?}"));
                }
            }
            (a, b) if a != b => out.push(format!("{path}: recorded {a}, got {b}")),
            _ => {}
        }
    }
}

/// A kept body's bytes (`text` or `base64`), and whether it is whole.
fn body_bytes(body: &Value) -> Option<(Vec<u8>, bool)> {
    let whole = body["truncated"] != true;
    if let Some(t) = body["text"].as_str() {
        return Some((t.as_bytes().to_vec(), whole));
    }
    let b = body["base64"].as_str()?;
    base64::engine::general_purpose::STANDARD
        .decode(b)
        .ok()
        .map(|v| (v, whole))
}

/// How a replay starts.
#[derive(Debug, Clone, Default)]
pub struct Start<'a> {
    /// The tokens the session's callers used.
    pub tokens: &'a [String],
    /// The fake's `--admin-token`.
    pub admin_token: Option<&'a str>,
    /// Play on the fake as it is (a scenario set beforehand stays), not
    /// reset first.
    pub no_reset: bool,
}

/// Plays `session` against `base` (reset first unless told, its clock set
/// to the recorded start); the differences, none when the run reproduced.
pub async fn replay(session: &Value, base: &str, start: Start<'_>) -> Result<Vec<Difference>, RunError> {
    let (tokens, admin_token) = (start.tokens, start.admin_token);
    if session["format"] != FORMAT {
        return Err(RunError::Usage(format!(
            "not a session export ({FORMAT}): format is {}",
            session["format"]
        )));
    }
    let base = base.trim_end_matches('/').to_owned();
    let tokens: HashMap<String, &String> = tokens.iter().map(|t| (caller_of(t), t)).collect();
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| RunError::Usage(e.to_string()))?;
    let admin = |m: reqwest::Method, path: &str, body: Option<Value>| {
        let mut r = http.request(m, format!("{base}{path}"));
        if let Some(t) = admin_token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send()
    };
    let unreachable = |e: reqwest::Error| RunError::Unreachable(format!("{base}: {e}"));
    if !start.no_reset {
        admin(reqwest::Method::POST, "/__admin/reset", None)
            .await
            .map_err(unreachable)?;
    }
    if let Some(at) = session["started_at"].as_str() {
        admin(reqwest::Method::POST, "/__admin/clock", Some(json!({ "set": at })))
            .await
            .map_err(unreachable)?;
    }
    let mut r = Replayer {
        ids: HashMap::new(),
        links: HashMap::new(),
        recorded_base: session["base_url"].as_str().unwrap_or_default().to_owned(),
        base: base.clone(),
    };
    let mut diffs = Vec::new();
    let steps = session["steps"].as_array().cloned().unwrap_or_default();
    for (i, step) in steps.iter().enumerate() {
        let n = i + 1;
        if let Some(c) = step.get("control") {
            let mut body = c["body"].clone();
            // A scenario chosen for a caller: the token of that caller.
            if let Some(caller) = body.get("caller").and_then(Value::as_str).map(str::to_owned) {
                let Some(token) = tokens.get(&caller) else {
                    return Err(RunError::Usage(format!(
                        "step {n}: a scenario is chosen for caller {caller}: give its token with --token"
                    )));
                };
                body["token"] = json!(token);
            }
            if let Some(o) = body.as_object_mut() {
                o.remove("caller");
                o.retain(|_, v| !v.is_null() && *v != json!(false));
                if c["path"] == "/__admin/scenarios/active" && !o.contains_key("name") {
                    o.insert("name".into(), Value::Null);
                }
            }
            let method = reqwest::Method::from_bytes(c["method"].as_str().unwrap_or("POST").as_bytes())
                .map_err(|e| RunError::Usage(e.to_string()))?;
            let path = r.map(c["path"].as_str().unwrap_or_default());
            let res = admin(method.clone(), &path, (!body.is_null()).then_some(body))
                .await
                .map_err(unreachable)?;
            if !res.status().is_success() {
                diffs.push(Difference {
                    step: n,
                    request: format!("{method} {path}"),
                    what: format!("the control call failed: {}", res.status()),
                });
            }
            continue;
        }
        let req = &step["request"];
        let method = reqwest::Method::from_bytes(req["method"].as_str().unwrap_or("GET").as_bytes())
            .map_err(|e| RunError::Usage(e.to_string()))?;
        let recorded_path = req["path"].as_str().unwrap_or("/");
        let url = match r.links.get(recorded_path) {
            Some(link) => link.clone(),
            None => {
                let mut path = r.map(recorded_path);
                if let Some(q) = req["query"].as_str() {
                    path = format!("{path}?{}", r.map(q));
                }
                format!("{base}{path}")
            }
        };
        let shown = format!("{method} {recorded_path}");
        let mut call = http.request(method, url);
        if let Some(h) = req["headers"].as_object() {
            for (k, v) in h {
                if ["host", "content-length", "connection", "transfer-encoding"].contains(&k.as_str()) {
                    continue;
                }
                if let Some(v) = v.as_str() {
                    call = call.header(k, r.map(v));
                }
            }
        }
        if let Some(caller) = req["caller"].as_str() {
            match tokens.get(caller) {
                Some(t) => call = call.bearer_auth(t),
                None => {
                    return Err(RunError::Usage(format!(
                        "step {n} ({shown}) was sent by caller {caller}: give its token with --token"
                    )));
                }
            }
        }
        if req["body_size"].as_u64().unwrap_or(0) > 0 {
            match body_bytes(&req["body"]) {
                Some((bytes, true)) if req["body"]["text"].is_string() => {
                    call = call.body(r.map(&String::from_utf8_lossy(&bytes)));
                }
                Some((bytes, true)) => call = call.body(bytes),
                _ => {
                    return Err(RunError::Usage(format!(
                        "step {n} ({shown}): its body was not kept whole (record with --journal-bodies all; bodies over 64 KiB are cut)"
                    )));
                }
            }
        }
        let res = call.send().await.map_err(unreachable)?;
        let status = res.status().as_u16();
        let bytes = res.bytes().await.map_err(unreachable)?;
        let recorded = &step["response"];
        let mut found = Vec::new();
        if recorded["status"].as_u64() != Some(u64::from(status)) {
            found.push(format!("status: recorded {}, got {status}", recorded["status"]));
        }
        if let Some((want, whole)) = body_bytes(&recorded["body"]) {
            match (
                serde_json::from_slice::<Value>(&want),
                serde_json::from_slice::<Value>(&bytes),
            ) {
                (Ok(a), Ok(b)) => {
                    r.learn(&a, &b);
                    r.compare("body", "", &a, &b, &mut found);
                }
                (Ok(_), Err(_)) => found.push("body: recorded JSON, got something else".to_owned()),
                _ if whole
                    && !recorded["body"]["content_type"]
                        .as_str()
                        .is_some_and(|c| c.contains("zip") || c.contains("event-stream"))
                    && want != bytes.as_ref() =>
                {
                    found.push(format!(
                        "body: {} bytes differ from the recorded {}",
                        bytes.len(),
                        want.len()
                    ));
                }
                _ => {}
            }
        }
        diffs.extend(found.into_iter().map(|what| Difference {
            step: n,
            request: shown.clone(),
            what,
        }));
    }
    Ok(diffs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replayer() -> Replayer {
        Replayer {
            ids: HashMap::new(),
            links: HashMap::new(),
            recorded_base: "http://old".into(),
            base: "http://new".into(),
        }
    }

    #[test]
    fn ids_are_mapped_and_times_and_url_queries_ignored() {
        let mut r = replayer();
        let recorded = json!({"job_id": "job_aaaaaa11", "created_at": "2026-01-01T00:00:00Z",
            "timestamp": 1.5, "url": "http://old/f/job_aaaaaa11.png?Signature=1", "status": "completed"});
        let got = json!({"job_id": "job_bbbbbb22", "created_at": "2026-02-01T00:00:00Z",
            "timestamp": 9.0, "url": "http://new/f/job_bbbbbb22.png?Signature=2", "status": "completed"});
        r.learn(&recorded, &got);
        assert_eq!(r.ids["job_aaaaaa11"], "job_bbbbbb22");
        let mut out = Vec::new();
        r.compare("body", "", &recorded, &got, &mut out);
        assert!(out.is_empty(), "{out:?}");
        let changed = json!({"job_id": "job_bbbbbb22", "created_at": "x", "timestamp": 1,
            "url": "http://new/f/job_bbbbbb22.png", "status": "failed", "extra": 1});
        r.compare("body", "", &recorded, &changed, &mut out);
        // created_at and timestamp name times: not compared.
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out.iter().any(|d| d.starts_with("body.status: recorded \"completed\"")));
        assert!(out.iter().any(|d| d.starts_with("body.extra: new field")));
    }

    #[test]
    fn only_prefixed_words_are_ids() {
        assert!(looks_like_id("job_93654805b99c0de0ee039532"));
        assert!(looks_like_id("acct_d702ca2d5420f93b"));
        assert!(!looks_like_id("completed"));
        assert!(!looks_like_id("nano_banana_pro"));
        assert_eq!(caller_of("f2m_demo_token").len(), 12);
    }
}
