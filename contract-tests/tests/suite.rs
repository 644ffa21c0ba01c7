//! The suite against the fake, started from its binary on 127.0.0.1 port 0
//! (the harness does not link the fake: it must not trust its code).

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::Fake;

use contract::profile::Profile;
use contract_tests::report::{CheckResult, Format, RunReport, Status, render};
use contract_tests::suite::{CHECKS, Config, Credentials, run};
use serde_json::json;

/// The fake on the manual clock with instant jobs and the vendor's rate
/// limit (the suite moves the clock rather than waiting).
fn fake() -> Fake {
    common::fake(&[])
}

/// One check of a report, by name.
fn check<'a>(report: &'a RunReport, name: &str) -> &'a CheckResult {
    report
        .checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("{name} is reported"))
}

fn config(base: &str, headers: Vec<(String, String)>, profile: Profile) -> Config {
    let mut cfg = Config::new(base, Credentials::Token("f2m_demo_token".into()));
    cfg.headers = headers;
    cfg.profile = profile;
    cfg.job_timeout = Duration::from_secs(20);
    cfg
}

async fn run_ok(cfg: &Config) -> RunReport {
    run(cfg, &|_| {})
        .await
        .expect("the fake is reachable and the token valid")
}

#[tokio::test]
async fn the_suite_passes_against_the_fake_under_both_profiles_and_reports_every_check() {
    for profile in [Profile::Vendor, Profile::Strict] {
        let fake = fake();
        let report = run_ok(&config(&fake.base, vec![], profile)).await;
        let not_passed: Vec<_> = report.checks.iter().filter(|r| !r.passed()).collect();
        assert!(not_passed.is_empty(), "{profile:?}: {not_passed:#?}");
        let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, CHECKS, "every check, once, in order");
        let junit = render(&report, Format::Junit);
        for r in &report.checks {
            assert!(
                junit.contains(&format!("name=\"{}\"", r.name)),
                "{} missing from JUnit",
                r.name
            );
        }
        assert!(junit.contains("failures=\"0\""));
    }
}

#[tokio::test]
async fn an_account_without_custom_dimensions_skips_their_checks_with_the_reason() {
    let fake = fake();
    let mut cfg = config(&fake.base, vec![], Profile::Vendor);
    cfg.account = Credentials::Token("f2m_other_token".into());
    cfg.other = Some(Credentials::Login(
        "demo@flat2model.test".into(),
        "demo-password".into(),
    ));
    let report = run_ok(&cfg).await;
    assert_eq!(report.checks.len(), CHECKS.len());
    let skipped: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Skipped)
        .map(|c| c.name.as_str())
        .collect();
    assert!(
        skipped.contains(&"rules.ratio_5_to_1") && skipped.contains(&"images.custom_size"),
        "{skipped:?}"
    );
    assert_eq!(report.failed(), 0, "{:#?}", report.checks);
    assert!(check(&report, "isolation.job_status").passed());
}

#[tokio::test]
async fn a_failed_upload_skips_only_what_needs_the_file() {
    let fake = fake();
    let headers = vec![("X-Mock-Scenario".to_owned(), "upload-url-expired".to_owned())];
    let report = run_ok(&config(&fake.base, headers, Profile::Vendor)).await;
    assert_eq!(report.checks.len(), CHECKS.len());
    assert_eq!(check(&report, "upload.put").status, Status::Failed);
    for name in [
        "job.create",
        "images.size_table",
        "rules.size_8k",
        "isolation.job_status",
    ] {
        let c = check(&report, name);
        assert!(c.status == Status::Skipped && c.message.contains("upload.put"), "{c:?}");
    }
    for name in [
        "auth.unknown_token",
        "project.conflict",
        "webhook.ping",
        "webhook.retry",
        "webhook.restored",
    ] {
        assert!(check(&report, name).passed(), "{:?}", check(&report, name));
    }
}

#[tokio::test]
async fn the_suite_fails_against_the_contract_violation_scenario_naming_the_field() {
    let fake = fake();
    let headers = vec![("X-Mock-Scenario".to_owned(), "contract-violation".to_owned())];
    let report = run_ok(&config(&fake.base, headers, Profile::Vendor)).await;
    let status = check(&report, "job.status");
    assert_eq!(status.status, Status::Failed);
    assert!(status.message.contains("progress"), "{}", status.message);
    // What needs the finished job is skipped, with the reason; the rest runs.
    assert_eq!(check(&report, "job.results").status, Status::Skipped);
    assert!(check(&report, "rules.size_8k").passed());
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
fn the_binary_writes_junit_and_exits_by_the_documented_codes() {
    let fake = fake();
    let base = fake.base.clone();
    let out = std::env::temp_dir().join(format!("contract-{}.xml", std::process::id()));
    let bin = env!("CARGO_BIN_EXE_contract-tests");
    let run = |args: &[&str]| Command::new(bin).arg("run").args(args).output().expect("runs");
    let ok = run(&[
        "--base-url",
        &base,
        "--token",
        "f2m_demo_token",
        "--report",
        "junit",
        "--output",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stdout));
    let xml = std::fs::read_to_string(&out).expect("report");
    assert!(xml.contains("<testsuite name=\"contract-tests\"") && xml.contains("name=\"job.status\""));
    std::fs::remove_file(&out).ok();
    let failed = run(&[
        "--base-url",
        &base,
        "--token",
        "f2m_demo_token",
        "--header",
        "X-Mock-Scenario: contract-violation",
    ]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&failed.stdout).contains("FAIL job.status"));
    // Usage errors: no credentials, refused credentials, a bad header.
    assert_eq!(run(&["--base-url", &base]).status.code(), Some(2));
    assert_eq!(run(&["--base-url", &base, "--token", "nope"]).status.code(), Some(2));
    assert_eq!(
        run(&["--base-url", &base, "--token", "t", "--header", "x"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        Command::new(bin).arg("run").output().expect("runs").status.code(),
        Some(2)
    );
    // Nothing listens on port 1.
    assert_eq!(
        run(&["--base-url", "http://127.0.0.1:1", "--token", "t"]).status.code(),
        Some(3)
    );
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

#[test]
fn the_docs_list_every_tolerance_of_the_vendor_profile_with_its_source() {
    let doc = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/contract-tests.md"))
        .expect("docs/contract-tests.md");
    for t in contract::profile::TOLERANCES {
        let row = format!(
            "| `{}` | {} | {} |",
            t.id,
            t.allows.replace('|', "\\|"),
            t.source.replace('|', "\\|")
        );
        assert!(doc.contains(&row), "docs/contract-tests.md lacks the row\n{row}");
    }
    assert!(doc.contains(&format!("so the count ({}) is the same", CHECKS.len())));
}
