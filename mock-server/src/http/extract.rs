//! Extractors that own their rejections: every malformed body, query or
//! credential comes back in the API's error envelope with the field path.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::any_token::Unsettled;
use crate::domain::auth::{BearerError, parse_bearer, request_token};
use crate::domain::rule::join_path;
use crate::durable::Dirty;
use crate::error::{ApiError, FieldError, Position, S3Error};
use crate::state::AppState;
use crate::storage::presign::SignedQuery;
use crate::storage::records::Tenant;
use crate::storage::tokens::AuthFailure;

/// A JSON body parsed into `T`; errors name the field path.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

/// 413 in the envelope.
pub fn too_large(max: usize) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE).with_detail(FieldError {
        field: None,
        message: format!("the body must be at most {max} bytes"),
        position: Position::Body,
    })
}

/// Parses JSON bytes into `T`, naming the field of the first error. A
/// missing field is named itself (`images: is required`), not its parent.
/// The body is read as JSON first and its integral floats made integers
/// ([`integral_floats_as_integers`]), then typed; a repeated key keeps its
/// last value, as the vendor's Python stack does.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut value: Value = serde_json::from_slice(bytes).map_err(|e| json_error(bytes, String::new(), &e))?;
    if !value.is_object() {
        // serde would read a struct from an array (`[null, null]`) too.
        return Err(ApiError::invalid(vec![FieldError {
            field: None,
            message: "the body must be a JSON object".into(),
            position: Position::Body,
        }]));
    }
    integral_floats_as_integers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let parent = if path == "." { String::new() } else { path };
        json_error(bytes, parent, e.inner())
    })
}

/// The envelope for a body that is not JSON or not of the expected shape.
fn json_error(bytes: &[u8], parent: String, inner: &serde_json::Error) -> ApiError {
    let text = inner.to_string();
    // serde_json appends " at line L column C"; the field path says where.
    let text = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(m, _)| m)
        .to_owned();
    let (field, message) = if let Some(name) = text.strip_prefix("missing field `").and_then(|r| r.strip_suffix('`')) {
        (Some(join_path(&parent, name)), "is required".to_owned())
    } else if bytes.iter().all(u8::is_ascii_whitespace) {
        (None, "a JSON body is required".to_owned())
    } else if inner.is_syntax() || inner.is_eof() {
        (None, format!("malformed JSON: {text}"))
    } else {
        (if parent.is_empty() { None } else { Some(parent) }, text)
    };
    ApiError::invalid(vec![FieldError {
        field,
        message,
        position: Position::Body,
    }])
}

/// Makes every integral float (`25.0`) in range an integer (`25`): JSON
/// Schema counts it as one (draft 2020-12), so does the vendor's Python
/// stack, and a field typed as an integer would refuse it otherwise. The
/// depth is bounded by the parser's own limit.
pub fn integral_floats_as_integers(v: &mut Value) {
    match v {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0) {
                // 2^63 and 2^64 are the first floats out of range.
                if (-(2f64.powi(63))..2f64.powi(63)).contains(&f) {
                    *v = Value::from(f as i64);
                } else if (0.0..2f64.powi(64)).contains(&f) {
                    *v = Value::from(f as u64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        Value::Object(map) => map.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if !(mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))) {
            return Err(
                ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE).with_detail(FieldError::new(
                    "Content-Type",
                    "must be application/json",
                    Position::Header,
                )),
            );
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rej| {
            if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large(state.settings.max_body_bytes)
            } else {
                ApiError::invalid(vec![FieldError {
                    field: None,
                    message: rej.body_text(),
                    position: Position::Body,
                }])
            }
        })?;
        if bytes
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b != b'{')
        {
            return Err(ApiError::invalid(vec![FieldError {
                field: None,
                message: "the body must be a JSON object".into(),
                position: Position::Body,
            }]));
        }
        if too_deep(&bytes) {
            return Err(ApiError::invalid(vec![FieldError {
                field: None,
                message: format!(
                    "malformed JSON: recursion limit exceeded (at most {MAX_JSON_DEPTH} levels of nesting)"
                ),
                position: Position::Body,
            }]));
        }
        parse_json(&bytes).map(ApiJson)
    }
}

/// The deepest nesting of arrays and objects a JSON body may have.
/// serde_json stops there when it builds values, but it skips an unknown
/// field's value without counting; this limit holds everywhere, so the
/// same body is refused whichever field the nesting hides in.
pub const MAX_JSON_DEPTH: usize = 127;

/// Whether `json` nests arrays and objects deeper than [`MAX_JSON_DEPTH`]
/// (brackets inside strings do not count). One pass, no recursion.
fn too_deep(json: &[u8]) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// A query string parsed into `T`; errors name the parameter.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parse_query(parts.uri.query().unwrap_or("")).map(ApiQuery)
    }
}

/// Parses a query string (without the `?`) into `T`, naming the parameter
/// of the first error; an undecodable (non-UTF-8) value is refused rather
/// than replaced. Public for the fuzz targets (`fuzz/`).
pub fn parse_query<T: DeserializeOwned>(q: &str) -> Result<T, ApiError> {
    if let Some(e) = crate::http::utf8::query_error(q) {
        return Err(ApiError::invalid(vec![e]));
    }
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(q.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { None } else { Some(path) };
        ApiError::invalid(vec![FieldError {
            field,
            message: e.into_inner().to_string(),
            position: Position::Query,
        }])
    })
}

/// The `Expires` and `Signature` of a pre-signed storage URL. A query that
/// cannot be read (a repeated or undecodable parameter) answers as S3 does
/// for a URL whose signature does not match, in its XML, never in the API's
/// envelope.
#[derive(Debug)]
pub struct SignedParams(pub SignedQuery);

