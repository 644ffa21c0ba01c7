//! HAR 1.2 (<http://www.softwareishard.com/blog/har-12-spec/>), the log
//! format every browser's dev tools and HAR viewer open. Both the fake's
//! journal export (`/__admin/journal.har`) and the harness's proxy cassette
//! write it, so its types live here, once: no maintained crate writes HAR.
//!
//! What HAR has no field for goes in `_` fields, as the format allows: each
//! writer names its own in the `extension` of [`Log`] and [`Entry`] (a
//! struct flattened into the object), [`NoExtension`] when it has none.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The HTTP version every entry states: both writers see HTTP/1.1 traffic
/// (or cannot tell, behind hyper's abstraction).
const HTTP_VERSION: &str = "HTTP/1.1";

/// No `_` fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NoExtension {}

/// A HAR document: `L` is the log's `_` fields, `E` each entry's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Har<E = NoExtension, L = NoExtension> {
    /// The log.
    pub log: Log<E, L>,
}

/// `log`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Log<E, L> {
    /// Always `1.2`.
    pub version: String,
    /// The program that wrote it.
    pub creator: Creator,
    /// A note on the whole log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The exchanges, in order.
    pub entries: Vec<Entry<E>>,
    /// The writer's `_` fields.
    #[serde(flatten)]
    pub extension: L,
}

impl<E, L> Har<E, L> {
    /// A HAR 1.2 document written by `name` `version`.
    pub fn new(name: &str, version: &str, comment: Option<String>, entries: Vec<Entry<E>>, extension: L) -> Self {
        Self {
            log: Log {
                version: "1.2".into(),
                creator: Creator {
                    name: name.into(),
                    version: version.into(),
                },
                comment,
                entries,
                extension,
            },
        }
    }
}

/// `log.creator`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Creator {
    /// The program.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// One exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry<E> {
    /// When the request arrived, RFC 3339 with milliseconds.
    pub started_date_time: String,
    /// Milliseconds until the answer was complete.
    pub time: u64,
    /// The request.
    pub request: Request,
    /// The answer.
    pub response: Response,
    /// Always empty: neither writer sees a cache.
    pub cache: serde_json::Map<String, serde_json::Value>,
    /// All of `time` is `wait`: neither writer times the phases apart.
    pub timings: Timings,
    /// A note on the exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The writer's `_` fields.
    #[serde(flatten)]
    pub extension: E,
}

impl<E> Entry<E> {
    /// An entry started at `started_date_time` (see [`rfc3339_millis`]) that
    /// took `time` milliseconds.
    pub fn new(
        started_date_time: String,
        time: u64,
        request: Request,
        response: Response,
        comment: Option<String>,
        extension: E,
    ) -> Self {
        Self {
            started_date_time,
            time,
            request,
            response,
            cache: serde_json::Map::new(),
            timings: Timings {
                send: 0,
                wait: time,
                receive: 0,
            },
            comment,
            extension,
        }
    }
}

/// `request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The absolute URL.
    pub url: String,
    /// `HTTP/1.1`.
    pub http_version: String,
    /// Always empty: the API uses none.
    pub cookies: Vec<NameValue>,
    /// The headers.
    pub headers: Vec<NameValue>,
    /// The query's pairs.
    pub query_string: Vec<NameValue>,
    /// The body, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_data: Option<PostData>,
    /// -1: not measured.
    pub headers_size: i64,
    /// The body's size in bytes.
    pub body_size: i64,
}

impl Request {
    /// A request of `body_size` bytes over HTTP/1.1, without cookies.
    pub fn new(
        method: String,
        url: String,
        headers: Vec<NameValue>,
        query_string: Vec<NameValue>,
        post_data: Option<PostData>,
        body_size: i64,
    ) -> Self {
        Self {
            method,
            url,
            http_version: HTTP_VERSION.into(),
            cookies: Vec::new(),
            headers,
            query_string,
            post_data,
            headers_size: -1,
            body_size,
        }
    }
}

/// `response`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Its canonical reason phrase (`Bad Request`), empty when it has none.
    pub status_text: String,
    /// `HTTP/1.1`.
    pub http_version: String,
    /// Always empty.
    pub cookies: Vec<NameValue>,
    /// The headers.
    pub headers: Vec<NameValue>,
    /// The body.
    pub content: Content,
    /// Always empty: `Location` is among the headers.
    #[serde(rename = "redirectURL")]
    pub redirect_url: String,
    /// -1: not measured.
    pub headers_size: i64,
    /// The body's size in bytes, -1 when not known.
    pub body_size: i64,
}

