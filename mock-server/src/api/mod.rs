//! The vendor API: one module per resource, each adding its routes to a
//! [`Routes`] table, merged here with the control API. The table is what the
//! OpenAPI test compares with `schemas/openapi.yaml`.

pub mod auth;
pub mod blobs;
pub mod cors;
pub mod download;
pub mod extract;
pub mod identity;
pub mod jobs;
pub mod notifications;
pub mod project;
pub mod upload;
pub mod utf8;
pub mod webhooks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::domain::image_probe::{ImageInfo, NOT_DECODABLE, ProbeError, probe};
use crate::error::ApiError;
use crate::state::AppState;

/// A router that remembers which (method, path) pairs it serves.
#[derive(Debug)]
pub struct Routes {
    router: Router<AppState>,
    table: Vec<(Method, &'static str)>,
}

impl Default for Routes {
    fn default() -> Self {
        Self {
            router: Router::new(),
            table: Vec::new(),
        }
    }
}

impl Routes {
    /// Adds `handler` for `method path`.
    pub fn add(mut self, method: Method, path: &'static str, handler: MethodRouter<AppState>) -> Self {
        self.table.push((method, path));
        self.router = self.router.route(path, handler);
        self
    }

    /// The control API's guard (`admin::guard`) on every route added so far:
    /// a route layer, so that it costs the vendor routes nothing.
    fn guarded(mut self, state: &AppState) -> Self {
        self.router = self.router.route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::admin::guard::check,
        ));
        self
    }

    /// These routes and `other`'s.
    fn merge(mut self, other: Routes) -> Self {
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
}

/// Every route of the fake, vendor API and control API.
pub fn routes(state: &AppState) -> Routes {
    let mut r = Routes::default();
    r = auth::routes(r);
    r = identity::routes(r, state);
    r = project::routes(r);
    r = upload::routes(r, state);
    r = jobs::routes(r);
    r = download::routes(r);
    r = notifications::routes(r);
    r = webhooks::routes(r);
    r = blobs::routes(r);
    r.merge(crate::admin::routes(Routes::default()).guarded(state))
}

/// The app: routes, the API's own 404/405 bodies, body limits, panics
/// turned into a 500 in the error envelope, and request tracing. CORS is
/// layered only when switched on, so by default it costs the request path
/// nothing; the control API's guard is a layer of the control routes alone.
pub fn router(state: AppState) -> Router {
    let max_body = state.settings.max_body_bytes;
    let mut router = routes(&state)
        .router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    if state.durable.keeps() {
        // Innermost: a response waits for its changes to be durable, and
        // the journal records the status actually sent.
        router = router.layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::persist::durable,
        ));
    }
    router = router
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn(utf8::refuse_undecodable_path))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::scenarios::endpoint::apply,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::journal::record,
        ));
    // Outside the control API's guard (a route layer of its routes): a
    // preflight carries no credentials, and a browser can read a 401's body
    // only with the CORS headers on it.
    if let Some(cors) = cors::layer(&state.settings.cors_origin) {
        router = router.layer(cors);
    }
    router
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal("a request handler panicked").into_response()
        }))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// The span of one request in the log (at debug level): its method and URI
/// with credentials redacted, never its headers.
/// [`probe`] on a blocking thread (it decodes). The task fails only if a
/// decoder panicked on the bytes: they are the client's, so they are no
/// usable image, never a 500.
pub async fn probe_off_runtime(bytes: bytes::Bytes) -> Result<ImageInfo, ProbeError> {
    tokio::task::spawn_blocking(move || probe(&bytes))
        .await
        .unwrap_or_else(|_| Err(ProbeError(format!("{NOT_DECODABLE}: the decoder failed on it"))))
}

fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %req.method(),
        uri = %crate::redact::uri(req.uri()),
        version = ?req.version(),
    )
}

async fn not_found(method: Method, uri: axum::http::Uri) -> Response {
    ApiError::new(StatusCode::NOT_FOUND)
        .with_detail(crate::error::FieldError {
            field: None,
            message: format!("no route for {method} {}", uri.path()),
            position: crate::error::Position::Path,
        })
        .into_response()
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> Response {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED)
        .with_detail(crate::error::FieldError {
            field: None,
            message: format!("{method} is not allowed on {}", uri.path()),
            position: crate::error::Position::Path,
        })
        .into_response()
}
