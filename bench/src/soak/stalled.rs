//! Phase d: uploads that send their headers and part of their body, then
//! stall, against a fake started under a low open-file limit, while a
//! normal client asks for a job's status; then what `--body-timeout` does.
//! Those past `--max-bodies-in-flight` are answered 503 at once (among the
//! ends, `answered 503`), which leaves connections for new clients.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::sampler::Gauge;
use crate::TOKEN;
use crate::load::{self, Target, quantile_us};
use crate::process::Server;

/// The `Content-Length` each stalled upload announces (100 KiB: 1,000 of
/// them stay under `--max-body-bytes-in-flight`, so the byte budget does
/// not refuse them and the connections themselves are what is tried).
const ANNOUNCED: usize = 100 * 1024;
/// Body bytes each sends before it stalls.
const SENT: usize = 1024;

/// How one stalled upload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Answered with this status.
    Status(u16),
    /// Closed without an answer (shed at `--max-connections`).
    Closed,
    /// Could not connect or write.
    Refused,
    /// Still open when the phase stopped waiting.
    Open,
}

/// The first line of an HTTP/1.1 answer, as an [`End`].
pub fn classify(answer: &[u8]) -> End {
    if answer.is_empty() {
        return End::Closed;
    }
    std::str::from_utf8(answer)
        .ok()
        .and_then(|s| s.strip_prefix("HTTP/1.1 "))
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
        .map_or(End::Closed, End::Status)
}

/// A normal client's requests in one stretch.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    /// Requests sent.
    pub sent: usize,
    /// Answered 2xx.
    pub ok: usize,
    /// p50 and p99 of the answered ones, ms.
    pub p50_ms: f64,
    /// p99, ms.
    pub p99_ms: f64,
}

/// What the phase measured.
#[derive(Debug, Clone)]
pub struct Stalled {
    /// The fake's soft open-file limit, as `/proc` shows it.
    pub nofile: Option<u64>,
    /// Uploads started.
    pub uploads: usize,
    /// Connections the fake held at once (its descriptors, at most).
    pub fds_stalled: u64,
    /// RSS then.
    pub rss_stalled: u64,
    /// Status GETs on a keep-alive connection opened before the stall.
    pub kept: Probe,
    /// Status GETs each on a new connection, during the stall.
    pub fresh: Probe,
    /// How the uploads ended, with counts.
    pub ends: Vec<(String, usize)>,
    /// Seconds from the stall to the last upload's end.
    pub cut_secs: f64,
    /// Descriptors after.
    pub fds_after: u64,
    /// RSS after.
    pub rss_after: u64,
    /// Status GETs on new connections after the cut.
    pub fresh_after: Probe,
}

/// One upload: headers and `SENT` bytes of a multipart body announcing
/// `ANNOUNCED`, then nothing; reads the answer until the server closes.
async fn stall(addr: SocketAddr, sent: Arc<Gauge>, wait: Duration) -> End {
    let Ok(mut sock) = TcpStream::connect(addr).await else {
        return End::Refused;
    };
    let head = format!(
        "POST /identity/upload HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {TOKEN}\r\n\
         content-type: multipart/form-data; boundary=soak\r\ncontent-length: {ANNOUNCED}\r\n\r\n\
         --soak\r\ncontent-disposition: form-data; name=\"image\"; filename=\"x.jpg\"\r\n\
         content-type: image/jpeg\r\n\r\n"
    );
    let mut bytes = head.into_bytes();
    bytes.resize(bytes.len() + SENT, 0xff);
    if sock.write_all(&bytes).await.is_err() {
        return End::Refused;
    }
    sent.up();
    let mut answer = Vec::new();
    match tokio::time::timeout(wait, sock.read_to_end(&mut answer)).await {
        Ok(_) => classify(&answer),
        Err(_) => End::Open,
    }
}

/// `n` status GETs one after the other on `sender`, or on a new connection
/// each when `sender` is `None`; each may take up to a second.
async fn probe(t: &Target, n: usize, mut sender: Option<&mut load::Sender>) -> Probe {
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let one = async {
            let Ok(req) = t.request() else { return false };
            let mut fresh;
            let s = match sender.as_deref_mut() {
                Some(s) => s,
                None => match load::connect(t.addr).await {
                    Ok(s) => {
                        fresh = s;
                        &mut fresh
                    }
                    Err(_) => return false,
                },
            };
            if s.ready().await.is_err() {
                return false;
            }
            match s.send_request(req).await {
                // Read the body whole, so a kept connection can carry the next.
                Ok(r) => r.status().is_success() && r.into_body().collect().await.is_ok(),
                Err(_) => false,
            }
        };
        if tokio::time::timeout(Duration::from_secs(1), one).await == Ok(true) {
            lat.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
        }
    }
    lat.sort_unstable();
    Probe {
        sent: n,
        ok: lat.len(),
        p50_ms: quantile_us(&lat, 0.5) / 1000.0,
        p99_ms: quantile_us(&lat, 0.99) / 1000.0,
    }
}

/// Runs the phase on `fake` (started under the low limit, with a short
/// `--body-timeout`); `status_job` is a fixture-account job.
pub async fn run(fake: &Server, status_job: &str, uploads: usize, body_timeout: Duration) -> Result<Stalled, String> {
    let t = crate::throughput::status_target(fake.addr, status_job);
    let mut kept_sender = load::connect(fake.addr).await.map_err(|e| e.to_string())?;
    // Before: the connection is open and served.
    let warm = probe(&t, 10, Some(&mut kept_sender)).await;
    if warm.ok == 0 {
        return Err("the normal client got no answer before the stall".into());
    }
    let sent = Arc::new(Gauge::default());
    let wait = body_timeout + Duration::from_secs(30);
    let started = Instant::now();
    let tasks: Vec<_> = (0..uploads)
        .map(|_| tokio::spawn(stall(fake.addr, Arc::clone(&sent), wait)))
        .collect();
    // Every upload has sent its bytes, or a second has passed.
    while sent.read().2 < uploads as u64 && started.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let fds_stalled = fake.fds();
    let rss_stalled = fake.rss();
    let kept = probe(&t, 500, Some(&mut kept_sender)).await;
    let fresh = probe(&t, 20, None).await;
    let mut ends: Vec<(String, usize)> = Vec::new();
    for task in tasks {
        let end = task.await.map_or("task failed".to_owned(), |e| match e {
            End::Status(s) => format!("answered {s}"),
            other => format!("{other:?}").to_lowercase(),
        });
        match ends.iter_mut().find(|(k, _)| *k == end) {
            Some((_, n)) => *n += 1,
            None => ends.push((end, 1)),
        }
    }
    let cut_secs = started.elapsed().as_secs_f64();
    let fresh_after = probe(&t, 200, None).await;
    Ok(Stalled {
        nofile: crate::process::nofile_soft(fake.pid()),
        uploads,
        fds_stalled,
        rss_stalled,
        kept,
        fresh,
        ends,
        cut_secs,
        fds_after: fake.fds(),
        rss_after: fake.rss(),
        fresh_after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_told_apart() {
        assert_eq!(classify(b"HTTP/1.1 408 Request Timeout\r\n"), End::Status(408));
        assert_eq!(classify(b"HTTP/1.1 503 x"), End::Status(503));
        assert_eq!(classify(b""), End::Closed);
        assert_eq!(classify(b"garbage"), End::Closed);
    }
}
