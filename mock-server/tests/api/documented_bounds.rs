//! The answers of a shared fake's bounds are in the contract: a stalled
//! body's 408 and the byte budget's 503 are declared on every operation
//! that takes a body, so Schemathesis and the harness do not count them as
//! undocumented.

use std::time::Duration;

use mock_server::contract::Contract;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::{DEMO, TestApp};

#[test]
fn every_operation_with_a_body_declares_the_408_and_the_503_with_retry_after() {
    let c = Contract::global();
    let mut with_body = 0;
    for (method, template) in c.operations() {
        let op = &c.openapi()["paths"][template.as_str()][method.to_lowercase()];
        if op.get("requestBody").is_none() {
            continue;
        }
        with_body += 1;
        for status in ["408", "503"] {
            assert!(
                op["responses"].get(status).is_some(),
                "{method} {template} does not declare {status}"
            );
        }
        let overloaded = c.openapi()["components"]["responses"]["Overloaded"].clone();
        assert_eq!(
            op["responses"]["503"]["$ref"], "#/components/responses/Overloaded",
            "{method} {template}"
        );
        assert_eq!(overloaded["headers"]["Retry-After"]["required"], true);
    }
    assert!(with_body >= 10, "the operations with a body: {with_body}");
}

#[tokio::test]
async fn a_stalled_bodys_408_is_the_declared_answer() {
    let app = TestApp::spawn_with(|c| c.body_timeout = Duration::from_millis(200)).await;
    let mut s = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .expect("connect");
    let head = format!(
        "POST /project HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {DEMO}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"project_na"
    );
    s.write_all(head.as_bytes()).await.expect("head");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .expect("cut within 10 s")
        .expect("read");
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.starts_with("HTTP/1.1 408"), "{raw}");
    let body: Value = serde_json::from_str(raw.split("\r\n\r\n").nth(1).expect("a body")).expect("JSON");
    let c = Contract::global();
    let schema = c
        .response_schema("POST", "/project", 408)
        .expect("408 declared on POST /project");
    c.validate(&schema, &body).expect("the declared body");
}
