//! HTTP plumbing shared by the vendor API ([`crate::api`]) and the control
//! API ([`crate::admin`]): the route table, extractors that own their
//! rejections, the control API's guard, CORS, path decoding, and the
//! fallbacks that answer in the API's error envelope. Nothing here knows a
//! resource; `app.rs` layers it all in one place.

pub mod admin_guard;
pub mod body_budget;
pub mod body_timeout;
pub mod cors;
pub mod extract;
pub mod host_check;
pub mod middleware;
pub mod utf8;

use axum::Router;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;

use crate::error::{ApiError, FieldError, Position};
use crate::state::AppState;

/// A router that remembers which (method, path) pairs it serves.
#[derive(Debug, Default)]
pub struct Routes {
    router: Router<AppState>,
    table: Vec<(Method, &'static str)>,
}

impl Routes {
    /// Adds `handler` for `method path`.
    pub fn add(mut self, method: Method, path: &'static str, handler: MethodRouter<AppState>) -> Self {
        self.table.push((method, path));
        self.router = self.router.route(path, handler);
        self
    }

    /// The control API's guard ([`admin_guard::check`]) on every route added so far:
    /// a route layer, so that it costs the vendor routes nothing.
    pub fn guarded(mut self, state: &AppState) -> Self {
        self.router = self
            .router
            .route_layer(axum::middleware::from_fn_with_state(state.clone(), admin_guard::check));
        self
    }

    /// These routes and `other`'s.
    pub fn merge(mut self, other: Routes) -> Self {
        self.table.extend(other.table);
        self.router = self.router.merge(other.router);
        self
    }

    /// The (METHOD, path template) pairs served, sorted.
    pub fn table(&self) -> Vec<(String, String)> {
        let mut t: Vec<_> = self
            .table
            .iter()
            .map(|(m, p)| (m.to_string(), (*p).to_owned()))
            .collect();
        t.sort();
        t
    }

    /// The router, for the app to layer.
    pub fn into_router(self) -> Router<AppState> {
        self.router
    }
}

/// Any path no route serves: 404 in the error envelope.
pub async fn not_found(method: Method, uri: axum::http::Uri) -> Response {
    ApiError::new(StatusCode::NOT_FOUND)
        .with_detail(FieldError {
            field: None,
            message: format!("no route for {method} {}", uri.path()),
            position: Position::Path,
        })
        .into_response()
}

/// A served path with another method: 405 in the error envelope.
pub async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> Response {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED)
        .with_detail(FieldError {
            field: None,
            message: format!("{method} is not allowed on {}", uri.path()),
            position: Position::Path,
        })
        .into_response()
}
