//! The request journal, verify, forcing a job's state, and seeded
//! determinism across two servers.

use serde_json::{Value, json};

use crate::helpers::{DEMO, OTHER, TestApp};

#[tokio::test]
async fn the_journal_shows_what_clients_sent_with_their_violations() {
    let app = TestApp::spawn().await;
    broken_then_fine(&app).await;
    app.get("/project?per_page=5").token(DEMO).send().await.expect(200);
    let j = app
        .get("/__admin/journal?path=/project")
        .send()
        .await
        .expect(200)
        .json();
    let reqs = j["requests"].as_array().expect("requests");
    assert_eq!(reqs.len(), 3);
    let bad = &reqs[0];
    assert_eq!(
        (bad["method"].as_str(), bad["status"].as_u64()),
        (Some("POST"), Some(400))
    );
    assert!(
        bad["headers"].get("authorization").is_none(),
        "no secrets in the journal"
    );
    assert_ne!(bad["caller"].as_str(), Some(DEMO));
    let body = serde_json::to_vec(&json!({"project_name": 5})).expect("json");
    use sha2::Digest;
    assert_eq!(bad["body_sha256"], hex::encode(sha2::Sha256::digest(&body)));
    assert!(
        bad["violations"][0].as_str().expect("v").starts_with("project_name: "),
        "{bad}"
    );
    assert_eq!(reqs[1]["violations"], json!([]));
    assert_eq!(reqs[2]["query"], "per_page=5");
    let only_bad = app
        .get("/__admin/journal?violations=true")
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(only_bad["requests"].as_array().expect("r").len(), 1);

    let v = app.journal_verify(json!({"method": "POST", "path": "/proj*"})).await;
    assert_eq!((v["count"].as_u64(), v["with_violations"].as_u64()), (Some(2), Some(1)));
    let v = app
        .journal_verify(json!({"method": "GET", "path": "/jobs/*/status"}))
        .await;
    assert_eq!(v["count"], 0);
    app.call(reqwest::Method::DELETE, "/__admin/journal")
        .send()
        .await
        .expect(200);
    assert_eq!(
        app.get("/__admin/journal").send().await.expect(200).json()["requests"],
        json!([])
    );
}

#[tokio::test]
async fn a_client_that_ignores_retry_after_is_visible() {
    let app = TestApp::spawn().await;
    app.put("/__admin/scenarios/active")
        .json(json!({"name": "rate-limited", "token": DEMO}))
        .send()
        .await
        .expect(200);
    app.post("/flat-2-model")
        .token(DEMO)
        .json(json!({}))
        .send()
        .await
        .expect(429);
    // At once again: Retry-After (2 s) ignored.
    app.post("/flat-2-model")
        .token(DEMO)
        .json(json!({}))
        .send()
        .await
        .expect(429);
    app.advance(std::time::Duration::from_secs(2));
    app.post("/flat-2-model")
        .token(DEMO)
        .json(json!({}))
        .send()
        .await
        .expect(400);
    let j = app
        .get("/__admin/journal?path=/flat-2-model")
        .send()
        .await
        .expect(200)
        .json();
    let flags: Vec<bool> = j["requests"]
        .as_array()
        .expect("r")
        .iter()
        .map(|e| e["ignored_retry_after"].as_bool().expect("b"))
        .collect();
    assert_eq!(flags, [false, true, false]);
    let v = app.journal_verify(json!({"path": "/flat-2-model"})).await;
    assert_eq!(v["ignored_retry_after"], 1);
}

#[tokio::test]
async fn a_job_can_be_forced_to_fail_or_complete() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let job = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}, {}]))).await;
    let r = app
        .post(&format!("/__admin/jobs/{job}/state"))
        .json(json!({"status": "failed", "error_message": "forced"}))
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(r["status"]["status"], "failed");
    let st = app.status(DEMO, &job).await;
    assert_eq!(
        (st["status"].as_str(), st["error_message"].as_str()),
        (Some("failed"), Some("forced"))
    );
    app.post(&format!("/__admin/jobs/{job}/state"))
        .json(json!({"status": "completed"}))
        .send()
        .await
        .expect(409);
    let other = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;
    app.post(&format!("/__admin/jobs/{other}/state"))
        .json(json!({"status": "dancing"}))
        .send()
        .await
        .expect(400);
    app.post(&format!("/__admin/jobs/{other}/state"))
        .json(json!({"status": "completed"}))
        .send()
        .await
        .expect(200);
    assert_eq!(app.status(DEMO, &other).await["status"], "completed");
}

