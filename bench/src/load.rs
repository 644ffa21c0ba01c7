//! A closed-loop HTTP/1.1 load generator on hyper: `conns` keep-alive
//! connections, each sending the next request as soon as the previous answer
//! is read, for a fixed time. Every server in the report is measured with
//! this same generator, so their ratios compare the servers, not the tools.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One request, sent again and again.
#[derive(Debug, Clone)]
pub struct Target {
    /// Where to send it.
    pub addr: SocketAddr,
    /// Method.
    pub method: Method,
    /// Path and query.
    pub path: String,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Body (empty for a GET).
    pub body: Bytes,
}

impl Target {
    /// A GET of `path` with a bearer token.
    pub fn get(addr: SocketAddr, path: &str, token: &str) -> Self {
        Self {
            addr,
            method: Method::GET,
            path: path.to_owned(),
            headers: vec![("authorization".into(), format!("Bearer {token}"))],
            body: Bytes::new(),
        }
    }

    /// A JSON POST of `body` to `path` with a bearer token.
    pub fn post_json(addr: SocketAddr, path: &str, token: &str, body: &serde_json::Value) -> Self {
        Self {
            addr,
            method: Method::POST,
            path: path.to_owned(),
            headers: vec![
                ("authorization".into(), format!("Bearer {token}")),
                ("content-type".into(), "application/json".into()),
            ],
            body: Bytes::from(body.to_string()),
        }
    }

    /// The request, ready to send.
    pub fn request(&self) -> Result<Request<Full<Bytes>>, String> {
        let mut b = Request::builder()
            .method(self.method.clone())
            .uri(&self.path)
            .header("host", self.addr.to_string());
        for (k, v) in &self.headers {
            b = b.header(k, v);
        }
        b.body(Full::new(self.body.clone())).map_err(|e| e.to_string())
    }
}

/// What one run measured.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Connections.
    pub conns: usize,
    /// Answers with a 2xx status.
    pub ok: u64,
    /// Answers with another status, and failed connections or requests.
    pub errors: u64,
    /// Measured time, seconds.
    pub secs: f64,
    /// Latency of every 2xx answer, microseconds, sorted.
    latencies_us: Vec<u32>,
}

impl Stats {
    /// 2xx answers per second.
    pub fn rps(&self) -> f64 {
        if self.secs > 0.0 {
            self.ok as f64 / self.secs
        } else {
            0.0
        }
    }

    /// The `q` quantile (0..=1) of latency, milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        quantile_us(&self.latencies_us, q) / 1000.0
    }
}

/// The `q` quantile of sorted microsecond samples (nearest rank), in µs.
pub fn quantile_us(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1])
}

/// Runs `target` over `conns` connections: `warmup` unmeasured, then
/// `duration` measured.
pub async fn run(target: &Target, conns: usize, warmup: Duration, duration: Duration) -> Stats {
    let started = Instant::now();
    let measure_from = started + warmup;
    let end = measure_from + duration;
    let tasks: Vec<_> = (0..conns)
        .map(|_| {
            let t = target.clone();
            tokio::spawn(async move { connection(t, measure_from, end).await })
        })
        .collect();
    let mut stats = Stats {
        conns,
        secs: duration.as_secs_f64(),
        ..Stats::default()
    };
    for task in tasks {
        let (ok, errors, lat) = task.await.unwrap_or((0, 1, Vec::new()));
        stats.ok += ok;
        stats.errors += errors;
        stats.latencies_us.extend(lat);
    }
    stats.latencies_us.sort_unstable();
    stats
}

/// One keep-alive connection's loop; reconnects after a failure.
async fn connection(t: Target, measure_from: Instant, end: Instant) -> (u64, u64, Vec<u32>) {
    let (mut ok, mut errors) = (0u64, 0u64);
    let mut lat = Vec::with_capacity(64 * 1024);
    while Instant::now() < end {
        let Ok(mut sender) = connect(t.addr).await else {
            errors += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        while Instant::now() < end {
            let Ok(req) = t.request() else {
                return (ok, errors + 1, lat);
            };
            let sent = Instant::now();
            let answer = match sender.send_request(req).await {
                Ok(res) => {
                    let status = res.status();
                    res.into_body().collect().await.map(|_| status)
                }
                Err(_) => {
                    errors += u64::from(sent >= measure_from);
                    break;
                }
            };
            if sent < measure_from {
                continue;
            }
            match answer {
                Ok(s) if s.is_success() => {
                    ok += 1;
                    lat.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                }
                _ => errors += 1,
            }
            if sender.ready().await.is_err() {
                break;
            }
        }
    }
    (ok, errors, lat)
}

/// The sending half of a client connection.
pub type Sender = http1::SendRequest<Full<Bytes>>;

/// A keep-alive HTTP/1.1 connection to `addr`.
pub async fn connect(addr: SocketAddr) -> std::io::Result<Sender> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(conn);
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::quantile_us;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(quantile_us(&v, 0.5), 50.0);
        assert_eq!(quantile_us(&v, 0.99), 99.0);
        assert_eq!(quantile_us(&v, 1.0), 100.0);
        assert_eq!(quantile_us(&[7], 0.99), 7.0);
        assert!(quantile_us(&[], 0.5).is_nan());
    }
}
