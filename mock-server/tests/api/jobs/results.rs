//! What a finished job gives: outputs, thumbnails, watermark, determinism, ZIP
//! downloads.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{DEMO, TestApp};

use super::decode;

#[tokio::test]
async fn the_watermark_is_baked_into_outputs_and_thumbnails() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    for (watermark, format) in [(true, "jpg"), (true, "png"), (false, "jpg")] {
        let mut body = TestApp::job_body(&inputs, json!([{"options": {"format": format}}]));
        body["options"] = json!({"add_ai_watermark": watermark});
        let job = app.create_job(DEMO, body).await;
        app.finish_jobs();
        let res = app.results(DEMO, &job).await;
        for kind in ["full_size", "thumbnail"] {
            let bytes = app
                .get(res["results"][0]["output"][kind].as_str().expect("url"))
                .send()
                .await
                .expect(200)
                .body;
            let (_, img) = decode(&bytes);
            assert_eq!(mock_server::render::has_watermark(&img), watermark, "{format} {kind}");
        }
    }
}

#[tokio::test]
async fn the_same_seed_gives_the_same_picture_and_instructions_differ() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let ins = json!([{"background": "beach", "seed": 5}, {"background": "city", "seed": 5}]);
    let a = app.create_job(DEMO, TestApp::job_body(&inputs, ins.clone())).await;
    let b = app.create_job(DEMO, TestApp::job_body(&inputs, ins)).await;
    app.finish_jobs();
    let (a, b) = (app.output_images(DEMO, &a).await, app.output_images(DEMO, &b).await);
    assert_eq!(a, b, "same inputs and seeds, same bytes");
    assert_ne!(a[0], a[1], "different instructions look different");
}

#[tokio::test]
async fn downloads_need_a_completed_job_and_links_expire() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let job = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;
    let r = app
        .zip_request(DEMO, "/download", json!({"job_id": job}))
        .await
        .expect(409);
    assert_eq!(r.error_field().as_deref(), Some("job_id"));
    app.zip_request(DEMO, "/download", json!({"job_id": "job_unknown"}))
        .await
        .expect(404);
    app.finish_jobs();
    let url = app.zip_link(DEMO, "/download", json!({"job_id": job})).await;
    app.get(&url).send().await.expect(200);
    app.advance(Duration::from_secs(3600));
    assert_eq!(
        app.get(&url).send().await.expect(410).error_field().as_deref(),
        Some("token")
    );
    app.get("/download/dl_forged").send().await.expect(404);

    let second = app
        .create_job(DEMO, TestApp::job_body(&inputs, json!([{"num_variations": 2}])))
        .await;
    app.finish_jobs();
    let dl = app
        .zip_link(DEMO, "/download/bulk", json!({"job_ids": [job, second]}))
        .await;
    let zip = app.get(&dl).send().await.expect(200);
    let archive = zip::ZipArchive::new(std::io::Cursor::new(zip.body.to_vec())).expect("zip");
    let mut names: Vec<&str> = archive.file_names().collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            format!("{job}/output_0_0_v0.jpg"),
            format!("{second}/output_0_0_v0.jpg"),
            format!("{second}/output_0_1_v0.jpg")
        ]
    );
    app.post("/download/bulk")
        .token(DEMO)
        .json(json!({"job_ids": []}))
        .send()
        .await
        .expect(400);
}