/// One client flow; returns every response body it saw, images included.
async fn flow(app: &TestApp) -> Vec<Vec<u8>> {
    let mut bodies = Vec::new();
    let local = |url: &str| url.replace("http://mock.test", &app.base);
    let identity = crate::helpers::image(256, 320, image::ImageFormat::Jpeg, 9);
    let form =
        reqwest::multipart::Form::new().part("image", reqwest::multipart::Part::bytes(identity).file_name("m.jpg"));
    let r = app.send_identity_form(DEMO, form).await.expect(200);
    bodies.push(r.body.to_vec());
    let code = r.json()["identity_code"].as_str().expect("code").to_owned();
    let r = app
        .post("/project")
        .token(DEMO)
        .json(json!({"project_name": "det"}))
        .send()
        .await
        .expect(201);
    bodies.push(r.body.to_vec());
    let project = r.json()["project_id"].as_str().expect("id").to_owned();
    let r = app
        .post("/upload")
        .token(DEMO)
        .json(json!({"filename": "a.png", "project_name": "det"}))
        .send()
        .await
        .expect(200);
    bodies.push(r.body.to_vec());
    let up = r.json();
    app.put(&local(up["upload_url"].as_str().expect("u")))
        .bytes("image/png", crate::helpers::png(3))
        .send()
        .await
        .expect(200);
    let body = json!({"identity_code": code, "project_id": project, "images": [up["file_id"]], "instructions": [{"pose": "a"}, {"pose": "b", "num_variations": 2}]});
    let r = app.accept_job(DEMO, body).await;
    bodies.push(r.body.to_vec());
    let job = r.json()["job_id"].as_str().expect("id").to_owned();
    for _ in 0..40 {
        app.advance(std::time::Duration::from_millis(700));
        bodies.push(
            app.get(&format!("/jobs/{job}/status"))
                .token(DEMO)
                .send()
                .await
                .expect(200)
                .body
                .to_vec(),
        );
    }
    let r = app
        .get(&format!("/jobs/{job}/results"))
        .token(DEMO)
        .send()
        .await
        .expect(200);
    bodies.push(r.body.to_vec());
    for res in r.json()["results"].as_array().expect("r") {
        let url = local(res["output"]["full_size"].as_str().expect("url"));
        bodies.push(app.get(&url).send().await.expect(200).body.to_vec());
    }
    let n: Value = app.notifications(DEMO).await;
    bodies.push(n.to_string().into_bytes());
    bodies
}

#[tokio::test]
async fn two_seeded_servers_answer_byte_for_byte_the_same() {
    let setup = |c: &mut mock_server::Config| {
        c.seed = 42;
        c.public_url = Some("http://mock.test".into());
    };
    let a = TestApp::spawn_with(setup).await;
    let b = TestApp::spawn_with(setup).await;
    let (x, y) = (flow(&a).await, flow(&b).await);
    assert_eq!(x.len(), y.len());
    for (i, (p, q)) in x.iter().zip(&y).enumerate() {
        assert!(
            p == q,
            "response {i} differs:\n{}\n{}",
            String::from_utf8_lossy(p),
            String::from_utf8_lossy(q)
        );
    }
    // Another seed gives other IDs.
    let c = TestApp::spawn_with(|c| {
        c.seed = 43;
        c.public_url = Some("http://mock.test".into());
    })
    .await;
    assert_ne!(flow(&c).await[0], x[0]);
}

#[tokio::test]
async fn verify_takes_the_scenario_files_path_templates() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let job = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;
    app.status(DEMO, &job).await;
    app.status(DEMO, &job).await;
    // The form scenario files use matched nothing before (issue 18).
    let v = app
        .journal_verify(json!({"method": "GET", "path": "/jobs/{id}/status"}))
        .await;
    assert_eq!(v["count"], 2);
    let v = app.journal_verify(json!({"path": "/jobs/{id}"})).await;
    assert_eq!(v["count"], 0, "a template's segment stays one segment");
}

