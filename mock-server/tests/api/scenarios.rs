//! The scenario catalogue: every shipped scenario, replayed, gives the same
//! observable outcome; selection by header, token and globally; no races.

use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{DEMO, JobInputs, TestApp};
use crate::peers::{Behaviour, Receiver};

const H: &str = "x-mock-scenario";

/// What a replay's outcome must satisfy.
type Check = Box<dyn Fn(&Value)>;

async fn job_under(app: &TestApp, inputs: &JobInputs, scenario: &str, instructions: Value, extra: Value) -> String {
    let mut body = TestApp::job_body(inputs, instructions);
    if let Value::Object(m) = extra {
        for (k, v) in m {
            body[k] = v;
        }
    }
    let r = app
        .post("/flat-2-model")
        .token(DEMO)
        .header(H, scenario)
        .json(body)
        .send()
        .await
        .expect(202)
        .json();
    r["job_id"].as_str().expect("id").to_owned()
}

/// A summary of a finished job that two replays must share.
async fn outcome(app: &TestApp, job: &str) -> Value {
    app.finish_jobs();
    let r = app.results(DEMO, job).await;
    let results: Vec<Value> = r["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|x| json!([x["status"], x["model_used"], x["error_message"]]))
        .collect();
    json!({"status": r["status"], "error": r["error_message"], "processed": r["processed_images"], "pp": r["post_processing_status"], "results": results})
}

#[tokio::test]
async fn every_catalogue_file_is_valid_and_loaded() {
    let app = TestApp::spawn().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/scenarios");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("catalogue") {
        let path = entry.expect("entry").path();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
        mock_server::contract::Contract::global()
            .validate("scenario.json", &v)
            .expect("matches scenario.json");
        assert!(
            !v["client_should"].as_str().unwrap_or("").is_empty(),
            "{path:?} says what a client should do"
        );
        names.push(v["name"].as_str().expect("name").to_owned());
    }
    let listed = app.get("/__admin/scenarios").send().await.expect(200).json();
    assert_eq!(listed["scenarios"].as_array().expect("s").len(), names.len());
    assert!(names.len() >= 15);
}

#[tokio::test]
async fn job_plan_scenarios_replay_to_the_same_outcome() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let cases: Vec<(&str, Value, Value, Check)> = vec![
        (
            "refuse-fallback",
            json!([{}, {}]),
            json!({}),
            Box::new(|o: &Value| {
                assert_eq!(o["status"], "completed");
                assert_eq!(o["results"][0], json!(["completed", "seedream", null]));
                assert_eq!(o["results"][1][1], "nano_banana_pro");
            }),
        ),
        (
            "refuse-everything",
            json!([{}, {}]),
            json!({}),
            Box::new(|o: &Value| assert_eq!(o["status"], "failed")),
        ),
        (
            "job-fails-midway",
            json!([{"num_variations": 4}]),
            json!({}),
            Box::new(|o: &Value| {
                assert_eq!(
                    (o["status"].as_str(), o["processed"].as_u64()),
                    (Some("failed"), Some(2))
                );
                assert_eq!(o["error"], "generation failed: worker lost");
            }),
        ),
        (
            "job-aborted",
            json!([{"num_variations": 4}]),
            json!({}),
            Box::new(|o: &Value| {
                assert_eq!(
                    (o["status"].as_str(), o["processed"].as_u64()),
                    (Some("aborted"), Some(2))
                );
                assert_eq!(o["error"], "job aborted by the operator");
                let results = o["results"].as_array().expect("results");
                assert_eq!(results.iter().filter(|r| r[0] == "completed").count(), 2);
                assert_eq!(
                    results
                        .iter()
                        .filter(|r| r[0] == "failed" && r[2] == "job aborted")
                        .count(),
                    2
                );
            }),
        ),
        (
            "partial-failure",
            json!([{}, {}, {}]),
            json!({}),
            Box::new(|o: &Value| {
                assert_eq!(o["status"], "completed");
                assert_eq!(o["results"][1][0], "failed");
            }),
        ),
        (
            "post-processing-fails",
            json!([{}]),
            json!({"post_process": true}),
            Box::new(|o: &Value| {
                assert_eq!(
                    (o["status"].as_str(), o["pp"].as_str()),
                    (Some("completed"), Some("failed"))
                );
            }),
        ),
    ];
    for (name, instructions, extra, check) in cases {
        let mut first = None;
        for _ in 0..100 {
            let job = job_under(&app, &inputs, name, instructions.clone(), extra.clone()).await;
            let o = outcome(&app, &job).await;
            check(&o);
            // Which output finishes first depends on the job's own seeded
            // timings; what a client observes of the job does not.
            let mut observed = o.clone();
            if let Some(r) = observed["results"].as_array_mut() {
                r.sort_by_key(|v| v.to_string());
            }
            match &first {
                None => first = Some(observed),
                Some(f) => assert_eq!(&observed, f, "{name} replays the same"),
            }
        }
    }
}

