//! `contract-tests proxy`: a forwarding proxy a developer points an
//! unchanged client at, in front of the real API (docs/proxy.md).
//!
//! Every request goes to the upstream and its answer back unchanged, both
//! bodies streamed chunk by chunk ([`tap`]) while a bounded copy is taken
//! on the side. Each exchange is checked against the vendor profile
//! ([`check`]): the client's request, the upstream's status, Content-Type
//! and JSON answer, and each SSE message as it passes. With `--compare`
//! the fake beside is asked the same question ([`shadow`]); with
//! `--rewrite-urls` the links the upstream hands out point at the proxy
//! ([`rewrite`]). What differs is counted in a [`drift::DriftLog`]; what
//! passed is kept for the cassette ([`crate::cassette`]).
//!
//! The proxy's own routes live under `/__proxy/` (a prefix the vendor's API
//! does not use): `GET /__proxy/report?format=text|json|junit`,
//! `GET /__proxy/cassette`, and the sink the fake beside delivers its
//! webhooks to.

pub mod check;
pub mod cli;
pub mod drift;
mod rewrite;
mod rewrite_sse;
mod shadow;
pub mod tap;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use contract::profile::Profile;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::cassette::Recorded;
use crate::report::Format;
use crate::suite::sse_messages;
use check::{Operation, is_json};
use drift::DriftLog;
use tap::{Capture, Sink, Tap};

/// How much of a JSON or text body is kept for the checks and the
/// cassette; a larger one passes through unchecked (counted).
const KEEP_TEXT: usize = 4 << 20;
/// How much of any request body is copied for the fake beside (a
/// pre-signed PUT of an image); a larger one is not asked of it.
const KEEP_FOR_SHADOW: usize = 32 << 20;

/// What the proxy does.
#[derive(Debug, Clone)]
pub struct Options {
    /// The real API's base URL (`https://v2.api.piktid.com`).
    pub upstream: String,
    /// Which promises the upstream is held to.
    pub profile: Profile,
    /// Point the links the upstream hands out at the proxy.
    pub rewrite_urls: bool,
    /// The fake beside (base URL, token) asked the same questions.
    pub compare: Option<(String, String)>,
}

/// What a session saw: its drifts and its exchanges.
#[derive(Debug, Default)]
pub struct Session {
    /// The drift report.
    pub drifts: DriftLog,
    /// Every exchange, for the cassette.
    pub recorded: Vec<Recorded>,
}

enum ShadowMsg {
    Ask(Box<shadow::Exchange>),
    Flush(oneshot::Sender<()>),
}

struct Shared {
    opts: Options,
    upstream: String,
    /// The proxy's own base URL (`http://127.0.0.1:PORT`).
    public: String,
    http: reqwest::Client,
    session: Mutex<Session>,
    shadow: Option<mpsc::UnboundedSender<ShadowMsg>>,
}

/// A running proxy.
#[derive(Clone)]
pub struct Proxy {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").field("public", &self.shared.public).finish()
    }
}

/// The headers of one hop (RFC 9110 7.6.1), never forwarded, and `host`
/// (the client's names the proxy; the upstream's is set from its URL).
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
    )
}