impl Response {
    /// An answer with `status` over HTTP/1.1, its reason phrase filled in.
    pub fn new(status: u16, headers: Vec<NameValue>, content: Content, body_size: i64) -> Self {
        Self {
            status,
            status_text: http::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or_default()
                .to_owned(),
            http_version: HTTP_VERSION.into(),
            cookies: Vec::new(),
            headers,
            content,
            redirect_url: String::new(),
            headers_size: -1,
            body_size,
        }
    }
}

/// A header or query pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NameValue {
    /// The name.
    pub name: String,
    /// The value.
    pub value: String,
}

impl NameValue {
    /// The pair `name`: `value`.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// `request.postData`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostData {
    /// The body's `Content-Type`.
    pub mime_type: String,
    /// The body as text.
    pub text: String,
    /// What was left out of `text`, and how it is encoded (HAR's postData
    /// has no `encoding` field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// `response.content`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    /// The body's size in bytes, -1 when not known.
    pub size: i64,
    /// The body's `Content-Type`.
    pub mime_type: String,
    /// The body as text, when it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// `base64` when `text` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// What was left out of `text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// `timings`, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Sending the request.
    pub send: u64,
    /// Waiting for the answer.
    pub wait: u64,
    /// Reading the answer.
    pub receive: u64,
}

/// `t` as HAR's `startedDateTime`: RFC 3339 in UTC with milliseconds
/// (`2024-03-01T00:00:00.123Z`); a time before 1970 is written as 1970.
pub fn rfc3339_millis(t: SystemTime) -> String {
    let t = t.max(UNIX_EPOCH);
    // humantime writes up to 9999-12-31; later is clamped to it.
    let last = UNIX_EPOCH + Duration::from_millis(253_402_300_799_000);
    humantime::format_rfc3339_millis(t.min(last)).to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The `_` fields of a writer, as the proxy's cassette names them.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Op {
        #[serde(rename = "_operation")]
        operation: String,
    }

    #[test]
    fn a_log_is_written_with_har_names_and_its_extensions_flattened() {
        let request = Request::new(
            "POST".into(),
            "http://h/project".into(),
            vec![NameValue::new("content-type", "application/json")],
            Vec::new(),
            Some(PostData {
                mime_type: "application/json".into(),
                text: "{}".into(),
                comment: None,
            }),
            2,
        );
        let content = Content {
            size: 0,
            mime_type: String::new(),
            text: None,
            encoding: None,
            comment: None,
        };
        let response = Response::new(400, Vec::new(), content, -1);
        let entry = Entry::new(
            rfc3339_millis(UNIX_EPOCH + Duration::from_millis(1_709_251_200_123)),
            7,
            request,
            response,
            None,
            Op {
                operation: "POST /project".into(),
            },
        );
        let har: Har<Op> = Har::new("w", "1", None, vec![entry], NoExtension {});
        let v = serde_json::to_value(&har).expect("serialises");
        let e = &v["log"]["entries"][0];
        assert_eq!(v["log"]["version"], "1.2");
        assert_eq!(v["log"]["creator"], json!({"name": "w", "version": "1"}));
        assert!(v["log"].get("comment").is_none(), "no null comment: {v}");
        assert_eq!(e["startedDateTime"], "2024-03-01T00:00:00.123Z");
        assert_eq!(e["timings"], json!({"send": 0, "wait": 7, "receive": 0}));
        assert_eq!(e["_operation"], "POST /project");
        assert_eq!(e["request"]["httpVersion"], "HTTP/1.1");
        assert_eq!(e["request"]["postData"]["mimeType"], "application/json");
        assert_eq!(e["request"]["headersSize"], -1);
        assert_eq!(e["response"]["statusText"], "Bad Request");
        assert_eq!(e["response"]["redirectURL"], "");
        assert!(e["response"]["content"].get("text").is_none());
        let back: Har<Op> = serde_json::from_value(v).expect("reads back");
        assert_eq!(back, har);
    }

    #[test]
    fn times_are_clamped_to_what_rfc3339_can_write() {
        assert_eq!(
            rfc3339_millis(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339_millis(UNIX_EPOCH + Duration::from_secs(400_000_000_000)),
            "9999-12-31T23:59:59.000Z"
        );
    }
}
