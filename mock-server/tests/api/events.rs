//! Notifications, the SSE stream and webhooks, on real sockets.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{DEMO, OTHER, TestApp};
use crate::peers::{Behaviour, Receiver, SseClient, verify_signature};

async fn two_output_job(app: &TestApp) -> String {
    let inputs = app.job_inputs(DEMO, 1).await;
    app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}, {}]))).await
}

fn is_terminal(v: &Value, job: &str) -> bool {
    v["name"] == "batch_edit"
        && v["data"]["id_task"] == job
        && matches!(v["data"]["status"].as_str(), Some("completed" | "failed"))
}

#[tokio::test]
async fn sse_replays_then_streams_live_with_keepalives_and_resumes() {
    let app = TestApp::spawn_with(|c| c.sse_keepalive = Duration::from_millis(100)).await;
    let job = two_output_job(&app).await;
    let mut sse = SseClient::connect(&app, "", DEMO, None).await;
    let backfill = sse.backfill().await;
    let replayed: Vec<Value> = backfill.iter().map(|m| m.json()).collect();
    assert!(replayed.iter().any(|v| v["name"] == "identity_preprocessing"));
    assert!(replayed.iter().any(|v| v["name"] == "batch_edit"
        && v["data"]["id_task"] == job.as_str()
        && v["data"]["status"] == "pending"));
    assert!(
        backfill.iter().all(|m| m.id.is_some()),
        "every notification carries its id"
    );
    let last_backfilled = backfill.last().and_then(|m| m.id).expect("ids");

    // Live events after moving the clock: plain data lines, ids increasing.
    app.post("/__admin/clock")
        .json(json!({"advance": "1h"}))
        .send()
        .await
        .expect(200);
    let mut live = Vec::new();
    let mut keepalives = 0;
    while live.last().is_none_or(|v: &Value| !is_terminal(v, &job)) {
        let m = sse.next().await.expect("open");
        if m.comment.as_deref() == Some("keepalive") {
            keepalives += 1;
            continue;
        }
        assert_eq!(m.event, None, "live events are plain data lines");
        assert!(m.id.expect("id") > last_backfilled);
        live.push(m.json());
    }
    let statuses: Vec<&str> = live
        .iter()
        .filter(|v| v["name"] == "batch_edit")
        .map(|v| v["data"]["status"].as_str().expect("s"))
        .collect();
    assert_eq!(statuses.first(), Some(&"processing"));
    assert_eq!(statuses.last(), Some(&"completed"));
    assert_eq!(live.iter().filter(|v| v["name"] == "image_result").count(), 2);
    let progress: Vec<f64> = live
        .iter()
        .filter(|v| v["name"] == "batch_edit")
        .map(|v| v["data"]["progress"].as_f64().expect("p"))
        .collect();
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress never goes back: {progress:?}"
    );
    for v in &live {
        mock_server::contract::Contract::global()
            .validate("notification.json", v)
            .expect("matches notification.json");
    }
    // Keep-alives arrive while idle.
    while keepalives == 0 {
        if sse.next().await.expect("open").comment.as_deref() == Some("keepalive") {
            keepalives += 1;
        }
    }

    // Resuming with Last-Event-ID replays only what came after it.
    let mut resumed = SseClient::connect(&app, "", DEMO, Some(last_backfilled)).await;
    let again = resumed.backfill().await;
    assert_eq!(again.len(), live.len());
    assert!(again.iter().all(|m| m.id.expect("id") > last_backfilled));
}