#[tokio::test]
async fn slow_outputs_keep_the_job_processing_for_ten_minutes() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    for _ in 0..100 {
        let job = job_under(
            &app,
            &inputs,
            "slow-outputs",
            json!([{}, {}]),
            json!({"options": {"use_anchor": false}}),
        )
        .await;
        app.advance(Duration::from_secs(300));
        let st = app.status(DEMO, &job).await;
        assert_eq!(
            (st["status"].as_str(), st["processed_images"].as_u64()),
            (Some("processing"), Some(1))
        );
        app.advance(Duration::from_secs(400));
        assert_eq!(app.status(DEMO, &job).await["status"], "completed");
    }
}

#[tokio::test]
async fn upload_urls_expire_at_once() {
    let app = TestApp::spawn().await;
    for _ in 0..100 {
        let r = app
            .post("/upload")
            .token(DEMO)
            .header(H, "upload-url-expired")
            .json(json!({"filename": "a.png"}))
            .send()
            .await
            .expect(200)
            .json();
        let res = app
            .put(r["upload_url"].as_str().expect("url"))
            .bytes("image/png", crate::helpers::png(1))
            .send()
            .await
            .expect(403);
        assert!(res.text().contains("Request has expired"));
    }
}

#[tokio::test]
async fn rate_limited_and_server_errors_hit_the_nth_calls_of_each_caller() {
    let app = TestApp::spawn_with(|c| c.any_token = true).await;
    let inputs = app.job_inputs("caller-setup", 1).await;
    let body = TestApp::job_body(&inputs, json!([{}]));
    for replay in 0..100 {
        // A fresh caller each replay: counters are per caller token.
        let caller = format!("caller-{replay}");
        let mut seen = Vec::new();
        for scenario in [
            "rate-limited",
            "rate-limited",
            "rate-limited",
            "server-error-on-create",
            "server-error-on-create",
        ] {
            let r = app
                .post("/flat-2-model")
                .token(&caller)
                .header(H, scenario)
                .json(body.clone())
                .send()
                .await;
            if r.status == 429 {
                assert_eq!(r.headers["retry-after"], "2");
            }
            seen.push(r.status);
        }
        // 404: this caller's tenant does not own the setup's files.
        assert_eq!(seen, [429, 429, 404, 500, 404], "replay {replay}");
    }
}

#[tokio::test]
async fn fifty_concurrent_clients_each_see_exactly_their_plan() {
    let app = TestApp::spawn_with(|c| c.any_token = true).await;
    app.put("/__admin/scenarios/active")
        .json(json!({"name": "rate-limited"}))
        .send()
        .await
        .expect(200);
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (base, token) = (app.base.clone(), format!("client-{i}"));
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut seen = Vec::new();
                for _ in 0..3 {
                    let r = client
                        .post(format!("{base}/flat-2-model"))
                        .bearer_auth(&token)
                        .json(&json!({}))
                        .send()
                        .await
                        .expect("sent");
                    seen.push(r.status().as_u16());
                }
                seen
            })
        })
        .collect();
    for t in tasks {
        // Two 429s, then the request reaches the handler (400: the body is empty).
        assert_eq!(t.await.expect("task"), [429, 429, 400]);
    }
}

#[tokio::test]
async fn flaky_polls_fail_the_same_calls_every_replay() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let job = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;
    let mut patterns = Vec::new();
    for _ in 0..100 {
        let mut pattern = Vec::new();
        for _ in 0..20 {
            let r = app
                .get(&format!("/jobs/{job}/status"))
                .token(DEMO)
                .header(H, "flaky-status")
                .send()
                .await;
            pattern.push(r.status);
        }
        app.state.reset_call_counters();
        patterns.push(pattern);
    }
    assert!(
        patterns[0].contains(&503) && patterns[0].contains(&200),
        "{:?}",
        patterns[0]
    );
    assert!(patterns.windows(2).all(|w| w[0] == w[1]));
}

