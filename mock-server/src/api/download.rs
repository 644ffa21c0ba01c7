//! ZIP downloads: `POST /download {job_id}` and `POST /download/bulk
//! {job_ids}` hand out a link; `GET /download/{token}` (no auth) answers a
//! ZIP of the results, with entry names built from indexes only
//! (`output_0_0_v0.jpg`), never from client input.

use std::io::Write as _;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::ids::JobId;
use crate::domain::secret::SecretDigest;
use crate::durable::Dirty;
use crate::engine::state::{JobStatus, OutputStatus};
use crate::error::{ApiError, FieldError, Position};
use crate::http::Routes;
use crate::http::extract::{ApiJson, Caller};
use crate::links::ZIP_ROUTE;
use crate::state::AppState;
use crate::storage::records::DownloadGrant;

/// Most images one ZIP may hold (the vendor's bulk limit).
pub const MAX_ZIP_IMAGES: usize = 100;

/// Adds the download routes.
pub fn routes(r: Routes) -> Routes {
    r.add(Method::POST, "/download", post(create))
        .add(Method::POST, "/download/bulk", post(create_bulk))
        .add(Method::GET, ZIP_ROUTE, get(fetch))
}

#[derive(Debug, Deserialize)]
struct DownloadRequest {
    job_id: String,
}

#[derive(Debug, Deserialize)]
struct BulkRequest {
    job_ids: Vec<String>,
}

/// Checks the caller's jobs: each exists (404), is named once (400) and is
/// finished with at least one image (409 otherwise); at most 100 images in
/// all.
fn grant(
    state: &AppState,
    tenant: &crate::storage::records::Tenant,
    ids: &[(String, String)],
) -> Result<Json<Value>, ApiError> {
    let mut jobs = Vec::new();
    let mut images = 0;
    for (field, id) in ids {
        let job = crate::jobs::named(state, Some(tenant.id()), &JobId::from_client(id))
            .ok_or_else(|| ApiError::not_found("job", Some((field, Position::Body))))?;
        // A job twice would put each of its entry names in the ZIP twice,
        // which a ZIP cannot hold: refused here rather than failing the GET.
        if let Some(first) = jobs.iter().position(|j| *j == job.id) {
            return Err(ApiError::invalid_field(
                field.clone(),
                format!("duplicate job ID (also {})", ids[first].0),
                Position::Body,
            ));
        }
        let s = job.state();
        let done = s.outputs.iter().filter(|o| o.status == OutputStatus::Completed).count();
        if s.status != JobStatus::Completed || done == 0 {
            return Err(ApiError::new(StatusCode::CONFLICT).with_detail(FieldError::new(
                field.clone(),
                format!("job is {}: only a completed job can be downloaded", s.status.name()),
                Position::Body,
            )));
        }
        images += done;
        jobs.push(job.id.clone());
    }
    if images > MAX_ZIP_IMAGES {
        return Err(ApiError::invalid_field(
            "job_ids",
            format!("{images} images: at most {MAX_ZIP_IMAGES} a download"),
            Position::Body,
        ));
    }
    let expires_at = state.now().plus(state.settings.zip_link_ttl);
    let token = state.ids.secret("dl_");
    let digest = SecretDigest::of(&token);
    state.downloads.insert(
        digest,
        DownloadGrant {
            owner: tenant.id().clone(),
            jobs,
            expires_at,
        },
    );
    state.mark(Dirty::Download(digest));
    Ok(Json(
        json!({ "download_url": state.links().zip(&token), "expires": expires_at.rfc3339() }),
    ))
}

async fn create(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    ApiJson(req): ApiJson<DownloadRequest>,
) -> Result<Json<Value>, ApiError> {
    grant(&state, &tenant, &[("job_id".to_owned(), req.job_id)])
}

async fn create_bulk(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    ApiJson(req): ApiJson<BulkRequest>,
) -> Result<Json<Value>, ApiError> {
    if req.job_ids.is_empty() || req.job_ids.len() > MAX_ZIP_IMAGES {
        return Err(ApiError::invalid_field(
            "job_ids",
            "must have 1 to 100 job IDs",
            Position::Body,
        ));
    }
    let ids: Vec<(String, String)> = req
        .job_ids
        .into_iter()
        .enumerate()
        .map(|(i, id)| (format!("job_ids[{i}]"), id))
        .collect();
    grant(&state, &tenant, &ids)
}

/// Unknown token: 404. Expired: 410. Jobs gone since (reset): 404.
async fn fetch(State(state): State<AppState>, Path(token): Path<String>) -> Result<Response, ApiError> {
    let grant = state
        .downloads
        .get(&SecretDigest::of(&token))
        .map(|g| g.value().clone())
        .ok_or_else(|| ApiError::not_found("download link", Some(("token", Position::Path))))?;
    if state.now() >= grant.expires_at {
        return Err(ApiError::new(StatusCode::GONE).with_detail(FieldError::new(
            "token",
            "the download link has expired: ask POST /download for a new one",
            Position::Path,
        )));
    }
    let bulk = grant.jobs.len() > 1;
    let mut wanted = Vec::new();
    for id in &grant.jobs {
        let job = state
            .engine
            .get(&grant.owner, id)
            .ok_or_else(|| ApiError::not_found("job", Some(("token", Position::Path))))?;
        let s = job.state();
        for k in (0..s.outputs.len()).filter(|k| s.outputs[*k].status == OutputStatus::Completed) {
            let name = job.download_filename(k);
            let name = if bulk { format!("{}/{name}", job.id) } else { name };
            wanted.push((job.clone(), k, name));
        }
    }
    // Rendered concurrently, as many at once as there are render permits.
    let entries = futures_util::future::try_join_all(wanted.into_iter().map(|(job, k, name)| {
        let permits = state.render_permits.clone();
        async move { job.rendered(k, permits).await.map(|img| (name, img.full.clone())) }
    }))
    .await
    .map_err(ApiError::internal)?;
    let zip = tokio::task::spawn_blocking(move || build_zip(&entries))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let name = if bulk {
        "results.zip".to_owned()
    } else {
        format!("{}.zip", grant.jobs[0])
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        zip,
    )
        .into_response())
}

/// A ZIP of already-compressed images: stored, not deflated.
fn build_zip(entries: &[(String, bytes::Bytes)]) -> Result<Vec<u8>, zip::result::ZipError> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in entries {
        w.start_file(name.as_str(), opts)?;
        w.write_all(bytes)?;
    }
    Ok(w.finish()?.into_inner())
}
