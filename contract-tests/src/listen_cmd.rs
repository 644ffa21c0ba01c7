//! The `listen` and `trigger` subcommands' flags and exit codes; the work
//! is [`contract_tests::listen`]'s.

use std::io::Write as _;
use std::process::ExitCode;

use contract_tests::listen::{Listen, listen as run_listen, trigger as run_trigger};
use contract_tests::suite::RunError;

use crate::usage;

#[derive(Debug, clap::Args)]
pub struct ListenArgs {
    /// The fake to register on (with --token); without it, the URL to
    /// register is printed.
    #[arg(long, env = "CONTRACT_BASE_URL", requires = "token")]
    base_url: Option<String>,
    /// The tenant's bearer token: the receiver becomes its webhook.
    #[arg(long, env = "CONTRACT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The signing secret, when the receiver was registered by hand.
    #[arg(
        long,
        env = "CONTRACT_WEBHOOK_SECRET",
        hide_env_values = true,
        conflicts_with = "token"
    )]
    secret: Option<String>,
    /// Where the receiver binds.
    #[arg(long, env = "CONTRACT_WEBHOOK_LISTEN", default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    /// The URL to register when the fake reaches this machine under
    /// another address.
    #[arg(long, env = "CONTRACT_WEBHOOK_URL")]
    webhook_url: Option<String>,
    /// A local app: each delivery is POSTed there with its original bytes
    /// and headers, and its answer goes back to the fake.
    #[arg(long)]
    forward_to: Option<String>,
    /// Stop after this many deliveries (default: until interrupted).
    #[arg(long)]
    max_events: Option<usize>,
}

#[derive(Debug, clap::Args)]
pub struct TriggerArgs {
    /// batch_edit.completed, batch_edit.failed or batch_edit.aborted.
    event: String,
    /// Base URL of the fake.
    #[arg(long, env = "CONTRACT_BASE_URL")]
    base_url: String,
    /// The tenant's bearer token.
    #[arg(long, env = "CONTRACT_TOKEN", hide_env_values = true, conflicts_with = "account")]
    token: Option<String>,
    /// The tenant's id or e-mail.
    #[arg(long, env = "CONTRACT_ACCOUNT")]
    account: Option<String>,
    /// Its first attempt fails (a simulated 503); the retry follows 5 s
    /// later on the fake's clock.
    #[arg(long)]
    retried: bool,
    /// The fake's `--admin-token`, if it has one.
    #[arg(long, env = "MOCK_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
}

fn outcome(r: Result<(), RunError>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(RunError::Usage(m)) => usage(&m),
        Err(RunError::Unreachable(m)) => {
            eprintln!("contract-tests: the fake is unreachable: {m}");
            ExitCode::from(3)
        }
    }
}

/// `contract-tests listen`.
pub fn listen(a: ListenArgs) -> ExitCode {
    let cfg = Listen {
        bind: a.listen,
        public_url: a.webhook_url,
        register: a.base_url.zip(a.token),
        secret: a.secret,
        forward_to: a.forward_to,
        max_events: a.max_events,
    };
    let Ok(rt) = tokio::runtime::Runtime::new() else {
        return usage("cannot start the runtime");
    };
    outcome(rt.block_on(run_listen(cfg, |line| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    })))
}

/// `contract-tests trigger EVENT`.
pub fn trigger(a: TriggerArgs) -> ExitCode {
    if a.token.is_none() && a.account.is_none() {
        return usage("give --token or --account: whose webhook");
    }
    let Ok(rt) = tokio::runtime::Runtime::new() else {
        return usage("cannot start the runtime");
    };
    let res = rt.block_on(run_trigger(
        &a.base_url,
        a.admin_token,
        &a.event,
        (a.token, a.account),
        a.retried,
    ));
    outcome(res.map(|v| contract_tests::say!("{v}")))
}
