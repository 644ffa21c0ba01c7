//! Command-line flags; every flag is also an environment variable `MOCK_…`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::clock::{Instant, parse_duration};
use crate::domain::secret::SecretDigest;
use crate::storage::fixtures::FixtureSource;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line, for log collectors.
    Json,
}

/// Which clock the fake reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClockMode {
    /// Wall-clock time; `POST /__admin/clock` can still jump it forward.
    System,
    /// Frozen at `--start-time`; it moves only through `POST /__admin/clock`.
    Manual,
}

/// An offline, faithful fake of the PiktID v2 "flat lay on model" API.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "mock-server",
    version,
    about,
    long_about = None,
    after_help = "Environment variables besides the flags' own:\n  \
        MOCK_LOG   log filter: a level (error, warn, info, debug, trace) or directives such as \
        info,mock_server::request=warn [default: info; one line per request at info]\n  \
        NO_COLOR   set and not empty: no colour in the log (there is none unless stderr is a terminal)"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "MOCK_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,

    /// Port to listen on; 0 picks a free port. On start the fake prints one
    /// line `listening on http://HOST:PORT`.
    #[arg(long, env = "MOCK_PORT", default_value_t = 8080)]
    pub port: u16,

    /// A folder laid over the fixtures compiled into the binary, file by
    /// file: its `accounts.json` replaces the embedded accounts, its
    /// `gallery.json` the embedded gallery (images are looked up in the
    /// folder first), and each `scenarios/NAME.json` adds scenario NAME or
    /// replaces the embedded one. Default: only the embedded fixtures
    /// (the repository's `fixtures/` when the binary was built).
    #[arg(long, env = "MOCK_FIXTURES", value_name = "DIR")]
    pub fixtures: Option<PathBuf>,

    /// Seed for every generated ID, token, timing and image: the same seed and
    /// the same requests give the same answers.
    #[arg(long, env = "MOCK_SEED", default_value_t = 0)]
    pub seed: u64,

    /// Multiplies every simulated processing time; 0 makes jobs instant.
    #[arg(long, env = "MOCK_TIME_SCALE", default_value_t = 1.0)]
    pub time_scale: f64,

    /// Base of every URL the fake hands out (upload, download, image
    /// links): an absolute `http://` or `https://` URL (anything else stops
    /// the start). Default: `http://HOST:PORT` as bound; with `--host
    /// 0.0.0.0` (or `::`), each request's `Host` header instead (see
    /// `--trust-proxy`), since no bound address is one a client can reach.
    #[arg(long, env = "MOCK_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,

    /// When URLs follow the request (`--host 0.0.0.0`, no `--public-url`),
    /// build them from `X-Forwarded-Proto` and `X-Forwarded-Host` when
    /// present, as a reverse proxy sets them. Only behind a proxy of yours:
    /// any client could otherwise choose the links it is handed.
    #[arg(long, env = "MOCK_TRUST_PROXY", default_value_t = false)]
    pub trust_proxy: bool,

    /// Log line format.
    #[arg(long, env = "MOCK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Treat every unknown bearer token as its own fresh tenant (default
    /// policies, no saved Design Values), so parallel CI jobs can share one
    /// server without seeing each other's data.
    #[arg(long, env = "MOCK_ANY_TOKEN", default_value_t = false)]
    pub any_token: bool,

    /// How long a tenant made by `--any-token` is kept after its token was
    /// last used; then it goes with everything it owns, and the token makes
    /// a fresh tenant. Tenants of `POST /__admin/tenants` and fixture
    /// accounts stay.
    #[arg(long, env = "MOCK_ANY_TOKEN_IDLE_TTL", default_value = "24h", value_parser = parse_ttl)]
    pub any_token_idle_ttl: Duration,

    /// `system` runs on wall-clock time; `manual` freezes time at
    /// `--start-time` so that only the control API moves it.
    #[arg(long, env = "MOCK_CLOCK", value_enum, default_value_t = ClockMode::System)]
    pub clock: ClockMode,

    /// Start time of the manual clock (RFC 3339).
    #[arg(long, env = "MOCK_START_TIME", default_value = "2026-01-01T00:00:00Z", value_parser = parse_instant)]
    pub start_time: Instant,

    /// How long a pre-signed upload URL stays valid (`15m`, `900`, `1h`).
    #[arg(long, env = "MOCK_UPLOAD_URL_TTL", default_value = "15m", value_parser = parse_ttl)]
    pub upload_url_ttl: Duration,

    /// How long download links (files, identity images) stay valid.
    #[arg(long, env = "MOCK_DOWNLOAD_URL_TTL", default_value = "24h", value_parser = parse_ttl)]
    pub download_url_ttl: Duration,

    /// Lifetime of an access token from `POST /auth/login` or `/auth/refresh`.
    #[arg(long, env = "MOCK_ACCESS_TOKEN_TTL", default_value = "1h", value_parser = parse_ttl)]
    pub access_token_ttl: Duration,

    /// Lifetime of a refresh token.
    #[arg(long, env = "MOCK_REFRESH_TOKEN_TTL", default_value = "30days", value_parser = parse_ttl)]
    pub refresh_token_ttl: Duration,

    /// Requests to `POST /flat-2-model` allowed per account in any 60
    /// seconds (the vendor documents 5 a minute). Every authenticated
    /// request counts, invalid ones too, and the limit is checked before
    /// the body: one more answers 429. 0 switches the limit off.
    #[arg(long, env = "MOCK_JOB_RATE_LIMIT", default_value_t = 5)]
    pub job_rate_limit: u32,

    /// Whether the job rate limit's 429 carries `Retry-After` (seconds until
    /// a request is allowed again). The vendor documents no such header:
    /// `false` answers as documented, but then the request journal cannot
    /// tell a client that ignored it (`ignored_retry_after`).
    #[arg(
        long,
        env = "MOCK_RATE_LIMIT_RETRY_AFTER",
        default_value_t = true,
        action = clap::ArgAction::Set,
        value_name = "true|false"
    )]
    pub rate_limit_retry_after: bool,

    /// Which requests keep their request and response bodies in the journal
    /// (`GET /__admin/journal`, its HAR export): `flagged` ones (a contract
    /// violation or an ignored `Retry-After`), or `all` (costs a copy of
    /// every body up to 64 KiB).
    #[arg(long, env = "MOCK_JOURNAL_BODIES", value_enum, default_value_t = JournalBodies::Flagged)]
    pub journal_bodies: JournalBodies,

    /// How long a `POST /download` ZIP link stays valid.
    #[arg(long, env = "MOCK_ZIP_LINK_TTL", default_value = "1h", value_parser = parse_ttl)]
    pub zip_link_ttl: Duration,

    /// Interval of the SSE stream's `:keepalive` comments.
    #[arg(long, env = "MOCK_SSE_KEEPALIVE", default_value = "15s", value_parser = parse_ttl)]
    pub sse_keepalive: Duration,

    /// How old a notification may be and still be backfilled on a fresh SSE
    /// connection (a resumed one, with `Last-Event-ID`, gets everything after it).
    #[arg(long, env = "MOCK_SSE_BACKFILL_WINDOW", default_value = "10m", value_parser = parse_ttl)]
    pub sse_backfill_window: Duration,

    /// How long one webhook delivery attempt may take before it counts as failed.
    #[arg(long, env = "MOCK_WEBHOOK_TIMEOUT", default_value = "10s", value_parser = parse_ttl_ms)]
    pub webhook_timeout: Duration,

    /// Webhook attempts on the wire at once, over every account: each holds
    /// a socket (an open file) until its receiver answers or
    /// `--webhook-timeout` ends it, so a receiver that never answers cannot
    /// take the descriptors the API serves with. A due delivery past it
    /// waits, pending, for an attempt to end.
    #[arg(long, env = "MOCK_WEBHOOK_MAX_IN_FLIGHT", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub webhook_max_in_flight: u32,

    /// Webhook deliveries one account may have unfinished (pending, or in
    /// flight) at once; one more drops the account's oldest pending
    /// delivery, which the delivery log then shows as `dropped`.
    #[arg(long, env = "MOCK_WEBHOOK_MAX_PENDING", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub webhook_max_pending: u32,

    /// A PEM file of extra CA certificates that `https://` webhook receivers
    /// may present (besides the bundled public roots): for a receiver with
    /// a certificate of its own. A file that cannot be read stops the start.
    #[arg(long, env = "MOCK_WEBHOOK_CA_FILE", value_name = "PATH")]
    pub webhook_ca_file: Option<PathBuf>,

    /// Accept any certificate from `https://` webhook receivers (self-signed,
    /// expired, for another name). Logs a warning at start.
    #[arg(long, env = "MOCK_WEBHOOK_INSECURE", default_value_t = false)]
    pub webhook_insecure: bool,

    /// How long a finished job (completed or failed, post-processing ended)
    /// is kept after its last change; then it is removed with its renders
    /// and its status, results and images answer 404.
    #[arg(long, env = "MOCK_JOB_TTL", default_value = "24h", value_parser = parse_ttl)]
    pub job_ttl: Duration,

    /// How long an uploaded file (`POST /upload` and its PUT bytes) is kept
    /// after `POST /upload`; jobs made from it keep their own copy.
    #[arg(long, env = "MOCK_FILE_TTL", default_value = "24h", value_parser = parse_ttl)]
    pub file_ttl: Duration,

    /// How long a notification is kept after it happened, in every account's
    /// log; finished webhook delivery records are kept as long after their
    /// last attempt.
    #[arg(long, env = "MOCK_NOTIFICATION_TTL", default_value = "24h", value_parser = parse_ttl)]
    pub notification_ttl: Duration,

    /// Largest JSON request body accepted, in bytes (larger: 413).
    #[arg(long, env = "MOCK_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,

    /// How long a request body may go without a byte arriving before the
    /// request is cut (408 in the error envelope, a pre-signed PUT's too)
    /// and its connection closed.
    #[arg(long, env = "MOCK_BODY_TIMEOUT", default_value = "30s", value_parser = parse_ttl_ms)]
    pub body_timeout: Duration,

    /// How many bytes the request bodies in flight may hold together (each
    /// counts its `Content-Length`, a chunked one `--max-upload-bytes`);
    /// one more answers 503 with `Retry-After: 1`, its body unread.
    #[arg(long, env = "MOCK_MAX_BODY_BYTES_IN_FLIGHT", default_value_t = 256 << 20)]
    pub max_body_bytes_in_flight: usize,

    /// Connections served at once; past it a new connection is closed at
    /// once (logged once). 0: the open-file limit (raised to the hard limit
    /// at start) less 256 descriptors kept for the rest.
    #[arg(long, env = "MOCK_MAX_CONNECTIONS", default_value_t = 0)]
    pub max_connections: usize,

    /// Request bodies read at once (each request that sends one, from its
    /// headers until it is answered); one more answers 503 with
    /// `Retry-After: 1` and `Connection: close`, its body unread, so uploads
    /// that stall cannot hold every connection. 0: three quarters of the
    /// connections served at once (at least 1).
    #[arg(long, env = "MOCK_MAX_BODIES_IN_FLIGHT", default_value_t = 0)]
    pub max_bodies_in_flight: usize,

    /// Largest image upload accepted (multipart or pre-signed PUT), in bytes.
    #[arg(long, env = "MOCK_MAX_UPLOAD_BYTES", default_value_t = 25 << 20)]
    pub max_upload_bytes: usize,

    /// On SIGTERM or SIGINT: how long in-flight requests, SSE streams and
    /// due webhook deliveries get to finish before the process exits anyway
    /// (exit status 0 either way).
    #[arg(long, env = "MOCK_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_ttl_ms)]
    pub shutdown_grace: Duration,

    /// Require `Authorization: Bearer TOKEN` on every `/__admin/*` request
    /// (401 otherwise). Default: the control API is open.
    #[arg(long, env = "MOCK_ADMIN_TOKEN", hide_env_values = true, value_parser = parse_admin_token)]
    pub admin_token: Option<SecretDigest>,

    /// Answer `/__admin/*` only to peers on this machine (loopback
    /// addresses); others get 403.
    #[arg(long, env = "MOCK_ADMIN_LOOPBACK_ONLY", default_value_t = false)]
    pub admin_loopback_only: bool,

    /// Turn CORS on for this origin (`https://app.example:3000`, or `*` for
    /// any); repeat the flag or separate origins with commas. Default: off.
    /// `/__admin/*` refuses requests from web pages of any other origin.
    #[arg(long, env = "MOCK_CORS_ORIGIN", value_delimiter = ',', value_parser = parse_origin)]
    pub cors_origin: Vec<String>,
    /// Keep everything a client created (accounts, tokens, projects, files,
    /// identities, jobs, notifications, webhooks) in an embedded, crash-safe
    /// database in this folder, so a restart, even after `kill -9`, loses
    /// nothing that was acknowledged. Without it everything stays in memory.
    #[arg(long, env = "MOCK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Without a command the fake serves.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What `mock-server` does instead of serving.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Exit 0 if a fake answers `GET /__admin/health` with 200, else 1: a
    /// health check for containers (a `FROM scratch` image has no curl).
    Health {
        /// The fake's base URL. Default: `http://127.0.0.1:PORT`, PORT from
        /// `--port` / `MOCK_PORT` (as the fake in the same container reads it).
        #[arg(long, env = "MOCK_HEALTH_URL")]
        url: Option<String>,
        /// Give up after this long (`3s`, `500ms`).
        #[arg(long, env = "MOCK_HEALTH_TIMEOUT", default_value = "3s", value_parser = parse_ttl_ms)]
        timeout: Duration,
    },
    /// Write the fixtures compiled into this binary (accounts, gallery,
    /// sample images, scenarios) into DIR, refusing to overwrite a file: a
    /// start for your own `--fixtures DIR`, and the README walkthrough's
    /// sample images.
    ExportFixtures {
        /// The folder to write (made if missing).
        dir: PathBuf,
    },
}

