//! One error type, two audiences: the client gets the vendor's stable JSON
//! envelope (`{"error", "detail": [{"field", "message", "position"}]}`) and
//! the right status; the log gets the cause. Pre-signed storage URLs answer
//! like S3 instead, with an XML body ([`S3Error`]).

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::domain::rule::Violation;

/// Where in the request the offending value was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Position {
    /// The JSON body.
    Body,
    /// The query string.
    Query,
    /// A path segment.
    Path,
    /// A header (for example `Authorization`).
    Header,
    /// A multipart form field.
    Form,
}

/// One entry of the error envelope's `detail` list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldError {
    /// Full path of the field (`instructions[1].options.width`), or `null`
    /// when the problem is not about one field.
    pub field: Option<String>,
    /// The rule that was broken (`must be a multiple of 8`).
    pub message: String,
    /// Where the field lives.
    pub position: Position,
}

impl FieldError {
    /// An error about the field at `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>, position: Position) -> Self {
        Self {
            field: Some(field.into()),
            message: message.into(),
            position,
        }
    }
}

impl FieldError {
    /// A domain rule `v` broken by a field found at `position`.
    pub fn placed(v: Violation, position: Position) -> Self {
        Self {
            field: v.field,
            message: v.message,
            position,
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) if !field.is_empty() => write!(f, "{field}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

/// The `error` summary of every error body with `status`, whoever answers
/// (a handler, an extractor, the router's fallbacks, a scenario's injected
/// fault): one spelling per status, so a client that compares it never
/// sees `Too many requests` from one path and `Too Many Requests` from
/// another. 400 is the vendor's documented `Invalid request`; every other
/// status is its standard reason phrase in sentence case (`Not found`,
/// `Too many requests`; acronyms such as `HTTP` or `URI` stay as they are);
/// a status without one is `Client error` or `Server error`.
pub fn summary(status: StatusCode) -> Cow<'static, str> {
    if status == StatusCode::BAD_REQUEST {
        return Cow::Borrowed("Invalid request");
    }
    let Some(reason) = status.canonical_reason() else {
        return Cow::Borrowed(if status.is_server_error() {
            "Server error"
        } else {
            "Client error"
        });
    };
    let mut out = String::with_capacity(reason.len());
    for (i, word) in reason.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let acronym = word.len() > 1 && word.bytes().all(|b| b.is_ascii_uppercase());
        if i == 0 || acronym {
            out.push_str(word);
        } else {
            out.push_str(&word.to_lowercase());
        }
    }
    Cow::Owned(out)
}

/// An API error: status, details and optional extra body fields (for
/// example `project_id` on a duplicate project). Its summary is the
/// status's ([`summary`]), never chosen by the caller.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    detail: Vec<FieldError>,
    extra: Map<String, Value>,
    retry_after: Option<u64>,
    /// Made on purpose (a scenario's fault, a bound shedding load): the fake
    /// works as asked, so a 5xx of it is no error of the fake's to log (what
    /// made it logs it, at info or once per burst).
    deliberate: bool,
}

impl ApiError {
    /// An error with a status and no details.
    pub fn new(status: StatusCode) -> Self {
        Self {
            status,
            detail: Vec::new(),
            extra: Map::new(),
            retry_after: None,
            deliberate: false,
        }
    }

    /// 400 `Invalid request` naming the broken rules.
    pub fn invalid(detail: Vec<FieldError>) -> Self {
        Self {
            detail,
            ..Self::new(StatusCode::BAD_REQUEST)
        }
    }

    /// 400 `Invalid request` for one field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>, position: Position) -> Self {
        Self::invalid(vec![FieldError::new(field, message, position)])
    }

    /// 400 for the domain rules `v` broken by fields found at `position`.
    pub fn violated(v: impl IntoIterator<Item = Violation>, position: Position) -> Self {
        Self::invalid(v.into_iter().map(|v| FieldError::placed(v, position)).collect())
    }

    /// 401: missing, malformed, unknown or expired credentials.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED).with_detail(FieldError::new("Authorization", message, Position::Header))
    }

    /// 404 for a resource that does not exist *for this caller*; another
    /// tenant's object answers the same, so existence does not leak.
    pub fn not_found(what: &str, field: Option<(&str, Position)>) -> Self {
        let e = Self::new(StatusCode::NOT_FOUND);
        let message = format!("{what} not found");
        match field {
            Some((name, position)) => e.with_detail(FieldError::new(name, message, position)),
            None => e.with_detail(FieldError {
                field: None,
                message,
                position: Position::Path,
            }),
        }
    }

    /// 409 for a duplicate; `extra` names the existing object.
    pub fn conflict(message: impl Into<String>, field: &str) -> Self {
        Self::new(StatusCode::CONFLICT).with_detail(FieldError::new(field, message, Position::Body))
    }

    /// 500 for a bug of the fake; the cause goes to the log only.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        // A detail entry like every other error's, so a client's error
        // handling never meets an empty list.
        Self::new(StatusCode::INTERNAL_SERVER_ERROR).with_detail(FieldError {
            field: None,
            message: "an internal error of the fake; its log has the cause".into(),
            position: Position::Path,
        })
    }

    /// Adds one detail entry.
    pub fn with_detail(mut self, d: FieldError) -> Self {
        self.detail.push(d);
        self
    }

    /// Adds a top-level field to the body.
    pub fn with_extra(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    /// Marks the error as made on purpose (by a scenario, or a bound
    /// shedding load): not logged as an error.
    pub fn deliberate(mut self) -> Self {
        self.deliberate = true;
        self
    }

    /// Sends `Retry-After: secs` with the answer.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The detail entries.
    pub fn detail(&self) -> &[FieldError] {
        &self.detail
    }

    /// The JSON body as sent.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("error".into(), Value::String(summary(self.status).into_owned()));
        body.insert(
            "detail".into(),
            serde_json::to_value(&self.detail).unwrap_or(Value::Null),
        );
        for (k, v) in &self.extra {
            body.insert(k.clone(), v.clone());
        }
        Value::Object(body)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), summary(self.status))?;
        for d in &self.detail {
            write!(f, "; {d}")?;
        }
        Ok(())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() && !self.deliberate {
            tracing::error!(error = %self, "server error");
        }
        let mut res = (self.status, axum::Json(self.body())).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

