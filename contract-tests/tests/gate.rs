//! `contract-tests verify-client` against the fake's binary: two clients on
//! one fake, each judged by its own requests alone; the exit code, the
//! JUnit file naming the request and the rule, and the HAR beside it.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{Value, json};

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("f2m-gate-{}-{name}", std::process::id()))
}

fn verify(base: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_contract-tests"))
        .args(["verify-client", "--base-url", base])
        .args(args)
        .env_remove("CONTRACT_TOKEN")
        .output()
        .expect("the harness runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test]
async fn a_client_is_judged_by_its_own_requests_with_the_rule_the_field_and_the_bodies() {
    let fake = common::fake(&[]);
    let http = reqwest::Client::new();
    let tenant = || async {
        http.post(format!("{}/__admin/tenants", fake.base))
            .send()
            .await
            .expect("reaches the fake")
            .json::<Value>()
            .await
            .expect("json")["token"]
            .as_str()
            .expect("token")
            .to_owned()
    };
    let (good, bad) = (tenant().await, tenant().await);
    let project = |token: &str, body: Value| {
        http.post(format!("{}/project", fake.base))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    assert_eq!(
        project(&good, json!({"project_name": "fine"}))
            .await
            .expect("sent")
            .status(),
        201
    );
    assert_eq!(
        project(&bad, json!({"project_name": 5})).await.expect("sent").status(),
        400
    );

    let clean = verify(&fake.base, &["--token", &good]);
    assert_eq!(clean.status.code(), Some(0), "{}", stdout(&clean));
    assert!(
        stdout(&clean).ends_with("1 passed, 0 failed, 0 skipped\n"),
        "{}",
        stdout(&clean)
    );

    let (junit, har_file) = (temp("junit.xml"), temp("flagged.har"));
    let broken = verify(
        &fake.base,
        &[
            "--token",
            &bad,
            "--report",
            "junit",
            "--output",
            junit.to_str().expect("utf-8"),
            "--har",
            har_file.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(broken.status.code(), Some(1), "{}", stdout(&broken));
    let xml = std::fs::read_to_string(&junit).expect("the JUnit file");
    assert!(
        xml.contains("name=\"#2 POST /project → 400 · contract · project_name\""),
        "{xml}"
    );
    assert!(xml.contains("is not of type &quot;string&quot;"), "{xml}");
    assert!(xml.contains("request body: {&quot;project_name&quot;:5}"), "{xml}");
    let har: Value = serde_json::from_str(&std::fs::read_to_string(&har_file).expect("the HAR")).expect("json");
    let entries = har["log"]["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "the flagged request alone");
    assert_eq!(entries[0]["request"]["postData"]["text"], r#"{"project_name":5}"#);

    // An expectation the good client did not meet.
    let expect = temp("expect.json");
    std::fs::write(&expect, r#"{"expect": [{"method": "POST", "path": "/flat-2-model"}]}"#).expect("write");
    let unmet = verify(
        &fake.base,
        &["--token", &good, "--expect", expect.to_str().expect("utf-8")],
    );
    assert_eq!(unmet.status.code(), Some(1));
    assert!(
        stdout(&unmet)
            .contains("FAIL expect · POST /flat-2-model: expected at least 1 of the matching requests, found 0"),
        "{}",
        stdout(&unmet)
    );
    std::fs::write(&expect, r#"{"expect": [{"methd": "POST"}]}"#).expect("write");
    let usage = verify(
        &fake.base,
        &["--token", &good, "--expect", expect.to_str().expect("utf-8")],
    );
    assert_eq!(usage.status.code(), Some(2));
    for f in [junit, har_file, expect] {
        let _ = std::fs::remove_file(f);
    }
    drop(fake);
}

#[test]
fn an_unreachable_fake_is_exit_code_3() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    assert_eq!(verify(&base, &["--caller", "0123456789ab"]).status.code(), Some(3));
}

/// Runs `contract-tests ARGS` with a stdout whose reading end is closed, as
/// under `| head -1` once head has gone: closed as soon as the child is
/// started, milliseconds before it has parsed its arguments and writes.
fn with_stdout_closed(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_contract-tests"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the harness runs");
    drop(child.stdout.take());
    child.wait_with_output().expect("it ends")
}

#[test]
fn a_closed_stdout_ends_the_output_not_the_verdict() {
    let listing = with_stdout_closed(&["schemas"]);
    let stderr = String::from_utf8_lossy(&listing.stderr);
    assert!(listing.status.success(), "{:?} {stderr}", listing.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let payload = temp("closed-stdout.json");
    std::fs::write(&payload, r#"{"project_name": 7}"#).expect("write");
    let refused = with_stdout_closed(&[
        "validate",
        "--schema",
        "project-create-request.json",
        payload.to_str().expect("utf-8"),
    ]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "the verdict stands: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let _ = std::fs::remove_file(payload);
}
