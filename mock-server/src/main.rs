//! `mock-server`: parses flags, binds, serves until SIGTERM or SIGINT.

use std::io::Write as _;

use clap::Parser;
use mock_server::Config;
use mock_server::config::{Command, LogFormat};

/// mimalloc: measured faster than glibc's malloc on the request path, and it
/// returns freed pages to the system, so memory falls after eviction
/// (`bench/report.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cfg = Config::parse();
    match &cfg.command {
        Some(Command::Health { url, timeout }) => {
            let url = url.clone().unwrap_or_else(|| format!("http://127.0.0.1:{}", cfg.port));
            return health(&url, *timeout).await;
        }
        Some(Command::ExportFixtures { dir }) => {
            return match mock_server::storage::fixtures::FixtureSource::export_embedded(dir) {
                Ok(n) => {
                    // A closed stdout is not a failure of the export.
                    let _ = writeln!(std::io::stdout(), "wrote {n} files to {}", dir.display());
                    std::process::ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("mock-server export-fixtures: {e}");
                    std::process::ExitCode::FAILURE
                }
            };
        }
        None => {}
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("MOCK_LOG").unwrap_or_else(|_| "info".into());
    // Colour only for a person at a terminal: never into files or pipes,
    // and never with NO_COLOR set (https://no-color.org).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match cfg.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    let listener = match tokio::net::TcpListener::bind((cfg.host, cfg.port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("mock-server: cannot listen on {}:{}: {e}", cfg.host, cfg.port);
            return std::process::ExitCode::FAILURE;
        }
    };
    // Installed before `listening on` is printed: a signal sent as soon as
    // the line appears is caught, never the default (killed) action.
    let signal = match mock_server::shutdown::drain::signal() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mock-server: cannot watch for signals: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let shutdown = async {
        let name = signal.await;
        tracing::info!(signal = name, "signal received");
    };
    match mock_server::run(cfg, listener, shutdown).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // A data dir that cannot be used has its own code, so a script can
        // tell it from any other failed start.
        Err(e) if mock_server::persist::refusal::is_refusal(&e) => {
            eprintln!("mock-server: {e}");
            std::process::ExitCode::from(mock_server::persist::refusal::EXIT_CODE)
        }
        Err(e) => {
            eprintln!("mock-server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `mock-server health`: GET `URL/__admin/health`; 0 on a 200, else 1 with
/// the reason on stderr. Sends `MOCK_ADMIN_TOKEN` from the environment as a
/// bearer token when set, as a guarded control API asks for it.
async fn health(url: &str, timeout: std::time::Duration) -> std::process::ExitCode {
    let target = format!("{}/__admin/health", url.trim_end_matches('/'));
    let client = match reqwest::Client::builder().no_proxy().timeout(timeout).build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mock-server health: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut req = client.get(&target);
    if let Ok(token) = std::env::var("MOCK_ADMIN_TOKEN") {
        req = req.bearer_auth(token);
    }
    match req.send().await {
        Ok(r) if r.status() == reqwest::StatusCode::OK => {
            // The exit code is the answer (a container's health check may close stdout).
            let _ = writeln!(std::io::stdout(), "healthy: {target}");
            std::process::ExitCode::SUCCESS
        }
        Ok(r) => {
            eprintln!("mock-server health: {target} answered {}", r.status());
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("mock-server health: {target}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
