//! Webhook deliveries to `https://` receivers: a real TLS receiver on
//! 127.0.0.1, port 0, with a certificate from a CA made in the test.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{DEMO, TestApp};
use crate::peers::{Behaviour, Receiver, TestCa, verify_signature};

/// Registers `rx` for DEMO, and checks that the `ping` arrives signed with
/// the secret and is logged as delivered.
async fn delivered_over_tls(app: &TestApp, rx: &mut Receiver) {
    assert!(rx.url.starts_with("https://127.0.0.1:"), "{}", rx.url);
    let reg = app.register_webhook(DEMO, &rx.url, None).await;
    let ping = rx.next().await;
    assert_eq!(ping.headers["x-webhook-event"], "ping");
    let signature = ping.headers["x-webhook-signature"].to_str().expect("ASCII");
    assert!(verify_signature(
        reg["secret"].as_str().expect("secret"),
        &ping.body,
        signature
    ));
    let d = app.delivery_where(|d| d["status"] != "in_flight").await;
    assert_eq!(d["status"], "delivered", "{d}");
    assert_eq!(d["attempts"][0]["status_code"], 204);
    let reg = app.get("/webhooks").token(DEMO).send().await.expect(200).json();
    assert_eq!(reg["last_response_status"], 204);
}

#[tokio::test]
async fn an_https_receiver_whose_ca_is_in_the_ca_file_gets_signed_deliveries() {
    let ca = TestCa::new();
    let ca_file = ca.write_pem();
    let app = TestApp::spawn_with(|c| c.webhook_ca_file = Some(ca_file.clone())).await;
    let mut rx = Receiver::start_tls(Behaviour::FailFirst(0), &ca).await;
    delivered_over_tls(&app, &mut rx).await;
    // Job notifications go the same way.
    let inputs = app.job_inputs(DEMO, 1).await;
    let job = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;
    rx.until(|v| v["name"] == "batch_edit" && v["data"]["id_task"] == job.as_str())
        .await;
    let _ = std::fs::remove_file(ca_file);
}

#[tokio::test]
async fn without_its_ca_an_https_attempt_fails_on_the_certificate_and_is_retried() {
    let ca = TestCa::new();
    let app = TestApp::spawn().await;
    let mut rx = Receiver::start_tls(Behaviour::FailFirst(0), &ca).await;
    app.register_webhook(DEMO, &rx.url, None).await;
    let failed = app
        .delivery_where(|d| d["status"] == "pending" && d["attempts"].as_array().is_some_and(|a| a.len() == 1))
        .await;
    let error = failed["attempts"][0]["error"].as_str().expect("an error");
    assert!(
        error.starts_with("TLS: invalid peer certificate: UnknownIssuer"),
        "{error}"
    );
    assert_eq!(failed["attempts"][0]["status_code"], Value::Null);
    assert!(failed["next_attempt_at"].is_string(), "{failed}");
    // Retried on the usual schedule: 5 s later, failing the same way.
    app.advance(Duration::from_secs(5));
    mock_server::jobs::catch_up(&app.state);
    let again = app
        .delivery_where(|d| d["attempts"].as_array().is_some_and(|a| a.len() == 2))
        .await;
    assert_eq!(again["status"], "pending");
    assert!(
        again["attempts"][1]["error"]
            .as_str()
            .expect("an error")
            .starts_with("TLS: ")
    );
    assert!(rx.try_next().is_none(), "nothing reached the receiver");
}

#[tokio::test]
async fn webhook_insecure_delivers_to_a_receiver_nobody_vouches_for() {
    let app = TestApp::spawn_with(|c| c.webhook_insecure = true).await;
    let mut rx = Receiver::start_tls(Behaviour::FailFirst(0), &TestCa::new()).await;
    delivered_over_tls(&app, &mut rx).await;
}

#[tokio::test]
async fn an_https_url_at_the_fake_itself_is_refused_too() {
    let app = TestApp::spawn().await;
    let port = app.base.rsplit(':').next().expect("a port").to_owned();
    for own in [
        format!("https://127.0.0.1:{port}/hook"),
        format!("https://localhost:{port}/hook"),
        format!("https://[::1]:{port}/hook"),
    ] {
        let r = app
            .put("/webhooks")
            .token(DEMO)
            .json(json!({ "url": own }))
            .send()
            .await
            .expect(400);
        assert_eq!(r.error_field().as_deref(), Some("url"), "{own}");
    }
    app.get("/webhooks").token(DEMO).send().await.expect(404);
}
