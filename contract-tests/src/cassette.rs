//! A proxy session as a cassette: a HAR 1.2 log of every exchange plus
//! `log._flow`, the flow's IDs and what each job did (its states in order,
//! each output's engine, status and time), with every secret redacted
//! before anything is written; and [`to_scenario`], which turns a
//! cassette's jobs into a scenario of the fake (`schemas/scenario.json`)
//! so the real run replays offline with the same shape.
//!
//! Redacted: the `Authorization`, `Proxy-Authorization`, `Cookie`,
//! `Set-Cookie` and `X-Webhook-Signature` headers; query values of
//! signatures, credentials and tokens (`Signature`, `X-Amz-Signature`,
//! `X-Amz-Credential`, `X-Amz-Security-Token`, `token`, …) wherever a URL
//! appears, in the log or inside a body; JSON fields holding secrets
//! (`token`, `refresh_token`, `secret`, `password`). Binary bodies are
//! not stored, only their size and SHA-256.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use axum::http::HeaderMap;
use contract::har::{self, Content, NameValue, PostData, Request, Response};
use serde::Serialize;
use serde_json::{Value, json};

use crate::proxy::tap::Capture;

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-webhook-signature",
    "x-amz-security-token",
];

const SECRET_QUERY: &[&str] = &[
    "signature",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "awsaccesskeyid",
    "token",
    "access_token",
    "key-pair-id",
    "policy",
];

const SECRET_FIELDS: &[&str] = &["token", "refresh_token", "secret", "password", "access_token"];

/// One exchange the proxy passed, as it saw it (secrets still in).
#[derive(Debug, Clone)]
pub struct Recorded {
    /// When the request arrived.
    pub at: SystemTime,
    /// Until the answer's last byte passed.
    pub duration: Duration,
    /// The method.
    pub method: String,
    /// The URL the proxy sent it to.
    pub url: String,
    /// `GET /jobs/{id}/status`.
    pub operation: String,
    /// The client's headers.
    pub request_headers: HeaderMap,
    /// The client's body.
    pub request: Capture,
    /// The upstream's status.
    pub status: u16,
    /// The upstream's headers.
    pub response_headers: HeaderMap,
    /// The upstream's body.
    pub response: Capture,
    /// The answer as JSON, when it was.
    pub json: Option<Value>,
    /// The SSE messages, `(event, data)`, when it was a stream.
    pub sse: Vec<(Option<String>, String)>,
}

