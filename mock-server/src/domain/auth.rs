//! Credentials and token lifetimes as the vendor's auth endpoints take them.

use std::borrow::Cow;
use std::time::Duration;

use base64::Engine as _;

/// The shortest lifetime of a long-lived API token.
pub const MIN_API_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// The longest lifetime of a long-lived API token (4 years).
pub const MAX_API_TOKEN_LIFETIME: Duration = Duration::from_secs(4 * 365 * 86_400 + 86_400);
/// How many unexpired long-lived API tokens one user may hold.
pub const MAX_ACTIVE_API_TOKENS: usize = 20;
/// The longest bearer token accepted; longer is malformed.
pub const MAX_TOKEN_LEN: usize = 512;

/// Reads `Authorization: Basic base64(email:password)`.
pub fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

/// Why a bearer token could not even be looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerError {
    /// No `Authorization` header (and no `?token=` where allowed).
    Missing,
    /// Not `Bearer <token>` with a token of visible ASCII, at most 512 long.
    Malformed,
}

/// Reads `Authorization: Bearer <token>`.
pub fn parse_bearer(header: Option<&str>) -> Result<&str, BearerError> {
    let header = header.ok_or(BearerError::Missing)?.trim();
    let (scheme, token) = header.split_once(' ').ok_or(BearerError::Malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || !is_token_shaped(token) {
        return Err(BearerError::Malformed);
    }
    Ok(token)
}

/// The bearer token of a request: its `Authorization` header (`header`)
/// when it has one, else the `token` parameter of its query, which the SSE
/// endpoint accepts because browsers' `EventSource` cannot send headers.
/// The one reading of "who calls" for authentication, the journal's caller
/// digest and a scenario's per-token choice.
pub fn request_token<'a>(header: Option<&'a str>, query: Option<&'a str>) -> Result<Cow<'a, str>, BearerError> {
    if header.is_some() {
        return parse_bearer(header).map(Cow::Borrowed);
    }
    let token = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v);
    match token {
        None => Err(BearerError::Missing),
        Some(t) if is_token_shaped(&t) => Ok(t),
        Some(_) => Err(BearerError::Malformed),
    }
}

/// Whether `t` could be a token: 1–512 visible ASCII characters.
pub fn is_token_shaped(t: &str) -> bool {
    !t.is_empty() && t.len() <= MAX_TOKEN_LEN && t.bytes().all(|b| b.is_ascii_graphic())
}

/// Parses the lifetime of `POST /auth/token`: seconds (a number or a string
/// of digits), an ISO 8601 duration (`P30D`, `PT1H30M`), or
/// `[-][DD]D[,][HH:MM:]SS` (`2D,03:00:00`). Then checks 1 hour – 4 years.
pub fn parse_token_lifetime(v: &serde_json::Value) -> Result<Duration, String> {
    let secs: i64 = match v {
        serde_json::Value::Number(n) => n.as_i64().ok_or("must be a whole number of seconds")?,
        serde_json::Value::String(s) => parse_lifetime_str(s.trim())?,
        _ => return Err("must be seconds, an ISO 8601 duration or [-][DD]D[,][HH:MM:]SS".into()),
    };
    let d = Duration::from_secs(u64::try_from(secs).map_err(|_| "must be at least 1 hour")?);
    if d < MIN_API_TOKEN_LIFETIME {
        return Err("must be at least 1 hour".into());
    }
    if d > MAX_API_TOKEN_LIFETIME {
        return Err("must be at most 4 years".into());
    }
    Ok(d)
}

