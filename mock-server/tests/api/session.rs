//! `GET /__admin/session`: the steps of a run in order, requests with
//! their answers and the control calls between them, without a secret.

use serde_json::json;

use crate::helpers::{DEMO, TestApp};

#[tokio::test]
async fn a_session_holds_requests_and_control_calls_in_order_without_secrets() {
    let app = TestApp::spawn_with(|c| c.journal_bodies = mock_server::config::JournalBodies::All).await;
    app.put("/__admin/scenarios/active")
        .json(json!({"name": "refuse-fallback", "token": DEMO}))
        .send()
        .await
        .expect(200);
    let reg = app.register_webhook(DEMO, "http://127.0.0.1:9/hook", None).await;
    let secret = reg["secret"].as_str().expect("secret").to_owned();
    app.post("/__admin/clock")
        .json(json!({"advance": "1m"}))
        .send()
        .await
        .expect(200);
    app.projects(DEMO).await;

    let s = app.get("/__admin/session").send().await.expect(200).json();
    assert_eq!(s["format"], "flat2model-session/1");
    assert_eq!(s["seed"], app.state.seed());
    assert_eq!(s["bodies_complete"], true);
    let steps = s["steps"].as_array().expect("steps");
    let kinds: Vec<String> = steps
        .iter()
        .map(|st| match st.get("control") {
            Some(c) => format!(
                "{} {}",
                c["method"].as_str().expect("m"),
                c["path"].as_str().expect("p")
            ),
            None => format!(
                "{} {}",
                st["request"]["method"].as_str().expect("m"),
                st["request"]["path"].as_str().expect("p")
            ),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "PUT /__admin/scenarios/active",
            "PUT /webhooks",
            "POST /__admin/clock",
            "GET /project"
        ]
    );
    assert_eq!(steps[0]["control"]["body"]["name"], "refuse-fallback");
    assert_eq!(steps[0]["control"]["body"]["caller"], steps[1]["request"]["caller"]);
    assert_eq!(steps[2]["control"]["body"]["advance"], "1m");
    assert_eq!(steps[1]["response"]["status"], 200);
    let answered = steps[1]["response"]["body"]["text"].as_str().expect("kept");
    assert!(answered.contains("\"secret\":\"<redacted>\""), "{answered}");
    let text = s.to_string();
    assert!(
        !text.contains(DEMO) && !text.contains(&secret),
        "no credential in the export"
    );
}
