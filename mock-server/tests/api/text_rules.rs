//! The text rules the fake enforces are the patterns the contract states:
//! for strings generated from each schema's own pattern (valid by the
//! document, as Schemathesis makes them) and from pieces chosen to sit on
//! the rules' edges (control characters, every kind of whitespace, the
//! length limits, extensions, hosts and ports), the server's check accepts
//! exactly what the schema accepts (differential). `PROPTEST_CASES` sets
//! the count.

use mock_server::api::webhooks::check_url;
use mock_server::contract::{Contract, SCHEMA_FILES};
use mock_server::domain::names::{ProjectName, identity_label};
use mock_server::domain::upload::UploadName;
use mock_server::error::ApiError;
use proptest::prelude::*;
use serde_json::{Value, json};

/// The pattern at `pointer` in schema file `file`, without its anchors (the
/// generator wants none; every pattern here is anchored at both ends).
fn pattern(file: &str, pointer: &str) -> String {
    let text = SCHEMA_FILES
        .iter()
        .find(|(n, _)| *n == file)
        .map(|(_, t)| *t)
        .unwrap_or_else(|| panic!("no {file}"));
    let schema: Value = serde_json::from_str(text).expect("json");
    let p = schema
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no pattern at {file}{pointer}"));
    p.strip_prefix('^')
        .and_then(|p| p.strip_suffix('$'))
        .unwrap_or_else(|| panic!("{file}{pointer} is not anchored"))
        .to_owned()
}

/// Strings the pattern matches, and strings built from edge pieces, some
/// padded to just under or over a length limit.
fn strings(file: &str, pointer: &str, limit: usize) -> impl Strategy<Value = String> {
    let from_pattern = proptest::string::string_regex(&pattern(file, pointer)).expect("the pattern compiles");
    let piece = prop_oneof![
        "[a-zA-Z0-9]{1,6}",
        prop::sample::select(vec![
            " ",
            "\t",
            "\n",
            "\r",
            "\u{0}",
            "\u{1f}",
            "\u{7f}",
            "\u{85}",
            "\u{9f}",
            "\u{a0}",
            "\u{1680}",
            "\u{2000}",
            "\u{2028}",
            "\u{3000}",
            "\u{feff}",
            "é",
            "😀",
            ".",
            ".jpg",
            ".JPEG",
            ".Png",
            ".webp",
            ".gif",
            "http://",
            "HTTPS://",
            "ftp://",
            "example.com",
            "x.1a",
            "xn--",
            "a--b",
            "_",
            "-",
            ":",
            ":8080",
            ":65535",
            ":65536",
            "/",
            "\\",
            "?q=1",
            "#f",
            "@",
            "[",
            "]",
            "[::1]",
            "[1:2::3]",
            "127.0.0.1",
            "256.1.1.1",
            "%41",
        ])
        .prop_map(str::to_owned),
    ];
    let edgy = prop::collection::vec(piece, 0..10).prop_map(|v| v.concat());
    let padded = (edgy.clone(), limit - 3..limit + 3).prop_map(|(s, n)| {
        let pad = n.saturating_sub(s.chars().count());
        format!("{}{s}", "a".repeat(pad))
    });
    prop_oneof![from_pattern, edgy, padded]
}

/// A scheme, a host and a port, each right or subtly wrong, then a tail.
fn url_like() -> impl Strategy<Value = String> {
    let pick = |v: Vec<&'static str>| prop::sample::select(v);
    (
        pick(vec![
            "http://", "https://", "HTTP://", "hTtPs://", "ftp://", " http://", "http:", "http:/",
        ]),
        pick(vec!["", "user@", "u:p@", "@", "a@b@"]),
        pick(vec![
            "example.com",
            "example.com.",
            "Host_1.example",
            "localhost",
            "x.1a",
            "x.0x1",
            "2130706433",
            "bücher.example",
            "a--b.example",
            "xn--bcher-kva.example",
            "xn--zz.example",
            "-a.example",
            "a..b",
            "127.0.0.1",
            "256.1.1.1",
            "127.1",
            "[::1]",
            "[1:2::3]",
            "[::1::]",
            "[::ffff:1.2.3.4]",
            "[::1.2.3.04]",
            "%41.example",
            "",
        ]),
        pick(vec!["", ":", ":0", ":080", ":65535", ":65536", ":99999", ":x"]),
        pick(vec![
            "",
            "/",
            "/hook",
            "/a b",
            "/\u{7f}",
            "?q=1",
            "#f",
            "\\x",
            "/é",
            "/\u{2028}",
        ]),
    )
        .prop_map(|(a, b, c, d, e)| format!("{a}{b}{c}{d}{e}"))
}

/// Whether the server refused `url` only because an `xn--` label of its
/// host does not decode as punycode.
fn bad_punycode(url: &str, refusal: Option<&ApiError>) -> bool {
    url.to_ascii_lowercase().contains("xn--")
        && refusal.is_some_and(|e| format!("{e:?}").contains("invalid international domain name"))
}

