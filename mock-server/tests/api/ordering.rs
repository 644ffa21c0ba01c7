//! Ordering on the wire: a job's notifications come only after the 202 that
//! names it has been written, so a client that opens the SSE stream first
//! and filters it by the returned job id misses none of them.

use std::io::{Read as _, Write as _};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::helpers::{DEMO, TestApp};
use crate::peers::SseClient;

/// `POST /flat-2-model` with `body`, as a request for the router itself.
fn create_request(body: &Value) -> Request<Body> {
    Request::post("/flat-2-model")
        .header("authorization", format!("Bearer {DEMO}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("a request")
}

/// The account's notifications that name a job.
async fn job_notifications(app: &TestApp) -> Vec<Value> {
    app.notifications(DEMO)
        .await
        .as_array()
        .expect("a list")
        .iter()
        .filter(|n| n["data"].get("id_task").is_some())
        .cloned()
        .collect()
}

fn statuses(notifications: &[Value]) -> Vec<&str> {
    notifications
        .iter()
        .filter(|n| n["name"] == "batch_edit")
        .map(|n| n["data"]["status"].as_str().expect("a status"))
        .collect()
}

#[tokio::test]
async fn a_new_jobs_notifications_wait_until_its_202_body_is_taken() {
    let app = TestApp::spawn_with(|c| c.time_scale = 0.0).await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let res = mock_server::app(app.state.clone())
        .oneshot(create_request(&TestApp::job_body(&inputs, json!([{}, {}]))))
        .await
        .expect("answered");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    // The body is not taken yet: whoever applies due events, nothing of the
    // job is published (at time scale 0 all of it is due).
    mock_server::jobs::catch_up(&app.state);
    assert_eq!(job_notifications(&app).await, Vec::<Value>::new());

    let body = axum::body::to_bytes(res.into_body(), 1 << 20).await.expect("the body");
    let job = serde_json::from_slice::<Value>(&body).expect("JSON")["job_id"]
        .as_str()
        .expect("job_id")
        .to_owned();
    // Taken: the job catches up at once, with nobody moving the clock.
    let seen = job_notifications(&app).await;
    assert!(seen.iter().all(|n| n["data"]["id_task"] == job.as_str()));
    assert_eq!(statuses(&seen).first(), Some(&"pending"));
    assert_eq!(statuses(&seen).last(), Some(&"completed"));
    assert_eq!(seen.iter().filter(|n| n["name"] == "image_result").count(), 2);
    assert_eq!(app.status(DEMO, &job).await["status"], "completed");
}

#[tokio::test]
async fn a_held_job_catches_up_on_its_own_schedule_and_an_unsent_body_lets_it_go() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let created = app.state.now();
    let res = mock_server::app(app.state.clone())
        .oneshot(create_request(&TestApp::job_body(&inputs, json!([{}]))))
        .await
        .expect("answered");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    // An hour passes while the answer waits: still nothing.
    app.finish_jobs();
    assert_eq!(job_notifications(&app).await, Vec::<Value>::new());
    // Dropped unsent (a client that hung up): the job goes on, and what fell
    // due meanwhile keeps the times of its schedule, not of the release.
    drop(res);
    let seen = job_notifications(&app).await;
    assert_eq!(statuses(&seen), ["pending", "processing", "processing", "completed"]);
    let first = seen[0]["timestamp"].as_f64().expect("timestamp");
    let last = seen.last().expect("some")["timestamp"].as_f64().expect("timestamp");
    assert_eq!(first, created.seconds_f64());
    assert!(
        last - first < 60.0,
        "the job took its scheduled seconds, not the hour: {first} → {last}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sse_stream_opened_first_gets_the_jobs_events_after_the_client_has_its_202() {
    let app = TestApp::spawn_with(|c| c.time_scale = 0.0).await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let mut sse = SseClient::connect(&app, "", DEMO, None).await;
    sse.backfill().await;
    for round in 0..20 {
        // The job is created on a plain socket, and its answer left unread.
        let body = TestApp::job_body(&inputs, json!([{}, {}])).to_string();
        let addr = app.base.strip_prefix("http://").expect("http").to_owned();
        let mut post = std::net::TcpStream::connect(&addr).expect("connected");
        write!(
            post,
            "POST /flat-2-model HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {DEMO}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("sent");
        app.note_sent("POST", "/flat-2-model");
        // The first event naming a job…
        let first = loop {
            let v = sse.next_event().await.expect("open").json();
            if let Some(task) = v["data"]["id_task"].as_str() {
                break (task.to_owned(), v);
            }
        };
        // …finds the whole 202 already waiting on the other socket.
        post.set_nonblocking(true).expect("non-blocking");
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match post.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("read: {e}"),
            }
        }
        let answer = String::from_utf8_lossy(&answer).into_owned();
        assert!(answer.starts_with("HTTP/1.1 202"), "round {round}: {answer:?}");
        let json_at = answer.find("\r\n\r\n").expect("a head") + 4;
        let created: Value = serde_json::from_str(&answer[json_at..]).expect("the whole body was there");
        mock_server::contract::Contract::global()
            .validate("job-create-response.json", &created)
            .expect("matches job-create-response.json");
        assert_eq!(created["job_id"].as_str(), Some(first.0.as_str()), "round {round}");
        assert_eq!(
            (first.1["name"].as_str(), first.1["data"]["status"].as_str()),
            (Some("batch_edit"), Some("pending"))
        );
        // The rest of the job follows without anyone moving the clock.
        loop {
            let v = sse.next_event().await.expect("open").json();
            if v["name"] == "batch_edit" && v["data"]["status"] == "completed" {
                assert_eq!(v["data"]["id_task"].as_str(), Some(first.0.as_str()));
                break;
            }
        }
    }
}

/// The bench smoke's flake: a client read its 202, asked for the job at
/// once on another connection and found it `pending` at time scale 0,
/// because the connection that wrote the 202 had not yet come back to
/// flush (and so let go of) it. Naming a job by its id lets it go: the id
/// comes from its 202, so nothing of the job can overtake that 202 any more.
#[tokio::test]
async fn a_job_named_by_its_id_before_its_connection_flushed_is_let_go() {
    let app = TestApp::spawn_with(|c| c.time_scale = 0.0).await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let router = mock_server::app(app.state.clone());
    // In a connection's scope the taken body's hold waits for a flush that,
    // here, never comes: as on a connection whose task has not run again.
    mock_server::wire::scope(async {
        let res = router
            .clone()
            .oneshot(create_request(&TestApp::job_body(&inputs, json!([{}]))))
            .await
            .expect("answered");
        let body = axum::body::to_bytes(res.into_body(), 1 << 20).await.expect("the body");
        let job = serde_json::from_slice::<Value>(&body).expect("JSON")["job_id"]
            .as_str()
            .expect("job_id")
            .to_owned();
        mock_server::jobs::catch_up(&app.state);
        assert_eq!(job_notifications(&app).await, Vec::<Value>::new(), "held until named");
        assert_eq!(app.status(DEMO, &job).await["status"], "completed");
        let seen = job_notifications(&app).await;
        assert_eq!(statuses(&seen).first(), Some(&"pending"));
        assert_eq!(statuses(&seen).last(), Some(&"completed"));
    })
    .await;
}
