//! The wrong content type, bytes that are not UTF-8, truncated multipart.

use super::*;

#[tokio::test]
async fn wrong_content_types_are_refused() {
    let w = World::build(|_| {}).await;
    let app = &w.app;
    let project = br#"{"project_name":"typed"}"#.to_vec();
    let slot = w.presign(DEMO, "typed.png").await;
    let url = str_of(&slot["upload_url"]);
    let png = image(64, 64, ImageFormat::Png, 60);
    let cases: Vec<(&str, Call<'_>, Want)> = vec![
        (
            "JSON sent as text/plain",
            app.post("/project").token(DEMO).bytes("text/plain", project.clone()),
            Api(415, Some("Content-Type")),
        ),
        (
            "a form body to a JSON endpoint",
            app.post("/project")
                .token(DEMO)
                .bytes("application/x-www-form-urlencoded", b"project_name=typed".to_vec()),
            Api(415, Some("Content-Type")),
        ),
        (
            "multipart to a JSON endpoint",
            app.post("/flat-2-model")
                .token(DEMO)
                .multipart(Form::new().text("images", "x")),
            Api(415, Some("Content-Type")),
        ),
        (
            "a JSON body without any Content-Type",
            app.put("/webhooks")
                .token(DEMO)
                .bytes("", br#"{"url":"http://example.com/"}"#.to_vec()),
            Api(415, Some("Content-Type")),
        ),
        (
            "a form body labelled application/json",
            app.post("/project")
                .token(DEMO)
                .bytes("application/json", b"project_name=typed".to_vec()),
            Api(400, None),
        ),
        (
            "JSON to the identity upload",
            app.post("/identity/upload").token(DEMO).json(json!({"image": "x"})),
            Api(415, Some("Content-Type")),
        ),
        (
            "an image as text/plain to the identity upload",
            app.post("/identity/upload")
                .token(DEMO)
                .bytes("text/plain", png.clone()),
            Api(415, Some("Content-Type")),
        ),
        (
            "multipart without a boundary",
            app.post("/identity/upload")
                .token(DEMO)
                .bytes("multipart/form-data", part("image", Some(b"x.png"), &png)),
            Api(415, Some("Content-Type")),
        ),
        (
            "a pre-signed PUT as text/plain",
            app.put(url).bytes("text/plain", png.clone()),
            S3(403, "SignatureDoesNotMatch"),
        ),
        (
            "a pre-signed PUT without a Content-Type",
            app.put(url).bytes("", png.clone()),
            S3(403, "SignatureDoesNotMatch"),
        ),
    ];
    for (case, call, want) in cases {
        w.refuse(case, call, want).await;
    }
}

#[tokio::test]
async fn invalid_utf8_is_refused() {
    let w = World::build(|_| {}).await;
    let app = &w.app;
    let mut job = serde_json::to_vec(&w.job_body()).expect("json");
    job.pop();
    job.extend_from_slice(b",\"post_process\":\"\xff\xfe\"}");
    let name_part = |field: &str| {
        let mut body = part("image", Some(b"x.png"), &image(64, 64, ImageFormat::Png, 70));
        body.extend(part(field, None, b"caf\xe9 \xff"));
        body.extend(closing());
        body
    };
    let download = str_of(&w.files[0]["download_url"]);
    let cases: Vec<(&str, Call<'_>, Want)> = vec![
        (
            "a 0xFF byte in a JSON string",
            app.post("/project")
                .token(DEMO)
                .bytes("application/json", b"{\"project_name\":\"a\xffb\"}".to_vec()),
            Api(400, None),
        ),
        (
            "a lone surrogate escape",
            app.post("/project")
                .token(DEMO)
                .bytes("application/json", br#"{"project_name":"\ud800"}"#.to_vec()),
            Api(400, None),
        ),
        (
            "bytes that are not UTF-8 in a job request",
            app.post("/flat-2-model").token(DEMO).bytes("application/json", job),
            Api(400, None),
        ),
        (
            "an identity name that is not UTF-8",
            app.post("/identity/upload")
                .token(DEMO)
                .bytes(&multipart_type(), name_part("name")),
            Api(400, Some("name")),
        ),
        (
            "a tag that is not UTF-8",
            app.post("/identity/upload")
                .token(DEMO)
                .bytes(&multipart_type(), name_part("tag")),
            Api(400, Some("tag")),
        ),
        (
            "a gallery search that is not UTF-8",
            app.get("/identity?search=%FF").token(DEMO),
            Api(400, Some("search")),
        ),
        (
            "half a UTF-8 character as a page",
            app.get("/project?page=%C3").token(DEMO),
            Api(400, Some("page")),
        ),
        (
            "a query parameter name that is not UTF-8",
            app.get("/identity?%FE%FF=1").token(DEMO),
            Api(400, None),
        ),
        (
            "a polling filter that is not UTF-8",
            app.get("/notifications?id_task=%FF").token(DEMO),
            Api(400, Some("id_task")),
        ),
        (
            "an SSE filter that is not UTF-8",
            app.get("/notifications/events?name_list=%FF").token(DEMO),
            Api(400, Some("name_list")),
        ),
        (
            "a job id that is not UTF-8",
            app.get("/jobs/job_%FF/status").token(DEMO),
            Api(404, None),
        ),
        (
            "an identity code that is not UTF-8",
            app.get("/identity/%C0%AF").token(DEMO),
            Api(404, None),
        ),
        (
            "a notification id that is not UTF-8",
            app.call(reqwest::Method::DELETE, "/notifications/%FF").token(DEMO),
            Api(404, None),
        ),
        (
            "a ZIP token that is not UTF-8",
            app.get("/download/dl_%FF"),
            Api(404, None),
        ),
        (
            "a blob key that is not UTF-8",
            app.get(&format!("/blobs/files/sku_%FF{}", query_of(download))),
            S3(404, "NoSuchKey"),
        ),
        (
            "a signature that is not UTF-8",
            app.get(&with_param(download, "Signature", Some("%FF"))),
            S3(403, "SignatureDoesNotMatch"),
        ),
        (
            "an Authorization header with bytes over 0x7F",
            app.get("/project").header("authorization", "Bearer f2m_d\u{e9}mo"),
            Api(401, Some("Authorization")),
        ),
    ];
    for (case, call, want) in cases {
        w.refuse(case, call, want).await;
    }

    // Raw bytes over 0x7F in the request line never reach a route: hyper
    // refuses the request itself (400, and it closes the connection).
    let before = w.snapshot().await;
    let answer = raw_exchange(&app.base, b"GET /identity?search=\xff HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(w.snapshot().await, before);
}

/// Sends `request` as raw bytes and reads the answer until the server
/// closes the connection.
async fn raw_exchange(base: &str, request: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .expect("connect");
    s.write_all(request).await.expect("write");
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("answered and closed within 10 s")
        .expect("read");
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test]
async fn truncated_multipart_is_refused() {
    let w = World::build(|_| {}).await;
    let app = &w.app;
    let image_part = part("image", Some(b"x.png"), &image(64, 64, ImageFormat::Png, 80));
    let cut = |n: usize| image_part[..n].to_vec();
    let mut named_then_cut = part("name", None, b"Sneaky");
    named_then_cut.extend_from_slice(&image_part[..image_part.len() / 2]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("no closing boundary", image_part.clone()),
        ("cut in the middle of the image", cut(image_part.len() / 2)),
        ("cut inside the part's headers", cut(30)),
        ("cut right after the opening boundary", cut(BOUNDARY.len() + 4)),
        ("only the closing boundary", closing()),
        ("an empty body", Vec::new()),
        ("a complete name part, then the image cut", named_then_cut),
    ];
    for (case, body) in cases {
        w.refuse(
            case,
            app.post("/identity/upload").token(DEMO).bytes(&multipart_type(), body),
            Api(400, Some("image")),
        )
        .await;
    }
}
