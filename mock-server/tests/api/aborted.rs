//! Jobs that end `aborted` (the vendor's clients treat completed, failed
//! and aborted as final): by the control API, by a fault plan, by a
//! scenario; what status, results, notifications, downloads and a restart
//! on `--data-dir` show of them.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{DEMO, JobInputs, TestApp};
use crate::peers::{Behaviour, Receiver, SseClient};
use crate::persistence::{TempDir, close, spawn_on};

fn is_terminal(v: &Value, job: &str) -> bool {
    v["name"] == "batch_edit"
        && v["data"]["id_task"] == job
        && matches!(v["data"]["status"].as_str(), Some("completed" | "failed" | "aborted"))
}

/// The job's notifications in the account's log, oldest first.
async fn logged(app: &TestApp, job: &str) -> Vec<Value> {
    let all = app.notifications(DEMO).await;
    all.as_array()
        .expect("a list")
        .iter()
        .filter(|n| n["data"]["id_task"] == job)
        .cloned()
        .collect()
}

/// A job of three outputs whose third takes ten minutes longer, after a
/// minute: two outputs done, one still generating.
async fn two_of_three_done(app: &TestApp, inputs: &JobInputs) -> String {
    let mut body = TestApp::job_body(inputs, json!([{}, {}, {}]));
    body["options"] = json!({"use_anchor": false});
    let plan = r#"{"delay_outputs":[{"output":2,"seconds":600}]}"#;
    let job = app.create_job_with_plan(DEMO, body, plan).await;
    app.advance(Duration::from_secs(60));
    let st = app.status(DEMO, &job).await;
    assert_eq!(
        (st["status"].as_str(), st["processed_images"].as_u64()),
        (Some("processing"), Some(2))
    );
    job
}

async fn force(app: &TestApp, job: &str, body: Value) -> crate::helpers::Resp {
    app.post(&format!("/__admin/jobs/{job}/state")).json(body).send().await
}

#[tokio::test]
async fn the_control_api_aborts_a_running_job_which_keeps_its_finished_images() {
    let app = TestApp::spawn().await;
    let mut rx = Receiver::start(Behaviour::FailFirst(0)).await;
    app.register_webhook(DEMO, &rx.url, None).await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let job = two_of_three_done(&app, &inputs).await;

    let r = force(
        &app,
        &job,
        json!({"status": "aborted", "error_message": "cancelled by QA"}),
    )
    .await
    .expect(200)
    .json();
    assert_eq!(r["status"]["status"], "aborted");
    // Final: time passing changes nothing.
    app.finish_jobs();
    let st = app.status(DEMO, &job).await;
    assert_eq!(st, r["status"], "nothing changes once aborted");
    assert_eq!(
        (
            st["status"].as_str(),
            st["error_message"].as_str(),
            st["processed_images"].as_u64(),
            st["progress"].as_f64()
        ),
        (Some("aborted"), Some("cancelled by QA"), Some(2), Some(66.7))
    );

    // Results: the finished outputs keep their images; the third failed.
    let res = app.results(DEMO, &job).await;
    let results = res["results"].as_array().expect("results");
    for done in &results[..2] {
        assert_eq!(done["status"], "completed");
        let url = done["output"]["full_size"].as_str().expect("an image URL");
        let image = app
            .get(url.strip_prefix(&app.base).expect("ours"))
            .send()
            .await
            .expect(200);
        assert!(!image.body.is_empty());
    }
    assert_eq!(
        (
            results[2]["status"].as_str(),
            results[2]["error_message"].as_str(),
            &results[2]["output"]["full_size"]
        ),
        (Some("failed"), Some("job aborted"), &Value::Null)
    );
    assert_eq!(
        res["summary"],
        json!({"total_images": 3, "successful": 2, "failed": 1, "average_quality_score": res["summary"]["average_quality_score"], "success_rate": 0.667})
    );
    assert_eq!(res["credits_used"], 2);

    // Exactly one terminal notification, the last: aborted, saying why.
    let log = logged(&app, &job).await;
    let terminal: Vec<&Value> = log.iter().filter(|v| is_terminal(v, &job)).collect();
    assert_eq!(terminal.len(), 1, "{log:?}");
    assert_eq!(
        (
            terminal[0]["data"]["status"].as_str(),
            terminal[0]["data"]["error_message"].as_str()
        ),
        (Some("aborted"), Some("cancelled by QA"))
    );
    assert_eq!(log.last(), Some(terminal[0]));
    // The same on the SSE stream (resumed from the start: the hour passed
    // put them out of a fresh connection's backfill window)…
    let mut sse = SseClient::connect(&app, &format!("?id_task={job}"), DEMO, Some(0)).await;
    let streamed: Vec<Value> = sse.backfill().await.iter().map(|m| m.json()).collect();
    assert_eq!(streamed, log);
    // …and at the webhook, in order, the terminal one last.
    let hooked: Vec<Value> = rx
        .until(|v| is_terminal(v, &job))
        .await
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).expect("JSON"))
        .filter(|v| v["data"]["id_task"] == job.as_str())
        .collect();
    assert_eq!(hooked, log);

    // Downloads answer as for a failed job.
    let zip = app
        .zip_request(DEMO, "/download", json!({"job_id": job}))
        .await
        .expect(409);
    assert!(zip.text().contains("job is aborted"), "{}", zip.text());
}