/// An absolute `http(s)://host[:port][/path]` URL, without a query, a
/// fragment or credentials; returned without a trailing slash.
fn parse_public_url(s: &str) -> Result<String, String> {
    let bad = |why: &str| format!("{s:?} {why} (try http://localhost:8080 or https://mock.example/api)");
    let url = reqwest::Url::parse(s.trim()).map_err(|e| bad(&format!("is not an absolute URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must start with http:// or https://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must have no query, fragment or user"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

fn parse_instant(s: &str) -> Result<Instant, String> {
    Instant::parse_rfc3339(s).ok_or_else(|| format!("not an RFC 3339 time: {s}"))
}

/// Like `parse_ttl`, also taking milliseconds (`250ms`).
fn parse_ttl_ms(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).or_else(|_| parse_ttl(s))
}

/// Only the digest of the admin token is kept, so no `Debug` of the
/// configuration or the state can show it.
fn parse_admin_token(s: &str) -> Result<SecretDigest, String> {
    if crate::domain::auth::is_token_shaped(s) {
        Ok(SecretDigest::of(s))
    } else {
        Err("must be 1 to 512 visible ASCII characters (it is sent as a bearer token)".into())
    }
}

/// `*`, or an origin as browsers send it: `scheme://host[:port]`.
fn parse_origin(s: &str) -> Result<String, String> {
    let s = s.trim();
    let bad = || format!("not an origin (http://host[:port], or *): {s:?}");
    if s == "*" {
        return Ok(s.to_owned());
    }
    let host = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))
        .ok_or_else(bad)?;
    if host.is_empty() || host.contains(['/', '?', '#', '*']) || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(s.to_owned())
}

fn parse_ttl(s: &str) -> Result<Duration, String> {
    parse_duration(s).ok_or_else(|| format!("not a duration (try 90s, 15m, 1h): {s}"))
}

impl Config {
    /// Whether the URLs handed out follow each request's `Host`: no
    /// `--public-url`, and a `--host` that is every interface.
    pub fn public_from_request(&self) -> bool {
        self.public_url.is_none() && self.host.is_unspecified()
    }

    /// The fixtures: the embedded ones, with `--fixtures DIR` laid over
    /// them. Never the current folder's `fixtures/` unasked: the binary
    /// behaves the same wherever it is started.
    pub fn fixture_source(&self) -> Result<FixtureSource, String> {
        match &self.fixtures {
            Some(dir) => FixtureSource::with_dir(dir),
            None => Ok(FixtureSource::embedded()),
        }
    }

    /// The configuration tests start from: port 0, manual clock, no job rate
    /// limit, the repository's fixtures.
    pub fn for_tests() -> Self {
        let mut cfg = Self::parse_from([
            "mock-server",
            "--port",
            "0",
            "--clock",
            "manual",
            "--job-rate-limit",
            "0",
        ]);
        cfg.fixtures = Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures"));
        cfg
    }
}

/// Which requests keep their bodies in the journal (`--journal-bodies`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum JournalBodies {
    /// Only flagged requests: a violation or an ignored `Retry-After`.
    #[default]
    Flagged,
    /// Every request (for a HAR of everything).
    All,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn a_public_url_must_be_an_absolute_http_url() {
        let cfg = Config::parse_from(["mock-server", "--public-url", "https://mock.example/api/"]);
        assert_eq!(cfg.public_url.as_deref(), Some("https://mock.example/api"));
        for bad in [
            "foo",
            "/x",
            "ftp://a.test",
            "http://",
            "http://a.test/?q=1",
            "http://a.test/#top",
            "http://u:p@a.test",
        ] {
            let err = Config::try_parse_from(["mock-server", "--public-url", bad]).expect_err(bad);
            assert!(err.to_string().contains("--public-url"), "{bad}: {err}");
        }
    }

    #[test]
    fn urls_follow_the_request_only_on_every_interface_without_a_public_url() {
        assert!(!Config::parse_from(["mock-server"]).public_from_request());
        assert!(Config::parse_from(["mock-server", "--host", "0.0.0.0"]).public_from_request());
        assert!(Config::parse_from(["mock-server", "--host", "::"]).public_from_request());
        let fixed = Config::parse_from(["mock-server", "--host", "0.0.0.0", "--public-url", "http://a.test"]);
        assert!(!fixed.public_from_request());
    }

    #[test]
    fn cli_definition_is_consistent() {
        Config::command().debug_assert();
    }

    #[test]
    fn every_flag_has_an_environment_variable() {
        let cmd = Config::command();
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            let env = arg.get_env().unwrap_or_else(|| panic!("--{id} has no env var"));
            assert!(env.to_string_lossy().starts_with("MOCK_"), "--{id}");
        }
    }

    #[test]
    fn ttl_flags_accept_human_durations() {
        let cfg = Config::parse_from(["mock-server", "--upload-url-ttl", "90s"]);
        assert_eq!(cfg.upload_url_ttl, Duration::from_secs(90));
        assert!(Config::try_parse_from(["mock-server", "--upload-url-ttl", "later"]).is_err());
    }

    #[test]
    fn eviction_ttls_default_to_a_day_and_take_human_durations() {
        let day = Duration::from_secs(24 * 3600);
        let cfg = Config::parse_from(["mock-server"]);
        assert_eq!((cfg.job_ttl, cfg.file_ttl, cfg.notification_ttl), (day, day, day));
        let cfg = Config::parse_from([
            "mock-server",
            "--job-ttl",
            "2h",
            "--file-ttl",
            "90",
            "--notification-ttl",
            "2days",
        ]);
        assert_eq!(cfg.job_ttl, Duration::from_secs(7200));
        assert_eq!(cfg.file_ttl, Duration::from_secs(90));
        assert_eq!(cfg.notification_ttl, 2 * day);
        assert!(Config::try_parse_from(["mock-server", "--job-ttl", "forever"]).is_err());
    }

    #[test]
    fn retry_after_on_the_rate_limit_is_on_unless_switched_off() {
        assert!(Config::parse_from(["mock-server"]).rate_limit_retry_after);
        let off = Config::parse_from(["mock-server", "--rate-limit-retry-after", "false"]);
        assert!(!off.rate_limit_retry_after);
        let on = Config::parse_from(["mock-server", "--rate-limit-retry-after", "true"]);
        assert!(on.rate_limit_retry_after);
        assert!(Config::try_parse_from(["mock-server", "--rate-limit-retry-after", "maybe"]).is_err());
    }

    #[test]
    fn shutdown_grace_defaults_to_ten_seconds_and_takes_milliseconds() {
        assert_eq!(
            Config::parse_from(["mock-server"]).shutdown_grace,
            Duration::from_secs(10)
        );
        let cfg = Config::parse_from(["mock-server", "--shutdown-grace", "250ms"]);
        assert_eq!(cfg.shutdown_grace, Duration::from_millis(250));
    }

    #[test]
    fn the_admin_token_is_kept_only_as_its_digest() {
        assert_eq!(Config::parse_from(["mock-server"]).admin_token, None);
        let cfg = Config::parse_from(["mock-server", "--admin-token", "adm_s3cret"]);
        assert_eq!(cfg.admin_token, Some(SecretDigest::of("adm_s3cret")));
        assert!(!format!("{cfg:?}").contains("adm_s3cret"));
        for bad in ["", "two words", "tab\there"] {
            assert!(
                Config::try_parse_from(["mock-server", "--admin-token", bad]).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn cors_origins_repeat_or_split_on_commas_and_bad_ones_are_refused() {
        assert!(Config::parse_from(["mock-server"]).cors_origin.is_empty());
        let cfg = Config::parse_from([
            "mock-server",
            "--cors-origin",
            "http://a.test:3000,https://b.test",
            "--cors-origin",
            "*",
        ]);
        assert_eq!(cfg.cors_origin, ["http://a.test:3000", "https://b.test", "*"]);
        for bad in [
            "a.test",
            "http://",
            "http://a.test/path",
            "ftp://a.test",
            "http://*.a.test",
        ] {
            assert!(
                Config::try_parse_from(["mock-server", "--cors-origin", bad]).is_err(),
                "{bad}"
            );
        }
    }
}
