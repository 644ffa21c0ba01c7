use mock_server::contract::Document;
use serde_json::json;

use crate::helpers::{DEMO, OTHER, TestApp};

#[tokio::test]
async fn health_reports_ok() {
    let app = TestApp::spawn().await;
    let r = app.get("/__admin/health").send().await.expect(200).json();
    assert_eq!(r["status"], "ok");
    assert_eq!(r["tenants"], 2);
}

#[tokio::test]
async fn the_clock_can_be_read_set_and_advanced() {
    let app = TestApp::spawn().await;
    let r = app.get("/__admin/clock").send().await.expect(200).json();
    assert_eq!(r["now"], "2026-01-01T00:00:00.000Z");
    assert_eq!(r["mode"], "manual");
    let r = app
        .post("/__admin/clock")
        .json(json!({"advance": "1h 30m"}))
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(r["now"], "2026-01-01T01:30:00.000Z");
    let r = app
        .post("/__admin/clock")
        .json(json!({"advance": 30}))
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(r["now"], "2026-01-01T01:30:30.000Z");
    let r = app
        .post("/__admin/clock")
        .json(json!({"set": "2027-05-01T12:00:00Z", "advance": "1m"}))
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(r["now"], "2027-05-01T12:01:00.000Z");
    assert_eq!(app.state.now().rfc3339(), "2027-05-01T12:01:00Z");
    for (bad, field) in [
        (json!({}), "advance"),
        (json!({"advance": "soon"}), "advance"),
        (json!({"advance": -5}), "advance"),
        (json!({"set": "yesterday"}), "set"),
    ] {
        let r = app.post("/__admin/clock").json(bad.clone()).send().await.expect(400);
        assert_eq!(r.error_field().as_deref(), Some(field), "{bad}");
    }
    assert_eq!(
        app.state.now().rfc3339(),
        "2027-05-01T12:01:00Z",
        "refused moves changed nothing"
    );
}

#[tokio::test]
async fn the_clock_moves_expiry_for_clients_too() {
    let app = TestApp::spawn().await;
    let r = app
        .post("/upload")
        .token(DEMO)
        .json(json!({"filename": "a.png"}))
        .send()
        .await
        .expect(200)
        .json();
    app.post("/__admin/clock")
        .json(json!({"advance": "16m"}))
        .send()
        .await
        .expect(200);
    let res = app
        .put(r["upload_url"].as_str().expect("url"))
        .bytes("image/png", crate::helpers::png(1))
        .send()
        .await
        .expect(403);
    assert_eq!(res.s3_code(), "AccessDenied");
}

#[tokio::test]
async fn reset_forgets_data_and_sessions_but_keeps_fixture_tokens() {
    let app = TestApp::spawn().await;
    let first = app.create_project(DEMO, "p").await;
    let login = app
        .post("/auth/login")
        .header(
            "authorization",
            "Basic ZGVtb0BmbGF0Mm1vZGVsLnRlc3Q6ZGVtby1wYXNzd29yZA==",
        )
        .send()
        .await
        .expect(200)
        .json();
    app.post("/__admin/reset").send().await.expect(200);
    app.get("/project")
        .token(login["token"].as_str().expect("t"))
        .send()
        .await
        .expect(401);
    let list = app.get("/project").token(DEMO).send().await.expect(200).json();
    assert_eq!(list["pagination"]["total"], 0);
    // IDs start over, so a reset run repeats the same IDs.
    assert_eq!(app.create_project(DEMO, "p").await, first);
    // Secrets never repeat: a token or signed URL from before a reset grants
    // nothing after it, not even to whoever gets the same IDs.
    let again = app
        .post("/auth/login")
        .header(
            "authorization",
            "Basic b3RoZXJAZmxhdDJtb2RlbC50ZXN0Om90aGVyLXBhc3N3b3Jk",
        )
        .send()
        .await
        .expect(200)
        .json();
    assert_ne!(again["token"], login["token"]);
    app.post("/__admin/reset").send().await.expect(200);
    let before = app
        .post("/upload")
        .token(DEMO)
        .json(serde_json::json!({"filename": "a.png"}))
        .send()
        .await
        .expect(200)
        .json();
    app.post("/__admin/reset").send().await.expect(200);
    let after = app
        .post("/upload")
        .token(OTHER)
        .json(serde_json::json!({"filename": "a.png"}))
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(before["file_id"], after["file_id"], "the same ID, another tenant");
    let r = app
        .put(before["upload_url"].as_str().expect("url"))
        .bytes("image/png", crate::helpers::png(1))
        .send()
        .await
        .expect(403);
    assert_eq!(r.s3_code(), "SignatureDoesNotMatch");
}

