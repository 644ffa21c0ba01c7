//! `--compare URL`: the same question put to a fake running beside the
//! proxy, so the report can say which statuses the fake would not have
//! given and which fields it does not produce.
//!
//! The fake hands out its own IDs and links. The proxy learns which of
//! them stands for which of the upstream's by walking both answers to the
//! same request side by side (`job_id` ↔ `job_id`, `upload_url` ↔
//! `upload_url`, a notification's integer `id` ↔ `id`), and translates later requests (path segments, query
//! values, JSON strings, a whole pre-signed URL) before asking the fake. A
//! request naming an ID the fake never saw is not asked (counted, with the
//! reason). Exchanges are asked one at a time, in the order they ended, so
//! the fake's state follows the upstream's.

use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;
use reqwest::Method;
use serde_json::Value;

use super::check::{Operation, generic_path, is_json};
use super::drift::{Drift, Kind};

/// The fields whose values name things the API hands out: learned as
/// upstream ↔ fake pairs.
const ID_FIELDS: &[&str] = &[
    "job_id",
    "project_id",
    "project_key",
    "file_id",
    "identity_code",
    "existing_identity_code",
    "id_task",
    "id_image",
    // A notification's (an integer) and the webhook registration's.
    "id",
    "upload_url",
    "download_url",
    "full_size",
    "thumbnail",
    "link",
];

/// One finished exchange, as the fake beside is asked it.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The operation.
    pub op: Operation,
    /// The method.
    pub method: Method,
    /// The upstream URL the proxy sent it to.
    pub url: String,
    /// The path under the upstream's base (`None` for a link of another
    /// host).
    pub path: Option<String>,
    /// The query string.
    pub query: Option<String>,
    /// The request's Content-Type.
    pub content_type: Option<String>,
    /// The client's `Authorization` header.
    pub authorization: Option<String>,
    /// The whole request body (`None`: too large to copy).
    pub body: Option<Bytes>,
    /// The upstream's status.
    pub status: u16,
    /// The upstream's JSON answer.
    pub json: Option<Value>,
}

/// The fake beside, and what the proxy learned of its IDs.
#[derive(Debug)]
pub struct Shadow {
    http: reqwest::Client,
    base: String,
    token: String,
    /// Where the fake's webhook deliveries go instead of the client's
    /// receiver (the proxy's sink): the client must not get them twice.
    sink: String,
    ids: HashMap<String, String>,
    /// The integer IDs (notifications'), upstream's → fake's: only ever
    /// translated in a path's `{id}`, never in a body, where any number
    /// could be a width or a count.
    numbers: HashMap<i64, i64>,
    /// Uploads the fake was not sent the bytes of (the client PUT them
    /// straight to the upstream's storage): the upstream's `download_url`
    /// → the fake's `upload_url` and the Content-Type.
    pending_uploads: HashMap<String, (String, String)>,
}

/// The fake's answer.
struct Answer {
    status: u16,
    json: Option<Value>,
}

