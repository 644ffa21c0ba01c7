//! The soak of issue 20 (`make soak`, not part of `make test`): the fake
//! under token churn, a dead webhook receiver and stalled uploads, with its
//! RSS, descriptors and a normal client's status GET after each phase,
//! written to `bench/soak.md`.

mod report;
mod sampler;
mod stalled;
mod tokens;
mod webhooks;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use tokio::process::Command;

use crate::client::Api;
use crate::load::{self, Stats};
use crate::process::Server;

/// `f2m-bench soak`'s flags.
#[derive(Debug, clap::Args)]
pub struct SoakArgs {
    /// Where the report goes.
    #[arg(long, default_value = "bench/soak.md")]
    out: PathBuf,
    /// The fake's binary (`make soak` builds the quick profile).
    #[arg(long, default_value = "target/quick/mock-server")]
    server: PathBuf,
    /// Distinct `--any-token` tokens per wave (two waves).
    #[arg(long, default_value_t = 100_000)]
    tokens: usize,
    /// Jobs run while the webhook receiver never answers.
    #[arg(long, default_value_t = 20_000)]
    jobs: usize,
    /// Stalled uploads.
    #[arg(long, default_value_t = 1_000)]
    uploads: usize,
    /// The open-file limit (soft and hard) of the fake in the stalled phase.
    #[arg(long, default_value_t = 1_024)]
    nofile: u64,
    /// Seconds of webhook attempts timing out after the jobs are created.
    #[arg(long, default_value_t = 15)]
    settle: u64,
}

/// The flags of the fake in phases a to c. Its clock is manual, so moving
/// it runs jobs and expires idle tenants; jobs end when due.
const FLAGS: &[&str] = &[
    "--clock",
    "manual",
    "--time-scale",
    "0",
    "--any-token",
    "--any-token-idle-ttl",
    "1h",
];
/// The clock move that passes `--any-token-idle-ttl`.
const PAST_IDLE_TTL: &str = "61m";
/// `--body-timeout` in the stalled phase, seconds: short, so the soak does
/// not wait the default 30 s.
const BODY_TIMEOUT_SECS: u64 = 5;

/// The normal client: the fixture account's status GET of a finished job,
/// 4 keep-alive connections, 0.5 s unmeasured, then 3 s.
async fn status_latency(fake: &Server, job: &str) -> Stats {
    let t = crate::throughput::status_target(fake.addr, job);
    load::run(&t, 4, Duration::from_millis(500), Duration::from_secs(3)).await
}

/// A finished job of the fixture account.
async fn fixture_job(api: &Api) -> Result<String, String> {
    let inputs = api.inputs().await?;
    let job = api.create_job(&inputs.job_body(1)).await?;
    api.admin(reqwest::Method::POST, "/clock", Some(&json!({"advance": "1s"})))
        .await?;
    let s = api.status(&job).await?;
    if s["status"] == "completed" {
        Ok(job)
    } else {
        Err(format!("the fixture job is {}", s["status"]))
    }
}

/// Runs every phase and writes the report.
pub async fn run(args: SoakArgs) -> Result<(), String> {
    if !args.server.is_file() {
        return Err(format!(
            "no server binary at {} (cargo build --profile quick -p mock-server)",
            args.server.display()
        ));
    }
    // This side holds the stalled uploads and the receiver's sockets.
    rlimit::increase_nofile_limit(1 << 20).map_err(|e| e.to_string())?;
    let mut r = report::Soak {
        machine: crate::machine::Machine::read(),
        load_before: loadavg(),
        load_after: String::new(),
        server: args.server.display().to_string(),
        baseline: None,
        waves: Vec::new(),
        after_waves: None,
        dead: None,
        stalled: None,
    };
    let bin = args.server.as_path();
    {
        let fake = crate::fake(bin, FLAGS).await?;
        let api = Api::new(&fake.url());
        let job = fixture_job(&api).await?;
        r.baseline = Some((fake.rss(), fake.fds(), status_latency(&fake, &job).await));
        println!("a. baseline done");
        for wave in 1..=2 {
            let w = tokens::wave(&fake, &api, &job, wave, args.tokens, PAST_IDLE_TTL).await?;
            println!(
                "b. wave {wave}: {} of {} tokens answered, eviction {:.1} s, tenants {} -> {}",
                w.ok, w.tokens, w.evict_secs, w.tenants_before, w.tenants_after
            );
            r.waves.push(w);
        }
        r.after_waves = Some((fake.rss(), fake.fds(), status_latency(&fake, &job).await));
        r.dead = Some(webhooks::run(&fake, &api, &job, args.jobs, Duration::from_secs(args.settle)).await?);
        println!("c. dead receiver done");
    }
    {
        let mut cmd = Command::new("prlimit");
        cmd.arg(format!("--nofile={0}:{0}", args.nofile)).arg(bin);
        let body_timeout = format!("{BODY_TIMEOUT_SECS}s");
        let mut flags = FLAGS.to_vec();
        flags.extend(["--body-timeout", &body_timeout]);
        let fake = crate::start_fake(cmd, &flags).await?;
        let api = Api::new(&fake.url());
        let job = fixture_job(&api).await?;
        let timeout = Duration::from_secs(BODY_TIMEOUT_SECS);
        r.stalled = Some(stalled::run(&fake, &job, args.uploads, timeout).await?);
        println!("d. stalled uploads done");
    }
    r.load_after = loadavg();
    std::fs::write(&args.out, r.markdown()).map_err(|e| format!("{}: {e}", args.out.display()))?;
    println!("report: {}", args.out.display());
    Ok(())
}

/// `/proc/loadavg`'s three averages.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}
