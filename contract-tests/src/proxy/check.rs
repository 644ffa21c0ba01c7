//! What the proxy checks of one exchange, against the vendor profile
//! (`contract::profile`): the client's JSON request against its schema and
//! the documented rules; the upstream's status, Content-Type and JSON
//! answer against the vendor's shapes (and, under `--profile strict`,
//! against the fake's own schemas); each SSE message's event name and
//! notification. No second validator: every shape is the contract
//! crate's.

use contract::profile::{Expect, Profile, vendor_shape};
use contract::{Contract, Violation};
use serde_json::Value;

use super::drift::{Drift, Kind};
use crate::suite::SseMessage;

/// The operation an exchange belongs to: its OpenAPI template when the
/// contract names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// `GET`, `POST`, …
    pub method: String,
    /// `/jobs/{id}/status`; `None` for a path the contract does not name
    /// (a storage URL of another host, the fake's `/__admin`).
    pub template: Option<String>,
}

impl Operation {
    /// The operation of `method path`.
    pub fn of(method: &str, path: &str) -> Self {
        let template = Contract::global()
            .operations()
            .into_iter()
            .find(|(m, t)| m == method && contract::template_matches(t, path))
            .map(|(_, t)| t);
        Self {
            method: method.to_owned(),
            template,
        }
    }

    /// `GET /jobs/{id}/status`, or `GET (unnamed)`.
    pub fn name(&self) -> String {
        format!("{} {}", self.method, self.template.as_deref().unwrap_or("(unnamed)"))
    }

    fn is(&self, method: &str, template: &str) -> bool {
        self.method == method && self.template.as_deref() == Some(template)
    }

    /// Whether the answer is the notification stream.
    pub fn is_sse(&self) -> bool {
        self.is("GET", "/notifications/events")
    }

    /// The statuses the profile accepts for a successful answer and the
    /// vendor shape of that answer (`None`: the operation has no vendor
    /// expectation).
    fn success(&self, profile: Profile) -> Option<(&'static [u16], Option<&'static str>)> {
        let t = self.template.as_deref()?;
        Some(match (self.method.as_str(), t) {
            ("POST", "/project") => (profile.statuses(Expect::ProjectCreated), Some("project-create")),
            ("GET", "/project") => (&[200], Some("project-list")),
            ("POST", "/identity/upload") => (profile.statuses(Expect::IdentityUploaded), Some("identity-upload")),
            ("POST", "/upload") => (profile.statuses(Expect::UploadPresigned), Some("upload")),
            ("POST", "/flat-2-model") => (profile.statuses(Expect::JobCreated), Some("job-create")),
            ("GET", "/jobs/{id}/status") => (&[200], Some("job-status")),
            ("GET", "/jobs/{id}/results") => (&[200], Some("job-results")),
            ("POST", "/download" | "/download/bulk") => (&[200], Some("download")),
            ("POST", "/notifications") => (&[200], Some("notification")),
            ("PUT", "/webhooks") => (&[200], Some("webhook")),
            ("GET", "/notifications/events") => (&[200], None),
            _ => return None,
        })
    }
}

/// `results[0].output` → `results[].output`: one drift of every item
/// counts once.
pub fn generic_path(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut in_index = false;
    for c in field.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push('[');
            }
            ']' => {
                in_index = false;
                out.push(']');
            }
            c if in_index && c.is_ascii_digit() => {}
            c => out.push(c),
        }
    }
    out
}

fn drifts(kind: Kind, op: &Operation, prefix: &str, errs: Vec<Violation>) -> Vec<Drift> {
    errs.into_iter()
        .map(|v| {
            let mut field = v.field.unwrap_or_default();
            // A missing field is named by the field itself, not its parent.
            if let Some(name) = v
                .message
                .strip_suffix("\" is a required property")
                .and_then(|m| m.strip_prefix('"'))
            {
                field = if field.is_empty() {
                    name.to_owned()
                } else {
                    format!("{field}.{name}")
                };
            }
            let field = match (prefix.is_empty(), field.is_empty()) {
                (true, _) => field,
                (false, true) => prefix.to_owned(),
                (false, false) => format!("{prefix}.{field}"),
            };
            Drift {
                kind,
                operation: op.name(),
                field: generic_path(&field),
                message: v.message,
            }
        })
        .collect()
}

