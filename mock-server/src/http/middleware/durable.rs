//! The durability middleware (installed only with `--data-dir`): the
//! response of a request that changed something goes out once that change
//! is committed; if it cannot be, 503 instead, since nothing acknowledged
//! may be lost (see [`crate::persist`]).

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, FieldError, Position};
use crate::persist::noting_queued;
use crate::state::AppState;

/// Holds the response until the changes its request queued are committed.
pub async fn durable(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (res, seq) = noting_queued(next.run(req)).await;
    if seq == 0 {
        return res;
    }
    match state.durable.wait(seq).await {
        Ok(()) => res,
        Err(e) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE)
            .with_detail(FieldError {
                field: None,
                message: format!("the change could not be stored: {e}"),
                position: Position::Body,
            })
            .into_response(),
    }
}
