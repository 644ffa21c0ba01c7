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
    let list = app.projects(DEMO).await;
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

#[tokio::test]
async fn a_job_names_its_project_by_project_key_as_the_vendor_client_falls_back_to() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let id = app.create_project(DEMO, "sku-folder").await;
    // The vendor client's path: the name exists (409); without a project_id
    // in that answer it lists the projects, finds the name and takes the
    // project_key (`project.get("project_key", project.get("project_id"))`).
    app.post("/project")
        .token(DEMO)
        .json(json!({"project_name": "sku-folder"}))
        .send()
        .await
        .expect(409);
    let list = app.projects(DEMO).await;
    let listed = list["projects"]
        .as_array()
        .expect("projects")
        .iter()
        .find(|p| p["project_text"] == "sku-folder")
        .expect("listed by name")
        .clone();
    let key = listed
        .get("project_key")
        .or(listed.get("project_id"))
        .and_then(|k| k.as_str())
        .expect("a key")
        .to_owned();
    assert_ne!(
        key, id,
        "the key is not the id, so the id lookup cannot be what finds it"
    );

    let mut body = TestApp::job_body(&inputs, json!([{}]));
    body["project_id"] = json!(key);
    let job = app.create_job(DEMO, body.clone()).await;
    app.finish_jobs();
    let res = app.results(DEMO, &job).await;
    assert_eq!(res["status"], "completed");
    assert_eq!(
        (&res["project_id"], &res["project_key"], &res["project_text"]),
        (&json!(id), &json!(key), &json!("sku-folder")),
        "the job reports the project's real id"
    );
    assert_eq!(app.status(DEMO, &job).await["project_id"], id.as_str());
    assert_eq!(res["results"][0]["status"], "completed");

    // Another account's key is unknown there, like a missing one.
    let other = app.job_inputs(OTHER, 1).await;
    let mut body = TestApp::job_body(&other, json!([{}]));
    body["project_id"] = json!(key);
    let r = app
        .post("/flat-2-model")
        .token(OTHER)
        .json(body)
        .send()
        .await
        .expect(404);
    assert_eq!(r.error_field().as_deref(), Some("project_id"));
}
