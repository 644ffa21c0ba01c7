//! One test client for every integration test. Every response it receives
//! is checked against the contract: a JSON body must match the schema that
//! `schemas/openapi.yaml` names for its method, path and status, and a
//! status the document does not declare fails the test. No test can forget.

use std::io::Cursor;
use std::time::Duration;

use bytes::Bytes;
use image::{ImageBuffer, ImageFormat, Rgb};
use mock_server::contract::{Contract, template_matches};
use mock_server::{AppState, Config, serve_until};
use reqwest::Method;
use serde_json::Value;

/// The fixture account with the `OUTPUT_CUSTOM_DIMENSIONS` policy.
pub const DEMO: &str = "f2m_demo_token";
/// A second fixture account, without policies.
pub const OTHER: &str = "f2m_other_token";

/// A server on 127.0.0.1, port 0, with a manual clock.
pub struct TestApp {
    pub base: String,
    pub state: AppState,
    client: reqwest::Client,
    /// (method, path) of every request sent through this client, in order,
    /// so a test can hold the request journal to account.
    sent: std::sync::Mutex<Vec<(String, String)>>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::start(adjust, std::future::pending()).await.0
    }

    /// A server the test shuts down: `Stopper::stop` begins a graceful
    /// shutdown, `Stopper::served` ends when it is over.
    pub async fn spawn_stoppable(adjust: impl FnOnce(&mut Config)) -> (Self, Stopper) {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (app, served) = Self::start(adjust, async {
            let _ = stopped.await;
        })
        .await;
        (app, Stopper { stop, served })
    }

    async fn start(
        adjust: impl FnOnce(&mut Config),
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> (Self, tokio::task::JoinHandle<std::io::Result<()>>) {
        let mut cfg = Config::for_tests();
        adjust(&mut cfg);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let addr = listener.local_addr().expect("bound");
        let base = format!("http://{addr}");
        let public = cfg.public_url.clone().unwrap_or_else(|| base.clone());
        let state = AppState::new(&cfg, public).expect("state");
        let served = tokio::spawn(serve_until(state.clone(), listener, shutdown));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        (
            Self {
                base,
                state,
                client,
                sent: std::sync::Mutex::default(),
            },
            served,
        )
    }

    /// Notes a request made to this server (the helpers do it for every one).
    pub fn note_sent(&self, method: &str, path: &str) {
        let path = path.split('?').next().unwrap_or("").to_owned();
        self.sent.lock().expect("not poisoned").push((method.to_owned(), path));
    }

    /// (method, path without query) of every request sent so far, in order.
    pub fn sent(&self) -> Vec<(String, String)> {
        self.sent.lock().expect("not poisoned").clone()
    }

    /// Moves the manual clock forward.
    pub fn advance(&self, d: Duration) {
        self.state.advance_clock(d);
    }

    pub fn call(&self, method: Method, path: &str) -> Call<'_> {
        Call {
            app: self,
            method,
            path: path.to_owned(),
            token: None,
            body: None,
            headers: Vec::new(),
        }
    }
    pub fn get(&self, path: &str) -> Call<'_> {
        self.call(Method::GET, path)
    }
    pub fn post(&self, path: &str) -> Call<'_> {
        self.call(Method::POST, path)
    }
    pub fn put(&self, path: &str) -> Call<'_> {
        self.call(Method::PUT, path)
    }

    /// `POST /project`; returns the project id.
    pub async fn create_project(&self, token: &str, name: &str) -> String {
        let r = self
            .post("/project")
            .token(token)
            .json(serde_json::json!({ "project_name": name }))
            .send()
            .await
            .expect(201);
        r.json()["project_id"].as_str().expect("project_id").to_owned()
    }

    /// `GET /project?per_page=100` (the vendor client's listing) expecting 200.
    pub async fn projects(&self, token: &str) -> Value {
        self.get("/project?per_page=100")
            .token(token)
            .send()
            .await
            .expect(200)
            .json()
    }

    /// `POST /upload` then the pre-signed PUT; returns the upload response.
    pub async fn upload_file(&self, token: &str, filename: &str, project: Option<&str>, bytes: Vec<u8>) -> Value {
        let mut body = serde_json::json!({ "filename": filename });
        if let Some(p) = project {
            body["project_name"] = p.into();
        }
        let r = self
            .post("/upload")
            .token(token)
            .json(body)
            .send()
            .await
            .expect(200)
            .json();
        let ct = r["content_type"].as_str().expect("content_type").to_owned();
        self.put(r["upload_url"].as_str().expect("upload_url"))
            .bytes(&ct, bytes)
            .send()
            .await
            .expect(200);
        r
    }

    /// `POST /identity/upload`; returns the response body.
    pub async fn upload_identity(&self, token: &str, bytes: Vec<u8>, name: Option<&str>) -> Value {
        let mut form = reqwest::multipart::Form::new().part(
            "image",
            reqwest::multipart::Part::bytes(bytes).file_name("identity.jpg"),
        );
        if let Some(n) = name {
            form = form.text("name", n.to_owned());
        }
        self.send_identity_form(token, form).await.expect(200).json()
    }

    /// `POST /identity/upload` with `form`, as sent: the caller checks it.
    pub async fn send_identity_form(&self, token: &str, form: reqwest::multipart::Form) -> Resp {
        self.post("/identity/upload").token(token).multipart(form).send().await
    }
}

