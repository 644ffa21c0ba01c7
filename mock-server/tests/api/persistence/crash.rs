//! The real binary, killed with SIGKILL in the middle of a load: nothing
//! acknowledged is lost.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::binary::Binary;
use crate::helpers::{DEMO, jpeg, png};

use super::{Receiver, TempDir, basic};

const SEED: &str = "7";

/// The binary with the repository's fixtures, on data dir `dir`.
fn binary(dir: &Path, seed: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mock-server"));
    cmd.args(["--port", "0", "--seed", seed, "--data-dir"])
        .arg(dir)
        .env("MOCK_FIXTURES", concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures"));
    cmd
}

/// Starts the binary on `dir`.
async fn start(dir: &Path) -> Binary {
    let dir = dir.to_str().expect("a UTF-8 temp dir");
    Binary::start(
        &[
            "--seed",
            SEED,
            "--data-dir",
            dir,
            "--clock",
            "manual",
            "--any-token",
            "--job-rate-limit",
            "0",
        ],
        &[("MOCK_LOG", "warn")],
    )
    .await
}

/// Runs the binary on `dir` with `seed`, expecting it to refuse to start;
/// what it said.
fn refused(dir: &Path, seed: &str) -> String {
    let out = binary(dir, seed).output().expect("runs");
    assert!(!out.status.success(), "it started");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// One acknowledged request of the load: what it made.
#[derive(Debug, Clone)]
enum Acked {
    Project { id: String, name: String, token: String },
    File { id: String, url: String, bytes: Vec<u8> },
    Identity { code: String, name: String },
    Job { id: String },
    Login { token: String },
    Clock { now_ms: i64 },
}

/// The server went away (killed): the request was never answered.
#[derive(Debug)]
struct Gone;

/// Sends `req`: on a 2xx its JSON body (`Null` when empty), `None` when
/// refused, `Gone` when the server did not answer.
async fn ack(req: reqwest::RequestBuilder) -> Result<Option<Value>, Gone> {
    let r = req.send().await.map_err(|_| Gone)?;
    let ok = r.status().is_success();
    let body = r.bytes().await.map_err(|_| Gone)?;
    if !ok {
        return Ok(None);
    }
    Ok(Some(if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    }))
}

/// [`ack`] that must succeed.
async fn must(req: reqwest::RequestBuilder, what: &str) -> Value {
    ack(req).await.ok().flatten().unwrap_or_else(|| panic!("{what} failed"))
}

/// `POST {base}{path}` of `body` as the demo account, which must succeed.
async fn post_demo(http: &reqwest::Client, base: &str, path: &str, body: Value) -> Value {
    must(http.post(format!("{base}{path}")).bearer_auth(DEMO).json(&body), path).await
}

/// The `i`-th request (or pair, for an upload) of the load, and what it
/// made once acknowledged.
async fn load_one(http: &reqwest::Client, base: &str, i: usize, setup: &Value) -> Result<Option<Acked>, Gone> {
    let demo = |r: reqwest::RequestBuilder| r.bearer_auth(DEMO);
    let text = |v: &Value, k: &str| v[k].as_str().map(str::to_owned);
    Ok(match i % 7 {
        0..=2 => {
            let body = json!({
                "identity_code": setup["identity"],
                "project_id": setup["project"],
                "images": setup["files"],
                "instructions": [{ "pose": format!("pose {i}") }, { "pose": "walking" }],
            });
            let r = ack(demo(http.post(format!("{base}/flat-2-model"))).json(&body)).await?;
            r.and_then(|r| text(&r, "job_id")).map(|id| Acked::Job { id })
        }
        3 => {
            let name = format!("load-{i}");
            let token = if i % 2 == 0 {
                DEMO.to_owned()
            } else {
                format!("anon-{i}")
            };
            let r = ack(http
                .post(format!("{base}/project"))
                .bearer_auth(&token)
                .json(&json!({ "project_name": name })))
            .await?;
            r.and_then(|r| text(&r, "project_id"))
                .map(|id| Acked::Project { id, name, token })
        }
        4 => {
            let Some(r) =
                ack(demo(http.post(format!("{base}/upload"))).json(&json!({ "filename": format!("f{i}.png") })))
                    .await?
            else {
                return Ok(None);
            };
            let bytes = png((i % 250) as u8);
            let put = http
                .put(r["upload_url"].as_str().unwrap_or_default())
                .header("content-type", "image/png")
                .body(bytes.clone());
            ack(put).await?.and_then(|_| {
                Some(Acked::File {
                    id: text(&r, "file_id")?,
                    url: text(&r, "download_url")?,
                    bytes,
                })
            })
        }
        5 => {
            let name = format!("model-{i}");
            let form = reqwest::multipart::Form::new()
                .part(
                    "image",
                    reqwest::multipart::Part::bytes(jpeg((i % 250) as u8)).file_name("m.jpg"),
                )
                .text("name", name.clone());
            let r = ack(demo(http.post(format!("{base}/identity/upload"))).multipart(form)).await?;
            r.and_then(|r| text(&r, "identity_code"))
                .map(|code| Acked::Identity { code, name })
        }
        _ if i % 14 == 6 => {
            let r = ack(http
                .post(format!("{base}/__admin/clock"))
                .json(&json!({ "advance": "2s" })))
            .await?;
            r.and_then(|r| r["now_ms"].as_i64())
                .map(|now_ms| Acked::Clock { now_ms })
        }
        _ => {
            let r = ack(http
                .post(format!("{base}/auth/login"))
                .header("authorization", basic("demo@flat2model.test", "demo-password")))
            .await?;
            r.and_then(|r| text(&r, "token")).map(|token| Acked::Login { token })
        }
    })
}

/// `url` (handed out by a server at `from`) on the server at `to`.
fn rebase(url: &str, from: &str, to: &str) -> String {
    format!("{to}{}", url.strip_prefix(from).expect("a URL of the first server"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_a_load_loses_nothing_acknowledged() {
    let dir = TempDir::new("kill9");
    let mut receiver = Receiver::start().await;
    let mut server = start(&dir.path()).await;
    let base = server.url.clone();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");

    // A second process cannot take the same data dir.
    assert!(refused(&dir.path(), SEED).contains("locked"));

    // Set-up, acknowledged one by one: the webhook, a job's inputs.
    let registration = must(
        http.put(format!("{base}/webhooks"))
            .bearer_auth(DEMO)
            .json(&json!({ "url": receiver.url })),
        "PUT /webhooks",
    )
    .await;
    let secret = registration["secret"].as_str().expect("secret").to_owned();
    let form = reqwest::multipart::Form::new().part(
        "image",
        reqwest::multipart::Part::bytes(jpeg(251)).file_name("model.jpg"),
    );
    let identity = must(
        http.post(format!("{base}/identity/upload"))
            .bearer_auth(DEMO)
            .multipart(form),
        "identity",
    )
    .await;
    let project = post_demo(&http, &base, "/project", json!({ "project_name": "load" })).await;
    let upload = post_demo(&http, &base, "/upload", json!({ "filename": "garment.png" })).await;
    must(
        http.put(upload["upload_url"].as_str().expect("url"))
            .header("content-type", "image/png")
            .body(png(252)),
        "PUT bytes",
    )
    .await;
    let setup = Arc::new(json!({
        "identity": identity["identity_code"],
        "project": project["project_id"],
        "files": [upload["file_id"]],
    }));

    // The load: workers that each send one request after another until the
    // server is gone; SIGKILL once KILL_AFTER are acknowledged, while every
    // worker has one on the wire.
    const WORKERS: usize = 24;
    const KILL_AFTER: usize = 150;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let (http, base, setup, tx) = (http.clone(), base.clone(), setup.clone(), tx.clone());
        workers.push(tokio::spawn(async move {
            let mut sent = 0;
            // Bounded, should the kill never come.
            for k in 0..200 {
                sent += 1;
                match load_one(&http, &base, w + k * WORKERS, &setup).await {
                    Err(Gone) => break,
                    Ok(Some(a)) => {
                        let _ = tx.send(a);
                    }
                    Ok(None) => {}
                }
            }
            sent
        }));
    }
    drop(tx);
    let mut acked = Vec::new();
    while let Some(a) = rx.recv().await {
        acked.push(a);
        if acked.len() == KILL_AFTER {
            server.kill().await;
        }
    }
    let mut sent = 0;
    for w in workers {
        sent += w.await.expect("worker");
    }
    let kinds: HashSet<std::mem::Discriminant<Acked>> = acked.iter().map(std::mem::discriminant).collect();
    assert_eq!(kinds.len(), 6, "every kind of request was acknowledged before the kill");
    assert!(acked.len() >= KILL_AFTER, "{} acknowledged", acked.len());
    assert!(sent > acked.len(), "requests were on the wire when the process died");

    // Restart on the same data dir.
    let mut server = start(&dir.path()).await;
    let new_base = server.url.clone();
    let get = |path: String, token: &str| {
        let req = http.get(format!("{new_base}{path}")).bearer_auth(token);
        async move { must(req, &format!("GET {path} after the restart")).await }
    };
    let clock = get("/__admin/clock".into(), DEMO).await["now_ms"]
        .as_i64()
        .expect("now");
    let mut seen_ids: BTreeSet<String> = BTreeSet::new();
    let mut jobs = Vec::new();
    let mut projects_of: HashMap<String, Vec<Value>> = HashMap::new();
    for a in &acked {
        match a {
            Acked::Project { id, name, token } => {
                if !projects_of.contains_key(token) {
                    let list = get("/project?per_page=100".into(), token).await["projects"].clone();
                    projects_of.insert(token.clone(), list.as_array().expect("list").clone());
                }
                let found = projects_of[token]
                    .iter()
                    .any(|p| p["project_id"] == id.as_str() && p["project_text"] == name.as_str());
                assert!(found, "acknowledged project {name} ({id}) of {token} is kept");
                seen_ids.insert(id.clone());
            }
            Acked::File { id, url, bytes } => {
                let r = http.get(rebase(url, &base, &new_base)).send().await.expect("reachable");
                assert_eq!(r.status(), 200, "acknowledged file {id}");
                assert_eq!(
                    r.bytes().await.expect("body").as_ref(),
                    bytes.as_slice(),
                    "file {id}'s bytes"
                );
                seen_ids.insert(id.clone());
            }
            Acked::Identity { code, name } => {
                let i = get(format!("/identity/{code}"), DEMO).await;
                assert_eq!(i["name"], name.as_str());
                seen_ids.insert(code.clone());
            }
            Acked::Job { id } => {
                let s = get(format!("/jobs/{id}/status"), DEMO).await;
                assert_eq!(s["total_images"], 2, "acknowledged job {id}");
                seen_ids.insert(id.clone());
                jobs.push(id.clone());
            }
            Acked::Login { token } => {
                get("/project".into(), token).await;
            }
            Acked::Clock { now_ms } => assert!(clock >= *now_ms, "the clock went back"),
        }
    }
    // No ID handed out before the kill is handed out again.
    let project = post_demo(&http, &new_base, "/project", json!({ "project_name": "after" })).await;
    let upload = post_demo(&http, &new_base, "/upload", json!({ "filename": "after.png" })).await;
    let body = json!({
        "identity_code": setup["identity"],
        "project_id": setup["project"],
        "images": setup["files"],
        "instructions": [{ "pose": "after" }],
    });
    let job = post_demo(&http, &new_base, "/flat-2-model", body).await;
    for id in [&project["project_id"], &upload["file_id"], &job["job_id"]] {
        let id = id.as_str().expect("an id");
        assert!(!seen_ids.contains(id), "{id} was handed out before the kill");
    }

    // The jobs in flight finish, each event announced once; the webhook,
    // refused until now, gets every notification.
    receiver.accept.store(true, Ordering::SeqCst);
    must(
        http.post(format!("{new_base}/__admin/clock"))
            .json(&json!({ "advance": "2h" })),
        "clock",
    )
    .await;
    let notifications = get("/notifications".into(), DEMO).await;
    let list = notifications.as_array().expect("list");
    let ids: Vec<u64> = list.iter().map(|n| n["id"].as_u64().expect("id")).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase and none repeats");
    let mut image_results: HashMap<String, usize> = HashMap::new();
    let mut completed: HashMap<String, usize> = HashMap::new();
    for n in list {
        let task = n["data"]["id_task"].as_str().unwrap_or_default().to_owned();
        if n["name"] == "image_result" {
            *image_results
                .entry(n["data"]["id_image"].as_str().expect("id_image").to_owned())
                .or_default() += 1;
        } else if n["data"]["status"] == "completed" {
            *completed.entry(task).or_default() += 1;
        }
    }
    assert!(
        image_results.values().all(|n| *n == 1),
        "an output announced twice: {image_results:?}"
    );
    for id in &jobs {
        let s = get(format!("/jobs/{id}/status"), DEMO).await;
        assert_eq!(s["status"], "completed", "job {id} finishes after the restart");
        assert_eq!(completed.get(id), Some(&1), "job {id}'s completion is announced once");
    }
    let want: BTreeSet<u64> = ids.iter().copied().collect();
    receiver.until_all(&want, &secret).await;

    server.kill().await;
    // A data dir written with another seed is refused, with the reason.
    assert!(refused(&dir.path(), "8").contains("--seed 7"));
}
