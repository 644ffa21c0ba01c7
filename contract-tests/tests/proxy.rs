//! `contract-tests proxy`, offline: the fake as the upstream (behind a
//! small stub that records the bytes it sends and can plant drifts), a
//! second fake beside the proxy for the comparison, and a client running
//! the whole flow through the proxy.

mod common;

use std::sync::{Arc, Mutex};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use contract::profile::Profile;
use contract_tests::proxy::{Options, Proxy};
use contract_tests::report::Format;
use futures_util::StreamExt as _;
use serde_json::{Value, json};

const DEMO: &str = "f2m_demo_token";
const IDENTITY: &[u8] = include_bytes!("../../fixtures/images/identity.jpg");
const SHIRT: &[u8] = include_bytes!("../../fixtures/images/sku-shirt.jpg");

/// One planted drift: what the stub changes in the upstream's answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plant {
    /// `progress` as a string in the job status (a wrong type).
    ProgressString,
    /// `status: "queued"` in the job status (an unknown value).
    UnknownStatus,
    /// `total_outputs` gone from the 202 (a missing required field).
    NoTotalOutputs,
    /// `event: backfilled` on the SSE stream (a renamed event).
    SseRenamed,
    /// The results served as `text/plain` (a wrong content type).
    ResultsTextPlain,
    /// `projects[].color` in the project list (a field the fake never gives).
    ExtraField,
    /// `POST /project` answering 200 where the fake answers 201.
    Project200,
    /// `data.eta` in every notification of `POST /notifications`.
    NotificationEta,
    /// `DELETE /notifications/{id}` answering 404 (it was deleted).
    NotificationGone,
}

#[derive(Debug)]
struct Stub {
    fake: String,
    http: reqwest::Client,
    plants: Vec<Plant>,
    /// `(method, path, the body it sent)`, in order; SSE is not kept.
    sent: Mutex<Vec<(String, String, Vec<u8>)>>,
}

fn edit(v: &mut Value, plants: &[Plant], method: &str, path: &str) {
    let status_path = path.starts_with("/jobs/") && path.ends_with("/status");
    for p in plants {
        match (p, method) {
            (Plant::ProgressString, "GET") if status_path => v["progress"] = json!("33"),
            (Plant::UnknownStatus, "GET") if status_path => v["status"] = json!("queued"),
            (Plant::NoTotalOutputs, "POST") if path == "/flat-2-model" => {
                v.as_object_mut().map(|o| o.remove("total_outputs"));
            }
            (Plant::NotificationEta, "POST") if path == "/notifications" => {
                for n in v.as_array_mut().into_iter().flatten() {
                    n["data"]["eta"] = json!(5);
                }
            }
            (Plant::ExtraField, "GET") if path == "/project" => {
                for p in v["projects"].as_array_mut().into_iter().flatten() {
                    p["color"] = json!("teal");
                }
            }
            _ => {}
        }
    }
}

/// The upstream: forwards to the fake, plants drifts, records what it sent.
async fn stub(State(s): State<Arc<Stub>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let method = parts.method.to_string();
    let url = format!(
        "{}{}",
        s.fake,
        parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let body = to_bytes(body, usize::MAX).await.expect("request body");
    let mut out = s.http.request(parts.method.clone(), url).body(body);
    for (k, v) in &parts.headers {
        if k != "host" {
            out = out.header(k, v);
        }
    }
    let res = out.send().await.expect("the fake answers");
    let mut status = res.status();
    let mut headers = res.headers().clone();
    if path == "/notifications/events" {
        let rename = s.plants.contains(&Plant::SseRenamed);
        let stream = res.bytes_stream().map(move |c| {
            c.map(|b| {
                if rename {
                    bytes::Bytes::from(String::from_utf8_lossy(&b).replace("event: backfill\n", "event: backfilled\n"))
                } else {
                    b
                }
            })
        });
        let mut r = Response::new(Body::from_stream(stream));
        *r.status_mut() = status;
        *r.headers_mut() = headers;
        return r;
    }
    let mut bytes = res.bytes().await.expect("the fake's body").to_vec();
    if let Ok(mut v) = serde_json::from_slice::<Value>(&bytes) {
        let before = v.clone();
        edit(&mut v, &s.plants, &method, &path);
        if v != before {
            bytes = serde_json::to_vec(&v).expect("json");
            headers.remove("content-length");
        }
    }
    if s.plants.contains(&Plant::Project200) && method == "POST" && path == "/project" && status == 201 {
        status = axum::http::StatusCode::OK;
    }
    if s.plants.contains(&Plant::NotificationGone) && method == "DELETE" && path.starts_with("/notifications/") {
        status = axum::http::StatusCode::NOT_FOUND;
    }
    if s.plants.contains(&Plant::ResultsTextPlain) && path.ends_with("/results") {
        headers.insert("content-type", "text/plain".parse().expect("value"));
    }
    s.sent.lock().expect("lock").push((method, path, bytes.clone()));
    let mut r = Response::new(Body::from(bytes));
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    r
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await.ok() });
    format!("http://{addr}")
}

