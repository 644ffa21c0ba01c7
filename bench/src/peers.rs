//! The servers the fake is compared with: Stoplight Prism mocking
//! `schemas/openapi.yaml`, WireMock standalone with a stub that answers the
//! same status body, and a bare hyper server (the ceiling) that answers it
//! from memory.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, header};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::process::Command;

use crate::process::{Server, free_port};

/// The status path every peer is asked for.
pub fn status_path(job: &str) -> String {
    format!("/jobs/{job}/status")
}

/// Starts Prism (`prism mock`, logging off) on `openapi`.
pub async fn prism(bin: &Path, openapi: &Path, ready_path: &str) -> Result<Server, String> {
    let port = free_port()?;
    let mut cmd = Command::new(bin);
    cmd.args(["mock", "-h", "127.0.0.1", "-p", &port.to_string(), "-v", "silent"])
        .arg(openapi);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    Server::start_on("Prism", cmd, addr, ready_path, Duration::from_secs(90)).await
}

/// Starts WireMock standalone (`java -jar`) with one stub: `GET
/// /jobs/{id}/status` with a bearer token answers `body`. Request logging and
/// the request journal are off, as a load test of WireMock would have them.
pub async fn wiremock(jar: &Path, body: &str, ready_path: &str) -> Result<Server, String> {
    let root = std::env::temp_dir().join(format!("f2m-bench-wiremock-{}", std::process::id()));
    let mappings = root.join("mappings");
    std::fs::create_dir_all(&mappings).map_err(|e| e.to_string())?;
    let stub = json!({
        "request": {
            "method": "GET",
            "urlPathPattern": "/jobs/[^/]+/status",
            "headers": {"Authorization": {"matches": "Bearer .+"}},
        },
        "response": {
            "status": 200,
            "headers": {"Content-Type": "application/json"},
            "body": body,
        },
    });
    std::fs::write(mappings.join("status.json"), stub.to_string()).map_err(|e| e.to_string())?;
    let port = free_port()?;
    let mut cmd = Command::new("java");
    cmd.arg("-jar")
        .arg(jar)
        .args(["--bind-address", "127.0.0.1", "--port", &port.to_string()])
        .arg("--root-dir")
        .arg(&root)
        .args(["--no-request-journal", "--disable-request-logging", "--disable-banner"]);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    Server::start_on("WireMock", cmd, addr, ready_path, Duration::from_secs(90)).await
}

/// Starts this binary's `hello` subcommand answering `body`.
pub async fn hello(body: &str) -> Result<Server, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(me);
    cmd.args(["hello", "--body", body]);
    Server::start_announcing("bare hyper", cmd, "/").await
}

/// The bare hyper server: every request gets `body` as JSON, 200. A
/// multi-threaded runtime like the fake's, one task per connection.
pub async fn serve_hello(body: String) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on http://{}", listener.local_addr()?);
    let body = Bytes::from(body);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |_req| {
                let res = Response::builder()
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Full::new(body.clone()));
                async move { Ok::<_, Infallible>(res.unwrap_or_default()) }
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}

/// Where the pinned npm peers are installed (`make bench-peers`).
#[derive(Debug, Clone)]
pub struct PeerPaths {
    /// `node_modules/.bin/prism`.
    pub prism: PathBuf,
    /// The WireMock standalone jar inside the `wiremock` npm package.
    pub wiremock_jar: Option<PathBuf>,
}

impl PeerPaths {
    /// Finds the peers under `dir` (holding `node_modules`).
    pub fn find(dir: &Path) -> Self {
        let build = dir.join("node_modules/wiremock/build");
        let wiremock_jar = std::fs::read_dir(&build).ok().and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "jar"))
        });
        Self {
            prism: dir.join("node_modules/.bin/prism"),
            wiremock_jar,
        }
    }
}