impl Shadow {
    /// The fake at `base`, asked with `token`; its webhooks go to `sink`.
    pub fn new(http: reqwest::Client, base: &str, token: &str, sink: String) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            sink,
            ids: HashMap::new(),
            numbers: HashMap::new(),
            pending_uploads: HashMap::new(),
        }
    }

    /// Asks the fake `x` and compares: the drifts, or why it was not asked.
    pub async fn compare(&mut self, x: &Exchange) -> Result<Vec<Drift>, String> {
        if x.op.template.as_deref() == Some("/flat-2-model") {
            self.copy_uploads().await;
        }
        let target = self.target(x)?;
        if x.method == Method::PUT {
            self.pending_uploads.retain(|_, (upload, _)| *upload != target);
        }
        let mut req = self.http.request(x.method.clone(), &target);
        // Credentials the upstream refused go as they are (the fake must
        // refuse them too); accepted ones are the upstream's, never sent
        // to the fake: it gets its own token.
        match &x.authorization {
            Some(refused) if x.status == 401 => req = req.header("authorization", refused),
            Some(_) => req = req.bearer_auth(&self.token),
            None => {}
        }
        if let Some(ct) = &x.content_type {
            req = req.header("content-type", ct);
        }
        if let Some(body) = &x.body {
            req = req.body(self.body(x, body));
        } else if x.method != Method::GET && x.method != Method::DELETE {
            return Err("a request body too large to copy".into());
        }
        let res = req.send().await.map_err(|e| format!("the fake is unreachable: {e}"))?;
        let status = res.status().as_u16();
        let json_answer = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_json);
        let json = if json_answer {
            res.json::<Value>().await.ok()
        } else {
            None
        };
        let fake = Answer { status, json };
        if let (Some(up), Some(f)) = (&x.json, &fake.json) {
            self.learn(up, f);
            if x.op.template.as_deref() == Some("/upload")
                && let (Some(down), Some(upload), Some(ct)) = (
                    up["download_url"].as_str(),
                    f["upload_url"].as_str(),
                    f["content_type"].as_str(),
                )
            {
                self.pending_uploads
                    .insert(down.to_owned(), (upload.to_owned(), ct.to_owned()));
            }
        }
        Ok(differences(x, &fake))
    }

    /// Gives the fake the bytes of the uploads the client PUT straight to
    /// the upstream (read back from the upstream's `download_url`), so a
    /// job naming them can be asked of it too.
    async fn copy_uploads(&mut self) {
        for (down, (upload, ct)) in std::mem::take(&mut self.pending_uploads) {
            let Ok(res) = self.http.get(&down).send().await else {
                continue;
            };
            let Ok(bytes) = res.bytes().await else { continue };
            let _ = self
                .http
                .put(&upload)
                .header("content-type", ct)
                .body(bytes)
                .send()
                .await;
        }
    }

    /// The fake's URL for the exchange.
    fn target(&self, x: &Exchange) -> Result<String, String> {
        if let Some(mapped) = self.ids.get(&x.url) {
            return Ok(mapped.clone());
        }
        let Some(path) = &x.path else {
            return Err("a link of another host the fake never handed out".into());
        };
        let mut out = String::new();
        let template: Vec<&str> =
            x.op.template
                .as_deref()
                .map(|t| t.trim_matches('/').split('/').collect())
                .unwrap_or_default();
        for (i, seg) in path.trim_matches('/').split('/').enumerate() {
            out.push('/');
            let is_id = template.get(i).is_some_and(|t| t.starts_with('{'));
            let number = || {
                let n = self.numbers.get(&seg.parse::<i64>().ok()?)?;
                Some(n.to_string())
            };
            match (is_id, self.ids.get(seg).cloned().or_else(number)) {
                (true, Some(mapped)) => out.push_str(&mapped),
                (true, None) if !path.starts_with("/__admin") => {
                    return Err("an ID the fake never saw".into());
                }
                _ => out.push_str(seg),
            }
        }
        if let Some(q) = &x.query {
            let pairs: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| {
                    let v = self.ids.get(v.as_ref()).cloned().unwrap_or_else(|| v.into_owned());
                    (k.into_owned(), v)
                })
                .collect();
            out.push('?');
            out.push_str(
                &form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish(),
            );
        }
        Ok(format!("{}{out}", self.base))
    }

    /// The request body for the fake: JSON with the upstream's IDs
    /// translated (and a webhook URL pointed at the sink); anything else
    /// as it came.
    fn body(&self, x: &Exchange, body: &Bytes) -> Bytes {
        if !x.content_type.as_deref().is_some_and(is_json) {
            return body.clone();
        }
        let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
            return body.clone();
        };
        self.translate(&mut v);
        if x.op.template.as_deref() == Some("/webhooks")
            && let Some(url) = v.get_mut("url")
        {
            *url = Value::String(self.sink.clone());
        }
        Bytes::from(v.to_string())
    }

    fn translate(&self, v: &mut Value) {
        match v {
            Value::String(s) => {
                if let Some(m) = self.ids.get(s.as_str()) {
                    *s = m.clone();
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.translate(i)),
            Value::Object(map) => map.values_mut().for_each(|i| self.translate(i)),
            _ => {}
        }
    }

    /// Learns upstream ↔ fake pairs from two answers to the same request.
    fn learn(&mut self, up: &Value, fake: &Value) {
        match (up, fake) {
            (Value::Object(u), Value::Object(f)) => {
                for (k, uv) in u {
                    let Some(fv) = f.get(k) else { continue };
                    match (ID_FIELDS.contains(&k.as_str()), uv, fv) {
                        (true, Value::String(us), Value::String(fs)) => {
                            self.ids.insert(us.clone(), fs.clone());
                        }
                        (true, Value::Number(un), Value::Number(fn_)) => {
                            if let (Some(u), Some(f)) = (un.as_i64(), fn_.as_i64()) {
                                self.numbers.insert(u, f);
                            }
                        }
                        _ => self.learn(uv, fv),
                    }
                }
            }
            (Value::Array(u), Value::Array(f)) => {
                for (uv, fv) in u.iter().zip(f) {
                    self.learn(uv, fv);
                }
            }
            _ => {}
        }
    }
}

/// Every field path of `v`, items' indices generic (`results[].status`).
fn field_paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.insert(path.clone());
                field_paths(child, &path, out);
            }
        }
        Value::Array(items) => {
            // `x[]` stands for "x has items": an empty list says nothing of
            // its items' fields.
            let items_path = format!("{prefix}[]");
            if !items.is_empty() {
                out.insert(items_path.clone());
            }
            for child in items {
                field_paths(child, &items_path, out);
            }
        }
        _ => {}
    }
}

