//! The hostile input catalogue (issue #8): one test per family of hostile
//! input, every case named. Each case must get a clear 4xx — the exact
//! status, in the API's error envelope naming the offending field, or S3's
//! XML on a pre-signed URL — never a panic, a 500 or a hang, and must leave
//! what is stored exactly as it was: [`World::refuse`] takes a snapshot of
//! both fixture accounts before and after every case and compares them.

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

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 == 1 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    !c
}

/// A 1×1 PNG whose header says `w`×`h` (with a correct CRC, so only the
/// size can be the reason to refuse it).
fn png_bomb(w: u32, h: u32) -> Vec<u8> {
    let mut png = image(1, 1, ImageFormat::Png, 0);
    png[16..20].copy_from_slice(&w.to_be_bytes());
    png[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

/// An 8×8 JPEG whose frame header (SOF0) says `w`×`h`.
fn jpeg_bomb(w: u16, h: u16) -> Vec<u8> {
    let mut jpg = image(8, 8, ImageFormat::Jpeg, 0);
    let sof = jpg.windows(2).position(|m| m == [0xFF, 0xC0]).expect("a SOF0 marker");
    jpg[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    jpg[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    jpg
}

/// A 1×1 lossless WebP whose VP8L header says `w`×`h` (each at most 16384).
fn webp_bomb(w: u32, h: u32) -> Vec<u8> {
    let mut webp = image(1, 1, ImageFormat::WebP, 0);
    let at = webp.windows(4).position(|m| m == b"VP8L").expect("a VP8L chunk") + 9;
    let old = u32::from_le_bytes(webp[at..at + 4].try_into().expect("4 bytes"));
    let packed = (w - 1) | ((h - 1) << 14) | (old & 0xF000_0000);
    webp[at..at + 4].copy_from_slice(&packed.to_le_bytes());
    webp
}

/// Checks that no header of `r` carries anything a client wrote.
fn headers_are_clean(case: &str, r: &Resp) {
    for (k, v) in &r.headers {
        let v = String::from_utf8_lossy(v.as_bytes());
        for hostile in ["..", "passwd", "\\", "\u{1b}"] {
            assert!(!v.contains(hostile), "{case}: header {k}: {v}");
        }
    }
}

#[tokio::test]
async fn oversized_bodies_and_uploads_are_refused() {
    let w = World::build(|c| {
        c.max_body_bytes = 4096;
        c.max_upload_bytes = 64 * 1024;
    })
    .await;
    let app = &w.app;
    let big_json = json_of_size(20_000);
    // At the limit the body is read (and its rule applies); one byte more is 413.
    w.refuse(
        "a JSON body of exactly --max-body-bytes is read",
        app.post("/project")
            .token(DEMO)
            .bytes("application/json", json_of_size(4096)),
        Api(400, Some("project_name")),
    )
    .await;
    w.refuse(
        "a JSON body one byte over --max-body-bytes",
        app.post("/project")
            .token(DEMO)
            .bytes("application/json", json_of_size(4097)),
        Api(413, None),
    )
    .await;
    for (method, path) in [
        ("POST", "/flat-2-model"),
        ("POST", "/upload"),
        ("PUT", "/webhooks"),
        ("POST", "/notifications"),
        ("POST", "/download"),
        ("POST", "/download/bulk"),
        ("POST", "/auth/refresh"),
        ("POST", "/auth/token"),
    ] {
        let call = app
            .call(method.parse().expect("method"), path)
            .token(DEMO)
            .bytes("application/json", big_json.clone());
        w.refuse(&format!("a 20 KB JSON body to {method} {path}"), call, Api(413, None))
            .await;
    }
    w.refuse(
        "a chunked JSON body without Content-Length",
        app.post("/project")
            .token(DEMO)
            .chunked("application/json", big_json.chunks(1000).map(<[u8]>::to_vec).collect()),
        Api(413, None),
    )
    .await;

    let over = |n: usize| vec![0x42u8; 64 * 1024 + n];
    for (case, bytes) in [
        ("an identity image one byte over --max-upload-bytes", over(1)),
        ("an identity upload three times the limit", over(128 * 1024)),
    ] {
        let form = Form::new().part("image", Part::bytes(bytes).file_name("big.png"));
        w.refuse(
            case,
            app.post("/identity/upload").token(DEMO).multipart(form),
            Api(413, None),
        )
        .await;
    }

    // Pre-signed PUTs answer as S3 does: 400 EntityTooLarge, at any size,
    // after the signature (a forged URL is refused as forged first).
    let slot = w.presign(DEMO, "big.png").await;
    let url = str_of(&slot["upload_url"]);
    for (case, bytes) in [
        ("a pre-signed PUT one byte over --max-upload-bytes", over(1)),
        ("a pre-signed PUT three times the limit", over(128 * 1024)),
    ] {
        w.refuse(case, app.put(url).bytes("image/png", bytes), S3(400, "EntityTooLarge"))
            .await;
    }
    w.refuse(
        "a chunked pre-signed PUT over the limit",
        app.put(url)
            .chunked("image/png", over(1).chunks(8192).map(<[u8]>::to_vec).collect()),
        S3(400, "EntityTooLarge"),
    )
    .await;
    let forged = with_param(url, "Signature", Some(&"0".repeat(64)));
    w.refuse(
        "a forged pre-signed PUT three times the limit",
        app.put(&forged).bytes("image/png", over(128 * 1024)),
        S3(403, "SignatureDoesNotMatch"),
    )
    .await;
}

#[tokio::test]
async fn deeply_nested_json_is_refused_without_overflowing_the_stack() {
    let w = World::build(|_| {}).await;
    let app = &w.app;
    let arrays = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let objects = |depth: usize| format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
    let deep = arrays(10_000);
    // Unknown fields are skipped, not stored, but the skipping walks them
    // too: the deepest risk is a field nobody reads.
    let ignored = |value: &str| format!(r#"{{"ignored":{value}}}"#).into_bytes();
    let mut job = serde_json::to_string(&w.job_body()).expect("json");
    job.insert_str(1, &format!(r#""review_config":{},"#, objects(10_000)));
    let mut cases: Vec<(String, &str, &str, Vec<u8>)> = vec![
        (
            "10,000 nested objects in a job's review_config (which is kept)".into(),
            "POST",
            "/flat-2-model",
            job.into_bytes(),
        ),
        (
            "10,000 nested arrays as a project name".into(),
            "POST",
            "/project",
            format!(r#"{{"project_name":{deep}}}"#).into_bytes(),
        ),
    ];
    for (method, path) in [
        ("POST", "/project"),
        ("POST", "/flat-2-model"),
        ("POST", "/upload"),
        ("PUT", "/webhooks"),
        ("POST", "/notifications"),
        ("POST", "/download"),
        ("POST", "/download/bulk"),
        ("POST", "/auth/refresh"),
        ("POST", "/auth/token"),
        ("POST", "/__admin/clock"),
        ("POST", "/__admin/scenarios"),
        ("POST", "/__admin/journal/verify"),
        ("PUT", "/__admin/scenarios/active"),
    ] {
        for (shape, value) in [("arrays", &deep), ("objects", &objects(10_000))] {
            let case = format!("10,000 nested {shape} in an unknown field of {method} {path}");
            cases.push((case, method, path, ignored(value)));
        }
    }
    for (case, method, path, body) in cases {
        let call = app
            .call(method.parse().expect("method"), path)
            .token(DEMO)
            .bytes("application/json", body);
        let r = w.refuse(&case, call, Api(400, None)).await;
        assert!(message(&r).contains("recursion limit"), "{case}: {}", r.text());
    }
    w.refuse(
        "a top-level array 10,000 deep",
        app.post("/project")
            .token(DEMO)
            .bytes("application/json", deep.clone().into_bytes()),
        Api(400, None),
    )
    .await;
    let r = w
        .refuse(
            "a fault plan 10,000 deep",
            app.post("/flat-2-model")
                .token(DEMO)
                .header("x-mock-fault-plan", &deep)
                .json(w.job_body()),
            Api(400, Some("X-Mock-Fault-Plan")),
        )
        .await;
    assert!(message(&r).starts_with("not a fault plan"), "{}", r.text());
}

#[tokio::test]
async fn huge_arrays_and_long_strings_are_refused_quickly() {
    let w = World::build(|_| {}).await;
    let app = &w.app;
    let job = |edit: &dyn Fn(&mut Value)| {
        let mut b = w.job_body();
        edit(&mut b);
        app.post("/flat-2-model").token(DEMO).json(b)
    };
    let file = w.files[0]["file_id"].clone();
    let long = |n: usize| "x".repeat(n);
    let cases: Vec<(&str, Call<'_>, Want)> = vec![
        (
            "100,000 instructions",
            job(&|b| b["instructions"] = json!(vec![json!({}); 100_000])),
            Api(400, Some("instructions")),
        ),
        (
            "11 instructions",
            job(&|b| b["instructions"] = json!(vec![json!({}); 11])),
            Api(400, Some("instructions")),
        ),
        (
            "10,000 images",
            job(&|b| b["images"] = json!(vec![file.clone(); 10_000])),
            Api(400, Some("images")),
        ),
        (
            "100,000 images that are numbers",
            job(&|b| b["images"] = json!(vec![0; 100_000])),
            Api(400, Some("images")),
        ),
        (
            "num_variations 1e300",
            job(&|b| b["instructions"][0]["num_variations"] = json!(1e300)),
            Api(400, Some("instructions[0].num_variations")),
        ),
        (
            "num_variations 2^64",
            job(&|b| b["instructions"][0]["num_variations"] = json!(18_446_744_073_709_551_615u64)),
            Api(400, Some("instructions[0].num_variations")),
        ),
        (
            "num_variations 9",
            job(&|b| b["instructions"][0]["num_variations"] = json!(9)),
            Api(400, Some("instructions[0].num_variations")),
        ),
        (
            "an 8,001-character prompt",
            job(&|b| b["instructions"][0]["prompt"] = json!(long(8001))),
            Api(400, Some("instructions[0].prompt")),
        ),
        (
            "a 500,000-character pose",
            job(&|b| b["instructions"][0]["pose"] = json!(long(500_000))),
            Api(400, Some("instructions[0].pose")),
        ),
        (
            "a 2,001-character note",
            job(&|b| b["images"] = json!([{"file_id": file, "note": long(2001)}])),
            Api(400, Some("images[0].note")),
        ),
        (
            "51 category names",
            job(&|b| b["instructions"][0]["category_names"] = json!(vec!["c"; 51])),
            Api(400, Some("instructions[0].category_names")),
        ),
        (
            "a 201-character project name",
            app.post("/project")
                .token(DEMO)
                .json(json!({"project_name": long(201)})),
            Api(400, Some("project_name")),
        ),
        (
            "a 256-character upload filename",
            app.post("/upload")
                .token(DEMO)
                .json(json!({"filename": format!("{}.png", long(252))})),
            Api(400, Some("filename")),
        ),
        (
            "a 201-character project name for an upload",
            app.post("/upload")
                .token(DEMO)
                .json(json!({"filename": "a.png", "project_name": long(201)})),
            Api(400, Some("project_name")),
        ),
        (
            "a 2,049-character webhook URL",
            app.put("/webhooks")
                .token(DEMO)
                .json(json!({"url": format!("http://example.com/{}", long(2030))})),
            Api(400, Some("url")),
        ),
        (
            "a 201-character identity name",
            app.post("/identity/upload")
                .token(DEMO)
                .multipart(form_with(50, "name", &long(201))),
            Api(400, Some("name")),
        ),
        (
            "a 201-character tag",
            app.post("/identity/upload")
                .token(DEMO)
                .multipart(form_with(51, "tag", &long(201))),
            Api(400, Some("tag")),
        ),
        (
            "a 256-character image file name",
            app.post("/identity/upload").token(DEMO).multipart(Form::new().part(
                "image",
                Part::bytes(image(64, 64, ImageFormat::Png, 52)).file_name(format!("{}.png", long(252))),
            )),
            Api(400, Some("image")),
        ),
        (
            "101 job ids for one ZIP",
            app.post("/download/bulk")
                .token(DEMO)
                .json(json!({"job_ids": vec![&w.job; 101]})),
            Api(400, Some("job_ids")),
        ),
        (
            "100,000 job ids for one ZIP",
            app.post("/download/bulk")
                .token(DEMO)
                .json(json!({"job_ids": vec!["j"; 100_000]})),
            Api(400, Some("job_ids")),
        ),
        (
            "100,000 job ids in a notification filter",
            app.post("/notifications")
                .token(DEMO)
                .json(json!({"id_task": vec!["j"; 100_000]})),
            Api(400, Some("id_task")),
        ),
        (
            "101 names in a notification filter's query",
            app.get(&format!("/notifications?name_list={}", vec!["ping"; 101].join(",")))
                .token(DEMO),
            Api(400, Some("name_list")),
        ),
        (
            "101 job ids in an SSE filter",
            app.get(&format!("/notifications/events?id_task={}", vec!["j"; 101].join(",")))
                .token(DEMO),
            Api(400, Some("id_task")),
        ),
        (
            "per_page of a trillion",
            app.get("/project?per_page=1000000000000").token(DEMO),
            Api(400, Some("per_page")),
        ),
        (
            "a token lifetime of 10^30 seconds",
            app.post("/auth/token").token(DEMO).json(json!({"expiration": 1e30})),
            Api(400, Some("expiration")),
        ),
    ];
    for (case, call, want) in cases {
        w.refuse(case, call, want).await;
    }
    // The journal keeps what it learned of them bounded: a few violations,
    // each clipped, not one per item of a 100,000-item array.
    let journal = app
        .get("/__admin/journal?path=/flat-2-model")
        .send()
        .await
        .expect(200)
        .json();
    let entries = journal["requests"].as_array().expect("requests");
    assert!(entries.len() >= 10);
    assert!(
        entries
            .iter()
            .any(|e| e["violations"][0]
                == "images: an array of 100000 items, too long to check item by item (over 1000)"),
        "the longest array is named instead of checked"
    );
    for e in entries {
        let violations = e["violations"].as_array().expect("violations");
        assert!(violations.len() <= 20, "{} violations", violations.len());
        for v in violations {
            assert!(str_of(v).chars().count() <= 301, "{v}");
        }
    }
}

#[tokio::test]
async fn wrong_content_types_are_refused() {
    let w = World::build(|_| {}).await;
    let app = &w.app;
    let project = br#"{"project_name":"typed"}"#.to_vec();
    let slot = w.presign(DEMO, "typed.png").await;
    let url = str_of(&slot["upload_url"]);
    let png = image(64, 64, ImageFormat::Png, 60);
    let cases: Vec<(&str, Call<'_>, Want)> = vec![
        (
            "JSON sent as text/plain",
            app.post("/project").token(DEMO).bytes("text/plain", project.clone()),
            Api(415, Some("Content-Type")),
        ),
        (
            "a form body to a JSON endpoint",
            app.post("/project")
                .token(DEMO)
                .bytes("application/x-www-form-urlencoded", b"project_name=typed".to_vec()),
            Api(415, Some("Content-Type")),
        ),
        (
            "multipart to a JSON endpoint",
            app.post("/flat-2-model")
                .token(DEMO)
                .multipart(Form::new().text("images", "x")),
            Api(415, Some("Content-Type")),
        ),
        (
            "a JSON body without any Content-Type",
            app.put("/webhooks")
                .token(DEMO)
                .bytes("", br#"{"url":"http://example.com/"}"#.to_vec()),
            Api(415, Some("Content-Type")),
        ),
        (
            "a form body labelled application/json",
            app.post("/project")
                .token(DEMO)
                .bytes("application/json", b"project_name=typed".to_vec()),
            Api(400, None),
        ),
        (
            "JSON to the identity upload",
            app.post("/identity/upload").token(DEMO).json(json!({"image": "x"})),
            Api(415, Some("Content-Type")),
        ),
        (
            "an image as text/plain to the identity upload",
            app.post("/identity/upload")
                .token(DEMO)
                .bytes("text/plain", png.clone()),
            Api(415, Some("Content-Type")),
        ),
        (
            "multipart without a boundary",
            app.post("/identity/upload")
                .token(DEMO)
                .bytes("multipart/form-data", part("image", Some(b"x.png"), &png)),
            Api(415, Some("Content-Type")),
        ),
        (
            "a pre-signed PUT as text/plain",
            app.put(url).bytes("text/plain", png.clone()),
            S3(403, "SignatureDoesNotMatch"),
        ),
        (
            "a pre-signed PUT without a Content-Type",
            app.put(url).bytes("", png.clone()),
            S3(403, "SignatureDoesNotMatch"),
        ),
        (
            "a JPEG PUT as the signed image/png",
            app.put(url).bytes("image/png", image(64, 64, ImageFormat::Jpeg, 61)),
            S3(400, "InvalidArgument"),
        ),
    ];
    for (case, call, want) in cases {
        w.refuse(case, call, want).await;
    }
}

#[tokio::test]
async fn invalid_utf8_is_refused() {
    let w = World::build(|_| {}).await;
    let app = &w.app;
    let mut job = serde_json::to_vec(&w.job_body()).expect("json");
    job.pop();
    job.extend_from_slice(b",\"post_process\":\"\xff\xfe\"}");
    let name_part = |field: &str| {
        let mut body = part("image", Some(b"x.png"), &image(64, 64, ImageFormat::Png, 70));
        body.extend(part(field, None, b"caf\xe9 \xff"));
        body.extend(closing());
        body
    };
    let download = str_of(&w.files[0]["download_url"]);
    let cases: Vec<(&str, Call<'_>, Want)> = vec![
        (
            "a 0xFF byte in a JSON string",
            app.post("/project")
                .token(DEMO)
                .bytes("application/json", b"{\"project_name\":\"a\xffb\"}".to_vec()),
            Api(400, None),
        ),
        (
            "a lone surrogate escape",
            app.post("/project")
                .token(DEMO)
                .bytes("application/json", br#"{"project_name":"\ud800"}"#.to_vec()),
            Api(400, None),
        ),
        (
            "bytes that are not UTF-8 in a job request",
            app.post("/flat-2-model").token(DEMO).bytes("application/json", job),
            Api(400, None),
        ),
        (
            "an identity name that is not UTF-8",
            app.post("/identity/upload")
                .token(DEMO)
                .bytes(&multipart_type(), name_part("name")),
            Api(400, Some("name")),
        ),
        (
            "a tag that is not UTF-8",
            app.post("/identity/upload")
                .token(DEMO)
                .bytes(&multipart_type(), name_part("tag")),
            Api(400, Some("tag")),
        ),
        (
            "a gallery search that is not UTF-8",
            app.get("/identity?search=%FF").token(DEMO),
            Api(400, Some("search")),
        ),
        (
            "half a UTF-8 character as a page",
            app.get("/project?page=%C3").token(DEMO),
            Api(400, Some("page")),
        ),
        (
            "a query parameter name that is not UTF-8",
            app.get("/identity?%FE%FF=1").token(DEMO),
            Api(400, None),
        ),
        (
            "a polling filter that is not UTF-8",
            app.get("/notifications?id_task=%FF").token(DEMO),
            Api(400, Some("id_task")),
        ),
        (
            "an SSE filter that is not UTF-8",
            app.get("/notifications/events?name_list=%FF").token(DEMO),
            Api(400, Some("name_list")),
        ),
        (
            "a job id that is not UTF-8",
            app.get("/jobs/job_%FF/status").token(DEMO),
            Api(404, None),
        ),
        (
            "an identity code that is not UTF-8",
            app.get("/identity/%C0%AF").token(DEMO),
            Api(404, None),
        ),
        (
            "a notification id that is not UTF-8",
            app.call(reqwest::Method::DELETE, "/notifications/%FF").token(DEMO),
            Api(404, None),
        ),
        (
            "a ZIP token that is not UTF-8",
            app.get("/download/dl_%FF"),
            Api(404, None),
        ),
        (
            "a blob key that is not UTF-8",
            app.get(&format!("/blobs/files/sku_%FF{}", query_of(download))),
            S3(404, "NoSuchKey"),
        ),
        (
            "a signature that is not UTF-8",
            app.get(&with_param(download, "Signature", Some("%FF"))),
            S3(403, "SignatureDoesNotMatch"),
        ),
        (
            "an Authorization header with bytes over 0x7F",
            app.get("/project").header("authorization", "Bearer f2m_d\u{e9}mo"),
            Api(401, Some("Authorization")),
        ),
    ];
    for (case, call, want) in cases {
        w.refuse(case, call, want).await;
    }

    // Raw bytes over 0x7F in the request line never reach a route: hyper
    // refuses the request itself (400, and it closes the connection).
    let before = w.snapshot().await;
    let answer = raw_exchange(&app.base, b"GET /identity?search=\xff HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(w.snapshot().await, before);
}

/// Sends `request` as raw bytes and reads the answer until the server
/// closes the connection.
async fn raw_exchange(base: &str, request: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .expect("connect");
    s.write_all(request).await.expect("write");
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("answered and closed within 10 s")
        .expect("read");
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test]
async fn truncated_multipart_is_refused() {
    let w = World::build(|_| {}).await;
    let app = &w.app;
    let image_part = part("image", Some(b"x.png"), &image(64, 64, ImageFormat::Png, 80));
    let cut = |n: usize| image_part[..n].to_vec();
    let mut named_then_cut = part("name", None, b"Sneaky");
    named_then_cut.extend_from_slice(&image_part[..image_part.len() / 2]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("no closing boundary", image_part.clone()),
        ("cut in the middle of the image", cut(image_part.len() / 2)),
        ("cut inside the part's headers", cut(30)),
        ("cut right after the opening boundary", cut(BOUNDARY.len() + 4)),
        ("only the closing boundary", closing()),
        ("an empty body", Vec::new()),
        ("a complete name part, then the image cut", named_then_cut),
    ];
    for (case, body) in cases {
        w.refuse(
            case,
            app.post("/identity/upload").token(DEMO).bytes(&multipart_type(), body),
            Api(400, Some("image")),
        )
        .await;
    }
}

#[tokio::test]
async fn image_bombs_are_refused_from_their_header() {
    let w = World::build(|_| {}).await;
    let app = &w.app;
    // Decoding any of these would need gigabytes; each is refused from the
    // size its header declares, named in the answer.
    let bombs: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "a PNG declaring 100,000 x 100,000",
            png_bomb(100_000, 100_000),
            "100000x100000",
        ),
        (
            "a PNG declaring 20,000 x 10 (one side too long)",
            png_bomb(20_000, 10),
            "20000x10",
        ),
        (
            "a PNG declaring 8,001 x 8,001 (just over 64 MP)",
            png_bomb(8001, 8001),
            "8001x8001",
        ),
        ("a JPEG declaring 16,000 x 5,000", jpeg_bomb(16_000, 5000), "16000x5000"),
        ("a WebP declaring 16,000 x 5,000", webp_bomb(16_000, 5000), "16000x5000"),
    ];
    for (i, (case, bytes, size)) in bombs.iter().enumerate() {
        assert!(bytes.len() < 2048, "{case}: a tiny file");
        let form = Form::new().part("image", Part::bytes(bytes.clone()).file_name("bomb.png"));
        let r = w
            .refuse(
                &format!("{case}, as an identity"),
                app.post("/identity/upload").token(DEMO).multipart(form),
                Api(400, Some("image")),
            )
            .await;
        assert!(message(&r).contains(size), "{case}: {}", r.text());
        let ext = ["png", "png", "png", "jpg", "webp"][i];
        let ct = ["image/png", "image/png", "image/png", "image/jpeg", "image/webp"][i];
        let slot = w.presign(DEMO, &format!("bomb{i}.{ext}")).await;
        let r = w
            .refuse(
                &format!("{case}, as a pre-signed PUT"),
                app.put(str_of(&slot["upload_url"])).bytes(ct, bytes.clone()),
                S3(400, "InvalidArgument"),
            )
            .await;
        assert!(r.text().contains(size), "{case}: {}", r.text());
    }
    // The largest sizes the formats can declare are refused too, by the
    // decoders' own header checks (the WebP decoder reads a side of 16,384
    // as 0), before any pixel is read.
    for (case, bytes) in [
        ("a JPEG declaring 65,535 x 65,535", jpeg_bomb(65_535, 65_535)),
        ("a WebP declaring 16,384 x 16,384", webp_bomb(16_384, 16_384)),
    ] {
        let form = Form::new().part("image", Part::bytes(bytes).file_name("bomb"));
        w.refuse(
            case,
            app.post("/identity/upload").token(DEMO).multipart(form),
            Api(400, Some("image")),
        )
        .await;
    }
}

#[tokio::test]
async fn control_characters_in_names_and_notes_are_refused() {
    let w = World::build(|_| {}).await;
    let app = &w.app;
    let file = w.files[0]["file_id"].clone();
    let mut cases: Vec<(String, Call<'_>, Want)> = Vec::new();
    for (what, bad) in [
        ("a NUL", "a\0b"),
        ("CR LF", "a\r\nX-Injected: 1"),
        ("an ANSI escape", "\u{1b}[31mred\u{1b}[0m"),
    ] {
        cases.push((
            format!("{what} in a project name"),
            app.post("/project").token(DEMO).json(json!({"project_name": bad})),
            Api(400, Some("project_name")),
        ));
        cases.push((
            format!("{what} in the project_name of an upload"),
            app.post("/upload")
                .token(DEMO)
                .json(json!({"filename": "a.png", "project_name": bad})),
            Api(400, Some("project_name")),
        ));
        cases.push((
            format!("{what} in an upload filename"),
            app.post("/upload")
                .token(DEMO)
                .json(json!({"filename": format!("{bad}.png")})),
            Api(400, Some("filename")),
        ));
        cases.push((
            format!("{what} in an identity name"),
            app.post("/identity/upload")
                .token(DEMO)
                .multipart(form_with(90, "name", bad)),
            Api(400, Some("name")),
        ));
        cases.push((
            format!("{what} in a tag"),
            app.post("/identity/upload")
                .token(DEMO)
                .multipart(form_with(91, "tag", bad)),
            Api(400, Some("tag")),
        ));
        let mut b = w.job_body();
        b["images"] = json!([{"file_id": file, "note": bad}]);
        cases.push((
            format!("{what} in an image note"),
            app.post("/flat-2-model").token(DEMO).json(b),
            Api(400, Some("images[0].note")),
        ));
        let mut b = w.job_body();
        b["instructions"] = json!([{"prompt": bad}]);
        cases.push((
            format!("{what} in a prompt"),
            app.post("/flat-2-model").token(DEMO).json(b),
            Api(400, Some("instructions[0].prompt")),
        ));
        cases.push((
            format!("{what} in a webhook URL"),
            app.put("/webhooks")
                .token(DEMO)
                .json(json!({"url": format!("http://example.com/{bad}")})),
            Api(400, Some("url")),
        ));
    }
    // Multipart file names carry raw bytes: NUL and ESC (which the part
    // header parser refuses already) and a C1 control written in UTF-8.
    for (what, name) in [
        ("a NUL", &b"a\0b.png"[..]),
        ("an ANSI escape", &b"\x1b[2Jx.png"[..]),
        ("a C1 control (CSI)", &b"\xc2\x9b31mx.png"[..]),
    ] {
        let mut body = part("image", Some(name), &image(64, 64, ImageFormat::Png, 92));
        body.extend(closing());
        cases.push((
            format!("{what} in an image file name"),
            app.post("/identity/upload").token(DEMO).bytes(&multipart_type(), body),
            Api(400, Some("image")),
        ));
    }
    for (case, call, want) in cases {
        w.refuse(&case, call, want).await;
    }
}

/// Path-like names are data: stored and echoed verbatim, never a file
/// path, a ZIP entry name or a header.
#[tokio::test]
async fn path_like_names_are_data_never_paths_zip_entries_or_headers() {
    let w = World::build(|_| {}).await;
    let app = &w.app;
    let traversal = [
        "../../etc/passwd",
        "..\\..\\windows\\win.ini",
        "/etc/passwd",
        "C:\\boot.ini",
    ];
    for name in traversal {
        let r = app
            .post("/project")
            .token(DEMO)
            .json(json!({"project_name": name}))
            .send()
            .await
            .expect(201);
        assert_eq!(r.json()["project_name"], name);
        headers_are_clean(name, &r);
    }
    let projects = app
        .get("/project?per_page=100")
        .token(DEMO)
        .send()
        .await
        .expect(200)
        .json();
    for name in traversal {
        assert!(
            projects["projects"]
                .as_array()
                .expect("projects")
                .iter()
                .any(|p| p["project_text"] == name),
            "{name} listed verbatim"
        );
    }

    let up = app
        .post("/upload")
        .token(DEMO)
        .json(json!({"filename": "../../etc/passwd.png", "project_name": "../../etc/passwd"}))
        .send()
        .await
        .expect(200);
    headers_are_clean("upload", &up);
    let up = up.json();
    assert_eq!(up["filename"], "../../etc/passwd.png");
    let id = str_of(&up["file_id"]);
    assert!(
        id.starts_with("sku_") && id[4..].chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
    for (key, path) in [("upload_url", "/upload/"), ("download_url", "/blobs/files/")] {
        let url = str_of(&up[key]);
        assert!(url.starts_with(&format!("{}{path}{id}?", app.base)), "{url}");
        assert!(!url.contains("passwd") && !url.contains(".."), "{url}");
    }
    let bytes = image(64, 80, ImageFormat::Png, 100);
    let put = app
        .put(str_of(&up["upload_url"]))
        .bytes("image/png", bytes.clone())
        .send()
        .await
        .expect(200);
    headers_are_clean("put", &put);
    let got = app.get(str_of(&up["download_url"])).send().await.expect(200);
    headers_are_clean("download", &got);
    assert_eq!(got.body.as_ref(), bytes.as_slice());

    let form = Form::new()
        .part(
            "image",
            Part::bytes(image(160, 200, ImageFormat::Jpeg, 101)).file_name("../../../etc/passwd.jpg"),
        )
        .text("name", "..\\..\\boot.ini")
        .text("tag", "/etc/shadow");
    let idn = app
        .post("/identity/upload")
        .token(DEMO)
        .multipart(form)
        .send()
        .await
        .expect(200);
    headers_are_clean("identity", &idn);
    let idn = idn.json();
    assert_eq!(idn["original_filename"], "../../../etc/passwd.jpg");
    assert_eq!(
        (idn["name"].as_str(), idn["tag"].as_str()),
        (Some("..\\..\\boot.ini"), Some("/etc/shadow"))
    );
    let code = str_of(&idn["identity_code"]);
    assert!(str_of(&idn["link"]).starts_with(&format!("{}/blobs/identities/{code}?", app.base)));
    // Without a name, the default name is the file name's stem, also data.
    let form = Form::new().part(
        "image",
        Part::bytes(image(160, 200, ImageFormat::Jpeg, 102)).file_name("../../evil.jpg"),
    );
    let r = app
        .post("/identity/upload")
        .token(DEMO)
        .multipart(form)
        .send()
        .await
        .expect(200);
    assert_eq!(r.json()["name"], "../../evil");

    let body = json!({
        "identity_code": code,
        "project_id": w.project_id,
        "images": [{"file_id": id, "note": "../../../../tmp/x"}, w.files[1]["file_id"]],
        "instructions": [
            {"prompt": "../../etc", "preset_name": "/etc/passwd", "category_names": ["../", "..\\"]},
            {"num_variations": 2, "options": {"format": "png"}},
        ],
    });
    let job = app.create_job(DEMO, body).await;
    let other = app.create_job(DEMO, w.job_body()).await;
    app.finish_jobs();
    let results = app.results(DEMO, &job).await;
    let entry_name = |name: &str| {
        let (stem, ext) = name.rsplit_once('.').expect("an extension");
        let parts: Vec<&str> = stem.split('_').collect();
        matches!(ext, "jpg" | "png")
            && parts.len() == 4
            && parts[0] == "output"
            && parts[1..3]
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
            && parts[3] == "v0"
    };
    let mut expected = Vec::new();
    for r in results["results"].as_array().expect("results") {
        let name = str_of(&r["download_filename"]);
        assert!(entry_name(name), "{name}");
        expected.push(name.to_owned());
        assert_eq!(r["original_filename"], "../../etc/passwd.png", "kept as data");
        assert_eq!(r["inputs"][0]["note"], "../../../../tmp/x");
        for kind in ["full_size", "thumbnail"] {
            let url = str_of(&r["output"][kind]);
            assert!(!url.contains("..") && !url.contains("passwd"), "{url}");
        }
    }
    expected.sort();
    assert_eq!(expected.len(), 3);

    let link = app.zip_link(DEMO, "/download", json!({"job_id": job})).await;
    let zip = app.get(&link).send().await.expect(200);
    headers_are_clean("zip", &zip);
    assert_eq!(
        zip.headers["content-disposition"].to_str().expect("ascii"),
        format!("attachment; filename=\"{job}.zip\"")
    );
    let mut archive = zip::ZipArchive::new(Cursor::new(zip.body.to_vec())).expect("a zip");
    let mut names: Vec<String> = archive.file_names().map(str::to_owned).collect();
    names.sort();
    assert_eq!(names, expected, "the ZIP's entries are the fake's own names");
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).expect("entry");
        assert!(entry.enclosed_name().is_some(), "{}", entry.name());
        let mut content = Vec::new();
        entry.read_to_end(&mut content).expect("read");
        assert!(!content.is_empty());
    }

    let link = app
        .zip_link(DEMO, "/download/bulk", json!({"job_ids": [job, other]}))
        .await;
    let zip = app.get(&link).send().await.expect(200);
    headers_are_clean("bulk zip", &zip);
    let archive = zip::ZipArchive::new(Cursor::new(zip.body.to_vec())).expect("a zip");
    assert_eq!(archive.len(), 4);
    for name in archive.file_names() {
        let (dir, file) = name.split_once('/').expect("{job_id}/{file}");
        assert!(dir == job || dir == other, "{name}");
        assert!(entry_name(file), "{name}");
    }
}

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

#[tokio::test]
async fn webhook_urls_at_the_fake_itself_or_off_http_are_refused() {
    let w = World::build(|_| {}).await;
    let app = &w.app;
    let port = app.base.rsplit(':').next().expect("a port");
    let own = [
        format!("{}/hook", app.base),
        format!("{}/webhooks", app.base),
        format!("http://localhost:{port}/hook"),
        format!("http://LOCALHOST:{port}/hook"),
        format!("http://[::1]:{port}/hook"),
        format!("http://0.0.0.0:{port}/hook"),
        format!("http://127.0.0.2:{port}/hook"),
        format!("http://2130706433:{port}/hook"),
        format!("https://127.0.0.1:{port}/hook"),
    ];
    for url in &own {
        let r = w
            .refuse(
                &format!("the fake itself: {url}"),
                app.put("/webhooks").token(DEMO).json(json!({ "url": url })),
                Api(400, Some("url")),
            )
            .await;
        assert!(message(&r).contains("the fake itself"), "{url}: {}", r.text());
    }
    for url in [
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "data:text/plain,hi",
        "gopher://example.com/",
        "ws://example.com/hook",
        "mailto:ops@example.com",
        "//example.com/hook",
        "example.com/hook",
        "http://",
        "",
    ] {
        w.refuse(
            &format!("not an http(s) URL: {url:?}"),
            app.put("/webhooks").token(DEMO).json(json!({ "url": url })),
            Api(400, Some("url")),
        )
        .await;
    }
    // Another port on the same host is someone else: accepted.
    let elsewhere = format!("http://127.0.0.1:{}/hook", free_port().await);
    app.register_webhook(DEMO, &elsewhere, None).await;

    // Behind a public URL the fake is also that host and port.
    let fronted = TestApp::spawn_with(|c| c.public_url = Some("http://fake.example:9000".into())).await;
    for url in ["http://fake.example:9000/hook", "https://FAKE.EXAMPLE:9000/"] {
        let r = fronted
            .put("/webhooks")
            .token(DEMO)
            .json(json!({ "url": url }))
            .send()
            .await;
        check(&format!("the fake's public URL: {url}"), &r, Api(400, Some("url")));
    }
    fronted.get("/webhooks").token(DEMO).send().await.expect(404);
    let log = fronted
        .get("/notifications")
        .token(DEMO)
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(log, json!([]), "no ping was sent");
}

async fn free_port() -> u16 {
    tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A receiver that accepts the connection and never reads or answers: the
/// attempt times out after `--webhook-timeout`, is retried on the injected
/// clock, and all the while the API and the engine carry on.
#[tokio::test]
async fn a_receiver_that_never_answers_cannot_hang_the_fake() {
    let w = World::build(|c| {
        c.webhook_timeout = Duration::from_millis(1500);
        // Jobs finish without the clock moving under the hung attempt.
        c.time_scale = 0.0;
    })
    .await;
    let app = &w.app;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let (accepted, mut connections) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
            let _ = accepted.send(());
        }
    });
    let started = WallClock::now();
    app.register_webhook(DEMO, &url, None).await;
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "registering did not wait for the ping"
    );
    tokio::time::timeout(Duration::from_secs(10), connections.recv())
        .await
        .expect("the ping's connection within 10 s")
        .expect("open");
    let ping = || async {
        let log = app.get("/__admin/webhooks/deliveries").send().await.expect(200).json();
        log["deliveries"]
            .as_array()
            .expect("deliveries")
            .iter()
            .find(|d| d["event"] == "ping")
            .cloned()
            .expect("the ping's delivery")
    };
    assert_eq!(ping().await["status"], "in_flight");

    // While the ping hangs: the API answers, a job runs to the end.
    app.get("/project").token(DEMO).send().await.expect(200);
    let job = app.create_job(DEMO, w.job_body()).await;
    assert_eq!(app.status(DEMO, &job).await["status"], "completed");
    assert_eq!(
        ping().await["status"],
        "in_flight",
        "all of that happened during the hung attempt"
    );

    let failed = ping_until(&ping, |d| d["status"] == "pending").await;
    let attempt = &failed["attempts"][0];
    assert!(str_of(&attempt["error"]).starts_with("timed out"), "{failed}");
    let latency = attempt["latency_ms"].as_u64().expect("latency");
    assert!(
        (1400..5000).contains(&latency),
        "cut off at --webhook-timeout: {latency} ms"
    );
    assert_eq!(failed["status"], "pending");
    let at = mock_server::clock::Instant::parse_rfc3339(str_of(&attempt["at"])).expect("at");
    let next = mock_server::clock::Instant::parse_rfc3339(str_of(&failed["next_attempt_at"])).expect("next");
    assert_eq!(next.millis() - at.millis(), 5000, "retried 5 s later on the clock");

    // Nothing more happens until the clock says so; then the retry hangs
    // and times out in turn.
    assert_eq!(ping().await["attempts"].as_array().map(Vec::len), Some(1));
    app.post("/__admin/clock")
        .json(json!({"advance": "5s"}))
        .send()
        .await
        .expect(200);
    let retried = ping_until(&ping, |d| d["attempts"].as_array().is_some_and(|a| a.len() == 2)).await;
    assert!(
        str_of(&retried["attempts"][1]["error"]).starts_with("timed out"),
        "{retried}"
    );
    app.get("/identity").token(DEMO).send().await.expect(200);
}

/// Polls the ping's delivery until `done` holds (at most 10 s: a real
/// network timeout is being waited for, not the fake's clock).
async fn ping_until<F: Future<Output = Value>>(ping: &impl Fn() -> F, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = WallClock::now() + Duration::from_secs(10);
    loop {
        let d = ping().await;
        if done(&d) {
            return d;
        }
        assert!(WallClock::now() < deadline, "the delivery never got there: {d}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
