//! `f2m-bench`: the benchmark of flat2model-mock (`make bench`), and the
//! bare hyper server it uses as a ceiling (`f2m-bench hello`).

mod client;
mod fanout;
mod footprint;
mod jobs;
mod load;
mod machine;
mod peers;
mod process;
mod render;
mod report;
mod soak;
mod throughput;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, Subcommand};
use tokio::process::Command;

use crate::client::Api;
use crate::process::Server;
use crate::report::Results;

/// The fixture account's token.
pub const TOKEN: &str = "f2m_demo_token";

/// The repository root (the bench's parent folder).
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[derive(Debug, Parser)]
#[command(name = "f2m-bench", about = "The benchmark of flat2model-mock")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Runs every measurement and writes the Markdown report.
    Run(RunArgs),
    /// One load run against any server, for profiling: prints req/s and latency.
    Load {
        /// `host:port`.
        #[arg(long)]
        addr: std::net::SocketAddr,
        /// Path (with query) to GET, with the fixture token.
        #[arg(long)]
        path: String,
        /// Connections.
        #[arg(long, default_value_t = 100)]
        conns: usize,
        /// Measured seconds.
        #[arg(long, default_value_t = 10)]
        secs: u64,
    },
    /// The soak of issue 20 (`make soak`): token churn, a dead webhook
    /// receiver, stalled uploads under a low open-file limit.
    Soak(soak::SoakArgs),
    /// The bare hyper ceiling: answers every request with `--body`.
    Hello {
        /// The JSON body to answer.
        #[arg(long)]
        body: String,
    },
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Tiny sizes: checks that every part of the bench works (make test).
    #[arg(long, env = "BENCH_SMOKE")]
    smoke: bool,
    /// Where the report goes.
    #[arg(long, env = "BENCH_OUT", default_value = "bench/report.md")]
    out: PathBuf,
    /// The fake's binary (a release build).
    #[arg(long, env = "BENCH_SERVER", default_value = "target/release/mock-server")]
    server: PathBuf,
    /// Leave Prism and WireMock out (the bare hyper server still runs): the
    /// smoke run in `make test` needs no npm or Java; `make bench` runs them.
    #[arg(long, env = "BENCH_SKIP_PEERS")]
    skip_peers: bool,
    /// Folder holding the pinned npm peers' `node_modules` (Prism, WireMock).
    #[arg(long, env = "BENCH_PEERS", default_value = "bench/peers")]
    peers: PathBuf,
    /// Hand-written profiling notes, appended to the report.
    #[arg(long, env = "BENCH_NOTES", default_value = "bench/profile-notes.md")]
    notes: PathBuf,
    /// Largest SSE fan-out (the report also runs 1 % and 10 % of it).
    #[arg(long, env = "BENCH_SSE", default_value_t = 10_000)]
    sse: usize,
    /// Only these sections (for profiling one of them); the report leaves
    /// the others out. Default: all.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Section>,
}

/// The parts of the bench, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Section {
    /// The 4K render against a bare encode.
    Render,
    /// Start-up, idle RSS, RSS with jobs held and after eviction.
    Footprint,
    /// Status GET and job creation on the fake, then on the peers.
    Requests,
    /// SSE fan-out.
    Sse,
    /// Job throughput.
    Jobs,
}

/// How big each measurement is.
#[derive(Debug, Clone)]
pub struct Sizes {
    /// Measured time per load run.
    pub duration: Duration,
    /// Unmeasured time before it.
    pub warmup: Duration,
    /// JVM warm-up before WireMock is measured.
    pub jvm_warmup: Duration,
    /// Connection counts.
    pub conns: Vec<usize>,
    /// SSE subscriber counts.
    pub sse: Vec<usize>,
    /// Jobs in the job-throughput run.
    pub jobs: usize,
    /// Outputs per job.
    pub outputs: u32,
    /// Jobs held in the memory run.
    pub memory_jobs: usize,
    /// Side of the rendered output.
    pub render_side: u32,
    /// Render runs (best of).
    pub render_runs: usize,
    /// Start-ups timed.
    pub starts: usize,
}

