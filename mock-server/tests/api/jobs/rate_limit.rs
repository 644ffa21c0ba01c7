//! The per-account rate limit on job creation, on the clock.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{DEMO, OTHER, TestApp};

#[tokio::test]
async fn job_creation_is_rate_limited_per_account() {
    let app = TestApp::spawn_with(|c| c.job_rate_limit = 2).await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let body = TestApp::job_body(&inputs, json!([{}]));
    app.create_job(DEMO, body.clone()).await;
    app.advance(Duration::from_secs(20));
    app.create_job(DEMO, body.clone()).await;
    let r = app
        .post("/flat-2-model")
        .token(DEMO)
        .json(body.clone())
        .send()
        .await
        .expect(429);
    assert_eq!(r.headers["retry-after"], "40");
    let other = app.job_inputs(OTHER, 1).await;
    app.create_job(OTHER, TestApp::job_body(&other, json!([{}]))).await;
    app.advance(Duration::from_secs(40));
    app.create_job(DEMO, body).await;
}

#[tokio::test]
async fn every_request_counts_against_the_rate_limit_and_it_is_checked_first() {
    // The vendor's 5 a minute; bodies up to 1 KiB, so a 413 is cheap.
    let app = TestApp::spawn_with(|c| {
        c.job_rate_limit = 5;
        c.max_body_bytes = 1024;
    })
    .await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let valid = TestApp::job_body(&inputs, json!([{}]));
    let mut unknown = valid.clone();
    unknown["identity_code"] = json!("nobody");
    let post = || app.post("/flat-2-model").token(DEMO);
    // Unauthenticated: 401, counted for nobody.
    for _ in 0..6 {
        app.post("/flat-2-model").json(valid.clone()).send().await.expect(401);
    }
    // Five refused requests, each for another reason.
    post().json(json!({})).send().await.expect(400);
    post()
        .bytes("application/json", b"{\"images\": [".to_vec())
        .send()
        .await
        .expect(400);
    post().json(unknown).send().await.expect(404);
    post().bytes("text/plain", b"{}".to_vec()).send().await.expect(415);
    post().json(json!({"pad": "x".repeat(2000)})).send().await.expect(413);
    // The sixth request within the minute: 429, valid or not.
    let r = post().json(valid.clone()).send().await.expect(429);
    assert_eq!(r.headers["retry-after"], "60");
    let r = post()
        .bytes("text/plain", b"not json".to_vec())
        .send()
        .await
        .expect(429);
    assert_eq!(r.json()["error"], "Too many requests");
    // Another account is unaffected.
    let other = app.job_inputs(OTHER, 1).await;
    app.create_job(OTHER, TestApp::job_body(&other, json!([{}]))).await;
    // A minute later the window is empty again.
    app.advance(Duration::from_secs(60));
    app.create_job(DEMO, valid).await;
    let jobs = app.state.job_count();
    assert_eq!(jobs, 2, "the refused requests made no job");
}

#[tokio::test]
async fn the_rate_limit_window_slides_on_the_clock() {
    let app = TestApp::spawn_with(|c| c.job_rate_limit = 5).await;
    let post = || app.post("/flat-2-model").token(DEMO).json(json!({}));
    // Two at 0 s, three at 30 s: full until the first two are 60 s old.
    for _ in 0..2 {
        post().send().await.expect(400);
    }
    app.advance(Duration::from_secs(30));
    for _ in 0..3 {
        post().send().await.expect(400);
    }
    app.advance(Duration::from_millis(29_999));
    let r = post().send().await.expect(429);
    assert_eq!(r.headers["retry-after"], "1");
    app.advance(Duration::from_millis(1));
    // 60 s after the first two: two places, and the next waits for the
    // three made at 30 s.
    for _ in 0..2 {
        post().send().await.expect(400);
    }
    let r = post().send().await.expect(429);
    assert_eq!(r.headers["retry-after"], "30");
}

#[tokio::test]
async fn retry_after_on_the_rate_limit_can_be_left_out_as_the_vendor_documents() {
    let app = TestApp::spawn_with(|c| {
        c.job_rate_limit = 1;
        c.rate_limit_retry_after = false;
    })
    .await;
    let post = || app.post("/flat-2-model").token(DEMO).json(json!({}));
    post().send().await.expect(400);
    for _ in 0..2 {
        let r = post().send().await.expect(429);
        assert!(r.headers.get("retry-after").is_none(), "{:?}", r.headers);
        assert_eq!(r.json()["error"], "Too many requests");
    }
    // Without the header the journal cannot say the client ignored it.
    let v = app.journal_verify(json!({"path": "/flat-2-model"})).await;
    assert_eq!(v["ignored_retry_after"], 0);
}
