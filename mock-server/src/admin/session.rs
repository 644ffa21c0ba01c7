//! `GET /__admin/session`: what is needed to reproduce a run on a fresh
//! fake — the seed, the time of the first request, and every step in
//! order: each request with its answer (from the journal, bodies included
//! when `--journal-bodies all` kept them) and each control call that
//! changed the run (clock moves, scenario choices, jobs completed by hand).
//! `contract-tests replay FILE --base-url URL` plays it back.
//!
//! Nothing secret goes in: the journal has no credentials headers, a
//! credential in a kept body (`token`, `secret`, `password`, …) is
//! replaced by `<redacted>`, and a scenario chosen for a token names the
//! token's caller digest; the replay maps callers back to tokens it is
//! given.

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::routing::get;
use serde_json::{Value, json};

use crate::config::JournalBodies;
use crate::http::Routes;
use crate::journal::Filter;
use crate::state::AppState;

/// The export's format name: a replay refuses any other.
pub const FORMAT: &str = "flat2model-session/1";

/// JSON keys whose values are credentials: replaced in kept bodies.
const SECRET_KEYS: [&str; 7] = [
    "token",
    "access_token",
    "refresh_token",
    "api_token",
    "secret",
    "password",
    "admin_token",
];

/// What stands for a redacted value (a replay does not compare it).
pub const REDACTED: &str = "<redacted>";

/// Replaces every credential in `v`; whether there was one.
fn redact(v: &mut Value) -> bool {
    match v {
        Value::Object(m) => {
            let mut any = false;
            for (k, x) in m.iter_mut() {
                if SECRET_KEYS.contains(&k.as_str()) && x.is_string() {
                    *x = json!(REDACTED);
                    any = true;
                } else {
                    any |= redact(x);
                }
            }
            any
        }
        Value::Array(a) => a.iter_mut().fold(false, |any, x| redact(x) | any),
        _ => false,
    }
}

/// A kept body as the journal shows it, its credentials redacted (a JSON
/// text without any stays byte for byte).
fn kept(body: Option<&crate::journal::KeptBody>) -> Value {
    let mut v = serde_json::to_value(body).unwrap_or(Value::Null);
    if let Some(mut parsed) = v["text"].as_str().and_then(|t| serde_json::from_str::<Value>(t).ok())
        && redact(&mut parsed)
    {
        v["text"] = json!(parsed.to_string());
    }
    v
}

/// Adds the route.
pub fn routes(r: Routes) -> Routes {
    r.add(Method::GET, "/__admin/session", get(export))
}

async fn export(State(state): State<AppState>) -> Json<Value> {
    let entries = state.journal.query(&Filter::default());
    let mut controls = state.journal.controls().into_iter().peekable();
    let mut steps = Vec::with_capacity(entries.len());
    for e in &entries {
        while let Some((_, c)) = controls.next_if(|(after, _)| *after < e.seq) {
            steps.push(json!({ "control": c }));
        }
        steps.push(json!({
            "request": {
                "at": e.at,
                "method": e.method.as_str(),
                "path": e.path,
                "query": e.query,
                "headers": e.headers,
                "caller": e.caller,
                "body": kept(e.request_body.as_ref()),
                "body_size": e.body_size,
            },
            "response": { "status": e.status, "body": kept(e.response_body.as_ref()) },
        }));
    }
    steps.extend(controls.map(|(_, c)| json!({ "control": c })));
    Json(json!({
        "format": FORMAT,
        "seed": state.settings.seed,
        "base_url": state.settings.public_url,
        "bodies_complete": state.settings.journal_bodies == JournalBodies::All,
        "started_at": entries.first().map(|e| e.at),
        "steps": steps,
    }))
}
