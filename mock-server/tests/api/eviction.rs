//! Memory bounded by time-to-live: finished jobs, files, notifications and
//! finished webhook deliveries go once their TTL has passed on the manual
//! clock, swept when `POST /__admin/clock` moves it. No test sleeps.

use std::time::Duration;

use mock_server::clock::Instant;
use mock_server::domain::ids::JobId;
use serde_json::{Value, json};

use crate::helpers::{DEMO, TestApp};
use crate::peers::SseClient;

const HOUR: Duration = Duration::from_secs(3600);

/// Moves the clock to `t` through the control API (which sweeps).
async fn clock_to(app: &TestApp, t: Instant) {
    app.post("/__admin/clock")
        .json(json!({"set": t.rfc3339_millis()}))
        .send()
        .await
        .expect(200);
    assert_eq!(app.state.now(), t);
}

/// Moves the clock forward through the control API (which sweeps).
async fn advance(app: &TestApp, by: &str) {
    app.post("/__admin/clock")
        .json(json!({"advance": by}))
        .send()
        .await
        .expect(200);
}

/// `t + d - 1 ms`: the last moment something from `t` with TTL `d` is kept.
fn just_before(t: Instant, d: Duration) -> Instant {
    Instant::from_millis(t.plus(d).millis() - 1)
}

async fn held(app: &TestApp) -> Value {
    app.get("/__admin/health").send().await.expect(200).json()["held"].clone()
}

/// When job `id` last changed (exact, from the state; the API rounds).
fn last_change(app: &TestApp, id: &str) -> Instant {
    app.state
        .job(&JobId::from_client(id))
        .expect("the job is held")
        .state()
        .updated_at
}

/// The JSON body of a `GET` with the demo token, expecting `status`.
async fn get_json(app: &TestApp, path: &str, status: u16) -> Value {
    app.get(path).token(DEMO).send().await.expect(status).json()
}

#[tokio::test]
async fn a_finished_job_lives_until_its_ttl_then_answers_like_an_unknown_job() {
    // The default TTL: a day.
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let job = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}, {}]))).await;
    advance(&app, "1h").await;
    let results = app.results(DEMO, &job).await;
    assert_eq!(results["status"], "completed");
    let image = results["results"][0]["output"]["full_size"]
        .as_str()
        .expect("an image URL")
        .to_owned();
    app.get(&image).send().await.expect(200);
    let zip = app.zip_link(DEMO, "/download", json!({"job_id": job})).await;
    assert_eq!(held(&app).await["jobs"], 1);
    assert_eq!(held(&app).await["download_links"], 1);

    let finished = last_change(&app, &job);
    let ttl = Duration::from_secs(24 * 3600);
    clock_to(&app, just_before(finished, ttl)).await;
    assert_eq!(app.status(DEMO, &job).await["status"], "completed");
    app.get(&image).send().await.expect(200);
    // An expired link still says so while its job exists.
    app.get(&zip).send().await.expect(410);

    clock_to(&app, finished.plus(ttl)).await;
    for path in ["status", "results", "versions/0"] {
        let evicted = get_json(&app, &format!("/jobs/{job}/{path}"), 404).await;
        let unknown = get_json(&app, &format!("/jobs/job_unknown/{path}"), 404).await;
        assert_eq!(evicted, unknown, "{path}");
    }
    assert_eq!(app.get(&image).send().await.expect(404).s3_code(), "NoSuchKey");
    app.get(&zip).send().await.expect(404);
    let r = app
        .zip_request(DEMO, "/download", json!({"job_id": job}))
        .await
        .expect(404);
    assert_eq!(r.error_field().as_deref(), Some("job_id"));
    let held = held(&app).await;
    assert_eq!(
        (held["jobs"].as_u64(), held["download_links"].as_u64()),
        (Some(0), Some(0))
    );
    // The account's configuration stays: its identity and project still
    // make a job (with a new file: the first one is a day old and gone too).
    let file = app.upload_file(DEMO, "again.png", None, crate::helpers::png(9)).await;
    let mut body = TestApp::job_body(&inputs, json!([{}]));
    body["images"] = json!([file["file_id"]]);
    app.create_job(DEMO, body).await;
}

