use image::ImageFormat;
use reqwest::multipart::{Form, Part};

use crate::helpers::{DEMO, OTHER, TestApp, identity_column, image, jpeg, png};

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

    let listed = app.identities(DEMO, "visibility=private").await;
    assert_eq!(
        listed["pagination"]["total"], 0,
        "nothing was stored by a refused upload"
    );
}

#[tokio::test]
async fn an_accounts_own_identities_page_search_and_sort() {
    let app = TestApp::spawn().await;
    for (i, name) in ["Charlie", "alpha", "Bravo"].iter().enumerate() {
        app.upload_identity(DEMO, png(i as u8), Some(name)).await;
        app.advance(std::time::Duration::from_secs(1));
    }
    let newest_first = app.identities(DEMO, "visibility=private").await;
    let names = identity_column(&newest_first, "name");
    assert_eq!(names, ["Bravo", "alpha", "Charlie"]);
    let by_name = app
        .identities(DEMO, "visibility=private&sort_by=name&order=asc&per_page=2")
        .await;
    let names = identity_column(&by_name, "name");
    assert_eq!(names, ["Bravo", "Charlie"]);
    assert_eq!(by_name["pagination"]["has_next"], true);
    let found = app.identities(DEMO, "visibility=private&search=ALP").await;
    assert_eq!(found["pagination"]["total"], 1);
    for bad in [
        "order=up",
        "sort_by=size",
        "per_page=0",
        "per_page=101",
        "page=0",
        "page=x",
        "visibility=all",
        "visibility=",
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
    let other = app.identities(OTHER, "visibility=private").await;
    assert_eq!(
        other["pagination"]["total"], 0,
        "another account's uploads are not listed"
    );
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

/// The gallery of `fixtures/gallery.json`, newest first: (code, name, tier).
const GALLERY: [(&str, &str, &str); 5] = [
    ("PiktidSummer", "Summer Leo", "standard"),
    ("PiktidUrban", "Urban Kai", "standard"),
    ("PiktidEditorial", "Editorial Mia", "premium"),
    ("PiktidPremium", "Premium Ava", "premium"),
    ("PiktidClassic", "Classic Noor", "free"),
];

fn gallery_image(file: &str) -> Vec<u8> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/images/gallery");
    std::fs::read(dir.join(file)).expect("a gallery image")
}

#[tokio::test]
async fn every_account_sees_the_gallery_public_and_locked_with_a_link_that_needs_no_auth() {
    let app = TestApp::spawn_with(|c| c.any_token = true).await;
    for token in [DEMO, OTHER, "a-fresh-any-token-tenant"] {
        let got = app.get_json(token, "/identity/PiktidPremium").await;
        assert_eq!(got["identity_code"], "PiktidPremium", "{token}");
        assert_eq!(got["name"], "Premium Ava");
        assert_eq!(got["visibility"], "public");
        assert_eq!(got["created_by"], "piktid");
        assert_eq!(got["locked"], true);
        assert_eq!(got["tier"], "premium");
        assert_eq!(got["groups"], serde_json::json!(["premium", "studio"]));
        assert_eq!(got["original_filename"], "piktid-premium.jpg");
        assert_eq!(got["face_detected"], true);
        assert_eq!(got["created_at"], "2025-03-01T09:00:00Z");
        let st = app.get_json(token, "/identity/PiktidSummer/status").await;
        assert_eq!(st["preprocessing_status"], "completed");
        // The signed link, without any Authorization header.
        let img = app.get(got["link"].as_str().expect("link")).send().await.expect(200);
        assert_eq!(img.content_type(), "image/jpeg");
        assert_eq!(img.body.as_ref(), gallery_image("piktid-premium.jpg").as_slice());
        let public = app.identities(token, "visibility=public").await;
        let want: Vec<&str> = GALLERY.iter().map(|g| g.0).collect();
        assert_eq!(
            identity_column(&public, "identity_code"),
            want,
            "{token}: the whole gallery, newest first"
        );
        for (i, (_, name, tier)) in GALLERY.iter().enumerate() {
            let g = &public["identities"][i];
            assert_eq!((g["name"].as_str(), g["tier"].as_str()), (Some(*name), Some(*tier)));
            assert_eq!((&g["visibility"], &g["locked"]), (&"public".into(), &true.into()));
        }
    }
    app.get("/identity/PiktidNope").token(DEMO).send().await.expect(404);
    app.get("/identity/piktidpremium").token(DEMO).send().await.expect(404);
}

#[tokio::test]
async fn the_listing_merges_own_uploads_and_the_gallery_sorted_and_paged_together() {
    let app = TestApp::spawn().await;
    let mut own = Vec::new();
    for (i, name) in ["Zed", "Amber"].iter().enumerate() {
        let r = app.upload_identity(DEMO, png(50 + i as u8), Some(name)).await;
        own.push(r["identity_code"].as_str().expect("code").to_owned());
        app.advance(std::time::Duration::from_secs(1));
    }
    let gallery: Vec<String> = GALLERY.iter().map(|g| g.0.to_owned()).collect();
    // Newest first: the uploads (2026, on the manual clock), then the gallery (2025).
    let all = app.identities(DEMO, "").await;
    let want: Vec<String> = [own[1].clone(), own[0].clone()]
        .into_iter()
        .chain(gallery.clone())
        .collect();
    assert_eq!(identity_column(&all, "identity_code"), want);
    assert_eq!(all["pagination"]["total"], 7);
    let visibility = identity_column(&all, "visibility");
    assert_eq!(
        visibility,
        ["private", "private", "public", "public", "public", "public", "public"]
    );
    // Oldest first, paged: the page boundary runs through the merged list.
    let page = app.identities(DEMO, "order=asc&per_page=3&page=2").await;
    let asc: Vec<String> = gallery.iter().rev().cloned().chain(own.clone()).collect();
    assert_eq!(identity_column(&page, "identity_code"), asc[3..6]);
    assert_eq!(page["pagination"]["has_next"], true);
    // By name, both kinds together.
    let by_name = app.identities(DEMO, "sort_by=name&order=asc").await;
    let names = identity_column(&by_name, "name");
    assert_eq!(
        names,
        [
            "Amber",
            "Classic Noor",
            "Editorial Mia",
            "Premium Ava",
            "Summer Leo",
            "Urban Kai",
            "Zed"
        ]
    );
    // The filters apply before the paging.
    assert_eq!(
        identity_column(&app.identities(DEMO, "visibility=private").await, "identity_code"),
        [own[1].clone(), own[0].clone()]
    );
    assert_eq!(
        identity_column(&app.identities(DEMO, "visibility=public").await, "identity_code"),
        gallery
    );
    let found = app.identities(DEMO, "search=EM").await;
    assert_eq!(identity_column(&found, "identity_code"), ["PiktidPremium"]);
    let found = app.identities(DEMO, "search=a&visibility=private").await;
    assert_eq!(identity_column(&found, "identity_code"), [own[1].clone()]);
    // Another account lists the gallery and its own uploads only.
    let other = app.identities(OTHER, "").await;
    assert_eq!(identity_column(&other, "identity_code"), gallery);
}

#[tokio::test]
async fn the_duplicate_check_stays_per_account_and_nothing_an_account_does_changes_the_gallery() {
    let app = TestApp::spawn().await;
    // The gallery as listed, but for its links (signed until a time that
    // moves with the clock).
    let gallery = |token: &'static str, query: &'static str| {
        let app = &app;
        async move {
            let mut l = app.identities(token, query).await;
            for i in l["identities"].as_array_mut().expect("list") {
                i.as_object_mut().expect("identity").remove("link");
            }
            l
        }
    };
    let before = gallery(DEMO, "visibility=public").await;
    // The gallery's own image is no duplicate: it is not the account's.
    let bytes = gallery_image("piktid-premium.jpg");
    let mine = app.upload_identity(DEMO, bytes.clone(), Some("My Ava")).await;
    let code = mine["identity_code"].as_str().expect("code").to_owned();
    assert!(code.starts_with("id_"), "{code}");
    assert_eq!(
        (&mine["visibility"], &mine["locked"]),
        (&"private".into(), &false.into())
    );
    let form = Form::new().part("image", Part::bytes(bytes.clone()).file_name("again.jpg"));
    let again = app.send_identity_form(DEMO, form).await.expect(409);
    assert_eq!(again.json()["existing_identity_code"], code.as_str());
    app.upload_identity(OTHER, bytes, None).await;
    // Isolation stays: the copy is DEMO's alone.
    app.get(&format!("/identity/{code}"))
        .token(OTHER)
        .send()
        .await
        .expect(404);
    let inputs = app.job_inputs(DEMO, 1).await;
    let mut body = TestApp::job_body(&inputs, serde_json::json!([{}]));
    body["identity_code"] = "PiktidPremium".into();
    app.create_job(DEMO, body).await;
    app.finish_jobs();
    assert_eq!(gallery(DEMO, "visibility=public").await, before);
    assert_eq!(gallery(OTHER, "visibility=public").await, before);
    // A reset forgets the accounts' data; the gallery is still there.
    app.post("/__admin/reset").send().await.expect(200);
    assert_eq!(gallery(DEMO, "").await, before);
}

#[tokio::test]
async fn a_job_on_a_gallery_identity_renders_with_its_image_in_every_account() {
    let app = TestApp::spawn().await;
    let instructions = serde_json::json!([{ "seed": 11 }, { "seed": 11, "options": { "format": "png" } }]);
    let mut outputs = Vec::new();
    for token in [DEMO, OTHER] {
        let inputs = app.job_inputs(token, 1).await;
        let mut body = TestApp::job_body(&inputs, instructions.clone());
        body["identity_code"] = "PiktidPremium".into();
        let job = app.create_job(token, body.clone()).await;
        // The same job on a private upload of the gallery's image.
        let copy = app
            .upload_identity(token, gallery_image("piktid-premium.jpg"), Some("copy"))
            .await;
        body["identity_code"] = copy["identity_code"].clone();
        let with_copy = app.create_job(token, body).await;
        app.finish_jobs();
        let status = app.status(token, &job).await;
        assert_eq!(status["status"], "completed", "{token}");
        assert_eq!(status["identity_code"], "PiktidPremium");
        assert_eq!(status["identity_name"], "Premium Ava");
        let images = app.output_images(token, &job).await;
        assert_eq!(images.len(), 2);
        assert_eq!(
            images,
            app.output_images(token, &with_copy).await,
            "{token}: rendered with the gallery's image"
        );
        outputs.push(images);
    }
    // A gallery identity never renders like another's picture.
    let inputs = app.job_inputs(DEMO, 1).await;
    let mut body = TestApp::job_body(&inputs, instructions);
    body["identity_code"] = "PiktidSummer".into();
    let summer = app.create_job(DEMO, body).await;
    app.finish_jobs();
    assert_ne!(app.output_images(DEMO, &summer).await[0], outputs[0][0]);
}
