use std::time::Duration;

use serde_json::json;

use crate::helpers::{DEMO, TestApp, jpeg, png};
use crate::jobs::refused_field;

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
    app.state.file_uploaded(&id).expect("announced file")
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
async fn the_put_stores_whatever_bytes_arrive_with_the_signed_type() {
    let app = TestApp::spawn_with(|c| c.max_upload_bytes = 4096).await;
    let r = presign(&app, "a.jpg").await;
    let url = r["upload_url"].as_str().expect("url");
    let download = r["download_url"].as_str().expect("url");
    // As S3: the signature covers the Content-Type, not what the bytes are.
    for bytes in [
        b"definitely not a jpeg".to_vec(),
        crate::helpers::image(8, 8, image::ImageFormat::Png, 1),
        Vec::new(),
    ] {
        app.put(url).bytes("image/jpeg", bytes.clone()).send().await.expect(200);
        let back = app.get(download).send().await.expect(200);
        assert_eq!(back.body.as_ref(), bytes.as_slice(), "byte for byte");
        assert_eq!(back.content_type(), "image/jpeg", "the Content-Type it was PUT with");
    }
    // The size cap stays, and leaves the last bytes as they were.
    let res = app
        .put(url)
        .bytes("image/jpeg", vec![0u8; 5000])
        .send()
        .await
        .expect(400);
    assert_eq!(res.s3_code(), "EntityTooLarge");
    assert!(app.get(download).send().await.expect(200).body.is_empty());
}

#[tokio::test]
async fn a_job_reads_an_input_by_what_its_bytes_are_not_by_its_name() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 0).await;
    // The vendor's client does this: PNG bytes under a .jpg name, PUT with
    // the image/jpeg the name was signed for.
    let pants = png(40);
    let as_jpg = app.upload_file(DEMO, "pants.jpg", None, pants.clone()).await;
    assert_eq!(as_jpg["content_type"], "image/jpeg");
    let as_png = app.upload_file(DEMO, "pants.png", None, pants).await;
    let mut jobs = Vec::new();
    for file in [&as_jpg, &as_png] {
        let body = json!({
            "identity_code": inputs.identity_code,
            "project_id": inputs.project_id,
            "images": [file["file_id"]],
            "instructions": [{ "seed": 7 }, { "seed": 7, "options": { "format": "png" } }],
        });
        jobs.push(app.create_job(DEMO, body).await);
    }
    app.finish_jobs();
    let (a, b) = (
        app.output_images(DEMO, &jobs[0]).await,
        app.output_images(DEMO, &jobs[1]).await,
    );
    assert_eq!(a, b, "the PNG's pixels, whatever its name");
}

#[tokio::test]
async fn bytes_that_are_no_usable_image_are_refused_by_the_job_naming_the_input() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let text = b"hello, I am not an image".to_vec();
    let text_file = app.upload_file(DEMO, "notes.jpg", None, text.clone()).await;
    let back = app
        .get(text_file["download_url"].as_str().expect("url"))
        .send()
        .await
        .expect(200);
    assert_eq!(back.body.as_ref(), text.as_slice(), "stored byte for byte");
    let bomb = app
        .upload_file(DEMO, "bomb.png", None, crate::helpers::png_bomb(100_000, 100_000))
        .await;
    let notifications = app.get("/notifications").token(DEMO).send().await.expect(200).json();
    let jobs_before = app.state.job_count();
    let refused = |images: serde_json::Value| {
        let body = json!({
            "identity_code": inputs.identity_code,
            "project_id": inputs.project_id,
            "images": images,
            "instructions": [{}],
        });
        let app = &app;
        async move {
            let started = std::time::Instant::now();
            let got = refused_field(app, DEMO, body, 400).await;
            assert!(started.elapsed() < Duration::from_secs(2), "answered at once");
            got
        }
    };
    let got = refused(json!([inputs.file_ids[0], text_file["file_id"]])).await;
    assert_eq!(
        got,
        ["images[1]: not a decodable JPEG, PNG or WebP image: the bytes are of no known image format"]
    );
    let got = refused(json!([bomb["file_id"]])).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("images[0]: image is 100000x100000: "), "{got:?}");
    // Nothing was stored by the refused jobs.
    assert_eq!(app.state.job_count(), jobs_before);
    let after = app.get("/notifications").token(DEMO).send().await.expect(200).json();
    assert_eq!(after, notifications);
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
