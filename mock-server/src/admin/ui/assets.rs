//! The dashboard's two assets, embedded in the binary: no CDN, nothing
//! fetched from elsewhere, so it works offline like the rest of the fake.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;

/// The stylesheet.
pub(super) async fn style() -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/css; charset=utf-8"), (CACHE_CONTROL, "no-cache")],
        include_str!("assets/style.css"),
    )
}

/// The script: refreshes the live region when the fake's state changes.
pub(super) async fn script() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
        ],
        include_str!("assets/live.js"),
    )
}
