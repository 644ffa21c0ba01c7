//! Graceful shutdown: in process (`serve_until` with the test's trigger) and
//! the real binary on SIGTERM. Nothing sleeps: a request is held in flight
//! by withholding its body, and the test waits on the server's own signals.

use std::time::Duration;

use serde_json::{Value, json};

use crate::binary::{Binary, send_json};
use crate::helpers::{DEMO, TestApp, png};
use crate::peers::{Behaviour, HeldRequest, Receiver, SseClient};

fn is_terminal(v: &Value, job: &str) -> bool {
    v["name"] == "batch_edit" && v["data"]["id_task"] == job && v["data"]["status"] == "completed"
}

/// `POST /upload` for a PNG; its pre-signed upload URL.
async fn upload_url(base: &str, token: &str) -> String {
    let r = send_json(
        reqwest::Client::new()
            .post(format!("{base}/upload"))
            .bearer_auth(token)
            .json(&json!({ "filename": "held.png" })),
    )
    .await;
    r["upload_url"].as_str().expect("upload_url").to_owned()
}

async fn assert_refused(addr: &str) {
    let e = tokio::net::TcpStream::connect(addr)
        .await
        .expect_err("a new connection is refused once the shutdown began");
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
}

#[tokio::test]
async fn a_shutdown_finishes_requests_in_flight_ends_streams_and_flushes_due_webhooks() {
    let (app, stopper) = TestApp::spawn_stoppable(|_| {}).await;
    let addr = app.base.strip_prefix("http://").expect("http").to_owned();
    let mut rx = Receiver::start(Behaviour::FailFirst(0)).await;
    app.register_webhook(DEMO, &rx.url, None).await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let job = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;
    // The ping and the job's `pending` went out at once.
    rx.until(|v| v["name"] == "batch_edit" && v["data"]["status"] == "pending")
        .await;
    let mut sse = SseClient::connect(&app, &format!("?id_task={job}"), DEMO, None).await;
    sse.backfill().await;
    let upload = HeldRequest::start(&addr, "PUT", &upload_url(&app.base, DEMO).await, "image/png", png(7)).await;
    // The job's events fall due (10 minutes: the upload URL, valid 15,
    // stays valid), and nothing applies them: a manual clock has no
    // ticker. They are due when the shutdown begins.
    app.advance(Duration::from_secs(600));

    stopper.stop.send(()).expect("server running");
    let began = app.state.shutdown.subscribe().wait_for(|b| *b).await.is_ok();
    assert!(began);
    assert_refused(&addr).await;

    // The stream gets what fell due, then ends cleanly: a proper end of the
    // chunked body (a broken one fails `next`).
    let mut live = Vec::new();
    while let Some(m) = sse.next_event().await {
        live.push(m.json());
    }
    assert!(live.iter().any(|v| is_terminal(v, &job)), "{live:?}");

    // The upload in flight completes.
    let answer = upload.finish().await;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("connection: close"), "{answer}");

    let served = tokio::time::timeout(Duration::from_secs(10), stopper.served)
        .await
        .expect("shut down within 10 s")
        .expect("not panicked");
    assert!(served.is_ok(), "{served:?}");
    // Every delivery that was due went out before the server returned.
    let book = app.state.webhooks.deliveries(None);
    assert!(book.len() >= 4, "ping, pending, processing, completed: {book:?}");
    for d in &book {
        assert_eq!(
            d.status,
            mock_server::events::webhook::DeliveryStatus::Delivered,
            "{d:?}"
        );
    }
    rx.until(|v| is_terminal(v, &job)).await;
}

#[tokio::test]
async fn the_grace_period_bounds_a_request_that_never_finishes_and_a_hung_receiver() {
    let (app, stopper) = TestApp::spawn_stoppable(|c| {
        c.shutdown_grace = Duration::from_millis(300);
        c.webhook_timeout = Duration::from_secs(60);
    })
    .await;
    let addr = app.base.strip_prefix("http://").expect("http").to_owned();
    let mut rx = Receiver::start(Behaviour::Hang).await;
    app.register_webhook(DEMO, &rx.url, None).await;
    rx.next().await;
    assert_eq!(app.state.shutdown.in_flight(), 1, "the ping is on the wire");
    let held = HeldRequest::start(&addr, "PUT", &upload_url(&app.base, DEMO).await, "image/png", png(8)).await;

    let started = std::time::Instant::now();
    stopper.stop.send(()).expect("server running");
    let served = tokio::time::timeout(Duration::from_secs(10), stopper.served)
        .await
        .expect("shut down within 10 s")
        .expect("not panicked");
    assert!(served.is_ok(), "{served:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "it waited the grace period"
    );
    // The held request got nothing but the end of its connection.
    assert_eq!(held.abandoned().await, b"");
    assert_refused(&addr).await;
}

#[tokio::test]
async fn sigterm_exits_0_after_the_request_in_flight_is_answered() {
    let mut server = Binary::start(
        &["--clock", "manual", "--shutdown-grace", "20s"],
        &[("MOCK_LOG", "info")],
    )
    .await;
    let addr = server.addr().to_owned();
    let url = upload_url(&server.url, DEMO).await;
    let held = HeldRequest::start(&addr, "PUT", &url, "image/png", png(9)).await;
    let mut sse = reqwest::Client::new()
        .get(format!("{}/notifications/events", server.url))
        .bearer_auth(DEMO)
        .send()
        .await
        .expect("SSE connected");
    assert_eq!(sse.status(), 200);

    server.terminate();
    // Logged once the listener is closed.
    server.log_until("shutting down").await;
    assert_refused(&addr).await;
    let answer = held.finish().await;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    // The SSE body ends cleanly (a broken one is an error here).
    let mut body = Vec::new();
    while let Some(chunk) = sse.chunk().await.expect("a clean end of the stream") {
        body.extend_from_slice(&chunk);
    }
    assert!(String::from_utf8_lossy(&body).contains("backfill_complete"));

    let status = server.exit(Duration::from_secs(20)).await;
    assert_eq!(status.code(), Some(0), "{:?}", server.log);
    assert!(
        server.log.iter().any(|l| l.contains("shut down cleanly")),
        "{:?}",
        server.log
    );
}
