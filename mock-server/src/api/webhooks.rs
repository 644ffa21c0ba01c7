//! Webhooks: `PUT /webhooks {url}` registers (and rotates the secret, and
//! sends a `ping`), `GET /webhooks` reads, `DELETE /webhooks` removes,
//! `POST /webhooks/test` sends a `test` event.

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::routing::{post, put};
use reqwest::Url;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::durable::Dirty;
use crate::error::{ApiError, Position};
use crate::events::webhook::Registration;
use crate::http::Routes;
use crate::http::extract::{ApiJson, Caller, Scenario};
use crate::publish;
use crate::state::AppState;

/// The longest webhook URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Adds the webhook routes.
pub fn routes(r: Routes) -> Routes {
    r.add(Method::PUT, "/webhooks", put(register))
        .add(Method::GET, "/webhooks", axum::routing::get(show))
        .add(Method::DELETE, "/webhooks", axum::routing::delete(remove))
        .add(Method::POST, "/webhooks/test", post(test))
}

#[derive(Debug, Deserialize)]
struct RegisterRequest {
    url: String,
}

/// The registration as the vendor shows it.
fn view(r: &Registration) -> Value {
    json!({
        "id": r.id,
        "url": r.url,
        "secret": r.secret,
        "is_active": r.is_active,
        "created_at": r.created_at.rfc3339(),
        "updated_at": r.updated_at.rfc3339(),
        "last_response_status": r.last_response_status,
        "last_response_at": r.last_response_at.map(|t| t.rfc3339()),
    })
}

/// A webhook URL that is not the fake itself (which no schema can state:
/// it depends on where the fake runs), normalised.
fn parse_url(state: &AppState, raw: &str) -> Result<String, ApiError> {
    let url = check_url(raw)?;
    let public = Url::parse(&state.public_base()).ok();
    if is_the_fake(&url, public.as_ref(), state.listen_addr.get().copied()) {
        return Err(ApiError::invalid_field(
            "url",
            "must not point at the fake itself: its deliveries would be POSTed into its own API",
            Position::Body,
        ));
    }
    Ok(url.to_string())
}

/// An absolute `http://` or `https://` URL of at most 2048 characters,
/// without whitespace or control characters anywhere (the URL parser would
/// drop a CR or LF silently), in the grammar `webhook-request.json` states
/// (host a DNS name, a dotted IPv4 or a bracketed IPv6 address): the
/// schema's own pattern decides, so the published contract and this check
/// cannot drift.
pub fn check_url(raw: &str) -> Result<Url, ApiError> {
    let bad = |m: &str| ApiError::invalid_field("url", m, Position::Body);
    if raw.chars().count() > MAX_URL_LEN {
        return Err(bad("must be at most 2048 characters"));
    }
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad("must not contain spaces or control characters"));
    }
    let scheme = raw.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    if !matches!(scheme.as_deref(), Some("http" | "https")) {
        return Err(bad("must be an absolute http:// or https:// URL"));
    }
    if crate::contract::Contract::global()
        .validate("webhook-request.json", &json!({ "url": raw }))
        .is_err()
    {
        return Err(bad(
            "must be an http:// or https:// URL whose host is a DNS name (its last label starting with a letter), \
             an IPv4 address or a bracketed IPv6 address, with an optional port up to 65535",
        ));
    }
    // The pattern admits only what the parser takes (a property test holds
    // it to that); a failure here would be a gap in the pattern.
    Url::parse(raw).map_err(|e| bad(&format!("not a URL: {e}")))
}