impl<S: Send + Sync> FromRequestParts<S> for SignedParams {
    type Rejection = S3Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, S3Error> {
        ApiQuery::<SignedQuery>::from_request_parts(parts, state)
            .await
            .map(|ApiQuery(q)| Self(q))
            .map_err(|_| S3Error::signature_mismatch(parts.uri.path()))
    }
}

/// The authenticated caller's tenant.
#[derive(Debug, Clone)]
pub struct Caller(pub Arc<Tenant>);

/// The tenant of a bearer token (or the 401 saying why not). An
/// `--any-token` tenant no request has succeeded for yet is noted in the
/// request's [`Unsettled`], to be kept or taken back once it answers.
fn authenticate(parts: &Parts, state: &AppState, token: Result<&str, BearerError>) -> Result<Arc<Tenant>, ApiError> {
    let token = token.map_err(|e| match e {
        BearerError::Missing => ApiError::unauthorized("missing bearer token"),
        BearerError::Malformed => ApiError::unauthorized("must be 'Bearer <token>'"),
    })?;
    let made = std::cell::Cell::new(false);
    let make = || {
        made.set(true);
        let tenant = state.new_anonymous_tenant();
        // Marked while the token's entry is still locked: a concurrent
        // request with the same token waits for the entry, so its own
        // changes queue after these and it cannot be acknowledged before
        // the tenant is durable. (The writer, reading the token, also waits
        // for the entry to be filled.)
        state.mark(Dirty::Tenant(tenant.id().clone()));
        state.mark(Dirty::Bearer(crate::domain::secret::SecretDigest::of(token)));
        tenant
    };
    let any: Option<&dyn Fn() -> Arc<Tenant>> = if state.settings.any_token { Some(&make) } else { None };
    let tenant = state
        .tokens
        .authenticate(token, state.now(), any)
        .map_err(|f| match f {
            AuthFailure::Unknown => ApiError::unauthorized("unknown token"),
            AuthFailure::Expired => ApiError::unauthorized("token expired"),
        })?;
    if !tenant.activity.is_confirmed()
        && let Some(slot) = parts.extensions.get::<Unsettled>()
    {
        slot.note(&tenant, token, made.get());
    }
    Ok(tenant)
}

/// The `Authorization` header as text; one that is not visible ASCII
/// reads as a NUL, which no scheme accepts (so it is malformed, not absent).
pub fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{0}"))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, state, parse_bearer(authorization(&parts.headers))).map(Caller)
    }
}

/// Like [`Caller`], but the token may also come as `?token=` (the SSE
/// endpoint, since browsers' `EventSource` cannot send headers).
#[derive(Debug, Clone)]
pub struct StreamCaller(pub Arc<Tenant>);

impl FromRequestParts<AppState> for StreamCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = request_token(authorization(&parts.headers), parts.uri.query());
        authenticate(parts, state, token.as_deref().map_err(|e| *e)).map(StreamCaller)
    }
}

/// The scenario the request runs under (set by the scenario middleware;
/// none outside a scenario).
pub type Scenario = crate::scenarios::endpoint::ActiveScenario;

impl<S: Send + Sync> FromRequestParts<S> for crate::scenarios::endpoint::ActiveScenario {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Self>().cloned().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        items: Vec<Inner>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        width: u32,
    }

    fn first(body: &str) -> (Option<String>, String) {
        let e = parse_json::<Outer>(body.as_bytes()).expect_err("invalid");
        let d = &e.detail()[0];
        (d.field.clone(), d.message.clone())
    }

    #[test]
    fn errors_name_the_full_field_path() {
        assert_eq!(
            first(r#"{"items":[{"width":1},{"width":"x"}]}"#).0.as_deref(),
            Some("items[1].width")
        );
        assert_eq!(
            first(r#"{"items":[{"width":1},{}]}"#),
            (Some("items[1].width".into()), "is required".into())
        );
        assert_eq!(first(r#"{}"#), (Some("items".into()), "is required".into()));
        assert_eq!(first(""), (None, "a JSON body is required".into()));
        assert!(first("{\"items\": [").1.starts_with("malformed JSON"));
    }

    #[test]
    fn nesting_is_counted_outside_strings_only() {
        let nested = |d: usize| format!("{}{}", "[".repeat(d), "]".repeat(d));
        assert!(!too_deep(nested(MAX_JSON_DEPTH).as_bytes()));
        assert!(too_deep(nested(MAX_JSON_DEPTH + 1).as_bytes()));
        let in_string = format!(r#"{{"a":"{}\"{}"}}"#, "[".repeat(500), "{".repeat(500));
        assert!(!too_deep(in_string.as_bytes()));
        // What serde_json itself accepts, the count accepts too.
        let deepest = format!(r#"{{"a":{}}}"#, nested(MAX_JSON_DEPTH - 1));
        assert!(!too_deep(deepest.as_bytes()));
        assert!(serde_json::from_str::<serde_json::Value>(&deepest).is_ok());
        let over = format!(r#"{{"a":{}}}"#, nested(MAX_JSON_DEPTH));
        assert!(too_deep(over.as_bytes()));
        assert!(serde_json::from_str::<serde_json::Value>(&over).is_err());
    }

    #[derive(Debug, serde::Deserialize)]
    struct Paging {
        page: Option<u32>,
    }

    #[test]
    fn query_errors_name_the_parameter() {
        let e = parse_query::<Paging>("page=x").expect_err("not a number");
        let d = &e.detail()[0];
        assert_eq!((d.field.as_deref(), d.position), (Some("page"), Position::Query));
        assert_eq!(parse_query::<Paging>("other=1&page=3").expect("valid").page, Some(3));
    }
}
