//! Phase c: a webhook receiver that accepts connections and never answers,
//! registered on its own tenant, under many jobs run to their end, while a
//! normal client on the fixture account polls a job's status.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use super::sampler::{Gauge, Peaks, Sampler};
use super::status_latency;
use crate::client::Api;
use crate::load::Stats;
use crate::process::Server;

/// Jobs created between two moves of the clock (each move runs what is due:
/// the jobs' ends, their notifications, the webhook deliveries).
const BATCH: usize = 1_000;

/// What the phase measured.
#[derive(Debug, Clone)]
pub struct DeadReceiver {
    /// Jobs created (and run: the clock moved after each batch).
    pub jobs: usize,
    /// Seconds creating them took.
    pub create_secs: f64,
    /// The normal client's status GET while they were created.
    pub during: Stats,
    /// The same once they were all created, deliveries hanging.
    pub after: Stats,
    /// The fake's highest RSS and descriptor count over the phase.
    pub peaks: Peaks,
    /// Descriptors at the end.
    pub fds_end: u64,
    /// Connections the receiver held at once, at most; and accepted in all.
    pub receiver_max: u64,
    /// Connections it accepted in all.
    pub receiver_total: u64,
    /// `held` of `GET /__admin/health` at the end.
    pub held: Value,
    /// The webhook tenant's deliveries by status.
    pub deliveries: Vec<(String, usize)>,
}

/// A receiver on 127.0.0.1 that accepts every connection and reads what it
/// is sent, never answering; counts the connections it holds.
async fn never_answering() -> Result<(std::net::SocketAddr, Arc<Gauge>), String> {
    let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let gauge = Arc::new(Gauge::default());
    let g = Arc::clone(&gauge);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let g = Arc::clone(&g);
            g.up();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while matches!(sock.read(&mut buf).await, Ok(n) if n > 0) {}
                g.down();
            });
        }
    });
    Ok((addr, gauge))
}

/// Runs the phase on `fake`; `status_job` is a fixture-account job.
pub async fn run(
    fake: &Server,
    api: &Api,
    status_job: &str,
    jobs: usize,
    settle: Duration,
) -> Result<DeadReceiver, String> {
    let (receiver, gauge) = never_answering().await?;
    let tenant = api.admin(reqwest::Method::POST, "/tenants", Some(&json!({}))).await?;
    let token = tenant["token"]
        .as_str()
        .ok_or_else(|| format!("no token in {tenant}"))?;
    let hooked = Api::with_token(&fake.url(), token);
    // The registration pings the receiver; the ping's answer never comes,
    // so do not wait on it beyond the attempt's timeout.
    let hook = json!({ "url": format!("http://{receiver}/hook") });
    let put = hooked.call(reqwest::Method::PUT, "/webhooks", Some(&hook));
    tokio::time::timeout(Duration::from_secs(30), put)
        .await
        .map_err(|_| "PUT /webhooks did not answer in 30 s".to_owned())??;
    let inputs = hooked.inputs().await?;
    let body = inputs.job_body(1);
    let sampler = Sampler::start(fake.pid());
    let started = std::time::Instant::now();
    let create = {
        let (hooked, body) = (hooked.clone(), body.clone());
        tokio::spawn(async move {
            for start in (0..jobs).step_by(BATCH) {
                let n = BATCH.min(jobs - start);
                let _: Vec<String> = stream::iter(0..n)
                    .map(|_| hooked.create_job(&body))
                    .buffer_unordered(16)
                    .try_collect()
                    .await?;
                hooked
                    .admin(reqwest::Method::POST, "/clock", Some(&json!({"advance": "1s"})))
                    .await?;
            }
            Ok::<f64, String>(0.0)
        })
    };
    let during = status_latency(fake, status_job).await;
    create
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("creating jobs: {e}"))?;
    let create_secs = started.elapsed().as_secs_f64();
    // Let attempts time out and be retried (each clock move makes the due
    // retries go): the receiver keeps every one hanging.
    let until = std::time::Instant::now() + settle;
    while std::time::Instant::now() < until {
        hooked
            .admin(reqwest::Method::POST, "/clock", Some(&json!({"advance": "30s"})))
            .await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let after = status_latency(fake, status_job).await;
    let peaks = sampler.stop().await;
    let held = api.admin(reqwest::Method::GET, "/health", None).await?["held"].clone();
    let (_, receiver_max, receiver_total) = gauge.read();
    let account = tenant["account"].as_str().unwrap_or_default();
    let mut deliveries = Vec::new();
    let mut dropped_count = 0;
    for status in ["pending", "in_flight", "delivered", "failed", "dropped"] {
        let log = api
            .admin(
                reqwest::Method::GET,
                &format!("/webhooks/deliveries?account={account}&status={status}"),
                None,
            )
            .await?;
        let n = log
            .as_array()
            .or_else(|| log["deliveries"].as_array())
            .map_or(0, Vec::len);
        deliveries.push((status.to_owned(), n));
        // Drops outlive their records, which the log's cap may have pruned.
        dropped_count = log["dropped"].as_u64().unwrap_or(dropped_count);
    }
    deliveries.push((
        "dropped in all (the log's `dropped` count)".to_owned(),
        dropped_count as usize,
    ));
    Ok(DeadReceiver {
        jobs,
        create_secs,
        during,
        after,
        peaks,
        fds_end: fake.fds(),
        receiver_max,
        receiver_total,
        held,
        deliveries,
    })
}