/// `url` with the values of secret query parameters redacted.
pub fn redact_url(url: &str) -> String {
    let Some((head, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if SECRET_QUERY.contains(&k.to_ascii_lowercase().as_str()) => format!("{k}={REDACTED}"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{head}?{}", pairs.join("&"))
}

/// A JSON value with secret fields and the secrets of every URL in it
/// redacted.
pub fn redact_json(v: &mut Value) {
    match v {
        Value::String(s) if s.starts_with("http://") || s.starts_with("https://") => *s = redact_url(s),
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if SECRET_FIELDS.contains(&k.to_ascii_lowercase().as_str()) && !child.is_null() {
                    *child = Value::String(REDACTED.into());
                } else {
                    redact_json(child);
                }
            }
        }
        _ => {}
    }
}

fn headers(h: &HeaderMap) -> Vec<NameValue> {
    h.iter()
        .map(|(name, value)| {
            let value = if SECRET_HEADERS.contains(&name.as_str()) {
                REDACTED.to_owned()
            } else if name == "location" {
                redact_url(value.to_str().unwrap_or_default())
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            NameValue::new(name.as_str(), value)
        })
        .collect()
}

/// A body for the cassette: redacted JSON, text, or only a note with its
/// size and SHA-256.
fn text(c: &Capture, content_type: &str) -> (Option<String>, Option<String>) {
    let note = Some(format!("{} bytes, sha256 {}", c.size, c.sha256()));
    if c.size == 0 {
        return (None, None);
    }
    if !c.whole() {
        return (None, note);
    }
    if let Ok(mut v) = serde_json::from_slice::<Value>(&c.bytes) {
        redact_json(&mut v);
        return (Some(v.to_string()), note);
    }
    let textual = content_type.starts_with("text/") || content_type.contains("x-www-form-urlencoded");
    match (textual, std::str::from_utf8(&c.bytes)) {
        // Text may carry links (an SSE notification's): redact each.
        (true, Ok(t)) => (Some(redact_text(t)), note),
        _ => (None, note),
    }
}

/// Text with the secrets of every link in it redacted: each run between
/// quotes, spaces and line ends is treated as a possible URL.
fn redact_text(t: &str) -> String {
    t.split_inclusive(['"', ' ', '\n'])
        .map(|piece| {
            let cut = piece.len()
                - piece
                    .chars()
                    .last()
                    .filter(|c| matches!(c, '"' | ' ' | '\n'))
                    .map_or(0, char::len_utf8);
            format!("{}{}", redact_url(&piece[..cut]), &piece[cut..])
        })
        .collect()
}

/// What HAR has no field for: the operation of each entry.
#[derive(Debug, Serialize)]
struct Operation {
    #[serde(rename = "_operation")]
    operation: String,
}

/// The flow's IDs and jobs, in `log._flow`.
#[derive(Debug, Serialize)]
struct Flow {
    #[serde(rename = "_flow")]
    flow: Value,
}

fn entry(r: &Recorded) -> har::Entry<Operation> {
    let req_type = r
        .request_headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let resp_type = r
        .response_headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let url = redact_url(&r.url);
    let query: Vec<NameValue> = url
        .split_once('?')
        .map(|(_, q)| {
            q.split('&')
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    NameValue::new(k, v)
                })
                .collect()
        })
        .unwrap_or_default();
    let (req_text, req_note) = text(&r.request, req_type);
    let (resp_text, resp_note) = text(&r.response, resp_type);
    let post_data = (r.request.size > 0).then(|| PostData {
        mime_type: req_type.to_owned(),
        text: req_text.unwrap_or_default(),
        comment: req_note,
    });
    let size = |n: u64| i64::try_from(n).unwrap_or(-1);
    let content = Content {
        size: size(r.response.size),
        mime_type: resp_type.to_owned(),
        text: resp_text,
        encoding: None,
        comment: resp_note,
    };
    har::Entry::new(
        har::rfc3339_millis(r.at),
        u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX),
        Request::new(
            r.method.clone(),
            url.clone(),
            headers(&r.request_headers),
            query,
            post_data,
            size(r.request.size),
        ),
        Response::new(r.status, headers(&r.response_headers), content, size(r.response.size)),
        None,
        Operation {
            operation: r.operation.clone(),
        },
    )
}

/// The flow: the IDs handed out and, per job, what it did.
fn flow(recorded: &[Recorded]) -> Value {
    let mut ids: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut jobs: Vec<Value> = Vec::new();
    let mut started: BTreeMap<String, SystemTime> = BTreeMap::new();
    let mut push = |kind: &'static str, v: Option<&Value>| {
        if let Some(s) = v.and_then(Value::as_str) {
            let list = ids.entry(kind).or_default();
            if !list.iter().any(|x| x == s) {
                list.push(s.to_owned());
            }
        }
    };
    for r in recorded {
        let Some(j) = &r.json else { continue };
        match r.operation.as_str() {
            "POST /identity/upload" => push("identities", j.get("identity_code").or(j.get("existing_identity_code"))),
            "POST /project" => push("projects", j.get("project_id")),
            "POST /upload" => push("files", j.get("file_id")),
            "POST /flat-2-model" if r.status == 202 => {
                push("jobs", j.get("job_id"));
                let request: Value = serde_json::from_slice(&r.request.bytes).unwrap_or(Value::Null);
                let id = j["job_id"].as_str().unwrap_or_default().to_owned();
                started.insert(id.clone(), r.at);
                jobs.push(json!({
                    "job_id": id, "total_outputs": j["total_outputs"],
                    "model": request.pointer("/options/model").and_then(Value::as_str).unwrap_or("auto"),
                    "states": [], "outputs": [],
                }));
            }
            _ => {}
        }
    }
    for job in &mut jobs {
        let id = job["job_id"].as_str().unwrap_or_default().to_owned();
        // The states in order: from the job's batch_edit notifications
        // when the client read any (they hold every change), else from its
        // polls.
        let (mut polled, mut notified): (Vec<String>, Vec<(i64, String)>) = (Vec::new(), Vec::new());
        for r in recorded {
            match r.operation.as_str() {
                "GET /jobs/{id}/status" | "GET /jobs/{id}/results" if r.url.contains(&id) => {
                    let j = r.json.as_ref();
                    if let Some(s) = j.and_then(|j| j["status"].as_str()) {
                        polled.push(s.to_owned());
                    }
                    if r.operation.ends_with("results") && j.is_some_and(|j| j["results"].is_array()) {
                        job["outputs"] = j.map(|j| outputs(&j["results"])).unwrap_or_default();
                        for key in [
                            "progress",
                            "error_message",
                            "post_processing_status",
                            "post_processing_error",
                        ] {
                            job[key] = j.map(|j| j[key].clone()).unwrap_or_default();
                        }
                    }
                }
                "GET /notifications/events" | "POST /notifications" => {
                    let events: Vec<Value> = match &r.json {
                        Some(Value::Array(items)) => items.clone(),
                        _ => r.sse.iter().filter_map(|(_, d)| serde_json::from_str(d).ok()).collect(),
                    };
                    for n in events {
                        if n["name"] == "batch_edit"
                            && n["data"]["id_task"].as_str() == Some(&id)
                            && let (Some(nid), Some(s)) = (n["id"].as_i64(), n["data"]["status"].as_str())
                        {
                            notified.push((nid, s.to_owned()));
                        }
                    }
                }
                _ => {}
            }
        }
        notified.sort();
        notified.dedup();
        let mut states: Vec<String> = if notified.is_empty() {
            polled
        } else {
            notified.into_iter().map(|(_, s)| s).collect()
        };
        states.dedup();
        job["states"] = json!(states);
        if let Some(at) = started.get(&id) {
            job["started"] = Value::String(har::rfc3339_millis(*at));
        }
    }
    json!({"ids": ids, "jobs": jobs})
}

