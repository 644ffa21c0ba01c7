//! Phase b: waves of distinct `--any-token` tokens, each making one
//! successful request, then the clock moved past `--any-token-idle-ttl`.

use futures_util::{StreamExt, stream};
use serde_json::json;

use super::sampler::Sampler;
use crate::client::Api;
use crate::footprint::rss_after_purge;
use crate::load::Stats;
use crate::process::Server;

/// Requests in flight at once during a wave.
const IN_FLIGHT: usize = 32;

/// One wave and its eviction.
#[derive(Debug, Clone, Default)]
pub struct Wave {
    /// Tokens sent.
    pub tokens: usize,
    /// Of them, answered 2xx.
    pub ok: usize,
    /// Seconds the wave took.
    pub secs: f64,
    /// Highest RSS during the wave.
    pub rss_peak: u64,
    /// RSS right after it.
    pub rss_after_wave: u64,
    /// Tenants (`GET /__admin/health`) after the wave.
    pub tenants_before: u64,
    /// Tenants after the clock passed the idle TTL.
    pub tenants_after: u64,
    /// Seconds the clock move took to answer (it runs the eviction).
    pub evict_secs: f64,
    /// RSS after that eviction (and the allocator's purge delay).
    pub rss_evicted: u64,
    /// Descriptors after the eviction.
    pub fds_evicted: u64,
    /// The fixture account's status GET from the moment the clock moves
    /// (its 3.5 s window covers the eviction, or it did not end).
    pub during_eviction: Stats,
}

/// Sends `n` requests, each with its own token `soak-<wave>-<i>`, then
/// moves the clock by `advance` (past the idle TTL).
/// Meanwhile the fixture account's status GET of `job` is timed.
pub async fn wave(fake: &Server, admin: &Api, job: &str, wave: usize, n: usize, advance: &str) -> Result<Wave, String> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(IN_FLIGHT)
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("{}/identity", fake.url());
    let sampler = Sampler::start(fake.pid());
    let started = std::time::Instant::now();
    let ok = stream::iter(0..n)
        .map(|i| {
            let req = http.get(&url).bearer_auth(format!("soak-{wave}-{i}")).send();
            async move { req.await.is_ok_and(|r| r.status().is_success()) }
        })
        .buffer_unordered(IN_FLIGHT)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;
    let secs = started.elapsed().as_secs_f64();
    let peaks = sampler.stop().await;
    let rss_after_wave = fake.rss();
    let tenants_before = tenants(admin).await?;
    let evicting = std::time::Instant::now();
    let moving = async {
        let moved = admin
            .admin(reqwest::Method::POST, "/clock", Some(&json!({ "advance": advance })))
            .await;
        (moved, evicting.elapsed().as_secs_f64())
    };
    let ((moved, evict_secs), during_eviction) = tokio::join!(moving, super::status_latency(fake, job));
    moved?;
    let tenants_after = tenants(admin).await?;
    let rss_evicted = rss_after_purge(fake, admin).await?;
    Ok(Wave {
        tokens: n,
        ok,
        secs,
        rss_peak: peaks.rss.max(rss_after_wave),
        rss_after_wave,
        tenants_before,
        tenants_after,
        evict_secs,
        rss_evicted,
        fds_evicted: fake.fds(),
        during_eviction,
    })
}

/// The tenant count of `GET /__admin/health`.
pub async fn tenants(admin: &Api) -> Result<u64, String> {
    let h = admin.admin(reqwest::Method::GET, "/health", None).await?;
    h["tenants"].as_u64().ok_or_else(|| format!("no tenants in {h}"))
}