/// An error of the fake's S3-like storage URLs, answered as S3 does: an XML
/// `<Error>` body with `Code` and `Message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Error {
    status: StatusCode,
    code: &'static str,
    message: String,
    resource: String,
}

impl S3Error {
    /// 403 `AccessDenied` `Request has expired`.
    pub fn expired(resource: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired", resource)
    }
    /// 403 `AccessDenied` for a URL missing its signature parameters.
    pub fn missing_auth(resource: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Query-string authentication requires the Expires and Signature parameters",
            resource,
        )
    }
    /// 403 `SignatureDoesNotMatch`: a forged URL, or a `Content-Type` other
    /// than the one signed.
    pub fn signature_mismatch(resource: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            resource,
        )
    }
    /// 404 `NoSuchKey`.
    pub fn no_such_key(resource: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
            resource,
        )
    }
    /// 400 `EntityTooLarge`.
    pub fn too_large(resource: &str, max: usize) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "EntityTooLarge",
            &format!("Your proposed upload exceeds the maximum allowed size of {max} bytes"),
            resource,
        )
    }

    fn new(status: StatusCode, code: &'static str, message: &str, resource: &str) -> Self {
        Self {
            status,
            code,
            message: message.to_owned(),
            resource: resource.to_owned(),
        }
    }

    /// The S3 error code (`AccessDenied`, `SignatureDoesNotMatch`, …).
    pub fn code(&self) -> &'static str {
        self.code
    }
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

impl IntoResponse for S3Error {
    fn into_response(self) -> Response {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><Resource>{}</Resource></Error>",
            self.code,
            xml_escape(&self.message),
            xml_escape(&self.resource)
        );
        (self.status, [(header::CONTENT_TYPE, "application/xml")], body).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_bodies_validate_against_the_error_schema() {
        let c = crate::contract::Contract::global();
        let e = ApiError::invalid_field("x", "bad", Position::Body);
        c.validate("error.json", &e.body())
            .expect("error body matches its schema");
        assert!(c.validate("error.json", &serde_json::json!({"detail": []})).is_err());
    }

    #[test]
    fn envelope_carries_field_path_and_extras() {
        let e = ApiError::invalid_field(
            "instructions[1].options.width",
            "must be a multiple of 8",
            Position::Body,
        )
        .with_extra("hint", "x");
        let body = e.body();
        assert_eq!(body["error"], "Invalid request");
        assert_eq!(body["detail"][0]["field"], "instructions[1].options.width");
        assert_eq!(body["detail"][0]["position"], "body");
        assert_eq!(body["hint"], "x");
        assert_eq!(
            e.to_string(),
            "400 Invalid request; instructions[1].options.width: must be a multiple of 8"
        );
    }

    #[test]
    fn every_status_has_one_summary_in_sentence_case() {
        // What the fake answers by itself, and what scenarios inject most.
        for (status, expected) in [
            (400, "Invalid request"),
            (401, "Unauthorized"),
            (403, "Forbidden"),
            (404, "Not found"),
            (405, "Method not allowed"),
            (409, "Conflict"),
            (410, "Gone"),
            (413, "Payload too large"),
            (415, "Unsupported media type"),
            (429, "Too many requests"),
            (500, "Internal server error"),
            (502, "Bad gateway"),
            (503, "Service unavailable"),
            (504, "Gateway timeout"),
            (414, "URI too long"),
            (505, "HTTP version not supported"),
            (418, "I'm a teapot"),
            (499, "Client error"),
            (599, "Server error"),
        ] {
            let code = StatusCode::from_u16(status).expect("a status");
            assert_eq!(summary(code), expected, "{status}");
            // Every constructor and every body goes through it.
            let e = ApiError::new(code).with_retry_after(1);
            assert_eq!(e.body()["error"], expected, "{status}");
            assert!(e.to_string().starts_with(&format!("{status} {expected}")));
        }
        // The contract pins the casing: a summary that is not in sentence
        // case fails every test client's check, not only this test.
        let contract = crate::contract::Contract::global();
        for status in 400..=599 {
            let e = ApiError::new(StatusCode::from_u16(status).expect("a status"));
            assert_eq!(contract.validate("error.json", &e.body()), Ok(()), "{status}");
        }
        let shouted = json!({"error": "Too Many Requests", "detail": []});
        assert!(contract.validate("error.json", &shouted).is_err());
        for built_in in [
            ApiError::invalid_field("a", "b", Position::Body),
            ApiError::unauthorized("x"),
            ApiError::not_found("job", None),
            ApiError::conflict("x", "f"),
            ApiError::internal("test"),
        ] {
            assert_eq!(built_in.body()["error"], *summary(built_in.status()));
            assert!(!built_in.detail().is_empty(), "{built_in}");
        }
    }

    #[test]
    fn s3_xml_escapes_the_resource() {
        let res = S3Error::no_such_key("/upload/<x>&").into_response();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/xml");
    }
}
