//! SSE fan-out: N subscribers follow one job's `batch_edit` events; the job
//! is completed through the control API, and each subscriber notes how long
//! after that call its terminal event arrived.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};

use crate::TOKEN;
use crate::client::{Api, Inputs};
use crate::load::quantile_us;
use crate::process::{Server, cpu_time};

/// What one fan-out measured.
#[derive(Debug, Clone)]
pub struct Fanout {
    /// Subscribers asked for.
    pub subscribers: usize,
    /// Subscribers that got the terminal event.
    pub delivered: usize,
    /// Time for all of them to connect and finish their backfill.
    pub connect: Duration,
    /// Terminal-event latency, p50, milliseconds.
    pub p50_ms: f64,
    /// p99.
    pub p99_ms: f64,
    /// The last subscriber's.
    pub max_ms: f64,
    /// Server RSS with every subscriber connected, before the event.
    pub rss_connected: u64,
    /// Server RSS right after the last subscriber got the event.
    pub rss_after: u64,
    /// The fake's CPU time (user + system) from the control call to the
    /// last subscriber's terminal event.
    pub server_cpu: Duration,
    /// The bench's own CPU time (its subscribers' reading) in that time.
    pub client_cpu: Duration,
}

const SEARCHED: &str = "\"status\":\"completed\"";

/// Runs the fan-out with `n` subscribers on `fake` (a manual-clock server,
/// so the job waits for the control call).
pub async fn run(fake: &Server, api: &Api, inputs: &Inputs, n: usize) -> Result<Fanout, String> {
    let job = api.create_job(&inputs.job_body(1)).await?;
    let t0: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<()>();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Duration>();
    let connecting = Arc::new(Semaphore::new(256));
    let path = format!("/notifications/events?id_task={job}&name_list=batch_edit");
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let (path, t0, ready, done, connecting) = (
            path.clone(),
            t0.clone(),
            ready_tx.clone(),
            done_tx.clone(),
            connecting.clone(),
        );
        let addr = fake.addr;
        tasks.push(tokio::spawn(async move {
            let _ = subscriber(addr, &path, &t0, &ready, &done, &connecting).await;
        }));
    }
    drop((ready_tx, done_tx));
    let mut ready = 0;
    let deadline = Duration::from_secs(120);
    while ready < n {
        match tokio::time::timeout(deadline, ready_rx.recv()).await {
            Ok(Some(())) => ready += 1,
            _ => break,
        }
    }
    if ready < n {
        return Err(format!("only {ready} of {n} SSE subscribers finished their backfill"));
    }
    let connect = started.elapsed();
    let rss_connected = fake.rss();
    let cpu = (fake.cpu(), cpu_time(std::process::id()));
    let _ = t0.set(Instant::now());
    api.admin(reqwest::Method::POST, &format!("/jobs/{job}/complete"), None)
        .await?;
    let mut lat: Vec<u32> = Vec::with_capacity(n);
    while lat.len() < n {
        match tokio::time::timeout(Duration::from_secs(60), done_rx.recv()).await {
            Ok(Some(d)) => lat.push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX)),
            _ => break,
        }
    }
    let server_cpu = fake.cpu().saturating_sub(cpu.0);
    let client_cpu = cpu_time(std::process::id()).saturating_sub(cpu.1);
    let rss_after = fake.rss();
    if lat.len() < n {
        return Err(format!(
            "only {} of {n} subscribers got the terminal event within 60 s",
            lat.len()
        ));
    }
    for t in tasks {
        t.abort();
    }
    lat.sort_unstable();
    Ok(Fanout {
        subscribers: n,
        delivered: lat.len(),
        connect,
        p50_ms: quantile_us(&lat, 0.5) / 1000.0,
        p99_ms: quantile_us(&lat, 0.99) / 1000.0,
        max_ms: quantile_us(&lat, 1.0) / 1000.0,
        rss_connected,
        rss_after,
        server_cpu,
        client_cpu,
    })
}

/// One subscriber: connects (at most 256 at once), reads the backfill,
/// says it is ready, then reports when the terminal event arrives.
async fn subscriber(
    addr: std::net::SocketAddr,
    path: &str,
    t0: &OnceLock<Instant>,
    ready: &mpsc::UnboundedSender<()>,
    done: &mpsc::UnboundedSender<Duration>,
    connecting: &Semaphore,
) -> Result<(), String> {
    let mut permit = Some(connecting.acquire().await.map_err(|e| e.to_string())?);
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (mut sender, conn) = http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .uri(path)
        .header("host", addr.to_string())
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("accept", "text/event-stream")
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let res = sender.send_request(req).await.map_err(|e| e.to_string())?;
    if !res.status().is_success() {
        return Err(format!("SSE: {}", res.status()));
    }
    let mut body = res.into_body();
    let mut text = String::new();
    let mut live = false;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|e| e.to_string())?.into_data() else {
            continue;
        };
        text.push_str(&String::from_utf8_lossy(&data));
        if !live {
            let Some(at) = text.find("event: backfill_complete") else {
                continue;
            };
            live = true;
            text.drain(..at);
            // Connected and caught up: let the next one connect.
            permit.take();
            let _ = ready.send(());
        }
        if text.contains(SEARCHED) {
            if let Some(start) = t0.get() {
                let _ = done.send(start.elapsed());
            }
            return Ok(());
        }
    }
    Err("SSE stream ended before the terminal event".into())
}