#[tokio::test]
async fn only_a_running_job_can_be_aborted() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let done = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;
    app.finish_jobs();
    let failing = force(&app, &done, json!({"status": "failed"})).await.expect(409);
    let aborting = force(&app, &done, json!({"status": "aborted"})).await.expect(409);
    assert_eq!(
        aborting.body, failing.body,
        "the answer of a finished job, whatever the end asked for"
    );
    assert_eq!(app.status(DEMO, &done).await["status"], "completed");
    // An aborted job is finished too; an unknown one is not found.
    let job = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;
    force(&app, &job, json!({"status": "aborted"})).await.expect(200);
    assert_eq!(
        force(&app, &job, json!({"status": "aborted"})).await.expect(409).body,
        failing.body
    );
    let st = app.status(DEMO, &job).await;
    assert_eq!(
        (st["status"].as_str(), st["error_message"].as_str()),
        (Some("aborted"), Some("job aborted"))
    );
    force(&app, "job_nope", json!({"status": "aborted"})).await.expect(404);
    let bad = force(&app, &job, json!({"status": "paused"})).await;
    // A finished job answers 409 first, as before; a running one names the choices.
    assert_eq!(bad.status, 409);
    let running = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;
    let bad = force(&app, &running, json!({"status": "paused"})).await.expect(400);
    assert_eq!(bad.error_field().as_deref(), Some("status"));
    assert!(bad.text().contains("'aborted'"), "{}", bad.text());
}

