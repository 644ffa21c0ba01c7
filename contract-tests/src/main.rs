//! `contract-tests`: `run` checks a server end to end; `verify-client`
//! judges a client by the fake's journal of what it sent; `validate`
//! checks a payload offline; `proxy` stands in front of the real API and
//! reports its drift (`cassette to-scenario` replays a recorded session);
//! `listen` and `trigger` try a webhook receiver ([`listen_cmd`]);
//! `schemas` lists the schema names.

use std::io::{IsTerminal as _, Read as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

mod listen_cmd;
mod replay_cmd;

use clap::{Parser, Subcommand};
use contract_tests::cli::{ProfileArg, USAGE, usage};
use contract_tests::report::{Format, RunReport, render};
use contract_tests::suite::{Config, Credentials, Image, RunError, run};

/// Contract tests for the PiktID v2 flat-lay-on-model API.
#[derive(Debug, Parser)]
#[command(name = "contract-tests", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the documented flow against a server and probe every rule
    /// (docs/contract-tests.md). Exit codes: 0 every check passed or was
    /// skipped with its reason, 1 a contract failure, 2 a usage error
    /// (bad flags, refused credentials), 3 the server is unreachable.
    Run(Box<RunArgs>),
    /// Judge a client by what a running fake recorded of it
    /// (docs/ci.md): each request that broke the contract or ignored a
    /// `Retry-After`, and each expectation not met, is a failed test case.
    /// Exit codes: 0 clean, 1 a finding, 2 a usage error, 3 unreachable.
    VerifyClient(Box<VerifyArgs>),
    /// A forwarding proxy in front of the real API that checks every
    /// exchange against the vendor profile and writes a drift report and
    /// a cassette on exit (docs/proxy.md). Exit codes: 0 no drift, 1 a
    /// drift, 2 a usage error.
    Proxy(Box<contract_tests::proxy::cli::ProxyArgs>),
    /// Work with a recorded session (docs/proxy.md).
    #[command(subcommand)]
    Cassette(contract_tests::proxy::cli::CassetteCommand),
    /// A webhook receiver, as `stripe listen`: registers itself on the fake
    /// (with --base-url and --token) or prints what to register, checks
    /// every signature, prints each event, forwards it to --forward-to.
    Listen(Box<listen_cmd::ListenArgs>),
    /// Make the fake emit a notification to the registered webhook, as
    /// `stripe trigger`: batch_edit.completed, .failed or .aborted.
    Trigger(Box<listen_cmd::TriggerArgs>),
    /// Play a session exported by the fake (`GET /__admin/session`) on a
    /// fresh fake and report every answer that differs. Exit codes: 0 it
    /// reproduced, 1 a difference, 2 a usage error, 3 unreachable.
    Replay(Box<replay_cmd::ReplayArgs>),
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

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Base URL of the server (required: there is no default server).
    #[arg(long, env = "CONTRACT_BASE_URL")]
    base_url: String,
    /// Bearer token of the account under test.
    #[arg(long, env = "CONTRACT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// E-mail for `POST /auth/login` when no --token is given.
    #[arg(long, env = "CONTRACT_EMAIL")]
    email: Option<String>,
    /// Password for `POST /auth/login`.
    #[arg(long, env = "CONTRACT_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// A second account's token, for the isolation checks (against the fake
    /// the second fixture account is used when none is given).
    #[arg(long, env = "CONTRACT_OTHER_TOKEN", hide_env_values = true)]
    other_token: Option<String>,
    /// A second account's e-mail, logged in when no --other-token is given.
    #[arg(long, env = "CONTRACT_OTHER_EMAIL")]
    other_email: Option<String>,
    /// The second account's password.
    #[arg(long, env = "CONTRACT_OTHER_PASSWORD", hide_env_values = true)]
    other_password: Option<String>,
    /// Which promises the server is held to.
    #[arg(long, env = "CONTRACT_PROFILE", value_enum, default_value_t = ProfileArg::Vendor)]
    profile: ProfileArg,
    /// Extra header on every API request, `Name: value` (repeatable).
    #[arg(long = "header", env = "CONTRACT_HEADERS", value_delimiter = '\n')]
    headers: Vec<String>,
    /// How long the job may take, in seconds.
    #[arg(long, env = "CONTRACT_JOB_TIMEOUT_SECS", default_value_t = 600)]
    job_timeout_secs: u64,
    /// Seconds between status polls (the fake's clock moves by as much).
    #[arg(long, env = "CONTRACT_POLL_INTERVAL_SECS", default_value_t = 3.0)]
    poll_interval_secs: f64,
    /// Job requests per minute at most (the vendor allows 5).
    #[arg(long, env = "CONTRACT_JOBS_PER_MINUTE", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=5))]
    jobs_per_minute: u16,
    /// Billed jobs the run may create: 1 for the main job, 5 more for the
    /// rate-limit check (default: no limit).
    #[arg(long, env = "CONTRACT_MAX_JOBS")]
    max_jobs: Option<u32>,
    /// Skip the rate-limit check (it creates 5 billed jobs).
    #[arg(long, env = "CONTRACT_NO_RATE_LIMIT_CHECK")]
    no_rate_limit_check: bool,
    /// Where the webhook listener binds (default 127.0.0.1, any port).
    #[arg(long, env = "CONTRACT_WEBHOOK_LISTEN", default_value = "127.0.0.1:0")]
    webhook_listen: std::net::SocketAddr,
    /// The URL registered for the listener, when the server must reach it
    /// under another address (a tunnel, a public host).
    #[arg(long, env = "CONTRACT_WEBHOOK_URL")]
    webhook_url: Option<String>,
    /// Skip every webhook check (the server cannot reach this machine).
    #[arg(long, env = "CONTRACT_NO_WEBHOOKS")]
    no_webhooks: bool,
    /// Seconds to wait for webhook deliveries and their retry.
    #[arg(long, env = "CONTRACT_WEBHOOK_WAIT_SECS", default_value_t = 120)]
    webhook_wait_secs: u64,
    /// The largest upload the server takes, in bytes: the oversize probe
    /// sends one more (default: the fake's 25 MiB on the fake, else skipped).
    #[arg(long, env = "CONTRACT_MAX_UPLOAD_BYTES")]
    max_upload_bytes: Option<usize>,
    /// Seconds the run may wait for a link or token to expire on a server
    /// without the control API.
    #[arg(long, env = "CONTRACT_MAX_EXPIRY_WAIT_SECS", default_value_t = 60)]
    max_expiry_wait_secs: u64,
    /// A real identity photo (default: the fixture's).
    #[arg(long, env = "CONTRACT_IDENTITY_IMAGE")]
    identity_image: Option<PathBuf>,
    /// A real flat-lay photo, JPEG or PNG (default: the fixture's).
    #[arg(long, env = "CONTRACT_SKU_IMAGE")]
    sku_image: Option<PathBuf>,
    /// Report format.
    #[arg(long, env = "CONTRACT_REPORT", value_enum, default_value_t = Format::Text)]
    report: Format,
    /// Write the report here instead of stdout.
    #[arg(long, env = "CONTRACT_OUTPUT")]
    output: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct VerifyArgs {
    /// Base URL of the fake.
    #[arg(long, env = "CONTRACT_BASE_URL")]
    base_url: String,
    /// The client's bearer token: only its requests are judged (the token
    /// stays here; the journal is asked for its digest).
    #[arg(long, env = "CONTRACT_TOKEN", hide_env_values = true, conflicts_with_all = ["caller", "account"])]
    token: Option<String>,
    /// The journal's 12-hex caller digest of the client's token.
    #[arg(long, env = "CONTRACT_CALLER", conflicts_with = "account")]
    caller: Option<String>,
    /// An account (tenant id or e-mail): every token of it.
    #[arg(long, env = "CONTRACT_ACCOUNT")]
    account: Option<String>,
    /// Only requests numbered above this journal `seq`.
    #[arg(long, env = "CONTRACT_AFTER")]
    after: Option<u64>,
    /// Only requests at or after this RFC 3339 time (the fake's clock).
    #[arg(long, env = "CONTRACT_SINCE")]
    since: Option<String>,
    /// Only requests before this RFC 3339 time.
    #[arg(long, env = "CONTRACT_UNTIL")]
    until: Option<String>,
    /// An expectation file (`{"expect": [{"method", "path", "status",
    /// "authenticated", "at_least", "at_most", "name"}]}`).
    #[arg(long, env = "CONTRACT_EXPECT")]
    expect: Option<PathBuf>,
    /// The fake's `--admin-token`, if it has one.
    #[arg(long, env = "MOCK_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Report format.
    #[arg(long, env = "CONTRACT_REPORT", value_enum, default_value_t = Format::Text)]
    report: Format,
    /// Write the report here (the text report still goes to stdout).
    #[arg(long, env = "CONTRACT_OUTPUT")]
    output: Option<PathBuf>,
    /// Write the flagged requests, with their bodies, as a HAR file here.
    #[arg(long, env = "CONTRACT_HAR")]
    har: Option<PathBuf>,
    /// Put every selected request in the HAR, not only the flagged ones
    /// (their bodies need the fake's `--journal-bodies all`).
    #[arg(long, env = "CONTRACT_HAR_ALL", requires = "har")]
    har_all: bool,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Schemas => {
            for name in contract_tests::schema_names() {
                contract_tests::say!("{name}");
            }
            ExitCode::SUCCESS
        }
        Command::Validate { schema, file } => validate(&schema, file),
        Command::Proxy(args) => contract_tests::proxy::cli::proxy(*args),
        Command::Cassette(c) => contract_tests::proxy::cli::cassette(c),
        Command::Run(args) => run_command(*args),
        Command::VerifyClient(args) => verify_client(*args),
        Command::Listen(args) => listen_cmd::listen(*args),
        Command::Trigger(args) => listen_cmd::trigger(*args),
        Command::Replay(args) => replay_cmd::replay(*args),
    }
}

