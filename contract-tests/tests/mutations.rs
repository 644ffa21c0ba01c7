//! The harness judged by the breaks it must find: a small proxy between
//! `contract-tests run` and the fake applies ONE realistic contract break
//! at a time (isolation and auth, the images, result bookkeeping, storage,
//! SSE and webhooks, rules, the rate limit), and the run must exit 1 naming
//! the check that caught it; the vendor-allowed variations are controls,
//! and the run must exit 0 through them.
//!
//! The fake runs with `--public-url` at the proxy, so pre-signed URLs,
//! image links and ZIP links go through it too; `PUT /webhooks` is
//! rewritten to the proxy's relay (a second port: the fake refuses a
//! webhook URL at its own public address), which forwards each delivery to
//! the harness's listener, so deliveries can be broken as well.

mod common;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{Value, json};

const DEMO: &str = "f2m_demo_token";
const OTHER: &str = "f2m_other_token";
/// The fake's and the harness's upload limit here (2 MiB).
const MAX_UPLOAD: &str = "2097152";

/// What a mutation is.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// A contract break: the run must exit 1 with one of these checks
    /// (or a check under one of these prefixes) failed.
    Break(&'static [&'static str]),
    /// A variation the vendor allows: the run must exit 0.
    Control,
}

#[derive(Debug, Clone, Copy)]
struct Mutation {
    name: &'static str,
    kind: Kind,
    /// Run with `--profile strict` (the break is of a promise only the
    /// fake makes).
    strict: bool,
}

