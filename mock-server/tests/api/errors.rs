use serde_json::json;

use crate::helpers::{DEMO, OTHER, TestApp};

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_envelope() {
    let app = TestApp::spawn().await;
    let r = app.get("/no/such/route").send().await.expect(404);
    assert_eq!(r.json()["error"], "Not found");
    let r = app
        .call(reqwest::Method::DELETE, "/project")
        .token(DEMO)
        .send()
        .await
        .expect(405);
    assert_eq!(r.json()["error"], "Method not allowed");
}

#[tokio::test]
async fn bodies_are_bounded_and_typed() {
    let app = TestApp::spawn_with(|c| c.max_body_bytes = 1024).await;
    let big = json!({ "project_name": "x".repeat(2000) });
    let r = app.post("/project").token(DEMO).json(big).send().await.expect(413);
    assert_eq!(r.json()["error"], "Payload too large");
    let r = app
        .post("/project")
        .token(DEMO)
        .bytes("text/plain", b"{}".to_vec())
        .send()
        .await
        .expect(415);
    assert_eq!(r.error_field().as_deref(), Some("Content-Type"));
    app.post("/project")
        .token(DEMO)
        .bytes("application/json", b"{\"project_name\": ".to_vec())
        .send()
        .await
        .expect(400);
    app.post("/project")
        .token(DEMO)
        .bytes("application/json", b"\xff\xfe".to_vec())
        .send()
        .await
        .expect(400);
    app.post("/project")
        .token(DEMO)
        .bytes("application/json", Vec::new())
        .send()
        .await
        .expect(400);
    app.post("/project")
        .token(DEMO)
        .bytes("application/json", b"[1,2]".to_vec())
        .send()
        .await
        .expect(400);
    let list = app.get("/project").token(DEMO).send().await.expect(200).json();
    assert_eq!(list["pagination"]["total"], 0, "refused requests stored nothing");
}

#[tokio::test]
async fn unknown_fields_are_ignored() {
    let app = TestApp::spawn().await;
    let r = app
        .post("/project")
        .token(DEMO)
        .json(json!({"project_name": "p", "color": "red"}))
        .send()
        .await
        .expect(201);
    assert_eq!(r.json()["project_name"], "p");
}

/// What a client can rely on in an error body: its summary, its top-level
/// keys, and the keys of each detail entry (never empty).
fn shape(body: &serde_json::Value) -> (String, Vec<String>, Vec<Vec<String>>) {
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().expect("an object").keys().cloned().collect();
        k.sort();
        k
    };
    let detail = body["detail"].as_array().expect("a detail list");
    assert!(!detail.is_empty(), "{body}");
    (
        body["error"].as_str().expect("an error summary").to_owned(),
        keys(body),
        detail.iter().map(keys).collect(),
    )
}

/// A scenario that answers `status` on `method path`, for the header
/// `X-Mock-Scenario: inject-{status}`.
async fn inject(app: &TestApp, status: u16, method: &str, path: &str) {
    app.post("/__admin/scenarios")
        .json(json!({
            "name": format!("inject-{status}"),
            "endpoints": [{"method": method, "path": path, "status": status}],
        }))
        .send()
        .await
        .expect(200);
}

#[tokio::test]
async fn injected_errors_look_exactly_like_the_fakes_own() {
    let app = TestApp::spawn_with(|c| c.job_rate_limit = 1).await;
    let entry = vec!["field".to_owned(), "message".to_owned(), "position".to_owned()];
    let same = |status: u16, own: &crate::helpers::Resp, injected: &serde_json::Value| {
        let (own, injected) = (shape(&own.json()), shape(injected));
        assert_eq!(own.0, injected.0, "{status}: one summary");
        assert_eq!(own.1, ["detail", "error"], "{status}");
        assert_eq!(own.1, injected.1, "{status}: the same keys");
        for d in own.2.iter().chain(&injected.2) {
            assert_eq!(*d, entry, "{status}: detail entries");
        }
        own.0
    };

    // A status poll under the scenario `inject-{status}`.
    let poll_under = |status: u16| {
        app.get("/jobs/j_x/status")
            .token(DEMO)
            .header("x-mock-scenario", &format!("inject-{status}"))
    };

    // 401: no token, and a scenario's 401 on the same route.
    inject(&app, 401, "GET", "/jobs/{id}/status").await;
    let own = app.get("/jobs/j_x/status").send().await.expect(401);
    let injected = poll_under(401).send().await.expect(401);
    assert_eq!(same(401, &own, &injected.json()), "Unauthorized");
    assert_eq!(own.headers["www-authenticate"], injected.headers["www-authenticate"]);

    // 404: an unknown job, and a scenario's 404 on the same route.
    inject(&app, 404, "GET", "/jobs/{id}/status").await;
    let own = app.get("/jobs/j_x/status").token(DEMO).send().await.expect(404);
    let injected = poll_under(404).send().await.expect(404);
    assert_eq!(same(404, &own, &injected.json()), "Not found");

    // 429: the job rate limit (1 a minute here; a broken body counts too),
    // and the catalogue's `rate-limited` scenario.
    let post = || app.post("/flat-2-model").token(DEMO).json(json!({}));
    post().send().await.expect(400);
    let own = post().send().await.expect(429);
    let injected = app
        .post("/flat-2-model")
        .token(OTHER)
        .header("x-mock-scenario", "rate-limited")
        .json(json!({}))
        .send()
        .await
        .expect(429);
    assert_eq!(same(429, &own, &injected.json()), "Too many requests");

    // 403: the control API refusing a web page; the vendor routes declare
    // no 403, so a scenario's is read off the wire and checked against the
    // envelope's schema here.
    let own = app
        .get("/__admin/health")
        .header("origin", "http://evil.example")
        .send()
        .await
        .expect(403);
    inject(&app, 403, "POST", "/flat-2-model").await;
    let injected = reqwest::Client::new()
        .post(format!("{}/flat-2-model", app.base))
        .bearer_auth(DEMO)
        .header("x-mock-scenario", "inject-403")
        .json(&json!({}))
        .send()
        .await
        .expect("answered");
    assert_eq!(injected.status(), 403);
    let injected: serde_json::Value = injected.json().await.expect("a JSON body");
    mock_server::contract::Contract::global()
        .validate("error.json", &injected)
        .expect("the error envelope");
    assert_eq!(same(403, &own, &injected), "Forbidden");
}
