//! The client side of the set-up: an identity, a project and an uploaded
//! garment, jobs made from them, and the control API.

use http_body_util::BodyExt;
use serde_json::{Value, json};

use crate::TOKEN;
use crate::load::{Target, connect};

/// The fixture identity (the model) image.
pub const IDENTITY_JPG: &[u8] = include_bytes!("../../fixtures/images/identity.jpg");
/// A fixture garment.
pub const SHIRT_JPG: &[u8] = include_bytes!("../../fixtures/images/sku-shirt.jpg");

/// The status of one request on a fresh connection.
pub async fn status_of(t: &Target) -> Result<u16, String> {
    let mut sender = connect(t.addr).await.map_err(|e| e.to_string())?;
    let req = hyper::Request::builder()
        .method(t.method.clone())
        .uri(&t.path)
        .header("host", t.addr.to_string())
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(http_body_util::Full::new(t.body.clone()))
        .map_err(|e| e.to_string())?;
    let res = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    res.into_body().collect().await.map_err(|e| e.to_string())?;
    Ok(status)
}

/// What jobs are made from.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The identity.
    pub identity_code: String,
    /// The project.
    pub project_id: String,
    /// The uploaded garment.
    pub file_id: String,
}

impl Inputs {
    /// A job body: one instruction with `outputs` variations at 1K.
    pub fn job_body(&self, outputs: u32) -> Value {
        json!({
            "identity_code": self.identity_code,
            "project_id": self.project_id,
            "images": [self.file_id],
            "instructions": [{"num_variations": outputs, "options": {"size": "1K", "ar": "1:1"}}],
        })
    }
}

/// A client of one server.
#[derive(Debug, Clone)]
pub struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    /// A client of `base` (`http://host:port`) with the fixture token.
    pub fn new(base: &str) -> Self {
        Self::with_token(base, TOKEN)
    }

    /// A client of `base` that sends `token`.
    pub fn with_token(base: &str, token: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .build()
                .unwrap_or_default(),
        }
    }

    /// `method path` with the token and an optional JSON body; the JSON answer.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let mut req = self.http.request(method.clone(), &url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.map_err(|e| format!("{method} {path}: {e}"))?;
        let status = res.status();
        let text = res.text().await.map_err(|e| format!("{method} {path}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{method} {path}: {status}: {text}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("{method} {path}: not JSON: {e}"))
    }

    /// `GET url` (a signed image link, no token); the body's length.
    pub async fn fetch_len(&self, url: &str) -> Result<usize, String> {
        let res = self.http.get(url).send().await.map_err(|e| e.to_string())?;
        if !res.status().is_success() {
            return Err(format!("GET {url}: {}", res.status()));
        }
        res.bytes().await.map(|b| b.len()).map_err(|e| e.to_string())
    }

    /// Uploads an identity and a garment into a new project.
    pub async fn inputs(&self) -> Result<Inputs, String> {
        let form = reqwest::multipart::Form::new()
            .part(
                "image",
                reqwest::multipart::Part::bytes(IDENTITY_JPG.to_vec()).file_name("identity.jpg"),
            )
            .text("name", "bench model");
        let res = self
            .http
            .post(format!("{}/identity/upload", self.base))
            .bearer_auth(&self.token)
            .multipart(form)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let v: Value = res.json().await.map_err(|e| e.to_string())?;
        let identity_code = str_field(&v, &["identity_code", "existing_identity_code"])?;
        let p = self
            .call(
                reqwest::Method::POST,
                "/project",
                Some(&json!({"project_name": "bench"})),
            )
            .await?;
        let project_id = str_field(&p, &["project_id"])?;
        Ok(Inputs {
            identity_code,
            project_id,
            file_id: self.upload_garment().await?,
        })
    }

    /// Uploads the garment image into project `bench` (`POST /upload`, then
    /// the PUT); its file id.
    pub async fn upload_garment(&self) -> Result<String, String> {
        let up = self
            .call(
                reqwest::Method::POST,
                "/upload",
                Some(&json!({"project_name": "bench", "filename": "sku-shirt.jpg"})),
            )
            .await?;
        let url = str_field(&up, &["upload_url"])?;
        let ct = str_field(&up, &["content_type"])?;
        let put = self
            .http
            .put(&url)
            .header("content-type", ct)
            .body(SHIRT_JPG.to_vec())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !put.status().is_success() {
            return Err(format!("PUT upload_url: {}", put.status()));
        }
        str_field(&up, &["file_id"])
    }

    /// Creates a job; its id.
    pub async fn create_job(&self, body: &Value) -> Result<String, String> {
        let v = self.call(reqwest::Method::POST, "/flat-2-model", Some(body)).await?;
        str_field(&v, &["job_id"])
    }

    /// The job's status.
    pub async fn status(&self, job: &str) -> Result<Value, String> {
        self.call(reqwest::Method::GET, &format!("/jobs/{job}/status"), None)
            .await
    }

    /// A control-API call.
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<Value, String> {
        self.call(method, &format!("/__admin{path}"), body).await
    }
}

/// The first of `names` that is a string field of `v`.
pub fn str_field(v: &Value, names: &[&str]) -> Result<String, String> {
    names
        .iter()
        .find_map(|n| v.get(*n).and_then(Value::as_str))
        .map(str::to_owned)
        .ok_or_else(|| format!("no {} in {v}", names.join(" or ")))
}
