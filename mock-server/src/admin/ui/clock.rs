//! The clock page: now, and forms to advance it or drain it until idle
//! (`GET` and `POST /__admin/clock` behind forms).

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::page::{given, parse_form, render, see_other};
use crate::admin::MoveClock;
use crate::error::{ApiError, Position};
use crate::http::extract::ApiJson;
use crate::state::AppState;

pub(super) async fn page(State(state): State<AppState>) -> Response {
    // Before reading: a change while the page is drawn refreshes it again.
    let version = super::live::fingerprint(&state);
    let Json(clock) = crate::admin::clock_view(&state);
    render(
        "clock.html",
        json!({ "title": "Clock", "page": "clock",
            "version": version.to_string(), "clock": clock }),
    )
}

/// `advance=15m` moves the clock; `until_idle=1` drains it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockForm {
    advance: Option<String>,
    until_idle: Option<String>,
}

pub(super) async fn move_it(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let form: ClockForm = parse_form(&body)?;
    let advance = given(form.advance).map(Value::String);
    let until_idle = given(form.until_idle).is_some();
    if advance.is_none() && !until_idle {
        return Err(ApiError::invalid_field(
            "advance",
            "give 'advance' (such as 15m) or 'until_idle'",
            Position::Body,
        ));
    }
    let req = MoveClock {
        advance,
        until_idle,
        ..MoveClock::default()
    };
    let _clock = crate::admin::move_clock(State(state), ApiJson(req)).await?;
    Ok(see_other("/__admin/ui/clock"))
}