/// Shuts down a server from [`TestApp::spawn_stoppable`].
pub struct Stopper {
    pub stop: tokio::sync::oneshot::Sender<()>,
    pub served: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// What a job needs: an identity, a project and uploaded files.
pub struct JobInputs {
    pub identity_code: String,
    pub project_id: String,
    pub file_ids: Vec<String>,
}

impl TestApp {
    /// An identity, a project and `files` uploaded PNGs in `token`'s account.
    pub async fn job_inputs(&self, token: &str, files: usize) -> JobInputs {
        let salt = self.state.upload_count() as u8;
        let identity = self
            .upload_identity(token, image(256, 320, ImageFormat::Jpeg, salt), Some("Model A"))
            .await;
        let project_name = format!("project-{salt}");
        let project_id = self.create_project(token, &project_name).await;
        let mut file_ids = Vec::new();
        for i in 0..files {
            let r = self
                .upload_file(
                    token,
                    &format!("sku-{i}.png"),
                    Some(&project_name),
                    image(200, 240, ImageFormat::Png, salt.wrapping_add(i as u8 + 1)),
                )
                .await;
            file_ids.push(r["file_id"].as_str().expect("file_id").to_owned());
        }
        JobInputs {
            identity_code: identity["identity_code"].as_str().expect("code").to_owned(),
            project_id,
            file_ids,
        }
    }

    /// A request body for `inputs` with `instructions` (and extra top-level fields merged in).
    pub fn job_body(inputs: &JobInputs, instructions: Value) -> Value {
        serde_json::json!({
            "identity_code": inputs.identity_code,
            "project_id": inputs.project_id,
            "images": inputs.file_ids,
            "instructions": instructions,
        })
    }

    /// `POST /flat-2-model` with `body` and, when given, the fault plan
    /// `plan` (`X-Mock-Fault-Plan`), as sent: the caller checks the answer.
    pub async fn send_job(&self, token: &str, body: Value, plan: Option<&str>) -> Resp {
        let mut call = self.post("/flat-2-model").token(token).json(body);
        if let Some(plan) = plan {
            call = call.header("x-mock-fault-plan", plan);
        }
        call.send().await
    }

    /// `POST /flat-2-model` expecting 202; returns the whole answer.
    pub async fn accept_job(&self, token: &str, body: Value) -> Resp {
        self.send_job(token, body, None).await.expect(202)
    }

    /// `POST /flat-2-model` expecting 202; returns the job id.
    pub async fn create_job(&self, token: &str, body: Value) -> String {
        Self::accepted(self.accept_job(token, body).await)
    }

    /// `POST /flat-2-model` under the fault plan `plan` expecting 202;
    /// returns the job id.
    pub async fn create_job_with_plan(&self, token: &str, body: Value, plan: &str) -> String {
        Self::accepted(self.send_job(token, body, Some(plan)).await)
    }

    fn accepted(r: Resp) -> String {
        let r = r.expect(202).json();
        assert_eq!(r["status"], "pending");
        r["job_id"].as_str().expect("job_id").to_owned()
    }

    /// Moves the clock far enough for any job to finish and applies what fell due.
    pub fn finish_jobs(&self) {
        self.advance(Duration::from_secs(3600));
        mock_server::jobs::catch_up(&self.state);
    }

    /// `PUT /webhooks {url}` expecting 200; returns the registration.
    pub async fn register_webhook(&self, token: &str, url: &str, scenario: Option<&str>) -> Value {
        let mut call = self
            .put("/webhooks")
            .token(token)
            .json(serde_json::json!({ "url": url }));
        if let Some(s) = scenario {
            call = call.header("x-mock-scenario", s);
        }
        call.send().await.expect(200).json()
    }

