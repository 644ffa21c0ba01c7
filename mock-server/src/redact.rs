//! What the request journal and the log lines show of a request: all of it
//! but its credentials. Bearer tokens (`Authorization`, the SSE endpoint's
//! `?token=`), cookies, a pre-signed URL's `Signature` and a ZIP link's
//! token (its path) are left out or replaced by `[redacted]`; passwords
//! only ever come in `Authorization`, and webhook secrets only in answers.

use std::borrow::Cow;

use axum::http::{HeaderName, header};

/// What stands in for a secret.
pub const REDACTED: &str = "[redacted]";

/// Prints [`REDACTED`] in `Debug` output: what a hand-written `Debug`
/// shows in place of a secret field, so `{:?}` of a record never leaks it.
pub struct Redacted;

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Query parameters whose value is a credential.
const SECRET_PARAMS: [&str; 2] = ["token", "Signature"];

/// The prefix of ZIP links, whose last segment is the credential.
const DOWNLOAD_PREFIX: &str = "/download/";

/// Whether a request header carries a credential (never recorded).
pub fn is_secret_header(name: &HeaderName) -> bool {
    name == header::AUTHORIZATION || name == header::PROXY_AUTHORIZATION || name == header::COOKIE
}

/// The query string with every credential's value replaced.
pub fn query(q: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form_urlencoded::parse(q.as_bytes()).map(|(k, v)| {
            let secret = SECRET_PARAMS.iter().any(|p| k.eq_ignore_ascii_case(p));
            (k, if secret { Cow::Borrowed(REDACTED) } else { v })
        }))
        .finish()
}

/// The path with a ZIP link's token replaced (`/download/[redacted]`);
/// every other path is shown as sent.
pub fn path(p: &str) -> Cow<'_, str> {
    match p.strip_prefix(DOWNLOAD_PREFIX) {
        Some(rest) if !rest.is_empty() && rest != "bulk" => Cow::Owned(format!("{DOWNLOAD_PREFIX}{REDACTED}")),
        _ => Cow::Borrowed(p),
    }
}

/// `path?query` as [`path`] and [`query`] show them, for log lines.
pub fn uri(uri: &axum::http::Uri) -> String {
    match uri.query() {
        Some(q) => format!("{}?{}", path(uri.path()), query(q)),
        None => path(uri.path()).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_the_query_are_replaced_and_the_rest_kept() {
        assert_eq!(
            query("Expires=1767229200&Signature=ab12cd"),
            "Expires=1767229200&Signature=%5Bredacted%5D"
        );
        assert_eq!(
            query("token=f2m_demo_token&id_task=job_1"),
            "token=%5Bredacted%5D&id_task=job_1"
        );
        assert_eq!(query("signature=x"), "signature=%5Bredacted%5D");
        assert_eq!(query("per_page=5"), "per_page=5");
    }

    #[test]
    fn a_zip_links_token_is_replaced_in_its_path() {
        assert_eq!(path("/download/dl_0123abcd"), "/download/[redacted]");
        assert_eq!(path("/download/dl_0123abcd/extra"), "/download/[redacted]");
        assert_eq!(path("/download/bulk"), "/download/bulk");
        assert_eq!(path("/download"), "/download");
        assert_eq!(path("/jobs/job_1/status"), "/jobs/job_1/status");
        let u: axum::http::Uri = "/upload/sku_1?Expires=9&Signature=feed".parse().expect("uri");
        assert_eq!(uri(&u), "/upload/sku_1?Expires=9&Signature=%5Bredacted%5D");
    }

    #[test]
    fn credential_headers_are_named() {
        assert!(is_secret_header(&header::AUTHORIZATION));
        assert!(is_secret_header(&header::COOKIE));
        assert!(!is_secret_header(&header::CONTENT_TYPE));
    }
}
