//! `--data-dir`: a restart (clean, or `kill -9` in the middle of a load)
//! loses nothing that was acknowledged, hands out no ID twice, and jobs in
//! flight continue where they stood, announcing each event once.
//!
//! Suites: `restart`, `reset`, `crash`; the shared helpers are here.

mod crash;
mod damaged;
mod lazy;
mod reset;
mod restart;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::helpers::TestApp;

/// A folder under the system's temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Self(std::env::temp_dir().join(format!("f2m-{name}-{}-{nanos}", std::process::id())))
    }
    pub fn path(&self) -> PathBuf {
        self.0.clone()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub async fn spawn_on(dir: &Path, adjust: impl FnOnce(&mut mock_server::Config)) -> TestApp {
    let dir = dir.to_owned();
    TestApp::spawn_with(move |c| {
        c.any_token = true;
        c.data_dir = Some(dir);
        adjust(c);
    })
    .await
}

/// Commits what is queued and releases the data dir, as a clean shutdown
/// does; the app stops storing anything.
pub async fn close(app: &TestApp) {
    app.state.close_durable().await.expect("everything queued is committed");
}

/// `POST /__admin/clock {"advance": by}`: what falls due happens.
async fn move_clock(app: &TestApp, by: &str) {
    app.post("/__admin/clock")
        .json(json!({ "advance": by }))
        .send()
        .await
        .expect(200);
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// A path with its query, without the server's base URL.
fn local(app: &TestApp, url: &Value) -> String {
    url.as_str()
        .and_then(|u| u.strip_prefix(&app.base))
        .expect("a URL of this server")
        .to_owned()
}

/// A webhook receiver that answers 503 until told to accept.
struct Receiver {
    url: String,
    accept: Arc<AtomicBool>,
    rx: mpsc::UnboundedReceiver<(HeaderMap, Bytes)>,
}

impl Receiver {
    async fn start() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let accept = Arc::new(AtomicBool::new(false));
        let open = accept.clone();
        let handler = move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            let open = open.clone();
            async move {
                if open.load(Ordering::SeqCst) {
                    let _ = tx.send((headers, body));
                    StatusCode::NO_CONTENT
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                }
            }
        };
        let router = axum::Router::new().route("/hook", axum::routing::post(handler));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, accept, rx }
    }

    /// Accepted deliveries until every notification id of `want` came; by
    /// delivery id, each with the body it came with (all bodies of one
    /// delivery must be equal). Fails after 60 s without progress.
    async fn until_all(&mut self, want: &BTreeSet<u64>, secret: &str) -> BTreeMap<u64, Value> {
        let mut got: BTreeMap<u64, Value> = BTreeMap::new();
        let mut notified = BTreeSet::new();
        while !want.is_subset(&notified) {
            let (headers, body) = tokio::time::timeout(Duration::from_secs(60), self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("deliveries stopped; still missing {:?}", want - &notified))
                .expect("open");
            let signature = headers["x-webhook-signature"].to_str().expect("ascii");
            assert!(
                crate::peers::verify_signature(secret, &body, signature),
                "signed with the secret handed out before the restart"
            );
            let delivery: u64 = headers["x-webhook-delivery"]
                .to_str()
                .expect("ascii")
                .parse()
                .expect("id");
            let v: Value = serde_json::from_slice(&body).expect("JSON");
            if let Some(earlier) = got.get(&delivery) {
                assert_eq!(earlier, &v, "a delivery sent again carries the same body");
            }
            notified.insert(v["id"].as_u64().expect("notification id"));
            got.insert(delivery, v);
        }
        got
    }
}
