//! `--any-token` on a fake shared for weeks: a refused request makes no
//! tenant, kept tenants go once idle, and tokens are kept only as digests.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::{StreamExt, stream};
use mock_server::domain::ids::JobId;
use serde_json::json;

use crate::helpers::{DEMO, TestApp};
use crate::persistence::{TempDir, close, spawn_on};

/// Whether `token` maps to a tenant now.
fn known(app: &TestApp, token: &str) -> bool {
    app.state.tenant_of_token(token).is_some()
}

#[tokio::test]
async fn a_request_refused_with_400_or_404_makes_no_any_token_tenant() {
    let app = TestApp::spawn_with(|c| c.any_token = true).await;
    let before = app.state.tenant_count();
    app.post("/project")
        .token("ci-refused")
        .json(json!({ "project_name": 7 }))
        .send()
        .await
        .expect(400);
    app.get("/jobs/job_nope/status")
        .token("ci-refused")
        .send()
        .await
        .expect(404);
    assert_eq!(app.state.tenant_count(), before, "no tenant left behind");
    assert!(!known(&app, "ci-refused"));
    // The first success keeps it, and a later failure does not take it back.
    app.create_project("ci-refused", "kept").await;
    app.get("/jobs/job_nope/status")
        .token("ci-refused")
        .send()
        .await
        .expect(404);
    assert_eq!(app.state.tenant_count(), before + 1);
    assert_eq!(
        app.projects("ci-refused").await["projects"].as_array().map(Vec::len),
        Some(1)
    );
}

#[tokio::test]
async fn an_idle_any_token_tenant_goes_with_what_it_owns_and_others_stay() {
    let app = TestApp::spawn_with(|c| {
        c.any_token = true;
        c.any_token_idle_ttl = Duration::from_secs(3600);
    })
    .await;
    let admin_made = app
        .post("/__admin/tenants")
        .json(json!({}))
        .send()
        .await
        .expect(201)
        .json();
    let admin_token = admin_made["token"].as_str().expect("token").to_owned();
    app.create_project("ci-idle", "old").await;
    app.create_project("ci-busy", "busy").await;
    let tenants = app.state.tenant_count();
    app.advance(Duration::from_secs(1800));
    app.projects("ci-busy").await;
    // An hour after its last use, less a millisecond: still there.
    app.post("/__admin/clock")
        .json(json!({ "advance": "1799999ms" }))
        .send()
        .await
        .expect(200);
    assert!(known(&app, "ci-idle"));
    app.post("/__admin/clock")
        .json(json!({ "advance": "1ms" }))
        .send()
        .await
        .expect(200);
    assert!(!known(&app, "ci-idle"), "idle for the TTL: gone");
    assert!(known(&app, "ci-busy"), "used half an hour later: stays");
    assert!(
        known(&app, DEMO) && known(&app, &admin_token),
        "fixture and control API tenants stay"
    );
    assert_eq!(app.state.tenant_count(), tenants - 1);
    // The token makes a fresh, empty tenant.
    assert_eq!(app.projects("ci-idle").await["projects"], json!([]));
}

/// Idle tenants one clock move evicts: with a scan of every map per tenant
/// (the square of their number, 34 s for 10,000 in a release build) this
/// hangs; a batch costs one pass per map.
const CROWD: usize = 20_000;

#[tokio::test]
async fn twenty_thousand_idle_tenants_go_in_one_move_while_the_fixture_account_is_answered() {
    let app = TestApp::spawn_with(|c| {
        c.any_token = true;
        c.any_token_idle_ttl = Duration::from_secs(3600);
    })
    .await;
    let before = app.state.tenant_count();
    let inputs = app.job_inputs(DEMO, 1).await;
    let kept_job = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;
    // A few of the crowd own a project, an identity, a file and a job.
    let mut owned = Vec::new();
    for i in 0..5 {
        let token = format!("crowd-{i}");
        let inputs = app.job_inputs(&token, 1).await;
        owned.push((
            token.clone(),
            app.create_job(&token, TestApp::job_body(&inputs, json!([{}]))).await,
        ));
    }
    stream::iter(5..CROWD)
        .map(|i| {
            let app = &app;
            async move {
                app.get("/identity")
                    .token(&format!("crowd-{i}"))
                    .send()
                    .await
                    .expect(200);
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
    assert_eq!(app.state.tenant_count(), before + CROWD);
    let jobs = app.state.job_count();

    // The move past the idle time evicts all of them; meanwhile the fixture
    // account's status GET is answered, again and again.
    let done = AtomicBool::new(false);
    let evicting = async {
        let r = app
            .post("/__admin/clock")
            .json(json!({ "advance": "61m" }))
            .send()
            .await;
        done.store(true, Ordering::SeqCst);
        r.expect(200)
    };
    let polling = async {
        let mut answered = 0;
        while !done.load(Ordering::SeqCst) {
            let s = app.status(DEMO, &kept_job).await;
            assert!(s["status"].is_string(), "{s}");
            answered += 1;
        }
        answered
    };
    let (_, answered) = tokio::time::timeout(Duration::from_secs(120), async { tokio::join!(evicting, polling) })
        .await
        .expect("the eviction of 20,000 idle tenants did not end within 2 minutes");
    assert!(answered >= 1);

    assert_eq!(app.state.tenant_count(), before, "every idle tenant went");
    assert_eq!(
        app.state.job_count(),
        jobs - owned.len(),
        "their jobs went, the fixture account's stayed"
    );
    assert!(app.state.job(&JobId::from_client(&kept_job)).is_some());
    assert!((0..CROWD).step_by(997).all(|i| !known(&app, &format!("crowd-{i}"))));
    for (token, job) in &owned {
        app.get(&format!("/jobs/{job}/status"))
            .token(token)
            .send()
            .await
            .expect(404);
    }
    assert_eq!(app.projects(DEMO).await["projects"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn with_a_data_dir_a_refused_request_persists_nothing_and_tokens_are_kept_as_digests() {
    let dir = TempDir::new("any-token-digests");
    let app = spawn_on(&dir.path(), |_| {}).await;
    app.get("/jobs/job_nope/status")
        .token("ci-refused-token")
        .send()
        .await
        .expect(404);
    app.create_project("ci-kept-secret-token", "kept").await;
    close(&app).await;
    drop(app);
    let file = std::fs::read(dir.path().join("flat2model.redb")).expect("the database");
    let holds = |needle: &[u8]| file.windows(needle.len()).any(|w| w == needle);
    assert!(!holds(b"ci-kept-secret-token"), "a raw token is stored");
    assert!(!holds(DEMO.as_bytes()), "the fixture token is stored raw");
    let digest = mock_server::domain::secret::SecretDigest::of("ci-kept-secret-token").to_hex();
    assert!(holds(digest.as_bytes()), "kept by its digest");
    let again = spawn_on(&dir.path(), |_| {}).await;
    assert_eq!(
        again.projects("ci-kept-secret-token").await["projects"][0]["project_text"],
        "kept"
    );
    assert!(!known(&again, "ci-refused-token"), "the refused one was never kept");
    let tenant = again.state.tenant_of_token(DEMO).expect("the demo token still works");
    assert!(tenant.account.email.is_some());
}
