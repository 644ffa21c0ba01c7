//! The contract is complete: every route has an OpenAPI operation, every
//! operation a route, and every JSON response a schema file.

use std::collections::BTreeSet;

use mock_server::contract::Contract;

use crate::helpers::TestApp;

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
