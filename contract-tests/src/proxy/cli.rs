//! The `proxy` and `cassette` subcommands' flags and what they run.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use super::{Options, Proxy};
use crate::cli::{ProfileArg, emit, usage};
use crate::report::Format;

/// `contract-tests proxy`.
#[derive(Debug, clap::Args)]
pub struct ProxyArgs {
    /// The real API's base URL (`https://v2.api.piktid.com`).
    #[arg(long, env = "PROXY_UPSTREAM")]
    upstream: String,
    /// Where the proxy listens; point the client's base URL at it.
    #[arg(long, env = "PROXY_LISTEN", default_value = "127.0.0.1:8090")]
    listen: std::net::SocketAddr,
    /// The proxy's URL as the client reaches it, for rewritten links
    /// (default: `http://` and the listening address).
    #[arg(long, env = "PROXY_PUBLIC_URL")]
    public_url: Option<String>,
    /// Point the links the upstream hands out (pre-signed uploads, images,
    /// ZIPs) at the proxy, so those requests pass through it too. Changes
    /// the bytes of the answers that hold links.
    #[arg(long, env = "PROXY_REWRITE_URLS")]
    rewrite_urls: bool,
    /// A fake running beside the proxy, asked every question too: statuses
    /// it would not have given and fields it does not produce are drifts.
    #[arg(long, env = "PROXY_COMPARE")]
    compare: Option<String>,
    /// The token the fake beside is asked with.
    #[arg(
        long,
        env = "PROXY_COMPARE_TOKEN",
        default_value = "f2m_demo_token",
        hide_env_values = true
    )]
    compare_token: String,
    /// Which promises the upstream is held to.
    #[arg(long, env = "PROXY_PROFILE", value_enum, default_value_t = ProfileArg::Vendor)]
    profile: ProfileArg,
    /// The drift report's format: in --output (the text still goes to
    /// stdout), else on stdout.
    #[arg(long, env = "PROXY_REPORT", value_enum, default_value_t = Format::Text)]
    report: Format,
    /// Write the drift report here on exit (Ctrl-C or SIGTERM).
    #[arg(long, env = "PROXY_OUTPUT")]
    output: Option<PathBuf>,
    /// Write the session's cassette (HAR and the flow's IDs, redacted)
    /// here on exit.
    #[arg(long, env = "PROXY_RECORD")]
    record: Option<PathBuf>,
}

/// `contract-tests cassette`.
#[derive(Debug, clap::Subcommand)]
pub enum CassetteCommand {
    /// Print a scenario of the fake (schemas/scenario.json) that replays
    /// the recorded job's shape: load it with `--scenarios` or
    /// `POST /__admin/scenarios`.
    ToScenario {
        /// The cassette (`proxy --record`).
        file: PathBuf,
        /// The scenario's name.
        #[arg(long, default_value = "recorded")]
        name: String,
    },
}

/// Runs the proxy until Ctrl-C or SIGTERM, then writes the report and the
/// cassette. Exit code 0 when nothing drifted, 1 when something did, 2 on
/// a usage error.
pub fn proxy(a: ProxyArgs) -> ExitCode {
    if !(a.upstream.starts_with("http://") || a.upstream.starts_with("https://")) {
        return usage("--upstream must be an http:// or https:// URL");
    }
    let opts = Options {
        upstream: a.upstream.clone(),
        profile: a.profile.into(),
        rewrite_urls: a.rewrite_urls,
        compare: a.compare.clone().map(|c| (c, a.compare_token.clone())),
    };
    let Ok(rt) = tokio::runtime::Runtime::new() else {
        return usage("cannot start the runtime");
    };
    rt.block_on(async {
        let listener = match tokio::net::TcpListener::bind(a.listen).await {
            Ok(l) => l,
            Err(e) => return usage(&format!("cannot listen on {}: {e}", a.listen)),
        };
        let proxy = match Proxy::start(opts, listener, a.public_url.clone()).await {
            Ok(p) => p,
            Err(e) => return usage(&format!("cannot start: {e}")),
        };
        crate::say!("listening on {}", proxy.url());
        let _ = std::io::stdout().flush();
        stopped().await;
        if let Some(path) = &a.record
            && let Err(e) = std::fs::write(path, proxy.cassette().await.to_string())
        {
            return usage(&format!("cannot write {}: {e}", path.display()));
        }
        proxy.settle().await;
        let drifts = proxy.drifts();
        emit(|f| drifts.render(f), !drifts.is_empty(), a.report, a.output.as_deref())
    })
}

/// Until Ctrl-C or SIGTERM.
async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// `contract-tests cassette …`.
pub fn cassette(c: CassetteCommand) -> ExitCode {
    match c {
        CassetteCommand::ToScenario { file, name } => {
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => return usage(&format!("cannot read {}: {e}", file.display())),
            };
            let cassette: serde_json::Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => return usage(&format!("{}: not JSON: {e}", file.display())),
            };
            match crate::cassette::to_scenario(&cassette, &name) {
                Ok(s) => {
                    crate::say!("{s:#}");
                    ExitCode::SUCCESS
                }
                Err(e) => usage(&format!("{}: {e}", file.display())),
            }
        }
    }
}