fn differences(x: &Exchange, fake: &Answer) -> Vec<Drift> {
    let op = x.op.name();
    if x.status != fake.status {
        return vec![Drift {
            kind: Kind::FakeStatus,
            operation: op,
            field: "HTTP status".into(),
            message: format!("the upstream answered {}, the fake {}", x.status, fake.status),
        }];
    }
    let (Some(up), Some(f)) = (&x.json, &fake.json) else {
        return Vec::new();
    };
    let (mut theirs, mut ours) = (BTreeSet::new(), BTreeSet::new());
    field_paths(up, "", &mut theirs);
    field_paths(f, "", &mut ours);
    let compared_items = |p: &str| p.match_indices("[]").all(|(i, _)| ours.contains(&p[..i + 2]));
    theirs
        .difference(&ours)
        .filter(|p| !p.ends_with("[]") && compared_items(p))
        // Under a field the fake lacks, one drift says it all.
        .filter(|p| !theirs.iter().any(|q| q != *p && !ours.contains(q) && is_under(p, q)))
        .map(|p| Drift {
            kind: Kind::FieldNotFaked,
            operation: op.clone(),
            field: generic_path(p),
            message: "the upstream gives this field; the fake did not for the same request".into(),
        })
        .collect()
}

/// Whether `path` lies under `parent` (`a.b` under `a`, `a[].b` under `a`).
fn is_under(path: &str, parent: &str) -> bool {
    path.strip_prefix(parent)
        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn exchange(path: &str, status: u16, json: Value) -> Exchange {
        Exchange {
            op: Operation::of("GET", path),
            method: Method::GET,
            url: format!("http://up{path}"),
            path: Some(path.into()),
            query: None,
            content_type: None,
            authorization: Some("Bearer up".into()),
            body: None,
            status,
            json: Some(json),
        }
    }

    #[test]
    fn fields_the_fake_lacks_and_other_statuses_are_drifts() {
        let x = exchange(
            "/jobs/j/status",
            200,
            json!({"status": "done", "eta": {"s": 1}, "results": [{"a": 1, "b": 2}]}),
        );
        let fake = Answer {
            status: 200,
            json: Some(json!({"status": "pending", "results": [{"a": 1}]})),
        };
        let fields: Vec<String> = differences(&x, &fake).into_iter().map(|d| d.field).collect();
        assert_eq!(fields, ["eta", "results[].b"]);
        let fake = Answer {
            status: 404,
            json: None,
        };
        assert_eq!(differences(&x, &fake)[0].kind, Kind::FakeStatus);
    }

    #[test]
    fn ids_are_learned_and_translated() {
        let http = reqwest::Client::new();
        let mut s = Shadow::new(http, "http://fake/", "t", "http://proxy/__proxy/sink".into());
        s.learn(
            &json!({"job_id": "up_1", "status": "pending", "results": [{"output": {"full_size": "http://up/i?s=1"}}]}),
            &json!({"job_id": "job_9", "status": "processing", "results": [{"output": {"full_size": "http://fake/i?s=2"}}]}),
        );
        assert!(!s.ids.contains_key("pending"));
        let x = exchange("/jobs/up_1/status", 200, json!({}));
        assert_eq!(s.target(&x).as_deref(), Ok("http://fake/jobs/job_9/status"));
        let mut img = exchange("/i", 200, json!({}));
        img.url = "http://up/i?s=1".into();
        assert_eq!(s.target(&img).as_deref(), Ok("http://fake/i?s=2"));
        // A notification's integer ID, in the path only.
        s.learn(
            &json!([{"id": 41, "name": "batch_edit", "data": {"id_task": "up_1", "id_image": "up_1_0"}}]),
            &json!([{"id": 7, "name": "batch_edit", "data": {"id_task": "job_9", "id_image": "job_9_0"}}]),
        );
        let mut delete = exchange("/notifications/41", 200, json!({}));
        delete.op = Operation::of("DELETE", "/notifications/41");
        assert_eq!(s.target(&delete).as_deref(), Ok("http://fake/notifications/7"));
        let mut filtered = exchange("/notifications", 200, json!({}));
        filtered.query = Some("id_image=up_1_0".into());
        assert_eq!(
            s.target(&filtered).as_deref(),
            Ok("http://fake/notifications?id_image=job_9_0")
        );
        let mut body = json!({"num_variations": 41, "id_task": "up_1"});
        s.translate(&mut body);
        assert_eq!(body, json!({"num_variations": 41, "id_task": "job_9"}));
        let unknown = exchange("/jobs/up_2/status", 200, json!({}));
        assert!(s.target(&unknown).is_err());
        let mut hook = exchange("/webhooks", 200, json!({}));
        hook.op = Operation::of("PUT", "/webhooks");
        hook.content_type = Some("application/json".into());
        let body = s.body(&hook, &Bytes::from_static(br#"{"url": "https://client/hook"}"#));
        assert_eq!(body, Bytes::from_static(br#"{"url":"http://proxy/__proxy/sink"}"#));
    }
}
