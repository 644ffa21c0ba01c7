//! The values the running fake reads from its flags, taken once from
//! [`Config`] when the state is built. The core reads these and never the
//! flags themselves, so the command line's shape (clap attributes, the
//! subcommands, flags only the start reads) stays in `config.rs`, and a
//! flag reaches the core only by being named here.

use std::time::Duration;

use crate::config::{Config, JournalBodies};
use crate::domain::secret::SecretDigest;

/// Settings fixed at start: the flags the core reads, and the base URL they
/// resolve to.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base of every URL handed out, without a trailing slash:
    /// `--public-url`, else the address the fake listens on.
    pub(crate) public_url: String,
    /// Whether URLs follow each request's `Host` ([`Config::public_from_request`]).
    pub(crate) public_from_request: bool,
    /// `--trust-proxy`.
    pub(crate) trust_proxy: bool,
    /// `--seed`.
    pub(crate) seed: u64,
    /// `--any-token`.
    pub(crate) any_token: bool,
    /// `--any-token-idle-ttl`.
    pub(crate) any_token_idle_ttl: Duration,
    /// `--upload-url-ttl`.
    pub(crate) upload_url_ttl: Duration,
    /// `--download-url-ttl`.
    pub(crate) download_url_ttl: Duration,
    /// `--access-token-ttl`.
    pub(crate) access_token_ttl: Duration,
    /// `--refresh-token-ttl`.
    pub(crate) refresh_token_ttl: Duration,
    /// `--job-rate-limit` (0: off).
    pub(crate) job_rate_limit: u32,
    /// `--rate-limit-retry-after`.
    pub(crate) rate_limit_retry_after: bool,
    /// `--journal-bodies`.
    pub(crate) journal_bodies: JournalBodies,
    /// `--zip-link-ttl`.
    pub(crate) zip_link_ttl: Duration,
    /// `--sse-keepalive`.
    pub(crate) sse_keepalive: Duration,
    /// `--sse-backfill-window`.
    pub(crate) sse_backfill_window: Duration,
    /// `--webhook-timeout`.
    pub(crate) webhook_timeout: Duration,
    /// `--job-ttl`.
    pub(crate) job_ttl: Duration,
    /// `--file-ttl`.
    pub(crate) file_ttl: Duration,
    /// `--notification-ttl`.
    pub(crate) notification_ttl: Duration,
    /// `--max-body-bytes`.
    pub(crate) max_body_bytes: usize,
    /// `--body-timeout`.
    pub(crate) body_timeout: Duration,
    /// `--max-body-bytes-in-flight`.
    pub(crate) max_body_bytes_in_flight: usize,
    /// `--max-connections` (0: from the open-file limit).
    pub(crate) max_connections: usize,
    /// `--max-bodies-in-flight` (0: from the connection cap).
    pub(crate) max_bodies_in_flight: usize,
    /// `--max-upload-bytes`.
    pub(crate) max_upload_bytes: usize,
    /// `--shutdown-grace`.
    pub(crate) shutdown_grace: Duration,
    /// `--admin-token`, as its digest.
    pub(crate) admin_token: Option<SecretDigest>,
    /// `--admin-loopback-only`.
    pub(crate) admin_loopback_only: bool,
    /// `--cors-origin`, each origin.
    pub(crate) cors_origin: Vec<String>,
}

