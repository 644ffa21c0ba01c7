//! `contract-tests`: `schemas` lists the schema names; `validate --schema
//! NAME [FILE]` checks a payload (a file, or stdin) offline.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Contract tests for the PiktID v2 flat-lay-on-model API.
#[derive(Debug, Parser)]
#[command(name = "contract-tests", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the schema names.
    Schemas,
    /// Validate a JSON payload against a schema.
    Validate {
        /// Schema name, e.g. `upload-request.json`.
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
        Command::Validate { schema, file } => {
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
            match contract_tests::validate(&schema, &payload) {
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
    }
}
