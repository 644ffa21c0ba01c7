//! `POST /__admin/clock {"until_idle": true}`: every job event and webhook
//! retry still to come runs in one call.

use serde_json::{Value, json};

use crate::helpers::{DEMO, TestApp};
use crate::peers::{Behaviour, Receiver};

/// `POST /__admin/clock {"until_idle": true}`: its answer.
pub async fn drain(app: &TestApp) -> Value {
    app.post("/__admin/clock")
        .json(json!({"until_idle": true}))
        .send()
        .await
        .expect(200)
        .json()
}

/// How QA reproduces a webhook outage, in three control calls: choose the
/// scenario, drain the clock, read the delivery log. Every delivery of the
/// job (the ping too) fails three times, then arrives, and the drain's
/// answer lists each attempt it made.
#[tokio::test]
async fn the_webhook_outage_reproduces_in_three_control_calls() {
    let app = TestApp::spawn().await;
    let mut rx = Receiver::start(Behaviour::FailFirst(0)).await;
    let inputs = app.job_inputs(DEMO, 1).await;

    // Control call 1.
    app.put("/__admin/scenarios/active")
        .json(json!({"name": "webhook-outage"}))
        .send()
        .await
        .expect(200);
    app.register_webhook(DEMO, &rx.url, None).await;
    let job = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;

    // Control call 2.
    let clock = drain(&app).await;
    let drained = &clock["drained"];
    assert_eq!(drained["idle"], true, "{drained}");
    let events = drained["job_events"].as_array().expect("events");
    assert!(events.iter().all(|e| e["job_id"] == job.as_str()), "{events:?}");
    assert_eq!(events.last().expect("some")["event"], "generation_done", "{events:?}");

    // Control call 3.
    let log = app.get("/__admin/webhooks/deliveries").send().await.expect(200).json();
    let deliveries = log["deliveries"].as_array().expect("deliveries");
    // The ping and the job's notifications (pending, processing, its output, completed).
    assert!(deliveries.len() >= 4, "{log}");
    for d in deliveries {
        assert_eq!(d["status"], "delivered", "{d}");
        let attempts = d["attempts"].as_array().expect("attempts");
        assert_eq!(attempts.len(), 4, "{d}");
        assert!(attempts[..3].iter().all(|a| a["status_code"] == 503), "{d}");
        assert_eq!(attempts[3]["status_code"], 204, "{d}");
    }
    let ran = drained["webhook_attempts"].as_array().expect("attempts");
    // The ping's first attempt ran when it was registered, before the
    // drain; the job's first notification's may have (as its 202 went out).
    let all = 4 * deliveries.len();
    assert!((all - 2..all).contains(&ran.len()), "{drained}");
    assert!(
        ran.windows(2).all(|w| w[0]["at"].as_str() <= w[1]["at"].as_str()),
        "{ran:?}"
    );
    assert_eq!(
        ran.iter().filter(|a| a["status_code"] == 204).count(),
        deliveries.len(),
        "{ran:?}"
    );
    // The receiver got exactly the successful attempts, in order per job.
    let mut got = Vec::new();
    while let Some(r) = rx.try_next() {
        got.push(r.headers["x-webhook-event"].to_str().expect("ascii").to_owned());
    }
    assert_eq!(got.len(), deliveries.len(), "{got:?}");
    assert_eq!(got.last().map(String::as_str), Some("batch_edit"), "{got:?}");
}

/// Attempts that go out on a real socket are waited for: a receiver down
/// for its first five requests is retried until it answers, in one call.
#[tokio::test]
async fn a_drain_waits_for_real_attempts_and_their_retries() {
    let app = TestApp::spawn().await;
    let rx = Receiver::start(Behaviour::FailFirst(5)).await;
    app.register_webhook(DEMO, &rx.url, None).await;
    let clock = drain(&app).await;
    assert_eq!(clock["drained"]["idle"], true, "{clock}");
    let log = app.get("/__admin/webhooks/deliveries").send().await.expect(200).json();
    let ping = &log["deliveries"][0];
    assert_eq!(ping["status"], "delivered", "{log}");
    assert_eq!(ping["attempts"].as_array().map(Vec::len), Some(6), "{log}");
    // The retries followed the backoff from each failed attempt: 5 s, 30 s, 2 min, 10 min, 30 min.
    let started = |i: usize| ping["attempts"][i]["at"].as_str().expect("at").to_owned();
    assert!(started(5) > started(4), "{ping}");
    assert_eq!(clock["drained"]["steps"], 5, "{clock}");
}

/// The cap stops a drain with work left, and says so; a bad cap is a 400
/// naming it, and nothing moves.
#[tokio::test]
async fn a_drain_stops_at_its_cap_and_refuses_a_bad_one() {
    let app = TestApp::spawn().await;
    let rx = Receiver::start(Behaviour::FailFirst(100)).await;
    app.register_webhook(DEMO, &rx.url, None).await;
    let before: Value = app.get("/__admin/clock").send().await.expect(200).json();
    for bad in [json!({"max_steps": 3}), json!({"until_idle": true, "max_steps": 0})] {
        let r = app.post("/__admin/clock").json(bad).send().await.expect(400);
        assert_eq!(r.error_field().as_deref(), Some("max_steps"));
    }
    let after: Value = app.get("/__admin/clock").send().await.expect(200).json();
    assert_eq!(before["now"], after["now"]);
    let clock = app
        .post("/__admin/clock")
        .json(json!({"until_idle": true, "max_steps": 2}))
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(clock["drained"]["idle"], false, "{clock}");
    assert_eq!(clock["drained"]["steps"], 2, "{clock}");
    assert_eq!(
        clock["drained"]["webhook_attempts"].as_array().map(Vec::len),
        Some(2),
        "{clock}"
    );
    // Nothing due: an idle fake drains at once.
    app.post("/__admin/webhooks/deliveries/1/redeliver").send().await;
    let again = drain(&app).await;
    assert_eq!(again["drained"]["idle"], true, "{again}");
}
