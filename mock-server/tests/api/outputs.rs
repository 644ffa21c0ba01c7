//! What a job's outputs are called and what they default to, as the
//! vendor's own client relies on: per-output file names (it saves
//! `{stem}_v{version}.{ext}` from `original_filename`), the documented
//! defaults of an empty instruction, and one output's versions.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::helpers::{DEMO, TestApp};
use crate::jobs::decode;

/// The bytes behind a result's `output.full_size` or `output.thumbnail`.
async fn output_bytes(app: &TestApp, result: &Value, kind: &str) -> bytes::Bytes {
    let url = result["output"][kind].as_str().expect("an output URL");
    app.get(url).send().await.expect(200).body
}

/// The extension a file of `format` has.
fn extension(format: image::ImageFormat) -> &'static str {
    match format {
        image::ImageFormat::Jpeg => "jpg",
        image::ImageFormat::Png => "png",
        other => panic!("an output is JPEG or PNG, not {other:?}"),
    }
}

/// The entries of the ZIP at `url`: name → bytes.
async fn zip_entries(app: &TestApp, url: &str) -> Vec<(String, Vec<u8>)> {
    let zip = app.get(url).send().await.expect(200);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip.body.to_vec())).expect("a zip");
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).expect("entry");
            let mut content = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut content).expect("read");
            (entry.name().to_owned(), content)
        })
        .collect()
}

#[tokio::test]
async fn every_output_has_its_own_file_names_with_its_own_format() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    // The instructions file of the vendor client's report: a 1K 3:4 JPEG and
    // two variations of a 4K 9:16 PNG.
    let ins = json!([
        {"options": {"size": "1K", "ar": "3:4", "format": "jpg"}},
        {"num_variations": 2, "options": {"size": "4K", "ar": "9:16", "format": "png"}}
    ]);
    let job = app.create_job(DEMO, TestApp::job_body(&inputs, ins.clone())).await;
    app.finish_jobs();
    let res = app.results(DEMO, &job).await;
    let results = res["results"].as_array().expect("results");
    assert_eq!(results.len(), 3);

    let mut originals = BTreeSet::new();
    let mut downloads = BTreeSet::new();
    let mut saved = BTreeSet::new();
    let mut fulls = Vec::new();
    for r in results {
        let original = r["original_filename"].as_str().expect("original_filename").to_owned();
        let download = r["download_filename"].as_str().expect("download_filename").to_owned();
        let stem = format!("output_{}_{}", r["image_index"], r["group_index"]);
        let bytes = output_bytes(&app, r, "full_size").await;
        let (format, _) = decode(&bytes);
        let ext = extension(format);
        assert_eq!(original, format!("{stem}.{ext}"), "named after its own bytes' format");
        assert_eq!(download, format!("{stem}_v{}.{ext}", r["version"]));
        let (thumb_format, _) = decode(&output_bytes(&app, r, "thumbnail").await);
        assert_eq!(extension(thumb_format), ext, "the thumbnail is in the output's format");
        // What the vendor's flat_to_model.py saves it as.
        let (base, suffix) = original.rsplit_once('.').expect("an extension");
        saved.insert(format!("{base}_v{}.{suffix}", r["version"]));
        originals.insert(original);
        fulls.push((download.clone(), bytes.to_vec()));
        downloads.insert(download);
    }
    assert_eq!(
        originals.len(),
        3,
        "original_filename is unique per output: {originals:?}"
    );
    assert_eq!(
        downloads.len(),
        3,
        "download_filename is unique per output: {downloads:?}"
    );
    assert_eq!(
        saved,
        BTreeSet::from([
            "output_0_0_v0.jpg".into(),
            "output_1_0_v0.png".into(),
            "output_1_1_v0.png".into()
        ]),
        "the vendor client keeps every output, named as its README shows"
    );

    // The ZIP's entries are named by download_filename and hold those bytes.
    let url = app.zip_link(DEMO, "/download", json!({"job_id": job})).await;
    let mut entries = zip_entries(&app, &url).await;
    entries.sort();
    fulls.sort();
    assert_eq!(entries, fulls);

    // In a bulk ZIP, under the job's id.
    let second = app.create_job(DEMO, TestApp::job_body(&inputs, ins)).await;
    app.finish_jobs();
    let url = app
        .zip_link(DEMO, "/download/bulk", json!({"job_ids": [job, second]}))
        .await;
    let names: BTreeSet<String> = zip_entries(&app, &url).await.into_iter().map(|(n, _)| n).collect();
    let expected: BTreeSet<String> = [&job, &second]
        .iter()
        .flat_map(|j| downloads.iter().map(move |d| format!("{j}/{d}")))
        .collect();
    assert_eq!(names, expected);
}

