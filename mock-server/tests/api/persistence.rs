//! `--data-dir`: a restart (clean, or `kill -9` in the middle of a load)
//! loses nothing that was acknowledged, hands out no ID twice, and jobs in
//! flight continue where they stood, announcing each event once.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::binary::Binary;
use crate::helpers::{DEMO, TestApp, identity_column, jpeg, png};

/// A folder under the system's temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Self(std::env::temp_dir().join(format!("f2m-{name}-{}-{nanos}", std::process::id())))
    }
    pub fn path(&self) -> PathBuf {
        self.0.clone()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub async fn spawn_on(dir: &Path, adjust: impl FnOnce(&mut mock_server::Config)) -> TestApp {
    let dir = dir.to_owned();
    TestApp::spawn_with(move |c| {
        c.any_token = true;
        c.data_dir = Some(dir);
        adjust(c);
    })
    .await
}

/// Commits what is queued and releases the data dir, as a clean shutdown
/// does; the app stops storing anything.
pub async fn close(app: &TestApp) {
    app.state.durable.close().await.expect("everything queued is committed");
}

/// `POST /__admin/clock {"advance": by}`: what falls due happens.
async fn move_clock(app: &TestApp, by: &str) {
    app.post("/__admin/clock")
        .json(json!({ "advance": by }))
        .send()
        .await
        .expect(200);
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// A path with its query, without the server's base URL.
fn local(app: &TestApp, url: &Value) -> String {
    url.as_str()
        .and_then(|u| u.strip_prefix(&app.base))
        .expect("a URL of this server")
        .to_owned()
}

/// What the first half of the flow handed out, to use after the restart.
#[derive(Debug, Clone, PartialEq)]
struct Kept {
    access: String,
    refresh: String,
    long_lived: String,
    identity: String,
    project: String,
    file_url: String,
    file_bytes: Vec<u8>,
    /// A file whose bytes are no image: a job using it is refused.
    text_file: String,
    finished_job: String,
    running_job: String,
    image_url: String,
    image_sha: String,
    zip_url: String,
    deleted_notification: u64,
}

/// The first half: a bit of everything, one job finished, one half-way.
async fn first_half(app: &TestApp) -> Kept {
    let long_lived = app
        .post("/auth/token")
        .token(DEMO)
        .json(json!({ "expiration": 86_400 }))
        .send()
        .await
        .expect(200)
        .json();
    // An `--any-token` tenant with a project of its own.
    app.create_project("ci-job-42", "ci-project").await;
    let inputs = app.job_inputs(DEMO, 2).await;
    let file_bytes = png(77);
    let file = app.upload_file(DEMO, "sku-extra.png", None, file_bytes.clone()).await;
    let text_file = app.upload_file(DEMO, "notes.jpg", None, b"not an image".to_vec()).await;
    // A file whose bytes never arrive.
    app.post("/upload")
        .token(DEMO)
        .json(json!({ "filename": "never.jpg" }))
        .send()
        .await
        .expect(200);
    let two = json!([{ "pose": "standing" }, { "pose": "walking", "options": { "format": "png" } }]);
    let finished_job = app.create_job(DEMO, TestApp::job_body(&inputs, two.clone())).await;
    app.finish_jobs();
    let mut running = TestApp::job_body(&inputs, json!([{ "pose": "a", "num_variations": 3 }]));
    running["post_process"] = json!(true);
    let running_job = app.create_job(DEMO, running).await;
    // Far enough for processing to start and about one output to end.
    move_clock(app, "4s").await;
    let results = app.results(DEMO, &finished_job).await;
    let image_url = local(app, &results["results"][0]["output"]["full_size"]);
    let image = app.get(&image_url).send().await.expect(200);
    let zip = app
        .post("/download")
        .token(DEMO)
        .json(json!({ "job_id": finished_job }))
        .send()
        .await
        .expect(200)
        .json();
    // Logged in after the clock moved an hour: the access token is fresh.
    let login = app
        .post("/auth/login")
        .header("authorization", &basic("demo@flat2model.test", "demo-password"))
        .send()
        .await
        .expect(200)
        .json();
    let notifications = app.get("/notifications").token(DEMO).send().await.expect(200).json();
    let deleted_notification = notifications[0]["id"].as_u64().expect("an id");
    app.call(
        reqwest::Method::DELETE,
        &format!("/notifications/{deleted_notification}"),
    )
    .token(DEMO)
    .send()
    .await
    .expect(200);
    Kept {
        access: login["token"].as_str().expect("token").to_owned(),
        refresh: login["refresh_token"].as_str().expect("refresh").to_owned(),
        long_lived: long_lived["token"].as_str().expect("token").to_owned(),
        identity: inputs.identity_code,
        project: inputs.project_id,
        file_url: local(app, &file["download_url"]),
        file_bytes,
        text_file: text_file["file_id"].as_str().expect("file_id").to_owned(),
        finished_job,
        running_job,
        image_url,
        image_sha: sha(&image.body),
        zip_url: local(app, &zip["download_url"]),
        deleted_notification,
    }
}

/// The second half: reads every listing and status, uses what was handed
/// out, creates more, lets the running job finish. Every body, with the
/// server's own base URL written `BASE`, in order.
/// `earlier`: the base URLs of earlier servers on the same data dir, which
/// kept notifications name.
async fn second_half(app: &TestApp, k: &Kept, earlier: &[&str]) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    let mut note = |label: &str, text: String| {
        let text = earlier
            .iter()
            .fold(text.replace(&app.base, "BASE"), |t, b| t.replace(b, "BASE"));
        seen.push((label.to_owned(), text));
    };
    let text = |r: crate::helpers::Resp| r.text();
    for (label, path, token) in [
        ("projects", "/project".to_owned(), DEMO),
        ("identities", "/identity".to_owned(), DEMO),
        ("identity", format!("/identity/{}", k.identity), DEMO),
        ("api tokens", "/auth/token".to_owned(), DEMO),
        ("finished status", format!("/jobs/{}/status", k.finished_job), DEMO),
        ("finished results", format!("/jobs/{}/results", k.finished_job), DEMO),
        ("versions", format!("/jobs/{}/versions/1", k.finished_job), DEMO),
        ("running status", format!("/jobs/{}/status", k.running_job), DEMO),
        ("notifications", "/notifications".to_owned(), DEMO),
        ("any-token projects", "/project".to_owned(), "ci-job-42"),
    ] {
        note(label, text(app.get(&path).token(token).send().await.expect(200)));
    }
    for path in ["/__admin/notifications", "/__admin/health", "/__admin/clock"] {
        note(path, text(app.get(path).send().await.expect(200)));
    }
    // What was handed out still works: signed URLs, tokens, the ZIP link.
    let file = app.get(&k.file_url).send().await.expect(200);
    assert_eq!(file.body.as_ref(), k.file_bytes.as_slice(), "the file's bytes");
    let image = app.get(&k.image_url).send().await.expect(200);
    assert_eq!(
        sha(&image.body),
        k.image_sha,
        "a result image is the same, byte for byte"
    );
    note("zip", sha(&app.get(&k.zip_url).send().await.expect(200).body));
    for token in [&k.access, &k.long_lived] {
        app.get("/project").token(token).send().await.expect(200);
    }
    let refreshed = app
        .post("/auth/refresh")
        .json(json!({ "refresh_token": k.refresh }))
        .send()
        .await
        .expect(200)
        .json();
    note("refreshed", refreshed.to_string());
    app.post("/auth/refresh")
        .json(json!({ "refresh_token": k.refresh }))
        .send()
        .await
        .expect(401);
    app.call(
        reqwest::Method::DELETE,
        &format!("/notifications/{}", k.deleted_notification),
    )
    .token(DEMO)
    .send()
    .await
    .expect(404);
    // What the PUT's probe found is kept with the bytes.
    let on_text = json!({
        "identity_code": k.identity,
        "project_id": k.project,
        "images": [k.text_file],
        "instructions": [{}],
    });
    let refused = app.post("/flat-2-model").token(DEMO).json(on_text).send().await;
    note("job on bytes that are no image", text(refused.expect(400)));
    // New objects: their IDs follow on, none is handed out twice.
    let project = app.create_project(DEMO, "after-the-restart").await;
    note("new project", project);
    let identity = app.upload_identity(DEMO, jpeg(201), Some("Model B")).await;
    note("new identity", identity.to_string());
    let file = app.upload_file(DEMO, "sku-new.png", None, png(202)).await;
    note("new file", file.to_string());
    let body = json!({
        "identity_code": k.identity,
        "project_id": k.project,
        "images": [file["file_id"]],
        "instructions": [{ "pose": "seated" }],
    });
    note("new job", app.create_job(DEMO, body).await);
    move_clock(app, "1h").await;
    note(
        "running results",
        text(
            app.get(&format!("/jobs/{}/results", k.running_job))
                .token(DEMO)
                .send()
                .await
                .expect(200),
        ),
    );
    note(
        "all notifications",
        text(app.get("/notifications").token(DEMO).send().await.expect(200)),
    );
    seen
}

fn ids_of(k: &Kept) -> Vec<&str> {
    vec![&k.identity, &k.project, &k.finished_job, &k.running_job, &k.file_url]
}

#[tokio::test]
async fn a_restart_on_the_data_dir_changes_nothing_a_client_can_see() {
    // The same flow on a server that never restarts…
    let plain = TestApp::spawn_with(|c| c.any_token = true).await;
    let kept = first_half(&plain).await;
    let expected = second_half(&plain, &kept, &[]).await;

    // … and on one that restarts half-way, with another --start-time
    // (ignored: the clock continues where it stood).
    let dir = TempDir::new("invisible");
    let first = spawn_on(&dir.path(), |_| {}).await;
    let kept_first = first_half(&first).await;
    assert_eq!(
        ids_of(&kept_first),
        ids_of(&kept),
        "the same IDs with or without a data dir"
    );
    close(&first).await;
    let second = spawn_on(&dir.path(), |c| {
        c.start_time = mock_server::clock::Instant::parse_rfc3339("2030-06-01T00:00:00Z").expect("time");
    })
    .await;
    let got = second_half(&second, &kept_first, &[&first.base]).await;
    assert_eq!(got.len(), expected.len());
    for ((label, want), (_, have)) in expected.iter().zip(&got) {
        assert_eq!(have, want, "{label} differs after the restart");
    }
    let all: Value = serde_json::from_str(&got.last().expect("notifications").1).expect("json");
    let ids: Vec<u64> = all
        .as_array()
        .expect("list")
        .iter()
        .map(|n| n["id"].as_u64().expect("id"))
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids increase, none repeats: {ids:?}"
    );
    let completed = all
        .as_array()
        .expect("list")
        .iter()
        .filter(|n| {
            n["name"] == "batch_edit"
                && n["data"]["id_task"] == kept_first.running_job.as_str()
                && n["data"]["status"] == "completed"
        })
        .count();
    assert_eq!(completed, 1, "the job that was running completes, announced once");
}

