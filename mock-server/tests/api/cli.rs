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
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--fixtures /nonexistent: no such folder"), "{stderr}");
}

/// A fresh, empty folder under the system's temporary folder.
pub fn empty_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("f2m-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temp dir");
    dir
}

/// Issue 19: a copied or installed binary started away from the repository
/// has the fixture accounts, the gallery and the whole scenario catalogue.
#[tokio::test]
async fn the_binary_runs_from_an_empty_folder_with_its_compiled_in_fixtures() {
    let dir = empty_dir("anywhere");
    let server = Binary::start_in(&dir, &["--job-rate-limit", "0", "--time-scale", "0"]).await;
    let http = reqwest::Client::new();
    let url = &server.url;
    let auth = ("Authorization", "Bearer f2m_demo_token");
    let r = http
        .post(format!("{url}/project"))
        .header(auth.0, auth.1)
        .json(&serde_json::json!({"project_name": "anywhere"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status(), 201, "the embedded demo account");
    let r = http
        .post(format!("{url}/upload"))
        .header(auth.0, auth.1)
        .json(&serde_json::json!({"filename": "sku-shirt.jpg", "project_name": "anywhere"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status(), 200, "the embedded demo account");
    let upload: serde_json::Value = r.json().await.expect("json");
    let put = http
        .put(upload["upload_url"].as_str().expect("url"))
        .header("Content-Type", "image/jpeg")
        .body(crate::helpers::jpeg(1))
        .send()
        .await
        .expect("answered");
    assert_eq!(put.status(), 200);
    let job = serde_json::json!({
        "identity_code": "PiktidPremium",
        "project_id": upload["project_id"],
        "images": [upload["file_id"]],
        "instructions": [{}],
    });
    // The embedded catalogue: the scenario answers 429 on the first call.
    let limited = http
        .post(format!("{url}/flat-2-model"))
        .header(auth.0, auth.1)
        .header("X-Mock-Scenario", "rate-limited")
        .json(&job)
        .send()
        .await
        .expect("answered");
    assert_eq!(limited.status(), 429, "{:?}", limited.text().await);
    // A job with an embedded gallery identity.
    let r = http
        .post(format!("{url}/flat-2-model"))
        .header(auth.0, auth.1)
        .json(&job)
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status(), 202, "{:?}", r.text().await);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn export_fixtures_writes_the_compiled_in_files() {
    let dir = empty_dir("export");
    let out = Command::new(env!("CARGO_BIN_EXE_mock-server"))
        .args(["export-fixtures"])
        .arg(dir.join("mine"))
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    for rel in ["accounts.json", "images/sku-shirt.jpg", "scenarios/rate-limited.json"] {
        assert_eq!(
            std::fs::read(dir.join("mine").join(rel)).expect("written"),
            std::fs::read(repo.join(rel)).expect("read"),
            "{rel}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
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

#[tokio::test]
async fn health_exits_0_on_a_serving_fake_and_1_otherwise() {
    let server = Binary::start(&[], &[]).await;
    let run = |url: String| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_mock-server"))
            .args(["health", "--url", &url, "--timeout", "2s"])
            .output()
    };
    let out = run(server.url.clone()).await.expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The port from MOCK_PORT, as in a container.
    let port = server.addr().rsplit(':').next().expect("a port").to_owned();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mock-server"))
        .arg("health")
        .env("MOCK_PORT", &port)
        .output()
        .await
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Nothing listening there: a free port, taken and let go.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", free.local_addr().expect("addr"));
    drop(free);
    let out = run(url).await.expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("mock-server health:"));
}