#[tokio::test]
async fn deleted_notifications_are_never_replayed() {
    let app = TestApp::spawn().await;
    let job = two_output_job(&app).await;
    app.post(&format!("/__admin/jobs/{job}/complete"))
        .send()
        .await
        .expect(200);
    let all = app
        .post("/notifications")
        .token(DEMO)
        .json(json!({"id_task": [job]}))
        .send()
        .await
        .expect(200)
        .json();
    let all = all.as_array().expect("list").clone();
    assert!(all.len() >= 5, "{all:?}");
    let victim = all[0]["id"].as_u64().expect("id");
    app.call(reqwest::Method::DELETE, &format!("/notifications/{victim}"))
        .token(DEMO)
        .send()
        .await
        .expect(200);
    app.call(reqwest::Method::DELETE, &format!("/notifications/{victim}"))
        .token(DEMO)
        .send()
        .await
        .expect(404);
    let mut sse = SseClient::connect(&app, &format!("?id_task={job}"), DEMO, None).await;
    let ids: Vec<u64> = sse.backfill().await.iter().map(|m| m.id.expect("id")).collect();
    assert_eq!(ids.len(), all.len() - 1);
    assert!(!ids.contains(&victim));
    // Older than the backfill window (10 minutes): not backfilled on a fresh
    // connection, but still there for one that resumes.
    app.advance(Duration::from_secs(601));
    let mut fresh = SseClient::connect(&app, &format!("?id_task={job}"), DEMO, None).await;
    assert!(fresh.backfill().await.is_empty());
    let mut resumed = SseClient::connect(&app, &format!("?id_task={job}"), DEMO, Some(0)).await;
    assert_eq!(resumed.backfill().await.len(), all.len() - 1);
    let listed = app
        .get(&format!("/notifications?id_task={job}&name_list=image_result"))
        .token(DEMO)
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(listed.as_array().expect("l").len(), 2);
}

#[tokio::test]
async fn notifications_are_tenant_scoped() {
    let app = TestApp::spawn().await;
    two_output_job(&app).await;
    let mine = app.notifications(DEMO).await;
    let id = mine[0]["id"].as_u64().expect("id");
    app.call(reqwest::Method::DELETE, &format!("/notifications/{id}"))
        .token(OTHER)
        .send()
        .await
        .expect(404);
    let theirs = app
        .post("/notifications")
        .token(OTHER)
        .json(json!({}))
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(theirs.as_array().expect("l").len(), 0);
    let mut sse = SseClient::connect(&app, "", OTHER, None).await;
    assert!(sse.backfill().await.is_empty());
    let by_account = app
        .get("/__admin/notifications?account=demo@flat2model.test")
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(
        by_account["notifications"].as_array().expect("n").len(),
        mine.as_array().expect("m").len()
    );
    app.get("/__admin/notifications?account=nobody")
        .send()
        .await
        .expect(404);
}

#[tokio::test]
async fn the_token_may_come_in_the_query_and_bad_requests_are_refused() {
    let app = TestApp::spawn().await;
    let r = reqwest::get(format!("{}/notifications/events?token={DEMO}", app.base))
        .await
        .expect("sent");
    assert_eq!(r.status(), 200);
    app.get("/notifications/events").send().await.expect(401);
    app.get("/notifications/events")
        .token(DEMO)
        .header("last-event-id", "x")
        .send()
        .await
        .expect(400);
}

