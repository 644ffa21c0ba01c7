//! The vendor API: one module per resource, each adding its routes to a
//! [`Routes`] table; `app.rs` merges them with the control API's.

pub mod auth;
pub mod blobs;
pub mod download;
pub mod identity;
pub mod jobs;
pub mod notifications;
pub mod project;
pub mod upload;
pub mod webhooks;

use crate::domain::image_probe::{ImageInfo, NOT_DECODABLE, ProbeError, probe};
use crate::http::Routes;
use crate::state::AppState;

/// The vendor API's routes.
pub fn routes(r: Routes, state: &AppState) -> Routes {
    let mut r = auth::routes(r);
    r = identity::routes(r, state);
    r = project::routes(r);
    r = upload::routes(r, state);
    r = jobs::routes(r);
    r = download::routes(r);
    r = notifications::routes(r);
    r = webhooks::routes(r);
    blobs::routes(r)
}

/// [`probe`] on a blocking thread (it decodes). The task fails only if a
/// decoder panicked on the bytes: they are the client's, so they are no
/// usable image, never a 500.
pub async fn probe_off_runtime(bytes: bytes::Bytes) -> Result<ImageInfo, ProbeError> {
    tokio::task::spawn_blocking(move || probe(&bytes))
        .await
        .unwrap_or_else(|_| Err(ProbeError(format!("{NOT_DECODABLE}: the decoder failed on it"))))
}
