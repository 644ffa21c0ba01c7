//! The binary itself: flags, the `listening on` line, port 0.

use std::process::Command;

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
        "--data-dir",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    assert!(help.contains("MOCK_PORT"), "--help names the environment variables");
}

#[test]
fn port_zero_prints_the_bound_address_and_serves() {
    let (mut child, url) = crate::helpers::start_binary(
        Command::new(env!("CARGO_BIN_EXE_mock-server"))
            .args(["--port", "0", "--log-format", "json"])
            .env("MOCK_FIXTURES", concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures")),
    );
    assert!(url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"), "{url}");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let status = rt.block_on(async {
        reqwest::get(format!("{url}/__admin/health"))
            .await
            .map(|r| r.status().as_u16())
    });
    child.kill().expect("kill");
    let _ = child.wait();
    assert_eq!(status.expect("reachable"), 200);
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