/// Whether `url` reaches the fake, as far as can be told without DNS: the
/// host and port of its public URL, or its listening port on a loopback or
/// unspecified address, on the address it listens on, or on `localhost`.
fn is_the_fake(url: &Url, public: Option<&Url>, listen: Option<SocketAddr>) -> bool {
    let port = url.port_or_known_default();
    if public.is_some_and(|p| p.host_str() == url.host_str() && p.port_or_known_default() == port) {
        return true;
    }
    let Some(listen) = listen.filter(|l| port == Some(l.port())) else {
        return false;
    };
    let local = |ip: IpAddr| {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        ip.is_loopback() || ip.is_unspecified() || ip == listen.ip()
    };
    // The parser has already normalised the host: `2130706433` is
    // `127.0.0.1`, an IPv6 address is in brackets, a name is lower case.
    let host = url.host_str().unwrap_or("");
    match host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        Ok(ip) => local(ip),
        Err(_) => host == "localhost" || host.ends_with(".localhost"),
    }
}

/// Each PUT rotates the secret and sends a `ping` at once.
async fn register(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    scenario: Scenario,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<Json<Value>, ApiError> {
    let url = parse_url(&state, &req.url)?;
    let now = state.now();
    let reg = state.webhooks.register(
        tenant.id(),
        url,
        state.ids.secret("whsec_"),
        state.ids.secret("wh_"),
        now,
    );
    state.mark(Dirty::Registration(tenant.id().clone()));
    publish::send_to_webhook(
        &state,
        tenant.id(),
        "ping",
        json!({ "webhook_id": reg.id, "url": reg.url }),
        scenario.0.as_ref().and_then(|s| s.webhook.clone()),
    );
    Ok(Json(view(&reg)))
}

fn not_registered() -> ApiError {
    ApiError::not_found("webhook", None)
}

async fn show(State(state): State<AppState>, Caller(tenant): Caller) -> Result<Json<Value>, ApiError> {
    state
        .webhooks
        .get(tenant.id())
        .map(|r| Json(view(&r)))
        .ok_or_else(not_registered)
}

async fn remove(State(state): State<AppState>, Caller(tenant): Caller) -> Result<Json<Value>, ApiError> {
    if !state.webhooks.remove(tenant.id(), state.now()) {
        return Err(not_registered());
    }
    // Its pending deliveries failed with it.
    state.mark(Dirty::Registration(tenant.id().clone()));
    for d in state.webhooks.deliveries(Some(tenant.id())) {
        state.mark(Dirty::Delivery(d.id));
    }
    Ok(Json(json!({ "success": true })))
}

async fn test(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    scenario: Scenario,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if state.webhooks.get(tenant.id()).is_none() {
        return Err(not_registered());
    }
    let (notification, delivery) = publish::send_to_webhook(
        &state,
        tenant.id(),
        "test",
        json!({ "message": "a test event from flat2model-mock" }),
        scenario.0.as_ref().and_then(|s| s.webhook.clone()),
    );
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "success": true, "delivery_id": delivery, "notification_id": notification })),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake(url: &str, public: &str, listen: &str) -> bool {
        let url = Url::parse(url).expect("url");
        let public = Url::parse(public).expect("public");
        is_the_fake(&url, Some(&public), Some(listen.parse().expect("addr")))
    }

    #[test]
    fn urls_of_the_fake_itself_are_recognised() {
        let (public, listen) = ("http://fake.example", "127.0.0.1:8080");
        for own in [
            "http://fake.example/hook",
            "https://FAKE.example:80/hook",
            "http://127.0.0.1:8080/x",
            "http://127.9.9.9:8080/",
            "http://localhost:8080/",
            "http://api.localhost:8080/",
            "http://[::1]:8080/",
            "http://[::ffff:127.0.0.1]:8080/",
            "http://0.0.0.0:8080/",
            "http://2130706433:8080/",
        ] {
            assert!(fake(own, public, listen), "{own}");
        }
        for other in [
            "http://127.0.0.1:9099/hook",
            "http://fake.example:8080/",
            "http://example.com:8080/",
            "https://fake.example/",
        ] {
            assert!(!fake(other, public, listen), "{other}");
        }
        assert!(fake("http://10.1.2.3:8080/", public, "10.1.2.3:8080"));
    }
}
