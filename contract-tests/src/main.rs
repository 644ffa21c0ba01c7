//! `contract-tests`: `run` checks a server end to end; `validate` checks a
//! payload offline; `schemas` lists the schema names.

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use contract_tests::report::{Format, render};
use contract_tests::suite::{Config, run};

/// Contract tests for the PiktID v2 flat-lay-on-model API.
#[derive(Debug, Parser)]
#[command(name = "contract-tests", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the documented flow against a server and probe every rule.
    Run {
        /// Base URL of the server.
        #[arg(long, env = "CONTRACT_BASE_URL", default_value = "http://127.0.0.1:8080")]
        base_url: String,
        /// Bearer token.
        #[arg(long, env = "CONTRACT_TOKEN", default_value = "f2m_demo_token")]
        token: String,
        /// Extra header on every API request, `Name: value` (repeatable).
        #[arg(long = "header", env = "CONTRACT_HEADERS", value_delimiter = '\n')]
        headers: Vec<String>,
        /// How long the job may take.
        #[arg(long, env = "CONTRACT_JOB_TIMEOUT_SECS", default_value_t = 300)]
        job_timeout_secs: u64,
        /// Listen here for webhook deliveries and check every one (signature,
        /// schema), e.g. 127.0.0.1:9099.
        #[arg(long, env = "CONTRACT_WEBHOOK_LISTEN")]
        webhook_listen: Option<std::net::SocketAddr>,
        /// The URL the server should POST webhooks to (default
        /// http://LISTEN-ADDRESS/hook).
        #[arg(long, env = "CONTRACT_WEBHOOK_URL")]
        webhook_url: Option<String>,
        /// Report format.
        #[arg(long, env = "CONTRACT_REPORT", value_enum, default_value_t = Format::Text)]
        report: Format,
        /// Write the report here instead of stdout.
        #[arg(long, env = "CONTRACT_OUTPUT")]
        output: Option<PathBuf>,
    },
    /// List the schema names.
    Schemas,
    /// Validate a JSON payload against a schema.
    Validate {
        /// Schema name, e.g. `job-create-request.json`.
        #[arg(long, env = "CONTRACT_SCHEMA")]
        schema: String,
        /// The payload file; stdin when absent.
        file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Schemas => {
            for name in contract_tests::schema_names() {
                println!("{name}");
            }
            ExitCode::SUCCESS
        }
        Command::Validate { schema, file } => validate(&schema, file),
        Command::Run {
            base_url,
            token,
            headers,
            job_timeout_secs,
            webhook_listen,
            webhook_url,
            report,
            output,
        } => {
            let mut parsed = Vec::new();
            for h in headers.iter().filter(|h| !h.trim().is_empty()) {
                match h.split_once(':') {
                    Some((k, v)) => parsed.push((k.trim().to_owned(), v.trim().to_owned())),
                    None => {
                        eprintln!("contract-tests: --header must be 'Name: value', got {h:?}");
                        return ExitCode::from(2);
                    }
                }
            }
            let cfg = Config {
                base_url,
                token,
                headers: parsed,
                job_timeout: Duration::from_secs(job_timeout_secs),
                poll_interval: Duration::from_millis(500),
                webhook: webhook_listen.map(|a| (a, webhook_url.unwrap_or_else(|| format!("http://{a}/hook")))),
            };
            let live = std::io::stderr().is_terminal();
            let progress = move |name: &str| {
                if live {
                    eprint!("\r\x1b[2K… {name}");
                }
            };
            let Ok(rt) = tokio::runtime::Runtime::new() else {
                eprintln!("contract-tests: cannot start the runtime");
                return ExitCode::from(2);
            };
            let results = rt.block_on(run(&cfg, &progress));
            if live {
                eprint!("\r\x1b[2K");
            }
            let text = render(&results, report);
            match output {
                Some(path) => {
                    if let Err(e) = std::fs::write(&path, &text) {
                        eprintln!("contract-tests: cannot write {}: {e}", path.display());
                        return ExitCode::from(2);
                    }
                    print!("{}", render(&results, Format::Text));
                }
                None => print!("{text}"),
            }
            let _ = std::io::stdout().flush();
            if results.iter().all(|r| r.passed) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn validate(schema: &str, file: Option<PathBuf>) -> ExitCode {
    let mut text = String::new();
    let read = match &file {
        Some(p) => std::fs::read_to_string(p).map(|t| text = t),
        None => std::io::stdin().read_to_string(&mut text).map(|_| ()),
    };
    if let Err(e) = read {
        eprintln!("contract-tests: cannot read the payload: {e}");
        return ExitCode::from(2);
    }
    let payload: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("contract-tests: not JSON: {e}");
            return ExitCode::from(2);
        }
    };
    match contract_tests::validate(schema, &payload) {
        Ok(()) => {
            println!("valid against {schema}");
            ExitCode::SUCCESS
        }
        Err(errs) => {
            for e in errs {
                println!("{e}");
            }
            ExitCode::FAILURE
        }
    }
}
