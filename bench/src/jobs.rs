//! Job throughput: many jobs of several 1K outputs on a `--time-scale 0`
//! server, created and followed to `completed`, then every output image
//! fetched (which renders it). Wall time and the server's CPU time.

use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::Value;

use crate::client::{Api, Inputs, str_field};
use crate::process::Server;

/// What the job run measured.
#[derive(Debug, Clone)]
pub struct JobRun {
    /// Jobs.
    pub jobs: usize,
    /// Outputs per job.
    pub outputs: u32,
    /// Creating every job and seeing each completed: wall, server CPU.
    pub lifecycle: (Duration, Duration),
    /// Fetching (rendering) every output: wall, server CPU.
    pub render: (Duration, Duration),
    /// Bytes of images fetched.
    pub bytes: usize,
}

/// Concurrent clients creating and polling.
const CLIENTS: usize = 8;

/// Runs `jobs` jobs of `outputs` outputs on `fake`.
pub async fn run(fake: &Server, api: &Api, inputs: &Inputs, jobs: usize, outputs: u32) -> Result<JobRun, String> {
    let body = inputs.job_body(outputs);
    let (t, cpu) = (Instant::now(), fake.cpu());
    let ids: Vec<String> = stream::iter(0..jobs)
        .map(|_| api.create_job(&body))
        .buffered(CLIENTS)
        .try_collect()
        .await?;
    let finals: Vec<Value> = stream::iter(ids.iter())
        .map(|id| wait_final(api, id))
        .buffered(CLIENTS)
        .try_collect()
        .await?;
    let lifecycle = (t.elapsed(), fake.cpu().saturating_sub(cpu));
    if let Some(bad) = finals.iter().find(|s| s["status"] != "completed") {
        return Err(format!("a job did not complete: {bad}"));
    }
    let (t, cpu) = (Instant::now(), fake.cpu());
    let urls: Vec<Vec<String>> = stream::iter(ids.iter())
        .map(|id| output_urls(api, id))
        .buffered(CLIENTS)
        .try_collect()
        .await?;
    let urls: Vec<String> = urls.into_iter().flatten().collect();
    if urls.len() != jobs * outputs as usize {
        return Err(format!("{} output URLs for {jobs} jobs × {outputs}", urls.len()));
    }
    let sizes: Vec<usize> = stream::iter(urls.iter())
        .map(|u| api.fetch_len(u))
        .buffered(CLIENTS)
        .try_collect()
        .await?;
    Ok(JobRun {
        jobs,
        outputs,
        lifecycle,
        render: (t.elapsed(), fake.cpu().saturating_sub(cpu)),
        bytes: sizes.iter().sum(),
    })
}

/// Polls a job's status until it is final (the clock moves by itself on a
/// system-clock server with `--time-scale 0`).
async fn wait_final(api: &Api, id: &str) -> Result<Value, String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = api.status(id).await?;
        if s["status"] == "completed" || s["status"] == "failed" {
            return Ok(s);
        }
        if Instant::now() > deadline {
            return Err(format!("job {id} still {} after 120 s", s["status"]));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The full-size image URLs of a job's outputs.
async fn output_urls(api: &Api, id: &str) -> Result<Vec<String>, String> {
    let r = api
        .call(reqwest::Method::GET, &format!("/jobs/{id}/results"), None)
        .await?;
    r["results"]
        .as_array()
        .ok_or_else(|| format!("no results for {id}"))?
        .iter()
        .map(|x| str_field(&x["output"], &["full_size"]))
        .collect()
}
