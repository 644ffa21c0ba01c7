use std::time::Duration;

use serde_json::json;

use crate::helpers::{DEMO, TestApp, jpeg, png};

async fn presign(app: &TestApp, filename: &str) -> serde_json::Value {
    app.post("/upload")
        .token(DEMO)
        .json(json!({ "filename": filename }))
        .send()
        .await
        .expect(200)
        .json()
}

fn stored(app: &TestApp, r: &serde_json::Value) -> bool {
    let id = mock_server::domain::ids::FileId::from_client(r["file_id"].as_str().expect("file_id"));
    app.state.store.file_any(&id).expect("announced file").blob.is_some()
}

#[tokio::test]
async fn two_step_upload_stores_the_bytes_and_download_returns_them() {
    let app = TestApp::spawn().await;
    app.create_project(DEMO, "my-flat-lay-project").await;
    let bytes = jpeg(9);
    let r = app
        .upload_file(DEMO, "sku-shirt.jpg", Some("my-flat-lay-project"), bytes.clone())
        .await;
    assert_eq!(r["content_type"], "image/jpeg");
    assert_eq!(r["project_name"], "my-flat-lay-project");
    assert_eq!(r["filename"], "sku-shirt.jpg");
    let dl = app
        .get(r["download_url"].as_str().expect("url"))
        .send()
        .await
        .expect(200);
    assert_eq!(dl.body.as_ref(), bytes.as_slice());
    assert_eq!(dl.content_type(), "image/jpeg");
    assert!(dl.headers.contains_key("etag"));
}

#[tokio::test]
async fn upload_without_a_project_has_no_project_fields() {
    let app = TestApp::spawn().await;
    let r = presign(&app, "shirt.PNG").await;
    assert_eq!(r["content_type"], "image/png");
    assert!(r.get("project_id").is_none() && r.get("project_name").is_none());
    let put = app
        .put(r["upload_url"].as_str().expect("url"))
        .bytes("image/png", png(1))
        .send()
        .await
        .expect(200);
    assert!(put.headers["etag"].to_str().expect("etag").starts_with('"'));
}

#[tokio::test]
async fn upload_requests_are_checked() {
    let app = TestApp::spawn().await;
    for bad in [
        json!({"filename": "shirt.gif"}),
        json!({"filename": ""}),
        json!({}),
        json!({"filename": "a\u{0}.png"}),
    ] {
        let r = app
            .post("/upload")
            .token(DEMO)
            .json(bad.clone())
            .send()
            .await
            .expect(400);
        assert_eq!(r.error_field().as_deref(), Some("filename"), "{bad}");
    }
    let r = app
        .post("/upload")
        .token(DEMO)
        .json(json!({"filename": "a.jpg", "project_name": "nope"}))
        .send()
        .await
        .expect(404);
    assert_eq!(r.error_field().as_deref(), Some("project_name"));
}

#[tokio::test]
async fn a_forged_signature_is_refused_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let r = presign(&app, "a.png").await;
    let url = r["upload_url"].as_str().expect("url");
    let sig_at = url.find("Signature=").expect("signed") + "Signature=".len();
    let mut forged = url.to_owned();
    let flipped = if &url[sig_at..=sig_at] == "0" { "1" } else { "0" };
    forged.replace_range(sig_at..=sig_at, flipped);
    let res = app.put(&forged).bytes("image/png", png(1)).send().await.expect(403);
    assert_eq!(res.s3_code(), "SignatureDoesNotMatch");
    assert_eq!(res.content_type(), "application/xml");
    // Moving the expiry forward breaks the signature too.
    let later = url.replace("Expires=", "Expires=9");
    assert_eq!(
        app.put(&later)
            .bytes("image/png", png(1))
            .send()
            .await
            .expect(403)
            .s3_code(),
        "SignatureDoesNotMatch"
    );
    let bare = url.split('?').next().expect("path");
    assert_eq!(
        app.put(bare)
            .bytes("image/png", png(1))
            .send()
            .await
            .expect(403)
            .s3_code(),
        "AccessDenied"
    );
    assert!(!stored(&app, &r));
    let dl = app
        .get(r["download_url"].as_str().expect("url"))
        .send()
        .await
        .expect(404);
    assert_eq!(
        dl.s3_code(),
        "NoSuchKey",
        "a file whose bytes never arrived has nothing to download"
    );
}

