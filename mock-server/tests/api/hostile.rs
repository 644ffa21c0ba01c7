//! The hostile input catalogue (issue #8): one test per family of hostile
//! input, every case named. Each case must get a clear 4xx — the exact
//! status, in the API's error envelope naming the offending field, or S3's
//! XML on a pre-signed URL — never a panic, a 500 or a hang, and must leave
//! what is stored exactly as it was: [`World::refuse`] takes a snapshot of
//! both fixture accounts before and after every case and compares them.
//! The families are in the submodules: `sizes`, `encodings`, `images`,
//! `names`, `signed_links`, `webhooks`.

use std::io::{Cursor, Read as _};
use std::sync::Mutex;
use std::time::{Duration, Instant as WallClock};

use image::ImageFormat;
use mock_server::Config;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::{Call, DEMO, OTHER, Resp, TestApp, image};

mod encodings;
mod images;
mod names;
mod signed_links;
mod sizes;
mod webhooks;

/// What a hostile request must get.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// The API's error envelope: this status, its first detail naming this
    /// field (`None`: `"field": null`).
    Api(u16, Option<&'static str>),
    /// S3's XML error: this status and code.
    S3(u16, &'static str),
}
use Want::{Api, S3};

/// The longest a refusal may take: each case is refused from a header, a
/// length or a count, so a case that gets near this did real work on
/// hostile input (decoded a bomb, walked a huge array).
const QUICK: Duration = Duration::from_secs(5);

/// A small pair of accounts worth attacking: in the demo account an
/// identity, a project, two uploaded files and a completed job of two
/// outputs; in the other account one uploaded file.
struct World {
    app: TestApp,
    identity: Value,
    project_id: String,
    /// `POST /upload` answers of the demo account's files, bytes uploaded.
    files: Vec<Value>,
    /// The other account's file.
    other_file: Value,
    job: String,
    /// Pre-signed slots handed out during the test (their bytes must never
    /// arrive through a refused request).
    slots: Mutex<Vec<Value>>,
}

impl World {
    async fn build(adjust: impl FnOnce(&mut Config)) -> Self {
        let app = TestApp::spawn_with(adjust).await;
        let identity = app
            .upload_identity(DEMO, image(160, 200, ImageFormat::Jpeg, 1), Some("Model A"))
            .await;
        let project_name = "hostile-project".to_owned();
        let project_id = app.create_project(DEMO, &project_name).await;
        let files = vec![
            app.upload_file(DEMO, "a.png", Some(&project_name), image(64, 80, ImageFormat::Png, 2))
                .await,
            app.upload_file(DEMO, "b.jpg", None, image(64, 80, ImageFormat::Jpeg, 3))
                .await,
        ];
        let other_file = app
            .upload_file(OTHER, "o.png", None, image(64, 80, ImageFormat::Png, 4))
            .await;
        let body = json!({
            "identity_code": identity["identity_code"],
            "project_id": project_id,
            "images": [files[0]["file_id"], files[1]["file_id"]],
            "instructions": [{}, {"options": {"format": "png"}}],
        });
        let job = app.create_job(DEMO, body).await;
        app.finish_jobs();
        assert_eq!(app.status(DEMO, &job).await["status"], "completed");
        Self {
            app,
            identity,
            project_id,
            files,
            other_file,
            job,
            slots: Mutex::new(Vec::new()),
        }
    }

    /// A valid job request on the world's inputs, to break one field of.
    fn job_body(&self) -> Value {
        json!({
            "identity_code": self.identity["identity_code"],
            "project_id": self.project_id,
            "images": [self.files[0]["file_id"]],
            "instructions": [{}],
        })
    }

    /// `POST /upload` for `filename`; the slot is watched by the snapshot.
    async fn presign(&self, token: &str, filename: &str) -> Value {
        let r = self
            .app
            .post("/upload")
            .token(token)
            .json(json!({ "filename": filename }))
            .send()
            .await
            .expect(200)
            .json();
        self.slots.lock().expect("slots").push(r.clone());
        r
    }

    /// `POST /upload` for `filename`, then its pre-signed PUT of `bytes`,
    /// which storage keeps whatever they are, byte for byte (as S3 does).
    async fn put_file(&self, filename: &str, bytes: Vec<u8>) -> Value {
        let slot = self.presign(DEMO, filename).await;
        self.app
            .put(str_of(&slot["upload_url"]))
            .bytes(str_of(&slot["content_type"]), bytes.clone())
            .send()
            .await
            .expect(200);
        let back = self.app.get(str_of(&slot["download_url"])).send().await.expect(200);
        assert_eq!(back.body.as_ref(), bytes.as_slice(), "{filename}: stored as sent");
        slot
    }

    /// Stores `bytes` as the demo account's `filename` ([`World::put_file`]),
    /// then refuses a job with them as its one input: 400 naming
    /// `images[0]`. Returns the message.
    async fn refuse_as_input(&self, case: &str, filename: &str, bytes: Vec<u8>) -> String {
        let file = self.put_file(filename, bytes).await;
        let mut body = self.job_body();
        body["images"] = json!([file["file_id"]]);
        let call = self.app.post("/flat-2-model").token(DEMO).json(body);
        message(
            &self
                .refuse(&format!("{case}, as a job input"), call, Api(400, Some("images[0]")))
                .await,
        )
    }

    /// Everything a refused request must leave alone, as (what, value) pairs.
    async fn snapshot(&self) -> Vec<(String, Value)> {
        let app = &self.app;
        let mut s = Vec::new();
        for token in [DEMO, OTHER] {
            for path in [
                "/identity?per_page=100",
                "/project?per_page=100",
                "/notifications",
                "/auth/token?per_page=100&include_expired=true",
                "/webhooks",
            ] {
                let r = app.get(path).token(token).send().await;
                s.push((format!("{token} GET {path}"), json!([r.status, r.json()])));
            }
        }
        let health = app.get("/__admin/health").send().await.expect(200).json();
        s.push(("health".into(), json!([health["tenants"], health["held"]])));
        let slots = self.slots.lock().expect("slots").clone();
        for f in self.files.iter().chain([&self.other_file]).chain(&slots) {
            let r = app.get(str_of(&f["download_url"])).send().await;
            s.push((
                format!("bytes of {}", f["file_id"]),
                json!([r.status, hex::encode(Sha256::digest(&r.body))]),
            ));
        }
        for what in ["status", "results"] {
            let r = app.get(&format!("/jobs/{}/{what}", self.job)).token(DEMO).send().await;
            s.push((format!("job {what}"), json!([r.status, r.json()])));
        }
        s
    }

    /// Sends one hostile request: it must get `want`, quickly, and change
    /// nothing stored.
    async fn refuse(&self, case: &str, call: Call<'_>, want: Want) -> Resp {
        let before = self.snapshot().await;
        let started = WallClock::now();
        let r = call.send().await;
        let took = started.elapsed();
        check(case, &r, want);
        assert!(took < QUICK, "{case}: took {took:?}");
        let after = self.snapshot().await;
        for (b, a) in before.iter().zip(&after) {
            assert_eq!(b, a, "{case}: a refused request changed what is stored");
        }
        assert_eq!(before.len(), after.len(), "{case}");
        r
    }
}

fn check(case: &str, r: &Resp, want: Want) {
    match want {
        Api(status, field) => {
            assert_eq!(r.status, status, "{case}: {}", r.text());
            assert!(r.content_type().starts_with("application/json"), "{case}");
            let body = r.json();
            assert!(body["error"].is_string(), "{case}: {body}");
            assert_eq!(body["detail"][0]["field"].as_str(), field, "{case}: {body}");
        }
        S3(status, code) => {
            assert_eq!(r.status, status, "{case}: {}", r.text());
            assert_eq!(r.content_type(), "application/xml", "{case}");
            assert_eq!(r.s3_code(), code, "{case}: {}", r.text());
        }
    }
}

fn str_of(v: &Value) -> &str {
    v.as_str().expect("a string")
}

/// The first detail's message.
fn message(r: &Resp) -> String {
    r.json()["detail"][0]["message"].as_str().unwrap_or("").to_owned()
}

/// `url` with query parameter `key` set to `value` (added when missing,
/// removed when `value` is `None`).
fn with_param(url: &str, key: &str, value: Option<&str>) -> String {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let mut pairs: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some(key))
        .map(str::to_owned)
        .collect();
    if let Some(v) = value {
        pairs.push(format!("{key}={v}"));
    }
    format!("{path}?{}", pairs.join("&"))
}

