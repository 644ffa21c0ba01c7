//! The HTTP client that delivers webhooks, and how a failed attempt is
//! described in the delivery log.
//!
//! `https://` receivers are reached over rustls (ring, no OpenSSL, so a
//! static build needs nothing from the system) and trust the bundled webpki
//! roots: the fake is offline, so there is no system store worth reading.
//! A receiver with a certificate of its own (a test CA, a company CA) is
//! trusted through `--webhook-ca-file`; a self-signed one, or any, through
//! `--webhook-insecure`.

use std::path::Path;

use crate::config::Config;

/// The webhook client for `cfg`: no proxy (the receiver is where the URL
/// says), no redirects (a 3xx is an answer, not a delivery), plain HTTP and
/// TLS, a pool of its own. A CA file that cannot be read or holds no certificate is an error,
/// so the fake does not start.
pub fn client(cfg: &Config) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("flat2model-mock/", env!("CARGO_PKG_VERSION")))
        // Its own pool, apart from the API's connections: no more idle
        // sockets kept per receiver than attempts may run at once, and
        // those let go after a while.
        .pool_max_idle_per_host(cfg.webhook_max_in_flight as usize)
        .pool_idle_timeout(std::time::Duration::from_secs(30))
        .use_rustls_tls()
        // Receivers' names resolved in Rust (/etc/hosts, then the DNS
        // servers of /etc/resolv.conf), never by glibc's NSS, which a
        // static binary in a `FROM scratch` image cannot load.
        .hickory_dns(true);
    if let Some(path) = &cfg.webhook_ca_file {
        for cert in ca_certificates(path)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    if cfg.webhook_insecure {
        tracing::warn!(
            "--webhook-insecure: webhook deliveries to https:// receivers accept any certificate, \
             for any name; use it only with receivers you run yourself"
        );
        builder = builder.danger_accept_invalid_certs(true);
    }
    builder.build().map_err(|e| {
        let what = if cfg.webhook_ca_file.is_some() {
            "the webhook HTTP client (check --webhook-ca-file)"
        } else {
            "the webhook HTTP client"
        };
        format!("{what}: {}", causes(&e))
    })
}

/// The certificates of the PEM file at `path` (one or several
/// `-----BEGIN CERTIFICATE-----` blocks).
fn ca_certificates(path: &Path) -> Result<Vec<reqwest::Certificate>, String> {
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| format!("--webhook-ca-file {shown}: cannot be read: {e}"))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("--webhook-ca-file {shown}: not PEM certificates: {}", causes(&e)))?;
    if certs.is_empty() {
        return Err(format!(
            "--webhook-ca-file {shown}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ));
    }
    Ok(certs)
}

/// Why a delivery attempt failed, for the delivery log. reqwest's own
/// message names only the URL, so the causes are appended; a TLS failure
/// (an unknown issuer, a name the certificate does not cover, an expired
/// certificate) says so first, since the fix is a flag, not the receiver.
pub fn attempt_error(e: &reqwest::Error) -> String {
    match tls_cause(e) {
        Some(tls) => format!("TLS: {tls} ({})", causes(e)),
        None => format!("unreachable: {}", causes(e)),
    }
}

/// `e` and each of its sources, joined with `: `, a message that repeats
/// the one before it left out.
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let message = s.to_string();
        if !text.ends_with(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = s.source();
    }
    text
}

/// The rustls error among `e`'s causes, if the handshake failed. It
/// arrives wrapped in `io::Error`s (the TLS stream's, then the
/// connector's), whose `source` skips what they wrap, so each is opened.
fn tls_cause(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        let mut cur = s;
        loop {
            if let Some(tls) = cur.downcast_ref::<rustls::Error>() {
                return Some(tls.to_string());
            }
            match cur.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref) {
                Some(inner) => cur = inner,
                None => break,
            }
        }
        source = s.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn with_ca_file(contents: &[u8]) -> Result<reqwest::Client, String> {
        let path = std::env::temp_dir().join(format!("f2m-ca-{}-{}.pem", std::process::id(), contents.len()));
        std::fs::write(&path, contents).expect("temp file");
        let cfg = Config::parse_from(["mock-server", "--webhook-ca-file", path.to_str().expect("utf-8")]);
        let out = client(&cfg);
        let _ = std::fs::remove_file(&path);
        out
    }

    #[test]
    fn a_ca_file_that_is_missing_or_holds_no_certificate_is_refused_with_its_name() {
        let cfg = Config::parse_from(["mock-server", "--webhook-ca-file", "/nonexistent/ca.pem"]);
        let e = client(&cfg).expect_err("missing");
        assert!(
            e.starts_with("--webhook-ca-file /nonexistent/ca.pem: cannot be read"),
            "{e}"
        );
        let e = with_ca_file(b"not a certificate\n").expect_err("no certificate");
        assert!(e.contains("holds no PEM certificate"), "{e}");
        let e = with_ca_file(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
            .expect_err("not a certificate inside");
        assert!(e.contains("--webhook-ca-file"), "{e}");
    }

    #[test]
    fn the_default_client_builds_with_tls() {
        assert!(client(&Config::parse_from(["mock-server"])).is_ok());
        assert!(client(&Config::parse_from(["mock-server", "--webhook-insecure"])).is_ok());
    }

    #[test]
    fn a_tls_failure_is_named_among_the_causes() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("client error (Connect)")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        // As reqwest hands it over: the connector's I/O error around the
        // TLS stream's around rustls's.
        let stream = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        let e = Outer(std::io::Error::other(stream));
        assert_eq!(
            tls_cause(&e).as_deref(),
            Some("invalid peer certificate: UnknownIssuer")
        );
        assert_eq!(
            causes(&e),
            "client error (Connect): invalid peer certificate: UnknownIssuer"
        );
        let refused = Outer(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(tls_cause(&refused), None);
    }
}
