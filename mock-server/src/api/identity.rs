//! Identities (the model): `POST /identity/upload`, `GET /identity`,
//! `GET /identity/{code}`, `GET /identity/{code}/status`.

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{Method, StatusCode, header};
use axum::routing::{get, post};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::probe_off_runtime;
use crate::domain::identity::{Identity, Upload};
use crate::domain::ids::IdentityCode;
use crate::domain::names::{identity_label, image_file_name};
use crate::domain::pagination::PageRequest;
use crate::error::{ApiError, FieldError, Position};
use crate::http::Routes;
use crate::http::extract::{ApiQuery, Caller, Scenario, too_large};
use crate::identities;
use crate::state::AppState;
use crate::storage::store::IdentityInsert;

/// Adds the identity routes; the upload route takes bodies up to
/// `--max-upload-bytes` (plus room for the multipart framing).
pub fn routes(r: Routes, state: &AppState) -> Routes {
    let limit = state.settings.max_upload_bytes + 64 * 1024;
    r.add(
        Method::POST,
        "/identity/upload",
        post(upload).layer(DefaultBodyLimit::max(limit)),
    )
    .add(Method::GET, "/identity", get(list))
    .add(Method::GET, "/identity/{code}", get(show))
    .add(Method::GET, "/identity/{code}/status", get(status))
}

/// The identity as every endpoint shows it (upload adds `success`).
/// `owner_name` is the caller's, shown as `created_by` of its own uploads;
/// a gallery identity shows its own.
pub fn identity_view(state: &AppState, i: &Identity, owner_name: &str) -> Value {
    let link = state.links().identity(&i.code);
    let (visibility, groups, created_by, locked, tier) = match &i.stock {
        Some(s) => ("public", &s.groups[..], s.created_by.as_str(), true, s.tier.as_str()),
        None => ("private", &[][..], owner_name, false, "standard"),
    };
    json!({
        "identity_code": i.code,
        "name": i.name,
        "tag": i.tag,
        "original_filename": i.original_filename,
        "link": link,
        "visibility": visibility,
        "groups": groups,
        "created_by": created_by,
        "image_description": format!("{}x{} {} portrait", i.width, i.height, i.content_type),
        "face_detected": i.face_detected,
        "face_metadata": { "width": i.width, "height": i.height, "faces": u8::from(i.face_detected) },
        "preprocessing_status": "completed",
        "locked": locked,
        "tier": tier,
        "created_at": i.created_at.rfc3339(),
        "updated_at": i.created_at.rfc3339(),
    })
}

fn form_error(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::invalid(vec![FieldError::new(field, message, Position::Form)])
}

/// The `filename` parameter of a part's `Content-Disposition` when it is a
/// quoted string, unescaped: `\\` is one backslash and `\"` a quote (any
/// other backslash is kept as sent), and the first unescaped quote ends it.
/// `None` when it is missing, not quoted, unterminated or not UTF-8: then
/// multer's reading is used. Done here because multer 3.1.0 keeps `\\`
/// doubled and misreads a name that ends in a backslash (`"dir\\"`).
fn quoted_filename(content_disposition: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(content_disposition).ok()?;
    // The disposition type (`form-data`) is a token: no quotes before `;`.
    let (_, mut rest) = text.split_once(';')?;
    loop {
        let rest_trimmed = rest.trim_start();
        let eq = rest_trimmed.find(['=', ';'])?;
        let (key, after) = rest_trimmed.split_at(eq);
        let after = &after[1..];
        if rest_trimmed.as_bytes()[eq] == b';' {
            rest = after;
            continue;
        }
        let is_filename = key.trim().eq_ignore_ascii_case("filename");
        let value = after.trim_start();
        let tail = match value.strip_prefix('"') {
            Some(quoted) => {
                let (text, tail) = unquote(quoted)?;
                if is_filename {
                    return Some(text);
                }
                tail
            }
            None if is_filename => return None,
            None => value,
        };
        rest = &tail[tail.find(';')? + 1..];
    }
}

