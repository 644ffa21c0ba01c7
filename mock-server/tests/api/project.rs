use serde_json::json;

use crate::helpers::{DEMO, OTHER, TestApp};

#[tokio::test]
async fn projects_are_created_listed_and_duplicates_answer_409() {
    let app = TestApp::spawn().await;
    let r = app
        .post("/project")
        .token(DEMO)
        .json(json!({"project_name": "my-flat-lay-project"}))
        .send()
        .await
        .expect(201)
        .json();
    let id = r["project_id"].as_str().expect("id").to_owned();
    assert_eq!(r["project_name"], "my-flat-lay-project");
    let dup = app
        .post("/project")
        .token(DEMO)
        .json(json!({"project_name": " my-flat-lay-project "}))
        .send()
        .await
        .expect(409)
        .json();
    assert_eq!(dup["project_id"], id.as_str());
    let list = app
        .get("/project?per_page=100")
        .token(DEMO)
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(list["projects"][0]["project_id"], id.as_str());
    assert_eq!(list["projects"][0]["project_text"], "my-flat-lay-project");
    assert_eq!(list["pagination"]["total"], 1, "the 409 stored nothing");
}

#[tokio::test]
async fn project_names_are_checked() {
    let app = TestApp::spawn().await;
    for bad in [
        json!({"project_name": ""}),
        json!({"project_name": "a\nb"}),
        json!({"project_name": "x".repeat(201)}),
        json!({"project_name": 3}),
        json!({}),
    ] {
        let r = app
            .post("/project")
            .token(DEMO)
            .json(bad.clone())
            .send()
            .await
            .expect(400);
        assert_eq!(r.error_field().as_deref(), Some("project_name"), "{bad}");
    }
}

#[tokio::test]
async fn tenants_never_see_each_others_projects() {
    let app = TestApp::spawn().await;
    app.create_project(DEMO, "same-name").await;
    app.create_project(OTHER, "same-name").await;
    let other = app.get("/project").token(OTHER).send().await.expect(200).json();
    assert_eq!(other["pagination"]["total"], 1);
    let mine = app.get("/project").token(DEMO).send().await.expect(200).json();
    assert_ne!(mine["projects"][0]["project_id"], other["projects"][0]["project_id"]);
    // Uploading into another tenant's project name finds nothing of theirs.
    app.create_project(OTHER, "only-other").await;
    let r = app
        .post("/upload")
        .token(DEMO)
        .json(json!({"filename": "a.png", "project_name": "only-other"}))
        .send()
        .await
        .expect(404);
    assert_eq!(r.error_field().as_deref(), Some("project_name"));
}