fn image(path: Option<&PathBuf>, default: Image) -> Result<Image, String> {
    let Some(path) = path else { return Ok(default) };
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let filename = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| default.filename.clone());
    Ok(Image { filename, bytes })
}

fn run_command(a: RunArgs) -> ExitCode {
    let mut headers = Vec::new();
    for h in a.headers.iter().filter(|h| !h.trim().is_empty()) {
        match h.split_once(':') {
            Some((k, v)) => headers.push((k.trim().to_owned(), v.trim().to_owned())),
            None => return usage(&format!("--header must be 'Name: value', got {h:?}")),
        }
    }
    let account = match (a.token, a.email, a.password) {
        (Some(t), _, _) => Credentials::Token(t),
        (None, Some(e), Some(p)) => Credentials::Login(e, p),
        _ => return usage("give --token, or --email and --password"),
    };
    let other = match (a.other_token, a.other_email, a.other_password) {
        (Some(t), _, _) => Some(Credentials::Token(t)),
        (None, Some(e), Some(p)) => Some(Credentials::Login(e, p)),
        (None, None, None) => None,
        _ => return usage("--other-email needs --other-password"),
    };
    if !(a.poll_interval_secs.is_finite() && a.poll_interval_secs > 0.0) {
        return usage("--poll-interval-secs must be a positive number");
    }
    let mut cfg = Config::new(&a.base_url, account);
    let images = (
        image(a.identity_image.as_ref(), cfg.identity_image.clone()),
        image(a.sku_image.as_ref(), cfg.sku_image.clone()),
    );
    match images {
        (Ok(i), Ok(s)) => {
            cfg.identity_image = i;
            cfg.sku_image = s;
        }
        (Err(e), _) | (_, Err(e)) => return usage(&e),
    }
    cfg.other = other;
    cfg.profile = a.profile.into();
    cfg.headers = headers;
    cfg.job_timeout = Duration::from_secs(a.job_timeout_secs);
    cfg.poll_interval = Duration::from_secs_f64(a.poll_interval_secs);
    cfg.jobs_per_minute = usize::from(a.jobs_per_minute);
    cfg.max_jobs = a.max_jobs;
    cfg.rate_limit_check = !a.no_rate_limit_check;
    cfg.webhook_listen = (!a.no_webhooks).then_some(a.webhook_listen);
    cfg.webhook_url = a.webhook_url;
    cfg.webhook_wait = Duration::from_secs(a.webhook_wait_secs);
    cfg.max_upload_bytes = a.max_upload_bytes;
    cfg.max_expiry_wait = Duration::from_secs(a.max_expiry_wait_secs);

    let live = std::io::stderr().is_terminal();
    let progress = move |name: &str| {
        if live {
            eprint!("\r\x1b[2K… {name}");
        }
    };
    let Ok(rt) = tokio::runtime::Runtime::new() else {
        return usage("cannot start the runtime");
    };
    let outcome = rt.block_on(run(&cfg, &progress));
    if live {
        eprint!("\r\x1b[2K");
    }
    let report = match outcome {
        Ok(r) => r,
        Err(RunError::Usage(m)) => return usage(&m),
        Err(RunError::Unreachable(m)) => {
            eprintln!("contract-tests: the server is unreachable: {m}");
            return ExitCode::from(3);
        }
    };
    emit(&report, a.report, a.output.as_ref())
}

