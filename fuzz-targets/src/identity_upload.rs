//! `POST /identity/upload`: the fuzz input is the multipart body, sent
//! through the whole app in-process (auth, journal, axum's multipart
//! parser, the form rules, the image probe) with a fixed boundary. Every
//! answer must be the documented 200, or 400, 413 or 415 in the API's error
//! envelope with a detail, match the schema `openapi.yaml` names for it, and
//! a refused upload must store nothing. A panic, a 5xx or any other status
//! is a crash.

use std::sync::LazyLock;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use mock_server::contract::Contract;
use mock_server::{AppState, Config};
use serde_json::Value;
use tower::ServiceExt;

/// The multipart boundary of every fuzzed body (the seeds use it).
const BOUNDARY: &str = "FUZZ-BOUNDARY";
/// A small upload limit, so that the fuzzer can reach the "too large" path.
const MAX_UPLOAD_BYTES: usize = 8192;

struct Harness {
    runtime: tokio::runtime::Runtime,
    state: AppState,
    app: Router,
}

static HARNESS: LazyLock<Harness> = LazyLock::new(|| {
    let mut cfg = Config::for_tests();
    cfg.max_upload_bytes = MAX_UPLOAD_BYTES;
    let state = AppState::new(&cfg, "http://fuzz.test".into()).expect("state");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let app = mock_server::app(state.clone());
    Harness { runtime, state, app }
});

/// The target: panics on a finding.
pub fn run(data: &[u8]) {
    let h = &*HARNESS;
    let req = Request::post("/identity/upload")
        .header(header::AUTHORIZATION, "Bearer f2m_demo_token")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(Body::from(data.to_vec()))
        .expect("request");
    let (status, body) = h.runtime.block_on(async {
        let res = h.app.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let body = res.into_body().collect().await.expect("body").to_bytes();
        (status, body)
    });
    let json: Value = serde_json::from_slice(&body).expect("a JSON answer");
    let contract = Contract::global();
    let schema = contract
        .response_schema("POST", "/identity/upload", status.as_u16())
        .unwrap_or_else(|| panic!("{status} is no documented answer"));
    if let Err(e) = contract.validate(&schema, &json) {
        panic!("{status} does not match {schema}: {e:?}\n{json}");
    }
    match status {
        StatusCode::OK => {
            assert_eq!(json["success"], true);
            assert!(json["identity_code"].as_str().is_some_and(|c| c.starts_with("id_")));
            // Forget it, so that the same input answers the same next time.
            h.state.reset();
        }
        StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            assert!(json["error"].is_string(), "{json}");
            let detail = json["detail"].as_array().expect("detail");
            assert!(!detail.is_empty(), "{json}");
            assert_eq!(h.state.identity_count(), 0, "a refused upload stored an identity");
        }
        other => panic!("unexpected {other}: {json}"),
    }
}