/// The client's JSON request body against its schema (and the job
/// request's documented rules).
pub fn request(op: &Operation, path: &str, body: &Value) -> Vec<Drift> {
    let c = Contract::global();
    let Some(schema) = c.request_schema(&op.method, path) else {
        return Vec::new();
    };
    let mut errs = c.first_errors(&schema, body, 50);
    if schema == "job-create-request.json" {
        errs.extend(contract::rules::job_request(body));
    }
    drifts(Kind::Request, op, "", errs)
}

/// Whether `content_type` is JSON (`application/json`, `…+json`).
pub fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// The upstream's answer: its status and Content-Type for the operation,
/// and its JSON body (when it is JSON) against the vendor's shape.
pub fn response(
    profile: Profile,
    op: &Operation,
    path: &str,
    status: u16,
    content_type: &str,
    body: Option<&Value>,
) -> Vec<Drift> {
    let Some((ok, shape)) = op.success(profile) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let drift = |kind, field: &str, message: String| Drift {
        kind,
        operation: op.name(),
        field: field.to_owned(),
        message,
    };
    if (200..300).contains(&status) && !ok.contains(&status) {
        out.push(drift(
            Kind::Status,
            "HTTP status",
            format!("answered {status}; the vendor profile accepts {ok:?}"),
        ));
        return out;
    }
    let wanted_json = !op.is_sse();
    if ok.contains(&status) {
        let fits = if wanted_json {
            is_json(content_type)
        } else {
            content_type
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("text/event-stream")
        };
        if !fits {
            let want = if wanted_json {
                "application/json"
            } else {
                "text/event-stream"
            };
            out.push(drift(
                Kind::ContentType,
                "Content-Type",
                format!("{content_type:?}, not {want}"),
            ));
        }
    }
    let Some(body) = body else {
        if ok.contains(&status) && wanted_json && is_json(content_type) {
            out.push(drift(Kind::Response, "", "the body is not JSON".into()));
        }
        return out;
    };
    if ok.contains(&status) {
        if let Some(shape) = shape {
            out.extend(match (shape, body) {
                ("notification", Value::Array(items)) => items
                    .iter()
                    .enumerate()
                    .flat_map(|(i, n)| {
                        drifts(
                            Kind::Response,
                            op,
                            &format!("[{i}]"),
                            vendor_shape("notification", n).err().unwrap_or_default(),
                        )
                    })
                    .collect(),
                _ => drifts(
                    Kind::Response,
                    op,
                    "",
                    vendor_shape(shape, body).err().unwrap_or_default(),
                ),
            });
        }
        if profile == Profile::Strict {
            out.extend(strict(op, path, status, body));
        }
    } else if status == 409 && op.is("POST", "/identity/upload") {
        out.extend(drifts(
            Kind::Response,
            op,
            "",
            vendor_shape("identity-conflict", body).err().unwrap_or_default(),
        ));
    } else if (400..500).contains(&status) && ![401, 403, 404, 409, 429].contains(&status) {
        // 401/403/404/429 may have any body (tolerance `empty-error-bodies`).
        out.extend(drifts(
            Kind::Response,
            op,
            "",
            vendor_shape("error", body).err().unwrap_or_default(),
        ));
    }
    out
}

/// Under `--profile strict`: the answer against the fake's own schema.
fn strict(op: &Operation, path: &str, status: u16, body: &Value) -> Vec<Drift> {
    let c = Contract::global();
    match c.response_schema(&op.method, path, status) {
        Some(schema) => drifts(Kind::Response, op, "", c.first_errors(&schema, body, 50)),
        None => Vec::new(),
    }
}