const fn brk(name: &'static str, caught_by: &'static [&'static str]) -> Mutation {
    Mutation {
        name,
        kind: Kind::Break(caught_by),
        strict: false,
    }
}

const fn strict(name: &'static str, caught_by: &'static [&'static str]) -> Mutation {
    Mutation {
        name,
        kind: Kind::Break(caught_by),
        strict: true,
    }
}

const fn control(name: &'static str) -> Mutation {
    Mutation {
        name,
        kind: Kind::Control,
        strict: false,
    }
}

const MUTATIONS: &[Mutation] = &[
    // Isolation and auth.
    brk("other_account_sees_everything", &["isolation."]),
    brk("results_readable_by_another_account", &["isolation.job_results"]),
    brk("download_for_another_account", &["isolation.download"]),
    brk("identity_readable_by_another_account", &["isolation.identity"]),
    brk("notifications_leak_to_another_account", &["isolation.notifications"]),
    brk("foreign_inputs_accepted", &["isolation.foreign_inputs"]),
    brk("project_list_leaks", &["isolation.project_list"]),
    brk("sse_not_tenant_scoped", &["isolation.sse"]),
    brk(
        "notification_delete_by_another_account",
        &["isolation.notification_delete"],
    ),
    brk("unknown_token_accepted", &["auth.unknown_token"]),
    brk("malformed_token_accepted", &["auth.malformed_token"]),
    brk("missing_token_accepted", &["auth.missing_token"]),
    brk("expired_tokens_accepted", &["auth.expired_token"]),
    brk("unknown_token_accepted_on_status_only", &["auth."]),
    brk("status_readable_by_another_account", &["isolation."]),
    brk("versions_readable_by_another_account", &["isolation."]),
    strict("401_without_www_authenticate", &["auth."]),
    strict("401_with_empty_body", &["auth."]),
    // The flow's own answers.
    brk("identity_upload_without_code", &["identity.upload"]),
    brk("identity_get_other_identity", &["identity.get"]),
    brk("identity_conflict_without_code", &["identity.conflict"]),
    brk("project_create_without_id", &["project.create"]),
    brk("project_duplicate_created", &["project.conflict"]),
    brk("project_list_missing", &["project.list"]),
    brk("upload_without_file_id", &["upload.presign"]),
    brk("put_answers_204", &["upload.put"]),
    brk("job_create_200", &["job.create"]),
    brk("webhook_register_without_secret", &["webhook.register"]),
    // The images.
    brk("image_links_need_auth", &["images.download"]),
    brk(
        "full_size_and_thumbnail_swapped",
        &["images.size_table", "images.thumbnail"],
    ),
    brk("thumbnail_is_full_size", &["images.thumbnail"]),
    brk("png_served_as_jpeg", &["images.format"]),
    brk("format_ignored", &["images.format"]),
    brk("size_off_by_8", &["images.size_table"]),
    brk("height_off_by_one", &["images.size_table"]),
    brk("thumbnail_larger_than_full_size", &["images.thumbnail"]),
    brk("jpeg_served_as_png", &["images.format"]),
    brk("thumbnail_png_served_as_jpeg", &["images.format", "images.thumbnail"]),
    brk("custom_size_off_by_8", &["images.custom_size"]),
    brk("ar_ignored", &["images.size_table"]),
    brk("size_ignored", &["images.size_table"]),
    brk("custom_size_ignored", &["images.custom_size"]),
    brk("thumbnail_wrong_ratio", &["images.thumbnail"]),
    strict("thumbnail_not_256", &["images.thumbnail"]),
    brk("image_corrupt", &["images."]),
    // Result bookkeeping.
    brk("duplicate_result_indices", &["results.unique_indices"]),
    brk("variation_group_index_wrong", &["results.per_instruction"]),
    brk("summary_miscounted", &["results.summary"]),
    brk("terminal_event_twice", &["notifications.poll"]),
    brk("notifications_delete_ignored", &["notifications.delete"]),
    brk("total_outputs_ignores_variations", &["job.total_outputs"]),
    brk("total_outputs_off_by_one", &["job.total_outputs"]),
    brk("progress_above_100", &["job.progress", "job.status"]),
    brk("duplicate_last_result_indices", &["results.unique_indices"]),
    brk("progress_fraction", &["job.progress"]),
    brk("event_progress_fraction", &["events.progress"]),
    brk("processed_images_go_back", &["events.progress"]),
    brk("status_total_images_wrong", &["job.status"]),
    brk("status_progress_string", &["job.status"]),
    brk("result_missing", &["job.results"]),
    brk("image_results_missing", &["events.image_results"]),
    brk("completed_output_without_link", &["results.outputs"]),
    brk("failed_without_error_message", &["results.outputs"]),
    // Storage.
    brk("put_ignores_content_type", &["storage.wrong_content_type"]),
    brk("put_accepts_forged_signature", &["storage.forged_signature"]),
    brk("put_accepts_expired_url", &["storage.expired_url"]),
    brk("put_accepts_oversize", &["storage.oversize"]),
    brk("download_url_other_bytes", &["upload.download_matches"]),
    brk("zip_never_expires", &["download.zip_expiry"]),
    brk("zip_corrupt", &["download.zip"]),
    // SSE.
    brk("sse_text_plain", &["sse.content_type"]),
    brk("sse_without_ids", &["sse.ids"]),
    brk("sse_ids_repeat", &["sse.ids"]),
    brk("sse_newest_first", &["sse.order"]),
    brk("sse_filter_ignored", &["sse.filter"]),
    brk("sse_backfill_renamed", &["sse.event_names"]),
    // Also renames backfill_complete, so the stream never says it is done.
    brk("sse_event_names_upper_case", &["sse.event_names", "sse.connect"]),
    brk("sse_no_backfill_complete", &["sse.connect"]),
    brk("sse_data_differs", &["sse.notifications"]),
    brk("sse_name_list_ignored", &["sse.name_list"]),
    // Webhooks.
    brk("webhook_bad_signature", &["webhook.signatures"]),
    brk("webhook_unsigned", &["webhook.signatures"]),
    brk("webhook_signed_with_another_secret", &["webhook.signatures"]),
    brk("webhook_signature_without_prefix", &["webhook.signatures"]),
    brk("webhook_body_reencoded", &["webhook.signatures"]),
    brk("webhook_event_header_missing", &["webhook.event_header"]),
    brk("webhook_event_header_wrong", &["webhook.event_header"]),
    brk("webhook_no_ping", &["webhook.ping"]),
    brk("webhook_no_retry", &["webhook.retry"]),
    brk("webhook_no_terminal", &["webhook.terminal"]),
    brk("webhook_not_removed", &["webhook.restored"]),
    // Rules.
    brk("rule_field_null", &["rules."]),
    brk("rule_field_parent", &["rules."]),
    brk("rule_field_of_another_field", &["rules."]),
    brk("rules_answer_429", &["rules."]),
    brk("rules_answer_500", &["rules."]),
    brk("num_variations_9_accepted", &["rules.num_variations_9"]),
    brk(
        "anchor_index_not_checked",
        &["rules.anchor_index_equal_to_instruction_count"],
    ),
    brk("ratio_not_checked", &["rules.ratio_5_to_1"]),
    brk("control_characters_accepted", &["rules.control_character_in_prompt"]),
    brk(
        "unknown_references_accepted",
        &["rules.unknown_file", "rules.unknown_identity", "rules.unknown_project"],
    ),
    // The rate limit.
    brk("no_rate_limit", &["rate_limit.sixth_job_request"]),
    brk("rate_limit_of_3", &["rate_limit.sixth_job_request"]),
    // What the vendor allows.
    control("project_create_200"),
    control("identity_upload_201"),
    control("upload_without_expires"),
    control("conflict_without_project_id"),
    control("status_404_first_poll"),
    control("sse_crlf"),
    control("rate_limit_counts_every_request"),
    control("empty_error_bodies"),
    control("not_yours_403"),
    control("per_output_refusal"),
    control("unknown_fields_added"),
    control("chunked_answers"),
    control("pretty_printed_json"),
    control("extra_headers"),
    control("slower_job"),
];

/// What the proxy remembers across requests.
#[derive(Debug, Default)]
struct Memory {
    /// The harness's webhook URL (the fake is given the relay's).
    hook: Option<String>,
    /// Tokens handed out by `POST /auth/token`.
    issued: HashSet<String>,
    /// ZIP bodies by link, to serve after expiry.
    zips: HashMap<String, Vec<u8>>,
    /// Jobs whose status was polled.
    polled: HashSet<String>,
    /// Status polls by path.
    polls: HashMap<String, u32>,
    /// Job requests by token, on the fake's clock (ms).
    posts: HashMap<String, VecDeque<i64>>,
}

#[derive(Debug)]
struct Proxy {
    m: &'static str,
    upstream: String,
    relay: String,
    http: reqwest::Client,
    memory: Mutex<Memory>,
}

/// A request on its way in.
#[derive(Debug)]
struct Req {
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Req {
    fn bearer(&self) -> Option<&str> {
        self.headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
    }

    fn set_bearer(&mut self, token: &str) {
        self.headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).expect("header"),
        );
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn set_json(&mut self, v: &Value) {
        self.body = serde_json::to_vec(v).expect("json");
    }

    fn is(&self, method: &Method, prefix: &str) -> bool {
        self.method == *method && self.path.starts_with(prefix)
    }
}

/// A response on its way out.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn set_json(&mut self, v: &Value) {
        self.body = serde_json::to_vec(v).expect("json");
    }

    fn empty(status: u16) -> Self {
        Self {
            status,
            headers: HeaderMap::new(),
            body: Vec::new(),
        }
    }

    fn content_type(&mut self, ct: &str) {
        self.headers
            .insert("content-type", HeaderValue::from_str(ct).expect("header"));
    }

    fn into_response(self) -> Response {
        let mut r = Response::new(Body::from(self.body));
        *r.status_mut() = StatusCode::from_u16(self.status).expect("status");
        for (k, v) in &self.headers {
            if k != "content-length" && k != "transfer-encoding" {
                r.headers_mut().append(k, v.clone());
            }
        }
        r
    }
}

/// The API routes that take a bearer token.
fn is_api(r: &Req) -> bool {
    [
        "/project",
        "/identity",
        "/flat-2-model",
        "/jobs",
        "/notifications",
        "/webhooks",
        "/auth/token",
    ]
    .iter()
    .any(|p| r.path.starts_with(p))
        || (r.method == Method::POST && ["/upload", "/download"].contains(&r.path.as_str()))
}

