//! CORS, for a browser app that calls the fake directly. Off by default: no
//! `Access-Control-*` header is sent and a preflight `OPTIONS` is answered
//! like any other unknown method (405). `--cors-origin` turns it on.

use std::time::Duration;

use axum::http::{HeaderValue, Method, header};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

/// How long a browser may cache a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The layer for `origins` (already checked by the flag's parser), or
/// `None` when CORS is off. `*` among them allows any origin.
pub fn layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            // Mirrored rather than `*`: a wildcard does not cover
            // `Authorization`, which every API call sends.
            .allow_headers(AllowHeaders::mirror_request())
            .expose_headers([
                header::RETRY_AFTER,
                header::ETAG,
                header::WWW_AUTHENTICATE,
                header::CONTENT_DISPOSITION,
            ])
            .max_age(PREFLIGHT_MAX_AGE),
    )
}
