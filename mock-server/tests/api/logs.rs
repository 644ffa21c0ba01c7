//! The log people read (issue 19): one info line per request, injected
//! faults at info, broken requests and failed webhooks at warn, no colour
//! into a pipe, and start-up lines that say what was loaded and where the
//! URLs come from.

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::binary::Binary;

/// The value of JSON field `name` in a log line (a string or a number).
fn field<'a>(line: &'a str, name: &str) -> &'a str {
    let rest = line
        .split(&format!("\"{name}\":"))
        .nth(1)
        .unwrap_or_else(|| panic!("{name} in {line}"));
    rest.trim_start_matches('"')
        .split(['"', ',', '}'])
        .next()
        .unwrap_or_default()
}

/// Issue 19: nothing was logged per request at the default level, and an
/// injected fault logged as ERROR twice.
#[tokio::test]
async fn every_request_has_an_info_line_and_an_injected_fault_is_no_error() {
    let mut server = Binary::start(&[], &[]).await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/flat-2-model", server.url))
        .bearer_auth("f2m_demo_token")
        .header("X-Mock-Scenario", "server-error-on-create")
        .json(&json!({}))
        .send()
        .await
        .expect("answered");
    assert!(r.status().is_server_error(), "{}", r.status());
    server.log_until("\"message\":\"request\"").await;
    let line = server.log.last().expect("a line").clone();
    assert_eq!(field(&line, "level"), "INFO", "{line}");
    assert_eq!(field(&line, "method"), "POST", "{line}");
    assert_eq!(field(&line, "path"), "/flat-2-model", "{line}");
    assert_eq!(field(&line, "status"), r.status().as_str(), "{line}");
    assert_eq!(field(&line, "scenario"), "server-error-on-create", "{line}");
    assert!(field(&line, "ms").parse::<f64>().is_ok(), "{line}");
    // The caller by a digest of its token, never the token.
    assert!(!line.contains("f2m_demo_token"), "{line}");
    assert!(field(&line, "tenant").len() >= 8, "{line}");
    assert!(
        server
            .log
            .iter()
            .any(|l| l.contains("fault injected") && l.contains("\"level\":\"INFO\"")),
        "{:?}",
        server.log
    );
    assert!(
        !server.log.iter().any(|l| l.contains("\"level\":\"ERROR\"")),
        "{:?}",
        server.log
    );

    // The control API has its line too, without a tenant or a scenario.
    http.get(format!("{}/__admin/health", server.url))
        .send()
        .await
        .expect("answered");
    server.log_until("\"path\":\"/__admin/health\"").await;
    let line = server.log.last().expect("a line").clone();
    assert_eq!((field(&line, "tenant"), field(&line, "scenario")), ("-", "-"), "{line}");
}

#[tokio::test]
async fn a_request_that_breaks_the_contract_and_a_failed_webhook_are_warnings() {
    let mut server = Binary::start(&[], &[]).await;
    let http = reqwest::Client::new();
    http.post(format!("{}/project", server.url))
        .bearer_auth("f2m_other_token")
        .json(&json!({"project_name": 7}))
        .send()
        .await
        .expect("answered");
    server.log_until("the request breaks the contract").await;
    let line = server.log.last().expect("a line").clone();
    assert_eq!(field(&line, "level"), "WARN", "{line}");

    // Nothing listens there: the ping's attempt fails.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = free.local_addr().expect("addr").port();
    drop(free);
    let r = http
        .put(format!("{}/webhooks", server.url))
        .bearer_auth("f2m_other_token")
        .json(&json!({"url": format!("http://127.0.0.1:{port}/hook")}))
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    server.log_until("webhook delivery attempt failed").await;
    let line = server.log.last().expect("a line").clone();
    assert_eq!(field(&line, "level"), "WARN", "{line}");
}

#[test]
fn help_names_the_environment_variables_that_are_no_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_mock-server"))
        .arg("--help")
        .output()
        .expect("runs");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("MOCK_LOG") && help.contains("NO_COLOR"), "{help}");
}

/// Issue 19: colour codes went into files and pipes.
#[tokio::test]
async fn no_colour_codes_go_into_a_pipe() {
    use tokio::io::AsyncBufReadExt as _;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mock-server"))
        .args(["--port", "0", "--log-format", "text"])
        .env_remove("NO_COLOR")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starts");
    let mut lines = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    while let Ok(Ok(Some(line))) = tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await {
        let done = line.contains("fixtures loaded");
        seen.push(line);
        if done {
            break;
        }
    }
    assert!(seen.iter().any(|l| l.contains("fixtures loaded")), "{seen:?}");
    assert!(!seen.iter().any(|l| l.contains('\u{1b}')), "{seen:?}");
}

#[tokio::test]
async fn the_start_up_lines_say_where_urls_come_from_and_what_was_loaded() {
    let dir = crate::cli::empty_dir("start-up");
    let mut server = Binary::start_in(&dir, &["--host", "0.0.0.0"]).await;
    server
        .log_until("URLs handed out follow each request's Host header")
        .await;
    server.log_until("fixtures loaded").await;
    let line = server.log.last().expect("a line").clone();
    let port = server.url.rsplit(':').next().expect("a port").to_owned();
    assert_eq!(field(&line, "demo_token"), "f2m_demo_token", "{line}");
    assert_eq!(field(&line, "accounts_from"), "compiled in", "{line}");
    assert_eq!(
        field(&line, "openapi"),
        format!("http://127.0.0.1:{port}/__admin/openapi.json"),
        "{line}"
    );
    assert_eq!(
        field(&line, "control_api"),
        format!("http://127.0.0.1:{port}/__admin/"),
        "{line}"
    );
    let scenarios = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/scenarios"))
        .expect("the repository's scenarios")
        .count();
    assert_eq!(field(&line, "scenarios"), scenarios.to_string(), "{line}");
    assert_eq!(field(&line, "accounts"), "2", "{line}");
    let _ = std::fs::remove_dir_all(&dir);

    // Accounts from a --fixtures folder are someone's: their tokens are
    // not logged. A fixed public URL is named as such.
    let mut server = Binary::start(&["--public-url", "http://mock.test:9"], &[]).await;
    server.log_until("URLs handed out start with the public URL").await;
    server.log_until("fixtures loaded").await;
    let line = server.log.last().expect("a line").clone();
    assert_eq!(field(&line, "accounts_from"), "the --fixtures folder", "{line}");
    assert!(!line.contains("f2m_demo_token"), "{line}");
    assert_eq!(field(&line, "control_api"), "http://mock.test:9/__admin/", "{line}");
}

/// Issue 19: `--public-url foo` was accepted and produced `foo/upload/…`.
#[tokio::test]
async fn a_public_url_that_is_no_absolute_http_url_stops_the_start() {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_mock-server"))
        .args(["--port", "0", "--public-url", "foo"])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("it stops at once rather than serving")
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--public-url"), "{stderr}");
    assert!(out.stdout.is_empty(), "it never listened");
}