#[tokio::test]
async fn a_fault_plan_aborts_the_job_at_a_progress() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let create = |plan: &'static str, post_process: bool| {
        let mut body = TestApp::job_body(&inputs, json!([{"num_variations": 4}]));
        body["post_process"] = json!(post_process);
        app.send_job(DEMO, body, Some(plan))
    };
    let half = create(r#"{"abort_job_at_progress":50}"#, true).await.expect(202).json();
    let at_start = create(
        r#"{"abort_job_at_progress":0,"abort_job_message":"queue drained"}"#,
        false,
    )
    .await
    .expect(202)
    .json();
    app.finish_jobs();
    let half = app.results(DEMO, half["job_id"].as_str().expect("id")).await;
    assert_eq!(
        (
            half["status"].as_str(),
            half["error_message"].as_str(),
            half["processed_images"].as_u64(),
            half["post_processing_status"].as_str()
        ),
        (Some("aborted"), Some("job aborted"), Some(2), Some("skipped"))
    );
    let statuses: Vec<(&str, Option<&str>)> = half["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| (r["status"].as_str().expect("s"), r["error_message"].as_str()))
        .collect();
    assert_eq!(statuses.iter().filter(|s| s.0 == "completed").count(), 2);
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == ("failed", Some("job aborted")))
            .count(),
        2
    );
    assert_eq!(
        (
            half["summary"]["successful"].as_u64(),
            half["summary"]["failed"].as_u64()
        ),
        (Some(2), Some(2))
    );

    let job = at_start["job_id"].as_str().expect("id");
    let st = app.status(DEMO, job).await;
    assert_eq!(
        (
            st["status"].as_str(),
            st["error_message"].as_str(),
            st["progress"].as_f64()
        ),
        (Some("aborted"), Some("queue drained"), Some(0.0))
    );
    let log = logged(&app, job).await;
    let batch: Vec<&str> = log
        .iter()
        .filter(|n| n["name"] == "batch_edit")
        .map(|n| n["data"]["status"].as_str().expect("s"))
        .collect();
    assert_eq!(batch, ["pending", "processing", "aborted"]);

    // A job ends once: a plan cannot both fail and abort it. Refused, nothing stored.
    let jobs = app.state.job_count();
    let both = create(r#"{"fail_job_at_progress":50,"abort_job_at_progress":50}"#, false)
        .await
        .expect(400);
    assert_eq!(both.error_field().as_deref(), Some("X-Mock-Fault-Plan"));
    assert!(both.text().contains("abort_job_at_progress"), "{}", both.text());
    let out_of_range = create(r#"{"abort_job_at_progress":101}"#, false).await.expect(400);
    assert!(
        out_of_range
            .text()
            .contains("abort_job_at_progress: must be between 0 and 100")
    );
    assert_eq!(app.state.job_count(), jobs);
}

#[tokio::test]
async fn post_processing_that_had_begun_fails_with_the_abort() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let mut body = TestApp::job_body(&inputs, json!([{}]));
    body["post_process"] = json!(true);
    let job = app.create_job(DEMO, body).await;
    // Step the clock until post-processing runs (generation took 3–7 s).
    while app.status(DEMO, &job).await["post_processing_status"] != "processing" {
        app.advance(Duration::from_millis(250));
    }
    force(&app, &job, json!({"status": "aborted"})).await.expect(200);
    let res = app.results(DEMO, &job).await;
    assert_eq!(
        (
            res["status"].as_str(),
            res["post_processing_status"].as_str(),
            res["post_processing_error"].as_str(),
            res["results"][0]["status"].as_str()
        ),
        (Some("aborted"), Some("failed"), Some("job aborted"), Some("completed"))
    );
}

#[tokio::test]
async fn a_restart_on_the_data_dir_keeps_an_aborted_job_aborted() {
    let dir = TempDir::new("aborted");
    let first = spawn_on(&dir.path(), |_| {}).await;
    let inputs = first.job_inputs(DEMO, 1).await;
    let job = two_of_three_done(&first, &inputs).await;
    force(
        &first,
        &job,
        json!({"status": "aborted", "error_message": "cancelled by QA"}),
    )
    .await
    .expect(200);
    // One more, aborted by its plan after the restart.
    let plan = r#"{"abort_job_at_progress":50}"#;
    let body = TestApp::job_body(&inputs, json!([{"num_variations": 2}]));
    let planned = first.create_job_with_plan(DEMO, body, plan).await;
    let results_before = first.results(DEMO, &job).await.to_string().replace(&first.base, "BASE");
    let status_before = first.status(DEMO, &job).await;
    let log_before = logged(&first, &job).await;
    close(&first).await;

    let second = spawn_on(&dir.path(), |_| {}).await;
    let results_after = second
        .results(DEMO, &job)
        .await
        .to_string()
        .replace(&second.base, "BASE");
    assert_eq!(results_after, results_before, "the aborted job is as it was");
    second.finish_jobs();
    assert_eq!(second.status(DEMO, &job).await, status_before, "and stays so");
    let log_after = logged(&second, &job).await;
    // Kept as published (their links name the first server).
    assert_eq!(log_after, log_before, "nothing announced again");
    let planned = second.status(DEMO, &planned).await;
    assert_eq!(
        (planned["status"].as_str(), planned["processed_images"].as_u64()),
        (Some("aborted"), Some(1))
    );
}