fn param<'a>(url: &'a str, key: &str) -> &'a str {
    url.split_once('?')
        .map_or("", |(_, q)| q)
        .split('&')
        .find_map(|p| p.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .expect("the parameter")
}

/// The query string of a pre-signed URL, `?` included.
fn query_of(url: &str) -> &str {
    &url[url.find('?').expect("a query")..]
}

/// `{"project_name": "xxx…"}` of exactly `len` bytes.
fn json_of_size(len: usize) -> Vec<u8> {
    let shell = br#"{"project_name":""}"#.len();
    format!(r#"{{"project_name":"{}"}}"#, "x".repeat(len - shell)).into_bytes()
}

const BOUNDARY: &str = "hostile-boundary";

fn multipart_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// One multipart part, raw: any bytes may go in the file name and body.
fn part(name: &str, filename: Option<&[u8]>, body: &[u8]) -> Vec<u8> {
    let mut p = format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"").into_bytes();
    if let Some(f) = filename {
        p.extend_from_slice(b"; filename=\"");
        p.extend_from_slice(f);
        p.push(b'"');
    }
    p.extend_from_slice(b"\r\n\r\n");
    p.extend_from_slice(body);
    p.extend_from_slice(b"\r\n");
    p
}

fn closing() -> Vec<u8> {
    format!("--{BOUNDARY}--\r\n").into_bytes()
}

/// A form with a fresh image (never uploaded before) and one text field.
fn form_with(salt: u8, field: &str, value: &str) -> Form {
    Form::new()
        .part(
            "image",
            Part::bytes(image(64, 64, ImageFormat::Png, salt)).file_name("x.png"),
        )
        .text(field.to_owned(), value.to_owned())
}