    /// `POST /__admin/journal/verify` with `filter`: the counts.
    pub async fn journal_verify(&self, filter: Value) -> Value {
        self.post("/__admin/journal/verify")
            .json(filter)
            .send()
            .await
            .expect(200)
            .json()
    }

    /// The first webhook delivery in `GET /__admin/webhooks/deliveries`
    /// that satisfies `pred`, read again until one does (an attempt runs in
    /// its own task, on a real socket); fails after about 10 s.
    pub async fn delivery_where(&self, pred: impl Fn(&Value) -> bool) -> Value {
        let started = std::time::Instant::now();
        loop {
            let log = self.get("/__admin/webhooks/deliveries").send().await.expect(200).json();
            let found = log["deliveries"]
                .as_array()
                .and_then(|a| a.iter().find(|d| pred(d)).cloned());
            if let Some(d) = found {
                return d;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "no such delivery: {log}");
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// `POST /download` or `/download/bulk` with `body`, as sent.
    pub async fn zip_request(&self, token: &str, path: &str, body: Value) -> Resp {
        self.post(path).token(token).json(body).send().await
    }

    /// [`TestApp::zip_request`] expecting 200; returns the ZIP's `download_url`.
    pub async fn zip_link(&self, token: &str, path: &str, body: Value) -> String {
        let r = self.zip_request(token, path, body).await.expect(200).json();
        r["download_url"].as_str().expect("download_url").to_owned()
    }

    /// `GET path` as `token` expecting 200; the JSON body.
    pub async fn get_json(&self, token: &str, path: &str) -> Value {
        self.get(path).token(token).send().await.expect(200).json()
    }

    pub async fn status(&self, token: &str, job: &str) -> Value {
        self.get_json(token, &format!("/jobs/{job}/status")).await
    }

    /// `GET /identity?{query}` expecting 200.
    pub async fn identities(&self, token: &str, query: &str) -> Value {
        self.get_json(token, &format!("/identity?{query}")).await
    }

    /// `POST /notifications {}` expecting 200: the account's notifications
    /// not yet deleted, oldest first (a JSON array).
    pub async fn notifications(&self, token: &str) -> Value {
        self.post("/notifications")
            .token(token)
            .json(serde_json::json!({}))
            .send()
            .await
            .expect(200)
            .json()
    }

    /// The full-size output images of `token`'s `job`, in order of results
    /// (each must be completed).
    pub async fn output_images(&self, token: &str, job: &str) -> Vec<Bytes> {
        let res = self.results(token, job).await;
        let mut out = Vec::new();
        for r in res["results"].as_array().expect("results") {
            assert_eq!(r["status"], "completed", "{r}");
            let url = r["output"]["full_size"].as_str().expect("url");
            out.push(self.get(url).send().await.expect(200).body);
        }
        out
    }

    pub async fn results(&self, token: &str, job: &str) -> Value {
        self.get(&format!("/jobs/{job}/results"))
            .token(token)
            .send()
            .await
            .expect(200)
            .json()
    }
}

enum Body {
    Raw(String, Vec<u8>),
    Form(reqwest::multipart::Form),
    /// Sent chunked, without a `Content-Length`.
    Chunked(String, Vec<Vec<u8>>),
}

/// A request being built.
pub struct Call<'a> {
    app: &'a TestApp,
    method: Method,
    path: String,
    token: Option<String>,
    body: Option<Body>,
    headers: Vec<(String, String)>,
}

impl Call<'_> {
    pub fn token(mut self, t: &str) -> Self {
        self.token = Some(t.to_owned());
        self
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_owned(), v.to_owned()));
        self
    }
    pub fn json(self, v: Value) -> Self {
        self.bytes("application/json", serde_json::to_vec(&v).expect("json"))
    }
    pub fn bytes(mut self, content_type: &str, b: Vec<u8>) -> Self {
        self.body = Some(Body::Raw(content_type.to_owned(), b));
        self
    }
    /// A body sent in `chunks` with `Transfer-Encoding: chunked`, so the
    /// server cannot know its length in advance.
    pub fn chunked(mut self, content_type: &str, chunks: Vec<Vec<u8>>) -> Self {
        self.body = Some(Body::Chunked(content_type.to_owned(), chunks));
        self
    }
    pub fn multipart(mut self, f: reqwest::multipart::Form) -> Self {
        self.body = Some(Body::Form(f));
        self
    }

    pub async fn send(self) -> Resp {
        let url = if self.path.starts_with("http") {
            self.path.clone()
        } else {
            format!("{}{}", self.app.base, self.path)
        };
        let path = url
            .strip_prefix(&self.app.base)
            .expect("a URL of this server")
            .to_owned();
        self.app.note_sent(self.method.as_str(), &path);
        let mut req = self.app.client.request(self.method.clone(), &url);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        req = match self.body {
            Some(Body::Raw(ct, b)) => {
                if ct.is_empty() {
                    req.body(b)
                } else {
                    req.header("content-type", ct).body(b)
                }
            }
            Some(Body::Form(f)) => req.multipart(f),
            Some(Body::Chunked(ct, chunks)) => {
                let stream = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
                req.header("content-type", ct).body(reqwest::Body::wrap_stream(stream))
            }
            None => req,
        };
        let res = req.send().await.expect("request sent");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.bytes().await.expect("body read");
        let resp = Resp {
            status,
            headers,
            body,
            method: self.method.to_string(),
            path,
        };
        resp.check_contract();
        resp
    }
}