fn parse_lifetime_str(s: &str) -> Result<i64, String> {
    let bad = || format!("not a duration: {s:?} (use seconds, P30D, PT1H or 2D,03:00:00)");
    if let Ok(n) = s.parse::<i64>() {
        return Ok(n);
    }
    if let Some(rest) = s.strip_prefix('P') {
        return parse_iso8601(rest).ok_or_else(bad);
    }
    let (neg, s2) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
    let (days, clock) = match s2.split_once('D') {
        Some((d, rest)) => (
            d.trim().parse::<i64>().map_err(|_| bad())?,
            rest.trim_start_matches(',').trim(),
        ),
        None => (0, s2),
    };
    let parts: Vec<&str> = if clock.is_empty() {
        Vec::new()
    } else {
        clock.split(':').collect()
    };
    let nums: Vec<u64> = parts
        .iter()
        .map(|p| p.parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let clock_secs: Option<u64> = match nums.as_slice() {
        [] => Some(0),
        [ss] => Some(*ss),
        [hh, mm, ss] if *mm < 60 && *ss < 60 => hh.checked_mul(3600).and_then(|h| h.checked_add(mm * 60 + ss)),
        _ => return Err(bad()),
    };
    let clock_secs = clock_secs.and_then(|c| i64::try_from(c).ok()).ok_or_else(bad)?;
    let total = days
        .checked_mul(86_400)
        .and_then(|d| d.checked_add(clock_secs))
        .ok_or_else(bad)?;
    Ok(if neg { -total } else { total })
}

/// `P` already stripped: `[nY][nM][nW][nD][T[nH][nM][nS]]`, a year 365 days
/// and a month 30.
fn parse_iso8601(s: &str) -> Option<i64> {
    let (date, time) = s.split_once('T').unwrap_or((s, ""));
    if date.is_empty() && time.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    for (part, units) in [
        (
            date,
            &[
                ('Y', 365 * 86_400),
                ('M', 30 * 86_400),
                ('W', 7 * 86_400),
                ('D', 86_400),
            ][..],
        ),
        (time, &[('H', 3600), ('M', 60), ('S', 1)][..]),
    ] {
        let mut num = String::new();
        let mut next_unit = 0;
        for c in part.chars() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            let idx = units.iter().skip(next_unit).position(|(u, _)| *u == c)? + next_unit;
            let n: i64 = num.parse().ok()?;
            total = total.checked_add(n.checked_mul(units[idx].1)?)?;
            num.clear();
            next_unit = idx + 1;
        }
        if !num.is_empty() {
            return None;
        }
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_header_wins_and_the_query_token_is_the_fallback() {
        let t = |h, q| request_token(h, q).map(Cow::into_owned);
        assert_eq!(t(Some("Bearer abc"), Some("token=xyz")), Ok("abc".to_owned()));
        assert_eq!(
            t(Some("Basic abc"), Some("token=xyz")),
            Err(BearerError::Malformed),
            "a header that is there is the credential, even a wrong one"
        );
        assert_eq!(t(None, Some("a=1&token=x%2By")), Ok("x+y".to_owned()));
        assert_eq!(t(None, Some("token=a%20b")), Err(BearerError::Malformed));
        assert_eq!(t(None, Some("a=1")), Err(BearerError::Missing));
        assert_eq!(t(None, None), Err(BearerError::Missing));
    }

    #[test]
    fn basic_credentials_decode() {
        // base64("demo@example.com:pw:with:colons")
        let h = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("demo@example.com:pw:with:colons")
        );
        assert_eq!(
            parse_basic(&h),
            Some(("demo@example.com".into(), "pw:with:colons".into()))
        );
        assert_eq!(parse_basic("Bearer abc"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
    }

    #[test]
    fn bearer_tokens_are_checked_for_shape() {
        assert_eq!(parse_bearer(Some("Bearer abc")), Ok("abc"));
        assert_eq!(parse_bearer(Some("bearer abc")), Ok("abc"));
        assert_eq!(parse_bearer(None), Err(BearerError::Missing));
        assert_eq!(parse_bearer(Some("Token abc")), Err(BearerError::Malformed));
        assert_eq!(parse_bearer(Some("Bearer ")), Err(BearerError::Malformed));
        assert_eq!(parse_bearer(Some("Bearer a\u{7f}b")), Err(BearerError::Malformed));
        assert_eq!(
            parse_bearer(Some(&format!("Bearer {}", "a".repeat(513)))),
            Err(BearerError::Malformed)
        );
    }

    #[test]
    fn lifetimes_in_every_documented_form() {
        let d = |v| parse_token_lifetime(&v).map(|d| d.as_secs());
        assert_eq!(d(json!(3600)), Ok(3600));
        assert_eq!(d(json!("7200")), Ok(7200));
        assert_eq!(d(json!("P30D")), Ok(30 * 86_400));
        assert_eq!(d(json!("PT1H30M")), Ok(5400));
        assert_eq!(d(json!("P1DT1H")), Ok(90_000));
        assert_eq!(d(json!("2D,03:00:00")), Ok(2 * 86_400 + 3 * 3600));
        assert_eq!(d(json!("1D")), Ok(86_400));
        assert_eq!(d(json!("01:00:00")), Ok(3600));
    }

    #[test]
    fn lifetimes_out_of_range_or_malformed_are_refused() {
        for v in [
            json!(59),
            json!("-1D"),
            json!("P5Y"),
            json!("PT"),
            json!("P1H"),
            json!("soon"),
            json!(true),
            json!(1.5),
            json!("1:2"),
            json!("9999999999999999:00:00"),
            json!("2:-59:00"),
            json!("P99999999999999999999D"),
            json!("99999999999999D"),
        ] {
            assert!(parse_token_lifetime(&v).is_err(), "{v}");
        }
    }
}
