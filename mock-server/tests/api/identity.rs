use image::ImageFormat;
use reqwest::multipart::{Form, Part};

use crate::helpers::{DEMO, OTHER, TestApp, image, jpeg, png};

#[tokio::test]
async fn identity_upload_answers_as_documented_and_the_link_returns_the_bytes() {
    let app = TestApp::spawn().await;
    let bytes = jpeg(1);
    let r = app.upload_identity(DEMO, bytes.clone(), Some("Model A")).await;
    assert_eq!(r["name"], "Model A");
    assert_eq!(r["success"], true);
    assert_eq!(r["face_detected"], true);
    assert!(r["identity_code"].as_str().expect("code").starts_with("id_"));
    let link = r["link"].as_str().expect("link");
    let img = app.get(link).send().await.expect(200);
    assert_eq!(img.content_type(), "image/jpeg");
    assert_eq!(img.body.as_ref(), bytes.as_slice());
}

#[tokio::test]
async fn face_detected_follows_the_documented_rule() {
    let app = TestApp::spawn().await;
    let small = app
        .upload_identity(DEMO, image(100, 400, ImageFormat::Png, 1), None)
        .await;
    assert_eq!(small["face_detected"], false, "shorter side below 128 px");
    let webp = app
        .upload_identity(DEMO, image(128, 128, ImageFormat::WebP, 2), None)
        .await;
    assert_eq!(webp["face_detected"], true);
    assert_eq!(webp["name"], "identity", "the name defaults to the file name's stem");
}

#[tokio::test]
async fn a_duplicate_image_answers_409_with_the_existing_code() {
    let app = TestApp::spawn().await;
    let first = app.upload_identity(DEMO, png(7), Some("a")).await;
    let form = Form::new().part("image", Part::bytes(png(7)).file_name("again.png"));
    let r = app.send_identity_form(DEMO, form).await.expect(409);
    assert_eq!(r.json()["existing_identity_code"], first["identity_code"]);
    // The same image in another account is no duplicate.
    app.upload_identity(OTHER, png(7), Some("a")).await;
}

#[tokio::test]
async fn bad_uploads_are_refused_with_the_field() {
    let app = TestApp::spawn_with(|c| c.max_upload_bytes = 50_000).await;
    let form = Form::new().part("image", Part::bytes(b"not an image".to_vec()).file_name("x.jpg"));
    let r = app.send_identity_form(DEMO, form).await.expect(400);
    assert_eq!(r.error_field().as_deref(), Some("image"));
    assert_eq!(r.json()["detail"][0]["position"], "form");

    let form = Form::new().text("name", "no image");
    let r = app.send_identity_form(DEMO, form).await.expect(400);
    assert_eq!(r.error_field().as_deref(), Some("image"));

    let form = Form::new()
        .part("image", Part::bytes(png(1)).file_name("x.png"))
        .text("name", "a\u{1}b");
    let r = app.send_identity_form(DEMO, form).await.expect(400);
    assert_eq!(r.error_field().as_deref(), Some("name"));

    let r = app
        .post("/identity/upload")
        .token(DEMO)
        .json(serde_json::json!({"image": "x"}))
        .send()
        .await
        .expect(415);
    assert_eq!(r.error_field().as_deref(), Some("Content-Type"));

    let big = vec![7u8; 60_000];
    let form = Form::new().part("image", Part::bytes(big).file_name("big.png"));
    app.send_identity_form(DEMO, form).await.expect(413);

    let truncated = b"--XYZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\r\nabc".to_vec();
    app.post("/identity/upload")
        .token(DEMO)
        .bytes("multipart/form-data; boundary=XYZ", truncated)
        .send()
        .await
        .expect(400);

    let listed = app.get("/identity").token(DEMO).send().await.expect(200).json();
    assert_eq!(
        listed["pagination"]["total"], 0,
        "nothing was stored by a refused upload"
    );
}

#[tokio::test]
async fn the_gallery_pages_searches_and_sorts() {
    let app = TestApp::spawn().await;
    for (i, name) in ["Charlie", "alpha", "Bravo"].iter().enumerate() {
        app.upload_identity(DEMO, png(i as u8), Some(name)).await;
        app.advance(std::time::Duration::from_secs(1));
    }
    let newest_first = app.get("/identity").token(DEMO).send().await.expect(200).json();
    let names: Vec<&str> = newest_first["identities"]
        .as_array()
        .expect("list")
        .iter()
        .map(|i| i["name"].as_str().expect("n"))
        .collect();
    assert_eq!(names, ["Bravo", "alpha", "Charlie"]);
    let by_name = app
        .get("/identity?sort_by=name&order=asc&per_page=2")
        .token(DEMO)
        .send()
        .await
        .expect(200)
        .json();
    let names: Vec<&str> = by_name["identities"]
        .as_array()
        .expect("list")
        .iter()
        .map(|i| i["name"].as_str().expect("n"))
        .collect();
    assert_eq!(names, ["Bravo", "Charlie"]);
    assert_eq!(by_name["pagination"]["has_next"], true);
    let found = app
        .get("/identity?search=ALP")
        .token(DEMO)
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(found["pagination"]["total"], 1);
    for bad in [
        "order=up",
        "sort_by=size",
        "per_page=0",
        "per_page=101",
        "page=0",
        "page=x",
    ] {
        let r = app
            .get(&format!("/identity?{bad}"))
            .token(DEMO)
            .send()
            .await
            .expect(400);
        assert_eq!(r.json()["detail"][0]["position"], "query", "{bad}");
        assert_eq!(
            r.error_field().as_deref(),
            Some(bad.split('=').next().expect("name")),
            "{bad}"
        );
    }
    let other = app.get("/identity").token(OTHER).send().await.expect(200).json();
    assert_eq!(other["pagination"]["total"], 0);
}

#[tokio::test]
async fn identity_lookup_and_status_are_tenant_scoped() {
    let app = TestApp::spawn().await;
    let code = app.upload_identity(DEMO, png(1), None).await["identity_code"]
        .as_str()
        .expect("code")
        .to_owned();
    let got = app
        .get(&format!("/identity/{code}"))
        .token(DEMO)
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(got["identity_code"], code.as_str());
    let st = app
        .get(&format!("/identity/{code}/status"))
        .token(DEMO)
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(st["preprocessing_status"], "completed");
    app.get(&format!("/identity/{code}"))
        .token(OTHER)
        .send()
        .await
        .expect(404);
    app.get(&format!("/identity/{code}/status"))
        .token(OTHER)
        .send()
        .await
        .expect(404);
    app.get("/identity/id_nope").token(DEMO).send().await.expect(404);
}