/// A webhook receiver that answers 503 until told to accept.
struct Receiver {
    url: String,
    accept: Arc<AtomicBool>,
    rx: mpsc::UnboundedReceiver<(HeaderMap, Bytes)>,
}

impl Receiver {
    async fn start() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let accept = Arc::new(AtomicBool::new(false));
        let open = accept.clone();
        let handler = move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            let open = open.clone();
            async move {
                if open.load(Ordering::SeqCst) {
                    let _ = tx.send((headers, body));
                    StatusCode::NO_CONTENT
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                }
            }
        };
        let router = axum::Router::new().route("/hook", axum::routing::post(handler));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, accept, rx }
    }

    /// Accepted deliveries until every notification id of `want` came; by
    /// delivery id, each with the body it came with (all bodies of one
    /// delivery must be equal). Fails after 60 s without progress.
    async fn until_all(&mut self, want: &BTreeSet<u64>, secret: &str) -> BTreeMap<u64, Value> {
        let mut got: BTreeMap<u64, Value> = BTreeMap::new();
        let mut notified = BTreeSet::new();
        while !want.is_subset(&notified) {
            let (headers, body) = tokio::time::timeout(Duration::from_secs(60), self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("deliveries stopped; still missing {:?}", want - &notified))
                .expect("open");
            let signature = headers["x-webhook-signature"].to_str().expect("ascii");
            assert!(
                crate::peers::verify_signature(secret, &body, signature),
                "signed with the secret handed out before the restart"
            );
            let delivery: u64 = headers["x-webhook-delivery"]
                .to_str()
                .expect("ascii")
                .parse()
                .expect("id");
            let v: Value = serde_json::from_slice(&body).expect("JSON");
            if let Some(earlier) = got.get(&delivery) {
                assert_eq!(earlier, &v, "a delivery sent again carries the same body");
            }
            notified.insert(v["id"].as_u64().expect("notification id"));
            got.insert(delivery, v);
        }
        got
    }
}

