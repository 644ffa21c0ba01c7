//! The base of the URLs a request is handed when they follow the request:
//! no `--public-url`, and the fake listens on every interface (`--host
//! 0.0.0.0`, as in its container). Then no address the fake knows is one a
//! client can reach, so each URL starts with what the client asked for: its
//! `Host` header, or with `--trust-proxy` the `X-Forwarded-Host` and
//! `X-Forwarded-Proto` a reverse proxy sets.
//!
//! [`layer`] keeps the request's headers in a task-local while it is
//! handled, so that whatever builds a URL (a handler, or the catch-up a
//! read runs) asks [`current`] without the request being threaded through.
//! The layer is applied only when URLs follow the request, and it neither
//! allocates nor locks: it clones the header values (reference counts) and
//! builds a base only when a URL is asked for, so `GET /jobs/{id}/status`,
//! which hands out none, pays three header look-ups.

use std::task::{Context, Poll};

use axum::http::{HeaderMap, HeaderValue, Request};
use tokio::task::futures::TaskLocalFuture;

tokio::task_local! {
    /// The headers of the request being handled that may make its base.
    static REQUEST: RequestHost;
}

/// What of a request's headers may make the base of its URLs.
#[derive(Debug, Clone, Default)]
pub struct RequestHost {
    host: Option<HeaderValue>,
    forwarded_host: Option<HeaderValue>,
    forwarded_proto: Option<HeaderValue>,
}

impl RequestHost {
    /// Takes `Host`, and the `X-Forwarded-*` headers only when the proxy in
    /// front is trusted: otherwise any client could choose its links.
    pub fn of(headers: &HeaderMap, trust_proxy: bool) -> Self {
        let forwarded = |name: &str| trust_proxy.then(|| headers.get(name).cloned()).flatten();
        Self {
            host: headers.get(axum::http::header::HOST).cloned(),
            forwarded_host: forwarded("x-forwarded-host"),
            forwarded_proto: forwarded("x-forwarded-proto"),
        }
    }

    /// `scheme://host[:port]`: the forwarded host and scheme (their first
    /// values) when there, else `http://` and `Host`. `None` when the host
    /// is no plain `host[:port]` or the scheme no http(s), so a hostile
    /// header cannot put a path, a user or a second URL into the links.
    pub fn base(&self) -> Option<String> {
        fn first(v: Option<&HeaderValue>) -> Option<&str> {
            v.and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        }
        let host = first(self.forwarded_host.as_ref()).or_else(|| first(self.host.as_ref()))?;
        let scheme = match first(self.forwarded_proto.as_ref()) {
            None => "http",
            Some(p) if p.eq_ignore_ascii_case("https") => "https",
            Some(p) if p.eq_ignore_ascii_case("http") => "http",
            Some(_) => return None,
        };
        plain_authority(host).then(|| format!("{scheme}://{host}"))
    }
}

/// The base of the request being handled, when URLs follow the request
/// and its headers make one; else `None` (the caller uses `--public-url`
/// or the bound address).
pub fn current() -> Option<String> {
    REQUEST.try_with(RequestHost::base).ok().flatten()
}

/// Whether `s` is `host[:port]` and nothing else: a name or IPv4 address of
/// letters, digits, `-` and `.`, or a bracketed IPv6 address; a numeric port.
fn plain_authority(s: &str) -> bool {
    let (host_ok, port) = match s.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, after)) if v6.parse::<std::net::Ipv6Addr>().is_ok() => match after {
                "" => (true, None),
                _ => (true, Some(after.strip_prefix(':').unwrap_or(""))),
            },
            _ => return false,
        },
        None => {
            let (host, port) = match s.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (s, None),
            };
            let ok = !host.is_empty()
                && host.len() <= 253
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            (ok, port)
        }
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok && port.is_none_or(|p| p.parse::<u16>().is_ok())
}

/// The layer that handles each request with its [`RequestHost`] known.
#[derive(Debug, Clone, Copy)]
pub struct Layer {
    /// `--trust-proxy`.
    pub trust_proxy: bool,
}

impl<S> tower::Layer<S> for Layer {
    type Service = Service<S>;
    fn layer(&self, inner: S) -> Service<S> {
        Service {
            inner,
            trust_proxy: self.trust_proxy,
        }
    }
}

/// [`Layer`]'s service. Its future is the inner one in a task-local scope:
/// no box per request, unlike a `from_fn` middleware.
#[derive(Debug, Clone)]
pub struct Service<S> {
    inner: S,
    trust_proxy: bool,
}

impl<S, B> tower::Service<Request<B>> for Service<S>
where
    S: tower::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TaskLocalFuture<RequestHost, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let host = RequestHost::of(req.headers(), self.trust_proxy);
        // The inner service's `call` only makes its future; the handler
        // runs when that is polled, inside the scope.
        REQUEST.scope(host, self.inner.call(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().expect("a header value"));
        }
        h
    }

    fn base(pairs: &[(&'static str, &'static str)], trust_proxy: bool) -> Option<String> {
        RequestHost::of(&headers(pairs), trust_proxy).base()
    }

    #[test]
    fn the_host_header_makes_the_base_and_forwarded_headers_count_only_when_trusted() {
        let h = [
            ("host", "localhost:18080"),
            ("x-forwarded-host", "mock.example, inner.proxy"),
            ("x-forwarded-proto", "https"),
        ];
        assert_eq!(base(&h, false).as_deref(), Some("http://localhost:18080"));
        assert_eq!(base(&h, true).as_deref(), Some("https://mock.example"));
        assert_eq!(
            base(&[("host", "[::1]:8080")], false).as_deref(),
            Some("http://[::1]:8080")
        );
        assert_eq!(base(&[("host", "[::1]")], false).as_deref(), Some("http://[::1]"));
        assert_eq!(base(&[], false), None);
    }

    #[test]
    fn a_host_that_is_no_plain_authority_is_not_used() {
        for bad in [
            "evil.test/x?",
            "user@evil.test",
            "a b",
            "host:port",
            "[::1",
            "[::1]x",
            "h:99999",
            "h:+80",
            "h:",
            "",
        ] {
            let mut h = HeaderMap::new();
            if let Ok(v) = bad.parse() {
                h.insert("host", v);
            }
            assert_eq!(RequestHost::of(&h, false).base(), None, "{bad:?}");
        }
        assert_eq!(
            base(&[("host", "ok.test"), ("x-forwarded-proto", "gopher")], true),
            None
        );
    }

    #[tokio::test]
    async fn current_is_the_scoped_requests_base_and_none_outside() {
        assert_eq!(current(), None);
        let host = RequestHost::of(&headers(&[("host", "a.test:1")]), false);
        let inside = REQUEST.scope(host, async { current() }).await;
        assert_eq!(inside.as_deref(), Some("http://a.test:1"));
    }
}
