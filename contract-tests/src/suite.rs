//! The end-to-end suite: the documented flow against any base URL (the fake
//! or the real API), every response validated against `schemas/`, every
//! documented request rule probed with an invalid request.

use std::time::{Duration, Instant};

use contract::Contract;
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};

use crate::report::CheckResult;

const IDENTITY_JPG: &[u8] = include_bytes!("../../fixtures/images/identity.jpg");
const SHIRT_JPG: &[u8] = include_bytes!("../../fixtures/images/sku-shirt.jpg");

/// What the suite runs against.
#[derive(Debug, Clone)]
pub struct Config {
    /// Base URL (`http://127.0.0.1:8080`).
    pub base_url: String,
    /// Bearer token.
    pub token: String,
    /// Extra headers on every API request (`X-Mock-Scenario: …`).
    pub headers: Vec<(String, String)>,
    /// How long a job may take.
    pub job_timeout: Duration,
    /// Pause between status polls.
    pub poll_interval: Duration,
    /// Listen here for webhook deliveries and check each one (address and
    /// the URL the server should POST to).
    pub webhook: Option<(std::net::SocketAddr, String)>,
}

/// One webhook delivery as received.
struct Delivery {
    headers: axum::http::HeaderMap,
    body: bytes::Bytes,
}

/// Starts a receiver on `addr` that answers 204 and hands over every
/// delivery.
async fn listen(addr: std::net::SocketAddr) -> Outcome<tokio::sync::mpsc::UnboundedReceiver<Delivery>> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let handler = move |headers: axum::http::HeaderMap, body: bytes::Bytes| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(Delivery { headers, body });
            axum::http::StatusCode::NO_CONTENT
        }
    };
    let router = axum::Router::new().fallback(axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(rx)
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`, compared in constant time.
fn signature_ok(secret: &str, body: &[u8], header: &str) -> bool {
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

/// An HTTP answer.
struct Answer {
    status: u16,
    content_type: String,
    headers: reqwest::header::HeaderMap,
    body: bytes::Bytes,
}

struct Suite<'a> {
    cfg: &'a Config,
    http: reqwest::Client,
    results: Vec<CheckResult>,
    progress: &'a (dyn Fn(&str) + Sync),
}

type Outcome<T> = Result<T, String>;

impl Suite<'_> {
    /// Runs one named check and records it.
    async fn check<T>(&mut self, name: &str, f: impl AsyncFnOnce(&Self) -> Outcome<T>) -> Option<T> {
        (self.progress)(name);
        let started = Instant::now();
        let out = f(self).await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (passed, message, value) = match out {
            Ok(v) => (true, String::new(), Some(v)),
            Err(m) => (false, m, None),
        };
        self.results.push(CheckResult {
            name: name.to_owned(),
            passed,
            message,
            duration_ms,
        });
        value
    }

    /// Records a check that could not run because an earlier one failed.
    fn skipped(&mut self, name: &str, because: &str) {
        self.results.push(CheckResult {
            name: name.to_owned(),
            passed: false,
            message: format!("not run: {because} failed"),
            duration_ms: 0,
        });
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.cfg.base_url.trim_end_matches('/'))
        }
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

    /// An API request with the token and extra headers.
    async fn api(&self, method: Method, path: &str, body: Option<Value>) -> Outcome<Answer> {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(&self.cfg.token);
        for (k, v) in &self.cfg.headers {
            req = req.header(k, v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.send(req).await
    }

    /// The JSON body, validated against the schema the contract names for
    /// `method path status`; a mismatch names the field.
    fn json(&self, method: &str, path: &str, a: &Answer) -> Outcome<Value> {
        let template_path = path.split('?').next().unwrap_or(path);
        let v: Value = serde_json::from_slice(&a.body)
            .map_err(|e| format!("{method} {template_path} {}: not JSON: {e}", a.status))?;
        let c = Contract::global();
        let schema = c
            .response_schema(method, template_path, a.status)
            .ok_or_else(|| format!("{method} {template_path}: status {} is not in the contract", a.status))?;
        c.validate(&schema, &v).map_err(|errs| {
            let lines: Vec<String> = errs.iter().map(ToString::to_string).collect();
            format!(
                "{method} {template_path} {} does not match {schema}: {}",
                a.status,
                lines.join("; ")
            )
        })?;
        Ok(v)
    }

    fn expect_status(method: &str, path: &str, a: &Answer, ok: &[u16]) -> Outcome<()> {
        if ok.contains(&a.status) {
            Ok(())
        } else {
            Err(format!(
                "{method} {path}: expected {ok:?}, got {} {}",
                a.status,
                String::from_utf8_lossy(&a.body).chars().take(300).collect::<String>()
            ))
        }
    }
}

/// Runs the suite; `progress` hears each check's name as it starts.
pub async fn run(cfg: &Config, progress: &(dyn Fn(&str) + Sync)) -> Vec<CheckResult> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap_or_default();
    let mut s = Suite {
        cfg,
        http,
        results: Vec::new(),
        progress,
    };

    s.check("auth.missing_token_is_401", async |s| {
        let a = s.send(s.http.get(s.url("/project"))).await?;
        Suite::expect_status("GET", "/project", &a, &[401])
    })
    .await;

    let identity = s
        .check("identity.upload", async |s| {
            let form = reqwest::multipart::Form::new()
                .part(
                    "image",
                    reqwest::multipart::Part::bytes(IDENTITY_JPG.to_vec()).file_name("identity.jpg"),
                )
                .text("name", "contract-tests model");
            let mut req = s
                .http
                .post(s.url("/identity/upload"))
                .bearer_auth(&s.cfg.token)
                .multipart(form);
            for (k, v) in &s.cfg.headers {
                req = req.header(k, v);
            }
            let a = s.send(req).await?;
            Suite::expect_status("POST", "/identity/upload", &a, &[200, 201, 409])?;
            let v = s.json("POST", "/identity/upload", &a)?;
            v.get("identity_code")
                .or_else(|| v.get("existing_identity_code"))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| "no identity_code".to_owned())
        })
        .await;
    if let Some(code) = &identity {
        s.check("identity.get", async |s| {
            let path = format!("/identity/{code}");
            let a = s.api(Method::GET, &path, None).await?;
            Suite::expect_status("GET", &path, &a, &[200])?;
            s.json("GET", &path, &a).map(|_| ())
        })
        .await;
    }

    let project = s
        .check("project.create", async |s| {
            let a = s
                .api(
                    Method::POST,
                    "/project",
                    Some(json!({"project_name": "contract-tests"})),
                )
                .await?;
            Suite::expect_status("POST", "/project", &a, &[200, 201, 409])?;
            let v = s.json("POST", "/project", &a)?;
            v["project_id"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| "no project_id".to_owned())
        })
        .await;
    s.check("project.list", async |s| {
        let a = s.api(Method::GET, "/project?per_page=100", None).await?;
        Suite::expect_status("GET", "/project", &a, &[200])?;
        let v = s.json("GET", "/project", &a)?;
        v["projects"]
            .as_array()
            .filter(|p| p.iter().any(|p| p["project_text"] == "contract-tests"))
            .map(|_| ())
            .ok_or_else(|| "the project is not listed".into())
    })
    .await;

    let upload = s
        .check("upload.presign", async |s| {
            let a = s
                .api(
                    Method::POST,
                    "/upload",
                    Some(json!({"project_name": "contract-tests", "filename": "sku-shirt.jpg"})),
                )
                .await?;
            Suite::expect_status("POST", "/upload", &a, &[200, 201])?;
            s.json("POST", "/upload", &a)
        })
        .await;
    let mut file_id = None;
    if let Some(up) = &upload {
        let put_ok = s
            .check("upload.put", async |s| {
                let url = up["upload_url"].as_str().ok_or("no upload_url")?;
                let ct = up["content_type"].as_str().ok_or("no content_type")?;
                let a = s
                    .send(s.http.put(url).header("content-type", ct).body(SHIRT_JPG.to_vec()))
                    .await?;
                Suite::expect_status("PUT", "upload_url", &a, &[200, 201])
            })
            .await;
        if put_ok.is_some() {
            file_id = up["file_id"].as_str().map(str::to_owned);
            s.check("upload.download_matches", async |s| {
                let url = up["download_url"].as_str().ok_or("no download_url")?;
                let a = s.send(s.http.get(url)).await?;
                Suite::expect_status("GET", "download_url", &a, &[200])?;
                if a.body.as_ref() == SHIRT_JPG {
                    Ok(())
                } else {
                    Err(format!("download_url returned {} other bytes", a.body.len()))
                }
            })
            .await;
        }
    }

    let (Some(code), Some(project), Some(file)) = (identity, project, file_id) else {
        for name in [
            "job.create",
            "job.status",
            "job.results",
            "job.result_images",
            "download.zip",
            "notifications.poll",
            "sse.backfill",
        ] {
            s.skipped(name, "identity, project or upload");
        }
        return s.results;
    };
    let body = |instructions: Value| json!({"identity_code": code, "project_id": project, "images": [file], "instructions": instructions});

    probe_rules(&mut s, &body).await;

    let mut hooks = None;
    if let Some((addr, url)) = cfg.webhook.clone() {
        hooks = s
            .check("webhook.register", async |s| {
                let rx = listen(addr).await?;
                let a = s.api(Method::PUT, "/webhooks", Some(json!({"url": url}))).await?;
                Suite::expect_status("PUT", "/webhooks", &a, &[200, 201])?;
                let v = s.json("PUT", "/webhooks", &a)?;
                let secret = v["secret"].as_str().ok_or("no secret")?.to_owned();
                Ok((rx, secret))
            })
            .await;
    }

    let vendor = json!([
        {"pose": "standing front-facing", "expression": "neutral", "background": "white studio", "lighting": "soft",
         "camera": {"framing": "full body", "angle": "eye level"}, "options": {"size": "1K", "ar": "9:16", "format": "jpg"}},
        {"pose": "walking, mid-stride", "mood": "editorial", "lighting": "dramatic",
         "camera": {"framing": "three-quarter", "angle": "low angle"}, "options": {"size": "1K", "ar": "3:4", "format": "png"}}
    ]);
    let job = s
        .check("job.create", async |s| {
            let mut b = body(vendor.clone());
            b["options"] = json!({"model": "auto"});
            for _ in 0..4 {
                let a = s.api(Method::POST, "/flat-2-model", Some(b.clone())).await?;
                if a.status == 429 {
                    let wait = a
                        .headers
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(5u64);
                    tokio::time::sleep(Duration::from_secs(wait.min(60))).await;
                    continue;
                }
                Suite::expect_status("POST", "/flat-2-model", &a, &[202])?;
                let v = s.json("POST", "/flat-2-model", &a)?;
                if v["total_outputs"] != 2 {
                    return Err(format!("total_outputs is {}, not 2", v["total_outputs"]));
                }
                return v["job_id"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| "no job_id".into());
            }
            Err("still rate-limited after 4 tries".into())
        })
        .await;
    let Some(job) = job else {
        for name in [
            "job.status",
            "job.results",
            "job.result_images",
            "download.zip",
            "notifications.poll",
            "sse.backfill",
        ] {
            s.skipped(name, "job.create");
        }
        return s.results;
    };

    let finished = s
        .check("job.status", async |s| {
            let path = format!("/jobs/{job}/status");
            let deadline = Instant::now() + s.cfg.job_timeout;
            let mut last_progress = -1.0;
            loop {
                let a = s.api(Method::GET, &path, None).await?;
                if a.status >= 500 || a.status == 429 {
                    tokio::time::sleep(s.cfg.poll_interval).await;
                    continue;
                }
                Suite::expect_status("GET", &path, &a, &[200])?;
                let v = s.json("GET", &path, &a)?;
                let progress = v["progress"].as_f64().ok_or("progress is not a number")?;
                if progress < last_progress {
                    return Err(format!("progress went back from {last_progress} to {progress}"));
                }
                last_progress = progress;
                match v["status"].as_str() {
                    Some("completed") => return Ok(true),
                    Some("failed" | "aborted") => return Err(format!("the job failed: {}", v["error_message"])),
                    _ => {}
                }
                if Instant::now() > deadline {
                    return Err(format!("not finished after {:?}", s.cfg.job_timeout));
                }
                tokio::time::sleep(s.cfg.poll_interval).await;
            }
        })
        .await
        .is_some();

    let results = if finished {
        s.check("job.results", async |s| {
            let path = format!("/jobs/{job}/results");
            let a = s.api(Method::GET, &path, None).await?;
            Suite::expect_status("GET", &path, &a, &[200])?;
            let v = s.json("GET", &path, &a)?;
            let n = v["results"].as_array().map_or(0, Vec::len);
            if n != 2 {
                Err(format!("{n} results, not 2"))
            } else {
                Ok(v)
            }
        })
        .await
    } else {
        s.skipped("job.results", "job.status");
        None
    };
    if let Some(r) = &results {
        s.check("job.result_images", async |s| {
            for res in r["results"].as_array().into_iter().flatten() {
                for kind in ["full_size", "thumbnail"] {
                    let url = res["output"][kind]
                        .as_str()
                        .ok_or_else(|| format!("result {} has no {kind}", res["image_index"]))?;
                    let a = s.send(s.http.get(url)).await?;
                    Suite::expect_status("GET", kind, &a, &[200])?;
                    if !a.content_type.starts_with("image/") {
                        return Err(format!("{kind} is {}", a.content_type));
                    }
                }
            }
            Ok(())
        })
        .await;
        s.check("download.zip", async |s| {
            let a = s.api(Method::POST, "/download", Some(json!({"job_id": job}))).await?;
            Suite::expect_status("POST", "/download", &a, &[200])?;
            let v = s.json("POST", "/download", &a)?;
            let url = v["download_url"].as_str().ok_or("no download_url")?;
            let z = s.send(s.http.get(url)).await?;
            Suite::expect_status("GET", "download_url", &z, &[200])?;
            let archive =
                zip::ZipArchive::new(std::io::Cursor::new(z.body.to_vec())).map_err(|e| format!("not a ZIP: {e}"))?;
            if archive.len() == 2 {
                Ok(())
            } else {
                Err(format!("{} entries, not 2", archive.len()))
            }
        })
        .await;
    }

    if let Some((mut rx, secret)) = hooks {
        s.check("webhook.deliveries", async |_| {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            let mut seen = 0;
            loop {
                let d = tokio::time::timeout_at(deadline, rx.recv())
                    .await
                    .map_err(|_| format!("no terminal batch_edit for the job within 30 s ({seen} deliveries)"))?
                    .ok_or("the receiver stopped")?;
                seen += 1;
                let sig = d
                    .headers
                    .get("x-webhook-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if !signature_ok(&secret, &d.body, sig) {
                    return Err(format!("delivery {seen}: X-Webhook-Signature does not verify"));
                }
                let v: Value =
                    serde_json::from_slice(&d.body).map_err(|e| format!("delivery {seen}: not JSON: {e}"))?;
                Contract::global().validate("notification.json", &v).map_err(|errs| {
                    format!(
                        "delivery {seen} does not match notification.json: {}",
                        errs.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
                    )
                })?;
                let event = d
                    .headers
                    .get("x-webhook-event")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if v["name"] != event {
                    return Err(format!(
                        "delivery {seen}: X-Webhook-Event {event:?} but name {}",
                        v["name"]
                    ));
                }
                if v["name"] == "batch_edit"
                    && v["data"]["id_task"] == job.as_str()
                    && v["data"]["status"] == "completed"
                {
                    return Ok(());
                }
            }
        })
        .await;
    }

    s.check("notifications.poll", async |s| {
        let a = s
            .api(Method::POST, "/notifications", Some(json!({"id_task": [job]})))
            .await?;
        Suite::expect_status("POST", "/notifications", &a, &[200])?;
        let v = s.json("POST", "/notifications", &a)?;
        let terminal = v
            .as_array()
            .into_iter()
            .flatten()
            .filter(|n| n["name"] == "batch_edit" && n["data"]["status"] == "completed")
            .count();
        if finished && terminal != 1 {
            Err(format!("{terminal} terminal batch_edit notifications, not 1"))
        } else {
            Ok(())
        }
    })
    .await;

    s.check("sse.backfill", async |s| {
        let mut req = s
            .http
            .get(s.url(&format!("/notifications/events?id_task={job}")))
            .bearer_auth(&s.cfg.token)
            .header("last-event-id", "0");
        for (k, v) in &s.cfg.headers {
            req = req.header(k, v);
        }
        let res = req.send().await.map_err(|e| format!("connect failed: {e}"))?;
        if res.status() != 200 {
            return Err(format!("status {}", res.status()));
        }
        let mut stream = res.bytes_stream();
        let mut buf = String::new();
        let mut seen = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            while let Some(end) = buf.find("\n\n") {
                let block: String = buf.drain(..end + 2).collect();
                if block.contains("event: backfill_complete") {
                    return if seen > 0 {
                        Ok(())
                    } else {
                        Err("no notification for the job was replayed".into())
                    };
                }
                if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                    let v: Value = serde_json::from_str(data).map_err(|e| format!("data is not JSON: {e}"))?;
                    Contract::global().validate("notification.json", &v).map_err(|errs| {
                        format!(
                            "notification {} does not match notification.json: {}",
                            v["id"],
                            errs.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
                        )
                    })?;
                    seen += 1;
                }
            }
            let next = tokio::time::timeout_at(deadline, stream.next())
                .await
                .map_err(|_| "no backfill_complete within 20 s".to_owned())?;
            match next {
                Some(Ok(chunk)) => buf.push_str(&String::from_utf8_lossy(&chunk)),
                Some(Err(e)) => return Err(format!("stream error: {e}")),
                None => return Err("the stream ended before backfill_complete".into()),
            }
        }
    })
    .await;
    s.results
}

/// Every documented rule, broken once: each must answer 4xx in the error
/// envelope (a 5xx or an acceptance fails the check).
async fn probe_rules(s: &mut Suite<'_>, body: &impl Fn(Value) -> Value) {
    let with = |mut b: Value, key: &str, v: Value| {
        b[key] = v;
        b
    };
    let one = |opts: Value| body(json!([{"options": opts}]));
    let probes: Vec<(&str, Value)> = vec![
        (
            "rules.anchor_index_equal_to_instruction_count",
            with(body(json!([{}, {}])), "options", json!({"anchor_index": 2})),
        ),
        ("rules.width_without_height", one(json!({"width": 1024}))),
        (
            "rules.width_not_a_multiple_of_8",
            one(json!({"width": 300, "height": 1024})),
        ),
        ("rules.width_below_256", one(json!({"width": 248, "height": 1024}))),
        ("rules.height_above_7000", one(json!({"width": 1024, "height": 7008}))),
        ("rules.ratio_5_to_1", one(json!({"width": 2560, "height": 512}))),
        ("rules.num_variations_9", body(json!([{"num_variations": 9}]))),
        ("rules.num_variations_0", body(json!([{"num_variations": 0}]))),
        ("rules.size_8k", one(json!({"size": "8K"}))),
        ("rules.ar_2_to_1", one(json!({"ar": "2:1"}))),
        ("rules.format_gif", one(json!({"format": "gif"}))),
        (
            "rules.model_unknown",
            with(body(json!([{}])), "options", json!({"model": "dalle"})),
        ),
        ("rules.no_instructions", body(json!([]))),
        (
            "rules.eleven_instructions",
            body(json!((0..11).map(|_| json!({})).collect::<Vec<_>>())),
        ),
        ("rules.no_images", with(body(json!([{}])), "images", json!([]))),
        (
            "rules.eleven_images",
            with(
                body(json!([{}])),
                "images",
                json!((0..11).map(|i| format!("sku_{i}")).collect::<Vec<_>>()),
            ),
        ),
        (
            "rules.unknown_file",
            with(body(json!([{}])), "images", json!(["sku_does_not_exist"])),
        ),
        (
            "rules.unknown_identity",
            with(body(json!([{}])), "identity_code", json!("id_does_not_exist")),
        ),
        (
            "rules.unknown_project",
            with(body(json!([{}])), "project_id", json!("does-not-exist")),
        ),
        ("rules.design_value_wrong_type", body(json!([{"pose": true}]))),
        (
            "rules.design_value_object_without_text",
            body(json!([{"pose": {"image": "x"}}])),
        ),
        (
            "rules.post_process_not_boolean",
            with(body(json!([{}])), "post_process", json!("yes")),
        ),
    ];
    for (name, probe) in probes {
        s.check(name, async |s| {
            let a = s.api(Method::POST, "/flat-2-model", Some(probe.clone())).await?;
            if !(400..500).contains(&a.status) {
                return Err(format!(
                    "expected a 4xx, got {} {}",
                    a.status,
                    String::from_utf8_lossy(&a.body).chars().take(200).collect::<String>()
                ));
            }
            let v = s.json("POST", "/flat-2-model", &a)?;
            if a.status != 429 && v["detail"].as_array().is_none_or(|d| d.is_empty()) {
                return Err("the error names no field".into());
            }
            Ok(())
        })
        .await;
    }
}
