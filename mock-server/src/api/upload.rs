//! The two-step upload: `POST /upload` hands out a pre-signed PUT URL served
//! by the fake itself at `PUT /upload/{file_id}`.

use axum::Json;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::api::probe_off_runtime;
use crate::domain::ids::FileId;
use crate::domain::names::ProjectName;
use crate::domain::upload::UploadName;
use crate::durable::Dirty;
use crate::error::{ApiError, Position, S3Error};
use crate::http::Routes;
use crate::http::extract::{ApiJson, Caller, Scenario, SignedParams};
use crate::links::{UPLOAD_ROUTE, upload_path};
use crate::state::AppState;
use crate::storage::records::{Blob, StoredFile};

/// Adds the upload routes.
pub fn routes(r: Routes, state: &AppState) -> Routes {
    let limit = state.settings.max_upload_bytes;
    r.add(Method::POST, "/upload", post(create)).add(
        Method::PUT,
        UPLOAD_ROUTE,
        put(put_bytes).layer(DefaultBodyLimit::max(limit)),
    )
}

#[derive(Debug, Deserialize)]
struct CreateUpload {
    filename: String,
    #[serde(default)]
    project_name: Option<String>,
}

/// `project_name` is optional (the vendor's example client uploads before any
/// project exists); when given, the project must exist in the account.
async fn create(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    scenario: Scenario,
    ApiJson(req): ApiJson<CreateUpload>,
) -> Result<Json<Value>, ApiError> {
    let name = UploadName::parse(&req.filename).map_err(|v| ApiError::violated([v], Position::Body))?;
    let project = match req.project_name.as_deref() {
        None => None,
        Some(pn) => {
            // A name no project can have is a broken rule (400), not a miss.
            let pn = ProjectName::parse(pn).map_err(|v| ApiError::violated([v], Position::Body))?;
            let data = tenant.data.lock();
            let p = crate::domain::project::named(&data.projects, &pn)
                .ok_or_else(|| ApiError::not_found("project", Some(("project_name", Position::Body))))?;
            Some((p.id.clone(), p.name.clone()))
        }
    };
    let now = state.now();
    let id: FileId = state.ids.next();
    let ttl = scenario
        .0
        .as_ref()
        .and_then(|s| s.upload_url_ttl_seconds)
        .map_or(state.settings.upload_url_ttl, std::time::Duration::from_secs);
    let upload_expires_at = now.plus(ttl);
    let links = state.links();
    let upload_url = links.upload(&id, name.content_type(), upload_expires_at);
    let download_url = links.file(&id);
    let mut body = json!({
        "upload_url": upload_url,
        "download_url": download_url,
        "file_id": id,
        "filename": name.filename(),
        "content_type": name.content_type(),
        "expires": upload_expires_at.rfc3339(),
    });
    if let Some((pid, pname)) = &project {
        body["project_id"] = json!(pid);
        body["project_name"] = json!(pname);
    }
    state.store.insert_file(StoredFile {
        id: id.clone(),
        owner: tenant.id().clone(),
        filename: name.filename().to_owned(),
        content_type: name.content_type(),
        project,
        created_at: now,
        upload_expires_at,
        blob: None,
    });
    state.mark(Dirty::File(id));
    Ok(Json(body))
}

/// The pre-signed PUT. Checks, in S3's order: signature (over method, path,
/// `Content-Type` and expiry), expiry, the object, the size. Nothing is
/// stored unless all pass; then whatever bytes arrived are stored, as S3
/// does, and what the probe makes of them is kept beside them for the jobs
/// that use the file (they refuse bytes that are no usable image).
async fn put_bytes(
    State(state): State<AppState>,
    Path(file_id): Path<String>,
    SignedParams(q): SignedParams,
    req: Request,
) -> Result<Response, S3Error> {
    let id = FileId::from_client(&file_id);
    let path = upload_path(&id);
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    state.signer.verify("PUT", &path, &content_type, &q, state.now())?;
    state.store.file_any(&id).ok_or_else(|| S3Error::no_such_key(&path))?;
    let max = state.settings.max_upload_bytes;
    let bytes = Bytes::from_request(req, &state)
        .await
        .map_err(|_| S3Error::too_large(&path, max))?;
    let unusable = probe_off_runtime(bytes.clone()).await.err();
    let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&bytes))[..32]);
    let now = state.now();
    state
        .store
        .update_file(&id, |f| {
            f.blob = Some(Blob {
                bytes: bytes.into(),
                etag: etag.clone(),
                uploaded_at: now,
                unusable,
            })
        })
        .ok_or_else(|| S3Error::no_such_key(&path))?;
    state.mark(Dirty::File(id));
    let mut res = (StatusCode::OK, Body::empty()).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    Ok(res)
}
