//! Which `Host` the control API answers: DNS rebinding's defence. A page
//! on `http://evil.example:8080` whose name the attacker then points at
//! 127.0.0.1 is same-origin with the fake to the browser, so its `GET`s
//! carry no `Origin` and the `Origin` check cannot see it; but its `Host`
//! is `evil.example`. The fake answers its control API only under names
//! that cannot be rebound (an IP address, `localhost`) or that it was told
//! are its own (the `--public-url` host).

use std::net::IpAddr;

use axum::http::HeaderValue;
use axum::http::uri::Authority;

/// The host of `authority` (`name:port`, `[v6]:port`), lower-case, without
/// brackets or a trailing dot.
fn host_of(authority: &str) -> Option<String> {
    let a: Authority = authority.parse().ok()?;
    let host = a.host().trim_start_matches('[').trim_end_matches(']');
    Some(host.trim_end_matches('.').to_ascii_lowercase())
}

/// Whether a control request with this `Host` header is answered, the fake
/// serving under `public_url`. No `Host` at all (HTTP/1.0 tools) is not a
/// browser: answered. A `Host` that cannot be read is refused.
pub fn allowed(host: Option<&HeaderValue>, public_url: &str) -> bool {
    let Some(host) = host else { return true };
    let Some(name) = host.to_str().ok().and_then(host_of) else {
        return false;
    };
    if name.parse::<IpAddr>().is_ok() || name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    let public = public_url
        .split_once("://")
        .map_or(public_url, |(_, rest)| rest)
        .split(['/', '?', '#'])
        .next()
        .and_then(host_of);
    public.is_some_and(|p| p == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(host: &str, public: &str) -> bool {
        allowed(Some(&HeaderValue::from_str(host).expect("a header value")), public)
    }

    #[test]
    fn ip_addresses_localhost_and_the_public_name_pass_other_names_do_not() {
        let local = "http://127.0.0.1:8080";
        for pass in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "[::1]:8080",
            "10.0.0.7:8080",
            "localhost:8080",
            "LOCALHOST",
            "app.localhost:1",
        ] {
            assert!(ok(pass, local), "{pass}");
        }
        for refuse in [
            "evil.example:8080",
            "evil.example",
            "127.0.0.1.evil.example",
            "localhost.evil.example",
            "",
            "a b",
        ] {
            assert!(!ok(refuse, local), "{refuse:?}");
        }
        let public = "https://Fake.CI.internal:9443/base";
        assert!(ok("fake.ci.internal:9443", public));
        assert!(ok("fake.ci.internal.", public), "a trailing dot is the same name");
        assert!(!ok("other.ci.internal:9443", public));
        assert!(allowed(None, local), "no Host: not a browser");
    }
}
