//! A clean restart on the data dir: everything a client saw, the webhook
//! deliveries still pending, the gallery; and the data dirs a start refuses.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use crate::helpers::{DEMO, TestApp, identity_column, jpeg, png};

use super::{Receiver, TempDir, basic, close, local, move_clock, sha, spawn_on};

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
