//! The journal as a HAR 1.2 log (<http://www.softwareishard.com/blog/har-12-spec/>),
//! so a failing CI run can attach what its client sent and got, and any HAR
//! viewer (browser dev tools) opens it. Written with serde types: no
//! maintained crate writes HAR. What HAR has no field for goes in `_`
//! fields, as the format allows: the journal's `seq`, `caller`,
//! `violations` and `ignored_retry_after`. Credentials are not in the
//! journal, so not here either.

use std::sync::Arc;

use serde::Serialize;

use crate::journal::{Entry, KeptBody};

/// A HAR document.
#[derive(Debug, Serialize)]
pub struct Har {
    log: Log,
}

#[derive(Debug, Serialize)]
struct Log {
    version: &'static str,
    creator: Creator,
    entries: Vec<HarEntry>,
}

#[derive(Debug, Serialize)]
struct Creator {
    name: &'static str,
    version: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct HarEntry {
    started_date_time: String,
    time: u64,
    request: HarRequest,
    response: HarResponse,
    cache: serde_json::Map<String, serde_json::Value>,
    timings: Timings,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
    #[serde(rename = "_seq")]
    seq: u64,
    #[serde(rename = "_caller")]
    caller: Option<String>,
    #[serde(rename = "_violations")]
    violations: Vec<String>,
    #[serde(rename = "_ignored_retry_after")]
    ignored_retry_after: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct HarRequest {
    method: String,
    url: String,
    http_version: &'static str,
    cookies: Vec<NameValue>,
    headers: Vec<NameValue>,
    query_string: Vec<NameValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    post_data: Option<PostData>,
    headers_size: i64,
    body_size: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct HarResponse {
    status: u16,
    status_text: String,
    http_version: &'static str,
    cookies: Vec<NameValue>,
    headers: Vec<NameValue>,
    content: Content,
    #[serde(rename = "redirectURL")]
    redirect_url: String,
    headers_size: i64,
    body_size: i64,
}

#[derive(Debug, Serialize)]
struct NameValue {
    name: String,
    value: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PostData {
    mime_type: String,
    text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Content {
    size: i64,
    mime_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
}

#[derive(Debug, Serialize)]
struct Timings {
    send: u64,
    wait: u64,
    receive: u64,
}

/// A kept body as HAR text: UTF-8 as it is, else base64; and a note when
/// only its head (or nothing) was kept.
fn text_of(b: &KeptBody) -> (Option<String>, Option<&'static str>, Option<String>) {
    use base64::Engine as _;
    let note = b
        .truncated()
        .then(|| format!("the journal kept {} of {} bytes", b.bytes.len(), b.size));
    match std::str::from_utf8(&b.bytes) {
        Ok(t) => (Some(t.to_owned()), None, note),
        Err(_) => (
            Some(base64::engine::general_purpose::STANDARD.encode(&b.bytes)),
            Some("base64"),
            note,
        ),
    }
}

fn entry(e: &Entry, base: &str) -> HarEntry {
    let url = match &e.query {
        Some(q) => format!("{base}{}?{q}", e.path),
        None => format!("{base}{}", e.path),
    };
    let query_string = e
        .query
        .as_deref()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(name, value)| NameValue {
                    name: name.into_owned(),
                    value: value.into_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    let headers = e
        .headers
        .to_map()
        .into_iter()
        .map(|(name, v)| NameValue {
            name,
            value: v.as_str().unwrap_or_default().to_owned(),
        })
        .collect();
    let post_data = e.request_body.as_ref().filter(|b| b.size > 0).map(|b| {
        let (text, encoding, comment) = text_of(b);
        PostData {
            mime_type: b.content_type.clone().unwrap_or_default(),
            // HAR's postData has no encoding field: say so in the comment.
            comment: match encoding {
                Some(enc) => Some(format!("{enc}; {}", comment.unwrap_or_default())),
                None => comment,
            },
            text: text.unwrap_or_default(),
        }
    });
    let content = match &e.response_body {
        Some(b) => {
            let (text, encoding, comment) = text_of(b);
            Content {
                size: i64::try_from(b.size).unwrap_or(-1),
                mime_type: b.content_type.clone().unwrap_or_default(),
                text,
                encoding,
                comment,
            }
        }
        None => Content {
            size: -1,
            mime_type: String::new(),
            text: None,
            encoding: None,
            comment: Some("not kept: run the fake with --journal-bodies all".into()),
        },
    };
    let mut notes: Vec<String> = e.violations.clone();
    if e.ignored_retry_after {
        notes.push("ignored the Retry-After of an earlier 429".into());
    }
    HarEntry {
        started_date_time: e.at.rfc3339_millis(),
        time: e.duration_ms,
        request: HarRequest {
            method: e.method.as_str().to_owned(),
            url,
            http_version: "HTTP/1.1",
            cookies: Vec::new(),
            headers,
            query_string,
            post_data,
            headers_size: -1,
            body_size: i64::try_from(e.body_size).unwrap_or(-1),
        },
        response: HarResponse {
            status: e.status,
            status_text: axum::http::StatusCode::from_u16(e.status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or_default()
                .to_owned(),
            http_version: "HTTP/1.1",
            cookies: Vec::new(),
            headers: Vec::new(),
            content,
            redirect_url: String::new(),
            headers_size: -1,
            body_size: -1,
        },
        cache: serde_json::Map::new(),
        timings: Timings {
            send: 0,
            wait: e.duration_ms,
            receive: 0,
        },
        comment: (!notes.is_empty()).then(|| notes.join("; ")),
        seq: e.seq,
        caller: e.caller.clone(),
        violations: e.violations.clone(),
        ignored_retry_after: e.ignored_retry_after,
    }
}

/// The HAR log of `entries`, their URLs under `base` (`--public-url`).
pub fn of(entries: &[Arc<Entry>], base: &str) -> Har {
    Har {
        log: Log {
            version: "1.2",
            creator: Creator {
                name: "flat2model-mock",
                version: env!("CARGO_PKG_VERSION"),
            },
            entries: entries.iter().map(|e| entry(e, base)).collect(),
        },
    }
}
