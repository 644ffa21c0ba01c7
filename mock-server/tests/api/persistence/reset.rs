//! Resets and eviction reach the data dir too.

use axum::http::{HeaderMap, StatusCode};
use serde_json::json;

use crate::helpers::{DEMO, TestApp};

use super::{TempDir, close, move_clock, spawn_on};

#[tokio::test]
async fn a_reset_empties_the_data_dir_too() {
    let dir = TempDir::new("reset");
    let first = spawn_on(&dir.path(), |_| {}).await;
    let inputs = first.job_inputs(DEMO, 1).await;
    first.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;
    first.create_project("anon-token", "anon").await;
    first.post("/__admin/reset").send().await.expect(200);
    let after_reset = first.create_project(DEMO, "after-reset").await;
    close(&first).await;
    // A server that can no longer store a change says so rather than
    // acknowledging it; reads still answer.
    let refused = first
        .post("/project")
        .token(DEMO)
        .json(json!({ "project_name": "not-stored" }))
        .send()
        .await
        .expect(503);
    assert!(refused.text().contains("could not be stored"), "{}", refused.text());
    first.get("/project").token(DEMO).send().await.expect(200);
    let sizes = mock_server::persist::table_sizes(&dir.path()).expect("readable");
    assert_eq!(sizes["jobs"], 0);
    assert_eq!(sizes["identities"], 0);
    assert_eq!(sizes["blobs"], 0, "no bytes are left behind");
    assert_eq!(sizes["projects"], 1, "only the one made after the reset");

    let second = spawn_on(&dir.path(), |_| {}).await;
    let projects = second.get("/project").token(DEMO).send().await.expect(200).json();
    let names: Vec<&str> = projects["projects"]
        .as_array()
        .expect("list")
        .iter()
        .map(|p| p["project_text"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["after-reset"]);
    assert_eq!(projects["projects"][0]["project_id"], after_reset.as_str());
    let anon = second
        .get("/project")
        .token("anon-token")
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(
        anon["projects"],
        json!([]),
        "the tenant made before the reset is a new one now"
    );
}

/// Found in review: `POST /flat-2-model` looked up the identity, project
/// and files, then submitted the job; a `POST /__admin/reset` in between
/// left the job queued for the data dir after the reset emptied it, naming
/// an identity the reset had removed, and the next start refused the data
/// dir ("its identity … is missing"). The handler's two halves, with the
/// reset between them: the job is refused as after a reset, and the data
/// dir starts.
#[tokio::test]
async fn a_job_created_across_a_reset_is_refused_and_the_data_dir_still_starts() {
    let dir = TempDir::new("reset-race");
    let first = spawn_on(&dir.path(), |_| {}).await;
    let inputs = first.job_inputs(DEMO, 1).await;
    let body = TestApp::job_body(&inputs, json!([{}]));
    let tenant = first.state.tenant_of_token(DEMO).expect("the demo token");
    let prepared = mock_server::api::jobs::prepare(&first.state, &tenant, None, &HeaderMap::new(), body)
        .expect("a valid request naming what the account holds");
    first.post("/__admin/reset").send().await.expect(200);
    let refused = mock_server::api::jobs::submit(&first.state, prepared).expect_err("what it names is gone");
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    assert!(first.state.job_count() == 0, "no job after the reset");
    close(&first).await;

    let second = spawn_on(&dir.path(), |_| {}).await;
    assert!(second.state.job_count() == 0);
    let notifications = second.get("/notifications").token(DEMO).send().await.expect(200).json();
    assert_eq!(notifications, json!([]), "nothing announced for the refused job");
}

#[tokio::test]
async fn eviction_removes_from_the_data_dir_too() {
    let dir = TempDir::new("evict");
    let first = spawn_on(&dir.path(), |_| {}).await;
    let inputs = first.job_inputs(DEMO, 1).await;
    let job = first.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;
    move_clock(&first, "25h").await;
    first
        .get(&format!("/jobs/{job}/status"))
        .token(DEMO)
        .send()
        .await
        .expect(404);
    close(&first).await;
    let sizes = mock_server::persist::table_sizes(&dir.path()).expect("readable");
    assert_eq!((sizes["jobs"], sizes["job_schedules"], sizes["job_applied"]), (0, 0, 0));
    assert_eq!(sizes["files"], 0);
    assert_eq!(sizes["notifications"], 0);
    assert_eq!(sizes["blobs"], 1, "only the identity's image, which stays");

    let second = spawn_on(&dir.path(), |_| {}).await;
    second
        .get(&format!("/jobs/{job}/status"))
        .token(DEMO)
        .send()
        .await
        .expect(404);
    let held = second.get("/__admin/health").send().await.expect(200).json()["held"].clone();
    assert_eq!(held["jobs"], 0);
    assert_eq!(held["files"], 0);
    second
        .get(&format!("/identity/{}", inputs.identity_code))
        .token(DEMO)
        .send()
        .await
        .expect(200);
}
