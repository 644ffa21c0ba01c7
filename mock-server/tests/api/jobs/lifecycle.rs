//! A job from creation to its results: status on the manual clock, the anchor,
//! post-processing, the control API.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{DEMO, TestApp};

use super::{decode, vendor_instructions};

#[tokio::test]
async fn the_vendor_example_runs_completes_and_downloads() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 2).await;
    let mut body = TestApp::job_body(&inputs, vendor_instructions());
    body["post_process"] = json!(false);
    body["options"] = json!({"model": "auto"});
    let r = app.accept_job(DEMO, body).await.json();
    assert_eq!(r["total_outputs"], 2);
    assert_eq!(r["message"], "Job created successfully");
    let job = r["job_id"].as_str().expect("id").to_owned();
    assert_eq!(app.status(DEMO, &job).await["status"], "pending");

    app.finish_jobs();
    let st = app.status(DEMO, &job).await;
    assert_eq!(st["status"], "completed");
    assert_eq!(st["progress"], 100.0);
    assert_eq!(st["processed_images"], 2);
    let res = app.results(DEMO, &job).await;
    let results = res["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    let expected = [
        ((1152, 2048), image::ImageFormat::Jpeg),
        ((1536, 2048), image::ImageFormat::Png),
    ];
    let mut fulls = Vec::new();
    for (r, ((w, h), f)) in results.iter().zip(expected) {
        assert_eq!(r["status"], "completed");
        assert_eq!(r["model_used"], "nano_banana_pro");
        let bytes = app
            .get(r["output"]["full_size"].as_str().expect("url"))
            .send()
            .await
            .expect(200)
            .body;
        let (format, img) = decode(&bytes);
        assert_eq!((format, img.width(), img.height()), (f, w, h));
        let thumb = app
            .get(r["output"]["thumbnail"].as_str().expect("url"))
            .send()
            .await
            .expect(200)
            .body;
        let (_, t) = decode(&thumb);
        assert_eq!(t.width().max(t.height()), 256);
        fulls.push((r["download_filename"].as_str().expect("name").to_owned(), bytes));
    }
    assert_eq!(res["summary"]["successful"], 2);

    let dl = app.zip_link(DEMO, "/download", json!({"job_id": job})).await;
    let zip = app.get(&dl).send().await.expect(200);
    assert_eq!(zip.content_type(), "application/zip");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip.body.to_vec())).expect("a zip");
    assert_eq!(archive.len(), 2);
    for (name, bytes) in fulls {
        let mut entry = archive.by_name(&name).expect("entry by download_filename");
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut content).expect("read");
        assert_eq!(content, bytes.to_vec(), "{name}");
    }
}

#[tokio::test]
async fn status_moves_pending_processing_completed_and_stays_consistent() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let mut body = TestApp::job_body(&inputs, json!([{"num_variations": 2}, {"num_variations": 2}]));
    body["options"] = json!({"use_anchor": false});
    let job = app.create_job(DEMO, body).await;
    let mut seen = Vec::new();
    let mut last_progress = -1.0;
    for _ in 0..400 {
        let st = app.status(DEMO, &job).await;
        let processed = st["processed_images"].as_u64().expect("n");
        let total = st["total_images"].as_u64().expect("n");
        let progress = st["progress"].as_f64().expect("progress is a number");
        assert_eq!(total, 4);
        assert!((progress - (processed as f64) * 100.0 / 4.0).abs() < 0.06, "{st}");
        assert!(progress >= last_progress, "progress never goes back");
        last_progress = progress;
        assert!(st["updated_at"].as_str() >= st["created_at"].as_str());
        let status = st["status"].as_str().expect("s").to_owned();
        match status.as_str() {
            "pending" => assert_eq!(processed, 0),
            "completed" => assert_eq!(processed, 4),
            "processing" => assert!(processed < 4),
            other => panic!("unexpected status {other}"),
        }
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        if status == "completed" {
            break;
        }
        app.advance(Duration::from_millis(250));
    }
    assert_eq!(seen, ["pending", "processing", "completed"]);
}