/// One SSE message of the notification stream: `event:` absent (a live
/// notification), `backfill` or `backfill_complete`; its data a
/// notification of the vendor's shape (`{}` after `backfill_complete`).
pub(crate) fn sse_message(op: &Operation, m: &SseMessage) -> Vec<Drift> {
    let drift = |field: &str, message: String| Drift {
        kind: Kind::Sse,
        operation: op.name(),
        field: field.to_owned(),
        message,
    };
    match m.event.as_deref() {
        None | Some("backfill") => {}
        Some("backfill_complete") => return Vec::new(),
        Some(other) => {
            return vec![drift(
                "event",
                format!("unknown event name {other:?} (the vendor sends backfill, backfill_complete or none)"),
            )];
        }
    }
    match serde_json::from_str::<Value>(&m.data) {
        Ok(n) => drifts(
            Kind::Sse,
            op,
            "",
            vendor_shape("notification", &n).err().unwrap_or_default(),
        ),
        Err(e) => vec![drift("data", format!("not JSON: {e}"))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operations_are_named_by_their_template() {
        let op = Operation::of("GET", "/jobs/job_1/status");
        assert_eq!(op.name(), "GET /jobs/{id}/status");
        assert_eq!(Operation::of("GET", "/elsewhere/x").name(), "GET (unnamed)");
        assert_eq!(generic_path("results[12].output[0].x"), "results[].output[].x");
    }

    #[test]
    fn vendor_checks_name_the_field() {
        let op = Operation::of("GET", "/jobs/job_1/status");
        let body = json!({"job_id": "j", "status": "queued", "progress": "12",
            "total_images": 1, "processed_images": 0});
        let d = response(
            Profile::Vendor,
            &op,
            "/jobs/job_1/status",
            200,
            "application/json",
            Some(&body),
        );
        let fields: Vec<&str> = d.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, ["progress", "status"], "{d:?}");
        let d = response(Profile::Vendor, &op, "/jobs/job_1/status", 200, "text/plain", None);
        assert_eq!(d[0].kind, Kind::ContentType);
        let create = Operation::of("POST", "/flat-2-model");
        let d = response(Profile::Vendor, &create, "/flat-2-model", 200, "application/json", None);
        assert_eq!((d[0].kind, d[0].field.as_str()), (Kind::Status, "HTTP status"));
        // 404 may carry anything under the vendor profile.
        assert!(response(Profile::Vendor, &op, "/jobs/x/status", 404, "text/html", None).is_empty());
    }

    #[test]
    fn sse_messages_are_checked_by_name_and_shape() {
        let op = Operation::of("GET", "/notifications/events");
        let m = |event: Option<&str>, data: &str| SseMessage {
            id: None,
            event: event.map(str::to_owned),
            data: data.to_owned(),
        };
        let good = r#"{"id": 1, "name": "batch_edit", "data": {}, "timestamp": 1.5}"#;
        assert!(sse_message(&op, &m(Some("backfill"), good)).is_empty());
        assert!(sse_message(&op, &m(None, good)).is_empty());
        assert!(sse_message(&op, &m(Some("backfill_complete"), "{}")).is_empty());
        assert_eq!(sse_message(&op, &m(Some("backfilled"), good))[0].field, "event");
        let d = sse_message(&op, &m(None, r#"{"id": "1", "name": "x", "data": {}, "timestamp": 1}"#));
        assert_eq!(d[0].field, "id");
    }

    #[test]
    fn requests_are_checked_against_their_schema_and_rules() {
        let op = Operation::of("POST", "/upload");
        let d = request(&op, "/upload", &json!({"filename": 3}));
        assert_eq!(d[0].field, "filename");
        let op = Operation::of("POST", "/flat-2-model");
        let body = json!({"identity_code": "i", "project_id": "p", "images": ["f"],
            "instructions": [{}], "options": {"anchor_index": 3}});
        assert_eq!(request(&op, "/flat-2-model", &body)[0].field, "options.anchor_index");
    }
}
