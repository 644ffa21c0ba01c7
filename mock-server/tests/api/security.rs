//! Security: the control API's token and loopback restriction, its refusal
//! of web pages of other origins, CORS off by default and on by flag, and
//! secrets kept out of the log and the journal.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use base64::Engine as _;
use mock_server::domain::secret::SecretDigest;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::binary::{Binary, send_json};
use crate::helpers::{DEMO, TestApp, png};
use crate::peers::{Behaviour, Receiver};

const ADMIN: &str = "adm_7f3c9e1b5d";

#[tokio::test]
async fn with_an_admin_token_the_control_api_needs_it_and_the_vendor_api_does_not() {
    let app = TestApp::spawn_with(|c| c.admin_token = Some(SecretDigest::of(ADMIN))).await;
    for token in [None, Some("adm_7f3c9e1b5e"), Some("adm_7f3c9e1b5"), Some(DEMO)] {
        let mut call = app.get("/__admin/health");
        if let Some(t) = token {
            call = call.token(t);
        }
        let r = call.send().await.expect(401);
        assert_eq!(r.error_field().as_deref(), Some("Authorization"), "{token:?}");
        assert_eq!(r.headers["www-authenticate"], "Bearer");
    }
    let r = app
        .post("/__admin/clock")
        .json(json!({"advance": "1h"}))
        .send()
        .await
        .expect(401);
    assert_eq!(r.json()["error"], "Unauthorized");
    app.get("/__admin/health").token(ADMIN).send().await.expect(200);
    app.post("/__admin/clock")
        .token(ADMIN)
        .json(json!({"advance": "1h"}))
        .send()
        .await
        .expect(200);
    // The vendor API keeps its own tokens, and does not take the admin's.
    app.get("/project").token(DEMO).send().await.expect(200);
    app.get("/project").token(ADMIN).send().await.expect(401);
}

/// The router called in process with a chosen peer address: what
/// `serve_on` attaches to every request from the connection.
async fn admin_health_from(app: &TestApp, peer: Option<&str>) -> (u16, Value) {
    let mut req = Request::get("/__admin/health").body(Body::empty()).expect("request");
    if let Some(p) = peer {
        let addr: SocketAddr = p.parse().expect("address");
        req.extensions_mut().insert(ConnectInfo(addr));
    }
    let res = mock_server::app(app.state.clone())
        .oneshot(req)
        .await
        .expect("infallible");
    let status = res.status().as_u16();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20).await.expect("body");
    (status, serde_json::from_slice(&body).expect("JSON"))
}

#[tokio::test]
async fn loopback_only_refuses_other_peers_with_403() {
    let app = TestApp::spawn_with(|c| c.admin_loopback_only = true).await;
    // Over a real socket the test is a loopback peer.
    app.get("/__admin/health").send().await.expect(200);
    for peer in ["127.0.0.1:5000", "[::1]:5000", "[::ffff:127.0.0.1]:5000"] {
        assert_eq!(admin_health_from(&app, Some(peer)).await.0, 200, "{peer}");
    }
    for peer in [Some("192.168.1.20:5000"), Some("[2001:db8::1]:5000"), None] {
        let (status, body) = admin_health_from(&app, peer).await;
        assert_eq!(status, 403, "{peer:?}");
        mock_server::contract::Contract::global()
            .validate("error.json", &body)
            .expect("the error envelope");
        assert!(body["detail"][0]["message"].as_str().expect("m").contains("loopback"));
    }
    // The vendor API answers any peer.
    let req = Request::get("/project")
        .header("authorization", format!("Bearer {DEMO}"))
        .extension(ConnectInfo("192.168.1.20:5000".parse::<SocketAddr>().expect("addr")))
        .body(Body::empty())
        .expect("request");
    let res = mock_server::app(app.state.clone())
        .oneshot(req)
        .await
        .expect("infallible");
    assert_eq!(res.status(), 200);
}

