//! Engine choice and faults: the fallback from a refusal, the legacy flag,
//! injected fault plans.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{DEMO, TestApp};

use super::refused_field;

#[tokio::test]
async fn auto_falls_back_to_seedream_when_refused_and_explicit_engines_fail() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let ins = json!([{"prompt": "evening look mock:refuse"}, {"prompt": "plain"}]);
    let job = app.create_job(DEMO, TestApp::job_body(&inputs, ins.clone())).await;
    app.finish_jobs();
    let res = app.results(DEMO, &job).await;
    assert_eq!(res["status"], "completed");
    assert_eq!(res["results"][0]["model_used"], "seedream");
    assert_eq!(res["results"][0]["fallback_used"], true);
    assert_eq!(res["results"][1]["model_used"], "nano_banana_pro");

    let mut body = TestApp::job_body(&inputs, ins.clone());
    body["options"] = json!({"model": "nano_banana_pro"});
    let job = app.create_job(DEMO, body).await;
    app.finish_jobs();
    let res = app.results(DEMO, &job).await;
    assert_eq!(res["status"], "completed", "a partial failure still completes the job");
    assert_eq!(res["results"][0]["status"], "failed");
    assert_eq!(res["results"][0]["error_message"], "content refused by nano_banana_pro");
    assert_eq!(res["results"][0]["output"]["full_size"], Value::Null);
    assert_eq!(res["results"][1]["status"], "completed");
    assert_eq!(res["summary"]["failed"], 1);

    // Every output refused with an explicit engine: the job fails.
    let mut body = TestApp::job_body(&inputs, json!([{"prompt": "mock:refuse"}]));
    body["options"] = json!({"model": "seedream"});
    let job = app.create_job(DEMO, body).await;
    app.finish_jobs();
    let st = app.status(DEMO, &job).await;
    assert_eq!(st["status"], "failed");
    assert!(
        st["error_message"]
            .as_str()
            .expect("msg")
            .contains("content refused by seedream")
    );

    // refuse-all defeats the fallback too; a note marks every output.
    let mut body = TestApp::job_body(&inputs, json!([{}, {}]));
    body["images"] = json!([{"file_id": inputs.file_ids[0], "note": "mock:refuse-all"}]);
    let job = app.create_job(DEMO, body).await;
    app.finish_jobs();
    let res = app.results(DEMO, &job).await;
    assert_eq!(res["status"], "failed");
    assert_eq!(res["results"][1]["model_used"], "seedream");
}

#[tokio::test]
async fn the_legacy_flag_means_seedream() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let mut body = TestApp::job_body(&inputs, json!([{"prompt": "mock:refuse"}, {}]));
    body["options"] = json!({"use_alternative_method": true});
    let job = app.create_job(DEMO, body).await;
    app.finish_jobs();
    let res = app.results(DEMO, &job).await;
    assert_eq!(res["processing_options"]["model"], "seedream");
    assert_eq!(
        res["results"][0]["status"], "failed",
        "an explicit engine never falls back"
    );
    assert_eq!(res["results"][1]["model_used"], "seedream");
}

#[tokio::test]
async fn the_legacy_flag_at_the_top_level_means_seedream_too() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let mut body = TestApp::job_body(&inputs, json!([{"prompt": "mock:refuse"}, {}]));
    body["use_alternative_method"] = json!(true);
    let job = app.create_job(DEMO, body).await;
    app.finish_jobs();
    let res = app.results(DEMO, &job).await;
    assert_eq!(res["processing_options"]["model"], "seedream");
    assert_eq!(res["processing_options"]["use_alternative_method"], true);
    assert_eq!(
        res["results"][0]["status"], "failed",
        "an explicit engine never falls back"
    );
    assert_eq!(res["results"][1]["model_used"], "seedream");

    let jobs = app.state.job_count();
    let with = |flag: Value, options: Value| {
        let mut b = TestApp::job_body(&inputs, json!([{}]));
        b["use_alternative_method"] = flag;
        b["options"] = options;
        b
    };
    for (body, expected) in [
        (
            with(json!(true), json!({"model": "nano_banana_pro"})),
            "use_alternative_method: means model \"seedream\" and conflicts with options.model \"nano_banana_pro\"",
        ),
        (
            with(json!("yes"), json!({})),
            "use_alternative_method: must be a boolean",
        ),
    ] {
        assert_eq!(refused_field(&app, DEMO, body, 400).await, [expected]);
    }
    assert_eq!(app.state.job_count(), jobs, "a refused request makes no job");
}

#[tokio::test]
async fn an_injected_fault_plan_fails_delays_and_refuses() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let body = TestApp::job_body(&inputs, json!([{"num_variations": 4}]));
    let plan = r#"{"fail_job_at_progress": 50, "fail_job_message": "GPU on fire"}"#;
    let job = app.create_job_with_plan(DEMO, body.clone(), plan).await;
    app.finish_jobs();
    let res = app.results(DEMO, &job).await;
    assert_eq!(res["status"], "failed");
    assert_eq!(res["error_message"], "GPU on fire");
    assert_eq!(res["summary"]["successful"], 2);
    assert_eq!(res["processed_images"], 2, "progress stays where the job stopped");
    assert_eq!(res["progress"], 50.0);
    let aborted = res["results"]
        .as_array()
        .expect("r")
        .iter()
        .filter(|r| r["error_message"] == "job failed: GPU on fire")
        .count();
    assert_eq!(aborted, 2, "the outputs that never ran fail with the job");

    // At 100 the job fails once every output is done, instead of completing.
    let plan = r#"{"fail_job_at_progress": 100}"#;
    let job = app.create_job_with_plan(DEMO, body.clone(), plan).await;
    app.finish_jobs();
    let st = app.status(DEMO, &job).await;
    assert_eq!(
        (st["status"].as_str(), st["processed_images"].as_u64()),
        (Some("failed"), Some(4))
    );

    // Numbers out of range are refused, never a 500.
    for bad in [
        r#"{"delay_outputs": [{"output": 0, "seconds": 1e20}]}"#,
        r#"{"fail_job_at_progress": 150}"#,
        r#"{"fail_outputs": [80]}"#,
    ] {
        let r = app.send_job(DEMO, body.clone(), Some(bad)).await.expect(400);
        assert_eq!(r.error_field().as_deref(), Some("X-Mock-Fault-Plan"), "{bad}");
    }

    let plan = r#"{"delay_outputs": [{"output": 1, "seconds": 600}], "fail_outputs": [0]}"#;
    let job = app.create_job_with_plan(DEMO, body.clone(), plan).await;
    app.advance(Duration::from_secs(120));
    let st = app.status(DEMO, &job).await;
    assert_eq!(st["status"], "processing");
    assert_eq!(st["processed_images"], 3, "output 1 is delayed by 10 minutes");
    app.advance(Duration::from_secs(600));
    let res = app.results(DEMO, &job).await;
    assert_eq!(res["results"][0]["status"], "failed");
    assert_eq!(res["status"], "completed");

    let r = app.send_job(DEMO, body, Some("{\"refuse\": 1}")).await.expect(400);
    assert_eq!(r.error_field().as_deref(), Some("X-Mock-Fault-Plan"));
}
