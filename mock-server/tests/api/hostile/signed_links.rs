//! Forged, expired and replayed pre-signed URLs and ZIP tokens.

use super::*;

#[tokio::test]
async fn forged_presigned_urls_and_download_tokens_are_refused() {
    let w = World::build(|c| c.download_url_ttl = Duration::from_secs(2 * 3600)).await;
    let app = &w.app;
    let slot = w.presign(DEMO, "forged.png").await;
    let second = w.presign(DEMO, "second.png").await;
    let upload = str_of(&slot["upload_url"]).to_owned();
    let slot_id = str_of(&slot["file_id"]);
    let download = str_of(&w.files[0]["download_url"]).to_owned();
    let file_id = str_of(&w.files[0]["file_id"]);
    let other_id = str_of(&w.other_file["file_id"]);
    let link = str_of(&w.identity["link"]).to_owned();
    let results = app.results(DEMO, &w.job).await;
    let full = str_of(&results["results"][0]["output"]["full_size"]).to_owned();
    let png = || image(64, 64, ImageFormat::Png, 110);
    let flip = |url: &str| {
        let sig = param(url, "Signature");
        let last = if sig.ends_with('0') { "1" } else { "0" };
        with_param(url, "Signature", Some(&format!("{}{last}", &sig[..sig.len() - 1])))
    };
    let expires: i64 = param(&upload, "Expires").parse().expect("expires");
    let zip = app.zip_link(DEMO, "/download", json!({"job_id": w.job})).await;

    let sdnm = S3(403, "SignatureDoesNotMatch");
    let cases: Vec<(&str, Call<'_>, Want)> = vec![
        (
            "an upload signature with one digit changed",
            app.put(&flip(&upload)).bytes("image/png", png()),
            sdnm,
        ),
        (
            "an upload signature that is not hex",
            app.put(&with_param(&upload, "Signature", Some("zz")))
                .bytes("image/png", png()),
            sdnm,
        ),
        (
            "half an upload signature",
            app.put(&with_param(
                &upload,
                "Signature",
                Some(&param(&upload, "Signature")[..32]),
            ))
            .bytes("image/png", png()),
            sdnm,
        ),
        (
            "an empty upload signature",
            app.put(&with_param(&upload, "Signature", Some("")))
                .bytes("image/png", png()),
            sdnm,
        ),
        (
            "an upload URL with a later Expires",
            app.put(&with_param(&upload, "Expires", Some(&(expires + 3600).to_string())))
                .bytes("image/png", png()),
            sdnm,
        ),
        (
            "an Expires that is not a number",
            app.put(&with_param(&upload, "Expires", Some("tomorrow")))
                .bytes("image/png", png()),
            sdnm,
        ),
        (
            "an Expires beyond 64 bits",
            app.put(&with_param(&upload, "Expires", Some("99999999999999999999")))
                .bytes("image/png", png()),
            sdnm,
        ),
        (
            "Expires given twice",
            app.put(&format!("{upload}&Expires={expires}"))
                .bytes("image/png", png()),
            sdnm,
        ),
        (
            "an upload URL without its Signature",
            app.put(&with_param(&upload, "Signature", None))
                .bytes("image/png", png()),
            S3(403, "AccessDenied"),
        ),
        (
            "an upload URL without its Expires",
            app.put(&with_param(&upload, "Expires", None)).bytes("image/png", png()),
            S3(403, "AccessDenied"),
        ),
        (
            "an upload URL moved to another file of the account",
            app.put(&upload.replace(slot_id, str_of(&second["file_id"])))
                .bytes("image/png", png()),
            sdnm,
        ),
        (
            "an upload URL moved to the other account's file",
            app.put(&upload.replace(slot_id, other_id)).bytes("image/png", png()),
            sdnm,
        ),
        (
            "a download URL's signature used to PUT",
            app.put(&format!("/upload/{file_id}{}", query_of(&download)))
                .bytes("image/png", png()),
            sdnm,
        ),
        (
            "an upload URL's signature used to GET the bytes",
            app.get(&format!("/blobs/files/{slot_id}{}", query_of(&upload))),
            sdnm,
        ),
        ("GET on an upload URL", app.get(&upload), Api(405, None)),
        ("a download URL with one digit changed", app.get(&flip(&download)), sdnm),
        (
            "a download URL moved to the other account's file",
            app.get(&download.replace(file_id, other_id)),
            sdnm,
        ),
        (
            "a file's download signature on an identity",
            app.get(&format!(
                "/blobs/identities/{}{}",
                str_of(&w.identity["identity_code"]),
                query_of(&download)
            )),
            sdnm,
        ),
        ("an identity link with one digit changed", app.get(&flip(&link)), sdnm),
        ("a result link with one digit changed", app.get(&flip(&full)), sdnm),
        (
            "a result link moved to another output",
            app.get(&full.replace("/0/full.", "/1/full.")),
            sdnm,
        ),
        (
            "a result link's full image asked as thumbnail",
            app.get(&full.replace("/full.", "/thumbnail.")),
            sdnm,
        ),
        (
            "a result link moved to another job",
            app.get(&full.replace(&w.job, "job_000000000000000000000000")),
            sdnm,
        ),
        (
            "a result link with a ../ in its path",
            app.get(&full.replace("/0/full.", "/0/..%2Ffull.")),
            sdnm,
        ),
        (
            "a made-up ZIP token",
            app.get("/download/dl_0000000000000000000000000000000000000000"),
            Api(404, Some("token")),
        ),
        (
            "a ZIP token with a traversal",
            app.get("/download/..%2F..%2Fetc%2Fpasswd"),
            Api(404, Some("token")),
        ),
        (
            "a ZIP of the other account's job",
            app.post("/download").token(OTHER).json(json!({"job_id": w.job})),
            Api(404, Some("job_id")),
        ),
    ];
    for (case, call, want) in cases {
        w.refuse(case, call, want).await;
    }

    // Two hours later every link has expired; a genuine one says so, a
    // doctored one is still a forgery.
    app.advance(Duration::from_secs(2 * 3600 + 1));
    let denied = S3(403, "AccessDenied");
    let cases: Vec<(&str, Call<'_>, Want)> = vec![
        (
            "an expired upload URL",
            app.put(&upload).bytes("image/png", png()),
            denied,
        ),
        (
            "an expired upload URL with its Expires moved on",
            app.put(&with_param(&upload, "Expires", Some(&(expires + 86_400).to_string())))
                .bytes("image/png", png()),
            sdnm,
        ),
        ("an expired download URL", app.get(&download), denied),
        ("an expired identity link", app.get(&link), denied),
        ("an expired result link", app.get(&full), denied),
        ("an expired ZIP link", app.get(&zip), Api(410, Some("token"))),
    ];
    for (case, call, want) in cases {
        let r = w.refuse(case, call, want).await;
        if matches!(want, S3(_, "AccessDenied")) {
            assert!(r.text().contains("Request has expired"), "{case}: {}", r.text());
        }
    }
}