#[tokio::test]
async fn pending_webhook_deliveries_go_out_after_a_restart() {
    let dir = TempDir::new("webhooks");
    let mut receiver = Receiver::start().await;
    let first = spawn_on(&dir.path(), |_| {}).await;
    let registration = first.register_webhook(DEMO, &receiver.url, None).await;
    let secret = registration["secret"].as_str().expect("secret").to_owned();
    let inputs = first.job_inputs(DEMO, 1).await;
    let job = first
        .create_job(
            DEMO,
            TestApp::job_body(&inputs, json!([{ "pose": "a", "num_variations": 2 }])),
        )
        .await;
    move_clock(&first, "1h").await;
    assert_eq!(first.status(DEMO, &job).await["status"], "completed");
    // Every notification is queued for the webhook, which refuses them all;
    // wait until the refused attempts are recorded.
    loop {
        let log = first
            .get("/__admin/webhooks/deliveries")
            .send()
            .await
            .expect(200)
            .json();
        let list = log["deliveries"].as_array().expect("list").clone();
        let refused = |d: &Value| d["attempts"].as_array().is_some_and(|a| !a.is_empty());
        if list.iter().all(|d| d["status"] != "in_flight") && list.iter().any(|d| d["event"] == "ping" && refused(d)) {
            break;
        }
        tokio::task::yield_now().await;
    }
    let before = first.get("/notifications").token(DEMO).send().await.expect(200).json();
    close(&first).await;

    let second = spawn_on(&dir.path(), |_| {}).await;
    assert_eq!(
        second.get("/webhooks").token(DEMO).send().await.expect(200).json()["secret"],
        secret.as_str(),
        "the registration is kept"
    );
    let after = second.get("/notifications").token(DEMO).send().await.expect(200).json();
    assert_eq!(after, before, "the notifications are kept");
    receiver.accept.store(true, Ordering::SeqCst);
    // Past every retry's time: what was pending goes out now.
    move_clock(&second, "2h").await;
    let want: BTreeSet<u64> = after
        .as_array()
        .expect("list")
        .iter()
        .map(|n| n["id"].as_u64().expect("id"))
        .collect();
    assert!(want.len() >= 5, "the job's notifications: {want:?}");
    let got = receiver.until_all(&want, &secret).await;
    let pings = got.values().filter(|v| v["name"] == "ping").count();
    assert!(pings <= 1, "the registration's ping, at most once");

    // The delivery log, once every outcome is recorded, survives a restart
    // as it is: the finished deliveries keep their attempts.
    let log = loop {
        let log = second
            .get("/__admin/webhooks/deliveries")
            .send()
            .await
            .expect(200)
            .json();
        let list = log["deliveries"].as_array().expect("list");
        if list.iter().all(|d| d["status"] == "delivered") {
            break log;
        }
        tokio::task::yield_now().await;
    };
    assert!(
        log["deliveries"]
            .as_array()
            .expect("list")
            .iter()
            .any(|d| d["attempts"].as_array().expect("attempts").len() > 1),
        "deliveries refused before the restart keep those attempts"
    );
    close(&second).await;
    let third = spawn_on(&dir.path(), |_| {}).await;
    let kept = third
        .get("/__admin/webhooks/deliveries")
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(kept, log);
}

