//! After a restart the uploaded bytes stay in the data dir and are read
//! when asked for: memory holds none of them, and every one reads back
//! byte for byte, with its content type and ETag.

use serde_json::json;

use crate::helpers::{DEMO, TestApp, jpeg, png};

use super::{TempDir, close, local, spawn_on};

/// What one GET of a storage URL answered: status, content type, ETag, body.
async fn fetch(app: &TestApp, path: &str) -> (u16, String, Option<String>, Vec<u8>) {
    let r = app.get(path).send().await;
    let etag = r.headers.get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (r.status, r.content_type().to_owned(), etag, r.body.to_vec())
}

#[tokio::test]
async fn after_a_restart_uploaded_bytes_stay_on_disk_and_read_back_byte_for_byte() {
    let dir = TempDir::new("lazy-blobs");
    let first = spawn_on(&dir.path(), |_| {}).await;
    let inputs = first.job_inputs(DEMO, 2).await;
    let body = TestApp::job_body(&inputs, json!([{ "pose": "a", "num_variations": 2 }]));
    let job = first.create_job(DEMO, body.clone()).await;
    first.finish_jobs();
    let outputs = first.output_images(DEMO, &job).await;
    let identity = first.upload_identity(DEMO, jpeg(90), Some("Model B")).await;
    let mut paths = vec![local(&first, &identity["link"])];
    for salt in 0..6u8 {
        let r = first
            .upload_file(DEMO, &format!("extra-{salt}.png"), None, png(100 + salt))
            .await;
        paths.push(local(&first, &r["download_url"]));
    }
    let mut before = Vec::new();
    for p in &paths {
        before.push(fetch(&first, p).await);
    }
    assert!(before.iter().all(|(status, ..)| *status == 200), "{paths:?}");
    assert!(
        first.state.resident_upload_bytes() > 0,
        "what arrives while running is held in memory"
    );
    close(&first).await;

    let second = spawn_on(&dir.path(), |_| {}).await;
    assert_eq!(
        second.state.resident_upload_bytes(),
        0,
        "after a restart no uploaded byte is loaded into memory"
    );
    for (p, want) in paths.iter().zip(&before) {
        assert_eq!(&fetch(&second, p).await, want, "{p} reads back the same");
    }
    assert_eq!(
        second.output_images(DEMO, &job).await,
        outputs,
        "results render again, byte for byte, from inputs read off the disk"
    );
    assert_eq!(second.state.resident_upload_bytes(), 0, "reading them kept nothing");

    // A job made after the restart from files left on disk keeps its own
    // inputs in the data dir: they read back after another restart.
    let again = second.create_job(DEMO, body).await;
    second.finish_jobs();
    let again_outputs = second.output_images(DEMO, &again).await;
    close(&second).await;
    let third = spawn_on(&dir.path(), |_| {}).await;
    assert_eq!(third.state.resident_upload_bytes(), 0);
    assert_eq!(third.output_images(DEMO, &again).await, again_outputs);
    for (p, want) in paths.iter().zip(&before) {
        assert_eq!(&fetch(&third, p).await, want, "{p} after a second restart");
    }
}
