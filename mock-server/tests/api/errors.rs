use serde_json::json;

use crate::helpers::{DEMO, TestApp};

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