/// A response, already checked against the contract.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Bytes,
    method: String,
    path: String,
}

impl Resp {
    /// Fails the test unless the status is `status`.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status,
            status,
            "{} {}: body {}",
            self.method,
            self.path,
            String::from_utf8_lossy(&self.body)
        );
        self
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    /// The first error detail's field path.
    pub fn error_field(&self) -> Option<String> {
        self.json()["detail"][0]["field"].as_str().map(str::to_owned)
    }
    /// The S3 error code of an XML error.
    pub fn s3_code(&self) -> String {
        let t = self.text();
        let start = t.find("<Code>").expect("an S3 <Error>") + 6;
        t[start..t.find("</Code>").expect("closed")].to_owned()
    }

    fn check_contract(&self) {
        let c = Contract::global();
        let p = self.path.split('?').next().unwrap_or("").to_owned();
        let op = c
            .operations()
            .into_iter()
            .find(|(m, t)| *m == self.method && template_matches(t, &p));
        let is_json = self.content_type().starts_with("application/json");
        match op {
            None => {
                // Unknown routes and methods still answer in the error envelope.
                assert!(
                    matches!(self.status, 404 | 405),
                    "{} {} has no operation in openapi.yaml",
                    self.method,
                    p
                );
                c.validate("error.json", &self.json())
                    .unwrap_or_else(|e| panic!("{} {}: {e:?}", self.method, p));
            }
            Some((_, template)) => {
                let declared = &c.openapi()["paths"][template.as_str()][self.method.to_lowercase()]["responses"];
                let range = format!("{}XX", self.status / 100);
                assert!(
                    declared
                        .get(self.status.to_string())
                        .or_else(|| declared.get(&range))
                        .is_some(),
                    "{} {template} answered {} which openapi.yaml does not declare: {}",
                    self.method,
                    self.status,
                    self.text()
                );
                if is_json {
                    let schema = c.response_schema(&self.method, &p, self.status).unwrap_or_else(|| {
                        panic!("{} {template} {} sent JSON but has no schema", self.method, self.status)
                    });
                    c.validate(&schema, &self.json()).unwrap_or_else(|e| {
                        panic!(
                            "{} {} {} does not match {schema}: {e:?}\n{}",
                            self.method,
                            p,
                            self.status,
                            self.text()
                        )
                    });
                }
            }
        }
    }
}

/// Field `key` of each identity of a `GET /identity` answer, in order.
pub fn identity_column(list: &Value, key: &str) -> Vec<String> {
    list["identities"]
        .as_array()
        .expect("identities")
        .iter()
        .map(|i| i[key].as_str().expect("a text field").to_owned())
        .collect()
}

/// A PNG or JPEG of `w`×`h` whose pixels depend on `salt` (different salts,
/// different bytes).
pub fn image(w: u32, h: u32, format: ImageFormat, salt: u8) -> Vec<u8> {
    let img = ImageBuffer::from_fn(w, h, |x, y| {
        Rgb([(x as u8).wrapping_add(salt), (y as u8).wrapping_mul(3), salt])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

pub fn png(salt: u8) -> Vec<u8> {
    image(320, 400, ImageFormat::Png, salt)
}

pub fn jpeg(salt: u8) -> Vec<u8> {
    image(320, 400, ImageFormat::Jpeg, salt)
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
/// size can be the reason to refuse it): an image bomb.
pub fn png_bomb(w: u32, h: u32) -> Vec<u8> {
    let mut png = image(1, 1, ImageFormat::Png, 0);
    png[16..20].copy_from_slice(&w.to_be_bytes());
    png[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}