/// A CORS preflight for `POST /project` from `origin`.
async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{}/project", app.base))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization,content-type")
        .send()
        .await
        .expect("sent")
}

/// `GET /project` (a simple CORS request) from `origin`.
async fn get_from(app: &TestApp, origin: &str) -> crate::helpers::Resp {
    app.get("/project")
        .token(DEMO)
        .header("origin", origin)
        .send()
        .await
        .expect(200)
}

fn cors_headers(h: &reqwest::header::HeaderMap) -> Vec<String> {
    h.keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

#[tokio::test]
async fn cors_is_off_by_default() {
    let app = TestApp::spawn().await;
    let r = preflight(&app, "http://app.test:3000").await;
    assert_eq!(r.status(), 405, "a preflight is an unknown method");
    assert_eq!(cors_headers(r.headers()), Vec::<String>::new());
    let r = get_from(&app, "http://app.test:3000").await;
    assert_eq!(cors_headers(&r.headers), Vec::<String>::new());
}

#[tokio::test]
async fn cors_origins_from_the_flag_are_allowed_and_others_are_not() {
    let app = TestApp::spawn_with(|c| {
        c.cors_origin = vec!["http://app.test:3000".into(), "https://qa.example".into()];
    })
    .await;
    let r = preflight(&app, "http://app.test:3000").await;
    assert_eq!(r.status(), 200);
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], "http://app.test:3000");
    let methods = h["access-control-allow-methods"].to_str().expect("methods");
    assert!(methods.contains("POST") && methods.contains("DELETE"), "{methods}");
    assert_eq!(h["access-control-allow-headers"], "authorization,content-type");
    assert!(h.get("access-control-allow-credentials").is_none());

    let r = get_from(&app, "https://qa.example").await;
    assert_eq!(r.headers["access-control-allow-origin"], "https://qa.example");
    let exposed = r.headers["access-control-expose-headers"].to_str().expect("expose");
    assert!(exposed.contains("retry-after") && exposed.contains("etag"), "{exposed}");

    let r = preflight(&app, "http://evil.test").await;
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = get_from(&app, "http://evil.test").await;
    assert!(r.headers.get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn cors_star_allows_any_origin() {
    let app = TestApp::spawn_with(|c| c.cors_origin = vec!["*".into()]).await;
    let r = preflight(&app, "http://anything.test").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn a_web_page_cannot_reset_the_fake_through_a_cross_site_form() {
    let app = TestApp::spawn().await;
    app.post("/project")
        .token(DEMO)
        .json(json!({"project_name": "kept"}))
        .send()
        .await
        .expect(201);
    // What an auto-submitted HTML form on another site sends: no preflight,
    // no credentials, an `Origin`.
    for origin in ["http://evil.test", "null", "http://127.0.0.1:9"] {
        let r = app
            .post("/__admin/reset")
            .header("origin", origin)
            .bytes("application/x-www-form-urlencoded", Vec::new())
            .send()
            .await
            .expect(403);
        assert_eq!(r.json()["error"], "Forbidden");
        assert_eq!(r.error_field().as_deref(), Some("Origin"), "{origin}");
        assert!(r.headers.get("access-control-allow-origin").is_none());
        app.get("/__admin/health")
            .header("origin", origin)
            .send()
            .await
            .expect(403);
    }
    let projects = app.get("/project").token(DEMO).send().await.expect(200).json();
    assert!(
        projects.to_string().contains("kept"),
        "the reset was refused: {projects}"
    );
    // The vendor API answers any origin (CORS decides what a page may read).
    app.get("/project")
        .token(DEMO)
        .header("origin", "http://evil.test")
        .send()
        .await
        .expect(200);
    // Without `Origin` (curl, SDKs, tests) the control API is open as before.
    app.post("/__admin/reset").send().await.expect(200);
}

#[tokio::test]
async fn a_rebound_dns_name_cannot_reach_the_control_api() {
    // A page on evil.example whose name now resolves to 127.0.0.1 is
    // same-origin to the browser: its GET carries no `Origin`, only `Host`.
    let app = TestApp::spawn_with(|c| c.public_url = Some("http://fake.ci.internal:8080".into())).await;
    for host in ["evil.example:8080", "evil.example", "127.0.0.1.evil.example"] {
        let r = app
            .get("/__admin/journal")
            .header("host", host)
            .send()
            .await
            .expect(403);
        assert_eq!(r.error_field().as_deref(), Some("Host"), "{host}");
        app.post("/__admin/reset").header("host", host).send().await.expect(403);
    }
    for host in [
        "127.0.0.1:8080",
        "localhost:8080",
        "[::1]:8080",
        "fake.ci.internal:8080",
    ] {
        app.get("/__admin/health").header("host", host).send().await.expect(200);
    }
    // The vendor API answers under any name.
    app.get("/project")
        .token(DEMO)
        .header("host", "evil.example:8080")
        .send()
        .await
        .expect(200);
}

#[tokio::test]
async fn the_control_api_answers_pages_of_the_cors_origins_only() {
    let app = TestApp::spawn_with(|c| c.cors_origin = vec!["http://app.test:3000".into()]).await;
    let r = app
        .post("/__admin/clock")
        .header("origin", "http://app.test:3000")
        .json(json!({"advance": "1m"}))
        .send()
        .await
        .expect(200);
    assert_eq!(r.headers["access-control-allow-origin"], "http://app.test:3000");
    for origin in ["http://evil.test", "https://app.test:3000", "http://app.test:3000/"] {
        app.post("/__admin/reset")
            .header("origin", origin)
            .send()
            .await
            .expect(403);
    }
    // `*` opens the vendor API to every page, but not the control API.
    let app = TestApp::spawn_with(|c| c.cors_origin = vec!["*".into()]).await;
    app.post("/__admin/reset")
        .header("origin", "http://evil.test")
        .send()
        .await
        .expect(403);
    let r = app
        .get("/project")
        .token(DEMO)
        .header("origin", "http://evil.test")
        .send()
        .await
        .expect(200);
    assert_eq!(r.headers["access-control-allow-origin"], "*");
}

/// Drives every kind of secret through the real binary with the most
/// verbose log, then looks for each in the log and the journal.
#[tokio::test]
async fn no_secret_reaches_the_log_or_the_journal() {
    let mut server = Binary::start(
        &["--time-scale", "0", "--clock", "manual", "--admin-token", ADMIN],
        &[("MOCK_LOG", "trace")],
    )
    .await;
    let base = server.url.clone();
    let http = reqwest::Client::new();
    let mut secrets = vec![ADMIN.to_owned(), "demo-password".to_owned(), DEMO.to_owned()];

    // A password (HTTP Basic) and the tokens it gives.
    let basic = base64::engine::general_purpose::STANDARD.encode("demo@flat2model.test:demo-password");
    let login = send_json(
        http.post(format!("{base}/auth/login"))
            .header("authorization", format!("Basic {basic}")),
    )
    .await;
    let refresh = login["refresh_token"].as_str().expect("refresh_token").to_owned();
    let refreshed = send_json(
        http.post(format!("{base}/auth/refresh"))
            .json(&json!({ "refresh_token": refresh })),
    )
    .await;
    let token = refreshed["token"].as_str().expect("token").to_owned();
    secrets.extend([
        login["token"].as_str().expect("token").to_owned(),
        refresh,
        token.clone(),
        refreshed["refresh_token"].as_str().expect("rt").to_owned(),
    ]);

    // A webhook secret and the signatures made with it.
    let mut rx = Receiver::start(Behaviour::FailFirst(0)).await;
    let hook = send_json(
        http.put(format!("{base}/webhooks"))
            .bearer_auth(&token)
            .json(&json!({ "url": rx.url })),
    )
    .await;
    secrets.push(hook["secret"].as_str().expect("secret").to_owned());
    let ping = rx.next().await;
    secrets.push(ping.headers["x-webhook-signature"].to_str().expect("sig").to_owned());

    // A pre-signed upload and download, and the SSE stream's query token.
    let up = send_json(
        http.post(format!("{base}/upload"))
            .bearer_auth(&token)
            .json(&json!({ "filename": "sku.png" })),
    )
    .await;
    let upload_url = up["upload_url"].as_str().expect("upload_url");
    let put = http
        .put(upload_url)
        .header("content-type", "image/png")
        .body(png(3))
        .send()
        .await
        .expect("PUT");
    assert_eq!(put.status(), 200);
    let download_url = up["download_url"].as_str().expect("download_url");
    assert_eq!(http.get(download_url).send().await.expect("GET").status(), 200);
    for url in [upload_url, download_url] {
        let sig = url.split("Signature=").nth(1).expect("signed");
        secrets.push(sig.to_owned());
    }
    let mut sse = http
        .get(format!("{base}/notifications/events?token={token}"))
        .send()
        .await
        .expect("SSE");
    assert_eq!(sse.status(), 200);
    assert!(sse.chunk().await.expect("a first chunk").is_some());
    drop(sse);

    // A ZIP link's token.
    let dl = zip_link(&http, &base, &token).await;
    secrets.push(dl.rsplit('/').next().expect("token").to_owned());
    assert_eq!(http.get(&dl).send().await.expect("ZIP").status(), 200);

    // The journal, read with the admin token, shows none of them.
    let journal = http
        .get(format!("{base}/__admin/journal"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("journal")
        .text()
        .await
        .expect("text");
    assert!(journal.contains("/download/[redacted]"), "{journal}");
    assert!(journal.contains("Signature=%5Bredacted%5D"), "{journal}");
    for s in &secrets {
        assert!(!journal.contains(s.as_str()), "the journal shows {s}");
    }

    server.terminate();
    assert_eq!(server.exit(Duration::from_secs(20)).await.code(), Some(0));
    let log = server.log.join("\n");
    assert!(log.contains("/upload/"), "the log has the requests: {log}");
    for s in &secrets {
        assert!(!log.contains(s.as_str()), "the log shows {s}");
    }
}

/// A completed one-output job of `token`'s account; its ZIP link.
async fn zip_link(http: &reqwest::Client, base: &str, token: &str) -> String {
    let url = |path: &str| format!("{base}{path}");
    let form = reqwest::multipart::Form::new().part(
        "image",
        reqwest::multipart::Part::bytes(crate::helpers::jpeg(5)).file_name("identity.jpg"),
    );
    let identity = send_json(http.post(url("/identity/upload")).bearer_auth(token).multipart(form)).await;
    let project = send_json(
        http.post(url("/project"))
            .bearer_auth(token)
            .json(&json!({ "project_name": "zip" })),
    )
    .await;
    let up = send_json(
        http.post(url("/upload"))
            .bearer_auth(token)
            .json(&json!({ "filename": "flat.png" })),
    )
    .await;
    http.put(up["upload_url"].as_str().expect("url"))
        .header("content-type", "image/png")
        .body(png(4))
        .send()
        .await
        .expect("PUT");
    let job = send_json(http.post(url("/flat-2-model")).bearer_auth(token).json(&json!({
        "identity_code": identity["identity_code"],
        "project_id": project["project_id"],
        "images": [up["file_id"]],
        "instructions": [{}],
    })))
    .await;
    // --time-scale 0: the job is done when next looked at.
    let link = send_json(
        http.post(url("/download"))
            .bearer_auth(token)
            .json(&json!({ "job_id": job["job_id"] })),
    )
    .await;
    link["download_url"].as_str().expect("download_url").to_owned()
}