fn schema_accepts(file: &str, body: &Value) -> bool {
    Contract::global().validate(file, body).is_ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(64)))]

    #[test]
    fn project_names(s in strings("common.json", "/$defs/projectName/pattern", 200)) {
        let by_schema = schema_accepts("project-create-request.json", &json!({ "project_name": s }));
        prop_assert_eq!(ProjectName::parse(&s).is_ok(), by_schema, "{:?}", s);
        // The same rule where POST /upload names its project.
        let upload = json!({ "filename": "a.jpg", "project_name": s });
        prop_assert_eq!(schema_accepts("upload-request.json", &upload), by_schema);
    }

    #[test]
    fn upload_filenames(s in strings("upload-request.json", "/properties/filename/pattern", 255)) {
        let by_schema = schema_accepts("upload-request.json", &json!({ "filename": s }));
        prop_assert_eq!(UploadName::parse(&s).is_ok(), by_schema, "{:?}", s);
    }

    #[test]
    fn identity_labels(s in strings("common.json", "/$defs/plainText/pattern", 200)) {
        for field in ["name", "tag"] {
            let by_schema = schema_accepts("identity-upload-request.json", &json!({ "image": "x", field: s }));
            prop_assert_eq!(identity_label(field, &s).is_ok(), by_schema, "{}: {:?}", field, s);
        }
    }

    #[test]
    fn webhook_urls(s in prop_oneof![strings("webhook-request.json", "/properties/url/pattern", 2048), url_like()]) {
        let by_schema = schema_accepts("webhook-request.json", &json!({ "url": s }));
        let by_server = check_url(&s);
        // The one rule a pattern cannot state: an `xn--` label must decode
        // as punycode (the URL parser refuses it otherwise).
        let undecodable = by_schema && by_server.is_err() && bad_punycode(&s, by_server.as_ref().err());
        prop_assert_eq!(by_server.is_ok() || undecodable, by_schema, "{:?}: {:?}", s, by_server.err());
    }
}

/// Hand-picked edges, so a drift shows by name whatever the generator
/// happens to draw.
#[test]
fn the_edges_agree() {
    let long = |n: usize| "a".repeat(n);
    for (name, ok) in [
        (long(200), true),
        (long(201), false),
        (format!("{} ", long(200)), false),
        ("  x  ".to_owned(), true),
        (" \u{3000}\u{a0}".to_owned(), false),
        ("\tx".to_owned(), false),
        ("x\u{85}".to_owned(), false),
        ("x\u{2028}y".to_owned(), true),
    ] {
        assert_eq!(ProjectName::parse(&name).is_ok(), ok, "{name:?}");
        let by_schema = schema_accepts("project-create-request.json", &json!({ "project_name": name }));
        assert_eq!(by_schema, ok, "{name:?}");
    }
    for (url, ok) in [
        ("https://example.com/hooks/piktid", true),
        ("HTTP://Example.COM", true),
        ("http://127.0.0.1:65535/x?y#z", true),
        ("http://127.0.0.1:65536/", false),
        ("http://[::ffff:1.2.3.4]:9/", true),
        ("http://[::1::]/", false),
        ("http://user:pw@host_1.example./p", true),
        ("http://bücher.example/", false),
        // Punycode (the ASCII form of an internationalised name) is a name a
        // real receiver can have; hyphens may repeat inside a label.
        ("http://xn--bcher-kva.example/hook", true),
        ("https://hooks.XN--BCHER-KVA.example:8443/", true),
        ("http://a--b.example/", true),
        ("http://a-.example/", false),
        ("http://-a.example/", false),
        ("http://a.-b/", false),
        ("http://a.1a/", false),
        ("http://256.1.1.1/", false),
        ("http://example.com/a b", false),
        (" http://example.com/", false),
        ("http://example.com/\u{feff}", true),
        ("http:example.com", false),
    ] {
        let by_server = check_url(url);
        assert_eq!(by_server.is_ok(), ok, "{url}: {:?}", by_server.err());
        assert_eq!(
            schema_accepts("webhook-request.json", &json!({ "url": url })),
            ok,
            "{url}"
        );
    }
    // Valid by the pattern, but no punycode: refused, naming the field.
    let url = "http://xn--zz.example/";
    assert!(schema_accepts("webhook-request.json", &json!({ "url": url })));
    let refusal = check_url(url).expect_err("not decodable");
    assert!(bad_punycode(url, Some(&refusal)), "{refusal:?}");
    assert!(format!("{refusal:?}").contains(r#"field: Some("url")"#), "{refusal:?}");
    let url = format!("http://example.com/{}", "é".repeat(2048 - 19));
    assert_eq!(url.chars().count(), 2048);
    assert!(check_url(&url).is_ok(), "2048 characters, more bytes");
    assert!(schema_accepts("webhook-request.json", &json!({ "url": url })));
}