/// A pre-signed PUT replayed while its URL is valid is accepted, as S3 does:
/// the same bytes change nothing (same ETag); other bytes replace the file,
/// and a job made from it keeps its own copy. After expiry: 403.
#[tokio::test]
async fn a_replayed_presigned_put_is_idempotent_and_never_reaches_a_job() {
    // Two worlds fed the same requests, but for the replays in the first.
    let w = World::build(|_| {}).await;
    let twin = World::build(|_| {}).await;
    let mut renders = Vec::new();
    for (world, replay) in [(&w, true), (&twin, false)] {
        let app = &world.app;
        let slot = world.presign(DEMO, "replayed.png").await;
        let url = str_of(&slot["upload_url"]);
        let first = image(64, 80, ImageFormat::Png, 120);
        let etag = app
            .put(url)
            .bytes("image/png", first.clone())
            .send()
            .await
            .expect(200)
            .headers["etag"]
            .clone();
        if replay {
            let before = world.snapshot().await;
            let again = app.put(url).bytes("image/png", first).send().await.expect(200);
            assert_eq!(again.headers["etag"], etag, "the same bytes, the same ETag");
            assert_eq!(world.snapshot().await, before, "an identical replay changes nothing");
        }
        let mut body = world.job_body();
        body["images"] = json!([slot["file_id"]]);
        let job = app.create_job(DEMO, body).await;
        if replay {
            let other = image(64, 80, ImageFormat::Png, 121);
            let put = app.put(url).bytes("image/png", other.clone()).send().await.expect(200);
            assert_ne!(put.headers["etag"], etag);
            let got = app.get(str_of(&slot["download_url"])).send().await.expect(200);
            assert_eq!(got.body.as_ref(), other.as_slice(), "the file was replaced");
        }
        app.finish_jobs();
        let results = app.results(DEMO, &job).await;
        let full = app
            .get(str_of(&results["results"][0]["output"]["full_size"]))
            .send()
            .await
            .expect(200);
        renders.push(full.body);
        if replay {
            // The clock has moved an hour: the URL expired with its 15 minutes.
            world
                .refuse(
                    "a replay after the upload URL expired",
                    app.put(url).bytes("image/png", image(64, 80, ImageFormat::Png, 122)),
                    S3(403, "AccessDenied"),
                )
                .await;
        }
    }
    assert_eq!(
        renders[0], renders[1],
        "the job rendered from its own copy, not the replaced file"
    );
}