impl Sizes {
    fn full(sse: usize) -> Self {
        Self {
            duration: Duration::from_secs(5),
            warmup: Duration::from_secs(1),
            jvm_warmup: Duration::from_secs(10),
            conns: vec![1, 10, 100],
            sse: vec![sse / 100, sse / 10, sse],
            jobs: 1_000,
            outputs: 4,
            memory_jobs: 10_000,
            render_side: 4096,
            render_runs: 5,
            starts: 7,
        }
    }

    fn smoke() -> Self {
        Self {
            duration: Duration::from_millis(200),
            warmup: Duration::from_millis(50),
            jvm_warmup: Duration::from_millis(200),
            conns: vec![1, 4],
            sse: vec![20],
            jobs: 6,
            outputs: 2,
            memory_jobs: 30,
            render_side: 512,
            render_runs: 1,
            starts: 2,
        }
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Two workers, like `wrk -t2`: the generator and the server share the cores.
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("f2m-bench: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = match cli.cmd {
        Cmd::Hello { body } => rt.block_on(peers::serve_hello(body)).map_err(|e| e.to_string()),
        Cmd::Run(args) => rt.block_on(run(args)),
        Cmd::Soak(args) => rt.block_on(soak::run(args)),
        Cmd::Load {
            addr,
            path,
            conns,
            secs,
        } => {
            let t = load::Target::get(addr, &path, TOKEN);
            let s = rt.block_on(load::run(&t, conns, Duration::from_secs(1), Duration::from_secs(secs)));
            println!(
                "{conns} connections: {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms, {} errors",
                s.rps(),
                s.quantile_ms(0.5),
                s.quantile_ms(0.99),
                s.errors
            );
            Ok(())
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("f2m-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Starts the fake from `bin` with `extra` flags.
async fn fake(bin: &Path, extra: &[&str]) -> Result<Server, String> {
    start_fake(Command::new(bin), extra).await
}

/// Starts the fake with `cmd` (its binary, or a wrapper such as `prlimit`
/// given the binary as its first argument) and `extra` flags.
async fn start_fake(mut cmd: Command, extra: &[&str]) -> Result<Server, String> {
    cmd.args([
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--job-rate-limit",
        "0",
        "--fixtures",
    ])
    .arg(repo().join("fixtures"))
    .args(extra);
    Server::start_announcing("the fake", cmd, "/__admin/health").await
}

/// A fresh fake with `extra` flags, a client of it, and the inputs (an
/// identity and an uploaded garment) its jobs are made from.
async fn fake_with_inputs(bin: &Path, extra: &[&str]) -> Result<(Server, Api, client::Inputs), String> {
    let server = fake(bin, extra).await?;
    let api = Api::new(&server.url());
    let inputs = api.inputs().await?;
    Ok((server, api, inputs))
}

/// Jobs wait for the control API: a manual clock, real-time-like durations.
const HELD: &[&str] = &["--clock", "manual"];
/// Jobs end when looked at, and the clock can jump past every TTL.
const MANUAL: &[&str] = &["--clock", "manual", "--time-scale", "0"];
const INSTANT: &[&str] = &["--time-scale", "0"];

async fn run(args: RunArgs) -> Result<(), String> {
    if !args.server.is_file() {
        return Err(format!(
            "no server binary at {} (cargo build --release)",
            args.server.display()
        ));
    }
    // 10,000 SSE subscribers need 10,000 sockets here and in the server,
    // which inherits this limit.
    let nofile = rlimit::increase_nofile_limit(1 << 20).map_err(|e| e.to_string())?;
    let sizes = if args.smoke {
        Sizes::smoke()
    } else {
        Sizes::full(args.sse)
    };
    if sizes.sse.iter().any(|&n| n as u64 + 1024 > nofile) {
        return Err(format!(
            "the file-descriptor limit is {nofile}: too low for {:?} subscribers",
            sizes.sse
        ));
    }
    let mut r = Results {
        smoke: args.smoke,
        machine: machine::Machine::read(),
        load: (sizes.duration.as_secs_f64(), sizes.conns.clone()),
        status: None,
        create: None,
        peers: Vec::new(),
        peer_errors: Vec::new(),
        peers_skipped: args.skip_peers,
        fanouts: Vec::new(),
        jobs: None,
        render: None,
        footprint: None,
        failures: Vec::new(),
    };
    let bin = args.server.as_path();
    let wanted = |s: Section| args.only.is_empty() || args.only.contains(&s);
    if wanted(Section::Render) {
        match render::run(sizes.render_side, sizes.render_runs) {
            Ok(x) => r.render = Some(x),
            Err(e) => r.failures.push(format!("render: {e}")),
        }
    }
    if wanted(Section::Footprint) {
        match footprint::run(
            || fake(bin, MANUAL),
            sizes.starts,
            sizes.memory_jobs,
            sizes.outputs.max(4),
        )
        .await
        {
            Ok(x) => r.footprint = Some(x),
            Err(e) => r.failures.push(format!("start-up and memory: {e}")),
        }
    }
    if wanted(Section::Requests) {
        match requests(bin, &sizes, &mut r).await {
            Ok((job, body)) => peer_runs(&args, &sizes, &job, &body, &mut r).await,
            Err(e) => r.failures.push(format!("request throughput: {e}")),
        }
    }
    for &n in sizes.sse.iter().filter(|_| wanted(Section::Sse)) {
        let f = async {
            let (server, api, inputs) = fake_with_inputs(bin, HELD).await?;
            fanout::run(&server, &api, &inputs, n).await
        }
        .await;
        match f {
            Ok(f) => r.fanouts.push(f),
            Err(e) => r.failures.push(format!("SSE fan-out of {n}: {e}")),
        }
    }
    if wanted(Section::Jobs) {
        let j = async {
            let (server, api, inputs) = fake_with_inputs(bin, INSTANT).await?;
            jobs::run(&server, &api, &inputs, sizes.jobs, sizes.outputs).await
        }
        .await;
        match j {
            Ok(j) => r.jobs = Some(j),
            Err(e) => r.failures.push(format!("job throughput: {e}")),
        }
    }
    let notes = std::fs::read_to_string(&args.notes).unwrap_or_default();
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    std::fs::write(&args.out, r.markdown(&notes)).map_err(|e| format!("{}: {e}", args.out.display()))?;
    println!("report: {}", args.out.display());
    if r.failures.is_empty() && r.peer_errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "some measurements failed: {:?}",
            [r.failures, r.peer_errors].concat()
        ))
    }
}

/// The fake's status GET and job creation; returns the job measured and
/// its status body, for the peers to serve.
async fn requests(bin: &Path, sizes: &Sizes, r: &mut Results) -> Result<(String, String), String> {
    let (server, api, inputs) = fake_with_inputs(bin, INSTANT).await?;
    let job = api.create_job(&inputs.job_body(sizes.outputs)).await?;
    let status = loop {
        let s = api.status(&job).await?;
        if s["status"] == "completed" {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let target = throughput::status_target(server.addr, &job);
    r.status = Some(throughput::series("the fake", "status", &target, sizes, Duration::ZERO).await);
    let body = inputs.job_body(1);
    let create = load::Target::post_json(server.addr, "/flat-2-model", TOKEN, &body);
    let label = format!("Body: `{body}`; the server runs with `--time-scale 0`, so every job also runs to its end.");
    r.create = Some(throughput::series("the fake", &label, &create, sizes, Duration::ZERO).await);
    Ok((job, status.to_string()))
}

/// The same status GET on the bare hyper server, Prism and WireMock, one
/// at a time.
async fn peer_runs(args: &RunArgs, sizes: &Sizes, job: &str, body: &str, r: &mut Results) {
    let path = peers::status_path(job);
    let found = peers::PeerPaths::find(&args.peers);
    let openapi = repo().join("schemas/openapi.yaml");
    let starts: [(&str, Duration); 3] = [
        ("bare hyper", Duration::ZERO),
        ("Prism", Duration::ZERO),
        ("WireMock", sizes.jvm_warmup),
    ];
    for (name, warmup) in starts {
        if args.skip_peers && name != "bare hyper" {
            continue;
        }
        let server = match name {
            "bare hyper" => peers::hello(body).await,
            "Prism" => peers::prism(&found.prism, &openapi, &path).await,
            _ => match &found.wiremock_jar {
                Some(jar) => peers::wiremock(jar, body, &path).await,
                None => Err(format!(
                    "no WireMock jar under {} (make bench-peers)",
                    args.peers.display()
                )),
            },
        };
        match server {
            Ok(s) => {
                let target = load::Target::get(s.addr, &path, TOKEN);
                r.peers
                    .push(throughput::series(name, "status", &target, sizes, warmup).await);
            }
            Err(e) => r.peer_errors.push(e),
        }
    }
}