#[tokio::test]
async fn a_reset_empties_the_data_dir_too() {
    let dir = TempDir::new("reset");
    let first = spawn_on(&dir.path(), |_| {}).await;
    let inputs = first.job_inputs(DEMO, 1).await;
    first.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;
    first.create_project("anon-token", "anon").await;
    first.post("/__admin/reset").send().await.expect(200);
    let after_reset = first.create_project(DEMO, "after-reset").await;
    close(&first).await;
    // A server that can no longer store a change says so rather than
    // acknowledging it; reads still answer.
    let refused = first
        .post("/project")
        .token(DEMO)
        .json(json!({ "project_name": "not-stored" }))
        .send()
        .await
        .expect(503);
    assert!(refused.text().contains("could not be stored"), "{}", refused.text());
    first.get("/project").token(DEMO).send().await.expect(200);
    let sizes = mock_server::persist::table_sizes(&dir.path()).expect("readable");
    assert_eq!(sizes["jobs"], 0);
    assert_eq!(sizes["identities"], 0);
    assert_eq!(sizes["blobs"], 0, "no bytes are left behind");
    assert_eq!(sizes["projects"], 1, "only the one made after the reset");

    let second = spawn_on(&dir.path(), |_| {}).await;
    let projects = second.get("/project").token(DEMO).send().await.expect(200).json();
    let names: Vec<&str> = projects["projects"]
        .as_array()
        .expect("list")
        .iter()
        .map(|p| p["project_text"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["after-reset"]);
    assert_eq!(projects["projects"][0]["project_id"], after_reset.as_str());
    let anon = second
        .get("/project")
        .token("anon-token")
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(
        anon["projects"],
        json!([]),
        "the tenant made before the reset is a new one now"
    );
}

/// Found in review: `POST /flat-2-model` looked up the identity, project
/// and files, then submitted the job; a `POST /__admin/reset` in between
/// left the job queued for the data dir after the reset emptied it, naming
/// an identity the reset had removed, and the next start refused the data
/// dir ("its identity … is missing"). The handler's two halves, with the
/// reset between them: the job is refused as after a reset, and the data
/// dir starts.
#[tokio::test]
async fn a_job_created_across_a_reset_is_refused_and_the_data_dir_still_starts() {
    let dir = TempDir::new("reset-race");
    let first = spawn_on(&dir.path(), |_| {}).await;
    let inputs = first.job_inputs(DEMO, 1).await;
    let body = TestApp::job_body(&inputs, json!([{}]));
    let tenant = first.state.tokens.bearer_grant(DEMO).expect("the demo token").tenant;
    let prepared = mock_server::api::jobs::prepare(&first.state, &tenant, None, &HeaderMap::new(), body)
        .expect("a valid request naming what the account holds");
    first.post("/__admin/reset").send().await.expect(200);
    let refused = mock_server::api::jobs::submit(&first.state, prepared).expect_err("what it names is gone");
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    assert!(first.state.engine.is_empty(), "no job after the reset");
    close(&first).await;

    let second = spawn_on(&dir.path(), |_| {}).await;
    assert!(second.state.engine.is_empty());
    let notifications = second.get("/notifications").token(DEMO).send().await.expect(200).json();
    assert_eq!(notifications, json!([]), "nothing announced for the refused job");
}

/// The gallery is fixture data: a data dir keeps none of it, a restart
/// neither loses nor duplicates it, and a job made on a gallery identity
/// continues on it, its images byte for byte the same.
#[tokio::test]
async fn a_job_on_a_gallery_identity_survives_a_restart_and_the_gallery_is_not_kept() {
    let dir = TempDir::new("gallery");
    let first = spawn_on(&dir.path(), |_| {}).await;
    let gallery = first.identities(DEMO, "visibility=public").await;
    let inputs = first.job_inputs(DEMO, 1).await;
    let mut body = TestApp::job_body(&inputs, json!([{ "pose": "a" }, { "pose": "b" }]));
    body["identity_code"] = json!("PiktidPremium");
    let finished = first.create_job(DEMO, body.clone()).await;
    first.finish_jobs();
    let running = first.create_job(DEMO, body).await;
    let images = first.output_images(DEMO, &finished).await;
    close(&first).await;
    let sizes = mock_server::persist::table_sizes(&dir.path()).expect("readable");
    assert_eq!(sizes["identities"], 1, "the account's own upload only");

    for restart in 1..=2 {
        let app = spawn_on(&dir.path(), |_| {}).await;
        let listed = app.identities(DEMO, "visibility=public").await;
        assert_eq!(
            listed["pagination"]["total"], gallery["pagination"]["total"],
            "restart {restart}: the gallery once"
        );
        assert_eq!(
            identity_column(&listed, "identity_code"),
            identity_column(&gallery, "identity_code")
        );
        assert_eq!(app.output_images(DEMO, &finished).await, images, "restart {restart}");
        app.finish_jobs();
        let status = app.status(DEMO, &running).await;
        assert_eq!(
            (&status["status"], &status["identity_code"]),
            (&json!("completed"), &json!("PiktidPremium"))
        );
        close(&app).await;
    }
}

#[tokio::test]
async fn eviction_removes_from_the_data_dir_too() {
    let dir = TempDir::new("evict");
    let first = spawn_on(&dir.path(), |_| {}).await;
    let inputs = first.job_inputs(DEMO, 1).await;
    let job = first.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;
    move_clock(&first, "25h").await;
    first
        .get(&format!("/jobs/{job}/status"))
        .token(DEMO)
        .send()
        .await
        .expect(404);
    close(&first).await;
    let sizes = mock_server::persist::table_sizes(&dir.path()).expect("readable");
    assert_eq!((sizes["jobs"], sizes["job_schedules"], sizes["job_applied"]), (0, 0, 0));
    assert_eq!(sizes["files"], 0);
    assert_eq!(sizes["notifications"], 0);
    assert_eq!(sizes["blobs"], 1, "only the identity's image, which stays");

    let second = spawn_on(&dir.path(), |_| {}).await;
    second
        .get(&format!("/jobs/{job}/status"))
        .token(DEMO)
        .send()
        .await
        .expect(404);
    let held = second.get("/__admin/health").send().await.expect(200).json()["held"].clone();
    assert_eq!(held["jobs"], 0);
    assert_eq!(held["files"], 0);
    second
        .get(&format!("/identity/{}", inputs.identity_code))
        .token(DEMO)
        .send()
        .await
        .expect(200);
}

#[tokio::test]
async fn a_data_dir_in_use_or_written_with_another_seed_is_refused() {
    let dir = TempDir::new("refuse");
    let first = spawn_on(&dir.path(), |_| {}).await;
    let public = "http://127.0.0.1:1".to_owned();
    let mut cfg = mock_server::Config::for_tests();
    cfg.data_dir = Some(dir.path());
    let in_use = mock_server::AppState::new(&cfg, public.clone()).expect_err("locked");
    assert!(in_use.contains("another mock-server"), "{in_use}");
    close(&first).await;
    cfg.seed = 1;
    let foreign = mock_server::AppState::new(&cfg, public.clone()).expect_err("another seed");
    assert!(
        foreign.contains("written with --seed 0, started with --seed 1"),
        "{foreign}"
    );
    cfg.seed = 0;
    mock_server::AppState::new(&cfg, public).expect("the right seed opens it");
}

// ---------------------------------------------------------------------
// The real binary, killed with SIGKILL in the middle of a load.

const SEED: &str = "7";

/// The binary with the repository's fixtures, on data dir `dir`.
fn binary(dir: &Path, seed: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mock-server"));
    cmd.args(["--port", "0", "--seed", seed, "--data-dir"])
        .arg(dir)
        .env("MOCK_FIXTURES", concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures"));
    cmd
}

/// Starts the binary on `dir`.
async fn start(dir: &Path) -> Binary {
    let dir = dir.to_str().expect("a UTF-8 temp dir");
    Binary::start(
        &[
            "--seed",
            SEED,
            "--data-dir",
            dir,
            "--clock",
            "manual",
            "--any-token",
            "--job-rate-limit",
            "0",
        ],
        &[("MOCK_LOG", "warn")],
    )
    .await
}

/// Runs the binary on `dir` with `seed`, expecting it to refuse to start;
/// what it said.
fn refused(dir: &Path, seed: &str) -> String {
    let out = binary(dir, seed).output().expect("runs");
    assert!(!out.status.success(), "it started");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// One acknowledged request of the load: what it made.
#[derive(Debug, Clone)]
enum Acked {
    Project { id: String, name: String, token: String },
    File { id: String, url: String, bytes: Vec<u8> },
    Identity { code: String, name: String },
    Job { id: String },
    Login { token: String },
    Clock { now_ms: i64 },
}

/// The server went away (killed): the request was never answered.
#[derive(Debug)]
struct Gone;

/// Sends `req`: on a 2xx its JSON body (`Null` when empty), `None` when
/// refused, `Gone` when the server did not answer.
async fn ack(req: reqwest::RequestBuilder) -> Result<Option<Value>, Gone> {
    let r = req.send().await.map_err(|_| Gone)?;
    let ok = r.status().is_success();
    let body = r.bytes().await.map_err(|_| Gone)?;
    if !ok {
        return Ok(None);
    }
    Ok(Some(if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    }))
}

/// [`ack`] that must succeed.
async fn must(req: reqwest::RequestBuilder, what: &str) -> Value {
    ack(req).await.ok().flatten().unwrap_or_else(|| panic!("{what} failed"))
}

/// `POST {base}{path}` of `body` as the demo account, which must succeed.
async fn post_demo(http: &reqwest::Client, base: &str, path: &str, body: Value) -> Value {
    must(http.post(format!("{base}{path}")).bearer_auth(DEMO).json(&body), path).await
}

/// The `i`-th request (or pair, for an upload) of the load, and what it
/// made once acknowledged.
async fn load_one(http: &reqwest::Client, base: &str, i: usize, setup: &Value) -> Result<Option<Acked>, Gone> {
    let demo = |r: reqwest::RequestBuilder| r.bearer_auth(DEMO);
    let text = |v: &Value, k: &str| v[k].as_str().map(str::to_owned);
    Ok(match i % 7 {
        0..=2 => {
            let body = json!({
                "identity_code": setup["identity"],
                "project_id": setup["project"],
                "images": setup["files"],
                "instructions": [{ "pose": format!("pose {i}") }, { "pose": "walking" }],
            });
            let r = ack(demo(http.post(format!("{base}/flat-2-model"))).json(&body)).await?;
            r.and_then(|r| text(&r, "job_id")).map(|id| Acked::Job { id })
        }
        3 => {
            let name = format!("load-{i}");
            let token = if i % 2 == 0 {
                DEMO.to_owned()
            } else {
                format!("anon-{i}")
            };
            let r = ack(http
                .post(format!("{base}/project"))
                .bearer_auth(&token)
                .json(&json!({ "project_name": name })))
            .await?;
            r.and_then(|r| text(&r, "project_id"))
                .map(|id| Acked::Project { id, name, token })
        }
        4 => {
            let Some(r) =
                ack(demo(http.post(format!("{base}/upload"))).json(&json!({ "filename": format!("f{i}.png") })))
                    .await?
            else {
                return Ok(None);
            };
            let bytes = png((i % 250) as u8);
            let put = http
                .put(r["upload_url"].as_str().unwrap_or_default())
                .header("content-type", "image/png")
                .body(bytes.clone());
            ack(put).await?.and_then(|_| {
                Some(Acked::File {
                    id: text(&r, "file_id")?,
                    url: text(&r, "download_url")?,
                    bytes,
                })
            })
        }
        5 => {
            let name = format!("model-{i}");
            let form = reqwest::multipart::Form::new()
                .part(
                    "image",
                    reqwest::multipart::Part::bytes(jpeg((i % 250) as u8)).file_name("m.jpg"),
                )
                .text("name", name.clone());
            let r = ack(demo(http.post(format!("{base}/identity/upload"))).multipart(form)).await?;
            r.and_then(|r| text(&r, "identity_code"))
                .map(|code| Acked::Identity { code, name })
        }
        _ if i % 14 == 6 => {
            let r = ack(http
                .post(format!("{base}/__admin/clock"))
                .json(&json!({ "advance": "2s" })))
            .await?;
            r.and_then(|r| r["now_ms"].as_i64())
                .map(|now_ms| Acked::Clock { now_ms })
        }
        _ => {
            let r = ack(http
                .post(format!("{base}/auth/login"))
                .header("authorization", basic("demo@flat2model.test", "demo-password")))
            .await?;
            r.and_then(|r| text(&r, "token")).map(|token| Acked::Login { token })
        }
    })
}

/// `url` (handed out by a server at `from`) on the server at `to`.
fn rebase(url: &str, from: &str, to: &str) -> String {
    format!("{to}{}", url.strip_prefix(from).expect("a URL of the first server"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_a_load_loses_nothing_acknowledged() {
    let dir = TempDir::new("kill9");
    let mut receiver = Receiver::start().await;
    let mut server = start(&dir.path()).await;
    let base = server.url.clone();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");

    // A second process cannot take the same data dir.
    assert!(refused(&dir.path(), SEED).contains("locked"));

    // Set-up, acknowledged one by one: the webhook, a job's inputs.
    let registration = must(
        http.put(format!("{base}/webhooks"))
            .bearer_auth(DEMO)
            .json(&json!({ "url": receiver.url })),
        "PUT /webhooks",
    )
    .await;
    let secret = registration["secret"].as_str().expect("secret").to_owned();
    let form = reqwest::multipart::Form::new().part(
        "image",
        reqwest::multipart::Part::bytes(jpeg(251)).file_name("model.jpg"),
    );
    let identity = must(
        http.post(format!("{base}/identity/upload"))
            .bearer_auth(DEMO)
            .multipart(form),
        "identity",
    )
    .await;
    let project = post_demo(&http, &base, "/project", json!({ "project_name": "load" })).await;
    let upload = post_demo(&http, &base, "/upload", json!({ "filename": "garment.png" })).await;
    must(
        http.put(upload["upload_url"].as_str().expect("url"))
            .header("content-type", "image/png")
            .body(png(252)),
        "PUT bytes",
    )
    .await;
    let setup = Arc::new(json!({
        "identity": identity["identity_code"],
        "project": project["project_id"],
        "files": [upload["file_id"]],
    }));

    // The load: workers that each send one request after another until the
    // server is gone; SIGKILL once KILL_AFTER are acknowledged, while every
    // worker has one on the wire.
    const WORKERS: usize = 24;
    const KILL_AFTER: usize = 150;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let (http, base, setup, tx) = (http.clone(), base.clone(), setup.clone(), tx.clone());
        workers.push(tokio::spawn(async move {
            let mut sent = 0;
            // Bounded, should the kill never come.
            for k in 0..200 {
                sent += 1;
                match load_one(&http, &base, w + k * WORKERS, &setup).await {
                    Err(Gone) => break,
                    Ok(Some(a)) => {
                        let _ = tx.send(a);
                    }
                    Ok(None) => {}
                }
            }
            sent
        }));
    }
    drop(tx);
    let mut acked = Vec::new();
    while let Some(a) = rx.recv().await {
        acked.push(a);
        if acked.len() == KILL_AFTER {
            server.kill().await;
        }
    }
    let mut sent = 0;
    for w in workers {
        sent += w.await.expect("worker");
    }
    let kinds: HashSet<std::mem::Discriminant<Acked>> = acked.iter().map(std::mem::discriminant).collect();
    assert_eq!(kinds.len(), 6, "every kind of request was acknowledged before the kill");
    assert!(acked.len() >= KILL_AFTER, "{} acknowledged", acked.len());
    assert!(sent > acked.len(), "requests were on the wire when the process died");

    // Restart on the same data dir.
    let mut server = start(&dir.path()).await;
    let new_base = server.url.clone();
    let get = |path: String, token: &str| {
        let req = http.get(format!("{new_base}{path}")).bearer_auth(token);
        async move { must(req, &format!("GET {path} after the restart")).await }
    };
    let clock = get("/__admin/clock".into(), DEMO).await["now_ms"]
        .as_i64()
        .expect("now");
    let mut seen_ids: BTreeSet<String> = BTreeSet::new();
    let mut jobs = Vec::new();
    let mut projects_of: HashMap<String, Vec<Value>> = HashMap::new();
    for a in &acked {
        match a {
            Acked::Project { id, name, token } => {
                if !projects_of.contains_key(token) {
                    let list = get("/project?per_page=100".into(), token).await["projects"].clone();
                    projects_of.insert(token.clone(), list.as_array().expect("list").clone());
                }
                let found = projects_of[token]
                    .iter()
                    .any(|p| p["project_id"] == id.as_str() && p["project_text"] == name.as_str());
                assert!(found, "acknowledged project {name} ({id}) of {token} is kept");
                seen_ids.insert(id.clone());
            }
            Acked::File { id, url, bytes } => {
                let r = http.get(rebase(url, &base, &new_base)).send().await.expect("reachable");
                assert_eq!(r.status(), 200, "acknowledged file {id}");
                assert_eq!(
                    r.bytes().await.expect("body").as_ref(),
                    bytes.as_slice(),
                    "file {id}'s bytes"
                );
                seen_ids.insert(id.clone());
            }
            Acked::Identity { code, name } => {
                let i = get(format!("/identity/{code}"), DEMO).await;
                assert_eq!(i["name"], name.as_str());
                seen_ids.insert(code.clone());
            }
            Acked::Job { id } => {
                let s = get(format!("/jobs/{id}/status"), DEMO).await;
                assert_eq!(s["total_images"], 2, "acknowledged job {id}");
                seen_ids.insert(id.clone());
                jobs.push(id.clone());
            }
            Acked::Login { token } => {
                get("/project".into(), token).await;
            }
            Acked::Clock { now_ms } => assert!(clock >= *now_ms, "the clock went back"),
        }
    }
    // No ID handed out before the kill is handed out again.
    let project = post_demo(&http, &new_base, "/project", json!({ "project_name": "after" })).await;
    let upload = post_demo(&http, &new_base, "/upload", json!({ "filename": "after.png" })).await;
    let body = json!({
        "identity_code": setup["identity"],
        "project_id": setup["project"],
        "images": setup["files"],
        "instructions": [{ "pose": "after" }],
    });
    let job = post_demo(&http, &new_base, "/flat-2-model", body).await;
    for id in [&project["project_id"], &upload["file_id"], &job["job_id"]] {
        let id = id.as_str().expect("an id");
        assert!(!seen_ids.contains(id), "{id} was handed out before the kill");
    }

    // The jobs in flight finish, each event announced once; the webhook,
    // refused until now, gets every notification.
    receiver.accept.store(true, Ordering::SeqCst);
    must(
        http.post(format!("{new_base}/__admin/clock"))
            .json(&json!({ "advance": "2h" })),
        "clock",
    )
    .await;
    let notifications = get("/notifications".into(), DEMO).await;
    let list = notifications.as_array().expect("list");
    let ids: Vec<u64> = list.iter().map(|n| n["id"].as_u64().expect("id")).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase and none repeats");
    let mut image_results: HashMap<String, usize> = HashMap::new();
    let mut completed: HashMap<String, usize> = HashMap::new();
    for n in list {
        let task = n["data"]["id_task"].as_str().unwrap_or_default().to_owned();
        if n["name"] == "image_result" {
            *image_results
                .entry(n["data"]["id_image"].as_str().expect("id_image").to_owned())
                .or_default() += 1;
        } else if n["data"]["status"] == "completed" {
            *completed.entry(task).or_default() += 1;
        }
    }
    assert!(
        image_results.values().all(|n| *n == 1),
        "an output announced twice: {image_results:?}"
    );
    for id in &jobs {
        let s = get(format!("/jobs/{id}/status"), DEMO).await;
        assert_eq!(s["status"], "completed", "job {id} finishes after the restart");
        assert_eq!(completed.get(id), Some(&1), "job {id}'s completion is announced once");
    }
    let want: BTreeSet<u64> = ids.iter().copied().collect();
    receiver.until_all(&want, &secret).await;

    server.kill().await;
    // A data dir written with another seed is refused, with the reason.
    assert!(refused(&dir.path(), "8").contains("--seed 7"));
}
