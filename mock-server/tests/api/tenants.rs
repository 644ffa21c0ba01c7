//! A fake shared by parallel CI jobs: a tenant per job from the control
//! API, its own settings, a reset of one tenant, and a journal read by
//! caller or account, so that no job sees another's data or verdicts.

use serde_json::{Value, json};

use crate::helpers::{DEMO, OTHER, TestApp};
use crate::persistence::{TempDir, close, spawn_on};

/// `POST /__admin/tenants` with `body`; the new tenant.
async fn new_tenant(app: &TestApp, body: Value) -> Value {
    app.post("/__admin/tenants").json(body).send().await.expect(201).json()
}

fn token(t: &Value) -> &str {
    t["token"].as_str().expect("a token")
}

/// The journal's requests selected by `query`.
async fn journal(app: &TestApp, query: &str) -> Vec<Value> {
    let j = app
        .get(&format!("/__admin/journal?{query}"))
        .send()
        .await
        .expect(200)
        .json();
    j["requests"].as_array().expect("requests").clone()
}

/// One CI job on the shared fake: a flow of its own, then a reset of its
/// tenant, then a check that only its data went.
async fn ci_job(app: &TestApp, t: &Value) {
    let tok = token(t);
    let caller = t["caller"].as_str().expect("caller");
    let inputs = app.job_inputs(tok, 1).await;
    let job = app
        .create_job(tok, TestApp::job_body(&inputs, json!([{ "pose": "standing" }])))
        .await;
    app.post("/project")
        .token(tok)
        .json(json!({ "project_name": 7 }))
        .send()
        .await
        .expect(400);
    // Its verdict: its own requests alone, the broken one among them.
    let mine = journal(app, &format!("caller={caller}")).await;
    assert!(mine.iter().all(|e| e["caller"] == caller), "{mine:?}");
    let v = app
        .journal_verify(json!({ "caller": caller, "violations": true }))
        .await;
    assert_eq!(v["count"], 1, "its own broken request, no one else's");

    app.post("/__admin/reset")
        .json(json!({ "token": tok }))
        .send()
        .await
        .expect(200);
    assert!(journal(app, &format!("caller={caller}")).await.is_empty());
    assert_eq!(app.projects(tok).await["projects"], json!([]));
    app.get(&format!("/jobs/{job}/status"))
        .token(tok)
        .send()
        .await
        .expect(404);
    // The token works on, on an empty account.
    app.create_project(tok, "after-reset").await;
}

#[tokio::test]
async fn two_ci_jobs_on_one_fake_reset_and_verify_only_their_own_tenant() {
    let app = TestApp::spawn().await;
    let (a, b) = (new_tenant(&app, json!({})).await, new_tenant(&app, json!({})).await);
    assert_ne!(a["token"], b["token"]);
    assert_ne!(a["account"], b["account"]);
    // A third tenant that only watches, with data and settings of its own.
    let c = new_tenant(&app, json!({ "job_rate_limit": 0, "scenario": "refuse-fallback" })).await;
    let c_project = app.create_project(token(&c), "kept").await;
    app.post("/project")
        .token(token(&c))
        .json(json!({ "project_name": 5 }))
        .send()
        .await
        .expect(400);

    tokio::join!(ci_job(&app, &a), ci_job(&app, &b));

    // Neither reset touched the watcher: its data, journal and settings.
    let projects = app.projects(token(&c)).await;
    assert_eq!(projects["projects"][0]["project_id"], c_project.as_str());
    let v = app
        .journal_verify(json!({ "account": c["account"], "violations": true }))
        .await;
    assert_eq!(v["count"], 1);
    let seen = app
        .get(&format!("/__admin/tenants/{}", c["account"].as_str().expect("id")))
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(
        (seen["job_rate_limit"].as_u64(), seen["scenario"].as_str()),
        (Some(0), Some("refuse-fallback"))
    );
    // Nor the fixture accounts'.
    assert!(
        !journal(&app, "account=demo@flat2model.test")
            .await
            .iter()
            .any(|e| e["caller"] == a["caller"])
    );
}

