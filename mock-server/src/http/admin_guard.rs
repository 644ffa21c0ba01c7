//! Who may use the control API. By default anyone who reaches the port (the
//! fake is a test double on 127.0.0.1), except web pages: a request that
//! carries an `Origin` header not among the `--cors-origin` origins is
//! refused (403). `--admin-loopback-only` refuses peers that are not on
//! this machine (403); `--admin-token` asks for `Authorization: Bearer
//! TOKEN`, compared in constant time (401). Both may be set; the vendor API
//! is never affected.
//!
//! Why `Origin`: a browser sends it on every cross-site POST, and an HTML
//! form on any page can `POST /__admin/reset` (it takes no body, so no
//! preflight stops it) from the browser on this very machine, which the
//! loopback restriction cannot tell from a test. Clients that are not
//! browsers (curl, SDKs, test suites) send no `Origin` and pass as before.
//! Why `Host` too: see [`super::host_check`] (DNS rebinding).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::domain::auth::parse_bearer;
use crate::error::{ApiError, FieldError, Position};
use crate::state::AppState;

/// The reserved prefix of every control route.
pub const PREFIX: &str = "/__admin";

/// The dashboard's prefix (`crate::admin::ui`): its pages post their forms
/// to their own origin, which a browser names in `Origin`.
pub const UI_PREFIX: &str = "/__admin/ui";

/// Whether `req` is a dashboard form posted from the dashboard itself: a
/// path under [`UI_PREFIX`] and every `Origin` the request's own
/// (`http://` + its `Host`, which [`super::host_check`] has let through).
/// A page of another site cannot name this origin, so it still cannot drive
/// the fake; a page of the same origin is one the fake served.
fn own_form(req: &Request) -> bool {
    let Some(host) = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let own = format!("http://{host}");
    (req.uri().path() == UI_PREFIX || req.uri().path().starts_with(&format!("{UI_PREFIX}/")))
        && origin_allowed(req.headers(), &[own])
}

/// Whether every `Origin` header of a request is one of `allowed` (the
/// `--cors-origin` origins, compared as the CORS layer compares them). `*`
/// opens the vendor API to any page, but never the control API: a page
/// that may reset the fake must be named. A request without `Origin` is not
/// from a web page: allowed.
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    headers
        .get_all(header::ORIGIN)
        .iter()
        .all(|v| allowed.iter().any(|o| o.as_bytes() == v.as_bytes()))
}

/// Lets a request to a control route through, or answers 403/401 in the
/// error envelope. A route layer of the control routes only (`api::routes`),
/// so the vendor API never passes here.
pub async fn check(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !super::host_check::allowed(req.headers().get(header::HOST), &state.settings.public_url) {
        return ApiError::new(StatusCode::FORBIDDEN)
            .with_detail(FieldError::new(
                "Host",
                "the control API answers only under an IP address, localhost or the --public-url host",
                Position::Header,
            ))
            .into_response();
    }
    if !origin_allowed(req.headers(), &state.settings.cors_origin) && !own_form(&req) {
        return ApiError::new(StatusCode::FORBIDDEN)
            .with_detail(FieldError::new(
                "Origin",
                "the control API does not answer web pages: this origin is not one of --cors-origin",
                Position::Header,
            ))
            .into_response();
    }
    if state.settings.admin_loopback_only {
        // No peer address (a router called without a socket): refused, so
        // a restriction never fails open.
        let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        if !peer.is_some_and(|p| p.ip().to_canonical().is_loopback()) {
            return ApiError::new(StatusCode::FORBIDDEN)
                .with_detail(FieldError {
                    field: None,
                    message: "the control API answers only on this machine (--admin-loopback-only)".into(),
                    position: Position::Path,
                })
                .into_response();
        }
    }
    if let Some(expected) = &state.settings.admin_token {
        let header = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let granted = parse_bearer(header).is_ok_and(|t| expected.matches(t));
        if !granted {
            return ApiError::unauthorized("the control API needs 'Authorization: Bearer <--admin-token>'")
                .into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_origins(origins: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for o in origins {
            h.append(header::ORIGIN, o.parse().expect("a header value"));
        }
        h
    }

    #[test]
    fn only_listed_origins_or_none_pass() {
        let listed = ["http://app.test:3000".to_owned()];
        assert!(origin_allowed(&with_origins(&[]), &[]));
        assert!(origin_allowed(&with_origins(&[]), &listed));
        assert!(origin_allowed(&with_origins(&["http://app.test:3000"]), &listed));
        for refused in [
            "http://evil.test",
            "null",
            "http://app.test:3001",
            "http://app.test:3000/",
        ] {
            assert!(!origin_allowed(&with_origins(&[refused]), &listed), "{refused}");
            assert!(!origin_allowed(&with_origins(&[refused]), &[]), "{refused}");
        }
        assert!(!origin_allowed(
            &with_origins(&["http://app.test:3000", "http://evil.test"]),
            &listed
        ));
        assert!(!origin_allowed(&with_origins(&["http://evil.test"]), &["*".to_owned()]));
    }
}
