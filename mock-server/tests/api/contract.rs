//! The contract is complete: every route has an OpenAPI operation, every
//! operation a route, and every JSON response a schema file.

use std::collections::BTreeSet;

use mock_server::contract::Contract;

use serde_json::json;

use crate::helpers::{DEMO, TestApp};

#[tokio::test]
async fn every_route_has_an_operation_and_every_operation_a_route() {
    let app = TestApp::spawn().await;
    let routes: BTreeSet<_> = mock_server::app::routes(&app.state).table().into_iter().collect();
    let ops: BTreeSet<_> = Contract::global().operations().into_iter().collect();
    let missing_ops: Vec<_> = routes.difference(&ops).collect();
    let missing_routes: Vec<_> = ops.difference(&routes).collect();
    assert!(
        missing_ops.is_empty(),
        "routes without an operation in openapi.yaml: {missing_ops:?}"
    );
    assert!(
        missing_routes.is_empty(),
        "operations without a route: {missing_routes:?}"
    );
}

#[test]
fn every_json_response_and_request_names_an_existing_schema() {
    let c = Contract::global();
    let text = serde_json::to_string(c.openapi()).expect("json");
    let mut referenced = BTreeSet::new();
    for part in text.split("\"$ref\":\"./").skip(1) {
        let name = part.split(['"', '#']).next().expect("name");
        assert!(
            c.has_schema(name),
            "openapi.yaml references {name}, which is not in schemas/"
        );
        referenced.insert(name.to_owned());
    }
    for (method, path) in c.operations() {
        let op = &c.openapi()["paths"][path.as_str()][method.to_lowercase()];
        for (status, resp) in op["responses"].as_object().expect("responses") {
            let resp = c.resolve(resp);
            if let Some(json) = resp.pointer("/content/application~1json") {
                assert!(
                    json.pointer("/schema/$ref").is_some(),
                    "{method} {path} {status}: JSON without a schema file"
                );
            }
        }
    }
    // Every schema file is used: by openapi.yaml or by another schema.
    for (name, text) in mock_server::contract::SCHEMA_FILES {
        for part in text.split("\"$ref\": \"").skip(1) {
            let target = part.split(['"', '#']).next().expect("name");
            if !target.is_empty() {
                assert!(
                    c.has_schema(target),
                    "{name} references {target}, which is not in schemas/"
                );
                referenced.insert(target.to_owned());
            }
        }
    }
    for name in c.schema_names() {
        assert!(referenced.contains(name), "{name} is referenced by nothing");
    }
}

/// JSON Schema counts `25.0` as the integer 25 (draft 2020-12), and so does
/// the vendor's Python stack: every integer field takes an integral float,
/// in a JSON body and in the fault plan header alike.
#[tokio::test]
async fn integral_floats_are_integers_wherever_an_integer_is_asked_for() {
    let app = TestApp::spawn().await;
    let c = Contract::global();
    let cases = [
        (
            "/auth/token",
            json!({ "expiration": 3600.0 }),
            "auth-token-request.json",
        ),
        (
            "/__admin/journal/verify",
            json!({ "status": 202.0 }),
            "journal-filter.json",
        ),
        ("/__admin/clock", json!({ "advance": 60.0 }), "admin-clock-request.json"),
    ];
    for (path, body, schema) in cases {
        assert!(c.validate(schema, &body).is_ok(), "{path}: the schema takes {body}");
        app.post(path).token(DEMO).json(body).send().await.expect(200);
    }
    let inputs = app.job_inputs(DEMO, 1).await;
    let plan = json!({ "fail_outputs": [0.0], "delay_outputs": [{ "output": 0.0, "seconds": 1.0 }] });
    assert!(c.validate("fault-plan.json", &plan).is_ok());
    let body = TestApp::job_body(&inputs, json!([{ "num_variations": 2.0 }]));
    let job = app.create_job_with_plan(DEMO, body, &plan.to_string()).await;
    app.finish_jobs();
    let results = app.results(DEMO, &job).await;
    assert_eq!(
        results["results"][0]["status"], "failed",
        "the plan's output 0.0 is output 0"
    );
}

/// Found by Schemathesis: serde reads a struct from an array, so
/// `POST /__admin/tenants` with `[null, null]` made a tenant.
#[tokio::test]
async fn a_json_body_that_is_not_an_object_is_refused() {
    let app = TestApp::spawn().await;
    let r = app
        .post("/__admin/tenants")
        .json(json!([null, null]))
        .send()
        .await
        .expect(400);
    assert_eq!(r.json()["detail"][0]["message"], "the body must be a JSON object");
    assert_eq!(app.get("/__admin/health").send().await.expect(200).json()["tenants"], 2);
}