#[tokio::test]
async fn the_openapi_documents_are_served_bundled_as_json_and_yaml() {
    let app = TestApp::spawn().await;
    let c = mock_server::contract::Contract::global();
    for (path, which) in [
        ("/__admin/openapi", Document::Vendor),
        ("/__admin/control-openapi", Document::Control),
    ] {
        let json = app.get(&format!("{path}.json")).send().await.expect(200).json();
        let mut expected = c.bundled(which).clone();
        expected["servers"] = json!([{ "url": app.base }]);
        assert_eq!(json, expected, "{path}.json");
        let yaml = app.get(&format!("{path}.yaml")).send().await.expect(200);
        assert_eq!(yaml.content_type(), "application/yaml");
        let parsed: serde_json::Value = serde_yaml_ng::from_str(&yaml.text()).expect("YAML");
        assert_eq!(parsed, json, "{path}.yaml");
    }
    let vendor = app.get("/__admin/openapi.json").send().await.expect(200).json();
    assert!(vendor["components"]["schemas"]["job-create-request"].is_object());
    assert!(
        vendor["paths"]["/__admin/reset"].is_null(),
        "the control API is its own document"
    );
    let control = app.get("/__admin/control-openapi.json").send().await.expect(200).json();
    assert!(control["paths"]["/__admin/reset"].is_object());
}

/// Both documents name the fake's public URL as their server, so a tool
/// that loads one reaches the fake the way its clients do.
#[tokio::test]
async fn the_documents_servers_follow_the_public_url() {
    let app = TestApp::spawn_with(|c| c.public_url = Some("https://fake.example:9443/mock".into())).await;
    for path in ["/__admin/openapi.json", "/__admin/control-openapi.yaml"] {
        let text = app.get(path).send().await.expect(200).text();
        let doc: serde_json::Value = serde_yaml_ng::from_str(&text).expect("JSON is YAML too");
        assert_eq!(
            doc["servers"],
            json!([{ "url": "https://fake.example:9443/mock" }]),
            "{path}"
        );
    }
}

/// Found by Schemathesis: a far-future clock made every later answer a 500.
#[tokio::test]
async fn schemathesis_a_far_future_clock_move_is_refused() {
    let app = TestApp::spawn().await;
    let r = app
        .post("/__admin/clock")
        .json(json!({"advance": 254_854_093_400_894u64}))
        .send()
        .await
        .expect(400);
    assert_eq!(r.error_field().as_deref(), Some("advance"));
    app.post("/__admin/clock")
        .json(json!({"set": "9999-01-01T00:00:00Z"}))
        .send()
        .await
        .expect(400);
    app.get("/project").token(DEMO).send().await.expect(200);
}

/// Found by Schemathesis: a JSON array was read as a struct, field by field.
#[tokio::test]
async fn schemathesis_json_bodies_must_be_objects() {
    let app = TestApp::spawn().await;
    let r = app
        .put("/__admin/scenarios/active")
        .bytes("application/json", b"[null, null]".to_vec())
        .send()
        .await
        .expect(400);
    assert_eq!(r.json()["detail"][0]["message"], "the body must be a JSON object");
    app.post("/notifications")
        .token(DEMO)
        .bytes("application/json", b"[null]".to_vec())
        .send()
        .await
        .expect(400);
    // A missing name differs from a null one (which clears).
    app.put("/__admin/scenarios/active")
        .json(json!({"token": DEMO}))
        .send()
        .await
        .expect(400);
    app.put("/__admin/scenarios/active")
        .json(json!({"name": null, "token": null}))
        .send()
        .await
        .expect(200);
    app.get("/__admin/webhooks/deliveries?status=null")
        .send()
        .await
        .expect(400);
}
