//! Signed, unauthenticated storage URLs that hand bytes back: uploaded files
//! (`download_url`) and identity images (`link`).

use axum::extract::{Path, State};
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;

use crate::blob_bytes::BlobError;
use crate::domain::ids::{FileId, IdentityCode, JobId};
use crate::engine::state::OutputStatus;
use crate::error::S3Error;
use crate::http::Routes;
use crate::http::extract::SignedParams;
use crate::links::{
    FILE_ROUTE, IDENTITY_ROUTE, RESULT_ROUTE, ResultKind, file_path, identity_path, received_result_path, result_path,
};
use crate::state::AppState;

/// Adds the blob routes.
pub fn routes(r: Routes) -> Routes {
    r.add(Method::GET, FILE_ROUTE, get(file))
        .add(Method::GET, IDENTITY_ROUTE, get(identity))
        .add(Method::GET, RESULT_ROUTE, get(result))
}

fn bytes_response(bytes: Bytes, content_type: &'static str, etag: Option<&str>) -> Response {
    let mut res = ([(header::CONTENT_TYPE, content_type)], bytes).into_response();
    if let Some(v) = etag.and_then(|e| HeaderValue::from_str(e).ok()) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

/// Stored bytes that could not be read back (the data dir was closed by a
/// shutdown, or is damaged): logged, and answered as a missing key, since
/// the client can do nothing else with it.
fn unreadable(path: &str, e: &BlobError) -> S3Error {
    tracing::error!(error = %e, path, "stored bytes could not be read");
    S3Error::no_such_key(path)
}

async fn file(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedParams(q): SignedParams,
) -> Result<Response, S3Error> {
    let id = FileId::from_client(&id);
    let path = file_path(&id);
    state.signer.verify("GET", &path, "", &q, state.now())?;
    let f = state.store.file_any(&id).ok_or_else(|| S3Error::no_such_key(&path))?;
    let blob = f.blob.ok_or_else(|| S3Error::no_such_key(&path))?;
    let bytes = blob.bytes.load().await.map_err(|e| unreadable(&path, &e))?;
    Ok(bytes_response(bytes, f.content_type, Some(&blob.etag)))
}

async fn identity(
    State(state): State<AppState>,
    Path(code): Path<String>,
    SignedParams(q): SignedParams,
) -> Result<Response, S3Error> {
    let code = IdentityCode::from_client(&code);
    let path = identity_path(&code);
    state.signer.verify("GET", &path, "", &q, state.now())?;
    let i = state
        .store
        .identity_any(&code)
        .ok_or_else(|| S3Error::no_such_key(&path))?;
    let bytes = i.bytes.load().await.map_err(|e| unreadable(&path, &e))?;
    Ok(bytes_response(bytes, i.content_type, None))
}

/// A result image: `full.{ext}` or `thumbnail.{ext}` of output `output`,
/// rendered on first request.
async fn result(
    State(state): State<AppState>,
    Path((job_id, output, file)): Path<(String, String, String)>,
    SignedParams(q): SignedParams,
) -> Result<Response, S3Error> {
    let path = received_result_path(&job_id, &output, &file);
    state.signer.verify("GET", &path, "", &q, state.now())?;
    let job = state
        .engine
        .get_any(&JobId::from_client(&job_id))
        .ok_or_else(|| S3Error::no_such_key(&path))?;
    let k: usize = output.parse().map_err(|_| S3Error::no_such_key(&path))?;
    let done = job
        .state()
        .outputs
        .get(k)
        .is_some_and(|o| o.status == OutputStatus::Completed);
    let named = ResultKind::of_file(&file).is_some_and(|kind| result_path(&job, k, kind) == path);
    if !done || !named {
        return Err(S3Error::no_such_key(&path));
    }
    let img = job.rendered(k, state.render_permits.clone()).await.map_err(|e| {
        tracing::error!(error = %e, "render failed");
        S3Error::no_such_key(&path)
    })?;
    let bytes = if file.starts_with("thumbnail.") {
        img.thumbnail.clone()
    } else {
        img.full.clone()
    };
    Ok(bytes_response(bytes, img.content_type, None))
}