#[tokio::test]
async fn a_reset_of_one_tenant_forgets_its_settings_and_scenario_and_nothing_of_another() {
    let app = TestApp::spawn_with(|c| c.job_rate_limit = 5).await;
    let t = new_tenant(&app, json!({ "scenario": "rate-limited", "job_rate_limit": 1 })).await;
    app.put("/__admin/scenarios/active")
        .json(json!({ "name": "flaky-status", "token": OTHER }))
        .send()
        .await
        .expect(200);
    let demo_project = app.create_project(DEMO, "demo-kept").await;
    let reset = app
        .post("/__admin/reset")
        .json(json!({ "account": t["account"] }))
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(reset["account"], t["account"]);
    let after = app
        .get(&format!("/__admin/tenants/{}", t["account"].as_str().expect("id")))
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(
        (after["job_rate_limit"].as_u64(), &after["scenario"]),
        (Some(5), &Value::Null)
    );
    let scenarios = app.get("/__admin/scenarios").send().await.expect(200).json();
    let chosen: Vec<&str> = scenarios["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .filter_map(|c| c["scenario"].as_str())
        .collect();
    assert_eq!(chosen, ["flaky-status"], "only OTHER's choice is left");
    assert_eq!(
        app.projects(DEMO).await["projects"][0]["project_id"],
        demo_project.as_str()
    );
}

#[tokio::test]
async fn a_tenant_without_a_rate_limit_creates_a_sixth_job_while_the_others_keep_theirs() {
    // The vendor's limit, as the binary has it by default.
    let app = TestApp::spawn_with(|c| c.job_rate_limit = 5).await;
    let free = new_tenant(&app, json!({ "job_rate_limit": 0 })).await;
    let limited = new_tenant(&app, json!({})).await;
    for t in [&free, &limited] {
        let inputs = app.job_inputs(token(t), 1).await;
        let body = TestApp::job_body(&inputs, json!([{}]));
        for _ in 0..5 {
            app.create_job(token(t), body.clone()).await;
        }
        let sixth = app.send_job(token(t), body, None).await;
        assert_eq!(sixth.status, if t == &free { 202 } else { 429 });
    }
    // Back to the default, through PATCH.
    let account = free["account"].as_str().expect("id");
    let v = app
        .call(reqwest::Method::PATCH, &format!("/__admin/tenants/{account}"))
        .json(json!({ "job_rate_limit": null }))
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(v["job_rate_limit"], 5);
}

#[tokio::test]
async fn a_tenants_scenario_applies_to_its_token_alone() {
    let app = TestApp::spawn().await;
    let t = new_tenant(&app, json!({})).await;
    let account = t["account"].as_str().expect("id");
    app.call(reqwest::Method::PATCH, &format!("/__admin/tenants/{account}"))
        .json(json!({ "scenario": "server-error-on-create" }))
        .send()
        .await
        .expect(200);
    for (tok, want) in [(token(&t), 500), (DEMO, 202)] {
        let inputs = app.job_inputs(tok, 1).await;
        let r = app.send_job(tok, TestApp::job_body(&inputs, json!([{}])), None).await;
        assert_eq!(r.status, want, "{tok}");
    }
}

#[tokio::test]
async fn tenant_control_requests_with_bad_input_are_refused_with_the_field() {
    let app = TestApp::spawn().await;
    let r = app
        .post("/__admin/reset")
        .json(json!({ "token": DEMO, "account": "demo@flat2model.test" }))
        .send()
        .await
        .expect(400);
    assert_eq!(r.error_field().as_deref(), Some("account"));
    let r = app
        .post("/__admin/reset")
        .json(json!({ "token": "f2m_nobody" }))
        .send()
        .await
        .expect(404);
    assert_eq!(r.error_field().as_deref(), Some("token"));
    let r = app
        .post("/__admin/tenants")
        .json(json!({ "job_rate_limit": "none" }))
        .send()
        .await
        .expect(400);
    assert_eq!(r.error_field().as_deref(), Some("job_rate_limit"));
    let r = app
        .post("/__admin/tenants")
        .json(json!({ "scenario": "no-such-scenario" }))
        .send()
        .await
        .expect(404);
    assert_eq!(r.error_field().as_deref(), Some("scenario"));
    app.get("/__admin/tenants/acct_nobody").send().await.expect(404);
    // Nothing was reset or made by the refused requests.
    let health = app.get("/__admin/health").send().await.expect(200).json();
    assert_eq!(health["tenants"], 2, "the two fixture accounts alone");
}

#[tokio::test]
async fn a_tenants_settings_and_its_reset_survive_a_restart_on_the_data_dir() {
    let dir = TempDir::new("tenants");
    let app = spawn_on(&dir.path(), |_| {}).await;
    let t = new_tenant(&app, json!({ "job_rate_limit": 0, "scenario": "refuse-fallback" })).await;
    app.create_project(token(&t), "one").await;
    app.create_project(token(&t), "two").await;
    app.post("/__admin/reset")
        .json(json!({ "token": token(&t) }))
        .send()
        .await
        .expect(200);
    app.create_project(token(&t), "three").await;
    let account = t["account"].as_str().expect("id");
    app.call(reqwest::Method::PATCH, &format!("/__admin/tenants/{account}"))
        .json(json!({ "job_rate_limit": 9, "scenario": "slow-outputs" }))
        .send()
        .await
        .expect(200);
    close(&app).await;
    drop(app);

    let app = spawn_on(&dir.path(), |_| {}).await;
    let names: Vec<Value> = app.projects(token(&t)).await["projects"]
        .as_array()
        .expect("projects")
        .iter()
        .map(|p| p["project_text"].clone())
        .collect();
    assert_eq!(names, [json!("three")], "the reset's removals were kept too");
    let v = app
        .get(&format!("/__admin/tenants/{account}"))
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(
        (v["job_rate_limit"].as_u64(), v["scenario"].as_str()),
        (Some(9), Some("slow-outputs"))
    );
    let scenarios = app.get("/__admin/scenarios").send().await.expect(200).json();
    assert!(
        scenarios["tokens"]
            .as_array()
            .expect("tokens")
            .iter()
            .any(|c| c["caller"] == t["caller"] && c["scenario"] == "slow-outputs"),
        "{scenarios}"
    );
    close(&app).await;
}