/// Re-encodes an image after `f`, in `format` (`png` or `jpg`).
fn reimage(bytes: &[u8], format: &str, f: impl FnOnce(image::DynamicImage) -> image::DynamicImage) -> Vec<u8> {
    let img = f(image::load_from_memory(bytes).expect("the fake's image decodes"));
    let mut out = std::io::Cursor::new(Vec::new());
    let fmt = if format == "png" {
        image::ImageFormat::Png
    } else {
        image::ImageFormat::Jpeg
    };
    let img = if fmt == image::ImageFormat::Jpeg {
        image::DynamicImage::ImageRgb8(img.to_rgb8())
    } else {
        img
    };
    img.write_to(&mut out, fmt).expect("encodes");
    out.into_inner()
}

fn resize(img: image::DynamicImage, w: u32, h: u32) -> image::DynamicImage {
    img.resize_exact(w, h, image::imageops::FilterType::Nearest)
}

impl Proxy {
    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The fake's clock, in ms.
    async fn fake_now(&self) -> i64 {
        let v: Value = self
            .http
            .get(format!("{}/__admin/clock", self.upstream))
            .send()
            .await
            .expect("clock")
            .json()
            .await
            .expect("clock json");
        v["now_ms"].as_i64().expect("now_ms")
    }

    /// A rate limit of the proxy's own: `limit` job requests a minute per
    /// token, every request counted.
    async fn own_rate_limit(&self, r: &Req, limit: usize, retry_after: bool) -> Option<Resp> {
        let now = self.fake_now().await;
        let token = r.bearer().unwrap_or("").to_owned();
        let mut m = self.memory();
        let posts = m.posts.entry(token).or_default();
        while posts.front().is_some_and(|t| *t <= now - 60_000) {
            posts.pop_front();
        }
        if posts.len() >= limit {
            let mut resp = Resp::empty(429);
            if retry_after {
                resp.headers.insert("retry-after", HeaderValue::from_static("60"));
            }
            return Some(resp);
        }
        posts.push_back(now);
        None
    }