/// The text of a quoted string whose opening quote is already read, and
/// what follows its closing quote; `None` if it never closes.
fn unquote(s: &str) -> Option<(String, &str)> {
    let mut text = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((text, &s[i + 1..])),
            '\\' => match chars.next()? {
                (_, e @ ('\\' | '"')) => text.push(e),
                (_, e) => {
                    text.push('\\');
                    text.push(e);
                }
            },
            c => text.push(c),
        }
    }
    None
}

struct UploadForm {
    image: Bytes,
    filename: String,
    name: Option<String>,
    tag: Option<String>,
}

async fn read_form(state: &AppState, mut form: Multipart) -> Result<UploadForm, ApiError> {
    let multipart_error = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large(state.settings.max_upload_bytes)
        } else {
            form_error("image", format!("malformed multipart body: {}", e.body_text()))
        }
    };
    let (mut image, mut filename, mut name, mut tag) = (None, String::new(), None, None);
    while let Some(field) = form.next_field().await.map_err(multipart_error)? {
        let field_name = field.name().unwrap_or("").to_owned();
        match field_name.as_str() {
            "image" => {
                if image.is_some() {
                    return Err(form_error("image", "must be sent once"));
                }
                let quoted = field
                    .headers()
                    .get(header::CONTENT_DISPOSITION)
                    .and_then(|v| quoted_filename(v.as_bytes()));
                filename = image_file_name(quoted.as_deref().or(field.file_name()))
                    .map_err(|v| ApiError::violated([v], Position::Form))?;
                let bytes = field.bytes().await.map_err(multipart_error)?;
                if bytes.len() > state.settings.max_upload_bytes {
                    return Err(too_large(state.settings.max_upload_bytes));
                }
                image = Some(bytes);
            }
            "name" | "tag" => {
                // Not `field.text()`: it would turn bytes that are not UTF-8
                // into U+FFFD and store the result.
                let bytes = field.bytes().await.map_err(multipart_error)?;
                let text =
                    String::from_utf8(bytes.to_vec()).map_err(|_| form_error(&field_name, "must be UTF-8 text"))?;
                let value = identity_label(&field_name, &text).map_err(|v| ApiError::violated([v], Position::Form))?;
                if field_name == "name" {
                    name = Some(value)
                } else {
                    tag = Some(value)
                }
            }
            // Other fields are ignored, as the vendor does.
            _ => {}
        }
    }
    let image = image.ok_or_else(|| form_error("image", "is required (a JPEG, PNG or WebP file)"))?;
    Ok(UploadForm {
        image,
        filename,
        name,
        tag,
    })
}

async fn upload(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    scenario: Scenario,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Json<Value>, ApiError> {
    let form = form.map_err(|_| {
        ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE).with_detail(FieldError::new(
            "Content-Type",
            "must be multipart/form-data with an 'image' file",
            Position::Header,
        ))
    })?;
    let form = read_form(&state, form).await?;
    let info = probe_off_runtime(form.image.clone())
        .await
        .map_err(|e| form_error("image", e.0))?;
    let upload = Upload {
        filename: form.filename,
        name: form.name,
        tag: form.tag,
        image: form.image,
        info,
    };
    let fault = scenario.0.as_ref().and_then(|s| s.webhook.clone());
    let stored = identities::upload(&state, &tenant, upload, fault).map_err(|IdentityInsert::Duplicate(code)| {
        ApiError::conflict("an identity with the same image already exists", "image")
            .with_extra("existing_identity_code", code.to_string())
    })?;
    let mut view = identity_view(&state, &stored, &tenant.account.username());
    view["success"] = Value::Bool(true);
    Ok(Json(view))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    page: Option<u32>,
    per_page: Option<u32>,
    order: Option<String>,
    search: Option<String>,
    sort_by: Option<String>,
    visibility: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = PageRequest::parse(q.page, q.per_page).map_err(|v| ApiError::violated([v], Position::Query))?;
    let desc = match q.order.as_deref().unwrap_or("desc") {
        "desc" => true,
        "asc" => false,
        _ => {
            return Err(ApiError::invalid_field(
                "order",
                "must be 'asc' or 'desc'",
                Position::Query,
            ));
        }
    };
    let by_name = match q.sort_by.as_deref().unwrap_or("created_at") {
        "created_at" => false,
        "name" => true,
        _ => {
            return Err(ApiError::invalid_field(
                "sort_by",
                "must be 'created_at' or 'name'",
                Position::Query,
            ));
        }
    };
    let (private, public) = match q.visibility.as_deref() {
        None => (true, true),
        Some("private") => (true, false),
        Some("public") => (false, true),
        Some(_) => {
            return Err(ApiError::invalid_field(
                "visibility",
                "must be 'public' or 'private'",
                Position::Query,
            ));
        }
    };
    let needle = q.search.unwrap_or_default().to_lowercase();
    // The account's own uploads and the gallery in one list, sorted and
    // paged together.
    let mut all = if private {
        state.store.identities_of(tenant.id())
    } else {
        Vec::new()
    };
    if public {
        all.extend(state.store.gallery().iter().cloned());
    }
    all.retain(|i| needle.is_empty() || i.name.to_lowercase().contains(&needle));
    // Ties: the gallery first, then in upload (or gallery.json) order.
    all.sort_by(|a, b| {
        let ord = if by_name {
            (&a.name, a.stock.is_none(), a.seq).cmp(&(&b.name, b.stock.is_none(), b.seq))
        } else {
            (a.created_at, a.stock.is_none(), a.seq).cmp(&(b.created_at, b.stock.is_none(), b.seq))
        };
        if desc { ord.reverse() } else { ord }
    });
    let (items, pagination) = page.slice(all);
    let owner = tenant.account.username();
    let identities: Vec<Value> = items.iter().map(|i| identity_view(&state, i, &owner)).collect();
    Ok(Json(json!({ "identities": identities, "pagination": pagination })))
}