#[tokio::test]
async fn slow_responses_are_delayed() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let job = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;
    // 100 replays at once: each waits the scenario's 1.5 s, none fails.
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let url = format!("{}/jobs/{job}/status", app.base);
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                let r = reqwest::Client::new()
                    .get(url)
                    .bearer_auth(DEMO)
                    .header(H, "slow-responses")
                    .send()
                    .await
                    .expect("sent");
                (r.status().as_u16(), started.elapsed())
            })
        })
        .collect();
    for t in tasks {
        let (status, took) = t.await.expect("task");
        assert_eq!(status, 200);
        assert!(took >= Duration::from_millis(1500), "{took:?}");
    }
}

#[tokio::test]
async fn the_sse_stream_drops_after_three_notifications() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}, {}]))).await;
    app.finish_jobs();
    let client = reqwest::Client::new();
    let mut first = None;
    for _ in 0..100 {
        let res = client
            .get(format!("{}/notifications/events", app.base))
            .bearer_auth(DEMO)
            .header(H, "sse-drop")
            .header("last-event-id", "0")
            .send()
            .await
            .expect("sent");
        let text = tokio::time::timeout(Duration::from_secs(10), res.text())
            .await
            .expect("the stream ends")
            .expect("body");
        assert_eq!(text.matches("data: ").count(), 3, "{text}");
        match &first {
            None => first = Some(text),
            Some(f) => assert_eq!(&text, f),
        }
    }
}

#[tokio::test]
async fn webhook_outages_are_simulated_and_retried() {
    let app = TestApp::spawn().await;
    let mut rx = Receiver::start(Behaviour::FailFirst(0)).await;
    for (scenario, failures) in [("webhook-outage", 3), ("webhook-timeouts", 2)] {
        for _ in 0..100 {
            app.post("/__admin/reset").send().await.expect(200);
            app.register_webhook(DEMO, &rx.url, Some(scenario)).await;
            for wait in [5u64, 30, 120].iter().take(failures) {
                app.post("/__admin/clock")
                    .json(json!({"advance": wait}))
                    .send()
                    .await
                    .expect(200);
            }
            let got = rx.next().await;
            assert_eq!(got.headers["x-webhook-event"], "ping");
            let log = app.get("/__admin/webhooks/deliveries").send().await.expect(200).json();
            let attempts = log["deliveries"][0]["attempts"].as_array().expect("a").clone();
            assert_eq!(attempts.len(), failures + 1, "{scenario}: {attempts:?}");
            assert!(
                attempts[..failures]
                    .iter()
                    .all(|a| a["error"].as_str().expect("e").contains("simulated"))
            );
            assert_eq!(attempts[failures]["status_code"], 204);
        }
    }
}

#[tokio::test]
async fn a_contract_violation_is_served_and_detected() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let job = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;
    app.finish_jobs();
    let client = reqwest::Client::new();
    let get = |path: String| {
        client
            .get(format!("{}{path}", app.base))
            .bearer_auth(DEMO)
            .header(H, "contract-violation")
            .send()
    };
    for _ in 0..100 {
        let status: Value = get(format!("/jobs/{job}/status"))
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        assert!(status.get("progress").is_none());
        let errs = mock_server::contract::Contract::global()
            .validate("job-status-response.json", &status)
            .expect_err("violation");
        assert!(errs.iter().any(|e| e.message.contains("progress")), "{errs:?}");
        let results: Value = get(format!("/jobs/{job}/results"))
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        let errs = mock_server::contract::Contract::global()
            .validate("job-results-response.json", &results)
            .expect_err("violation");
        assert!(
            errs.iter().any(|e| e.field.as_deref() == Some("summary.failed")),
            "{errs:?}"
        );
    }
}