async fn start_stub(fake: &str, plants: &[Plant]) -> (String, Arc<Stub>) {
    let s = Arc::new(Stub {
        fake: fake.to_owned(),
        http: reqwest::Client::new(),
        plants: plants.to_vec(),
        sent: Mutex::new(Vec::new()),
    });
    let url = serve(axum::Router::new().fallback(stub).with_state(s.clone())).await;
    (url, s)
}

async fn proxy(upstream: &str, compare: Option<&str>, rewrite_urls: bool) -> Proxy {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let opts = Options {
        upstream: upstream.to_owned(),
        profile: Profile::Vendor,
        rewrite_urls,
        compare: compare.map(|c| (c.to_owned(), DEMO.to_owned())),
    };
    Proxy::start(opts, listener, None).await.expect("proxy starts")
}

/// A client of the API through `base`, keeping every body it received.
struct Client {
    base: String,
    http: reqwest::Client,
    got: Vec<(String, String, Vec<u8>)>,
    scenario: Option<&'static str>,
    token: &'static str,
    /// The SSE backfill read last.
    sse_text: String,
}

impl Client {
    fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            http: reqwest::Client::new(),
            got: Vec::new(),
            scenario: None,
            token: DEMO,
            sse_text: String::new(),
        }
    }

    async fn call(&mut self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        if let Some(s) = self.scenario {
            req = req.header("x-mock-scenario", s);
        }
        let res = req.send().await.expect("the proxy answers");
        let status = res.status().as_u16();
        let bytes = res.bytes().await.expect("body").to_vec();
        let path = path.split('?').next().unwrap_or(path).to_owned();
        self.got.push((method.to_string(), path, bytes.clone()));
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// The whole flow: identity, project, upload, job, clock, status,
    /// results, SSE, polling, ZIP. Returns the job's ID and the results.
    async fn flow(&mut self, model: &str) -> (String, Value) {
        use reqwest::Method as M;
        let form = reqwest::multipart::Form::new()
            .part(
                "image",
                reqwest::multipart::Part::bytes(IDENTITY).file_name("identity.jpg"),
            )
            .text("name", "Model A");
        let res = self
            .http
            .post(format!("{}/identity/upload", self.base))
            .bearer_auth(self.token)
            .multipart(form)
            .send()
            .await
            .expect("identity");
        let bytes = res.bytes().await.expect("body").to_vec();
        self.got.push(("POST".into(), "/identity/upload".into(), bytes.clone()));
        let id: Value = serde_json::from_slice(&bytes).expect("json");
        let code = id["identity_code"]
            .as_str()
            .or(id["existing_identity_code"].as_str())
            .expect("code")
            .to_owned();
        let (_, project) = self
            .call(M::POST, "/project", Some(json!({"project_name": "proxy"})))
            .await;
        let project_id = project["project_id"].as_str().expect("project").to_owned();
        self.call(M::GET, "/project?per_page=100", None).await;
        let (_, up) = self
            .call(M::POST, "/upload", Some(json!({"filename": "sku-shirt.jpg"})))
            .await;
        let put = self
            .http
            .put(up["upload_url"].as_str().expect("upload_url"))
            .header("content-type", up["content_type"].as_str().expect("ct"))
            .body(SHIRT)
            .send()
            .await
            .expect("put");
        assert_eq!(put.status(), 200, "{:?}", put.text().await);
        let (status, job) = self
            .call(
                M::POST,
                "/flat-2-model",
                Some(
                    json!({"identity_code": code, "project_id": project_id, "images": [up["file_id"]],
                    "instructions": [{"pose": "standing"}, {"background": "white", "num_variations": 2}],
                    "options": {"model": model}}),
                ),
            )
            .await;
        assert_eq!(status, 202, "{job}");
        let job_id = job["job_id"].as_str().expect("job_id").to_owned();
        self.call(M::GET, &format!("/jobs/{job_id}/status"), None).await;
        self.call(M::POST, "/__admin/clock", Some(json!({"advance": "2m"})))
            .await;
        self.call(M::GET, &format!("/jobs/{job_id}/status"), None).await;
        let (_, results) = self.call(M::GET, &format!("/jobs/{job_id}/results"), None).await;
        self.call(M::POST, "/notifications", Some(json!({"id_task": [job_id]})))
            .await;
        self.sse(&job_id).await;
        self.call(M::POST, "/download", Some(json!({"job_id": job_id}))).await;
        (job_id, results)
    }

    /// Reads the job's SSE backfill through the proxy until
    /// `backfill_complete` (or its renamed stand-in's end).
    async fn sse(&mut self, job: &str) {
        let res = self
            .http
            .get(format!("{}/notifications/events?id_task={job}", self.base))
            .bearer_auth(self.token)
            .send()
            .await
            .expect("sse");
        assert_eq!(res.status(), 200);
        let mut stream = res.bytes_stream();
        let mut text = String::new();
        while !text.contains("backfill_complete") {
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
                .await
                .expect("the stream goes on")
                .expect("not ended")
                .expect("chunk");
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        assert!(text.contains("\"batch_edit\""), "{text}");
        self.sse_text = text;
    }

    /// The `full_size` links of the `image_result` notifications of the
    /// SSE backfill read last.
    fn sse_links(&self) -> Vec<String> {
        self.sse_text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l.strip_prefix("data: ")?).ok())
            .filter(|n| n["name"] == "image_result")
            .filter_map(|n| n["data"]["output"]["full_size"].as_str().map(str::to_owned))
            .collect()
    }
}