/// Writes `report` as asked, and returns the exit code of its verdict.
fn emit(report: &RunReport, format: Format, output: Option<&PathBuf>) -> ExitCode {
    let rendered = |f| render(report, f);
    contract_tests::cli::emit(rendered, report.failed() > 0, format, output.map(PathBuf::as_path))
}

fn verify_client(a: VerifyArgs) -> ExitCode {
    use contract_tests::gate::{Expectations, Fake, Selection, caller_of, judge};
    let expectations = match &a.expect {
        None => Vec::new(),
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| Expectations::parse(&t))
        {
            Ok(x) => x.expect,
            Err(e) => return usage(&format!("{}: {e}", path.display())),
        },
    };
    let sel = Selection {
        caller: a.caller.or_else(|| a.token.as_deref().map(caller_of)),
        account: a.account,
        after: a.after,
        since: a.since,
        until: a.until,
    };
    let Ok(rt) = tokio::runtime::Runtime::new() else {
        return usage("cannot start the runtime");
    };
    let outcome = rt.block_on(async {
        let fake = Fake::new(&a.base_url, a.admin_token)?;
        let entries = fake.journal(&sel).await?;
        let har = match &a.har {
            Some(_) => Some(fake.har(&sel, a.har_all).await?),
            None => None,
        };
        Ok::<_, RunError>((entries, har))
    });
    let (entries, har) = match outcome {
        Ok(x) => x,
        Err(RunError::Usage(m)) => return usage(&m),
        Err(RunError::Unreachable(m)) => {
            eprintln!("contract-tests: the fake is unreachable: {m}");
            return ExitCode::from(3);
        }
    };
    if let (Some(path), Some(har)) = (&a.har, har)
        && let Err(e) = std::fs::write(path, har.to_string())
    {
        return usage(&format!("cannot write {}: {e}", path.display()));
    }
    emit(&judge(&entries, &expectations), a.report, a.output.as_ref())
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
            contract_tests::say!("valid against {schema}");
            ExitCode::SUCCESS
        }
        Err(errs) => {
            for e in errs {
                contract_tests::say!("{e}");
            }
            ExitCode::FAILURE
        }
    }
}