fn header_str(h: &HeaderMap, name: &str) -> String {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

impl Proxy {
    /// Starts a proxy on `listener`, its links under `public` (the
    /// listener's address when `None`).
    pub async fn start(
        opts: Options,
        listener: tokio::net::TcpListener,
        public: Option<String>,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let public = public.unwrap_or_else(|| format!("http://{addr}"));
        // No redirects followed (the client must see them) and no total
        // timeout (an SSE stream lasts as long as the client wants).
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(30))
            .build()
            .map_err(std::io::Error::other)?;
        let (shadow_tx, shadow_rx) = match opts.compare {
            Some(_) => {
                let (tx, rx) = mpsc::unbounded_channel();
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        let shared = Arc::new(Shared {
            upstream: opts.upstream.trim_end_matches('/').to_owned(),
            opts,
            public,
            http: http.clone(),
            session: Mutex::new(Session::default()),
            shadow: shadow_tx,
        });
        if let (Some(rx), Some((base, token))) = (shadow_rx, shared.opts.compare.clone()) {
            let s = shadow::Shadow::new(http, &base, &token, format!("{}/__proxy/sink", shared.public));
            tokio::spawn(shadow_worker(s, rx, Arc::downgrade(&shared)));
        }
        let app = axum::Router::new().fallback(forward).with_state(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { shared })
    }

    /// The proxy's base URL.
    pub fn url(&self) -> &str {
        &self.shared.public
    }

    /// Waits until the fake beside has been asked everything so far.
    pub async fn settle(&self) {
        if let Some(tx) = &self.shared.shadow {
            let (done, wait) = oneshot::channel();
            if tx.send(ShadowMsg::Flush(done)).is_ok() {
                let _ = wait.await;
            }
        }
    }

    /// The drift report in `format`, once the fake beside has caught up.
    pub async fn report(&self, format: Format) -> (String, usize) {
        self.settle().await;
        let s = self.shared.lock();
        (s.drifts.render(format), s.drifts.len())
    }

    /// The drift log as it stands (call [`Self::settle`] first to have the
    /// fake beside's answers in).
    pub fn drifts(&self) -> DriftLog {
        self.shared.lock().drifts.clone()
    }

    /// The session as a cassette (HAR and the flow's IDs), redacted.
    pub async fn cassette(&self) -> Value {
        self.settle().await;
        let s = self.shared.lock();
        crate::cassette::of(&s.recorded, &self.shared.upstream)
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Session> {
        // A panic while holding it cannot leave a session half-written in a
        // way that matters to a report: keep going with what is there.
        self.session.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

async fn shadow_worker(
    mut s: shadow::Shadow,
    mut rx: mpsc::UnboundedReceiver<ShadowMsg>,
    shared: std::sync::Weak<Shared>,
) {
    while let Some(msg) = rx.recv().await {
        match msg {
            ShadowMsg::Flush(done) => {
                let _ = done.send(());
            }
            ShadowMsg::Ask(x) => {
                let outcome = s.compare(&x).await;
                let Some(shared) = shared.upgrade() else { return };
                let mut session = shared.lock();
                match outcome {
                    Ok(drifts) => {
                        session.drifts.compared();
                        session.drifts.add(drifts);
                    }
                    Err(why) => session.drifts.not_compared(&why),
                }
            }
        }
    }
}

/// The proxy's own routes.
async fn own(shared: &Arc<Shared>, path: &str, query: Option<&str>) -> Option<Response> {
    let proxy = Proxy { shared: shared.clone() };
    match path {
        "/__proxy/sink" => Some(StatusCode::NO_CONTENT.into_response()),
        "/__proxy/report" => {
            let format = match query.unwrap_or_default() {
                q if q.contains("format=json") => Format::Json,
                q if q.contains("format=junit") => Format::Junit,
                _ => Format::Text,
            };
            let (text, _) = proxy.report(format).await;
            let ct = match format {
                Format::Json => "application/json",
                Format::Junit => "application/xml",
                Format::Text => "text/plain; charset=utf-8",
            };
            Some(([("content-type", ct)], text).into_response())
        }
        "/__proxy/cassette" => Some(axum::Json(proxy.cassette().await).into_response()),
        _ => None,
    }
}

fn bad_gateway(message: String) -> Response {
    let body = serde_json::json!({"error": "Bad Gateway", "detail": [{"field": null, "message": message, "position": "proxy"}]});
    (StatusCode::BAD_GATEWAY, axum::Json(body)).into_response()
}

/// What an exchange was, carried to its end.
struct Exchange {
    shared: Arc<Shared>,
    op: Operation,
    method: reqwest::Method,
    url: String,
    path: Option<String>,
    query: Option<String>,
    request_headers: HeaderMap,
    request: Arc<Mutex<Capture>>,
    started: Instant,
    at: SystemTime,
    status: u16,
    response_headers: HeaderMap,
    response: Capture,
    /// The SSE stream's reader, when the answer is one.
    sse: Option<SseScan>,
    /// The SSE messages seen, for the cassette.
    sse_messages: Vec<(Option<String>, String)>,
}

async fn forward(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(str::to_owned);
    if path.starts_with("/__proxy/")
        && let Some(r) = own(&shared, &path, query.as_deref()).await
    {
        return r;
    }
    let foreign = rewrite::original(&path, query.as_deref());
    let (url, op, own_path) = match foreign {
        Some(url) => (
            url,
            Operation {
                method: parts.method.to_string(),
                template: None,
            },
            None,
        ),
        None => (
            format!(
                "{}{}",
                shared.upstream,
                parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
            ),
            Operation::of(parts.method.as_str(), &path),
            Some(path.clone()),
        ),
    };
    let Ok(method) = reqwest::Method::from_bytes(parts.method.as_str().as_bytes()) else {
        return bad_gateway("an unknown method".into());
    };
    let json_request = is_json(&header_str(&parts.headers, "content-type"));
    let keep = match (shared.shadow.is_some(), json_request) {
        (true, _) => KEEP_FOR_SHADOW,
        (false, true) => KEEP_TEXT,
        (false, false) => 0,
    };
    let request = Arc::new(Mutex::new(Capture::new(keep)));
    let body = reqwest::Body::wrap_stream(Tap::new(
        body.into_data_stream(),
        Box::new(tap::Shared(request.clone())),
    ));
    let mut out = shared.http.request(method.clone(), &url).body(body);
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) {
            out = out.header(name.as_str(), value.as_bytes());
        }
    }
    let (started, at) = (Instant::now(), SystemTime::now());
    let res = match out.send().await {
        Ok(r) => r,
        Err(e) => return bad_gateway(format!("the upstream did not answer: {e}")),
    };
    let status = res.status().as_u16();
    let mut headers = HeaderMap::new();
    for (name, value) in res.headers() {
        if !hop_by_hop(name)
            && let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_str().as_bytes()),
                HeaderValue::from_bytes(value.as_bytes()),
            )
        {
            headers.append(n, v);
        }
    }
    let content_type = header_str(&headers, "content-type");
    let textual = is_json(&content_type) || content_type.starts_with("text/");
    let mut x = Exchange {
        op,
        method,
        url,
        path: own_path,
        query,
        request_headers: parts.headers,
        request,
        started,
        at,
        status,
        response: Capture::new(if textual { KEEP_TEXT } else { 0 }),
        sse: content_type.starts_with("text/event-stream").then(SseScan::default),
        sse_messages: Vec::new(),
        response_headers: headers.clone(),
        shared: shared.clone(),
    };
    let Ok(code) = StatusCode::from_u16(status) else {
        return bad_gateway(format!("the upstream answered an invalid status {status}"));
    };
    if shared.opts.rewrite_urls && is_json(&content_type) {
        // Rewriting needs the whole answer: only JSON ones, which are small.
        return match res.bytes().await {
            Ok(bytes) => {
                x.chunk(&bytes);
                let mut body = bytes.clone();
                if let Ok(mut v) = serde_json::from_slice::<Value>(&bytes)
                    && rewrite::links(&mut v, &shared.upstream, &shared.public)
                {
                    body = Bytes::from(v.to_string());
                    headers.remove("content-length");
                }
                Box::new(x).end(true);
                let mut r = Response::new(Body::from(body));
                *r.status_mut() = code;
                *r.headers_mut() = headers;
                r
            }
            Err(e) => bad_gateway(format!("the upstream's answer broke off: {e}")),
        };
    }
    let sse = x.sse.is_some();
    let body = Tap::new(res.bytes_stream(), Box::new(x));
    let body = if shared.opts.rewrite_urls && sse {
        // The notifications' links, rewritten line by line as they pass.
        headers.remove("content-length");
        Body::from_stream(rewrite_sse::Rewrite::new(body, &shared.upstream, &shared.public))
    } else {
        Body::from_stream(body)
    };
    let mut r = Response::new(body);
    *r.status_mut() = code;
    *r.headers_mut() = headers;
    r
}

impl Exchange {
    /// Checks every SSE message the stream has completed so far.
    fn scan_sse(&mut self, chunk: &[u8]) {
        let Some(scan) = self.sse.as_mut() else { return };
        let messages = scan.push(chunk);
        let drifts: Vec<_> = messages.iter().flat_map(|m| check::sse_message(&self.op, m)).collect();
        self.sse_messages
            .extend(messages.into_iter().map(|m| (m.event, m.data)));
        if !drifts.is_empty() {
            self.shared.lock().drifts.add(drifts);
        }
    }
}

/// An SSE stream read as it passes: whole messages out, the rest kept.
#[derive(Debug, Default)]
struct SseScan {
    /// Bytes not yet decoded (a UTF-8 sequence or a CR cut by a chunk).
    raw: Vec<u8>,
    /// Decoded text with LF line ends, after the last whole message.
    text: String,
}

impl SseScan {
    /// Takes a chunk; returns the messages it completed.
    fn push(&mut self, chunk: &[u8]) -> Vec<crate::suite::SseMessage> {
        self.raw.extend_from_slice(chunk);
        let valid = match std::str::from_utf8(&self.raw) {
            Ok(t) => t.len(),
            Err(e) if e.error_len().is_some() => self.raw.len(),
            Err(e) => e.valid_up_to(),
        };
        // A CR at the end may be the first half of a CRLF.
        let valid = if valid > 0 && self.raw[valid - 1] == b'\r' {
            valid - 1
        } else {
            valid
        };
        let decoded = String::from_utf8_lossy(&self.raw[..valid])
            .replace("\r\n", "\n")
            .replace('\r', "\n");
        self.raw.drain(..valid);
        self.text.push_str(&decoded);
        let mut out = Vec::new();
        while let Some(i) = self.text.find("\n\n") {
            out.extend(sse_messages(&self.text[..i + 2]));
            self.text.drain(..i + 2);
        }
        out
    }
}

impl Sink for Exchange {
    fn chunk(&mut self, chunk: &Bytes) {
        self.response.push(chunk);
        self.scan_sse(chunk);
    }

    fn end(mut self: Box<Self>, complete: bool) {
        // hyper stops reading a body once its Content-Length has passed,
        // without waiting for the stream's end: that is complete too.
        let declared = |h: &HeaderMap| {
            h.get("content-length")
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        };
        self.response.complete = complete || declared(&self.response_headers) == Some(self.response.size);
        let mut request = self
            .request
            .lock()
            .map(|c| c.clone())
            .unwrap_or_else(|_| Capture::new(0));
        request.complete |= declared(&self.request_headers).unwrap_or(0) == request.size;
        let req_type = header_str(&self.request_headers, "content-type");
        let resp_type = header_str(&self.response_headers, "content-type");
        let mut drifts = Vec::new();
        if is_json(&req_type)
            && request.whole()
            && let (Ok(v), Some(path)) = (serde_json::from_slice::<Value>(&request.bytes), &self.path)
        {
            drifts.extend(check::request(&self.op, path, &v));
        }
        let json = (is_json(&resp_type) && self.response.whole())
            .then(|| serde_json::from_slice::<Value>(&self.response.bytes).ok())
            .flatten();
        let whole_or_none = self.response.whole() || !is_json(&resp_type);
        if self.sse.is_none() && whole_or_none {
            drifts.extend(check::response(
                self.shared.opts.profile,
                &self.op,
                self.path.as_deref().unwrap_or_default(),
                self.status,
                &resp_type,
                json.as_ref(),
            ));
        }
        let compare = self
            .shared
            .shadow
            .as_ref()
            .filter(|_| !self.op.is_sse() && self.op.template.as_deref().is_none_or(|t| !t.starts_with("/auth/")));
        let mut session = self.shared.lock();
        session.drifts.saw(&self.op.name());
        session.drifts.add(drifts);
        if let Some(tx) = compare {
            let x = shadow::Exchange {
                op: self.op.clone(),
                method: self.method.clone(),
                url: self.url.clone(),
                path: self.path.clone(),
                query: self.query.clone(),
                content_type: (!req_type.is_empty()).then(|| req_type.clone()),
                authorization: self
                    .request_headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                body: request.whole().then(|| Bytes::from(request.bytes.clone())),
                status: self.status,
                json: json.clone(),
            };
            let _ = tx.send(ShadowMsg::Ask(Box::new(x)));
        } else if self.shared.shadow.is_some() {
            session.drifts.not_compared("a stream or a credentials exchange");
        }
        session.recorded.push(Recorded {
            at: self.at,
            duration: self.started.elapsed(),
            method: self.method.to_string(),
            url: self.url.clone(),
            operation: self.op.name(),
            request_headers: self.request_headers.clone(),
            request,
            status: self.status,
            response_headers: self.response_headers.clone(),
            response: self.response.clone(),
            json,
            sse: std::mem::take(&mut self.sse_messages),
        });
    }
}