#[tokio::test]
async fn a_job_still_running_at_its_ttl_is_kept() {
    let app = TestApp::spawn_with(|c| c.job_ttl = HOUR).await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let job = app
        .post("/flat-2-model")
        .token(DEMO)
        .header(
            "x-mock-fault-plan",
            r#"{"delay_outputs": [{"output": 0, "seconds": 10800}]}"#,
        )
        .json(TestApp::job_body(&inputs, json!([{}])))
        .send()
        .await
        .expect(202)
        .json()["job_id"]
        .as_str()
        .expect("id")
        .to_owned();
    advance(&app, "2h").await;
    assert_eq!(app.status(DEMO, &job).await["status"], "processing");
    assert!(
        last_change(&app, &job).plus(HOUR) <= app.state.now(),
        "unchanged for longer than the TTL: only running keeps it"
    );
    assert_eq!(held(&app).await["jobs"], 1);

    advance(&app, "2h").await;
    assert_eq!(app.status(DEMO, &job).await["status"], "completed");
    let finished = last_change(&app, &job);
    clock_to(&app, just_before(finished, HOUR)).await;
    app.status(DEMO, &job).await;
    clock_to(&app, finished.plus(HOUR)).await;
    app.get(&format!("/jobs/{job}/status"))
        .token(DEMO)
        .send()
        .await
        .expect(404);
    assert_eq!(held(&app).await["jobs"], 0);
}

#[tokio::test]
async fn an_old_file_is_gone_and_the_job_made_from_it_still_renders() {
    let app = TestApp::spawn_with(|c| c.file_ttl = HOUR).await;
    let start = app.state.now();
    let inputs = app.job_inputs(DEMO, 1).await;
    let old = app.upload_file(DEMO, "old.png", None, crate::helpers::png(1)).await;
    let old_url = old["download_url"].as_str().expect("url").to_owned();
    let mut body = TestApp::job_body(&inputs, json!([{}]));
    body["images"] = json!([old["file_id"]]);
    let job = app.create_job(DEMO, body.clone()).await;
    advance(&app, "30m").await;
    let newer = app.upload_file(DEMO, "new.png", None, crate::helpers::png(2)).await;
    assert_eq!(held(&app).await["files"], 3);

    // Every file but `newer` was created at the start.
    clock_to(&app, just_before(start, HOUR)).await;
    app.get(&old_url).send().await.expect(200);
    clock_to(&app, start.plus(HOUR)).await;
    assert_eq!(app.get(&old_url).send().await.expect(404).s3_code(), "NoSuchKey");
    app.get(newer["download_url"].as_str().expect("url"))
        .send()
        .await
        .expect(200);
    assert_eq!(held(&app).await["files"], 1);

    // A new job naming the evicted file: as for a file that never existed.
    let evicted = app
        .post("/flat-2-model")
        .token(DEMO)
        .json(body.clone())
        .send()
        .await
        .expect(404)
        .json();
    body["images"] = json!(["sku_unknown"]);
    let unknown = app
        .post("/flat-2-model")
        .token(DEMO)
        .json(body)
        .send()
        .await
        .expect(404)
        .json();
    assert_eq!(evicted, unknown);

    // The job keeps its own copy: its output, first rendered now, is there.
    let results = app.results(DEMO, &job).await;
    assert_eq!(results["status"], "completed");
    let output = &results["results"][0];
    let bytes = app
        .get(output["output"]["full_size"].as_str().expect("url"))
        .send()
        .await
        .expect(200)
        .body;
    let img = image::load_from_memory(&bytes).expect("an image");
    assert_eq!(
        (Some(u64::from(img.width())), Some(u64::from(img.height()))),
        (output["width"].as_u64(), output["height"].as_u64())
    );
    // Only the link back to the input file, which is gone, fails.
    let input = output["inputs"][0]["full_size"].as_str().expect("input link");
    assert_eq!(app.get(input).send().await.expect(404).s3_code(), "NoSuchKey");
}

