//! The journal as a HAR 1.2 log ([`contract::har`]), so a failing CI run
//! can attach what its client sent and got, and any HAR viewer (browser dev
//! tools) opens it. What HAR has no field for goes in `_` fields, as the
//! format allows: the journal's `seq`, `caller`, `violations` and
//! `ignored_retry_after`. Credentials are not in the journal, so not here
//! either.

use std::sync::Arc;

use contract::har::{self, Content, NameValue, PostData, Request, Response};
use serde::Serialize;

use crate::journal::{Entry, KeptBody};

/// A HAR document of the journal.
pub type Har = har::Har<Extension>;

/// What HAR has no field for: the journal's own.
#[derive(Debug, Serialize)]
pub struct Extension {
    #[serde(rename = "_seq")]
    seq: u64,
    #[serde(rename = "_caller")]
    caller: Option<String>,
    #[serde(rename = "_violations")]
    violations: Vec<String>,
    #[serde(rename = "_ignored_retry_after")]
    ignored_retry_after: bool,
}

/// A kept body as HAR text: UTF-8 as it is, else base64; and a note when
/// only its head (or nothing) was kept.
fn text_of(b: &KeptBody) -> (Option<String>, Option<String>, Option<String>) {
    use base64::Engine as _;
    let note = b
        .truncated()
        .then(|| format!("the journal kept {} of {} bytes", b.bytes.len(), b.size));
    match std::str::from_utf8(&b.bytes) {
        Ok(t) => (Some(t.to_owned()), None, note),
        Err(_) => (
            Some(base64::engine::general_purpose::STANDARD.encode(&b.bytes)),
            Some("base64".into()),
            note,
        ),
    }
}

fn entry(e: &Entry, base: &str) -> har::Entry<Extension> {
    let url = match &e.query {
        Some(q) => format!("{base}{}?{q}", e.path),
        None => format!("{base}{}", e.path),
    };
    let query_string = e
        .query
        .as_deref()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(name, value)| NameValue::new(name, value))
                .collect()
        })
        .unwrap_or_default();
    let headers = e
        .headers
        .to_map()
        .into_iter()
        .map(|(name, v)| NameValue::new(name, v.as_str().unwrap_or_default()))
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
    har::Entry::new(
        e.at.rfc3339_millis(),
        e.duration_ms,
        Request::new(
            e.method.as_str().to_owned(),
            url,
            headers,
            query_string,
            post_data,
            i64::try_from(e.body_size).unwrap_or(-1),
        ),
        Response::new(e.status, Vec::new(), content, -1),
        (!notes.is_empty()).then(|| notes.join("; ")),
        Extension {
            seq: e.seq,
            caller: e.caller.clone(),
            violations: e.violations.clone(),
            ignored_retry_after: e.ignored_retry_after,
        },
    )
}

/// The HAR log of `entries`, their URLs under `base` (`--public-url`).
pub fn of(entries: &[Arc<Entry>], base: &str) -> Har {
    har::Har::new(
        "flat2model-mock",
        env!("CARGO_PKG_VERSION"),
        None,
        entries.iter().map(|e| entry(e, base)).collect(),
        har::NoExtension {},
    )
}
