//! The suite against an in-process fake on 127.0.0.1 port 0.

use std::process::Command;
use std::time::Duration;

use contract_tests::report::{Format, render};
use contract_tests::suite::{Config, run};
use mock_server::{AppState, serve_on};
use serde_json::json;

async fn fake() -> String {
    let mut cfg = mock_server::Config::for_tests();
    cfg.time_scale = 0.0;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let state = AppState::new(&cfg, base.clone()).expect("state");
    tokio::spawn(serve_on(state, listener));
    base
}

fn config(base: &str, headers: Vec<(String, String)>) -> Config {
    Config {
        base_url: base.to_owned(),
        token: "f2m_demo_token".into(),
        headers,
        job_timeout: Duration::from_secs(20),
        poll_interval: Duration::from_millis(20),
        webhook: None,
    }
}

#[tokio::test]
async fn the_suite_passes_against_the_fake_and_reports_every_check() {
    let base = fake().await;
    let results = run(&config(&base, vec![]), &|_| {}).await;
    let failed: Vec<_> = results.iter().filter(|r| !r.passed).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert!(results.len() >= 35, "{} checks", results.len());
    let junit = render(&results, Format::Junit);
    for r in &results {
        assert!(
            junit.contains(&format!("name=\"{}\"", r.name)),
            "{} missing from JUnit",
            r.name
        );
    }
    assert!(junit.contains("failures=\"0\""));
}

#[tokio::test]
async fn the_suite_fails_against_the_contract_violation_scenario_naming_the_field() {
    let base = fake().await;
    let headers = vec![("X-Mock-Scenario".to_owned(), "contract-violation".to_owned())];
    let results = run(&config(&base, headers), &|_| {}).await;
    let status = results.iter().find(|r| r.name == "job.status").expect("job.status ran");
    assert!(!status.passed);
    assert!(status.message.contains("progress"), "{}", status.message);
}

#[tokio::test]
async fn validate_gives_the_servers_message_for_the_same_bad_payload() {
    let base = fake().await;
    let client = reqwest::Client::new();
    let bad = json!({
        "identity_code": "id_x", "project_id": "p", "images": ["sku_1", {"note": "n"}],
        "instructions": [{"num_variations": 9}, {"options": {"width": 300, "height": 1024}}],
        "options": {"anchor_index": 5}
    });
    let res = client
        .post(format!("{base}/flat-2-model"))
        .bearer_auth("f2m_demo_token")
        .json(&bad)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.expect("json");
    let server: Vec<String> = body["detail"]
        .as_array()
        .expect("detail")
        .iter()
        .map(|d| {
            format!(
                "{}: {}",
                d["field"].as_str().unwrap_or(""),
                d["message"].as_str().unwrap_or("")
            )
        })
        .collect();
    let offline = contract_tests::validate("job-create-request.json", &bad).expect_err("invalid");
    assert_eq!(offline, server);
    assert!(offline.contains(&"instructions[1].options.width: must be a multiple of 8".to_owned()));
}

#[test]
fn the_binary_writes_junit_and_exits_non_zero_on_failure() {
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let base = rt.block_on(fake());
    let out = std::env::temp_dir().join(format!("contract-{}.xml", std::process::id()));
    let status = Command::new(env!("CARGO_BIN_EXE_contract-tests"))
        .args([
            "run",
            "--base-url",
            &base,
            "--report",
            "junit",
            "--job-timeout-secs",
            "20",
            "--output",
        ])
        .arg(&out)
        .status()
        .expect("runs");
    assert!(status.success());
    let xml = std::fs::read_to_string(&out).expect("report");
    assert!(xml.contains("<testsuite name=\"contract-tests\"") && xml.contains("name=\"job.status\""));
    let status = Command::new(env!("CARGO_BIN_EXE_contract-tests"))
        .args([
            "run",
            "--base-url",
            &base,
            "--header",
            "X-Mock-Scenario: contract-violation",
            "--job-timeout-secs",
            "20",
        ])
        .output()
        .expect("runs");
    assert!(!status.status.success());
    assert!(String::from_utf8_lossy(&status.stdout).contains("FAIL job.status"));
    std::fs::remove_file(&out).ok();
    drop(rt);
}

#[test]
fn validate_reads_a_file_and_exits_by_validity() {
    let dir = std::env::temp_dir();
    let good = dir.join(format!("good-{}.json", std::process::id()));
    std::fs::write(&good, r#"{"filename": "a.png"}"#).expect("write");
    let ok = Command::new(env!("CARGO_BIN_EXE_contract-tests"))
        .args(["validate", "--schema", "upload-request.json"])
        .arg(&good)
        .output()
        .expect("runs");
    assert!(ok.status.success());
    std::fs::write(&good, r#"{"filename": 3}"#).expect("write");
    let bad = Command::new(env!("CARGO_BIN_EXE_contract-tests"))
        .args(["validate", "--schema", "upload-request.json"])
        .arg(&good)
        .output()
        .expect("runs");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stdout).starts_with("filename: "));
    std::fs::remove_file(&good).ok();
}

#[tokio::test]
async fn webhook_deliveries_are_checked_with_their_signatures() {
    let base = fake().await;
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr");
    let mut cfg = config(&base, vec![]);
    cfg.webhook = Some((addr, format!("http://{addr}/hook")));
    let results = run(&cfg, &|_| {}).await;
    for name in ["webhook.register", "webhook.deliveries"] {
        let r = results
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("{name} ran"));
        assert!(r.passed, "{name}: {}", r.message);
    }
}
