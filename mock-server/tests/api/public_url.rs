//! The URLs handed out: with `--host 0.0.0.0` and no `--public-url` they
//! follow each request's `Host` (or, with `--trust-proxy`, the forwarded
//! headers); a job's events keep the base of the request that created it,
//! across a restart too.

use serde_json::{Value, json};

use crate::helpers::{DEMO, TestApp};
use crate::persistence::{TempDir, close, spawn_on};

fn every_interface(c: &mut mock_server::Config) {
    c.host = "0.0.0.0".parse().expect("an address");
}

/// `POST /upload` with `headers`; its `upload_url`.
async fn upload_url(app: &TestApp, headers: &[(&str, &str)]) -> String {
    let mut call = app.post("/upload").token(DEMO).json(json!({"filename": "a.png"}));
    for (k, v) in headers {
        call = call.header(k, v);
    }
    let body = call.send().await.expect(200).json();
    body["upload_url"].as_str().expect("a URL").to_owned()
}

/// Issue 19: `--host 0.0.0.0` without `--public-url` handed out
/// `http://0.0.0.0:PORT/…`, which no client can reach.
#[tokio::test]
async fn on_every_interface_without_a_public_url_urls_follow_the_requests_host() {
    let app = TestApp::spawn_with(every_interface).await;
    let url = upload_url(&app, &[("Host", "mock.local:18080")]).await;
    assert!(url.starts_with("http://mock.local:18080/upload/"), "{url}");
    // Forwarded headers are any client's to forge unless the proxy is trusted.
    let forwarded = [
        ("Host", "mock.local:18080"),
        ("X-Forwarded-Host", "mock.example"),
        ("X-Forwarded-Proto", "https"),
    ];
    let url = upload_url(&app, &forwarded).await;
    assert!(url.starts_with("http://mock.local:18080/upload/"), "{url}");
    // A hostile Host is not put into a link: the bound address is.
    let url = upload_url(&app, &[("Host", "evil.test/x?")]).await;
    assert!(!url.contains("evil"), "{url}");
    // The URL handed out works: its PUT goes where the client asked.
    let url = upload_url(&app, &[]).await;
    assert!(url.starts_with(&format!("{}/upload/", app.base)), "{url}");
    let put = reqwest::Client::new()
        .put(&url)
        .header("Content-Type", "image/png")
        .body(crate::helpers::png(1))
        .send()
        .await
        .expect("answered");
    assert_eq!(put.status(), 200);

    let trusted = TestApp::spawn_with(|c| {
        every_interface(c);
        c.trust_proxy = true;
    })
    .await;
    let url = upload_url(&trusted, &forwarded).await;
    assert!(url.starts_with("https://mock.example/upload/"), "{url}");

    // A --public-url wins over the header.
    let fixed = TestApp::spawn_with(|c| {
        every_interface(c);
        c.public_url = Some("http://fixed.test:9".into());
    })
    .await;
    let url = upload_url(&fixed, &[("Host", "mock.local:18080")]).await;
    assert!(url.starts_with("http://fixed.test:9/upload/"), "{url}");
}

/// A job made through `Host: creator.test:1`: its id.
async fn job_from(app: &TestApp) -> String {
    let inputs = app.job_inputs(DEMO, 1).await;
    let body = TestApp::job_body(&inputs, json!([{}]));
    let r = app
        .post("/flat-2-model")
        .token(DEMO)
        .header("Host", "creator.test:1")
        .json(body)
        .send()
        .await
        .expect(202)
        .json();
    r["job_id"].as_str().expect("job_id").to_owned()
}

/// The image URLs of `job`'s notifications, read through `Host: reader.test:2`.
async fn event_urls(app: &TestApp, job: &str) -> Vec<String> {
    let n = app
        .post("/notifications")
        .token(DEMO)
        .header("Host", "reader.test:2")
        .json(json!({}))
        .send()
        .await
        .expect(200)
        .json();
    let text = n.to_string();
    assert!(text.contains(job), "{text}");
    let mut urls = Vec::new();
    collect_urls(&n, &mut urls);
    assert!(!urls.is_empty(), "no image URL in the notifications: {text}");
    urls
}

fn collect_urls(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if s.starts_with("http") => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|v| collect_urls(v, out)),
        Value::Object(o) => o.values().for_each(|v| collect_urls(v, out)),
        _ => {}
    }
}

/// The events are made by whichever request catches the job up: their
/// links must be the creating client's, not that request's.
#[tokio::test]
async fn a_jobs_events_keep_the_base_of_the_request_that_created_it() {
    let app = TestApp::spawn_with(every_interface).await;
    let job = job_from(&app).await;
    app.advance(std::time::Duration::from_secs(3600));
    for url in event_urls(&app, &job).await {
        assert!(url.starts_with("http://creator.test:1/"), "{url}");
    }
}

#[tokio::test]
async fn a_restored_job_keeps_the_base_of_the_request_that_created_it() {
    let dir = TempDir::new("public-base");
    let first = spawn_on(&dir.path(), every_interface).await;
    let job = job_from(&first).await;
    close(&first).await;
    drop(first);
    let again = spawn_on(&dir.path(), every_interface).await;
    again.advance(std::time::Duration::from_secs(3600));
    for url in event_urls(&again, &job).await {
        assert!(url.starts_with("http://creator.test:1/"), "{url}");
    }
}
