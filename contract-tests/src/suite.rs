//! The end-to-end suite: the documented flow against any base URL (the fake
//! or the real API), judged by a [`Profile`]: the vendor's promises by
//! default, the fake's own on top with `--profile strict`.
//!
//! Every check of [`CHECKS`] is reported in every run, as passed, failed
//! or skipped with its reason; a failed step skips only what needs its
//! result. Against a server with the fake's control API (`/__admin/health`
//! answers) time is moved with `POST /__admin/clock` instead of waited for;
//! elsewhere the suite waits, paced under the documented rate limit.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use contract::Contract;
use contract::profile::{Expect, Profile, table_size, vendor_shape};
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};

use crate::report::{CheckResult, RunReport, Status};

const IDENTITY_JPG: &[u8] = include_bytes!("../../fixtures/images/identity.jpg");
const SHIRT_JPG: &[u8] = include_bytes!("../../fixtures/images/sku-shirt.jpg");

/// The project the suite creates (and finds again on later runs).
const PROJECT: &str = "contract-tests";

/// Every check, in report order: each run reports each one exactly once.
pub const CHECKS: &[&str] = &[
    "auth.missing_token",
    "auth.malformed_token",
    "auth.unknown_token",
    "auth.expired_token",
    "webhook.register",
    "identity.upload",
    "identity.get",
    "identity.conflict",
    "project.create",
    "project.conflict",
    "project.list",
    "upload.presign",
    "upload.put",
    "upload.download_matches",
    "storage.wrong_content_type",
    "storage.forged_signature",
    "storage.oversize",
    "storage.expired_url",
    "job.create",
    "job.total_outputs",
    "job.status",
    "job.progress",
    "job.results",
    "results.unique_indices",
    "results.per_instruction",
    "results.outputs",
    "results.summary",
    "images.download",
    "images.size_table",
    "images.custom_size",
    "images.format",
    "images.thumbnail",
    "notifications.poll",
    "events.progress",
    "events.image_results",
    "sse.connect",
    "sse.content_type",
    "sse.event_names",
    "sse.ids",
    "sse.order",
    "sse.filter",
    "sse.notifications",
    "sse.name_list",
    "webhook.ping",
    "webhook.retry",
    "webhook.signatures",
    "webhook.event_header",
    "webhook.terminal",
    "download.zip",
    "download.zip_expiry",
    "isolation.job_status",
    "isolation.job_results",
    "isolation.download",
    "isolation.identity",
    "isolation.project_list",
    "isolation.notifications",
    "isolation.notification_delete",
    "isolation.foreign_inputs",
    "isolation.sse",
    "rules.anchor_index_equal_to_instruction_count",
    "rules.width_without_height",
    "rules.width_not_a_multiple_of_8",
    "rules.width_below_256",
    "rules.height_above_7000",
    "rules.ratio_5_to_1",
    "rules.num_variations_9",
    "rules.num_variations_0",
    "rules.size_8k",
    "rules.ar_2_to_1",
    "rules.format_gif",
    "rules.model_unknown",
    "rules.no_instructions",
    "rules.eleven_instructions",
    "rules.no_images",
    "rules.eleven_images",
    "rules.repeated_image",
    "rules.missing_identity_code",
    "rules.unknown_file",
    "rules.unknown_identity",
    "rules.unknown_project",
    "rules.design_value_wrong_type",
    "rules.design_value_object_without_text",
    "rules.control_character_in_prompt",
    "rules.post_process_not_boolean",
    "rate_limit.sixth_job_request",
    "notifications.delete",
    "webhook.restored",
];

/// The checks of [`CHECKS`] from `first` to `last`, both included.
fn checks_between(first: &str, last: &str) -> &'static [&'static str] {
    let at = |n: &str| CHECKS.iter().position(|c| *c == n).unwrap_or_default();
    &CHECKS[at(first)..=at(last)]
}

/// The rule probes that need custom output dimensions.
const CUSTOM_SIZE_PROBES: &[&str] = &[
    "rules.width_without_height",
    "rules.width_not_a_multiple_of_8",
    "rules.width_below_256",
    "rules.height_above_7000",
    "rules.ratio_5_to_1",
];

/// An image to upload.
#[derive(Debug, Clone)]
pub struct Image {
    /// The file name sent.
    pub filename: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// A second account, for the isolation checks.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// A bearer token.
    Token(String),
    /// E-mail and password for `POST /auth/login`.
    Login(String, String),
}

/// What the suite runs against and how.
#[derive(Debug, Clone)]
pub struct Config {
    /// Base URL (`http://127.0.0.1:8080`).
    pub base_url: String,
    /// The account under test.
    pub account: Credentials,
    /// A second account, for isolation; against the fake without one the
    /// second fixture account (`f2m_other_token`) is used.
    pub other: Option<Credentials>,
    /// Which promises the server is held to.
    pub profile: Profile,
    /// Extra headers on every API request (`X-Mock-Scenario: …`).
    pub headers: Vec<(String, String)>,
    /// How long a job may take.
    pub job_timeout: Duration,
    /// Pause between status polls (the vendor's clients poll "every few
    /// seconds"); against the fake the clock is moved by as much instead.
    pub poll_interval: Duration,
    /// Job requests sent per minute at most (the vendor allows 5).
    pub jobs_per_minute: usize,
    /// Billed jobs the suite may create (None: no limit).
    pub max_jobs: Option<u32>,
    /// Whether to check the rate limit (it creates 5 billed jobs).
    pub rate_limit_check: bool,
    /// Where the webhook listener binds (port 0: any); None: no webhooks.
    pub webhook_listen: Option<std::net::SocketAddr>,
    /// The URL registered for the listener, when the server must reach it
    /// under another address.
    pub webhook_url: Option<String>,
    /// How long to wait for webhook deliveries (and a retry).
    pub webhook_wait: Duration,
    /// The largest upload the server takes, when known (the oversize
    /// probe sends one byte more); the fake's default when it is the fake.
    pub max_upload_bytes: Option<usize>,
    /// How long the suite may wait for a link or token to expire on a
    /// server without the control API.
    pub max_expiry_wait: Duration,
    /// The identity photo.
    pub identity_image: Image,
    /// The flat-lay photo.
    pub sku_image: Image,
}

impl Config {
    /// A configuration with the documented defaults and the fixture images.
    pub fn new(base_url: &str, account: Credentials) -> Self {
        Self {
            base_url: base_url.to_owned(),
            account,
            other: None,
            profile: Profile::Vendor,
            headers: Vec::new(),
            job_timeout: Duration::from_secs(600),
            poll_interval: Duration::from_secs(3),
            jobs_per_minute: 4,
            max_jobs: None,
            rate_limit_check: true,
            webhook_listen: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
            webhook_url: None,
            webhook_wait: Duration::from_secs(120),
            max_upload_bytes: None,
            max_expiry_wait: Duration::from_secs(60),
            identity_image: Image {
                filename: "identity.jpg".into(),
                bytes: IDENTITY_JPG.to_vec(),
            },
            sku_image: Image {
                filename: "sku-shirt.jpg".into(),
                bytes: SHIRT_JPG.to_vec(),
            },
        }
    }
}

/// Why a run could not judge the server.
#[derive(Debug)]
pub enum RunError {
    /// Bad flags or refused credentials (exit code 2).
    Usage(String),
    /// The server cannot be reached (exit code 3).
    Unreachable(String),
}

/// The fake's largest upload by default (`--max-upload-bytes`).
const FAKE_MAX_UPLOAD: usize = 25 << 20;

/// One webhook delivery as received, and what the listener answered.
#[derive(Debug, Clone)]
struct Delivery {
    headers: axum::http::HeaderMap,
    body: bytes::Bytes,
    answered: u16,
}

/// The listener's log: it answers 500 to the first delivery (the retry
/// check), 204 to every other.
#[derive(Debug, Default)]
struct Hooks {
    seen: Mutex<Vec<Delivery>>,
    arrived: tokio::sync::Notify,
}