impl Settings {
    /// The settings of `cfg`, serving under `public_url`.
    pub fn new(cfg: &Config, public_url: &str) -> Self {
        Self {
            public_url: public_url.trim_end_matches('/').to_owned(),
            public_from_request: cfg.public_from_request(),
            trust_proxy: cfg.trust_proxy,
            seed: cfg.seed,
            any_token: cfg.any_token,
            any_token_idle_ttl: cfg.any_token_idle_ttl,
            upload_url_ttl: cfg.upload_url_ttl,
            download_url_ttl: cfg.download_url_ttl,
            access_token_ttl: cfg.access_token_ttl,
            refresh_token_ttl: cfg.refresh_token_ttl,
            job_rate_limit: cfg.job_rate_limit,
            rate_limit_retry_after: cfg.rate_limit_retry_after,
            journal_bodies: cfg.journal_bodies,
            zip_link_ttl: cfg.zip_link_ttl,
            sse_keepalive: cfg.sse_keepalive,
            sse_backfill_window: cfg.sse_backfill_window,
            webhook_timeout: cfg.webhook_timeout,
            job_ttl: cfg.job_ttl,
            file_ttl: cfg.file_ttl,
            notification_ttl: cfg.notification_ttl,
            max_body_bytes: cfg.max_body_bytes,
            body_timeout: cfg.body_timeout,
            max_body_bytes_in_flight: cfg.max_body_bytes_in_flight,
            max_connections: cfg.max_connections,
            max_bodies_in_flight: cfg.max_bodies_in_flight,
            max_upload_bytes: cfg.max_upload_bytes,
            shutdown_grace: cfg.shutdown_grace,
            admin_token: cfg.admin_token,
            admin_loopback_only: cfg.admin_loopback_only,
            cors_origin: cfg.cors_origin.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// Every flag set to a value unlike its default and unlike the others,
    /// so a setting read from the wrong flag shows.
    #[test]
    fn each_setting_is_its_own_flag() {
        let cfg = Config::parse_from([
            "mock-server",
            "--host",
            "0.0.0.0",
            "--trust-proxy",
            "--seed",
            "7",
            "--any-token",
            "--any-token-idle-ttl",
            "101s",
            "--upload-url-ttl",
            "102s",
            "--download-url-ttl",
            "103s",
            "--access-token-ttl",
            "104s",
            "--refresh-token-ttl",
            "105s",
            "--job-rate-limit",
            "9",
            "--rate-limit-retry-after",
            "false",
            "--journal-bodies",
            "all",
            "--zip-link-ttl",
            "106s",
            "--sse-keepalive",
            "107s",
            "--sse-backfill-window",
            "108s",
            "--webhook-timeout",
            "109s",
            "--job-ttl",
            "110s",
            "--file-ttl",
            "111s",
            "--notification-ttl",
            "112s",
            "--max-body-bytes",
            "1001",
            "--body-timeout",
            "113s",
            "--max-body-bytes-in-flight",
            "1002",
            "--max-connections",
            "1003",
            "--max-bodies-in-flight",
            "1005",
            "--max-upload-bytes",
            "1004",
            "--shutdown-grace",
            "114s",
            "--admin-token",
            "adm_x",
            "--admin-loopback-only",
            "--cors-origin",
            "http://a.test",
        ]);
        let s = Settings::new(&cfg, "http://fake.test/base/");
        let secs = Duration::from_secs;
        assert_eq!(s.public_url, "http://fake.test/base");
        assert!(s.public_from_request && s.trust_proxy && s.any_token && s.admin_loopback_only);
        assert!(!s.rate_limit_retry_after);
        assert_eq!((s.seed, s.job_rate_limit), (7, 9));
        assert_eq!(s.journal_bodies, JournalBodies::All);
        assert_eq!(
            [
                s.any_token_idle_ttl,
                s.upload_url_ttl,
                s.download_url_ttl,
                s.access_token_ttl,
                s.refresh_token_ttl,
                s.zip_link_ttl,
                s.sse_keepalive,
                s.sse_backfill_window,
                s.webhook_timeout,
                s.job_ttl,
                s.file_ttl,
                s.notification_ttl,
                s.body_timeout,
                s.shutdown_grace,
            ],
            [101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114].map(secs)
        );
        assert_eq!(
            [
                s.max_body_bytes,
                s.max_body_bytes_in_flight,
                s.max_connections,
                s.max_upload_bytes,
                s.max_bodies_in_flight
            ],
            [1001, 1002, 1003, 1004, 1005]
        );
        assert_eq!(s.admin_token, Some(SecretDigest::of("adm_x")));
        assert_eq!(s.cors_origin, ["http://a.test"]);
    }
}