fn find(
    state: &AppState,
    tenant: &crate::storage::records::Tenant,
    code: &str,
) -> Result<std::sync::Arc<Identity>, ApiError> {
    state
        .store
        .identity(tenant.id(), &IdentityCode::from_client(code))
        .ok_or_else(|| ApiError::not_found("identity", Some(("code", Position::Path))))
}

async fn show(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    Path(code): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let i = find(&state, &tenant, &code)?;
    Ok(Json(identity_view(&state, &i, &tenant.account.username())))
}

async fn status(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    Path(code): Path<String>,
) -> Result<Json<Value>, ApiError> {
    find(&state, &tenant, &code)?;
    Ok(Json(
        json!({ "preprocessing_status": "completed", "error_message": null }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quoted_filename_is_unescaped_once() {
        let cases: [(&str, Option<&str>); 12] = [
            (
                r#"form-data; name="image"; filename="..\\..\\win.ini""#,
                Some(r"..\..\win.ini"),
            ),
            (r#"form-data; name="image"; filename="dir\\""#, Some("dir\\")),
            (r#"form-data; name="image"; filename="a\"b.jpg""#, Some("a\"b.jpg")),
            (r#"form-data; name="image"; filename="a\qb.jpg""#, Some(r"a\qb.jpg")),
            (r#"form-data; filename="x.jpg"; name="image""#, Some("x.jpg")),
            (
                r#"form-data; name="filename=\"no\""; filename="yes.jpg""#,
                Some("yes.jpg"),
            ),
            (r#"form-data; name="a;b"; FileName = "c.jpg""#, Some("c.jpg")),
            (r#"form-data; name="image"; filename*=utf-8''x.jpg"#, None),
            (r#"form-data; name="image"; filename=plain.jpg"#, None),
            (r#"form-data; name="image"; filename="open"#, None),
            (r#"form-data; name="image"; filename="ends\"#, None),
            ("form-data; name=\"image\"; filename=\"你好.jpg\"", Some("你好.jpg")),
        ];
        for (cd, want) in cases {
            assert_eq!(quoted_filename(cd.as_bytes()).as_deref(), want, "{cd}");
        }
        for cd in [
            "",
            "form-data",
            "form-data;",
            "form-data; ;;",
            "form-data; name",
            "form-data; a=\"",
        ] {
            assert_eq!(quoted_filename(cd.as_bytes()), None, "{cd:?}");
        }
        assert_eq!(quoted_filename(b"form-data; filename=\"\xff\""), None);
    }
}
