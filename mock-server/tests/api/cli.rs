//! The binary itself: flags, the `listening on` line, port 0.

use std::process::Command;
use std::time::Duration;

use crate::binary::Binary;

#[test]
fn help_explains_every_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_mock-server"))
        .arg("--help")
        .output()
        .expect("runs");
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--host",
        "--port",
        "--fixtures",
        "--seed",
        "--time-scale",
        "--public-url",
        "--log-format",
        "--any-token",
        "--shutdown-grace",
        "--admin-token",
        "--admin-loopback-only",
        "--cors-origin",
        "--data-dir",
        "--job-rate-limit",
        "--rate-limit-retry-after",
        "--webhook-ca-file",
        "--webhook-insecure",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    assert!(help.contains("MOCK_PORT"), "--help names the environment variables");
}

#[tokio::test]
async fn port_zero_prints_the_bound_address_and_serves() {
    // `Binary::start` reads the documented `listening on URL` line.
    let server = Binary::start(&[], &[]).await;
    let url = &server.url;
    assert!(url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"), "{url}");
    let status = reqwest::get(format!("{url}/__admin/health"))
        .await
        .map(|r| r.status().as_u16());
    assert_eq!(status.expect("reachable"), 200);
}

/// Regression: `Binary` read its log only inside `log_until`, so a chatty
/// server filled the stderr pipe (64 KiB) and froze in the middle of a test.
#[tokio::test]
async fn a_chatty_binary_never_blocks_on_a_log_nobody_reads() {
    let server = Binary::start(&[], &[("MOCK_LOG", "trace")]).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    // Several hundred KiB of log lines, none of them read by the test.
    for i in 0..1000 {
        let r = http
            .get(format!("{}/__admin/health", server.url))
            .send()
            .await
            .unwrap_or_else(|e| panic!("request {i} unanswered: {e}"));
        assert_eq!(r.status(), 200);
    }
}

#[test]
fn a_missing_fixtures_folder_fails_with_a_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_mock-server"))
        .args(["--port", "0", "--fixtures", "/nonexistent"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("accounts.json"));
}

#[test]
fn an_unreadable_webhook_ca_file_stops_the_start_with_a_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_mock-server"))
        .args(["--port", "0", "--webhook-ca-file", "/nonexistent/ca.pem"])
        .env("MOCK_FIXTURES", concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures"))
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--webhook-ca-file /nonexistent/ca.pem: cannot be read"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "it never listened");
}

#[tokio::test]
async fn webhook_insecure_warns_at_start() {
    let mut server = Binary::start(&["--webhook-insecure"], &[]).await;
    server.log_until("--webhook-insecure: webhook deliveries").await;
}

#[test]
fn help_never_shows_the_admin_token_from_the_environment() {
    let out = Command::new(env!("CARGO_BIN_EXE_mock-server"))
        .arg("--help")
        .env("MOCK_ADMIN_TOKEN", "adm_from_the_env_42")
        .output()
        .expect("runs");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("--admin-token") && help.contains("MOCK_ADMIN_TOKEN"),
        "{help}"
    );
    assert!(!help.contains("adm_from_the_env_42"), "{help}");
}
