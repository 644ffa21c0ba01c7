//! `mock-server`: parses flags, binds, serves until SIGTERM or SIGINT.

use clap::Parser;
use mock_server::Config;
use mock_server::config::LogFormat;

/// mimalloc: measured faster than glibc's malloc on the request path, and it
/// returns freed pages to the system, so memory falls after eviction
/// (`bench/report.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cfg = Config::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("MOCK_LOG").unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
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
    let signal = match mock_server::shutdown::signal() {
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
        Err(e) => {
            eprintln!("mock-server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
