//! `--rewrite-urls`: the links the upstream hands out (pre-signed uploads,
//! result images, ZIPs) made to point at the proxy, so the client's PUTs
//! and downloads pass through it and are checked and recorded too. Only
//! when asked: rewriting changes the bytes of the answer.
//!
//! A link under the upstream's base becomes the same path under the
//! proxy's; a link of another host (an S3 bucket) becomes
//! `/__proxy/o/{hex of its origin}{path}?{query}`, which the proxy sends
//! back to that origin with path and query untouched (a pre-signed
//! signature covers them).

use reqwest::Url;
use serde_json::Value;

/// Where the proxy sends links of another host.
pub const ORIGIN_PREFIX: &str = "/__proxy/o/";

/// Rewrites every absolute http(s) link in `v` (any depth) to the proxy
/// at `public`; the upstream is `upstream`. Returns whether anything
/// changed.
pub fn links(v: &mut Value, upstream: &str, public: &str) -> bool {
    match v {
        Value::String(s) => match link(s, upstream, public) {
            Some(new) => {
                *s = new;
                true
            }
            None => false,
        },
        Value::Array(items) => items.iter_mut().fold(false, |any, i| links(i, upstream, public) | any),
        Value::Object(map) => map.values_mut().fold(false, |any, i| links(i, upstream, public) | any),
        _ => false,
    }
}

/// The proxy's URL for the link `s`, if it is one to rewrite.
fn link(s: &str, upstream: &str, public: &str) -> Option<String> {
    if !(s.starts_with("http://") || s.starts_with("https://")) || s.starts_with(public) {
        return None;
    }
    if let Some(rest) = s.strip_prefix(upstream)
        && (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
    {
        return Some(format!("{public}{rest}"));
    }
    let url = Url::parse(s).ok()?;
    let origin = url.origin().ascii_serialization();
    // A link written unlike its origin's serialisation (`:443`, upper case)
    // keeps its path and query as parsed.
    let rest = match s.strip_prefix(origin.as_str()) {
        Some(rest) => rest.to_owned(),
        None => match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        },
    };
    Some(format!("{public}{ORIGIN_PREFIX}{}{rest}", hex::encode(origin)))
}

/// The original URL of a rewritten foreign link's path and query
/// (`/__proxy/o/{hex}/bucket/key` and `X-Amz-…=…`), if it is one.
pub fn original(path: &str, query: Option<&str>) -> Option<String> {
    let rest = path.strip_prefix(ORIGIN_PREFIX)?;
    let (hex_origin, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let origin = String::from_utf8(hex::decode(hex_origin).ok()?).ok()?;
    if !(origin.starts_with("http://") || origin.starts_with("https://")) {
        return None;
    }
    Some(match query {
        Some(q) => format!("{origin}{path}?{q}"),
        None => format!("{origin}{path}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn links_point_at_the_proxy_and_come_back_unchanged() {
        let up = "http://127.0.0.1:9000";
        let me = "http://127.0.0.1:7000";
        let mut v = json!({
            "upload_url": "https://bucket.s3.example.com/k/sku_1.jpg?X-Amz-Signature=ab%2Fc&X-Amz-Expires=900",
            "download_url": "http://127.0.0.1:9000/files/sku_1?Signature=x",
            "results": [{"output": {"full_size": "http://127.0.0.1:7000/already"}}],
            "name": "not a link", "n": 3
        });
        assert!(links(&mut v, up, me));
        assert_eq!(v["download_url"], "http://127.0.0.1:7000/files/sku_1?Signature=x");
        assert_eq!(v["results"][0]["output"]["full_size"], "http://127.0.0.1:7000/already");
        assert_eq!(v["name"], "not a link");
        let rewritten = v["upload_url"].as_str().expect("s");
        let u = Url::parse(rewritten).expect("url");
        assert!(u.path().starts_with(ORIGIN_PREFIX), "{rewritten}");
        assert_eq!(
            original(u.path(), u.query()).as_deref(),
            Some("https://bucket.s3.example.com/k/sku_1.jpg?X-Amz-Signature=ab%2Fc&X-Amz-Expires=900")
        );
        let mut plain = json!({"status": "completed"});
        assert!(!links(&mut plain, up, me));
        assert_eq!(original("/__proxy/o/zz/x", None), None);
        assert_eq!(
            original(&format!("/__proxy/o/{}/x", hex::encode("file:/etc")), None),
            None
        );
    }
}