#[tokio::test]
async fn an_expired_upload_url_is_refused() {
    let app = TestApp::spawn().await;
    let r = presign(&app, "a.png").await;
    app.advance(Duration::from_secs(15 * 60));
    let res = app
        .put(r["upload_url"].as_str().expect("url"))
        .bytes("image/png", png(1))
        .send()
        .await
        .expect(403);
    assert_eq!(res.s3_code(), "AccessDenied");
    assert!(res.text().contains("Request has expired"));
    assert!(!stored(&app, &r));
}

#[tokio::test]
async fn the_upload_url_lifetime_follows_the_flag() {
    let app = TestApp::spawn_with(|c| c.upload_url_ttl = Duration::from_secs(60)).await;
    let r = presign(&app, "a.png").await;
    app.advance(Duration::from_secs(59));
    app.put(r["upload_url"].as_str().expect("url"))
        .bytes("image/png", png(1))
        .send()
        .await
        .expect(200);
    let r = presign(&app, "b.png").await;
    app.advance(Duration::from_secs(60));
    app.put(r["upload_url"].as_str().expect("url"))
        .bytes("image/png", png(2))
        .send()
        .await
        .expect(403);
}

#[tokio::test]
async fn another_content_type_is_a_signature_mismatch() {
    let app = TestApp::spawn().await;
    let r = presign(&app, "a.jpg").await;
    let url = r["upload_url"].as_str().expect("url");
    assert_eq!(
        app.put(url)
            .bytes("image/png", png(1))
            .send()
            .await
            .expect(403)
            .s3_code(),
        "SignatureDoesNotMatch"
    );
    assert_eq!(
        app.put(url).bytes("", jpeg(1)).send().await.expect(403).s3_code(),
        "SignatureDoesNotMatch"
    );
    assert!(!stored(&app, &r));
}

#[tokio::test]
async fn bytes_that_are_not_an_image_of_the_signed_type_are_refused() {
    let app = TestApp::spawn_with(|c| c.max_upload_bytes = 4096).await;
    let r = presign(&app, "a.jpg").await;
    let url = r["upload_url"].as_str().expect("url");
    let res = app
        .put(url)
        .bytes("image/jpeg", b"definitely not a jpeg".to_vec())
        .send()
        .await
        .expect(400);
    assert_eq!(res.s3_code(), "InvalidArgument");
    // A PNG sent as the signed image/jpeg.
    let small_png = crate::helpers::image(8, 8, image::ImageFormat::Png, 1);
    assert_eq!(
        app.put(url)
            .bytes("image/jpeg", small_png)
            .send()
            .await
            .expect(400)
            .s3_code(),
        "InvalidArgument"
    );
    let res = app
        .put(url)
        .bytes("image/jpeg", vec![0u8; 5000])
        .send()
        .await
        .expect(400);
    assert_eq!(res.s3_code(), "EntityTooLarge");
    assert!(!stored(&app, &r));
}

#[tokio::test]
async fn download_links_expire_after_their_lifetime() {
    let app = TestApp::spawn().await;
    let r = app.upload_file(DEMO, "a.png", None, png(3)).await;
    let dl = r["download_url"].as_str().expect("url");
    app.advance(Duration::from_secs(24 * 3600 - 1));
    app.get(dl).send().await.expect(200);
    app.advance(Duration::from_secs(1));
    assert_eq!(app.get(dl).send().await.expect(403).s3_code(), "AccessDenied");
}

#[tokio::test]
async fn a_second_put_replaces_the_bytes() {
    let app = TestApp::spawn().await;
    let r = presign(&app, "a.png").await;
    let url = r["upload_url"].as_str().expect("url");
    app.put(url).bytes("image/png", png(1)).send().await.expect(200);
    app.put(url).bytes("image/png", png(2)).send().await.expect(200);
    let dl = app
        .get(r["download_url"].as_str().expect("url"))
        .send()
        .await
        .expect(200);
    assert_eq!(dl.body.as_ref(), png(2).as_slice());
}