#[tokio::test]
async fn an_empty_instruction_gets_every_documented_default() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let job = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;
    app.finish_jobs();
    let res = app.results(DEMO, &job).await;
    assert_eq!(
        res["processing_options"],
        json!({
            "model": "auto",
            "use_anchor": true,
            "anchor_index": 0,
            "add_ai_watermark": false,
            "use_alternative_method": false,
            "post_process": false
        })
    );
    assert_eq!(res["should_post_process"], false);
    assert_eq!(res["post_processing_status"], Value::Null);
    let results = res["results"].as_array().expect("results");
    assert_eq!(results.len(), 1, "num_variations defaults to 1");
    let only = &results[0];
    assert_eq!(only["status"], "completed");
    assert_eq!(only["model_used"], "nano_banana_pro", "auto runs the default engine");
    assert_eq!(
        (&only["width"], &only["height"], &only["format"]),
        (&json!(1024), &json!(1024), &json!("jpg"))
    );
    assert_eq!(only["original_filename"], "output_0_0.jpg");

    // 1K, 1:1, jpg: a 1024×1024 JPEG without the AI watermark.
    let full = output_bytes(&app, only, "full_size").await;
    let (format, img) = decode(&full);
    assert_eq!(
        (format, img.width(), img.height()),
        (image::ImageFormat::Jpeg, 1024, 1024)
    );
    assert!(
        !mock_server::render::has_watermark(&img),
        "add_ai_watermark defaults to false"
    );
    let thumb = output_bytes(&app, only, "thumbnail").await;
    let (format, t) = decode(&thumb);
    assert_eq!((format, t.width(), t.height()), (image::ImageFormat::Jpeg, 256, 256));

    // Under one seed, the defaults render the same bytes as every default
    // spelled out.
    let defaulted = app
        .create_job(DEMO, TestApp::job_body(&inputs, json!([{"seed": 11}])))
        .await;
    let mut body = TestApp::job_body(
        &inputs,
        json!([{"seed": 11, "num_variations": 1, "options": {"size": "1K", "ar": "1:1", "format": "jpg"}}]),
    );
    body["options"] = json!({"model": "auto", "use_anchor": true, "anchor_index": 0, "add_ai_watermark": false});
    body["post_process"] = json!(false);
    let explicit = app.create_job(DEMO, body).await;
    app.finish_jobs();
    let (a, b) = (app.results(DEMO, &defaulted).await, app.results(DEMO, &explicit).await);
    for kind in ["full_size", "thumbnail"] {
        assert_eq!(
            output_bytes(&app, &a["results"][0], kind).await,
            output_bytes(&app, &b["results"][0], kind).await,
            "{kind}"
        );
    }
}

#[tokio::test]
async fn versions_list_the_versions_of_one_output() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let job = app
        .create_job(DEMO, TestApp::job_body(&inputs, json!([{}, {"num_variations": 3}])))
        .await;
    app.finish_jobs();
    let results = app.results(DEMO, &job).await["results"].clone();
    let versions = |path: String| {
        let app = &app;
        async move { app.get(&path).token(DEMO).send().await }
    };

    // Without group_index: variation 0. Its one version is its result.
    let v = versions(format!("/jobs/{job}/versions/1")).await.expect(200).json();
    assert_eq!(
        (&v["job_id"], &v["image_index"], &v["group_index"]),
        (&json!(job), &json!(1), &json!(0))
    );
    assert_eq!(v["versions"], json!([results[1]]));
    let v = versions(format!("/jobs/{job}/versions/1?group_index=2"))
        .await
        .expect(200)
        .json();
    assert_eq!(v["group_index"], 2);
    assert_eq!(v["versions"], json!([results[3]]));
    assert_eq!(v["versions"][0]["version"], 0);
    assert_eq!(v["versions"][0]["original_filename"], "output_1_2.jpg");

    // Out of range: 404 naming the field. Malformed group_index: 400.
    for (path, status, field) in [
        (format!("/jobs/{job}/versions/0?group_index=1"), 404, "group_index"),
        (format!("/jobs/{job}/versions/1?group_index=3"), 404, "group_index"),
        (format!("/jobs/{job}/versions/2"), 404, "image_index"),
        (format!("/jobs/{job}/versions/x"), 404, "image_index"),
        (format!("/jobs/{job}/versions/1?group_index=abc"), 400, "group_index"),
        (format!("/jobs/{job}/versions/1?group_index=-1"), 400, "group_index"),
        (format!("/jobs/{job}/versions/1?group_index=1.5"), 400, "group_index"),
    ] {
        let r = versions(path.clone()).await.expect(status);
        assert_eq!(r.error_field().as_deref(), Some(field), "{path}");
    }

    // A running job's output has its version too, not yet completed.
    let running = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;
    let v = versions(format!("/jobs/{running}/versions/0")).await.expect(200).json();
    assert_eq!(v["versions"][0]["status"], "pending");
    assert_eq!(v["versions"][0]["output"]["full_size"], Value::Null);
}

#[tokio::test]
async fn a_bulk_download_naming_a_job_twice_is_refused() {
    // Its entries would repeat, which a ZIP cannot hold (it was a 500 on GET).
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let job = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;
    app.finish_jobs();
    let r = app
        .post("/download/bulk")
        .token(DEMO)
        .json(json!({"job_ids": [job, job]}))
        .send()
        .await
        .expect(400);
    assert_eq!(r.json()["detail"][0]["field"], "job_ids[1]");
    assert_eq!(r.json()["detail"][0]["message"], "duplicate job ID (also job_ids[0])");
    assert!(app.state.download_link_count() == 0, "no link was stored");
}
