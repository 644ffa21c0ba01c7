//! Notifications: the SSE stream `GET /notifications/events`, polling with
//! `POST /notifications` (or `GET /notifications`), and
//! `DELETE /notifications/{id}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::clock::Instant;
use crate::durable::Op;
use crate::error::{ApiError, Position};
use crate::events::sse::{self, Ends, Filter, Start, Subscription};
use crate::http::Routes;
use crate::http::extract::{ApiJson, Caller, Scenario, StreamCaller};
use crate::jobs::catch_up;
use crate::state::AppState;

/// Adds the notification routes.
pub fn routes(r: Routes) -> Routes {
    r.add(Method::GET, "/notifications/events", get(events))
        .add(Method::POST, "/notifications", post(list_post))
        .add(Method::GET, "/notifications", get(list_get))
        .add(Method::DELETE, "/notifications/{id}", delete(remove))
}

/// One value or several: `id_task=a` and `id_task=a,b` in a query;
/// `"a"` and `["a", "b"]` in a body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn list(self) -> Vec<String> {
        match self {
            Self::None => Vec::new(),
            Self::One(s) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            Self::Many(v) => v,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct FilterParams {
    #[serde(default)]
    id_task: OneOrMany,
    #[serde(default)]
    id_image: OneOrMany,
    #[serde(default)]
    name_list: OneOrMany,
}

impl FilterParams {
    fn filter(self) -> Result<Filter, ApiError> {
        bounded(
            Filter {
                id_task: self.id_task.list(),
                id_image: self.id_image.list(),
                name_list: self.name_list.list(),
            },
            Position::Body,
        )
    }
}

/// Most values one filter takes (as many jobs as a bulk download): every
/// notification is compared with each, on every poll and for every SSE
/// subscriber, so a list of 100,000 would make each of them crawl.
pub const MAX_FILTER_VALUES: usize = 100;

/// `f`, unless one of its lists is longer than [`MAX_FILTER_VALUES`].
fn bounded(f: Filter, position: Position) -> Result<Filter, ApiError> {
    for (field, list) in [
        ("id_task", &f.id_task),
        ("id_image", &f.id_image),
        ("name_list", &f.name_list),
    ] {
        if list.len() > MAX_FILTER_VALUES {
            return Err(ApiError::invalid_field(
                field,
                format!("must have at most {MAX_FILTER_VALUES} values, not {}", list.len()),
                position,
            ));
        }
    }
    Ok(f)
}

async fn events(
    State(state): State<AppState>,
    StreamCaller(tenant): StreamCaller,
    scenario: Scenario,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    catch_up(&state);
    let start = match headers.get("last-event-id") {
        None => Start::Window {
            since: Instant::from_millis(state.now().millis() - window_ms(&state)),
        },
        Some(v) => Start::After(v.to_str().ok().and_then(|s| s.trim().parse().ok()).ok_or_else(|| {
            ApiError::invalid_field(
                "Last-Event-ID",
                "must be a notification id (an integer)",
                Position::Header,
            )
        })?),
    };
    let drop_after = scenario.0.as_ref().and_then(|s| s.sse_drop_after);
    let sub = Subscription {
        tenant,
        filter: query_filter(uri.query().unwrap_or(""))?,
        start,
        drop_after,
        keepalive: state.settings.sse_keepalive,
    };
    let ends = Ends {
        reset: state.resets.subscribe(),
        shutdown: state.shutdown.subscribe(),
    };
    Ok(sse::response(sub, ends))
}

fn window_ms(state: &AppState) -> i64 {
    i64::try_from(state.settings.sse_backfill_window.as_millis()).unwrap_or(i64::MAX / 2)
}

async fn listing(state: &AppState, tenant: &crate::storage::records::Tenant, f: Filter) -> Json<Value> {
    catch_up(state);
    state.settle().await;
    let items: Vec<Value> = tenant
        .log
        .all()
        .iter()
        .filter(|n| f.matches(n))
        .map(|n| n.wire())
        .collect();
    Json(Value::Array(items))
}

async fn list_post(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    ApiJson(p): ApiJson<FilterParams>,
) -> Result<Json<Value>, ApiError> {
    Ok(listing(&state, &tenant, p.filter()?).await)
}

async fn list_get(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    uri: axum::http::Uri,
) -> Result<Json<Value>, ApiError> {
    Ok(listing(&state, &tenant, query_filter(uri.query().unwrap_or(""))?).await)
}

/// Filters from a query string: repeated keys (`id_task=a&id_task=b`, as
/// `requests` sends lists) and comma-separated values both work.
fn query_filter(q: &str) -> Result<Filter, ApiError> {
    if let Some(e) = crate::http::utf8::query_error(q) {
        return Err(ApiError::invalid(vec![e]));
    }
    let mut f = Filter::default();
    for (k, v) in form_urlencoded::parse(q.as_bytes()) {
        let list = match k.as_ref() {
            "id_task" => &mut f.id_task,
            "id_image" => &mut f.id_image,
            "name_list" => &mut f.name_list,
            _ => continue,
        };
        list.extend(v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned));
    }
    bounded(f, Position::Query)
}

/// Deletes one of the caller's notifications: it is never replayed again.
/// Another account's or an unknown id answers 404.
async fn remove(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let not_found = || ApiError::not_found("notification", Some(("id", Position::Path)));
    let id: u64 = id.parse().map_err(|_| not_found())?;
    if !tenant.log.delete(id) {
        return Err(not_found());
    }
    state.save(vec![Op::NotificationGone(id)]);
    Ok(Json(json!({ "success": true, "id": id })))
}
