//! Start-up and memory: time from spawn to the first 200, idle RSS, RSS
//! after many jobs, and RSS once the jobs' time-to-live has passed and they
//! are evicted (the manual clock is advanced past `--job-ttl`), then RSS
//! after as many jobs again: eviction bounds memory when the second round
//! fits in what the first one freed.

use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::{Value, json};

use crate::client::{self, Api};
use crate::process::Server;

/// What the footprint run measured.
#[derive(Debug, Clone)]
pub struct Footprint {
    /// Start-up times, sorted.
    pub startups: Vec<Duration>,
    /// RSS right after start-up.
    pub idle_rss: u64,
    /// Jobs created.
    pub jobs: usize,
    /// RSS with every job held.
    pub rss_full: u64,
    /// What the server said it held then.
    pub held_full: Value,
    /// RSS after eviction.
    pub rss_evicted: u64,
    /// What it held after.
    pub held_evicted: Value,
    /// RSS once as many jobs again are held.
    pub rss_refilled: u64,
}

impl Footprint {
    /// The median start-up.
    pub fn startup_median(&self) -> Duration {
        self.startups.get(self.startups.len() / 2).copied().unwrap_or_default()
    }
}

/// Starts the fake `starts` times (keeping the last), measures, then runs
/// `jobs` jobs of `outputs` outputs through it and evicts them.
pub async fn run(
    start: impl AsyncFn() -> Result<Server, String>,
    starts: usize,
    jobs: usize,
    outputs: u32,
) -> Result<Footprint, String> {
    let mut startups = Vec::new();
    let mut last = None;
    for _ in 0..starts.max(1) {
        let s = start().await?;
        startups.push(s.startup);
        last = Some(s);
    }
    startups.sort();
    let fake = last.ok_or("no server")?;
    // Let the runtime's threads settle before reading idle memory.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let idle_rss = fake.rss();
    let api = Api::new(&fake.url());
    let mut inputs = api.inputs().await?;
    // `jobs` jobs, each to its end: a manual clock with --time-scale 0
    // finishes a job when it is looked at; advance a second to be sure.
    let fill = async |inputs: &client::Inputs| -> Result<(), String> {
        let body = inputs.job_body(outputs);
        let ids: Vec<String> = stream::iter(0..jobs)
            .map(|_| api.create_job(&body))
            .buffered(8)
            .try_collect()
            .await?;
        api.admin(reqwest::Method::POST, "/clock", Some(&json!({"advance": "1s"})))
            .await?;
        let last_status = api.status(ids.last().ok_or("no jobs")?).await?;
        if last_status["status"] == "completed" {
            Ok(())
        } else {
            Err(format!("the last job is {}", last_status["status"]))
        }
    };
    fill(&inputs).await?;
    // What the server says it holds (jobs, files, notifications, …).
    let held = async || -> Result<Value, String> {
        Ok(api.admin(reqwest::Method::GET, "/health", None).await?["held"].clone())
    };
    let held_full = held().await?;
    let rss_full = fake.rss();
    api.admin(reqwest::Method::POST, "/clock", Some(&json!({"advance": "25h"})))
        .await?;
    let held_evicted = held().await?;
    let rss_evicted = rss_after_purge(&fake, &api).await?;
    // The garment was evicted with the jobs (`--file-ttl`): upload it again.
    inputs.file_id = api.upload_garment().await?;
    fill(&inputs).await?;
    let rss_refilled = fake.rss();
    Ok(Footprint {
        startups,
        idle_rss,
        jobs,
        rss_full,
        held_full,
        rss_evicted,
        held_evicted,
        rss_refilled,
    })
}

/// RSS once the allocator has had its chance to give freed pages back: it
/// does so after its purge delay (mimalloc: 1 s), on later allocations, so
/// wait, then keep the fake serving, then read.
pub async fn rss_after_purge(fake: &Server, api: &Api) -> Result<u64, String> {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for _ in 0..200 {
        api.admin(reqwest::Method::GET, "/health", None).await?;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(fake.rss())
}
