//! `contract-tests replay` against the fake's binary: a failing session
//! recorded on one fake (`GET /__admin/session`) replays on a fresh one
//! with no differences, and on one with a planted contract change reports
//! the difference.

mod common;

use std::process::{Command, Output};

use serde_json::{Value, json};

const DEMO: &str = "f2m_demo_token";

/// A request sent, its JSON answer.
trait JsonAnswer {
    async fn json_answer(self) -> Value;
}

impl JsonAnswer for reqwest::RequestBuilder {
    async fn json_answer(self) -> Value {
        self.send().await.expect("sent").json().await.expect("json")
    }
}

/// A job under `refuse-everything` (it fails), the clock drained, its
/// status and results read, and a refused request: the session of it.
async fn record(base: &str) -> Value {
    let http = reqwest::Client::new();
    let send = |m: reqwest::Method, path: &str| http.request(m, format!("{base}{path}")).bearer_auth(DEMO);
    let project: Value = send(reqwest::Method::POST, "/project")
        .json(&json!({"project_name": "replayed"}))
        .json_answer()
        .await;
    let upload: Value = send(reqwest::Method::POST, "/upload")
        .json(&json!({"project_name": "replayed", "filename": "sku-pants.png"}))
        .json_answer()
        .await;
    let png = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/images/sku-pants.png")).expect("png");
    let put = http
        .put(upload["upload_url"].as_str().expect("upload_url"))
        .header("content-type", "image/png")
        .body(png)
        .send()
        .await
        .expect("sent");
    assert!(put.status().is_success());
    let job: Value = send(reqwest::Method::POST, "/flat-2-model")
        .header("x-mock-scenario", "refuse-everything")
        .json(
            &json!({"identity_code": "PiktidPremium", "project_id": project["project_id"],
            "images": [upload["file_id"]], "instructions": [{}]}),
        )
        .json_answer()
        .await;
    let id = job["job_id"].as_str().expect("job_id").to_owned();
    http.post(format!("{base}/__admin/clock"))
        .json(&json!({"until_idle": true}))
        .send()
        .await
        .expect("sent");
    let status: Value = send(reqwest::Method::GET, &format!("/jobs/{id}/status"))
        .json_answer()
        .await;
    assert_eq!(status["status"], "failed", "{status}");
    send(reqwest::Method::GET, &format!("/jobs/{id}/results"))
        .send()
        .await
        .expect("sent");
    let refused = send(reqwest::Method::POST, "/project")
        .json(&json!({"project_name": 5}))
        .send()
        .await
        .expect("sent");
    assert_eq!(refused.status(), 400);
    http.get(format!("{base}/__admin/session")).json_answer().await
}

fn replay(file: &std::path::Path, base: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_contract-tests"))
        .arg("replay")
        .arg(file)
        .args(["--base-url", base, "--token", DEMO])
        .args(extra)
        .env_remove("CONTRACT_TOKENS")
        .output()
        .expect("replay runs")
}

#[tokio::test]
async fn a_recorded_failing_session_replays_clean_and_a_planted_change_is_reported() {
    let recorded = common::fake(&["--journal-bodies", "all"]);
    let session = record(&recorded.base).await;
    assert_eq!(session["format"], "flat2model-session/1");
    let steps = session["steps"].as_array().expect("steps");
    assert!(
        steps.iter().any(|s| s["control"]["path"] == "/__admin/clock"),
        "{session}"
    );
    assert!(!session.to_string().contains(DEMO), "no token in the file");
    let file = std::env::temp_dir().join(format!("f2m-session-{}.json", std::process::id()));
    std::fs::write(&file, session.to_string()).expect("written");

    let fresh = common::fake(&[]);
    let clean = replay(&file, &fresh.base, &[]);
    let out = String::from_utf8_lossy(&clean.stdout).into_owned();
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    assert!(out.ends_with("no differences\n"), "{out}");

    // The same fake answering job status without `progress`.
    let planted = common::fake(&[]);
    let r = reqwest::Client::new()
        .put(format!("{}/__admin/scenarios/active", planted.base))
        .json(&json!({"name": "contract-violation"}))
        .send()
        .await
        .expect("sent");
    assert!(r.status().is_success());
    let changed = replay(&file, &planted.base, &["--no-reset"]);
    let out = String::from_utf8_lossy(&changed.stdout).into_owned();
    let _ = std::fs::remove_file(&file);
    assert_eq!(changed.status.code(), Some(1), "{out}");
    assert!(
        out.contains("GET /jobs/") && out.contains("body.progress: missing"),
        "{out}"
    );
}