#[tokio::test]
async fn a_hundred_subscribers_each_see_exactly_one_terminal_notification() {
    let app = TestApp::spawn().await;
    let job = two_output_job(&app).await;
    let mut subscribers = Vec::new();
    for _ in 0..100 {
        let mut s = SseClient::connect(&app, &format!("?id_task={job}"), DEMO, None).await;
        s.backfill().await;
        subscribers.push(s);
    }
    // One subscriber that never reads must not hold anyone up.
    let _idle = SseClient::connect(&app, "", DEMO, None).await;
    app.post("/__admin/clock")
        .json(json!({"advance": "1h"}))
        .send()
        .await
        .expect(200);
    let tasks: Vec<_> = subscribers
        .into_iter()
        .map(|mut s| {
            let job = job.clone();
            tokio::spawn(async move {
                let mut terminal = 0;
                loop {
                    let v = s.next_event().await.expect("open").json();
                    if is_terminal(&v, &job) {
                        terminal += 1;
                        break;
                    }
                }
                terminal
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.expect("task"), 1);
    }
    // Nothing after the terminal one is a second terminal notification.
    let all = app
        .post("/notifications")
        .token(DEMO)
        .json(json!({"id_task": job, "name_list": "batch_edit"}))
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(
        all.as_array()
            .expect("l")
            .iter()
            .filter(|v| is_terminal(v, &job))
            .count(),
        1
    );
}

#[tokio::test]
async fn a_webhook_that_fails_twice_gets_the_third_attempt_correctly_signed() {
    let app = TestApp::spawn().await;
    let mut rx = Receiver::start(Behaviour::FailFirst(2)).await;
    let reg = app.register_webhook(DEMO, &rx.url, None).await;
    let secret = reg["secret"].as_str().expect("secret").to_owned();
    // The ping goes out at once, and fails twice.
    let first = rx.next().await;
    assert_eq!(first.answered, 500);
    assert_eq!(first.headers["x-webhook-event"], "ping");
    app.post("/__admin/clock")
        .json(json!({"advance": "5s"}))
        .send()
        .await
        .expect(200);
    assert_eq!(rx.next().await.answered, 500);
    app.post("/__admin/clock")
        .json(json!({"advance": "30s"}))
        .send()
        .await
        .expect(200);
    let third = rx.next().await;
    assert_eq!(third.answered, 204);
    assert_eq!(third.body, first.body, "the same bytes each attempt");
    let sig = third.headers["x-webhook-signature"].to_str().expect("sig");
    assert!(verify_signature(&secret, &third.body, sig));

    let log = app
        .get("/__admin/webhooks/deliveries?account=demo@flat2model.test")
        .send()
        .await
        .expect(200)
        .json();
    let ping = &log["deliveries"][0];
    assert_eq!(ping["event"], "ping");
    assert_eq!(ping["status"], "delivered");
    let codes: Vec<u64> = ping["attempts"]
        .as_array()
        .expect("a")
        .iter()
        .map(|a| a["status_code"].as_u64().expect("code"))
        .collect();
    assert_eq!(codes, [500, 500, 204]);

    // A job's notifications all arrive, in order, each signed.
    let job = two_output_job(&app).await;
    app.post("/__admin/clock")
        .json(json!({"advance": "1h"}))
        .send()
        .await
        .expect(200);
    let got = rx.until(|v| is_terminal(v, &job)).await;
    let mut last_id = 0;
    for r in &got {
        assert!(verify_signature(
            &secret,
            &r.body,
            r.headers["x-webhook-signature"].to_str().expect("sig")
        ));
        let v: Value = serde_json::from_slice(&r.body).expect("json");
        mock_server::contract::Contract::global()
            .validate("notification.json", &v)
            .expect("schema");
        assert!(v["id"].as_u64().expect("id") > last_id, "order kept");
        last_id = v["id"].as_u64().expect("id");
        assert_eq!(r.headers["x-webhook-event"], v["name"].as_str().expect("name"));
    }
}

#[tokio::test]
async fn a_receiver_that_never_answers_times_out_and_is_retried() {
    let app = TestApp::spawn_with(|c| c.webhook_timeout = Duration::from_millis(200)).await;
    let mut rx = Receiver::start(Behaviour::Hang).await;
    app.register_webhook(DEMO, &rx.url, None).await;
    rx.next().await;
    app.post("/__admin/clock")
        .json(json!({"advance": "5s"}))
        .send()
        .await
        .expect(200);
    rx.next().await;
    let log = app.get("/__admin/webhooks/deliveries").send().await.expect(200).json();
    let attempts = log["deliveries"][0]["attempts"].as_array().expect("a").clone();
    assert!(!attempts.is_empty());
    assert!(attempts[0]["error"].as_str().expect("error").starts_with("timed out"));
}

#[tokio::test]
async fn an_unreachable_receiver_is_logged_and_can_be_redelivered() {
    let app = TestApp::spawn().await;
    // A port that was free a moment ago: nothing listens there.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("addr");
    app.put("/webhooks")
        .token(DEMO)
        .json(json!({"url": format!("http://{dead}/hook")}))
        .send()
        .await
        .expect(200);
    let failed = app
        .delivery_where(|d| d["status"] == "pending" && !d["attempts"].as_array().expect("a").is_empty())
        .await;
    assert!(
        failed["attempts"][0]["error"]
            .as_str()
            .expect("error")
            .starts_with("unreachable"),
        "{failed}"
    );
    assert!(failed["next_attempt_at"].is_string());

    // Point the webhook at a live receiver and redeliver by hand.
    let mut rx = Receiver::start(Behaviour::FailFirst(0)).await;
    let reg = app.register_webhook(DEMO, &rx.url, None).await;
    let ping = rx.next().await;
    assert_eq!(ping.headers["x-webhook-event"], "ping");
    let id = failed["id"].as_u64().expect("id");
    app.post(&format!("/__admin/webhooks/deliveries/{id}/redeliver"))
        .send()
        .await
        .expect(200);
    // The redelivery goes to the current URL, signed with the current secret.
    let again = rx.next().await;
    assert_eq!(again.headers["x-webhook-delivery"], id.to_string().as_str());
    let secret = reg["secret"].as_str().expect("secret");
    assert!(verify_signature(
        secret,
        &again.body,
        again.headers["x-webhook-signature"].to_str().expect("sig")
    ));
    app.post("/__admin/webhooks/deliveries/999999/redeliver")
        .send()
        .await
        .expect(404);
}

#[tokio::test]
async fn webhook_registration_rotates_the_secret_and_can_be_removed() {
    let app = TestApp::spawn().await;
    let mut rx = Receiver::start(Behaviour::FailFirst(0)).await;
    let a = app.register_webhook(DEMO, &rx.url, None).await;
    rx.next().await;
    let b = app.register_webhook(DEMO, &rx.url, None).await;
    let ping = rx.next().await;
    assert_ne!(a["secret"], b["secret"]);
    assert_eq!(a["id"], b["id"]);
    assert!(verify_signature(
        b["secret"].as_str().expect("s"),
        &ping.body,
        ping.headers["x-webhook-signature"].to_str().expect("sig")
    ));
    assert!(!verify_signature(
        a["secret"].as_str().expect("s"),
        &ping.body,
        ping.headers["x-webhook-signature"].to_str().expect("sig")
    ));
    let shown = app.get("/webhooks").token(DEMO).send().await.expect(200).json();
    assert_eq!(shown["last_response_status"], 204);
    let r = app.post("/webhooks/test").token(DEMO).send().await.expect(202).json();
    assert!(r["delivery_id"].is_u64());
    assert_eq!(rx.next().await.headers["x-webhook-event"], "test");
    app.get("/webhooks").token(OTHER).send().await.expect(404);
    for bad in [
        json!({"url": "ftp://x/y"}),
        json!({"url": "not a url"}),
        json!({"url": "/relative"}),
        json!({}),
    ] {
        let r = app
            .put("/webhooks")
            .token(DEMO)
            .json(bad.clone())
            .send()
            .await
            .expect(400);
        assert_eq!(r.error_field().as_deref(), Some("url"), "{bad}");
    }
    app.call(reqwest::Method::DELETE, "/webhooks")
        .token(DEMO)
        .send()
        .await
        .expect(200);
    app.get("/webhooks").token(DEMO).send().await.expect(404);
    app.post("/webhooks/test").token(DEMO).send().await.expect(404);
}

#[tokio::test]
async fn notifications_stay_in_order_when_many_requests_step_the_engine() {
    let app = TestApp::spawn_with(|c| {
        c.clock = mock_server::config::ClockMode::System;
        c.time_scale = 0.0;
    })
    .await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let body = TestApp::job_body(&inputs, json!([{}, {}]));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (base, body) = (app.base.clone(), body.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                for _ in 0..3 {
                    let r = client
                        .post(format!("{base}/flat-2-model"))
                        .bearer_auth(DEMO)
                        .json(&body)
                        .send()
                        .await
                        .expect("sent");
                    assert_eq!(r.status(), 202);
                    client
                        .get(format!("{base}/notifications"))
                        .bearer_auth(DEMO)
                        .send()
                        .await
                        .expect("sent");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let all = app
        .post("/notifications")
        .token(DEMO)
        .json(json!({"name_list": "batch_edit"}))
        .send()
        .await
        .expect(200)
        .json();
    let all = all.as_array().expect("list").clone();
    let ids: Vec<u64> = all.iter().map(|n| n["id"].as_u64().expect("id")).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "the log is in id order");
    let rank = |s: &str| {
        ["pending", "processing", "completed"]
            .iter()
            .position(|x| *x == s)
            .expect("status")
    };
    let mut last: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for n in &all {
        let job = n["data"]["id_task"].as_str().expect("job").to_owned();
        let r = rank(n["data"]["status"].as_str().expect("status"));
        assert!(
            last.get(&job).is_none_or(|p| *p <= r),
            "{job} went back to {}",
            n["data"]["status"]
        );
        last.insert(job, r);
    }
    assert_eq!(last.len(), 48);
    // Every one can be deleted (the log's lookup relies on the order).
    for id in ids.iter().take(20) {
        app.call(reqwest::Method::DELETE, &format!("/notifications/{id}"))
            .token(DEMO)
            .send()
            .await
            .expect(200);
    }
}

#[tokio::test]
async fn repeated_filter_parameters_are_a_list() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let a = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;
    let b = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;
    let listed = app
        .get(&format!("/notifications?id_task={a}&id_task={b}"))
        .token(DEMO)
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(listed.as_array().expect("l").len(), 2);
    let mut sse = SseClient::connect(&app, &format!("?id_task={a}&id_task={b}"), DEMO, None).await;
    assert_eq!(sse.backfill().await.len(), 2);
}

#[tokio::test]
async fn the_journal_never_keeps_a_token_from_the_query() {
    let app = TestApp::spawn().await;
    let r = reqwest::get(format!(
        "{}/notifications/events?token={DEMO}&name_list=batch_edit",
        app.base
    ))
    .await
    .expect("sent");
    assert_eq!(r.status(), 200);
    drop(r);
    let j = app
        .get("/__admin/journal?path=/notifications/events")
        .send()
        .await
        .expect(200)
        .json();
    let entry = &j["requests"][0];
    assert!(!entry.to_string().contains(DEMO), "{entry}");
    assert_eq!(entry["query"], "token=%5Bredacted%5D&name_list=batch_edit");
    assert!(entry["caller"].is_string());
}

/// Found in review: after a jump of the manual clock, a fresh SSE connection
/// missed what the jump produced (the window counted from event time).
#[tokio::test]
async fn a_fresh_connection_after_a_clock_jump_sees_the_jobs_end() {
    let app = TestApp::spawn().await;
    let job = two_output_job(&app).await;
    app.post("/__admin/clock")
        .json(json!({"advance": "2h"}))
        .send()
        .await
        .expect(200);
    let mut sse = SseClient::connect(&app, &format!("?id_task={job}"), DEMO, None).await;
    let backfill: Vec<Value> = sse.backfill().await.iter().map(|m| m.json()).collect();
    assert!(backfill.iter().any(|v| is_terminal(v, &job)), "{backfill:?}");
}

/// Found in review: a stream open during a reset kept the old account and
/// then sent only keep-alives.
#[tokio::test]
async fn a_reset_ends_open_sse_streams() {
    let app = TestApp::spawn().await;
    let mut sse = SseClient::connect(&app, "", DEMO, None).await;
    sse.backfill().await;
    app.post("/__admin/reset").send().await.expect(200);
    assert!(sse.next_event().await.is_none(), "the stream ends");
}
