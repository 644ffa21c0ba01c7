//! Graceful shutdown: in process (`serve_until` with the test's trigger) and
//! the real binary on SIGTERM, with and without `--data-dir`. Nothing
//! sleeps: a request is held in flight by withholding its body, a webhook
//! attempt by a receiver that answers when told, and the test waits on the
//! server's own signals.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use mock_server::events::webhook::DeliveryStatus;
use serde_json::{Value, json};

use crate::binary::{Binary, send_json};
use crate::helpers::{DEMO, TestApp, jpeg, png};
use crate::peers::{Behaviour, HeldRequest, Receiver, SseClient};
use crate::persistence::TempDir;

fn is_terminal(v: &Value, job: &str) -> bool {
    v["name"] == "batch_edit" && v["data"]["id_task"] == job && v["data"]["status"] == "completed"
}

/// A webhook receiver registered for the demo account, one job (whose
/// `pending` the receiver already has: it goes out at once with the ping),
/// and an SSE stream of that job past its backfill.
async fn webhook_job_and_stream(app: &TestApp) -> (Receiver, String, SseClient) {
    let mut rx = Receiver::start(Behaviour::FailFirst(0)).await;
    app.register_webhook(DEMO, &rx.url, None).await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let job = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;
    rx.until(|v| v["name"] == "batch_edit" && v["data"]["status"] == "pending")
        .await;
    let mut sse = SseClient::connect(app, &format!("?id_task={job}"), DEMO, None).await;
    sse.backfill().await;
    (rx, job, sse)
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
    let (mut rx, job, mut sse) = webhook_job_and_stream(&app).await;
    let upload = HeldRequest::start(&addr, "PUT", &upload_url(&app.base, DEMO).await, "image/png", png(7)).await;
    // The job's events fall due (10 minutes: the upload URL, valid 15,
    // stays valid), and nothing applies them: a manual clock has no
    // ticker. They are due when the shutdown begins.
    app.advance(Duration::from_secs(600));

    stopper.stop.send(()).expect("server running");
    app.state.shutdown_begun().await;
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
    let book = app.state.deliveries();
    assert!(book.len() >= 4, "ping, pending, processing, completed: {book:?}");
    for d in &book {
        assert_eq!(d.status, DeliveryStatus::Delivered, "{d:?}");
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
    assert_eq!(app.state.webhook_attempts_in_flight(), 1, "the ping is on the wire");
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

/// Found in review: with `--data-dir` a shutdown applied the due events but
/// ended the SSE streams before their notifications were committed (and so
/// appended to the logs), sent their webhooks after it stopped waiting, and
/// never closed the store. Now the stream gets them, every delivery goes
/// out, and a server started on the same data dir afterwards (the lock is
/// released) holds the notifications and sends nothing again.
#[tokio::test]
async fn with_a_data_dir_what_the_shutdown_applies_is_streamed_delivered_and_kept() {
    let dir = TempDir::new("drain");
    let data_dir = dir.path();
    let (app, stopper) = TestApp::spawn_stoppable(|c| c.data_dir = Some(data_dir.clone())).await;
    let (mut rx, job, mut sse) = webhook_job_and_stream(&app).await;
    // The job's events fall due, and nothing applies them (a manual clock
    // has no ticker): the shutdown does.
    app.advance(Duration::from_secs(600));

    stopper.stop.send(()).expect("server running");
    let mut live = Vec::new();
    while let Some(m) = sse.next_event().await {
        live.push(m.json());
    }
    assert!(live.iter().any(|v| is_terminal(v, &job)), "{live:?}");
    let served = tokio::time::timeout(Duration::from_secs(10), stopper.served)
        .await
        .expect("shut down within 10 s")
        .expect("not panicked");
    assert!(served.is_ok(), "{served:?}");
    rx.until(|v| is_terminal(v, &job)).await;
    let book = app.state.deliveries();
    assert!(book.len() >= 4, "ping, pending, processing, completed: {book:?}");
    assert!(book.iter().all(|d| d.status == DeliveryStatus::Delivered), "{book:?}");
    let tenant = app.state.tenant_of_token(DEMO).expect("demo");
    let logged: Vec<Value> = tenant.log.all().iter().map(|n| n.wire()).collect();
    assert!(logged.iter().any(|v| is_terminal(v, &job)));

    let second = TestApp::spawn_with(|c| c.data_dir = Some(data_dir.clone())).await;
    let kept = second.get("/notifications").token(DEMO).send().await.expect(200).json();
    assert_eq!(kept, Value::Array(logged), "the notifications are kept");
    let outcome = |book: Vec<mock_server::events::webhook::Delivery>| {
        book.into_iter()
            .map(|d| (d.id, (d.status, d.attempts.len())))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(
        outcome(second.state.deliveries()),
        outcome(book),
        "every delivery is kept as delivered, after one attempt"
    );
    assert_eq!(second.state.next_delivery_due(), None, "nothing is left to send");
}

/// An identity, a project, an uploaded PNG and a one-output job made of
/// them, in the demo account of the server at `base`; the job's id.
async fn job_on(http: &reqwest::Client, base: &str) -> String {
    let form = reqwest::multipart::Form::new().part(
        "image",
        reqwest::multipart::Part::bytes(jpeg(31)).file_name("model.jpg"),
    );
    let identity = send_json(
        http.post(format!("{base}/identity/upload"))
            .bearer_auth(DEMO)
            .multipart(form),
    )
    .await;
    let project = send_json(
        http.post(format!("{base}/project"))
            .bearer_auth(DEMO)
            .json(&json!({ "project_name": "drain" })),
    )
    .await;
    let upload = send_json(
        http.post(format!("{base}/upload"))
            .bearer_auth(DEMO)
            .json(&json!({ "filename": "garment.png" })),
    )
    .await;
    let put = http
        .put(upload["upload_url"].as_str().expect("upload_url"))
        .header("content-type", "image/png")
        .body(png(32))
        .send()
        .await
        .expect("sent");
    assert_eq!(put.status(), 200);
    let job = send_json(
        http.post(format!("{base}/flat-2-model"))
            .bearer_auth(DEMO)
            .json(&json!({
                "identity_code": identity["identity_code"],
                "project_id": project["project_id"],
                "images": [upload["file_id"]],
                "instructions": [{}],
            })),
    )
    .await;
    job["job_id"]
        .as_str()
        .unwrap_or_else(|| panic!("a job: {job}"))
        .to_owned()
}

/// `X-Webhook-Delivery` of a request the receiver got.
fn delivery_id(r: &crate::peers::Received) -> u64 {
    r.headers["x-webhook-delivery"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("a delivery id")
}

/// Found in review: on SIGTERM the binary never committed the last webhook
/// outcomes nor closed its data dir, so after a restart a delivery the
/// receiver had accepted during the shutdown could be sent again; and each
/// finished attempt sent the next one at once, so the wait for the attempts
/// could run to the end of the grace. Here the receiver holds the first
/// attempts until the shutdown has begun; the job's other deliveries, due
/// behind them, go out during the shutdown, once each; the process exits 0
/// within the grace, and the restarted server holds every delivery as
/// delivered (so it sends none again) and every notification.
#[tokio::test]
async fn sigterm_with_a_data_dir_sends_what_was_due_once_and_a_restart_sends_nothing_again() {
    let dir = TempDir::new("sigterm");
    let data_dir = dir.path().to_str().expect("a UTF-8 temp dir").to_owned();
    // Attempts are held on the wire for the whole set-up: a long timeout, so
    // that a busy machine cannot turn one into a retry.
    let args = [
        "--clock",
        "manual",
        "--data-dir",
        &data_dir,
        "--shutdown-grace",
        "20s",
        "--webhook-timeout",
        "120s",
    ];
    let (release, held) = tokio::sync::watch::channel(false);
    let mut rx = Receiver::start(Behaviour::HoldUntil(held)).await;
    let mut server = Binary::start(&args, &[("MOCK_LOG", "info")]).await;
    let http = reqwest::Client::new();
    let base = server.url.clone();

    let registration = send_json(
        http.put(format!("{base}/webhooks"))
            .bearer_auth(DEMO)
            .json(&json!({ "url": rx.url })),
    )
    .await;
    assert!(registration["secret"].is_string(), "{registration}");
    let job = job_on(&http, &base).await;
    let mut sse = SseClient::from_response(
        http.get(format!("{base}/notifications/events?id_task={job}"))
            .bearer_auth(DEMO)
            .send()
            .await
            .expect("SSE connected"),
    );
    sse.backfill().await;
    // The job runs to its end; its deliveries wait in line behind its
    // `pending`, which the receiver holds (as it holds the ping).
    send_json(
        http.post(format!("{base}/__admin/clock"))
            .json(&json!({ "advance": "1h" })),
    )
    .await;
    let mut got = vec![rx.next().await, rx.next().await];
    let notifications = send_json(http.get(format!("{base}/notifications")).bearer_auth(DEMO)).await;
    let list = notifications.as_array().expect("a list");
    assert!(list.iter().any(|v| is_terminal(v, &job)), "{notifications}");
    let mut live = Vec::new();
    while !live.iter().any(|v| is_terminal(v, &job)) {
        live.push(sse.next_event().await.expect("the job's notifications").json());
    }

    let started = std::time::Instant::now();
    server.terminate();
    server.log_until("shutting down").await;
    release.send_replace(true);
    // The stream ends cleanly (a broken end fails `next`).
    let rest = sse.next_event().await;
    assert!(rest.is_none(), "nothing more was due on the stream: {rest:?}");
    let status = server.exit(Duration::from_secs(20)).await;
    assert_eq!(status.code(), Some(0), "{:?}", server.log);
    assert!(started.elapsed() < Duration::from_secs(20), "within the grace");
    assert!(
        server.log.iter().any(|l| l.contains("shut down cleanly")),
        "{:?}",
        server.log
    );
    // Every request the fake made is in the channel by now: the receiver
    // reports each before it answers.
    while let Some(r) = rx.try_next() {
        got.push(r);
    }
    let mut sent: BTreeMap<u64, usize> = BTreeMap::new();
    for r in &got {
        *sent.entry(delivery_id(r)).or_default() += 1;
    }
    assert!(sent.values().all(|n| *n == 1), "each delivery once: {sent:?}");
    let bodies: Vec<Value> = got
        .iter()
        .map(|r| serde_json::from_slice(&r.body).expect("JSON"))
        .collect();
    assert!(
        bodies.iter().any(|v| is_terminal(v, &job)),
        "the job's last delivery went out during the shutdown"
    );
    assert_eq!(
        bodies.len(),
        list.len() + 1,
        "the ping and every notification: {bodies:?}"
    );

    let mut restarted = Binary::start(&args, &[("MOCK_LOG", "info")]).await;
    let base = restarted.url.clone();
    let kept = send_json(http.get(format!("{base}/notifications")).bearer_auth(DEMO)).await;
    assert_eq!(kept, notifications, "the notifications are kept");
    let log = send_json(http.get(format!("{base}/__admin/webhooks/deliveries"))).await;
    let book = log["deliveries"].as_array().expect("a list");
    let ids: BTreeSet<u64> = book.iter().map(|d| d["id"].as_u64().expect("id")).collect();
    assert_eq!(ids, sent.keys().copied().collect(), "the book holds what was sent");
    for d in book {
        assert_eq!(d["status"], "delivered", "sent once, kept as delivered: {d}");
        assert_eq!(d["attempts"].as_array().map(Vec::len), Some(1), "{d}");
    }
    restarted.terminate();
    let status = restarted.exit(Duration::from_secs(20)).await;
    assert_eq!(status.code(), Some(0), "{:?}", restarted.log);
}

#[tokio::test]
async fn once_the_shutdowns_last_catch_up_ran_no_job_event_is_applied() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let job = app
        .create_job(DEMO, TestApp::job_body(&inputs, json!([{ "pose": "standing" }])))
        .await;
    let before = app.status(DEMO, &job).await;
    // What the drain does: the events due by now, then no more.
    mock_server::jobs::catch_up_and_freeze(&app.state);
    app.advance(Duration::from_secs(3600));
    // A request still in flight catches up: nothing happens.
    let after = app.status(DEMO, &job).await;
    assert_eq!(after["status"], before["status"], "{after}");
    assert_ne!(after["status"], "completed");
}
