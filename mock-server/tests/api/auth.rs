use std::time::Duration;

use serde_json::json;

use crate::helpers::{DEMO, OTHER, TestApp};

#[tokio::test]
async fn missing_malformed_and_unknown_tokens_get_401() {
    let app = TestApp::spawn().await;
    let r = app.get("/project").send().await.expect(401);
    assert_eq!(r.headers["www-authenticate"], "Bearer");
    assert_eq!(r.json()["detail"][0]["message"], "missing bearer token");
    let r = app
        .get("/project")
        .header("authorization", "Token abc")
        .send()
        .await
        .expect(401);
    assert_eq!(r.json()["detail"][0]["message"], "must be 'Bearer <token>'");
    let r = app.get("/project").token("not-a-real-token").send().await.expect(401);
    assert_eq!(r.json()["detail"][0]["message"], "unknown token");
    app.get("/project").token(DEMO).send().await.expect(200);
}

#[tokio::test]
async fn login_with_basic_credentials_gives_working_tokens() {
    let app = TestApp::spawn().await;
    let basic = |u: &str, p: &str| {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )
    };
    let r = app
        .post("/auth/login")
        .header("authorization", &basic("demo@flat2model.test", "demo-password"))
        .send()
        .await
        .expect(200);
    let body = r.json();
    assert_eq!(body["user"]["email"], "demo@flat2model.test");
    assert_eq!(
        body["expiration_date"], "2026-01-01T01:00:00Z",
        "access tokens live one hour by default"
    );
    let token = body["token"].as_str().expect("token");
    app.get("/project").token(token).send().await.expect(200);

    app.post("/auth/login")
        .header("authorization", &basic("demo@flat2model.test", "wrong"))
        .send()
        .await
        .expect(401);
    app.post("/auth/login")
        .header("authorization", &basic("nobody@x", "demo-password"))
        .send()
        .await
        .expect(401);
    app.post("/auth/login").send().await.expect(401);
}

#[tokio::test]
async fn access_tokens_expire_on_the_clock_and_refresh_rotates() {
    let app = TestApp::spawn().await;
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
    let token = login["token"].as_str().expect("token").to_owned();
    let refresh = login["refresh_token"].as_str().expect("refresh").to_owned();
    // Projects made with the login token belong to the fixture account.
    app.create_project(&token, "via-login").await;
    let listed = app.get("/project").token(DEMO).send().await.expect(200).json();
    assert_eq!(listed["projects"][0]["project_text"], "via-login");

    app.advance(Duration::from_secs(3599));
    app.get("/project").token(&token).send().await.expect(200);
    app.advance(Duration::from_secs(1));
    let r = app.get("/project").token(&token).send().await.expect(401);
    assert_eq!(r.json()["detail"][0]["message"], "token expired");

    let fresh = app
        .post("/auth/refresh")
        .json(json!({ "refresh_token": refresh }))
        .send()
        .await
        .expect(200)
        .json();
    let new_token = fresh["token"].as_str().expect("token");
    assert_ne!(new_token, token);
    app.get("/project").token(new_token).send().await.expect(200);
    // A refresh token is spent once used.
    let r = app
        .post("/auth/refresh")
        .json(json!({ "refresh_token": refresh }))
        .send()
        .await
        .expect(401);
    assert_eq!(r.error_field().as_deref(), Some("refresh_token"));

    // The new refresh token expires after 30 days.
    app.advance(Duration::from_secs(30 * 86_400));
    let r = app
        .post("/auth/refresh")
        .json(json!({ "refresh_token": fresh["refresh_token"] }))
        .send()
        .await
        .expect(401);
    assert_eq!(r.json()["detail"][0]["message"], "refresh token expired");
    app.post("/auth/refresh").json(json!({})).send().await.expect(400);
}

#[tokio::test]
async fn long_lived_api_tokens_work_expire_and_are_limited() {
    let app = TestApp::spawn().await;
    let r = app
        .post("/auth/token")
        .token(DEMO)
        .json(json!({ "expiration": "PT2H" }))
        .send()
        .await
        .expect(200)
        .json();
    let t = r["token"].as_str().expect("token").to_owned();
    assert_eq!(r["expiration_date"], "2026-01-01T02:00:00Z");
    app.get("/project").token(&t).send().await.expect(200);

    for bad in [json!(60), json!("P5Y"), json!("tomorrow"), json!(null)] {
        let r = app
            .post("/auth/token")
            .token(DEMO)
            .json(json!({ "expiration": bad }))
            .send()
            .await
            .expect(400);
        assert_eq!(r.error_field().as_deref(), Some("expiration"), "{bad}");
    }
    for _ in 0..19 {
        app.post("/auth/token")
            .token(DEMO)
            .json(json!({ "expiration": 86_400 }))
            .send()
            .await
            .expect(200);
    }
    let r = app
        .post("/auth/token")
        .token(DEMO)
        .json(json!({ "expiration": 86_400 }))
        .send()
        .await
        .expect(400);
    assert!(
        r.json()["detail"][0]["message"]
            .as_str()
            .expect("msg")
            .contains("at most 20")
    );
    let listed = app
        .get("/auth/token?per_page=100")
        .token(DEMO)
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(listed["pagination"]["total"], 20);

    app.advance(Duration::from_secs(2 * 3600));
    app.get("/project").token(&t).send().await.expect(401);
    let active = app
        .get("/auth/token?per_page=100")
        .token(DEMO)
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(active["pagination"]["total"], 19);
    let all = app
        .get("/auth/token?per_page=100&include_expired=true")
        .token(DEMO)
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(all["pagination"]["total"], 20);
    // The other tenant sees none of them.
    let other = app
        .get("/auth/token?include_expired=true")
        .token(OTHER)
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(other["pagination"]["total"], 0);
}

#[tokio::test]
async fn any_token_makes_each_unknown_token_its_own_tenant() {
    let app = TestApp::spawn_with(|c| c.any_token = true).await;
    app.create_project("ci-job-1", "shared-name").await;
    app.create_project("ci-job-2", "shared-name").await;
    let one = app.get("/project").token("ci-job-1").send().await.expect(200).json();
    assert_eq!(one["pagination"]["total"], 1);
    // Fixture tokens still map to their accounts, which see neither.
    let demo = app.get("/project").token(DEMO).send().await.expect(200).json();
    assert_eq!(demo["pagination"]["total"], 0);
    // Malformed tokens are still refused.
    app.get("/project")
        .header("authorization", "Bearer a b")
        .send()
        .await
        .expect(401);
    app.get("/project").send().await.expect(401);
    // Default policies: none, so no custom dimensions (checked by jobs later).
    let t = app.state.tenant_of_token("ci-job-1").expect("known now");
    assert!(t.account.policies.is_empty());
}

#[tokio::test]
async fn without_any_token_unknown_tokens_make_no_tenant() {
    let app = TestApp::spawn().await;
    let before = app.state.tenant_count();
    app.get("/project").token("ci-job-1").send().await.expect(401);
    assert_eq!(app.state.tenant_count(), before);
}