    /// Request-side breaks; `Some` answers without the fake.
    async fn before(&self, r: &mut Req) -> Option<Resp> {
        let post = Method::POST;
        let get = Method::GET;
        let other = r.bearer() == Some(OTHER);
        match self.m {
            "other_account_sees_everything" if other => r.set_bearer(DEMO),
            "results_readable_by_another_account" if other && r.is(&get, "/jobs/") && r.path.ends_with("/results") => {
                r.set_bearer(DEMO);
            }
            "download_for_another_account" if other && r.is(&post, "/download") => r.set_bearer(DEMO),
            "identity_readable_by_another_account" if other && r.is(&get, "/identity/") => r.set_bearer(DEMO),
            "notifications_leak_to_another_account" if other && r.is(&post, "/notifications") => r.set_bearer(DEMO),
            "foreign_inputs_accepted" if other && r.is(&post, "/flat-2-model") => r.set_bearer(DEMO),
            "project_list_leaks" if other && r.is(&get, "/project") => r.set_bearer(DEMO),
            "sse_not_tenant_scoped" if other && r.is(&get, "/notifications/events") => r.set_bearer(DEMO),
            "sse_name_list_ignored" if r.is(&get, "/notifications/events") => {
                let kept: Vec<&str> = r
                    .query
                    .as_deref()
                    .unwrap_or("")
                    .split('&')
                    .filter(|p| !p.starts_with("name_list="))
                    .collect();
                r.query = Some(kept.join("&"));
            }
            "notification_delete_by_another_account" if other && r.is(&Method::DELETE, "/notifications/") => {
                r.set_bearer(DEMO);
            }
            "notifications_delete_ignored" if r.is(&Method::DELETE, "/notifications/") => {
                let id: u64 = r.path.rsplit('/').next().and_then(|i| i.parse().ok()).unwrap_or(0);
                let mut a = Resp::empty(200);
                a.set_json(&json!({"success": true, "id": id}));
                a.content_type("application/json");
                return Some(a);
            }
            "image_links_need_auth" if r.is(&get, "/blobs/results/") && !r.headers.contains_key("authorization") => {
                return Some(Resp::empty(401));
            }
            "unknown_token_accepted" => {
                if let Some(t) = r.bearer()
                    && ![DEMO, OTHER].contains(&t)
                    && !t.contains(char::is_whitespace)
                    && !self.memory().issued.contains(t)
                {
                    r.set_bearer(DEMO);
                }
            }
            "unknown_token_accepted_on_status_only"
                if r.is(&get, "/jobs/")
                    && r.path.ends_with("/status")
                    && r.bearer()
                        .is_some_and(|t| ![DEMO, OTHER].contains(&t) && !t.contains(' ')) =>
            {
                r.set_bearer(DEMO);
            }
            "versions_readable_by_another_account"
                if other && r.is(&get, "/jobs/") && r.path.contains("/versions/") =>
            {
                r.set_bearer(DEMO);
            }
            "status_readable_by_another_account" if other && r.is(&get, "/jobs/") && r.path.ends_with("/status") => {
                r.set_bearer(DEMO);
            }
            "malformed_token_accepted" if r.bearer().is_some_and(|t| t.contains(' ')) => r.set_bearer(DEMO),
            "missing_token_accepted" if is_api(r) && !r.headers.contains_key("authorization") => r.set_bearer(DEMO),
            "expired_tokens_accepted" if r.bearer().is_some_and(|t| self.memory().issued.contains(t)) => {
                r.set_bearer(DEMO);
            }
            "put_ignores_content_type" if r.is(&Method::PUT, "/upload/") => {
                r.headers.insert("content-type", HeaderValue::from_static("image/jpeg"));
            }
            "sse_filter_ignored" if r.is(&get, "/notifications/events") => r.query = None,
            "num_variations_9_accepted"
            | "anchor_index_not_checked"
            | "ratio_not_checked"
            | "control_characters_accepted"
                if r.is(&post, "/flat-2-model") =>
            {
                let mut v = r.json();
                let n = v["instructions"].as_array().map_or(0, Vec::len) as u64;
                if self.m == "anchor_index_not_checked"
                    && v["options"]["anchor_index"].as_u64().is_some_and(|a| a >= n)
                    && let Some(o) = v["options"].as_object_mut()
                {
                    o.remove("anchor_index");
                }
                for ins in v["instructions"].as_array_mut().into_iter().flatten() {
                    match self.m {
                        "num_variations_9_accepted" if ins["num_variations"] == 9 => ins["num_variations"] = json!(8),
                        "ratio_not_checked" => {
                            let (w, h) = (ins["options"]["width"].as_u64(), ins["options"]["height"].as_u64());
                            if let (Some(w), Some(h)) = (w, h)
                                && w > 4 * h
                            {
                                ins["options"]["width"] = json!(4 * h);
                            }
                        }
                        "control_characters_accepted" => {
                            if let Some(p) = ins["prompt"].as_str() {
                                ins["prompt"] = json!(p.replace(|c: char| c.is_control(), ""));
                            }
                        }
                        _ => {}
                    }
                }
                r.set_json(&v);
            }
            "webhook_not_removed" if r.is(&Method::DELETE, "/webhooks") => return Some(Resp::empty(204)),
            "per_output_refusal"
                if r.is(&post, "/flat-2-model")
                    && r.json()["instructions"].as_array().is_some_and(|l| l.len() >= 3) =>
            {
                r.headers
                    .insert("x-mock-fault-plan", HeaderValue::from_static(r#"{"fail_outputs":[1]}"#));
            }
            // Side effect in the guard: only a status poll is remembered.
            "status_404_first_poll"
                if r.is(&get, "/jobs/")
                    && r.path.ends_with("/status")
                    && self.memory().polled.insert(r.path.clone()) =>
            {
                return Some(Resp::empty(404));
            }
            "rate_limit_counts_every_request" if r.is(&post, "/flat-2-model") => {
                return self.own_rate_limit(r, 5, false).await;
            }
            "rate_limit_of_3" if r.is(&post, "/flat-2-model") => return self.own_rate_limit(r, 3, true).await,
            _ => {}
        }
        // Every run: the fake posts webhooks to the relay.
        if r.is(&Method::PUT, "/webhooks") {
            let mut v = r.json();
            self.memory().hook = v["url"].as_str().map(str::to_owned);
            v["url"] = json!(self.relay);
            r.set_json(&v);
        }
        None
    }

    /// Response-side breaks.
    fn after(&self, r: &Req, a: &mut Resp) {
        let get = Method::GET;
        let post = Method::POST;
        // Every run: the harness sees its own webhook URL; issued tokens
        // are remembered.
        if r.path == "/webhooks" && a.status < 300 {
            let mut v = a.json();
            if v["url"] == self.relay.as_str() {
                v["url"] = json!(self.memory().hook.clone());
                a.set_json(&v);
            }
        }
        if r.is(&post, "/auth/token")
            && let Some(t) = a.json()["token"].as_str()
        {
            self.memory().issued.insert(t.to_owned());
        }
        let results = r.is(&get, "/jobs/") && r.path.ends_with("/results") && a.status == 200;
        let status = r.is(&get, "/jobs/") && r.path.ends_with("/status") && a.status == 200;
        let output = r.is(&get, "/blobs/results/") && a.status == 200;
        let full = output && r.path.contains("/full.");
        let thumb = output && r.path.contains("/thumbnail.");
        let job_post = r.is(&post, "/flat-2-model");
        let notifications = r.is(&post, "/notifications") && a.status == 200;
        let put = r.is(&Method::PUT, "/upload/");
        let zip = r.is(&get, "/download/") && !r.path.starts_with("/download/bulk");
        let text = String::from_utf8_lossy(&a.body).into_owned();
        let dims = || {
            image::load_from_memory(&a.body)
                .map(|i| (i.width(), i.height()))
                .expect("decodes")
        };
        let fmt = if r.path.contains(".png") { "png" } else { "jpg" };
        match self.m {
            "401_without_www_authenticate" if a.status == 401 => {
                a.headers.remove("www-authenticate");
            }
            "401_with_empty_body" if a.status == 401 => {
                a.body.clear();
                a.headers.remove("content-type");
            }
            "empty_error_bodies" if [401, 403, 404, 429].contains(&a.status) && is_api(r) => {
                a.body.clear();
                a.headers.remove("content-type");
                a.headers.remove("www-authenticate");
            }
            "not_yours_403" if a.status == 404 && r.bearer() == Some(OTHER) => a.status = 403,
            "full_size_and_thumbnail_swapped"
            | "thumbnail_is_full_size"
            | "duplicate_result_indices"
            | "duplicate_last_result_indices"
            | "result_missing"
            | "completed_output_without_link"
            | "failed_without_error_message"
                if results =>
            {
                let mut v = a.json();
                let list = v["results"].as_array_mut().expect("results");
                match self.m {
                    "full_size_and_thumbnail_swapped" => {
                        for x in list.iter_mut() {
                            let f = x["output"]["full_size"].take();
                            x["output"]["full_size"] = x["output"]["thumbnail"].take();
                            x["output"]["thumbnail"] = f;
                        }
                    }
                    "thumbnail_is_full_size" => {
                        for x in list.iter_mut() {
                            x["output"]["thumbnail"] = x["output"]["full_size"].clone();
                        }
                    }
                    "duplicate_last_result_indices" => {
                        let last = list.len() - 1;
                        list[last]["image_index"] = list[0]["image_index"].clone();
                        list[last]["group_index"] = list[0]["group_index"].clone();
                    }
                    "duplicate_result_indices" => {
                        list[1]["image_index"] = list[0]["image_index"].clone();
                        list[1]["group_index"] = list[0]["group_index"].clone();
                    }
                    "result_missing" => {
                        list.pop();
                    }
                    "completed_output_without_link" => list[0]["output"]["thumbnail"] = Value::Null,
                    _ => {
                        list[0]["status"] = json!("failed");
                        list[0]["error_message"] = Value::Null;
                    }
                }
                a.set_json(&v);
            }
            "summary_miscounted" if results => {
                let mut v = a.json();
                v["summary"]["successful"] = json!(v["summary"]["successful"].as_u64().unwrap_or(0) + 1);
                a.set_json(&v);
            }
            "variation_group_index_wrong" if results => {
                let mut v = a.json();
                for x in v["results"]
                    .as_array_mut()
                    .into_iter()
                    .flatten()
                    .filter(|x| x["group_index"] == 1)
                {
                    x["group_index"] = json!(2);
                }
                a.set_json(&v);
            }
            "terminal_event_twice" if notifications => {
                let mut v = a.json();
                let list = v.as_array_mut().expect("a list");
                if let Some(t) = list
                    .iter()
                    .find(|n| n["name"] == "batch_edit" && n["data"]["status"] == "completed")
                    .cloned()
                {
                    list.push(t);
                }
                a.set_json(&v);
            }
            "identity_upload_without_code" | "identity_conflict_without_code" if r.is(&post, "/identity/upload") => {
                let mut v = a.json();
                v.as_object_mut().map(|o| {
                    o.remove(if a.status == 409 {
                        "existing_identity_code"
                    } else {
                        "identity_code"
                    })
                });
                if (a.status == 409) == (self.m == "identity_conflict_without_code") {
                    a.set_json(&v);
                }
            }
            "identity_get_other_identity" if r.is(&get, "/identity/") && a.status == 200 => {
                let mut v = a.json();
                v["identity_code"] = json!("id_someone_else");
                a.set_json(&v);
            }
            "project_duplicate_created" if r.is(&post, "/project") && a.status == 409 => {
                *a = Resp::empty(201);
                a.set_json(&json!({"project_id": "p_duplicate", "project_name": r.json()["project_name"]}));
                a.content_type("application/json");
            }
            "project_create_without_id" if r.is(&post, "/project") && a.status == 201 => {
                let mut v = a.json();
                v.as_object_mut().map(|o| o.remove("project_id"));
                a.set_json(&v);
            }
            "project_list_missing" if r.is(&get, "/project") && a.status == 200 => a.set_json(&json!({"projects": []})),
            "upload_without_file_id" if r.is(&post, "/upload") && a.status == 200 => {
                let mut v = a.json();
                v.as_object_mut().map(|o| o.remove("file_id"));
                a.set_json(&v);
            }
            "put_answers_204" if put && a.status == 200 => *a = Resp::empty(204),
            "job_create_200" if job_post && a.status == 202 => a.status = 200,
            "webhook_register_without_secret" if r.is(&Method::PUT, "/webhooks") && a.status < 300 => {
                let mut v = a.json();
                v.as_object_mut().map(|o| o.remove("secret"));
                a.set_json(&v);
            }
            "png_served_as_jpeg" if output && a.headers.get("content-type").is_some_and(|c| c == "image/png") => {
                a.content_type("image/jpeg");
            }
            "format_ignored" if full && fmt == "png" => {
                a.body = reimage(&a.body, "jpg", |i| i);
                a.content_type("image/jpeg");
            }
            "height_off_by_one" if full => {
                let (w, h) = dims();
                a.body = reimage(&a.body, fmt, |i| resize(i, w, h - 1));
            }
            "thumbnail_larger_than_full_size" if thumb => {
                let (w, h) = dims();
                a.body = reimage(&a.body, fmt, |i| resize(i, w * 9, h * 9));
            }
            "thumbnail_png_served_as_jpeg" if thumb && fmt == "jpg" => a.body = reimage(&a.body, "png", |i| i),
            "custom_size_off_by_8" if full && dims() == (1000, 600) => {
                a.body = reimage(&a.body, fmt, |i| resize(i, 1000, 608));
            }
            "jpeg_served_as_png" if output && a.headers.get("content-type").is_some_and(|c| c == "image/jpeg") => {
                a.content_type("image/png");
            }
            "size_off_by_8" if full => {
                let (w, h) = dims();
                a.body = reimage(&a.body, fmt, |i| resize(i, w - 8, h));
            }
            "ar_ignored" if full => {
                let (w, h) = dims();
                a.body = reimage(&a.body, fmt, |i| resize(i, w.max(h), w.max(h)));
            }
            "size_ignored" if full => {
                let (w, h) = dims();
                if w.max(h) == 2048 {
                    a.body = reimage(&a.body, fmt, |i| resize(i, w / 2, h / 2));
                }
            }
            "custom_size_ignored" if full && dims() == (1000, 600) => {
                a.body = reimage(&a.body, fmt, |i| resize(i, 1024, 1024));
            }
            "thumbnail_wrong_ratio" if thumb => a.body = reimage(&a.body, fmt, |i| resize(i, 256, 256)),
            "thumbnail_not_256" if thumb => {
                let (w, h) = dims();
                a.body = reimage(&a.body, fmt, |i| resize(i, w * 200 / 256, h * 200 / 256));
            }
            "image_corrupt" if output => a.body.truncate(a.body.len() / 2),
            "total_outputs_off_by_one" if job_post && a.status == 202 => {
                let mut v = a.json();
                v["total_outputs"] = json!(v["total_outputs"].as_u64().unwrap_or(0) + 1);
                a.set_json(&v);
            }
            "total_outputs_ignores_variations" if job_post && a.status == 202 => {
                let mut v = a.json();
                v["total_outputs"] = json!(r.json()["instructions"].as_array().map_or(0, Vec::len));
                a.set_json(&v);
            }
            "progress_above_100" if status => {
                let mut v = a.json();
                v["progress"] = json!(v["progress"].as_f64().unwrap_or(0.0) * 1.5);
                a.set_json(&v);
            }
            "progress_fraction" | "status_total_images_wrong" | "status_progress_string" if status => {
                let mut v = a.json();
                let p = v["progress"].as_f64().unwrap_or(0.0);
                match self.m {
                    "progress_fraction" => v["progress"] = json!(p / 100.0),
                    "status_progress_string" => v["progress"] = json!(p.to_string()),
                    _ => v["total_images"] = json!(v["total_images"].as_u64().unwrap_or(0) + 1),
                }
                a.set_json(&v);
            }
            "event_progress_fraction" | "processed_images_go_back" | "image_results_missing" if notifications => {
                let mut v = a.json();
                let list = v.as_array_mut().expect("a list");
                match self.m {
                    "image_results_missing" => list.retain(|n| n["name"] != "image_result"),
                    "event_progress_fraction" => {
                        for n in list.iter_mut().filter(|n| n["name"] == "batch_edit") {
                            let p = n["data"]["progress"].as_f64().unwrap_or(0.0);
                            n["data"]["progress"] = json!(p / 100.0);
                        }
                    }
                    _ => {
                        if let Some(n) = list.iter_mut().rev().find(|n| n["name"] == "batch_edit") {
                            n["data"]["processed_images"] = json!(0);
                        }
                    }
                }
                a.set_json(&v);
            }
            "put_accepts_forged_signature" if put && a.status == 403 && text.contains("SignatureDoesNotMatch") => {
                *a = Resp::empty(200);
            }
            "put_accepts_expired_url" if put && a.status == 403 && text.contains("expired") => *a = Resp::empty(200),
            "put_accepts_oversize" if put && text.contains("EntityTooLarge") => *a = Resp::empty(200),
            "download_url_other_bytes" if r.is(&get, "/blobs/files/") && a.status == 200 => {
                let mid = a.body.len() / 2;
                a.body[mid] ^= 0xFF;
            }
            "zip_never_expires" if zip => {
                let key = r.path.clone();
                if a.status == 200 {
                    self.memory().zips.insert(key, a.body.clone());
                } else if let Some(body) = self.memory().zips.get(&key).cloned() {
                    *a = Resp::empty(200);
                    a.body = body;
                    a.content_type("application/zip");
                }
            }
            "zip_corrupt" if zip && a.status == 200 => a.body.truncate(a.body.len() / 2),
            "rule_field_of_another_field" if job_post && a.status == 400 => {
                let mut v = a.json();
                for d in v["detail"].as_array_mut().into_iter().flatten() {
                    d["field"] = json!(if d["field"] == "identity_code" {
                        "project_id"
                    } else {
                        "identity_code"
                    });
                }
                a.set_json(&v);
            }
            "rule_field_null" | "rule_field_parent" if job_post && a.status == 400 => {
                let mut v = a.json();
                for d in v["detail"].as_array_mut().into_iter().flatten() {
                    d["field"] = if self.m == "rule_field_null" {
                        Value::Null
                    } else {
                        json!("body")
                    };
                }
                a.set_json(&v);
            }
            "rules_answer_429" if job_post && a.status == 400 => {
                a.status = 429;
                a.headers.insert("retry-after", HeaderValue::from_static("1"));
            }
            "rules_answer_500" if job_post && a.status == 400 => a.status = 500,
            "unknown_references_accepted" if job_post && a.status == 404 => {
                *a = Resp::empty(202);
                a.set_json(&json!({"job_id": "job_from_nothing", "status": "pending",
                    "message": "Job created successfully", "total_outputs": 1}));
                a.content_type("application/json");
            }
            "no_rate_limit" if job_post && a.status == 429 => {
                *a = Resp::empty(202);
                a.set_json(&json!({"job_id": "job_not_limited", "status": "pending",
                    "message": "Job created successfully", "total_outputs": 1}));
                a.content_type("application/json");
            }
            "unknown_fields_added" if a.headers.get("content-type").is_some_and(|c| c == "application/json") => {
                let mut v = a.json();
                if let Some(o) = v.as_object_mut() {
                    o.insert("x_vendor_note".into(), json!({"added": "later"}));
                    a.set_json(&v);
                }
            }
            // A job that takes longer: its first polls still say processing.
            "slower_job" if status => {
                let mut v = a.json();
                let polls = {
                    let mut m = self.memory();
                    let n = m.polls.entry(r.path.clone()).or_default();
                    *n += 1;
                    *n
                };
                if polls <= 2 && v["status"] != "processing" {
                    v["status"] = json!("processing");
                    v["progress"] = json!(0);
                    v["processed_images"] = json!(0);
                    a.set_json(&v);
                }
            }
            "pretty_printed_json" if a.headers.get("content-type").is_some_and(|c| c == "application/json") => {
                if let Ok(v) = serde_json::from_slice::<Value>(&a.body) {
                    a.body = serde_json::to_vec_pretty(&v).expect("json");
                    a.body.push(b'\n');
                }
            }
            "extra_headers" => {
                for (k, v) in [
                    ("x-request-id", "req-1"),
                    ("cache-control", "no-store"),
                    ("server", "nginx"),
                    ("vary", "Origin"),
                ] {
                    a.headers.insert(k, HeaderValue::from_static(v));
                }
            }
            "project_create_200" if r.is(&post, "/project") && a.status == 201 => a.status = 200,
            "identity_upload_201" if r.is(&post, "/identity/upload") && a.status == 200 => a.status = 201,
            "upload_without_expires" if r.is(&post, "/upload") && a.status == 200 => {
                let mut v = a.json();
                v.as_object_mut().map(|o| o.remove("expires"));
                a.set_json(&v);
            }
            "conflict_without_project_id" if r.is(&post, "/project") && a.status == 409 => {
                let mut v = a.json();
                v.as_object_mut().map(|o| o.remove("project_id"));
                a.set_json(&v);
            }
            "rate_limit_counts_every_request" if a.status == 429 => {
                a.headers.remove("retry-after");
            }
            _ => {}
        }
    }

    /// SSE-side breaks, on the stream up to `backfill_complete`.
    fn sse(&self, a: &mut Resp) {
        let text = String::from_utf8_lossy(&a.body).into_owned();
        let blocks: Vec<&str> = text.split("\n\n").filter(|b| !b.trim().is_empty()).collect();
        let join = |b: Vec<&str>| b.iter().map(|b| format!("{b}\n\n")).collect::<String>();
        let out = match self.m {
            "sse_text_plain" => {
                a.content_type("text/plain");
                text
            }
            "sse_without_ids" => text
                .lines()
                .filter(|l| !l.starts_with("id:"))
                .map(|l| format!("{l}\n"))
                .collect(),
            "sse_newest_first" => {
                let (mut backfill, rest): (Vec<&str>, Vec<&str>) =
                    blocks.into_iter().partition(|b| b.contains("event: backfill\n"));
                backfill.reverse();
                join(backfill.into_iter().chain(rest).collect())
            }
            "sse_ids_repeat" => text
                .lines()
                .map(|l| {
                    if l.starts_with("id:") {
                        "id: 1\n".to_owned()
                    } else {
                        format!("{l}\n")
                    }
                })
                .collect(),
            "sse_event_names_upper_case" => text.replace("event: backfill", "event: BACKFILL"),
            "sse_backfill_renamed" => text.replace("event: backfill\n", "event: message\n"),
            "sse_no_backfill_complete" => join(
                blocks
                    .into_iter()
                    .filter(|b| !b.contains("backfill_complete"))
                    .collect(),
            ),
            "sse_crlf" => text.replace('\n', "\r\n"),
            "sse_data_differs" => text
                .lines()
                .map(|l| {
                    match l
                        .strip_prefix("data: ")
                        .and_then(|d| serde_json::from_str::<Value>(d).ok())
                    {
                        Some(mut v) if v.get("timestamp").is_some() => {
                            v["timestamp"] = json!(v["timestamp"].as_f64().unwrap_or(0.0) + 1.0);
                            format!("data: {v}\n")
                        }
                        _ => format!("{l}\n"),
                    }
                })
                .collect(),
            _ => text,
        };
        a.body = out.into_bytes();
    }
}

async fn handle(State(p): State<Arc<Proxy>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = to_bytes(body, usize::MAX).await.unwrap_or_default().to_vec();
    let mut r = Req {
        method: parts.method.clone(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers.clone(),
        body,
    };
    if let Some(resp) = p.before(&mut r).await {
        return resp.into_response();
    }
    let url = format!(
        "{}{}{}",
        p.upstream,
        r.path,
        r.query.as_ref().map(|q| format!("?{q}")).unwrap_or_default()
    );
    let mut rb = p.http.request(r.method.clone(), url).body(r.body.clone());
    for (k, v) in &r.headers {
        if k != "host" && k != "content-length" {
            rb = rb.header(k, v);
        }
    }
    let res = match rb.send().await {
        Ok(res) => res,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let sse = r.path == "/notifications/events" && status == 200;
    let body = if sse {
        // Up to backfill_complete and the blank line after it; then the
        // stream ends (the harness reads no further).
        let mut stream = res.bytes_stream();
        let mut text = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !String::from_utf8_lossy(&text).contains("event: backfill_complete\ndata: {}\n\n") {
            match tokio::time::timeout_at(deadline, stream.next()).await {
                Ok(Some(Ok(chunk))) => text.extend_from_slice(&chunk),
                _ => break,
            }
        }
        text
    } else {
        res.bytes().await.map(|b| b.to_vec()).unwrap_or_default()
    };
    let mut a = Resp { status, headers, body };
    if sse {
        p.sse(&mut a);
    }
    p.after(&r, &mut a);
    if p.m == "chunked_answers" {
        // No Content-Length: the body comes in two chunks.
        let body = std::mem::take(&mut a.body);
        let half = body.len() / 2;
        let chunks = vec![
            Ok::<_, std::io::Error>(body[..half].to_vec()),
            Ok(body[half..].to_vec()),
        ];
        let mut resp = a.into_response();
        *resp.body_mut() = Body::from_stream(futures_util::stream::iter(chunks));
        return resp;
    }
    a.into_response()
}

/// The relay: the fake's webhook deliveries, forwarded to the harness's
/// listener, broken on the way when the mutation says so.
async fn relay(State(p): State<Arc<Proxy>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let mut body = to_bytes(body, usize::MAX).await.unwrap_or_default().to_vec();
    let mut headers = parts.headers.clone();
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(hook) = p.memory().hook.clone() else {
        return StatusCode::GONE.into_response();
    };
    match p.m {
        "webhook_bad_signature" => {
            let sig = headers
                .get("x-webhook-signature")
                .and_then(|s| s.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let flipped: String = sig
                .char_indices()
                .map(|(i, c)| {
                    if i == sig.len() - 1 {
                        if c == '0' { '1' } else { '0' }
                    } else {
                        c
                    }
                })
                .collect();
            headers.insert("x-webhook-signature", HeaderValue::from_str(&flipped).expect("header"));
        }
        "webhook_signature_without_prefix" => {
            let sig = headers
                .get("x-webhook-signature")
                .and_then(|s| s.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let bare = sig.trim_start_matches("sha256=").to_owned();
            headers.insert("x-webhook-signature", HeaderValue::from_str(&bare).expect("header"));
        }
        "webhook_unsigned" => {
            headers.remove("x-webhook-signature");
        }
        "webhook_signed_with_another_secret" => {
            use hmac::Mac;
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"whsec_not_the_registered_one").expect("key");
            mac.update(&body);
            let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
            headers.insert("x-webhook-signature", HeaderValue::from_str(&sig).expect("header"));
        }
        "webhook_body_reencoded" => body = serde_json::to_vec_pretty(&v).expect("json"),
        "webhook_event_header_wrong" => {
            headers.insert("x-webhook-event", HeaderValue::from_static("test"));
        }
        "webhook_event_header_missing" => {
            headers.remove("x-webhook-event");
        }
        "webhook_no_ping" if v["name"] == "ping" => return StatusCode::NO_CONTENT.into_response(),
        "webhook_no_terminal" if v["name"] == "batch_edit" && v["data"]["status"] == "completed" => {
            return StatusCode::NO_CONTENT.into_response();
        }
        _ => {}
    }
    let mut rb = p.http.post(hook).body(body);
    for (k, val) in &headers {
        if k != "host" && k != "content-length" {
            rb = rb.header(k, val);
        }
    }
    let status = match rb.send().await {
        Ok(res) => res.status().as_u16(),
        Err(_) => 502,
    };
    if p.m == "webhook_no_retry" && status >= 300 {
        return StatusCode::OK.into_response();
    }
    StatusCode::from_u16(status)
        .unwrap_or(StatusCode::BAD_GATEWAY)
        .into_response()
}

/// One run of the harness through the proxy applying `m`: the harness's
/// exit code and its JSON report.
async fn run_one(m: Mutation) -> (Option<i32>, Value, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let relay_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let public = format!("http://{}", listener.local_addr().expect("addr"));
    let relay_url = format!("http://{}/relay", relay_listener.local_addr().expect("addr"));
    let fake = tokio::task::spawn_blocking({
        let public = public.clone();
        // A small upload limit: the oversize probe sends one byte more.
        move || common::fake(&["--public-url", &public, "--max-upload-bytes", MAX_UPLOAD])
    })
    .await
    .expect("the fake starts");
    let proxy = Arc::new(Proxy {
        m: m.name,
        upstream: fake.base.clone(),
        relay: relay_url,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        memory: Mutex::new(Memory::default()),
    });
    let app = axum::Router::new().fallback(handle).with_state(proxy.clone());
    let relay_app = axum::Router::new().fallback(relay).with_state(proxy);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let relay_server = tokio::spawn(async move { axum::serve(relay_listener, relay_app).await });
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_contract-tests"));
    cmd.args([
        "run",
        "--base-url",
        &public,
        "--token",
        DEMO,
        "--other-token",
        OTHER,
        "--report",
        "json",
    ])
    .args([
        "--poll-interval-secs",
        "1",
        "--job-timeout-secs",
        "120",
        "--webhook-wait-secs",
        "120",
    ])
    .args(["--max-upload-bytes", MAX_UPLOAD]);
    if m.strict {
        cmd.args(["--profile", "strict"]);
    }
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{}: the harness did not finish within 120 s", m.name))
        .expect("the harness runs");
    server.abort();
    relay_server.abort();
    drop(fake);
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code(),
        report,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The checks a report failed.
fn failed_checks(report: &Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["status"] == "failed")
        .filter_map(|c| c["name"].as_str().map(str::to_owned))
        .collect()
}

/// What went wrong with one mutation, if anything.
fn judge(m: Mutation, code: Option<i32>, report: &Value, stderr: &str) -> Option<String> {
    let failed: Vec<(&str, &str)> = report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["status"] == "failed")
        .map(|c| (c["name"].as_str().unwrap_or(""), c["message"].as_str().unwrap_or("")))
        .collect();
    match m.kind {
        // The refused output must be reported as an outcome, not lost.
        Kind::Control
            if m.name == "per_output_refusal"
                && !report["outcomes"]
                    .as_array()
                    .is_some_and(|o| o.iter().any(|n| n.as_str().is_some_and(|n| n.contains("failed: ")))) =>
        {
            Some(format!(
                "control {}: the refused output is not among the outcomes: {}",
                m.name, report["outcomes"]
            ))
        }
        Kind::Control if code == Some(0) => None,
        Kind::Control => Some(format!(
            "control {} failed the run (exit {code:?}): {failed:?} {stderr}",
            m.name
        )),
        Kind::Break(_) if code == Some(0) => Some(format!("break {} survived (exit 0)", m.name)),
        Kind::Break(caught_by) => {
            let named = failed.iter().any(|(n, _)| caught_by.iter().any(|c| n.starts_with(c)));
            if code == Some(1) && named {
                None
            } else {
                Some(format!(
                    "break {}: exit {code:?}, expected a failure of {caught_by:?}, failed: {failed:?} {stderr}",
                    m.name
                ))
            }
        }
    }
}

#[test]
fn every_break_is_caught_and_every_vendor_variation_passes() {
    let breaks = MUTATIONS.iter().filter(|m| matches!(m.kind, Kind::Break(_))).count();
    assert!(breaks >= 40, "{breaks} breaks");
    let started = Instant::now();
    // Each run is mostly waiting on the network: a few at once fit 2 cores.
    let parallel = std::thread::available_parallelism()
        .map_or(2, |n| n.get() * 2)
        .clamp(2, 8);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let problems: Vec<String> = rt.block_on(async {
        let gate = Arc::new(tokio::sync::Semaphore::new(parallel));
        let mut tasks = Vec::new();
        // `MUTATIONS=a,b cargo test -p contract-tests --test mutations --
        // --nocapture` runs only those, showing what each run failed.
        let only: Option<Vec<String>> = std::env::var("MUTATIONS")
            .ok()
            .map(|v| v.split(',').map(str::to_owned).collect());
        for m in MUTATIONS
            .iter()
            .filter(|m| only.as_ref().is_none_or(|o| o.iter().any(|n| n == m.name)))
        {
            let gate = gate.clone();
            tasks.push(tokio::spawn(async move {
                let _permit = gate.acquire_owned().await.expect("semaphore");
                let t = Instant::now();
                let (code, report, stderr) = run_one(*m).await;
                let first = report["checks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|c| c["status"] == "failed")
                    .map(|c| {
                        format!(
                            "FAIL {}: {}",
                            c["name"].as_str().unwrap_or(""),
                            c["message"].as_str().unwrap_or("")
                        )
                    })
                    .unwrap_or_default();
                eprintln!(
                    "{:<40} exit {code:?} in {:.1} s {first:.200}",
                    m.name,
                    t.elapsed().as_secs_f64()
                );
                let caught = match m.kind {
                    Kind::Break(_) => failed_checks(&report),
                    Kind::Control => Vec::new(),
                };
                (judge(*m, code, &report, &stderr), caught)
            }));
        }
        let mut problems = Vec::new();
        let mut caught = HashSet::new();
        for t in tasks {
            let (problem, failed) = t.await.expect("the task ends");
            problems.extend(problem);
            caught.extend(failed);
        }
        // Honest checks: each one is failed by at least one break.
        for name in contract_tests::suite::CHECKS.iter().filter(|_| only.is_none()) {
            if !caught.contains(*name) {
                problems.push(format!("no break makes {name} fail"));
            }
        }
        problems
    });
    eprintln!(
        "{} mutations ({breaks} breaks) in {:.1} s, {parallel} at a time",
        MUTATIONS.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
