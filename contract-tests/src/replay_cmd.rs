//! The `replay` subcommand's flags and exit codes; the work is
//! [`contract_tests::replay`]'s.

use std::path::PathBuf;
use std::process::ExitCode;

use contract_tests::suite::RunError;

use crate::usage;

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The session file (`GET /__admin/session` of the fake that ran it).
    file: PathBuf,
    /// Base URL of the fake to replay on (it is reset first).
    #[arg(long, env = "CONTRACT_BASE_URL")]
    base_url: String,
    /// A token the session's requests were sent with (repeatable): matched
    /// to each request by its caller digest; the file holds none.
    #[arg(
        long = "token",
        env = "CONTRACT_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    tokens: Vec<String>,
    /// Do not reset the fake first: replay on it as it is (a scenario
    /// chosen beforehand stays).
    #[arg(long)]
    no_reset: bool,
    /// The fake's `--admin-token`, if it has one.
    #[arg(long, env = "MOCK_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
}

/// `contract-tests replay FILE --base-url URL`.
pub fn replay(a: ReplayArgs) -> ExitCode {
    let session: serde_json::Value = match std::fs::read_to_string(&a.file)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(v) => v,
        Err(e) => return usage(&format!("{}: {e}", a.file.display())),
    };
    let Ok(rt) = tokio::runtime::Runtime::new() else {
        return usage("cannot start the runtime");
    };
    let steps = session["steps"].as_array().map_or(0, Vec::len);
    match rt.block_on(contract_tests::replay::replay(
        &session,
        &a.base_url,
        contract_tests::replay::Start {
            tokens: &a.tokens,
            admin_token: a.admin_token.as_deref(),
            no_reset: a.no_reset,
        },
    )) {
        Ok(diffs) if diffs.is_empty() => {
            contract_tests::say!("replayed {steps} steps: no differences");
            ExitCode::SUCCESS
        }
        Ok(diffs) => {
            for d in &diffs {
                contract_tests::say!("{d}");
            }
            contract_tests::say!("replayed {steps} steps: {} differences", diffs.len());
            ExitCode::FAILURE
        }
        Err(RunError::Usage(m)) => usage(&m),
        Err(RunError::Unreachable(m)) => {
            eprintln!("contract-tests: the fake is unreachable: {m}");
            ExitCode::from(3)
        }
    }
}
