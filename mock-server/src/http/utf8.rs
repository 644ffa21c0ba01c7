//! Paths and query strings that do not percent-decode to UTF-8 (`%FF`).
//! The decoders the routes use would either replace the bad bytes with
//! U+FFFD without a word (`form_urlencoded`, so `search=%FF` searched for
//! "\u{FFFD}") or answer in their own plain-text body (axum's `Path`); here
//! such a request is refused in the API's envelope, or as S3 would on a
//! pre-signed storage URL.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;

use crate::error::{ApiError, FieldError, Position, S3Error};
use crate::links::is_storage_route;

/// Whether `s`, percent-decoded, is UTF-8.
pub fn decodes_to_utf8(s: &str) -> bool {
    percent_decode_str(s).decode_utf8().is_ok()
}

/// The first parameter of query string `q` whose name or value is not
/// UTF-8 once decoded, as a 400 detail naming the parameter (or `null` when
/// the name itself is the bad part).
pub fn query_error(q: &str) -> Option<FieldError> {
    q.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let message = "must be UTF-8 once percent-decoded";
        if !decodes_to_utf8(key) {
            Some(FieldError {
                field: None,
                message: format!("a parameter name {message}"),
                position: Position::Query,
            })
        } else if !decodes_to_utf8(value) {
            let name = percent_decode_str(key).decode_utf8_lossy().replace('+', " ");
            Some(FieldError::new(name, message, Position::Query))
        } else {
            None
        }
    })
}

/// Refuses a path that does not decode to UTF-8: no object has such a
/// name, so it answers 404 (S3's `NoSuchKey` on a storage URL), as for any
/// other unknown ID.
pub async fn refuse_undecodable_path(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if decodes_to_utf8(path) {
        return next.run(req).await;
    }
    let storage = req
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|m| is_storage_route(m.as_str()));
    if storage {
        S3Error::no_such_key(path).into_response()
    } else {
        ApiError::new(axum::http::StatusCode::NOT_FOUND)
            .with_detail(FieldError {
                field: None,
                message: "the path must be UTF-8 once percent-decoded".into(),
                position: Position::Path,
            })
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_bytes_are_told_from_text() {
        assert!(decodes_to_utf8("caf%C3%A9") && decodes_to_utf8("%EF%BF%BD") && decodes_to_utf8("100%"));
        assert!(!decodes_to_utf8("%FF") && !decodes_to_utf8("a%C3"));
        assert_eq!(query_error("page=1&search=ok"), None);
        let e = query_error("page=1&search=%FF").expect("refused");
        assert_eq!(e.field.as_deref(), Some("search"));
        assert_eq!(query_error("%FE=1").expect("refused").field, None);
    }
}