#[tokio::test]
async fn the_journal_selects_one_caller_one_account_or_a_window() {
    let app = TestApp::spawn().await;
    app.create_project(DEMO, "a").await;
    app.create_project(OTHER, "b").await;
    let all = app.get("/__admin/journal").send().await.expect(200).json()["requests"].clone();
    let demo_caller = all[0]["caller"].as_str().expect("caller").to_owned();
    let first_seq = all[0]["seq"].as_u64().expect("seq");
    app.advance(std::time::Duration::from_secs(60));
    app.create_project(DEMO, "c").await;
    let count = |q: String| {
        let app = &app;
        async move {
            app.get(&format!("/__admin/journal?{q}"))
                .send()
                .await
                .expect(200)
                .json()["requests"]
                .as_array()
                .expect("requests")
                .len()
        }
    };
    assert_eq!(count(format!("caller={demo_caller}")).await, 2);
    assert_eq!(count("account=demo@flat2model.test".into()).await, 2);
    assert_eq!(count("account=other@flat2model.test".into()).await, 1);
    assert_eq!(count(format!("after={first_seq}")).await, 2);
    assert_eq!(count("since=2026-01-01T00:01:00Z".into()).await, 1);
    assert_eq!(count("until=2026-01-01T00:01:00Z".into()).await, 2);
    let r = app.get("/__admin/journal?since=yesterday").send().await.expect(400);
    assert_eq!(r.error_field().as_deref(), Some("since"));
    let r = app
        .get("/__admin/journal?account=nobody@x.test")
        .send()
        .await
        .expect(404);
    assert_eq!(r.error_field().as_deref(), Some("account"));
}

/// Two projects of DEMO: one with a number for a name (400, a violation),
/// then a fine one.
async fn broken_then_fine(app: &TestApp) {
    app.post("/project")
        .token(DEMO)
        .json(json!({"project_name": 5}))
        .send()
        .await
        .expect(400);
    app.create_project(DEMO, "fine").await;
}

#[tokio::test]
async fn a_flagged_request_keeps_both_bodies_and_a_clean_one_none() {
    let app = TestApp::spawn().await;
    broken_then_fine(&app).await;
    let reqs = app.get("/__admin/journal").send().await.expect(200).json()["requests"].clone();
    assert_eq!(reqs[0]["request_body"]["text"], r#"{"project_name":5}"#);
    assert_eq!(reqs[0]["request_body"]["content_type"], "application/json");
    let answer: Value = serde_json::from_str(reqs[0]["response_body"]["text"].as_str().expect("text")).expect("json");
    assert_eq!(answer["detail"][0]["field"], "project_name");
    assert_eq!(
        (&reqs[1]["request_body"], &reqs[1]["response_body"]),
        (&Value::Null, &Value::Null)
    );

    // `--journal-bodies all`: every request's.
    let all = TestApp::spawn_with(|c| c.journal_bodies = mock_server::config::JournalBodies::All).await;
    all.create_project(DEMO, "fine").await;
    let reqs = all.get("/__admin/journal").send().await.expect(200).json()["requests"].clone();
    assert_eq!(reqs[0]["request_body"]["text"], r#"{"project_name":"fine"}"#);
    assert!(
        reqs[0]["response_body"]["text"]
            .as_str()
            .expect("text")
            .contains("project_id")
    );
}

#[tokio::test]
async fn a_request_without_credentials_where_they_are_needed_is_a_violation() {
    let app = TestApp::spawn().await;
    app.get("/project").send().await.expect(401);
    app.get("/__admin/health").send().await.expect(200);
    app.get("/project").token(DEMO).send().await.expect(200);
    let reqs = app.get("/__admin/journal").send().await.expect(200).json()["requests"].clone();
    assert_eq!(
        reqs.as_array().expect("r").len(),
        2,
        "control requests are not recorded"
    );
    assert_eq!(
        reqs[0]["violations"],
        json!(["Authorization: missing: this operation needs credentials (its security in openapi.yaml)"])
    );
    assert_eq!(reqs[1]["violations"], json!([]));
}

#[tokio::test]
async fn the_journal_exports_its_flagged_requests_as_har() {
    let app = TestApp::spawn().await;
    broken_then_fine(&app).await;
    let har = app
        .get("/__admin/journal.har?violations=true")
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(har["log"]["version"], "1.2");
    let entries = har["log"]["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e["request"]["method"], "POST");
    assert_eq!(e["request"]["url"], format!("{}/project", app.base));
    assert_eq!(e["request"]["postData"]["text"], r#"{"project_name":5}"#);
    assert_eq!(e["response"]["status"], 400);
    assert_eq!(e["response"]["statusText"], "Bad Request");
    assert!(
        e["response"]["content"]["text"]
            .as_str()
            .expect("t")
            .contains("project_name")
    );
    assert!(e["_violations"][0].as_str().expect("v").starts_with("project_name: "));
    assert!(e["comment"].as_str().expect("c").starts_with("project_name: "));
    assert!(
        !e["request"]["headers"].to_string().contains(DEMO),
        "no credentials in the HAR"
    );
}