#[tokio::test]
async fn with_use_anchor_the_anchor_output_completes_before_the_others_start() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let mut body = TestApp::job_body(&inputs, json!([{}, {"num_variations": 2}, {}]));
    body["options"] = json!({"anchor_index": 1});
    let job = app.create_job(DEMO, body).await;
    app.finish_jobs();
    let internal = app.get(&format!("/__admin/jobs/{job}")).send().await.expect(200).json();
    let outputs = internal["state"]["outputs"].as_array().expect("outputs");
    let anchor_done = outputs[1]["finished_at"].as_str().expect("anchor finished").to_owned();
    for (k, o) in outputs.iter().enumerate().filter(|(k, _)| *k != 1) {
        assert!(
            o["started_at"].as_str().expect("started") >= anchor_done.as_str(),
            "output {k} started before the anchor finished"
        );
    }
    // Without the anchor, all outputs start together.
    let mut body = TestApp::job_body(&inputs, json!([{}, {}]));
    body["options"] = json!({"use_anchor": false});
    let job = app.create_job(DEMO, body).await;
    app.finish_jobs();
    let internal = app.get(&format!("/__admin/jobs/{job}")).send().await.expect(200).json();
    let starts: Vec<&str> = internal["state"]["outputs"]
        .as_array()
        .expect("o")
        .iter()
        .map(|o| o["started_at"].as_str().expect("s"))
        .collect();
    assert_eq!(starts[0], starts[1]);
}

#[tokio::test]
async fn post_processing_runs_after_generation() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let mut body = TestApp::job_body(&inputs, json!([{}]));
    body["post_process"] = json!(true);
    let job = app.create_job(DEMO, body.clone()).await;
    let st = app.status(DEMO, &job).await;
    assert_eq!(
        (
            st["should_post_process"].as_bool(),
            st["post_processing_status"].as_str()
        ),
        (Some(true), Some("pending"))
    );
    let mut seen = vec!["pending".to_owned()];
    for _ in 0..200 {
        app.advance(Duration::from_millis(250));
        let st = app.status(DEMO, &job).await;
        let pp = st["post_processing_status"].as_str().expect("pp").to_owned();
        if pp == "processing" {
            assert_eq!(st["progress"], 100.0, "post-processing starts after generation");
            assert_eq!(
                st["status"], "processing",
                "completed is announced once, after post-processing"
            );
        }
        if pp == "completed" {
            assert_eq!(st["status"], "completed");
        }
        if seen.last() != Some(&pp) {
            seen.push(pp.clone());
        }
        if pp == "completed" {
            break;
        }
    }
    assert_eq!(seen, ["pending", "processing", "completed"]);

    body["instructions"] = json!([{"prompt": "mock:fail-post-processing"}]);
    let job = app.create_job(DEMO, body).await;
    app.finish_jobs();
    let st = app.status(DEMO, &job).await;
    assert_eq!(st["status"], "completed");
    assert_eq!(st["post_processing_status"], "failed");
    assert_eq!(st["post_processing_error"], "post-processing failed");

    let job = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;
    assert_eq!(app.status(DEMO, &job).await["post_processing_status"], Value::Null);
}

#[tokio::test]
async fn time_scale_zero_makes_jobs_instant() {
    let app = TestApp::spawn_with(|c| c.time_scale = 0.0).await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let job = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}, {}]))).await;
    assert_eq!(app.status(DEMO, &job).await["status"], "completed");
}

#[tokio::test]
async fn the_control_api_shows_and_completes_a_job() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let job = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}, {}]))).await;
    let internal = app.get(&format!("/__admin/jobs/{job}")).send().await.expect(200).json();
    assert_eq!(internal["status"]["status"], "pending");
    assert!(internal["schedule"]["events"].as_array().expect("events").len() >= 6);
    let done = app
        .post(&format!("/__admin/jobs/{job}/complete"))
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(done["status"]["status"], "completed");
    assert_eq!(app.status(DEMO, &job).await["status"], "completed");
    app.post("/__admin/jobs/job_nope/complete").send().await.expect(404);
}
