//! Projects: `POST /project`, `GET /project`.

use axum::Json;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::names::ProjectName;
use crate::domain::pagination::PageRequest;
use crate::domain::project::{self, Project};
use crate::durable::Dirty;
use crate::error::{ApiError, Position};
use crate::http::Routes;
use crate::http::extract::{ApiJson, ApiQuery, Caller};
use crate::state::AppState;

/// Adds the project routes.
pub fn routes(r: Routes) -> Routes {
    r.add(Method::POST, "/project", post(create))
        .add(Method::GET, "/project", get(list))
}

#[derive(Debug, Deserialize)]
struct CreateProject {
    project_name: String,
}

/// A duplicate name (exact, after trimming) answers 409 with the existing
/// project's `project_id` and `project_name`, as the vendor's client expects.
async fn create(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    ApiJson(req): ApiJson<CreateProject>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let name = ProjectName::parse(&req.project_name).map_err(|v| ApiError::violated([v], Position::Body))?;
    let mut data = tenant.data.lock();
    let at = project::add(&mut data.projects, name, |name| {
        Project::new(state.ids.next(), name, state.now())
    })
    .map_err(|p| {
        ApiError::conflict("a project with this name already exists", "project_name")
            .with_extra("project_id", p.id.to_string())
            .with_extra("project_name", p.name.clone())
    })?;
    let (id, name) = (data.projects[at].id.clone(), data.projects[at].name.clone());
    // Under the account's lock: positions reach the store in order.
    state.mark(Dirty::Project(tenant.id().clone(), at));
    Ok((
        StatusCode::CREATED,
        Json(json!({ "project_id": id, "project_name": name })),
    ))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    page: Option<u32>,
    per_page: Option<u32>,
}

async fn list(Caller(tenant): Caller, ApiQuery(q): ApiQuery<ListQuery>) -> Result<Json<Value>, ApiError> {
    let page = PageRequest::parse(q.page, q.per_page).map_err(|v| ApiError::violated([v], Position::Query))?;
    let all: Vec<Value> = tenant
        .data
        .lock()
        .projects
        .iter()
        .map(|p| {
            json!({
                "project_id": p.id,
                "project_text": p.name,
                "project_key": p.key,
                "created_at": p.created_at.rfc3339(),
            })
        })
        .collect();
    let (projects, pagination) = page.slice(all);
    Ok(Json(json!({ "projects": projects, "pagination": pagination })))
}