#[tokio::test]
async fn scenarios_are_chosen_by_header_token_or_globally_and_jobs_keep_theirs() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let body = TestApp::job_body(&inputs, json!([{}, {}]));
    let r = app
        .post("/flat-2-model")
        .token(DEMO)
        .header(H, "no-such-scenario")
        .json(body.clone())
        .send()
        .await
        .expect(400);
    assert_eq!(r.error_field().as_deref(), Some("X-Mock-Scenario"));

    app.put("/__admin/scenarios/active")
        .json(json!({"name": "refuse-fallback", "token": DEMO}))
        .send()
        .await
        .expect(200);
    let job = app.create_job(DEMO, body.clone()).await;
    app.put("/__admin/scenarios/active")
        .json(json!({"name": null, "token": DEMO}))
        .send()
        .await
        .expect(200);
    assert_eq!(
        outcome(&app, &job).await["results"][0][1],
        "seedream",
        "the job kept its scenario"
    );

    app.put("/__admin/scenarios/active")
        .json(json!({"name": "partial-failure"}))
        .send()
        .await
        .expect(200);
    let job = app.create_job(DEMO, body.clone()).await;
    assert_eq!(outcome(&app, &job).await["results"][1][0], "failed");
    // The header wins over the global choice.
    let job = job_under(&app, &inputs, "refuse-fallback", json!([{}, {}]), json!({})).await;
    assert_eq!(outcome(&app, &job).await["results"][1][0], "completed");
    app.put("/__admin/scenarios/active")
        .json(json!({"name": "nope"}))
        .send()
        .await
        .expect(404);

    // Loading and removing through the control API.
    let custom = json!({"name": "custom", "job": {"fail_outputs": [0]}});
    app.post("/__admin/scenarios").json(custom).send().await.expect(200);
    let job = job_under(&app, &inputs, "custom", json!([{}]), json!({})).await;
    assert_eq!(outcome(&app, &job).await["status"], "failed");
    app.call(reqwest::Method::DELETE, "/__admin/scenarios/custom")
        .send()
        .await
        .expect(200);
    app.call(reqwest::Method::DELETE, "/__admin/scenarios/custom")
        .send()
        .await
        .expect(404);
    let r = app
        .post("/__admin/scenarios")
        .json(json!({"name": "bad", "endpoints": [{"method": "GET", "path": "/jobs/{id}/status", "probability": 2}]}))
        .send()
        .await
        .expect(400);
    assert_eq!(r.error_field().as_deref(), Some("endpoints[0].probability"));
    // A path that is no operation would silently never fire: refused.
    let r = app
        .post("/__admin/scenarios")
        .json(json!({"name": "typo", "endpoints": [{"method": "GET", "path": "/job/{id}/statuz", "status": 503}]}))
        .send()
        .await
        .expect(400);
    assert_eq!(r.error_field().as_deref(), Some("endpoints[0].path"));
}

#[tokio::test]
async fn a_fixture_account_can_carry_its_own_scenario() {
    let dir = std::env::temp_dir().join(format!("f2m-fixtures-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("scenarios")).expect("temp dir");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let mut accounts: Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("accounts.json")).expect("read")).expect("json");
    accounts["accounts"][0]["scenario"] = json!("upload-url-expired");
    std::fs::write(dir.join("accounts.json"), accounts.to_string()).expect("write");
    std::fs::copy(
        src.join("scenarios/upload-url-expired.json"),
        dir.join("scenarios/upload-url-expired.json"),
    )
    .expect("copy");
    let fixtures = dir.clone();
    let app = TestApp::spawn_with(move |c| c.fixtures = Some(fixtures)).await;
    let r = app
        .post("/upload")
        .token(DEMO)
        .json(json!({"filename": "a.png"}))
        .send()
        .await
        .expect(200)
        .json();
    app.put(r["upload_url"].as_str().expect("url"))
        .bytes("image/png", crate::helpers::png(1))
        .send()
        .await
        .expect(403);
    // The other account runs without a scenario.
    let r = app
        .post("/upload")
        .token(crate::helpers::OTHER)
        .json(json!({"filename": "a.png"}))
        .send()
        .await
        .expect(200)
        .json();
    app.put(r["upload_url"].as_str().expect("url"))
        .bytes("image/png", crate::helpers::png(1))
        .send()
        .await
        .expect(200);
    // Listed by caller id and account, never by the token.
    let r = app.get("/__admin/scenarios").send().await.expect(200);
    assert!(!r.text().contains(DEMO), "{}", r.text());
    let demo_caller = hex::encode(&Sha256::digest(DEMO.as_bytes())[..6]);
    assert_eq!(
        r.json()["tokens"],
        json!([{ "caller": demo_caller, "account": "demo@flat2model.test", "scenario": "upload-url-expired" }])
    );
    // A token of no account is listed with none.
    let r = app
        .put("/__admin/scenarios/active")
        .json(json!({"name": "upload-url-expired", "token": "f2m_nobodys_token"}))
        .send()
        .await
        .expect(200);
    assert!(!r.text().contains("f2m_nobodys_token"), "{}", r.text());
    let nobody = hex::encode(&Sha256::digest(b"f2m_nobodys_token")[..6]);
    let listed = r.json()["tokens"].clone();
    let entry = listed
        .as_array()
        .expect("a list")
        .iter()
        .find(|t| t["caller"] == nobody.as_str())
        .unwrap_or_else(|| panic!("{nobody} in {listed}"));
    assert_eq!(entry["account"], Value::Null);
    std::fs::remove_dir_all(&dir).ok();
}