async fn listen(addr: std::net::SocketAddr) -> Outcome<(Arc<Hooks>, std::net::SocketAddr)> {
    let hooks = Arc::new(Hooks::default());
    let h = hooks.clone();
    let handler = move |headers: axum::http::HeaderMap, body: bytes::Bytes| {
        let h = h.clone();
        async move {
            let mut seen = h.seen.lock().unwrap_or_else(|e| e.into_inner());
            let answered = if seen.is_empty() { 500 } else { 204 };
            seen.push(Delivery {
                headers,
                body,
                answered,
            });
            drop(seen);
            h.arrived.notify_waiters();
            axum::http::StatusCode::from_u16(answered).unwrap_or(axum::http::StatusCode::NO_CONTENT)
        }
    };
    let router = axum::Router::new().fallback(axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok((hooks, local))
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`, compared in constant time.
pub(crate) fn signature_ok(secret: &str, body: &[u8], header: &str) -> bool {
    use hmac::Mac;
    let Some(sig) = header.strip_prefix("sha256=").and_then(|h| hex::decode(h).ok()) else {
        return false;
    };
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// Whether `url` names this machine (`localhost`, `127.x`, `[::1]`).
fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Seconds since 1970 of an RFC 3339 time (`2026-01-01T00:15:00Z`,
/// fractions and offsets allowed).
pub fn rfc3339_secs(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        rest = frac.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (o.get(1..3)?.parse::<i64>().ok()? * 3600 + o.get(4..6)?.parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss - offset)
}

/// An HTTP answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: String,
    headers: reqwest::header::HeaderMap,
    body: bytes::Bytes,
}

impl Answer {
    fn snippet(&self) -> String {
        String::from_utf8_lossy(&self.body).chars().take(200).collect()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

type Outcome<T> = Result<T, String>;

/// Time as the suite sees it: moved by the control API, or waited.
#[derive(Debug, Default)]
struct Pace {
    /// How far the suite moved the server's clock.
    advanced: Duration,
    /// When each job request went out (on the suite's clock).
    posts: VecDeque<Duration>,
    /// Billed jobs created.
    billed: u32,
}

/// One output the main job orders.
#[derive(Debug, Clone)]
struct Order {
    variations: u32,
    size: (u32, u32),
    format: &'static str,
    custom: bool,
}

struct Suite<'a> {
    cfg: &'a Config,
    http: reqwest::Client,
    token: String,
    other: Option<String>,
    /// The fake's control API answers: time is moved, not waited for.
    control: bool,
    manual_clock: bool,
    started: Instant,
    pace: Mutex<Pace>,
    results: Vec<CheckResult>,
    outcomes: Vec<String>,
    progress: &'a (dyn Fn(&str) + Sync),
}

impl Suite<'_> {
    /// Runs one named check and records it.
    async fn check<T>(&mut self, name: &str, f: impl AsyncFnOnce(&Self) -> Outcome<T>) -> Option<T> {
        (self.progress)(name);
        let started = Instant::now();
        let out = f(self).await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (status, message, value) = match out {
            Ok(v) => (Status::Passed, String::new(), Some(v)),
            Err(m) => (Status::Failed, m, None),
        };
        self.record(name, status, message, duration_ms);
        value
    }

    /// Records a check that was not run, and why.
    fn skip(&mut self, name: &str, why: &str) {
        self.record(name, Status::Skipped, why.to_owned(), 0);
    }

    fn record(&mut self, name: &str, status: Status, message: String, duration_ms: u64) {
        debug_assert!(CHECKS.contains(&name), "{name} is not in CHECKS");
        debug_assert!(!self.results.iter().any(|r| r.name == name), "{name} is recorded twice");
        self.results.push(CheckResult {
            name: name.to_owned(),
            status,
            message,
            duration_ms,
        });
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.cfg.base_url.trim_end_matches('/'))
        }
    }

    fn pace(&self) -> std::sync::MutexGuard<'_, Pace> {
        self.pace.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The suite's clock: the server's under a manual clock, else real
    /// time plus every jump it made.
    fn now(&self) -> Duration {
        let advanced = self.pace().advanced;
        if self.manual_clock {
            advanced
        } else {
            self.started.elapsed() + advanced
        }
    }

    /// Lets `d` pass: the fake's clock is moved; a real server is waited for.
    async fn wait(&self, d: Duration) -> Outcome<()> {
        if d.is_zero() {
            return Ok(());
        }
        if self.control {
            let ms = d.as_millis().max(1);
            let a = self
                .send(
                    self.http
                        .post(self.url("/__admin/clock"))
                        .json(&json!({"advance": format!("{ms}ms")})),
                )
                .await?;
            if a.status != 200 {
                return Err(format!("POST /__admin/clock answered {} {}", a.status, a.snippet()));
            }
            self.pace().advanced += d;
        } else {
            tokio::time::sleep(d).await;
        }
        Ok(())
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Outcome<Answer> {
        let res = req.send().await.map_err(|e| format!("request failed: {e}"))?;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = res.bytes().await.map_err(|e| format!("reading the body failed: {e}"))?;
        Ok(Answer {
            status,
            content_type,
            headers,
            body,
        })
    }

    /// A request with `auth` (a raw `Authorization` value) and the extra
    /// headers.
    fn request(&self, method: Method, path: &str, auth: Option<&str>) -> reqwest::RequestBuilder {
        let mut req = self.http.request(method, self.url(path));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        for (k, v) in &self.cfg.headers {
            req = req.header(k, v);
        }
        req
    }

    /// An API request as `token`, waiting out a 429 (never a pass).
    async fn api_as(&self, token: &str, method: Method, path: &str, body: Option<&Value>) -> Outcome<Answer> {
        let auth = format!("Bearer {token}");
        let mut attempt = 0;
        loop {
            let mut req = self.request(method.clone(), path, Some(&auth));
            if let Some(b) = body {
                req = req.json(b);
            }
            let a = self.send(req).await?;
            if a.status != 429 || attempt >= 6 {
                return Ok(a);
            }
            self.wait(self.backoff(&a, attempt)).await?;
            attempt += 1;
        }
    }

    async fn api(&self, method: Method, path: &str, body: Option<&Value>) -> Outcome<Answer> {
        self.api_as(&self.token, method, path, body).await
    }

    /// How long to wait after a 429: its `Retry-After` when given, else
    /// the vendor clients' backoff (1, 2, 4, 8, 16 s…, at most 60 s).
    fn backoff(&self, a: &Answer, attempt: u32) -> Duration {
        let secs = a
            .header("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(1 << attempt.min(6));
        Duration::from_secs(secs.clamp(1, 60))
    }

    /// `POST /flat-2-model` as `token`, paced under `jobs_per_minute`
    /// (every request counts: a server may count refused ones too) and
    /// retried after a 429.
    async fn post_job(&self, token: &str, body: &Value) -> Outcome<Answer> {
        let minute = Duration::from_secs(60);
        let mut attempt = 0;
        loop {
            let now = self.now();
            let due = {
                let mut p = self.pace();
                while p.posts.front().is_some_and(|t| now.saturating_sub(*t) > minute) {
                    p.posts.pop_front();
                }
                if p.posts.len() >= self.cfg.jobs_per_minute.max(1) {
                    p.posts.front().map(|t| *t + minute + Duration::from_secs(1) - now)
                } else {
                    p.posts.push_back(now);
                    None
                }
            };
            if let Some(d) = due {
                self.wait(d).await?;
                continue;
            }
            let a = self
                .send(
                    self.request(Method::POST, "/flat-2-model", Some(&format!("Bearer {token}")))
                        .json(body),
                )
                .await?;
            if a.status == 202 {
                self.pace().billed += 1;
            }
            if a.status != 429 || attempt >= 6 {
                return Ok(a);
            }
            self.wait(self.backoff(&a, attempt)).await?;
            attempt += 1;
        }
    }

    /// Whether `n` more billed jobs fit the budget.
    fn budget_allows(&self, n: u32) -> bool {
        self.cfg.max_jobs.is_none_or(|max| self.pace().billed + n <= max)
    }

    /// The JSON body checked against the vendor's `shape`; under strict
    /// also against the schema `schemas/` names for `method path status`.
    fn body(&self, shape: &str, method: &str, path: &str, a: &Answer) -> Outcome<Value> {
        let template = path.split('?').next().unwrap_or(path);
        let v: Value = serde_json::from_slice(&a.body)
            .map_err(|e| format!("{method} {template} {}: not JSON: {e}: {}", a.status, a.snippet()))?;
        vendor_shape(shape, &v).map_err(|errs| {
            let lines: Vec<String> = errs.iter().map(ToString::to_string).collect();
            format!("{method} {template} {}: {}", a.status, lines.join("; "))
        })?;
        if self.cfg.profile == Profile::Strict {
            strict_schema(method, template, a.status, &v)?;
        }
        Ok(v)
    }

    /// `a` has one of the statuses the profile accepts for `e`.
    fn expect(&self, what: &str, a: &Answer, e: Expect) -> Outcome<()> {
        expect_status(what, a, self.cfg.profile.statuses(e))
    }

    /// Under strict, a 4xx carries the error envelope (and a 401
    /// `WWW-Authenticate: Bearer`); the vendor shows these bodies empty.
    fn strict_error(&self, what: &str, a: &Answer) -> Outcome<()> {
        if !self.cfg.profile.error_bodies_everywhere() {
            return Ok(());
        }
        if a.status == 401 && !a.header("www-authenticate").is_some_and(|h| h.starts_with("Bearer")) {
            return Err(format!("{what}: a 401 without WWW-Authenticate: Bearer"));
        }
        let v: Value =
            serde_json::from_slice(&a.body).map_err(|_| format!("{what}: the {} has no JSON error body", a.status))?;
        Contract::global().validate("error.json", &v).map_err(|errs| {
            format!(
                "{what}: the {} body does not match error.json: {}",
                a.status,
                join(&errs)
            )
        })
    }

    fn id_prefix(&self, kind: &str, id: &str) -> Outcome<()> {
        match self.cfg.profile.id_prefix(kind) {
            Some(p) if !id.starts_with(p) => Err(format!("{kind} {id:?} does not start with {p}")),
            _ => Ok(()),
        }
    }

    /// Logs in with HTTP Basic.
    async fn login(&self, email: &str, password: &str) -> Result<String, RunError> {
        let a = self
            .send(
                self.http
                    .post(self.url("/auth/login"))
                    .basic_auth(email, Some(password)),
            )
            .await
            .map_err(RunError::Unreachable)?;
        if !(200..300).contains(&a.status) {
            return Err(RunError::Usage(format!(
                "POST /auth/login for {email} answered {}",
                a.status
            )));
        }
        serde_json::from_slice::<Value>(&a.body)
            .ok()
            .and_then(|v| v["token"].as_str().map(str::to_owned))
            .ok_or_else(|| RunError::Usage("POST /auth/login answered no token".into()))
    }

    async fn token_of(&self, c: &Credentials) -> Result<String, RunError> {
        match c {
            Credentials::Token(t) => Ok(t.clone()),
            Credentials::Login(e, p) => self.login(e, p).await,
        }
    }
}

fn join(errs: &[contract::Violation]) -> String {
    errs.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

fn strict_schema(method: &str, template: &str, status: u16, v: &Value) -> Outcome<()> {
    let c = Contract::global();
    let schema = c
        .response_schema(method, template, status)
        .ok_or_else(|| format!("{method} {template}: status {status} is not in schemas/openapi.yaml"))?;
    c.validate(&schema, v)
        .map_err(|errs| format!("{method} {template} {status} does not match {schema}: {}", join(&errs)))
}

fn expect_status(what: &str, a: &Answer, ok: &[u16]) -> Outcome<()> {
    if ok.contains(&a.status) {
        Ok(())
    } else {
        let never = if a.status == 429 {
            " (a 429 is never a pass)"
        } else {
            ""
        };
        Err(format!(
            "{what}: expected {ok:?}, got {}{never} {}",
            a.status,
            a.snippet()
        ))
    }
}

/// The task a notification is about (`id_task`, or `job_id`, as the
/// reference's loop reads it).
fn task_of(n: &Value) -> Option<&str> {
    n["data"]["id_task"].as_str().or_else(|| n["data"]["job_id"].as_str())
}

/// Checks a notification against the vendor's shape (and under strict,
/// `notification.json`).
fn notification_ok(profile: Profile, n: &Value) -> Outcome<()> {
    vendor_shape("notification", n).map_err(|e| format!("notification {}: {}", n["id"], join(&e)))?;
    if profile == Profile::Strict {
        Contract::global().validate("notification.json", n).map_err(|e| {
            format!(
                "notification {} does not match notification.json: {}",
                n["id"],
                join(&e)
            )
        })?;
    }
    Ok(())
}

/// The image format by its magic bytes.
fn magic(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("jpg")
    } else {
        None
    }
}

fn dimensions(bytes: &[u8]) -> Outcome<(u32, u32)> {
    let img = image::load_from_memory(bytes).map_err(|e| format!("not a decodable image: {e}"))?;
    Ok((img.width(), img.height()))
}

/// One blank-line-separated SSE message: its fields.
#[derive(Debug, Default)]
pub(crate) struct SseMessage {
    pub(crate) id: Option<String>,
    pub(crate) event: Option<String>,
    pub(crate) data: String,
}

/// Splits an SSE stream into messages; CRLF, CR and LF all end a line (the
/// SSE format allows each). Comments are dropped.
pub(crate) fn sse_messages(text: &str) -> Vec<SseMessage> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut m = SseMessage::default();
        let mut any = false;
        for line in block.lines() {
            if line.starts_with(':') || line.is_empty() {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            any = true;
            match field {
                "id" => m.id = Some(value.to_owned()),
                "event" => m.event = Some(value.to_owned()),
                "data" => {
                    if !m.data.is_empty() {
                        m.data.push('\n');
                    }
                    m.data.push_str(value);
                }
                _ => {}
            }
        }
        if any {
            out.push(m);
        }
    }
    out
}

/// What an SSE connection gave until `backfill_complete`.
#[derive(Debug)]
struct Sse {
    content_type: String,
    messages: Vec<SseMessage>,
}

/// Accepted field paths of a rule probe: the server may name the field or
/// a path under it.
fn names_field(v: &Value, fields: &[&str]) -> Outcome<()> {
    let named: Vec<&str> = v["detail"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["field"].as_str())
        .collect();
    let hit = named.iter().any(|n| {
        fields.iter().any(|f| {
            *n == *f
                || n.strip_prefix(f)
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        })
    });
    if hit {
        Ok(())
    } else {
        Err(format!("the error names {named:?}, not {}", fields.join(" or ")))
    }
}

/// Runs the suite; `progress` hears each check's name as it starts.
pub async fn run(cfg: &Config, progress: &(dyn Fn(&str) + Sync)) -> Result<RunReport, RunError> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| RunError::Usage(format!("cannot build the HTTP client: {e}")))?;
    let mut s = Suite {
        cfg,
        http,
        token: String::new(),
        other: None,
        control: false,
        manual_clock: false,
        started: Instant::now(),
        pace: Mutex::new(Pace::default()),
        results: Vec::new(),
        outcomes: Vec::new(),
        progress,
    };
    // Preflight: reachability, the control API, the credentials.
    let health = s
        .send(s.http.get(s.url("/__admin/health")))
        .await
        .map_err(|e| RunError::Unreachable(format!("{}: {e}", cfg.base_url)))?;
    s.control =
        health.status == 200 && serde_json::from_slice::<Value>(&health.body).is_ok_and(|v| v["status"] == "ok");
    if s.control {
        let clock = s
            .send(s.http.get(s.url("/__admin/clock")))
            .await
            .map_err(RunError::Unreachable)?;
        s.manual_clock = serde_json::from_slice::<Value>(&clock.body).is_ok_and(|v| v["mode"] == "manual");
    }
    s.token = s.token_of(&cfg.account).await?;
    let who = s
        .api(Method::GET, "/project?per_page=1", None)
        .await
        .map_err(RunError::Unreachable)?;
    if who.status == 401 || who.status == 403 {
        return Err(RunError::Usage(format!(
            "the account's credentials are refused ({})",
            who.status
        )));
    }
    let other = match (&cfg.other, s.control) {
        (Some(c), _) => Some(s.token_of(c).await?),
        // The fake's second fixture account (README, "Fixture accounts").
        (None, true) => Some("f2m_other_token".to_owned()),
        (None, false) => None,
    };
    if let Some(o) = &other {
        if *o == s.token {
            return Err(RunError::Usage("the second account's token is the first one's".into()));
        }
        let a = s
            .api_as(o, Method::GET, "/project?per_page=1", None)
            .await
            .map_err(RunError::Unreachable)?;
        if a.status == 200 {
            s.other = other;
        } else {
            s.outcomes.push(format!(
                "the second account's token is refused ({}): isolation checks skipped",
                a.status
            ));
        }
    }
    flow(&mut s).await;
    Ok(finish(s.results, s.outcomes))
}

/// Puts the results in [`CHECKS`] order, each exactly once.
fn finish(mut results: Vec<CheckResult>, outcomes: Vec<String>) -> RunReport {
    let mut checks = Vec::with_capacity(CHECKS.len());
    for name in CHECKS {
        match results.iter().position(|r| r.name == *name) {
            Some(i) => checks.push(results.swap_remove(i)),
            None => checks.push(CheckResult {
                name: (*name).to_owned(),
                status: Status::Skipped,
                message: "not reached".into(),
                duration_ms: 0,
            }),
        }
    }
    RunReport { checks, outcomes }
}

async fn flow(s: &mut Suite<'_>) {
    let hooks = webhook_register(s).await;
    let identity = identity_checks(s).await;
    let project = project_checks(s).await;
    let file = upload_checks(s).await;
    storage_negatives(s).await;

    let (Some(code), Some(project), Some(file)) = (identity, project, file) else {
        let why = "needs an identity, a project and an uploaded file (identity.upload, project.create, upload.put)";
        for name in CHECKS.iter().filter(|n| {
            n.starts_with("job.")
                || n.starts_with("results.")
                || n.starts_with("images.")
                || n.starts_with("events.")
                || n.starts_with("sse.")
                || n.starts_with("isolation.")
                || n.starts_with("rules.")
                || **n == "download.zip"
                || **n == "notifications.poll"
                || **n == "notifications.delete"
                || **n == "rate_limit.sixth_job_request"
        }) {
            s.skip(name, why);
        }
        // What does not need them still runs.
        auth_checks(s, None).await;
        webhook_finish_deliveries(s, hooks.as_ref(), None).await;
        expiry_checks(s, None).await;
        webhook_finish(s, hooks).await;
        return;
    };
    let base = json!({"identity_code": code, "project_id": project, "images": [file]});
    let job = job_checks(s, &base).await;
    let job_id = job.as_ref().map(|j| j.id.clone());
    auth_checks(s, job_id.as_deref()).await;
    webhook_finish_deliveries(s, hooks.as_ref(), job_id.as_deref()).await;
    let zip = download_checks(s, job.as_ref()).await;
    isolation_checks(s, job.as_ref(), &code, &project, &base).await;
    probe_rules(s, &base, job.as_ref().map(|j| j.custom_sizes)).await;
    rate_limit_check(s, &base).await;
    expiry_checks(s, zip).await;
    cleanup(s, job_id.as_deref()).await;
    webhook_finish(s, hooks).await;
}

/// Each kind of bad token on the account's project list and, once there is
/// a job, on its status and results: a gateway that checks tokens on some
/// routes only is caught on the others.
async fn auth_checks(s: &mut Suite<'_>, job: Option<&str>) {
    let mut paths = vec!["/project".to_owned()];
    paths.extend(
        job.iter()
            .flat_map(|id| [format!("/jobs/{id}/status"), format!("/jobs/{id}/results")]),
    );
    for (name, auth) in [
        ("auth.missing_token", None),
        ("auth.malformed_token", Some("Bearer not a token".to_owned())),
        (
            "auth.unknown_token",
            Some(format!("Bearer contract-tests-unknown-{}", std::process::id())),
        ),
    ] {
        s.check(name, async |s| {
            for path in &paths {
                let what = format!("GET {path}");
                let a = s.send(s.request(Method::GET, path, auth.as_deref())).await?;
                expect_status(&what, &a, &[401])?;
                s.strict_error(&what, &a)?;
            }
            Ok(())
        })
        .await;
    }
}

/// The listener, its URL, the secret and the account's webhook before.
struct Hook {
    hooks: Arc<Hooks>,
    secret: String,
    previous: Option<String>,
    url: String,
}

async fn webhook_register(s: &mut Suite<'_>) -> Option<Hook> {
    let Some(addr) = s.cfg.webhook_listen else {
        for n in CHECKS.iter().filter(|n| n.starts_with("webhook.")) {
            s.skip(n, "webhooks are off (--no-webhooks)");
        }
        return None;
    };
    if s.cfg.webhook_url.is_none() && addr.ip().is_loopback() && !is_loopback_url(&s.cfg.base_url) {
        for n in CHECKS.iter().filter(|n| n.starts_with("webhook.")) {
            s.skip(
                n,
                "a remote server cannot reach a listener on this machine's loopback: give --webhook-listen and --webhook-url (a tunnel), or --no-webhooks",
            );
        }
        return None;
    }
    s.check("webhook.register", async |s| {
        let before = s.api(Method::GET, "/webhooks", None).await?;
        let previous = if before.status == 200 {
            serde_json::from_slice::<Value>(&before.body)
                .ok()
                .and_then(|v| v["url"].as_str().map(str::to_owned))
        } else {
            None
        };
        let (hooks, local) = listen(addr).await?;
        let url = s
            .cfg
            .webhook_url
            .clone()
            .unwrap_or_else(|| format!("http://{local}/hook"));
        let a = s.api(Method::PUT, "/webhooks", Some(&json!({"url": url}))).await?;
        expect_status("PUT /webhooks", &a, &[200, 201])?;
        let v = s.body("webhook", "PUT", "/webhooks", &a)?;
        let secret = v["secret"].as_str().unwrap_or_default().to_owned();
        Ok(Hook {
            hooks,
            secret,
            previous,
            url,
        })
    })
    .await
}

async fn identity_checks(s: &mut Suite<'_>) -> Option<String> {
    let upload = async |s: &Suite<'_>| {
        let img = &s.cfg.identity_image;
        let form = reqwest::multipart::Form::new()
            .part(
                "image",
                reqwest::multipart::Part::bytes(img.bytes.clone()).file_name(img.filename.clone()),
            )
            .text("name", "contract-tests model");
        s.send(
            s.request(Method::POST, "/identity/upload", Some(&format!("Bearer {}", s.token)))
                .multipart(form),
        )
        .await
    };
    let code = s
        .check("identity.upload", async |s| {
            let a = upload(s).await?;
            if a.status == 409 {
                let v = s.body("identity-conflict", "POST", "/identity/upload", &a)?;
                return Ok(v["existing_identity_code"].as_str().unwrap_or_default().to_owned());
            }
            s.expect("POST /identity/upload", &a, Expect::IdentityUploaded)?;
            let v = s.body("identity-upload", "POST", "/identity/upload", &a)?;
            let code = v["identity_code"].as_str().unwrap_or_default().to_owned();
            s.id_prefix("identity_code", &code)?;
            Ok(code)
        })
        .await;
    let Some(code) = code else {
        s.skip("identity.get", "identity.upload failed");
        s.skip("identity.conflict", "identity.upload failed");
        return None;
    };
    s.check("identity.get", async |s| {
        let path = format!("/identity/{code}");
        let a = s.api(Method::GET, &path, None).await?;
        expect_status(&format!("GET {path}"), &a, &[200])?;
        let v: Value = serde_json::from_slice(&a.body).map_err(|e| format!("not JSON: {e}"))?;
        if s.cfg.profile == Profile::Strict {
            strict_schema("GET", &path, 200, &v)?;
        }
        if v["identity_code"] != code.as_str() {
            return Err(format!("identity_code is {}, not {code}", v["identity_code"]));
        }
        Ok(())
    })
    .await;
    let outcome = s
        .check("identity.conflict", async |s| {
            let a = upload(s).await?;
            if a.status == 409 {
                let v = s.body("identity-conflict", "POST", "/identity/upload", &a)?;
                if v["existing_identity_code"] != code.as_str() {
                    return Err(format!("the 409 names {}, not {code}", v["existing_identity_code"]));
                }
                return Ok(None);
            }
            if s.cfg.profile == Profile::Strict {
                return Err(format!("the same image again: expected 409, got {}", a.status));
            }
            s.expect("POST /identity/upload", &a, Expect::IdentityUploaded)?;
            Ok(Some(format!(
                "the same identity image uploaded twice was accepted again ({})",
                a.status
            )))
        })
        .await;
    if let Some(Some(note)) = outcome {
        s.outcomes.push(note);
    }
    Some(code)
}

/// Finds the project `name` in `GET /project?per_page=100`: its
/// `project_id`, else its `project_key` (the vendor's client does this).
async fn find_project(s: &Suite<'_>, token: &str, name: &str) -> Outcome<Option<String>> {
    let a = s.api_as(token, Method::GET, "/project?per_page=100", None).await?;
    expect_status("GET /project", &a, &[200])?;
    let v = s.body("project-list", "GET", "/project", &a)?;
    Ok(v["projects"].as_array().into_iter().flatten().find_map(|p| {
        (p["project_text"] == name || p["project_name"] == name)
            .then(|| p["project_id"].as_str().or_else(|| p["project_key"].as_str()))
            .flatten()
            .map(str::to_owned)
    }))
}

async fn project_checks(s: &mut Suite<'_>) -> Option<String> {
    let create = async |s: &Suite<'_>| {
        s.api(Method::POST, "/project", Some(&json!({"project_name": PROJECT})))
            .await
    };
    // A 409 may carry `project_id`; without it, the list has it.
    let from_conflict = async |s: &Suite<'_>, a: &Answer| -> Outcome<String> {
        let v: Value = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
        if s.cfg.profile == Profile::Strict {
            strict_schema("POST", "/project", 409, &v)?;
        }
        match v.get("project_id") {
            Some(Value::String(id)) => Ok(id.clone()),
            Some(other) if !other.is_null() => Err(format!("the 409's project_id is {other}")),
            _ => find_project(s, &s.token, PROJECT)
                .await?
                .ok_or_else(|| format!("a 409 for {PROJECT:?}, but GET /project does not list it")),
        }
    };
    let id = s
        .check("project.create", async |s| {
            let a = create(s).await?;
            if a.status == 409 {
                return from_conflict(s, &a).await;
            }
            s.expect("POST /project", &a, Expect::ProjectCreated)?;
            let v = s.body("project-create", "POST", "/project", &a)?;
            if v["project_name"] != PROJECT {
                return Err(format!("project_name is {}", v["project_name"]));
            }
            Ok(v["project_id"].as_str().unwrap_or_default().to_owned())
        })
        .await;
    let Some(id) = id else {
        s.skip("project.conflict", "project.create failed");
        s.skip("project.list", "project.create failed");
        return None;
    };
    s.check("project.conflict", async |s| {
        let a = create(s).await?;
        expect_status("POST /project with an existing name", &a, &[409])?;
        let again = from_conflict(s, &a).await?;
        if again == id {
            Ok(())
        } else {
            Err(format!("the 409 leads to project {again}, not {id}"))
        }
    })
    .await;
    s.check("project.list", async |s| {
        match find_project(s, &s.token, PROJECT).await? {
            Some(found) if found == id => Ok(()),
            Some(found) => Err(format!("GET /project lists {PROJECT:?} as {found}, not {id}")),
            None => Err(format!("GET /project does not list {PROJECT:?}")),
        }
    })
    .await;
    Some(id)
}

/// `POST /upload` for `filename`.
async fn presign(s: &Suite<'_>, filename: &str) -> Outcome<Value> {
    let a = s
        .api(
            Method::POST,
            "/upload",
            Some(&json!({"project_name": PROJECT, "filename": filename})),
        )
        .await?;
    s.expect("POST /upload", &a, Expect::UploadPresigned)?;
    let v = s.body("upload", "POST", "/upload", &a)?;
    if s.cfg.profile.upload_expires_required() && v.get("expires").is_none_or(Value::is_null) {
        return Err("POST /upload: no expires".into());
    }
    s.id_prefix("file_id", v["file_id"].as_str().unwrap_or_default())?;
    Ok(v)
}

async fn put(s: &Suite<'_>, url: &str, content_type: &str, body: Vec<u8>) -> Outcome<Answer> {
    s.send(s.http.put(url).header("content-type", content_type).body(body))
        .await
}

async fn upload_checks(s: &mut Suite<'_>) -> Option<String> {
    let sku = s.cfg.sku_image.clone();
    let up = s
        .check("upload.presign", async |s| presign(s, &sku.filename).await)
        .await;
    let Some(up) = up else {
        s.skip("upload.put", "upload.presign failed");
        s.skip("upload.download_matches", "upload.presign failed");
        return None;
    };
    let put_ok = s
        .check("upload.put", async |s| {
            let url = up["upload_url"].as_str().unwrap_or_default();
            let ct = up["content_type"].as_str().unwrap_or_default();
            let a = put(s, url, ct, sku.bytes.clone()).await?;
            s.expect("PUT upload_url", &a, Expect::PutAccepted)
        })
        .await;
    if put_ok.is_none() {
        s.skip("upload.download_matches", "upload.put failed");
        return None;
    }
    s.check("upload.download_matches", async |s| {
        let url = up["download_url"].as_str().unwrap_or_default();
        let a = s.send(s.http.get(url)).await?;
        expect_status("GET download_url", &a, &[200])?;
        if a.body.as_ref() == sku.bytes.as_slice() {
            Ok(())
        } else {
            Err(format!("download_url returned {} other bytes", a.body.len()))
        }
    })
    .await;
    up["file_id"].as_str().map(str::to_owned)
}

/// Refused pre-signed PUTs: a Content-Type other than the signed one, an
/// altered signature, a body over the limit. (The expired URL is checked
/// with the other expiries, at the end.)
async fn storage_negatives(s: &mut Suite<'_>) {
    let sku = s.cfg.sku_image.clone();
    s.check("storage.wrong_content_type", async |s| {
        let up = presign(s, &sku.filename).await?;
        let ct = up["content_type"].as_str().unwrap_or_default();
        let wrong = if ct == "image/png" { "image/jpeg" } else { "image/png" };
        let a = put(
            s,
            up["upload_url"].as_str().unwrap_or_default(),
            wrong,
            sku.bytes.clone(),
        )
        .await?;
        s.expect(
            &format!("PUT upload_url signed for {ct} with Content-Type {wrong}"),
            &a,
            Expect::PutWrongType,
        )
    })
    .await;
    s.check("storage.forged_signature", async |s| {
        let up = presign(s, &sku.filename).await?;
        let url = up["upload_url"].as_str().unwrap_or_default();
        let forged = forge(url);
        let a = put(
            s,
            &forged,
            up["content_type"].as_str().unwrap_or_default(),
            sku.bytes.clone(),
        )
        .await?;
        s.expect("PUT to an altered upload_url", &a, Expect::PutForged)
    })
    .await;
    let limit = s.cfg.max_upload_bytes.or(s.control.then_some(FAKE_MAX_UPLOAD));
    match limit {
        Some(limit) => {
            s.check("storage.oversize", async |s| {
                let up = presign(s, &sku.filename).await?;
                let mut body = sku.bytes.clone();
                body.resize(limit + 1, 0);
                let a = put(
                    s,
                    up["upload_url"].as_str().unwrap_or_default(),
                    up["content_type"].as_str().unwrap_or_default(),
                    body,
                )
                .await?;
                s.expect(&format!("PUT of {} bytes", limit + 1), &a, Expect::PutTooLarge)
            })
            .await;
        }
        None => s.skip(
            "storage.oversize",
            "the vendor documents no upload size limit: give --max-upload-bytes to probe one",
        ),
    }
}

/// The URL with the last character of its signature changed.
fn forge(url: &str) -> String {
    let mut chars: Vec<char> = url.chars().collect();
    // The signature is the last query parameter of both S3 and the fake;
    // else the last character of the URL.
    let at = url
        .rfind("ignature=")
        .map(|i| url[..i + 9].chars().count())
        .filter(|i| *i < chars.len())
        .unwrap_or(chars.len().saturating_sub(1));
    if let Some(c) = chars.get_mut(at) {
        *c = if *c == 'a' { 'b' } else { 'a' };
    }
    chars.into_iter().collect()
}

/// The main job, as created and as finished.
struct Job {
    id: String,
    orders: Vec<Order>,
    custom_sizes: bool,
    total: u64,
    /// The finished job's results (None: it did not finish).
    results: Option<Value>,
}

async fn job_checks(s: &mut Suite<'_>, base: &Value) -> Option<Job> {
    // What needs the main job: the checks after job.create up to the SSE ones.
    let job_names = checks_between("job.total_outputs", "sse.name_list");
    if !s.budget_allows(1) {
        s.skip("job.create", "--max-jobs allows no billed job");
        for n in job_names {
            s.skip(n, "job.create was skipped");
        }
        return None;
    }
    // The vendor's two example instructions at 1K, one with variations, one
    // at 2K, and a custom size when the account has OUTPUT_CUSTOM_DIMENSIONS.
    let instructions = json!([
        {"pose": "standing front-facing", "expression": "neutral", "background": "white studio", "lighting": "soft",
         "camera": {"framing": "full body", "angle": "eye level"}, "options": {"size": "1K", "ar": "9:16", "format": "jpg"}},
        {"pose": "walking, mid-stride", "mood": "editorial", "lighting": "dramatic", "num_variations": 2,
         "camera": {"framing": "three-quarter", "angle": "low angle"}, "options": {"size": "1K", "ar": "3:4", "format": "png"}},
        {"background": "gym rooftop at golden hour", "options": {"size": "2K", "ar": "16:9", "format": "jpg"}},
        {"prompt": "a custom size", "options": {"width": 1000, "height": 600, "format": "png"}}
    ]);
    let mut orders = vec![
        Order {
            variations: 1,
            size: table_size("1K", "9:16").unwrap_or_default(),
            format: "jpg",
            custom: false,
        },
        Order {
            variations: 2,
            size: table_size("1K", "3:4").unwrap_or_default(),
            format: "png",
            custom: false,
        },
        Order {
            variations: 1,
            size: table_size("2K", "16:9").unwrap_or_default(),
            format: "jpg",
            custom: false,
        },
        Order {
            variations: 1,
            size: (1000, 600),
            format: "png",
            custom: true,
        },
    ];
    let created = s
        .check("job.create", async |s| {
            let mut body = base.clone();
            body["instructions"] = instructions.clone();
            body["options"] = json!({"model": "auto"});
            let mut a = s.post_job(&s.token, &body).await?;
            let mut custom = true;
            // An account without OUTPUT_CUSTOM_DIMENSIONS refuses the custom
            // size, naming it: order again without it.
            if a.status == 400
                && serde_json::from_slice::<Value>(&a.body).is_ok_and(|v| {
                    names_field(&v, &["instructions[3].options.width", "instructions[3].options.height"]).is_ok()
                })
            {
                custom = false;
                body["instructions"].as_array_mut().map(Vec::pop);
                a = s.post_job(&s.token, &body).await?;
            }
            s.expect("POST /flat-2-model", &a, Expect::JobCreated)?;
            let v = s.body("job-create", "POST", "/flat-2-model", &a)?;
            let id = v["job_id"].as_str().unwrap_or_default().to_owned();
            s.id_prefix("job_id", &id)?;
            Ok((id, custom, v["total_outputs"].clone()))
        })
        .await;
    let Some((id, custom_sizes, total_outputs)) = created else {
        for n in job_names {
            s.skip(n, "job.create failed");
        }
        return None;
    };
    if !custom_sizes {
        orders.pop();
        s.outcomes
            .push("the account has no OUTPUT_CUSTOM_DIMENSIONS policy: custom sizes are not checked".into());
    }
    let total: u64 = orders.iter().map(|o| u64::from(o.variations)).sum();
    s.check("job.total_outputs", async |_| {
        if total_outputs == total {
            Ok(())
        } else {
            Err(format!(
                "total_outputs is {total_outputs}, not {total} (the sum of num_variations)"
            ))
        }
    })
    .await;
    let mut job = Job {
        id,
        orders,
        custom_sizes,
        total,
        results: None,
    };
    let polled = s.check("job.status", async |s| poll(s, &job.id, total).await).await;
    let finished = match polled {
        Some(progress) => {
            s.check("job.progress", async |_| {
                let mut last = 0.0;
                for (p, processed, all) in &progress {
                    if !(0.0..=100.0).contains(p) {
                        return Err(format!("progress {p} is not within 0-100"));
                    }
                    if *p < last {
                        return Err(format!("progress went back from {last} to {p}"));
                    }
                    // The reference's example: progress 50.0 at 1 of 2.
                    let expected = *processed as f64 * 100.0 / (*all).max(1) as f64;
                    if (p - expected).abs() > 1.0 {
                        return Err(format!(
                            "progress {p} at {processed} of {all} processed (expected {expected:.1})"
                        ));
                    }
                    last = *p;
                }
                if last < 100.0 - 1e-6 {
                    return Err(format!("the completed job's progress is {last}, not 100"));
                }
                Ok(())
            })
            .await;
            true
        }
        None => {
            s.skip("job.progress", "job.status failed");
            false
        }
    };
    if finished {
        job.results = result_checks(s, &job).await;
    } else {
        for n in checks_between("job.results", "results.summary") {
            s.skip(n, "job.status failed");
        }
    }
    match &job.results {
        Some(r) => image_checks(s, &job, r).await,
        None => {
            for n in job_names.iter().filter(|n| n.starts_with("images.")) {
                s.skip(n, "job.results failed");
            }
        }
    }
    event_checks(s, &job, finished).await;
    Some(job)
}

/// Polls the status until a final state: each poll's (progress,
/// processed, total). A 404 right after creation is retried (the vendor's
/// clients do); a 429 is waited out.
async fn poll(s: &Suite<'_>, job: &str, total: u64) -> Outcome<Vec<(f64, u64, u64)>> {
    let path = format!("/jobs/{job}/status");
    let deadline = s.now() + s.cfg.job_timeout;
    let mut seen = Vec::new();
    let mut early_404s = 0;
    loop {
        let a = s.api(Method::GET, &path, None).await?;
        if a.status == 404 && seen.is_empty() && early_404s < 5 && s.cfg.profile == Profile::Vendor {
            early_404s += 1;
        } else if a.status >= 500 {
            // A server hiccup is not the contract: poll again.
        } else {
            expect_status(&format!("GET {path}"), &a, &[200])?;
            let v = s.body("job-status", "GET", &path, &a)?;
            if v["job_id"] != job {
                return Err(format!("job_id is {}, not {job}", v["job_id"]));
            }
            let all = v["total_images"].as_u64().unwrap_or_default();
            let processed = v["processed_images"].as_u64().unwrap_or_default();
            if all != total {
                return Err(format!("total_images is {all}, not {total} (the outputs ordered)"));
            }
            if processed > all {
                return Err(format!("processed_images {processed} > total_images {all}"));
            }
            seen.push((v["progress"].as_f64().unwrap_or(-1.0), processed, all));
            match v["status"].as_str() {
                Some("completed") => return Ok(seen),
                Some(st @ ("failed" | "aborted")) => {
                    return Err(format!("the job ended {st}: {}", v["error_message"]));
                }
                _ => {}
            }
        }
        if s.now() > deadline {
            return Err(format!("not finished after {:?}", s.cfg.job_timeout));
        }
        s.wait(s.cfg.poll_interval).await?;
    }
}

async fn result_checks(s: &mut Suite<'_>, job: &Job) -> Option<Value> {
    let r = s
        .check("job.results", async |s| {
            let path = format!("/jobs/{}/results", job.id);
            let a = s.api(Method::GET, &path, None).await?;
            expect_status(&format!("GET {path}"), &a, &[200])?;
            let v = s.body("job-results", "GET", &path, &a)?;
            let n = v["results"].as_array().map_or(0, Vec::len) as u64;
            if n != job.total {
                return Err(format!("{n} results, not {} (one per output)", job.total));
            }
            Ok(v)
        })
        .await;
    let Some(r) = r else {
        for n in checks_between("results.unique_indices", "results.summary") {
            s.skip(n, "job.results failed");
        }
        return None;
    };
    let list: Vec<Value> = r["results"].as_array().cloned().unwrap_or_default();
    s.check("results.unique_indices", async |_| {
        let mut seen = BTreeSet::new();
        for x in &list {
            let key = (x["image_index"].as_u64(), x["group_index"].as_u64());
            if !seen.insert(key) {
                return Err(format!("(image_index, group_index) {key:?} appears twice"));
            }
        }
        Ok(())
    })
    .await;
    s.check("results.per_instruction", async |_| {
        for (i, o) in job.orders.iter().enumerate() {
            let groups: BTreeSet<u64> = list
                .iter()
                .filter(|x| x["image_index"].as_u64() == Some(i as u64))
                .filter_map(|x| x["group_index"].as_u64())
                .collect();
            let want: BTreeSet<u64> = (0..u64::from(o.variations)).collect();
            if groups != want {
                return Err(format!(
                    "instruction {i} ordered {} variations; group_index {groups:?}",
                    o.variations
                ));
            }
        }
        Ok(())
    })
    .await;
    let refusals = s
        .check("results.outputs", async |_| {
            let mut refusals = Vec::new();
            for x in &list {
                let at = format!("result ({}, {})", x["image_index"], x["group_index"]);
                match x["status"].as_str() {
                    Some("completed") => {
                        for k in ["full_size", "thumbnail"] {
                            if x["output"][k].as_str().is_none_or(str::is_empty) {
                                return Err(format!("{at} is completed without output.{k}"));
                            }
                        }
                    }
                    // A per-output refusal while the job completes is an
                    // outcome (reference lines 562-567), not a failure.
                    Some("failed") => match x["error_message"].as_str() {
                        Some(m) if !m.is_empty() => refusals.push(format!("{at} failed: {m}")),
                        _ => return Err(format!("{at} failed without error_message")),
                    },
                    other => return Err(format!("{at} has status {other:?} in a completed job")),
                }
            }
            if refusals.len() == list.len() {
                return Err("every output failed, yet the job is completed".into());
            }
            Ok(refusals)
        })
        .await;
    s.outcomes.extend(refusals.into_iter().flatten());
    // `summary` is "Job statistics" in the reference (lines 470-472); its
    // counts, where given, agree with the results (vendor-facts.md names
    // total_images, successful, failed).
    let summary = r["summary"].clone();
    s.check("results.summary", async |_| {
        let count = |st: &str| list.iter().filter(|x| x["status"] == st).count() as u64;
        for (field, want) in [
            ("total_images", job.total),
            ("successful", count("completed")),
            ("failed", count("failed")),
        ] {
            if let Some(got) = summary.get(field).filter(|v| !v.is_null())
                && got.as_u64() != Some(want)
            {
                return Err(format!("summary.{field} is {got}, the results say {want}"));
            }
        }
        Ok(())
    })
    .await;
    Some(r)
}

/// One fetched output image.
struct Fetched {
    order: Order,
    at: String,
    full: Answer,
    thumb: Answer,
}

async fn image_checks(s: &mut Suite<'_>, job: &Job, r: &Value) {
    let list: Vec<Value> = r["results"].as_array().cloned().unwrap_or_default();
    let fetched = s
        .check("images.download", async |s| {
            // All at once: a server may render each image on first request.
            let fetches = list.iter().filter(|x| x["status"] == "completed").map(async |x| {
                let i = x["image_index"].as_u64().unwrap_or(u64::MAX) as usize;
                let order = job
                    .orders
                    .get(i)
                    .cloned()
                    .ok_or_else(|| format!("image_index {i} was not ordered"))?;
                let at = format!("output ({}, {})", x["image_index"], x["group_index"]);
                let get = async |k: &str| -> Outcome<Answer> {
                    let url = x["output"][k].as_str().unwrap_or_default();
                    // The vendor's clients download without an auth header.
                    let a = s.send(s.http.get(url)).await?;
                    expect_status(&format!("GET {at} {k}"), &a, &[200])?;
                    Ok(a)
                };
                let (full, thumb) = futures_util::join!(get("full_size"), get("thumbnail"));
                Ok::<_, String>(Fetched {
                    order,
                    at: at.clone(),
                    full: full?,
                    thumb: thumb?,
                })
            });
            futures_util::future::join_all(fetches)
                .await
                .into_iter()
                .collect::<Outcome<Vec<_>>>()
        })
        .await;
    let Some(fetched) = fetched else {
        for n in [
            "images.size_table",
            "images.custom_size",
            "images.format",
            "images.thumbnail",
        ] {
            s.skip(n, "images.download failed");
        }
        return;
    };
    let sizes = async |custom: bool| -> Outcome<()> {
        for f in fetched.iter().filter(|f| f.order.custom == custom) {
            let got = dimensions(&f.full.body).map_err(|e| format!("{} full_size: {e}", f.at))?;
            if got != f.order.size {
                return Err(format!(
                    "{} is {}x{}, ordered {}x{}",
                    f.at, got.0, got.1, f.order.size.0, f.order.size.1
                ));
            }
        }
        Ok(())
    };
    s.check("images.size_table", async |_| sizes(false).await).await;
    if job.custom_sizes {
        s.check("images.custom_size", async |_| sizes(true).await).await;
    } else {
        s.skip(
            "images.custom_size",
            "the account has no OUTPUT_CUSTOM_DIMENSIONS policy",
        );
    }
    s.check("images.format", async |_| {
        for f in &fetched {
            for (k, a) in [("full_size", &f.full), ("thumbnail", &f.thumb)] {
                let m = magic(&a.body).ok_or_else(|| format!("{} {k} is neither JPEG nor PNG", f.at))?;
                if k == "full_size" && m != f.order.format {
                    return Err(format!("{} {k} is {m}, ordered {}", f.at, f.order.format));
                }
                let ct = if m == "png" { "image/png" } else { "image/jpeg" };
                if !a.content_type.starts_with(ct) {
                    return Err(format!("{} {k} is {m} served as {:?}", f.at, a.content_type));
                }
            }
        }
        Ok(())
    })
    .await;
    let long_side = s.cfg.profile.thumbnail_long_side();
    s.check("images.thumbnail", async |_| {
        for f in &fetched {
            let (fw, fh) = dimensions(&f.full.body).map_err(|e| format!("{} full_size: {e}", f.at))?;
            let (tw, th) = dimensions(&f.thumb.body).map_err(|e| format!("{} thumbnail: {e}", f.at))?;
            if tw.max(th) >= fw.max(fh) {
                return Err(format!(
                    "{} thumbnail {tw}x{th} is not smaller than the output {fw}x{fh}",
                    f.at
                ));
            }
            // The same ratio, within the rounding of one pixel a side.
            let ratio = |w: u32, h: u32| f64::from(w) / f64::from(h);
            let slack = 2.0 / f64::from(tw.min(th).max(1));
            if (ratio(tw, th) / ratio(fw, fh) - 1.0).abs() > slack {
                return Err(format!("{} thumbnail {tw}x{th} has another ratio than {fw}x{fh}", f.at));
            }
            if let Some(l) = long_side
                && tw.max(th) != l
            {
                return Err(format!("{} thumbnail {tw}x{th}: long side is not {l}", f.at));
            }
        }
        Ok(())
    })
    .await;
}

async fn event_checks(s: &mut Suite<'_>, job: &Job, finished: bool) {
    let events = s
        .check("notifications.poll", async |s| {
            let a = s
                .api(Method::POST, "/notifications", Some(&json!({"id_task": [job.id]})))
                .await?;
            expect_status("POST /notifications", &a, &[200])?;
            let v: Value = serde_json::from_slice(&a.body).map_err(|e| format!("not JSON: {e}"))?;
            let list = v.as_array().cloned().ok_or("POST /notifications: not an array")?;
            for n in &list {
                notification_ok(s.cfg.profile, n)?;
                if task_of(n) != Some(job.id.as_str()) {
                    return Err(format!(
                        "notification {} is about {:?}, not {}",
                        n["id"],
                        task_of(n),
                        job.id
                    ));
                }
            }
            let terminal = list
                .iter()
                .filter(|n| n["name"] == "batch_edit" && n["data"]["status"] == "completed")
                .count();
            if finished && terminal != 1 {
                return Err(format!(
                    "{terminal} batch_edit notifications with status completed, not 1"
                ));
            }
            Ok(list)
        })
        .await;
    match &events {
        Some(list) => {
            s.check("events.progress", async |_| {
                let mut last = (0.0, 0);
                for n in list.iter().filter(|n| n["name"] == "batch_edit") {
                    let d = &n["data"];
                    let processed = d["processed_images"].as_u64().unwrap_or(last.1);
                    // `progress` is not in the reference's example event:
                    // checked where present.
                    let p = d["progress"].as_f64().unwrap_or(last.0);
                    if !(0.0..=100.0).contains(&p) || p < last.0 || processed < last.1 {
                        return Err(format!(
                            "notification {}: progress {p}, processed {processed} after {}, {}",
                            n["id"], last.0, last.1
                        ));
                    }
                    if let Some(all) = d["total_images"].as_u64()
                        && d.get("progress").is_some()
                        && (p - processed as f64 * 100.0 / all.max(1) as f64).abs() > 1.0
                    {
                        return Err(format!(
                            "notification {}: progress {p} at {processed} of {all}",
                            n["id"]
                        ));
                    }
                    last = (p, processed);
                }
                Ok(())
            })
            .await;
            s.check("events.image_results", async |_| {
                let n = list.iter().filter(|n| n["name"] == "image_result").count() as u64;
                if finished && n != job.total {
                    Err(format!(
                        "{n} image_result notifications, not {} (one per finished output)",
                        job.total
                    ))
                } else {
                    Ok(())
                }
            })
            .await;
        }
        None => {
            s.skip("events.progress", "notifications.poll failed");
            s.skip("events.image_results", "notifications.poll failed");
        }
    }
    sse_checks(s, job, events.as_deref()).await;
}

/// Reads `GET /notifications/events?QUERY` as `token` until
/// `backfill_complete`.
async fn sse_read(s: &Suite<'_>, token: &str, query: &str) -> Outcome<Sse> {
    let res = s
        .request(
            Method::GET,
            &format!("/notifications/events?{query}"),
            Some(&format!("Bearer {token}")),
        )
        .header("accept", "text/event-stream")
        .send()
        .await
        .map_err(|e| format!("connect failed: {e}"))?;
    if res.status() != 200 {
        return Err(format!("status {}", res.status()));
    }
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut stream = res.bytes_stream();
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let messages = sse_messages(&text);
        // Complete once a backfill_complete message is followed by a blank line.
        let normal = text.replace("\r\n", "\n").replace('\r', "\n");
        if let Some(i) = messages
            .iter()
            .position(|m| m.event.as_deref() == Some("backfill_complete"))
            && normal.split("\n\n").count() > i + 1
        {
            return Ok(Sse { content_type, messages });
        }
        let next = tokio::time::timeout_at(deadline, stream.next())
            .await
            .map_err(|_| "no backfill_complete within 20 s".to_owned())?;
        match next {
            Some(Ok(chunk)) => text.push_str(&String::from_utf8_lossy(&chunk)),
            Some(Err(e)) => return Err(format!("stream error: {e}")),
            None => {
                let messages = sse_messages(&text);
                return if messages.iter().any(|m| m.event.as_deref() == Some("backfill_complete")) {
                    Ok(Sse { content_type, messages })
                } else {
                    Err(format!(
                        "the stream ended before backfill_complete ({} messages)",
                        messages.len()
                    ))
                };
            }
        }
    }
}

async fn sse_checks(s: &mut Suite<'_>, job: &Job, polled: Option<&[Value]>) {
    let sse = s
        .check("sse.connect", async |s| {
            sse_read(s, &s.token, &format!("id_task={}", job.id)).await
        })
        .await;
    let Some(sse) = sse else {
        for n in CHECKS.iter().filter(|n| n.starts_with("sse.") && **n != "sse.connect") {
            s.skip(n, "sse.connect failed");
        }
        return;
    };
    // The notifications before backfill_complete, parsed.
    let complete = sse
        .messages
        .iter()
        .position(|m| m.event.as_deref() == Some("backfill_complete"))
        .unwrap_or(sse.messages.len());
    let backfill = &sse.messages[..complete];
    let parsed: Vec<Option<Value>> = backfill.iter().map(|m| serde_json::from_str(&m.data).ok()).collect();
    s.check("sse.content_type", async |_| {
        if sse.content_type.starts_with("text/event-stream") {
            Ok(())
        } else {
            Err(format!("Content-Type is {:?}, not text/event-stream", sse.content_type))
        }
    })
    .await;
    s.check("sse.event_names", async |_| {
        if let Some(m) = backfill.iter().find(|m| m.event.as_deref() != Some("backfill")) {
            return Err(format!("a backfilled message has event {:?}, not backfill", m.event));
        }
        if backfill.is_empty() {
            return Err("no notification of the job was backfilled".into());
        }
        Ok(())
    })
    .await;
    s.check("sse.ids", async |_| {
        for (m, v) in backfill.iter().zip(&parsed) {
            let id = m.id.as_deref().ok_or("a backfilled message has no id: line")?;
            let data_id = v.as_ref().map(|v| v["id"].to_string()).unwrap_or_default();
            if id.trim() != data_id {
                return Err(format!("id: {id} but the notification's id is {data_id}"));
            }
        }
        Ok(())
    })
    .await;
    s.check("sse.order", async |_| {
        let ids: Vec<i64> = parsed.iter().flatten().filter_map(|v| v["id"].as_i64()).collect();
        if ids.windows(2).all(|w| w[0] < w[1]) {
            Ok(())
        } else {
            Err(format!("the backfill is not oldest first: ids {ids:?}"))
        }
    })
    .await;
    s.check("sse.filter", async |_| {
        for v in parsed.iter().flatten() {
            if task_of(v) != Some(job.id.as_str()) {
                return Err(format!(
                    "notification {} ({}) is not about {} (id_task filter ignored)",
                    v["id"], v["name"], job.id
                ));
            }
        }
        Ok(())
    })
    .await;
    let profile = s.cfg.profile;
    s.check("sse.notifications", async |_| {
        for v in &parsed {
            notification_ok(profile, v.as_ref().ok_or("a backfilled data: line is not JSON")?)?;
        }
        if let Some(polled) = polled {
            let a: Vec<&Value> = parsed.iter().flatten().collect();
            let b: Vec<&Value> = polled.iter().collect();
            if a != b {
                return Err(format!(
                    "the backfill ({} notifications) differs from POST /notifications ({})",
                    a.len(),
                    b.len()
                ));
            }
        }
        Ok(())
    })
    .await;
    // vendor-facts.md: the stream filters by `id_task`, `id_image` and
    // `name_list`.
    s.check("sse.name_list", async |s| {
        let only = sse_read(s, &s.token, &format!("id_task={}&name_list=batch_edit", job.id)).await?;
        let names: Vec<String> = only
            .messages
            .iter()
            .filter(|m| m.event.as_deref() != Some("backfill_complete"))
            .filter_map(|m| serde_json::from_str::<Value>(&m.data).ok())
            .map(|v| v["name"].as_str().unwrap_or("").to_owned())
            .collect();
        if let Some(n) = names.iter().find(|n| *n != "batch_edit") {
            return Err(format!("name_list=batch_edit backfilled a {n} notification"));
        }
        let want = parsed.iter().flatten().filter(|v| v["name"] == "batch_edit").count();
        if names.len() != want {
            return Err(format!(
                "name_list=batch_edit backfilled {} notifications, not {want}",
                names.len()
            ));
        }
        Ok(())
    })
    .await;
}

/// Collects webhook deliveries until the job's terminal `batch_edit` and
/// the retry of the delivery answered 500 are in, then checks them.
async fn webhook_finish_deliveries(s: &mut Suite<'_>, hook: Option<&Hook>, job: Option<&str>) {
    let names = [
        "webhook.ping",
        "webhook.retry",
        "webhook.signatures",
        "webhook.event_header",
        "webhook.terminal",
    ];
    let Some(hook) = hook else {
        if s.cfg.webhook_listen.is_some() {
            for n in names {
                s.skip(n, "webhook.register failed");
            }
        }
        return;
    };
    let parse = |d: &Delivery| serde_json::from_slice::<Value>(&d.body).unwrap_or(Value::Null);
    let done = |seen: &[Delivery]| {
        let retried = seen
            .first()
            .is_some_and(|first| seen[1..].iter().any(|d| parse(d) == parse(first)));
        let terminal = job.is_none_or(|job| {
            seen.iter()
                .map(parse)
                .any(|v| v["name"] == "batch_edit" && task_of(&v) == Some(job) && v["data"]["status"] == "completed")
        });
        retried && terminal
    };
    let deadline = s.now() + s.cfg.webhook_wait;
    loop {
        let arrived = hook.hooks.arrived.notified();
        if done(&hook.hooks.seen.lock().unwrap_or_else(|e| e.into_inner())) || s.now() > deadline {
            break;
        }
        // Deliveries run in the server's own time: on the fake, move its
        // clock past the next retry (the fake's come 5 s, 30 s, 2 min
        // after a failure); elsewhere wait for them.
        if tokio::time::timeout(Duration::from_millis(300), arrived).await.is_err() {
            let step = if s.control {
                Duration::from_secs(30)
            } else {
                Duration::from_secs(1)
            };
            if s.wait(step).await.is_err() {
                break;
            }
        }
    }
    let seen = hook.hooks.seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let secret = hook.secret.clone();
    s.check("webhook.ping", async |_| {
        match seen.iter().find(|d| parse(d)["name"] == "ping") {
            Some(_) => Ok(()),
            None => Err(format!("no ping after PUT /webhooks ({} deliveries)", seen.len())),
        }
    })
    .await;
    s.check("webhook.retry", async |_| {
        let first = seen.first().ok_or("no delivery at all")?;
        if seen[1..].iter().any(|d| parse(d) == parse(first)) {
            Ok(())
        } else {
            Err(format!(
                "the delivery answered {} ({}) was not retried",
                first.answered,
                parse(first)["name"]
            ))
        }
    })
    .await;
    s.check("webhook.signatures", async |_| {
        for (i, d) in seen.iter().enumerate() {
            let sig = d
                .headers
                .get("x-webhook-signature")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !signature_ok(&secret, &d.body, sig) {
                return Err(format!(
                    "delivery {} ({}): X-Webhook-Signature {sig:?} does not verify",
                    i + 1,
                    parse(d)["name"]
                ));
            }
        }
        if seen.is_empty() {
            Err("no delivery".into())
        } else {
            Ok(())
        }
    })
    .await;
    let profile = s.cfg.profile;
    s.check("webhook.event_header", async |_| {
        for (i, d) in seen.iter().enumerate() {
            let v = parse(d);
            if v["name"] != "ping" && v["name"] != "test" {
                notification_ok(profile, &v).map_err(|e| format!("delivery {}: {e}", i + 1))?;
            }
            let event = d
                .headers
                .get("x-webhook-event")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if v["name"] != event {
                return Err(format!(
                    "delivery {}: X-Webhook-Event {event:?} but name {}",
                    i + 1,
                    v["name"]
                ));
            }
        }
        Ok(())
    })
    .await;
    match job {
        Some(job) => {
            s.check("webhook.terminal", async |_| {
                let ok = seen.iter().map(parse).any(|v| {
                    v["name"] == "batch_edit" && task_of(&v) == Some(job) && v["data"]["status"] == "completed"
                });
                if ok {
                    Ok(())
                } else {
                    Err(format!(
                        "no batch_edit completed for {job} among {} deliveries",
                        seen.len()
                    ))
                }
            })
            .await;
        }
        None => s.skip("webhook.terminal", "no job (job.create did not pass)"),
    }
}

/// A ZIP link kept for its expiry check.
struct Zip {
    url: String,
    expires: Option<i64>,
}

async fn download_checks(s: &mut Suite<'_>, job: Option<&Job>) -> Option<Zip> {
    let Some(job) = job.filter(|j| j.results.is_some()) else {
        s.skip("download.zip", "the job did not finish (job.results)");
        return None;
    };
    let completed = job
        .results
        .as_ref()
        .and_then(|r| r["results"].as_array())
        .map_or(0, |l| l.iter().filter(|x| x["status"] == "completed").count());
    s.check("download.zip", async |s| {
        let a = s
            .api(Method::POST, "/download", Some(&json!({"job_id": job.id})))
            .await?;
        expect_status("POST /download", &a, &[200])?;
        let v = s.body("download", "POST", "/download", &a)?;
        let url = v["download_url"].as_str().unwrap_or_default().to_owned();
        // The reference downloads it without auth (line 505).
        let z = s.send(s.http.get(&url)).await?;
        expect_status("GET download_url", &z, &[200])?;
        let archive =
            zip::ZipArchive::new(std::io::Cursor::new(z.body.to_vec())).map_err(|e| format!("not a ZIP: {e}"))?;
        if archive.len() != completed {
            return Err(format!(
                "{} entries, not {completed} (the completed outputs)",
                archive.len()
            ));
        }
        Ok(Zip {
            url,
            expires: v["expires"].as_str().and_then(rfc3339_secs),
        })
    })
    .await
}

async fn isolation_checks(s: &mut Suite<'_>, job: Option<&Job>, code: &str, project: &str, base: &Value) {
    let names: Vec<&str> = CHECKS.iter().copied().filter(|n| n.starts_with("isolation.")).collect();
    let Some(other) = s.other.clone() else {
        for n in names {
            s.skip(
                n,
                "no second account: give --other-token or --other-email/--other-password",
            );
        }
        return;
    };
    match job {
        Some(job) => {
            // The results are also read through an output's versions.
            for (name, method, paths, body) in [
                (
                    "isolation.job_status",
                    Method::GET,
                    vec![format!("/jobs/{}/status", job.id)],
                    None,
                ),
                (
                    "isolation.job_results",
                    Method::GET,
                    vec![
                        format!("/jobs/{}/results", job.id),
                        format!("/jobs/{}/versions/0", job.id),
                    ],
                    None,
                ),
                (
                    "isolation.download",
                    Method::POST,
                    vec!["/download".to_owned()],
                    Some(json!({"job_id": job.id})),
                ),
            ] {
                s.check(name, async |s| {
                    for path in &paths {
                        let a = s.api_as(&other, method.clone(), path, body.as_ref()).await?;
                        s.expect(&format!("{method} {path} as another account"), &a, Expect::NotYours)?;
                        s.strict_error(path, &a)?;
                    }
                    Ok(())
                })
                .await;
            }
        }
        None => {
            for n in ["isolation.job_status", "isolation.job_results", "isolation.download"] {
                s.skip(n, "job.create failed");
            }
        }
    }
    s.check("isolation.identity", async |s| {
        let path = format!("/identity/{code}");
        let a = s.api_as(&other, Method::GET, &path, None).await?;
        s.expect(&format!("GET {path} as another account"), &a, Expect::NotYours)?;
        s.strict_error(&path, &a)
    })
    .await;
    s.check("isolation.project_list", async |s| {
        let a = s.api_as(&other, Method::GET, "/project?per_page=100", None).await?;
        expect_status("GET /project as another account", &a, &[200])?;
        let v = s.body("project-list", "GET", "/project", &a)?;
        let leaked = v["projects"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["project_id"] == project || p["project_key"] == project);
        if leaked {
            Err(format!("another account lists project {project}"))
        } else {
            Ok(())
        }
    })
    .await;
    let ours: Vec<Value> = match job {
        Some(job) => s
            .api(Method::POST, "/notifications", Some(&json!({"id_task": [job.id]})))
            .await
            .ok()
            .and_then(|a| serde_json::from_slice::<Value>(&a.body).ok())
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    match (job, ours.first()) {
        (Some(job), Some(first)) => {
            s.check("isolation.notifications", async |s| {
                let a = s
                    .api_as(
                        &other,
                        Method::POST,
                        "/notifications",
                        Some(&json!({"id_task": [job.id]})),
                    )
                    .await?;
                expect_status("POST /notifications as another account", &a, &[200])?;
                let v: Value = serde_json::from_slice(&a.body).map_err(|e| format!("not JSON: {e}"))?;
                match v.as_array().map(Vec::len) {
                    Some(0) => Ok(()),
                    Some(n) => Err(format!("another account sees {n} notifications of {}", job.id)),
                    None => Err("not an array".into()),
                }
            })
            .await;
            let id = first["id"].clone();
            s.check("isolation.notification_delete", async |s| {
                let path = format!("/notifications/{id}");
                let a = s.api_as(&other, Method::DELETE, &path, None).await?;
                s.expect(&format!("DELETE {path} as another account"), &a, Expect::NotYours)?;
                let after = s
                    .api(Method::POST, "/notifications", Some(&json!({"id_task": [job.id]})))
                    .await?;
                let still = serde_json::from_slice::<Value>(&after.body)
                    .ok()
                    .and_then(|v| v.as_array().map(|l| l.iter().any(|n| n["id"] == id)))
                    .unwrap_or(false);
                if still {
                    Ok(())
                } else {
                    Err(format!("another account's DELETE removed notification {id}"))
                }
            })
            .await;
        }
        _ => {
            s.skip(
                "isolation.notifications",
                "the job has no notification (notifications.poll)",
            );
            s.skip(
                "isolation.notification_delete",
                "the job has no notification (notifications.poll)",
            );
        }
    }
    s.check("isolation.foreign_inputs", async |s| {
        let mut body = base.clone();
        body["instructions"] = json!([{}]);
        let a = s.post_job(&other, &body).await?;
        let ok: Vec<u16> = [Expect::NotYours, Expect::UnknownReference]
            .iter()
            .flat_map(|e| s.cfg.profile.statuses(*e).iter().copied())
            .collect();
        expect_status(
            "POST /flat-2-model as another account with this account's identity, project and file",
            &a,
            &ok,
        )
    })
    .await;
    match job {
        Some(job) => {
            s.check("isolation.sse", async |s| {
                let sse = sse_read(s, &other, &format!("id_task={}", job.id)).await?;
                let leaked = sse
                    .messages
                    .iter()
                    .filter(|m| m.event.as_deref() != Some("backfill_complete"))
                    .count();
                if leaked == 0 {
                    Ok(())
                } else {
                    Err(format!(
                        "another account's stream backfills {leaked} notifications of {}",
                        job.id
                    ))
                }
            })
            .await;
        }
        None => s.skip("isolation.sse", "job.create failed"),
    }
}

/// Every documented rule, broken once: the status (400, or 404 for an
/// unknown reference) and the field path the error must name.
async fn probe_rules(s: &mut Suite<'_>, base: &Value, custom_sizes: Option<bool>) {
    let body = |instructions: Value| {
        let mut b = base.clone();
        b["instructions"] = instructions;
        b
    };
    let with = |mut b: Value, key: &str, v: Value| {
        b[key] = v;
        b
    };
    let one = |opts: Value| body(json!([{"options": opts}]));
    let file = base["images"][0].clone();
    let w = "instructions[0].options.width";
    let h = "instructions[0].options.height";
    let probes: Vec<(&str, Value, Vec<&str>, Expect)> = vec![
        (
            "rules.anchor_index_equal_to_instruction_count",
            with(body(json!([{}, {}])), "options", json!({"anchor_index": 2})),
            vec!["options.anchor_index"],
            Expect::RuleBroken,
        ),
        (
            "rules.width_without_height",
            one(json!({"width": 1024})),
            vec![w, h],
            Expect::RuleBroken,
        ),
        (
            "rules.width_not_a_multiple_of_8",
            one(json!({"width": 300, "height": 1024})),
            vec![w],
            Expect::RuleBroken,
        ),
        (
            "rules.width_below_256",
            one(json!({"width": 248, "height": 1024})),
            vec![w],
            Expect::RuleBroken,
        ),
        (
            "rules.height_above_7000",
            one(json!({"width": 1024, "height": 7008})),
            vec![h],
            Expect::RuleBroken,
        ),
        (
            "rules.ratio_5_to_1",
            one(json!({"width": 2560, "height": 512})),
            vec![w, h],
            Expect::RuleBroken,
        ),
        (
            "rules.num_variations_9",
            body(json!([{"num_variations": 9}])),
            vec!["instructions[0].num_variations"],
            Expect::RuleBroken,
        ),
        (
            "rules.num_variations_0",
            body(json!([{"num_variations": 0}])),
            vec!["instructions[0].num_variations"],
            Expect::RuleBroken,
        ),
        (
            "rules.size_8k",
            one(json!({"size": "8K"})),
            vec!["instructions[0].options.size"],
            Expect::RuleBroken,
        ),
        (
            "rules.ar_2_to_1",
            one(json!({"ar": "2:1"})),
            vec!["instructions[0].options.ar"],
            Expect::RuleBroken,
        ),
        (
            "rules.format_gif",
            one(json!({"format": "gif"})),
            vec!["instructions[0].options.format"],
            Expect::RuleBroken,
        ),
        (
            "rules.model_unknown",
            with(body(json!([{}])), "options", json!({"model": "dalle"})),
            vec!["options.model"],
            Expect::RuleBroken,
        ),
        (
            "rules.no_instructions",
            body(json!([])),
            vec!["instructions"],
            Expect::RuleBroken,
        ),
        (
            "rules.eleven_instructions",
            body(json!((0..11).map(|_| json!({})).collect::<Vec<_>>())),
            vec!["instructions"],
            Expect::RuleBroken,
        ),
        (
            "rules.no_images",
            with(body(json!([{}])), "images", json!([])),
            vec!["images"],
            Expect::RuleBroken,
        ),
        (
            "rules.eleven_images",
            with(
                body(json!([{}])),
                "images",
                json!((0..11).map(|i| format!("sku_{i}")).collect::<Vec<_>>()),
            ),
            vec!["images"],
            Expect::RuleBroken,
        ),
        (
            "rules.repeated_image",
            with(body(json!([{}])), "images", json!([file, file])),
            vec!["images[1]", "images"],
            Expect::RuleBroken,
        ),
        (
            "rules.missing_identity_code",
            {
                let mut b = body(json!([{}]));
                b.as_object_mut().map(|o| o.remove("identity_code"));
                b
            },
            vec!["identity_code"],
            Expect::RuleBroken,
        ),
        (
            "rules.unknown_file",
            with(body(json!([{}])), "images", json!(["sku_does_not_exist"])),
            vec!["images[0]", "images"],
            Expect::UnknownReference,
        ),
        (
            "rules.unknown_identity",
            with(body(json!([{}])), "identity_code", json!("id_does_not_exist")),
            vec!["identity_code"],
            Expect::UnknownReference,
        ),
        (
            "rules.unknown_project",
            with(body(json!([{}])), "project_id", json!("does-not-exist")),
            vec!["project_id"],
            Expect::UnknownReference,
        ),
        (
            "rules.design_value_wrong_type",
            body(json!([{"pose": true}])),
            vec!["instructions[0].pose"],
            Expect::RuleBroken,
        ),
        (
            "rules.design_value_object_without_text",
            body(json!([{"pose": {"image": "x"}}])),
            vec!["instructions[0].pose"],
            Expect::RuleBroken,
        ),
        (
            "rules.control_character_in_prompt",
            body(json!([{"prompt": "a\u{0007}b"}])),
            vec!["instructions[0].prompt"],
            Expect::RuleBroken,
        ),
        (
            "rules.post_process_not_boolean",
            with(body(json!([{}])), "post_process", json!("yes")),
            vec!["post_process"],
            Expect::RuleBroken,
        ),
    ];
    for (name, probe, fields, expect) in probes {
        if CUSTOM_SIZE_PROBES.contains(&name) && custom_sizes != Some(true) {
            s.skip(
                name,
                if custom_sizes.is_none() {
                    "whether the account has OUTPUT_CUSTOM_DIMENSIONS is unknown (job.create did not run)"
                } else {
                    "the account has no OUTPUT_CUSTOM_DIMENSIONS policy: every custom size is refused for it"
                },
            );
            continue;
        }
        s.check(name, async |s| {
            let a = s.post_job(&s.token, &probe).await?;
            s.expect("POST /flat-2-model", &a, expect)?;
            if a.status == 404 {
                return s.strict_error("POST /flat-2-model", &a);
            }
            let v = s.body("error", "POST", "/flat-2-model", &a)?;
            names_field(&v, &fields)
        })
        .await;
    }
}

/// The vendor's limit: 5 job requests a minute per account; the 6th within
/// the minute answers 429. Sent after a quiet minute, unpaced.
async fn rate_limit_check(s: &mut Suite<'_>, base: &Value) {
    let name = "rate_limit.sixth_job_request";
    if !s.cfg.rate_limit_check {
        s.skip(name, "--no-rate-limit-check");
        return;
    }
    if !s.budget_allows(5) {
        s.skip(name, "--max-jobs leaves fewer than the 5 billed jobs it needs");
        return;
    }
    s.check(name, async |s| {
        let last = s.pace().posts.back().copied();
        if let Some(last) = last {
            s.wait((last + Duration::from_secs(61)).saturating_sub(s.now())).await?;
        }
        let mut body = base.clone();
        body["instructions"] = json!([{}]);
        let mut statuses = Vec::new();
        for _ in 0..6 {
            let now = s.now();
            s.pace().posts.push_back(now);
            let a = s
                .send(
                    s.request(Method::POST, "/flat-2-model", Some(&format!("Bearer {}", s.token)))
                        .json(&body),
                )
                .await?;
            if a.status == 202 {
                s.pace().billed += 1;
            }
            statuses.push(a.status);
        }
        if statuses[..5].iter().all(|c| *c == 202) && statuses[5] == 429 {
            Ok(())
        } else {
            Err(format!(
                "6 job requests within a minute answered {statuses:?}: expected 5 × 202, then 429"
            ))
        }
    })
    .await;
}

/// Links and tokens that must stop working: an upload URL, the ZIP link
/// and an API token, each judged after its `expires`. On the fake the clock
/// jumps past them all at once; elsewhere the suite waits when the wait is
/// short (`--max-expiry-wait`), else skips with the reason.
async fn expiry_checks(s: &mut Suite<'_>, zip: Option<Zip>) {
    let sku = s.cfg.sku_image.clone();
    let upload = presign(s, &sku.filename).await;
    // An API token lives at least 1 h and an account may hold only 20:
    // one is made only when its expiry can be reached.
    let hour = Duration::from_secs(3600);
    let token = if s.control || s.cfg.max_expiry_wait >= hour {
        s.api(Method::POST, "/auth/token", Some(&json!({"expiration": 3600})))
            .await
            .ok()
            .filter(|a| (200..300).contains(&a.status))
            .and_then(|a| serde_json::from_slice::<Value>(&a.body).ok())
    } else {
        None
    };
    let server_now = match s.control {
        true => s
            .send(s.http.get(s.url("/__admin/clock")))
            .await
            .ok()
            .and_then(|a| serde_json::from_slice::<Value>(&a.body).ok())
            .and_then(|v| v["now"].as_str().and_then(rfc3339_secs)),
        false => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_secs()).ok()),
    };
    // The fake's upload URLs live 15 min when `expires` is not given.
    let upload_expires = upload.as_ref().ok().map(|u| {
        u["expires"]
            .as_str()
            .and_then(rfc3339_secs)
            .or(server_now.map(|n| n + 15 * 60))
    });
    let token_expires = token
        .as_ref()
        .and_then(|t| t["expiration_date"].as_str().and_then(rfc3339_secs));
    let zip_expires = zip.as_ref().and_then(|z| z.expires);
    let latest = [upload_expires.flatten(), token_expires, zip_expires]
        .into_iter()
        .flatten()
        .max();
    let Some(now) = server_now else {
        for n in ["storage.expired_url", "download.zip_expiry", "auth.expired_token"] {
            s.skip(n, "the server's time is unknown");
        }
        return;
    };
    // Before the jump: the token works.
    let token = match token.as_ref().and_then(|t| t["token"].as_str()) {
        Some(t) => {
            let ok = s
                .api_as(t, Method::GET, "/project?per_page=1", None)
                .await
                .is_ok_and(|a| a.status == 200);
            ok.then(|| t.to_owned())
        }
        None => None,
    };
    let wait = latest.map(|l| (l - now + 1).max(0) as u64);
    let waited = match wait {
        Some(w) if s.control || Duration::from_secs(w) <= s.cfg.max_expiry_wait => {
            s.wait(Duration::from_secs(w)).await.is_ok()
        }
        _ => false,
    };
    let too_long = |what: &str| {
        format!(
            "{what} does not expire within --max-expiry-wait ({} s) and the server has no control API to move time",
            s.cfg.max_expiry_wait.as_secs()
        )
    };
    match (upload, waited) {
        (Ok(up), true) => {
            s.check("storage.expired_url", async |s| {
                let a = put(
                    s,
                    up["upload_url"].as_str().unwrap_or_default(),
                    up["content_type"].as_str().unwrap_or_default(),
                    sku.bytes.clone(),
                )
                .await?;
                s.expect("PUT to an expired upload_url", &a, Expect::PutExpired)
            })
            .await;
        }
        (Ok(_), false) => {
            let why = too_long("the upload URL");
            s.skip("storage.expired_url", &why);
        }
        (Err(e), _) => s.skip("storage.expired_url", &format!("POST /upload failed: {e}")),
    }
    match (zip, waited) {
        (Some(z), true) if z.expires.is_some() => {
            s.check("download.zip_expiry", async |s| {
                let a = s.send(s.http.get(&z.url)).await?;
                s.expect("GET an expired ZIP link", &a, Expect::ZipExpired)
            })
            .await;
        }
        (Some(z), _) if z.expires.is_none() => s.skip("download.zip_expiry", "the ZIP link's expires is not a time"),
        (Some(_), _) => {
            let why = too_long("the ZIP link");
            s.skip("download.zip_expiry", &why);
        }
        (None, _) => s.skip("download.zip_expiry", "no ZIP link (download.zip did not pass)"),
    }
    match (token, waited) {
        (Some(t), true) if token_expires.is_some() => {
            s.check("auth.expired_token", async |s| {
                let a = s
                    .send(s.request(Method::GET, "/project", Some(&format!("Bearer {t}"))))
                    .await?;
                expect_status("GET /project with an expired token", &a, &[401])?;
                s.strict_error("GET /project", &a)
            })
            .await;
        }
        (Some(_), _) => {
            let why = too_long("an API token (at least 1 h)");
            s.skip("auth.expired_token", &why);
        }
        (None, _) if !s.control && s.cfg.max_expiry_wait < hour => {
            let why = too_long("an API token (at least 1 h)");
            s.skip("auth.expired_token", &why);
        }
        (None, _) => s.skip("auth.expired_token", "POST /auth/token gave no working token"),
    }
}

/// Acknowledges the job's notifications (`DELETE /notifications/{id}`, as
/// the reference asks) and checks they are gone.
async fn cleanup(s: &mut Suite<'_>, job: Option<&str>) {
    let Some(job) = job else {
        s.skip("notifications.delete", "job.create failed");
        return;
    };
    s.check("notifications.delete", async |s| {
        let list = |a: Answer| {
            serde_json::from_slice::<Value>(&a.body)
                .ok()
                .and_then(|v| v.as_array().cloned())
                .unwrap_or_default()
        };
        let before = list(
            s.api(Method::POST, "/notifications", Some(&json!({"id_task": [job]})))
                .await?,
        );
        for n in &before {
            let path = format!("/notifications/{}", n["id"]);
            let a = s.api(Method::DELETE, &path, None).await?;
            expect_status(&format!("DELETE {path}"), &a, &[200, 202, 204])?;
        }
        let after = list(
            s.api(Method::POST, "/notifications", Some(&json!({"id_task": [job]})))
                .await?,
        );
        if after.is_empty() {
            Ok(())
        } else {
            Err(format!("{} notifications are still listed after DELETE", after.len()))
        }
    })
    .await;
}

/// Puts the account's webhook back as it was (its URL: each PUT rotates
/// the secret) or removes the suite's.
async fn webhook_finish(s: &mut Suite<'_>, hook: Option<Hook>) {
    let Some(hook) = hook else {
        if s.cfg.webhook_listen.is_some() {
            s.skip("webhook.restored", "webhook.register failed");
        }
        return;
    };
    let previous = hook.previous.clone();
    if previous.is_some() {
        s.outcomes.push(
            "the account's webhook URL is restored; its secret was rotated (each PUT /webhooks rotates it)".into(),
        );
    }
    s.check("webhook.restored", async |s| {
        let a = match &previous {
            Some(url) => s.api(Method::PUT, "/webhooks", Some(&json!({"url": url}))).await?,
            None => s.api(Method::DELETE, "/webhooks", None).await?,
        };
        expect_status("restoring the webhook", &a, &[200, 201, 202, 204])?;
        let now = s.api(Method::GET, "/webhooks", None).await?;
        let url = serde_json::from_slice::<Value>(&now.body)
            .ok()
            .filter(|_| now.status == 200)
            .and_then(|v| v["url"].as_str().map(|u| u.trim_end_matches('/').to_owned()));
        let want = previous.as_deref().map(|u| u.trim_end_matches('/').to_owned());
        if url == want {
            Ok(())
        } else {
            Err(format!(
                "GET /webhooks shows {url:?} after restoring {want:?} (the suite's was {})",
                hook.url
            ))
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_are_told_apart() {
        assert!(is_loopback_url("http://127.0.0.1:8080"));
        assert!(is_loopback_url("http://localhost/x"));
        assert!(is_loopback_url("http://[::1]:9/"));
        assert!(!is_loopback_url("https://v2.api.piktid.com"));
    }

    #[test]
    fn rfc3339_is_read() {
        assert_eq!(rfc3339_secs("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339_secs("2026-01-01T00:15:00Z"), Some(1_767_226_500));
        assert_eq!(rfc3339_secs("2026-01-01T01:15:00.250+01:00"), Some(1_767_226_500));
        assert_eq!(rfc3339_secs("soon"), None);
    }

    #[test]
    fn sse_lines_may_end_in_crlf() {
        let m = sse_messages(
            "id: 1\r\nevent: backfill\r\ndata: {}\r\n\r\n:keepalive\r\n\r\nevent: backfill_complete\r\ndata: {}\r\n\r\n",
        );
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].id.as_deref(), Some("1"));
        assert_eq!(m[1].event.as_deref(), Some("backfill_complete"));
    }

    #[test]
    fn a_forged_url_differs_in_its_signature() {
        let u = "http://h/upload/sku_1?Expires=1&Signature=abc";
        assert_eq!(forge(u), "http://h/upload/sku_1?Expires=1&Signature=bbc");
        assert_ne!(forge("http://h/x"), "http://h/x");
    }

    #[test]
    fn rule_probes_must_name_the_field() {
        let v = json!({"detail": [{"field": "instructions[0].options.width.x"}, {"field": null}]});
        assert!(names_field(&v, &["instructions[0].options.width"]).is_ok());
        assert!(names_field(&v, &["instructions[0].options.w"]).is_err());
        assert!(names_field(&json!({"detail": [{"field": null}]}), &["images"]).is_err());
    }

    #[test]
    fn checks_are_unique() {
        let set: BTreeSet<_> = CHECKS.iter().collect();
        assert_eq!(set.len(), CHECKS.len());
    }
}
