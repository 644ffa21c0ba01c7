//! One error type, two audiences: the client gets the vendor's stable JSON
//! envelope (`{"error", "detail": [{"field", "message", "position"}]}`) and
//! the right status; the log gets the cause. Pre-signed storage URLs answer
//! like S3 instead, with an XML body ([`S3Error`]).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

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

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) if !field.is_empty() => write!(f, "{field}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

/// An API error: status, summary, details and optional extra body fields
/// (for example `project_id` on a duplicate project).
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    error: String,
    detail: Vec<FieldError>,
    extra: Map<String, Value>,
    retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a status and summary and no details.
    pub fn new(status: StatusCode, error: impl Into<String>) -> Self {
        Self {
            status,
            error: error.into(),
            detail: Vec::new(),
            extra: Map::new(),
            retry_after: None,
        }
    }

    /// 400 `Invalid request` naming the broken rules.
    pub fn invalid(detail: Vec<FieldError>) -> Self {
        Self {
            detail,
            ..Self::new(StatusCode::BAD_REQUEST, "Invalid request")
        }
    }

    /// 400 `Invalid request` for one field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>, position: Position) -> Self {
        Self::invalid(vec![FieldError::new(field, message, position)])
    }

    /// 401: missing, malformed, unknown or expired credentials.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized").with_detail(FieldError::new(
            "Authorization",
            message,
            Position::Header,
        ))
    }

    /// 404 for a resource that does not exist *for this caller*; another
    /// tenant's object answers the same, so existence does not leak.
    pub fn not_found(what: &str, field: Option<(&str, Position)>) -> Self {
        let e = Self::new(StatusCode::NOT_FOUND, "Not found");
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
        Self::new(StatusCode::CONFLICT, "Conflict").with_detail(FieldError::new(field, message, Position::Body))
    }

    /// 500 for a bug of the fake; the cause goes to the log only.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
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
        body.insert("error".into(), Value::String(self.error.clone()));
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
        write!(f, "{} {}", self.status.as_u16(), self.error)?;
        for d in &self.detail {
            write!(f, "; {d}")?;
        }
        Ok(())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
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
    /// 400 `InvalidArgument` for bytes that are not an image of the signed type.
    pub fn invalid_image(resource: &str, why: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidArgument", why, resource)
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
    fn s3_xml_escapes_the_resource() {
        let res = S3Error::no_such_key("/upload/<x>&").into_response();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/xml");
    }
}
