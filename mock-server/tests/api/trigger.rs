//! `POST /__admin/webhooks/trigger`: a chosen notification to the
//! registered webhook, without a job.

use serde_json::{Value, json};

use crate::helpers::{DEMO, TestApp};
use crate::peers::{Behaviour, Receiver, verify_signature};

#[tokio::test]
async fn a_triggered_notification_reaches_the_webhook_signed_and_the_log() {
    let app = TestApp::spawn().await;
    let mut rx = Receiver::start(Behaviour::FailFirst(0)).await;
    let reg = app.register_webhook(DEMO, &rx.url, None).await;
    let secret = reg["secret"].as_str().expect("secret").to_owned();
    assert_eq!(rx.next().await.headers["x-webhook-event"], "ping");
    for (event, status) in [
        ("batch_edit.completed", "completed"),
        ("batch_edit.failed", "failed"),
        ("batch_edit.aborted", "aborted"),
    ] {
        let r = app
            .post("/__admin/webhooks/trigger")
            .json(json!({"event": event, "token": DEMO}))
            .send()
            .await
            .expect(200)
            .json();
        assert!(r["delivery_id"].is_u64(), "{r}");
        let got = rx.next().await;
        let sig = got.headers["x-webhook-signature"].to_str().expect("ascii");
        assert!(verify_signature(&secret, &got.body, sig));
        let body: Value = serde_json::from_slice(&got.body).expect("json");
        mock_server::contract::Contract::global()
            .validate("notification.json", &body)
            .expect("a notification");
        assert_eq!(
            (body["name"].as_str(), body["data"]["status"].as_str()),
            (Some("batch_edit"), Some(status))
        );
        assert_eq!(body["data"]["id_task"], r["id_task"]);
    }
    // In the log too, as any notification.
    let log = app.notifications(DEMO).await;
    assert!(log.to_string().contains("\"aborted\""), "{log}");
}

#[tokio::test]
async fn a_retried_trigger_fails_once_then_arrives_on_the_drain() {
    let app = TestApp::spawn().await;
    let mut rx = Receiver::start(Behaviour::FailFirst(0)).await;
    app.register_webhook(DEMO, &rx.url, None).await;
    rx.next().await;
    let r = app
        .post("/__admin/webhooks/trigger")
        .json(json!({"event": "batch_edit.completed", "account": "demo@flat2model.test", "retried": true}))
        .send()
        .await
        .expect(200)
        .json();
    assert!(rx.try_next().is_none());
    let clock = crate::drain::drain(&app).await;
    let ran = clock["drained"]["webhook_attempts"].as_array().expect("ran").clone();
    assert_eq!(ran.len(), 1, "{clock}");
    assert_eq!(ran[0]["delivery_id"], r["delivery_id"]);
    assert_eq!(ran[0]["status_code"], 204);
    assert_eq!(rx.next().await.headers["x-webhook-event"], "batch_edit");
    let d = app.delivery_where(|d| d["id"] == r["delivery_id"]).await;
    assert_eq!(d["attempts"][0]["status_code"], 503, "{d}");
}

#[tokio::test]
async fn a_bad_trigger_names_its_field_and_emits_nothing() {
    let app = TestApp::spawn().await;
    for (body, field, status) in [
        (json!({"event": "batch_edit.done", "token": DEMO}), "event", 400),
        (json!({"event": "batch_edit.failed"}), "account", 400),
        (json!({"event": "batch_edit.failed", "token": "nobody"}), "token", 404),
    ] {
        let r = app
            .post("/__admin/webhooks/trigger")
            .json(body)
            .send()
            .await
            .expect(status);
        assert_eq!(r.error_field().as_deref(), Some(field));
    }
    let log = app.get("/__admin/notifications").send().await.expect(200).json();
    assert_eq!(log["notifications"].as_array().map(Vec::len), Some(0), "{log}");
}
