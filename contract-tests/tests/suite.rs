//! The suite against the fake, started from its binary on 127.0.0.1 port 0
//! (the harness does not link the fake: it must not trust its code).

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use contract_tests::report::{Format, render};
use contract_tests::suite::{Config, run};
use serde_json::json;

/// A running fake, killed on drop.
struct Fake {
    child: Child,
    base: String,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// `mock-server`, built beside this package's own binary (a workspace test
/// run builds it first; alone, this builds it), or `MOCK_SERVER_BIN`.
fn mock_server_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("MOCK_SERVER_BIN") {
        return p.into();
    }
    let dir = PathBuf::from(env!("CARGO_BIN_EXE_contract-tests"))
        .parent()
        .expect("the binary has a folder")
        .to_owned();
    let bin = dir.join("mock-server");
    if !bin.exists() {
        let built = Command::new(env!("CARGO"))
            .args(["build", "-p", "mock-server", "--bin", "mock-server"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(built.success(), "cargo build -p mock-server failed");
    }
    bin
}

/// The fake on the manual clock with instant jobs and no rate limit.
fn fake() -> Fake {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let mut child = Command::new(mock_server_binary())
        .args([
            "--port",
            "0",
            "--clock",
            "manual",
            "--time-scale",
            "0",
            "--job-rate-limit",
            "0",
            "--fixtures",
        ])
        .arg(fixtures)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the fake starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the fake says where it listens");
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    Fake { child, base }
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
    let fake = fake();
    let base = fake.base.clone();
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
    let fake = fake();
    let base = fake.base.clone();
    let headers = vec![("X-Mock-Scenario".to_owned(), "contract-violation".to_owned())];
    let results = run(&config(&base, headers), &|_| {}).await;
    let status = results.iter().find(|r| r.name == "job.status").expect("job.status ran");
    assert!(!status.passed);
    assert!(status.message.contains("progress"), "{}", status.message);
}

#[tokio::test]
async fn validate_names_the_fields_the_server_names_for_the_same_bad_payload() {
    let fake = fake();
    let base = fake.base.clone();
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
        .map(|d| d["field"].as_str().unwrap_or("").to_owned())
        .collect();
    // The schema's messages are the validator's words, not the server's; the
    // fields are the same (the schema may name an object where the server
    // names its missing member: `images[1]` for `images[1].file_id`).
    let offline = contract_tests::validate("job-create-request.json", &bad).expect_err("invalid");
    let offline: Vec<&str> = offline
        .iter()
        .map(|l| l.split_once(": ").map_or(l.as_str(), |(f, _)| f))
        .collect();
    for field in &server {
        assert!(
            offline
                .iter()
                .any(|o| field == o || field.starts_with(&format!("{o}."))),
            "the server names {field}, validate only {offline:?}"
        );
    }
    assert!(offline.contains(&"instructions[1].options.width"), "{offline:?}");
}

#[test]
fn the_binary_writes_junit_and_exits_non_zero_on_failure() {
    let fake = fake();
    let base = fake.base.clone();
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
    let fake = fake();
    let base = fake.base.clone();
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