/// Each result's output number (instructions, then variations), engine,
/// status, time and error.
fn outputs(results: &Value) -> Value {
    let mut items: Vec<&Value> = results.as_array().map(|a| a.iter().collect()).unwrap_or_default();
    items.sort_by_key(|r| (r["image_index"].as_u64(), r["group_index"].as_u64()));
    Value::Array(
        items
            .iter()
            .enumerate()
            .map(|(k, r)| {
                json!({
                    "output": k, "image_index": r["image_index"], "group_index": r["group_index"],
                    "status": r["status"], "model_used": r["model_used"],
                    "processing_time": r["processing_time"], "error_message": r["error_message"],
                })
            })
            .collect(),
    )
}

/// The cassette of `recorded`, sent to `upstream`: HAR with `_flow`.
pub fn of(recorded: &[Recorded], upstream: &str) -> Value {
    let cassette = har::Har::new(
        "contract-tests proxy",
        env!("CARGO_PKG_VERSION"),
        Some(format!("upstream {upstream}; secrets redacted")),
        recorded.iter().map(entry).collect(),
        Flow { flow: flow(recorded) },
    );
    // Plain data with string keys: serialising it cannot fail.
    serde_json::to_value(cassette).unwrap_or_default()
}

/// A scenario of the fake replaying the first job of `cassette` that has
/// results: its outputs' engine choices (an `auto` output that ended on
/// seedream was refused by the default engine), failures and times, and
/// the job's end (failed or aborted at its progress, failed
/// post-processing). Every job created under the scenario follows it.
pub fn to_scenario(cassette: &Value, name: &str) -> Result<Value, String> {
    let jobs = cassette
        .pointer("/log/_flow/jobs")
        .and_then(Value::as_array)
        .ok_or("not a cassette: no log._flow.jobs")?;
    let job = jobs
        .iter()
        .find(|j| j["outputs"].as_array().is_some_and(|o| !o.is_empty()))
        .ok_or("the cassette has no job with results")?;
    let auto = job["model"].as_str().unwrap_or("auto") == "auto";
    let mut plan = serde_json::Map::new();
    let (mut refuse, mut refuse_all, mut fail, mut delay) = (vec![], vec![], vec![], vec![]);
    for o in job["outputs"].as_array().into_iter().flatten() {
        let k = o["output"].as_u64().unwrap_or_default();
        let refused = o["error_message"].as_str().is_some_and(|m| m.contains("refus"));
        match (o["status"].as_str(), o["model_used"].as_str()) {
            (Some("completed"), Some("seedream")) if auto => refuse.push(k),
            (Some("failed"), _) if refused && auto => refuse_all.push(k),
            (Some("failed"), _) if refused => refuse.push(k),
            (Some("failed"), _) => fail.push(k),
            _ => {}
        }
        if let Some(secs) = o["processing_time"].as_f64().filter(|s| *s > 0.0) {
            delay.push(json!({"output": k, "seconds": secs}));
        }
    }
    let job_state = job["states"].as_array().and_then(|s| s.last()).and_then(Value::as_str);
    let progress = job["progress"].as_f64().unwrap_or(0.0).clamp(0.0, 100.0);
    match job_state {
        Some("failed") if fail.is_empty() && refuse_all.is_empty() => {
            plan.insert("fail_job_at_progress".into(), json!(progress));
            plan.insert("fail_job_message".into(), job["error_message"].clone());
        }
        Some("aborted") => {
            plan.insert("abort_job_at_progress".into(), json!(progress));
            plan.insert("abort_job_message".into(), job["error_message"].clone());
        }
        _ => {}
    }
    if job["post_processing_status"] == "failed" {
        let message = job["post_processing_error"]
            .as_str()
            .unwrap_or("post-processing failed");
        plan.insert("fail_post_processing".into(), json!(message));
    }
    for (key, list) in [
        ("refuse_outputs", refuse),
        ("refuse_outputs_all_engines", refuse_all),
        ("fail_outputs", fail),
    ] {
        if !list.is_empty() {
            plan.insert(key.into(), json!(list));
        }
    }
    if !delay.is_empty() {
        plan.insert("delay_outputs".into(), Value::Array(delay));
    }
    let scenario = json!({
        "name": name,
        "description": format!(
            "Replays job {} of a recorded session: states {}, engines {}.",
            job["job_id"].as_str().unwrap_or("?"),
            job["states"],
            job["outputs"].as_array().into_iter().flatten().map(|o| o["model_used"].as_str().unwrap_or("-")).collect::<Vec<_>>().join(", ")
        ),
        "client_should": "Behave as it did against the real API: the same states in the same order, the same engine per output.",
        "job": plan,
    });
    contract::Contract::global()
        .validate("scenario.json", &scenario)
        .map_err(|e| {
            format!(
                "the scenario would be refused: {}",
                e.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
            )
        })?;
    Ok(scenario)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_wherever_they_appear() {
        assert_eq!(
            redact_url("https://b.s3/k?X-Amz-Credential=AK%2F1&X-Amz-Expires=900&X-Amz-Signature=abc"),
            "https://b.s3/k?X-Amz-Credential=[redacted]&X-Amz-Expires=900&X-Amz-Signature=[redacted]"
        );
        assert_eq!(
            redact_url("http://x/events?token=t&id_task=j"),
            "http://x/events?token=[redacted]&id_task=j"
        );
        let mut v = json!({"secret": "whsec", "url": "https://h/x", "token": "t", "refresh_token": null,
            "results": [{"output": {"full_size": "http://f/o.jpg?Expires=1&Signature=s"}}]});
        redact_json(&mut v);
        assert_eq!(v["secret"], REDACTED);
        assert_eq!(v["token"], REDACTED);
        assert_eq!(v["refresh_token"], Value::Null);
        assert_eq!(
            v["results"][0]["output"]["full_size"],
            "http://f/o.jpg?Expires=1&Signature=[redacted]"
        );
        assert_eq!(
            redact_text("data: {\"link\":\"http://f/o?Signature=s\"}\n\n"),
            "data: {\"link\":\"http://f/o?Signature=[redacted]\"}\n\n"
        );
    }

    #[test]
    fn a_fallback_and_a_failure_become_a_scenario() {
        let cassette = json!({"log": {"_flow": {"jobs": [{"job_id": "j", "model": "auto",
        "states": ["pending", "processing", "completed"],
        "outputs": [
            {"output": 0, "status": "completed", "model_used": "seedream", "processing_time": 12.5},
            {"output": 1, "status": "failed", "model_used": null, "error_message": "engine error"},
            {"output": 2, "status": "completed", "model_used": "nano_banana_pro"}
        ]}]}}});
        let s = to_scenario(&cassette, "recorded").expect("scenario");
        assert_eq!(s["job"]["refuse_outputs"], json!([0]));
        assert_eq!(s["job"]["fail_outputs"], json!([1]));
        assert_eq!(s["job"]["delay_outputs"], json!([{"output": 0, "seconds": 12.5}]));
        assert!(to_scenario(&json!({}), "x").is_err());
        assert!(to_scenario(&cassette, "bad name").is_err());
    }
}
