//! Who may use the control API. By default anyone who reaches the port (the
//! fake is a test double on 127.0.0.1). `--admin-loopback-only` refuses
//! peers that are not on this machine (403); `--admin-token` asks for
//! `Authorization: Bearer TOKEN`, compared in constant time (401). Both
//! may be set; the vendor API is never affected.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::domain::auth::parse_bearer;
use crate::error::{ApiError, FieldError, Position};
use crate::state::AppState;

/// Whether either restriction is on: only then is the guard installed.
pub fn is_needed(state: &AppState) -> bool {
    state.settings.admin_token.is_some() || state.settings.admin_loopback_only
}

/// Lets a request to `/__admin/*` through, or answers 403/401 in the error
/// envelope. Other paths pass untouched.
pub async fn check(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with(crate::admin::PREFIX) {
        return next.run(req).await;
    }
    if state.settings.admin_loopback_only {
        // No peer address (a router called without a socket): refused, so
        // a restriction never fails open.
        let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        if !peer.is_some_and(|p| p.ip().to_canonical().is_loopback()) {
            return ApiError::new(StatusCode::FORBIDDEN, "Forbidden")
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