async fn drift_json(p: &Proxy) -> Value {
    serde_json::from_str(&p.report(Format::Json).await.0).expect("json report")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_job_flow_passes_unchanged_and_without_drift() {
    let (upstream_fake, beside) = (common::fake(&[]), common::fake(&[]));
    let (stub_url, stub) = start_stub(&upstream_fake.base, &[]).await;
    let p = proxy(&stub_url, Some(&beside.base), false).await;
    let mut client = Client::new(p.url());
    client.flow("auto").await;
    // Every body the client got is the one the upstream sent, byte for byte.
    let sent = stub.sent.lock().expect("lock").clone();
    assert_eq!(client.got.len(), sent.len());
    for (got, sent) in client.got.iter().zip(&sent) {
        assert_eq!(got, sent, "{} {}", got.0, got.1);
    }
    let report = drift_json(&p).await;
    assert_eq!(report["drifts"], json!([]), "{report:#}");
    assert!(report["compared"].as_u64().expect("compared") >= 10, "{report:#}");
    assert_eq!(report["operations"]["GET /jobs/{id}/status"], 2, "{report:#}");
    let text = p.report(Format::Junit).await.0;
    assert!(text.contains("failures=\"0\""), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_planted_drift_is_reported_with_its_field_path() {
    let (upstream_fake, beside) = (common::fake(&[]), common::fake(&[]));
    let plants = [
        Plant::ProgressString,
        Plant::UnknownStatus,
        Plant::NoTotalOutputs,
        Plant::SseRenamed,
        Plant::ResultsTextPlain,
        Plant::ExtraField,
        Plant::Project200,
    ];
    let (stub_url, _) = start_stub(&upstream_fake.base, &plants).await;
    let p = proxy(&stub_url, Some(&beside.base), false).await;
    Client::new(p.url()).flow("auto").await;
    let report = drift_json(&p).await;
    let mut found: Vec<(String, String, String)> = report["drifts"]
        .as_array()
        .expect("drifts")
        .iter()
        .map(|d| {
            let s = |k: &str| d[k].as_str().expect("string").to_owned();
            (s("kind"), s("operation"), s("field"))
        })
        .collect();
    found.sort();
    let mut want: Vec<(String, String, String)> = [
        ("content-type", "GET /jobs/{id}/results", "Content-Type"),
        ("fake-status", "POST /project", "HTTP status"),
        ("field-not-faked", "GET /project", "projects[].color"),
        ("response", "GET /jobs/{id}/status", "progress"),
        ("response", "GET /jobs/{id}/status", "status"),
        ("response", "POST /flat-2-model", "total_outputs"),
        ("sse", "GET /notifications/events", "event"),
    ]
    .iter()
    .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
    .collect();
    want.sort();
    assert_eq!(found, want, "{report:#}");
    // Counted: two status polls, each with both drifts.
    let progress = report["drifts"]
        .as_array()
        .expect("drifts")
        .iter()
        .find(|d| d["field"] == "progress")
        .expect("progress");
    assert_eq!(progress["count"], 2);
    let text = p.report(Format::Text).await.0;
    assert!(
        text.contains("FAIL sse GET /notifications/events event: unknown event name \"backfilled\""),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_go_through_the_proxy_only_when_rewriting_is_asked() {
    let fake = common::fake(&[]);
    let p = proxy(&fake.base, None, true).await;
    let mut client = Client::new(p.url());
    let (job, results) = client.flow("auto").await;
    let full = results["results"][0]["output"]["full_size"].as_str().expect("link");
    assert!(full.starts_with(p.url()), "{full}");
    let image = reqwest::get(full).await.expect("image");
    assert_eq!(image.status(), 200);
    // The notifications' links too, on the SSE stream.
    let notified = client.sse_links();
    assert_eq!(notified.len(), 3, "{}", client.sse_text);
    for link in &notified {
        assert!(link.starts_with(p.url()), "{link}");
    }
    let image = reqwest::get(&notified[0]).await.expect("image");
    assert_eq!(image.status(), 200);
    let report = drift_json(&p).await;
    assert_eq!(report["drifts"], json!([]), "{report:#}");
    // The upload's PUT went through the proxy too.
    let cassette = p.cassette().await;
    let puts = cassette["log"]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["request"]["method"] == "PUT")
        .count();
    assert_eq!(puts, 1, "{cassette:#}");
    // An answer without links is untouched even when rewriting.
    let direct = reqwest::Client::new()
        .get(format!("{}/jobs/{job}/status", fake.base))
        .bearer_auth(DEMO)
        .send()
        .await
        .expect("direct")
        .bytes()
        .await
        .expect("body");
    let (_, via) = client
        .call(reqwest::Method::GET, &format!("/jobs/{job}/status"), None)
        .await;
    assert_eq!(client.got.last().expect("got").2, direct.to_vec(), "{via}");

    // Without rewriting, the links are the upstream's own.
    let plain = proxy(&fake.base, None, false).await;
    let mut client = Client::new(plain.url());
    let (_, results) = client.flow("auto").await;
    let full = results["results"][0]["output"]["full_size"].as_str().expect("link");
    assert!(full.starts_with(&fake.base), "{full}");
    let notified = client.sse_links();
    assert_eq!(notified.len(), 3, "{}", client.sse_text);
    assert!(notified.iter().all(|l| l.starts_with(&fake.base)), "{notified:?}");
}

/// A flow with notifications through a proxy in front of `upstream` (the
/// fake `numbered`, or a stub over it) with the fake `beside`: `numbered`
/// first runs a job of another account, so its notification IDs run ahead
/// of the fake beside's. The client lists its job's notifications, deletes
/// the first, and lists one output's. Returns the drift report.
async fn notification_flow(numbered: &str, upstream: &str, beside: &str) -> Value {
    let mut other = Client::new(numbered);
    other.token = "f2m_other_token";
    other.flow("auto").await;
    let p = proxy(upstream, Some(beside), false).await;
    let mut client = Client::new(p.url());
    let (job, _) = client.flow("auto").await;
    let (_, listed) = client
        .call(reqwest::Method::POST, "/notifications", Some(json!({"id_task": [job]})))
        .await;
    let first = listed[0]["id"].as_i64().expect("an integer id");
    let (_, theirs) = Client::new(beside)
        .call(reqwest::Method::GET, "/notifications", None)
        .await;
    assert_ne!(theirs[0]["id"], json!(first), "the IDs differ: {theirs}");
    client
        .call(reqwest::Method::DELETE, &format!("/notifications/{first}"), None)
        .await;
    client
        .call(reqwest::Method::GET, &format!("/notifications?id_image={job}_0"), None)
        .await;
    drift_json(&p).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_ids_are_mapped_so_a_flow_compares_clean_and_a_planted_difference_shows() {
    let (upstream, beside) = (common::fake(&[]), common::fake(&[]));
    let report = notification_flow(&upstream.base, &upstream.base, &beside.base).await;
    assert_eq!(report["drifts"], json!([]), "{report:#}");
    // Only the SSE stream was not asked: every request naming a
    // notification was.
    let not_compared: Vec<&String> = report["not_compared"].as_object().expect("map").keys().collect();
    assert_eq!(not_compared, ["a stream or a credentials exchange"], "{report:#}");
    assert_eq!(report["operations"]["DELETE /notifications/{id}"], 1, "{report:#}");

    let (numbered, beside) = (common::fake(&[]), common::fake(&[]));
    let (stub, _) = start_stub(&numbered.base, &[Plant::NotificationEta, Plant::NotificationGone]).await;
    let report = notification_flow(&numbered.base, &stub, &beside.base).await;
    let mut found: Vec<(&str, &str, &str)> = report["drifts"]
        .as_array()
        .expect("drifts")
        .iter()
        .map(|d| {
            let s = |k: &str| d[k].as_str().expect("string");
            (s("kind"), s("operation"), s("field"))
        })
        .collect();
    found.sort_unstable();
    assert_eq!(
        found,
        [
            ("fake-status", "DELETE /notifications/{id}", "HTTP status"),
            ("field-not-faked", "POST /notifications", "[].data.eta"),
        ],
        "{report:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_session_replays_on_a_fresh_fake_with_the_same_shape() {
    // The "real" run: the default engine refuses the first output.
    let recorded = common::fake(&[]);
    let p = proxy(&recorded.base, None, false).await;
    let mut client = Client::new(p.url());
    client.scenario = Some("refuse-fallback");
    client.flow("auto").await;
    let cassette = p.cassette().await;
    let text = cassette.to_string();
    assert!(!text.contains(DEMO), "the token is in the cassette");
    for sig in text.split("Signature=").skip(1) {
        assert!(
            sig.starts_with("[redacted]"),
            "an unredacted signature: {}",
            &sig[..20.min(sig.len())]
        );
    }
    let scenario = contract_tests::cassette::to_scenario(&cassette, "recorded").expect("scenario");
    assert_eq!(scenario["job"]["refuse_outputs"], json!([0]), "{scenario:#}");

    let replay = replay_on_a_fresh_fake(&scenario).await;
    let (states, engines) = shape(&cassette);
    assert_eq!(states[0], "pending", "{states}");
    assert_eq!(
        states.as_array().and_then(|s| s.last()),
        Some(&json!("completed")),
        "{states}"
    );
    assert_eq!(engines[0], json!(["completed", "seedream"]));
    assert_eq!(shape(&replay), (states, engines));
}

/// The replay: a fresh fake given `scenario` (as `POST /__admin/scenarios`),
/// the same client's flow under it through a proxy; the replay's cassette.
async fn replay_on_a_fresh_fake(scenario: &Value) -> Value {
    let fresh = common::fake(&[]);
    let loaded = reqwest::Client::new()
        .post(format!("{}/__admin/scenarios", fresh.base))
        .json(scenario)
        .send()
        .await
        .expect("load");
    assert!(loaded.status().is_success(), "{:?}", loaded.text().await);
    let p = proxy(&fresh.base, None, false).await;
    let mut client = Client::new(p.url());
    client.scenario = Some("recorded");
    client.flow("auto").await;
    p.cassette().await
}

/// The shape of a cassette's first job: its states in order, and each
/// output's status and engine.
fn shape(c: &Value) -> (Value, Vec<Value>) {
    let job = &c["log"]["_flow"]["jobs"][0];
    let engines: Vec<Value> = job["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .map(|o| json!([o["status"], o["model_used"]]))
        .collect();
    (job["states"].clone(), engines)
}

/// `contract-tests proxy` started from its binary in front of `upstream`,
/// writing its cassette to `record` and its JSON drift report beside it
/// (`.json`); and its address.
fn proxy_binary(upstream: &str, record: &std::path::Path) -> (std::process::Child, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_contract-tests"))
        .args(["proxy", "--upstream", upstream, "--listen", "127.0.0.1:0", "--record"])
        .arg(record)
        .args(["--report", "json", "--output"])
        .arg(record.with_extension("json"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the proxy starts");
    // Its stdout kept open: it prints its report there when it stops.
    let url = common::listening_on(child.stdout.as_mut().expect("stdout"));
    (child, url)
}

/// The acceptance, through the built binary: a session recorded by
/// `contract-tests proxy --record`, turned into a scenario by
/// `contract-tests cassette to-scenario`, replays on a fresh fake with the
/// same states and engines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_recorded_by_the_binary_replays_on_a_fresh_fake() {
    let dir = std::env::temp_dir().join(format!("f2m-cassette-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let har = dir.join("session.har");
    let recorded = common::fake(&[]);
    let (mut child, url) = proxy_binary(&recorded.base, &har);
    let mut client = Client::new(&url);
    client.scenario = Some("refuse-fallback");
    client.flow("auto").await;
    // Stopped as by Ctrl-C in a terminal's process group: SIGTERM.
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let exit = child.wait().expect("the proxy ends");
    assert_eq!(exit.code(), Some(0), "no drift in front of the fake");
    let cassette: Value = serde_json::from_slice(&std::fs::read(&har).expect("the cassette is written")).expect("JSON");
    assert!(!cassette.to_string().contains(DEMO), "the token is in the cassette");
    let report: Value =
        serde_json::from_slice(&std::fs::read(har.with_extension("json")).expect("the report is written"))
            .expect("a JSON report");
    assert_eq!(report["drifts"], json!([]), "{report:#}");
    assert_eq!(report["operations"]["POST /flat-2-model"], 1, "{report:#}");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_contract-tests"))
        .args(["cassette", "to-scenario", "--name", "recorded"])
        .arg(&har)
        .output()
        .expect("to-scenario runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let scenario: Value = serde_json::from_slice(&out.stdout).expect("a scenario on stdout");
    assert_eq!(scenario["job"]["refuse_outputs"], json!([0]), "{scenario:#}");
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_contract-tests"))
        .args(["cassette", "to-scenario"])
        .arg(dir.join("missing.har"))
        .output()
        .expect("to-scenario runs");
    assert_eq!(bad.status.code(), Some(2), "a missing file is a usage error");

    let replay = replay_on_a_fresh_fake(&scenario).await;
    let (states, engines) = shape(&cassette);
    assert_eq!(engines[0], json!(["completed", "seedream"]), "{cassette:#}");
    assert_eq!(shape(&replay), (states, engines));
    std::fs::remove_dir_all(&dir).ok();
}