/// The ids of the demo account's notifications, polled.
async fn polled(app: &TestApp) -> Vec<(u64, String)> {
    let list = app.notifications(DEMO).await;
    list.as_array()
        .expect("a list")
        .iter()
        .map(|n| {
            (
                n["id"].as_u64().expect("id"),
                n["name"].as_str().expect("name").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn old_notifications_leave_polling_and_backfill_while_newer_stay() {
    let app = TestApp::spawn_with(|c| c.notification_ttl = HOUR).await;
    let start = app.state.now();
    let inputs = app.job_inputs(DEMO, 1).await;
    advance(&app, "30m").await;
    app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;
    advance(&app, "10m").await;
    let before = polled(&app).await;
    let is_identity = |n: &(u64, String)| n.1 == "identity_preprocessing";
    assert!(before.iter().any(is_identity), "{before:?}");
    assert!(before.iter().any(|n| n.1 == "batch_edit"), "{before:?}");
    let held_before = held(&app).await["notifications"].as_u64().expect("n");
    assert_eq!(held_before, before.len() as u64, "only the demo account has any");

    clock_to(&app, just_before(start, HOUR)).await;
    assert_eq!(polled(&app).await, before);
    clock_to(&app, start.plus(HOUR)).await;
    let after = polled(&app).await;
    let expected: Vec<(u64, String)> = before.iter().filter(|n| !is_identity(n)).cloned().collect();
    assert!(!expected.is_empty());
    assert_eq!(
        after, expected,
        "the identity's notification (at the start) went, the job's stay"
    );
    assert_eq!(held(&app).await["notifications"], after.len());

    // A resumed SSE stream backfills exactly what polling shows.
    let mut sse = SseClient::connect(&app, "", DEMO, Some(0)).await;
    let backfill: Vec<(u64, String)> = sse
        .backfill()
        .await
        .iter()
        .map(|m| {
            let v = m.json();
            (
                v["id"].as_u64().expect("id"),
                v["name"].as_str().expect("name").to_owned(),
            )
        })
        .collect();
    assert_eq!(backfill, expected);

    advance(&app, "1h").await;
    assert!(polled(&app).await.is_empty());
    assert_eq!(held(&app).await["notifications"], 0);
}

/// The webhook delivery log.
async fn deliveries(app: &TestApp) -> Vec<Value> {
    app.get("/__admin/webhooks/deliveries").send().await.expect(200).json()["deliveries"]
        .as_array()
        .expect("a list")
        .clone()
}

#[tokio::test]
async fn a_webhook_delivery_with_a_retry_pending_is_kept_and_goes_once_given_up() {
    let app = TestApp::spawn_with(|c| c.notification_ttl = Duration::from_secs(60)).await;
    // Every attempt fails, simulated: nothing goes over the network.
    app.post("/__admin/scenarios")
        .json(json!({"name": "always-down", "webhook": {"fail_attempts": 7, "mode": "status", "status": 503}}))
        .send()
        .await
        .expect(200);
    app.register_webhook(DEMO, "http://127.0.0.1:9/hook", Some("always-down"))
        .await;
    // Attempts at 0 s, 5 s, 35 s; the next waits 2 minutes.
    advance(&app, "5s").await;
    advance(&app, "30s").await;
    advance(&app, "90s").await;
    let log = deliveries(&app).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["status"], "pending");
    assert_eq!(
        log[0]["attempts"].as_array().expect("a").len(),
        3,
        "its last attempt is 90 s old, past the TTL: only the pending retry keeps it"
    );
    assert_eq!(held(&app).await["webhook_deliveries"], 1);

    // The remaining attempts: at 2 min 35 s, then 10 min, 30 min, 1 h apart.
    for by in ["30s", "10m", "30m", "1h"] {
        advance(&app, by).await;
    }
    let log = deliveries(&app).await;
    assert_eq!(log[0]["status"], "failed", "given up after 7 attempts: {log:?}");
    advance(&app, "59s").await;
    assert_eq!(deliveries(&app).await.len(), 1);
    advance(&app, "1s").await;
    assert!(deliveries(&app).await.is_empty());
    assert_eq!(held(&app).await["webhook_deliveries"], 0);
}
