//! `contract-tests listen` and `trigger`, as `stripe listen --forward-to`
//! and `stripe trigger` are: a webhook receiver that registers itself on
//! the fake (or prints what to register), checks every signature, prints
//! each event as it arrives and forwards the original bytes and headers to
//! a local app; and a command that makes the fake emit a chosen
//! notification to the registered webhook.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::gate::Fake;
use crate::suite::{RunError, signature_ok};

/// What `listen` is told.
#[derive(Debug, Clone)]
pub struct Listen {
    /// Where the receiver binds.
    pub bind: SocketAddr,
    /// The URL to register, when the fake reaches the receiver under
    /// another address (default `http://BIND/hook`).
    pub public_url: Option<String>,
    /// The fake and a tenant's token: the receiver registers itself there
    /// with `PUT /webhooks` and learns the signing secret from the answer.
    pub register: Option<(String, String)>,
    /// The signing secret, when the receiver is registered by hand.
    pub secret: Option<String>,
    /// A local app that gets every delivery as it came.
    pub forward_to: Option<String>,
    /// Stop after this many deliveries (default: run until interrupted).
    pub max_events: Option<usize>,
}

/// Headers not forwarded: they describe the connection, not the delivery.
const HOP_BY_HOP: [&str; 5] = [
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "keep-alive",
];

/// One delivery as it arrived, and what became of it.
struct Arrival {
    line: String,
}

/// Runs the receiver; every line goes to `out` (stdout in the binary).
pub async fn listen(cfg: Listen, mut out: impl FnMut(&str)) -> Result<(), RunError> {
    let listener = tokio::net::TcpListener::bind(cfg.bind)
        .await
        .map_err(|e| RunError::Usage(format!("cannot listen on {}: {e}", cfg.bind)))?;
    let local = listener.local_addr().map_err(|e| RunError::Usage(e.to_string()))?;
    let url = cfg.public_url.clone().unwrap_or_else(|| format!("http://{local}/hook"));
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| RunError::Usage(e.to_string()))?;

    // The secret comes from the registration, so the receiver runs first
    // (the fake pings it at once) and learns the secret through a channel.
    let (secret_tx, secret_rx) = tokio::sync::watch::channel(cfg.secret.clone());
    let (tx, mut rx) = mpsc::unbounded_channel::<Arrival>();
    let forward_to = cfg.forward_to.clone();
    let handler = move |headers: HeaderMap, body: Bytes| {
        let (tx, http, forward_to) = (tx.clone(), http.clone(), forward_to.clone());
        let mut secret_rx = secret_rx.clone();
        async move {
            // A ping can arrive before the registration's answer: wait for it.
            let secret = match secret_rx.wait_for(Option::is_some).await {
                Ok(s) => s.clone().filter(|s| !s.is_empty()),
                Err(_) => None,
            };
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
            let verdict = match secret.as_deref() {
                None => "unchecked (no secret)",
                Some(s) if signature_ok(s, &body, header("x-webhook-signature")) => "ok",
                Some(_) => "INVALID",
            };
            let summary = serde_json::from_slice::<Value>(&body).map_or_else(
                |_| format!("{} bytes, not JSON", body.len()),
                |v| match v["data"]["status"].as_str() {
                    Some(status) => format!("{} {status}", v["name"].as_str().unwrap_or("?")),
                    None => v["name"].as_str().unwrap_or("?").to_owned(),
                },
            );
            let mut line = format!(
                "<- {} delivery {} signature {verdict}: {summary} {}",
                header("x-webhook-event"),
                header("x-webhook-delivery"),
                String::from_utf8_lossy(&body)
            );
            let status = match &forward_to {
                None if verdict == "INVALID" => StatusCode::BAD_REQUEST,
                None => StatusCode::NO_CONTENT,
                Some(to) => {
                    let mut req = http.post(to).body(body.clone());
                    for (k, v) in &headers {
                        if !HOP_BY_HOP.contains(&k.as_str()) {
                            req = req.header(k, v);
                        }
                    }
                    match req.send().await {
                        Ok(r) => {
                            line.push_str(&format!("\n   -> {to}: {}", r.status().as_u16()));
                            StatusCode::from_u16(r.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY)
                        }
                        Err(e) => {
                            line.push_str(&format!("\n   -> {to}: unreachable ({e})"));
                            StatusCode::BAD_GATEWAY
                        }
                    }
                }
            };
            let _ = tx.send(Arrival { line });
            status
        }
    };
    let router = axum::Router::new().fallback(axum::routing::post(handler));
    tokio::spawn(async move { axum::serve(listener, router).await });

    out(&format!("listening on {url}"));
    match &cfg.register {
        Some((base, token)) => {
            let reg = register(base, token, &url).await?;
            let secret = reg["secret"].as_str().unwrap_or_default().to_owned();
            out(&format!(
                "registered on {base} as {}; signing secret {secret}",
                reg["id"].as_str().unwrap_or("?")
            ));
            secret_tx.send_replace(Some(secret));
        }
        None if cfg.secret.is_none() => {
            out(&format!(
                "register it: PUT /webhooks {} with the tenant's token; pass --secret to check signatures",
                json!({ "url": url })
            ));
            // Nothing to wait for: deliveries are printed unchecked ("" is
            // "no secret" to the handler).
            secret_tx.send_replace(Some(String::new()));
        }
        None => {}
    }
    if let Some(to) = &cfg.forward_to {
        out(&format!("forwarding to {to}"));
    }
    let mut seen = 0;
    loop {
        let arrival = tokio::select! {
            a = rx.recv() => a,
            _ = tokio::signal::ctrl_c() => None,
        };
        let Some(a) = arrival else { return Ok(()) };
        out(&a.line);
        seen += 1;
        if cfg.max_events.is_some_and(|n| seen >= n) {
            return Ok(());
        }
    }
}

/// `PUT {base}/webhooks {url}` with `token`: the registration.
async fn register(base: &str, token: &str, url: &str) -> Result<Value, RunError> {
    let base = base.trim_end_matches('/');
    let res = reqwest::Client::new()
        .put(format!("{base}/webhooks"))
        .bearer_auth(token)
        .json(&json!({ "url": url }))
        .send()
        .await
        .map_err(|e| RunError::Unreachable(format!("{base}: {e}")))?;
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(RunError::Usage(format!("PUT /webhooks: {status} {body}")));
    }
    Ok(body)
}

/// `trigger`: asks the fake (`POST /__admin/webhooks/trigger`) to emit
/// `event` to the tenant of `token` or `account`; its answer.
pub async fn trigger(
    base: &str,
    admin_token: Option<String>,
    event: &str,
    tenant: (Option<String>, Option<String>),
    retried: bool,
) -> Result<Value, RunError> {
    let fake = Fake::new(base, admin_token)?;
    let mut body = json!({ "event": event, "retried": retried });
    if let Some(t) = tenant.0 {
        body["token"] = json!(t);
    }
    if let Some(a) = tenant.1 {
        body["account"] = json!(a);
    }
    fake.post("/__admin/webhooks/trigger", &body).await
}
