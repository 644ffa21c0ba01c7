//! The published document's links, followed as a stateful tool follows
//! them (Schemathesis's stateful phase, `make schemathesis`): from the
//! answer of `POST /upload`, PUT the image the link carries and create the
//! job it describes; the job must exist. Without these links no generated
//! run ever reaches `/jobs/{id}/…` with a job it created.

use regex::Regex;
use serde_json::{Map, Value};

use crate::helpers::{DEMO, TestApp};

/// One runtime expression of a link against the source's answer body:
/// `$response.body#/pointer`, optionally with Schemathesis's
/// `#regex:(one group)` extractor; anything else is a constant.
fn evaluate(expr: &Value, answer: &Value) -> Value {
    match expr {
        Value::String(s) if s.starts_with("$response.body#") => {
            let rest = &s["$response.body#".len()..];
            let (pointer, regex) = rest.split_once("#regex:").map_or((rest, None), |(p, r)| (p, Some(r)));
            let value = answer
                .pointer(pointer)
                .unwrap_or_else(|| panic!("{s}: nothing at {pointer}"));
            match regex {
                None => value.clone(),
                Some(r) => {
                    let text = value.as_str().expect("a regex applies to a string");
                    let group = Regex::new(r).expect("regex").captures(text).expect("matches")[1].to_owned();
                    Value::String(group)
                }
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| evaluate(i, answer)).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), evaluate(v, answer)))
                .collect::<Map<_, _>>(),
        ),
        other => other.clone(),
    }
}

#[tokio::test]
async fn the_upload_links_make_a_valid_job_that_can_be_polled() {
    let app = TestApp::spawn().await;
    let doc = app.get("/__admin/openapi.json").send().await.expect(200).json();
    let links = &doc["paths"]["/upload"]["post"]["responses"]["200"]["links"];
    app.create_project(DEMO, "linked").await;
    // A .jpg upload: the link PUTs as the Content-Type the URL was signed
    // for, whatever the name says (the fake reads the type from the bytes).
    let upload = app
        .post("/upload")
        .token(DEMO)
        .json(serde_json::json!({ "project_name": "linked", "filename": "shirt.jpg" }))
        .send()
        .await
        .expect(200)
        .json();

    let put = &links["PutTheImage"];
    assert_eq!(put["operationId"], "putUpload");
    let p = |name: &str| {
        evaluate(&put["parameters"][name], &upload)
            .as_str()
            .expect(name)
            .to_owned()
    };
    let image = put["requestBody"].as_str().expect("the image, as a string");
    assert!(image.is_ascii(), "a JSON string carries these bytes unchanged");
    app.put(&format!(
        "/upload/{}?Expires={}&Signature={}",
        p("path.file_id"),
        p("query.Expires"),
        p("query.Signature")
    ))
    .bytes(&p("header.Content-Type"), image.as_bytes().to_vec())
    .send()
    .await
    .expect(200);

    let create = &links["CreateJobFromUpload"];
    assert_eq!(create["operationId"], "createJob");
    // Sent as given, not merged into a generated body.
    assert_eq!(create["x-schemathesis"]["merge_body"], false);
    let body = evaluate(&create["requestBody"], &upload);
    let job = app
        .post("/flat-2-model")
        .token(DEMO)
        .json(body)
        .send()
        .await
        .expect(202)
        .json();
    let id = job["job_id"].as_str().expect("job_id");
    let status = app.status(DEMO, id).await;
    assert_eq!(status["job_id"], id);
}
