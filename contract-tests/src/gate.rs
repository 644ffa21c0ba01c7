//! The client gate (`contract-tests verify-client`): reads a running fake's
//! request journal for one caller, one account or a window, and turns it
//! into a verdict on the *client* that made those requests — one failed
//! check per request that broke the contract (a request body against its
//! schema, credentials missing where the operation needs them) or ignored
//! a `Retry-After`, one check per expectation ("at least one
//! `POST /flat-2-model`") — with the request, the rule, the field path and
//! both bodies. Rendered by [`crate::report`] as text, JSON or JUnit, as
//! `run` is; a HAR of the flagged requests can go beside it.

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::report::{CheckResult, RunReport, Status};
use crate::suite::RunError;

/// Which requests of the journal are judged.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// One caller: the 12-hex digest of its token.
    pub caller: Option<String>,
    /// One account: a tenant id or e-mail (every token of it).
    pub account: Option<String>,
    /// Only requests numbered above this `seq`.
    pub after: Option<u64>,
    /// Only requests at or after this RFC 3339 time (the fake's clock).
    pub since: Option<String>,
    /// Only requests before this time.
    pub until: Option<String>,
}

impl Selection {
    /// The journal's query string for this selection.
    pub fn query(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        let after = self.after.map(|a| a.to_string());
        for (k, v) in [
            ("caller", self.caller.as_deref()),
            ("account", self.account.as_deref()),
            ("after", after.as_deref()),
            ("since", self.since.as_deref()),
            ("until", self.until.as_deref()),
        ] {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
        q.finish()
    }
}

/// The journal's name for the caller holding `token`: the first 12 hex
/// digits of its SHA-256 (the token itself never leaves this machine).
pub fn caller_of(token: &str) -> String {
    hex::encode(&Sha256::digest(token.as_bytes())[..6])
}

/// What the client must (or must not) have sent: the requests matching
/// every given field, counted against `at_least` and `at_most`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// The check's name (default: made from the fields).
    #[serde(default)]
    pub name: Option<String>,
    /// HTTP method.
    #[serde(default)]
    pub method: Option<String>,
    /// A path, or a template of the API (`/jobs/{id}/status`).
    #[serde(default)]
    pub path: Option<String>,
    /// The answer's status.
    #[serde(default)]
    pub status: Option<u16>,
    /// `false`: only requests that carried no token.
    #[serde(default)]
    pub authenticated: Option<bool>,
    /// Fewest matching requests (default 1 unless `at_most` is given).
    #[serde(default)]
    pub at_least: Option<usize>,
    /// Most matching requests.
    #[serde(default)]
    pub at_most: Option<usize>,
}

/// An expectation file: `{"expect": [...]}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// The expectations, checked in order.
    pub expect: Vec<Expectation>,
}

impl Expectations {
    /// Parses an expectation file's text; an error names the field.
    pub fn parse(text: &str) -> Result<Self, String> {
        let e: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        for (i, x) in e.expect.iter().enumerate() {
            if let (Some(lo), Some(hi)) = (x.at_least, x.at_most)
                && lo > hi
            {
                return Err(format!("expect[{i}]: at_least is above at_most"));
            }
        }
        Ok(e)
    }
}

impl Expectation {
    fn matches(&self, e: &Value) -> bool {
        let path = e["path"].as_str().unwrap_or_default();
        self.method
            .as_deref()
            .is_none_or(|m| e["method"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(m)))
            && self
                .path
                .as_deref()
                .is_none_or(|p| p == path || contract::template_matches(p, path))
            && self.status.is_none_or(|s| e["status"].as_u64() == Some(u64::from(s)))
            && self.authenticated.is_none_or(|a| a == e["caller"].is_string())
    }

    fn title(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        let mut parts = vec![self.method.clone().unwrap_or_else(|| "any".into())];
        parts.push(self.path.clone().unwrap_or_else(|| "request".into()));
        if let Some(s) = self.status {
            parts.push(format!("→ {s}"));
        }
        if self.authenticated == Some(false) {
            parts.push("without a token".into());
        }
        parts.join(" ")
    }

    fn bounds(&self) -> (usize, Option<usize>) {
        (
            self.at_least.unwrap_or(usize::from(self.at_most.is_none())),
            self.at_most,
        )
    }
}

/// The most characters of a body shown in a report.
const SHOWN_BODY: usize = 2000;

fn body_text(b: &Value) -> Option<String> {
    if b["size"] == 0 {
        return None;
    }
    let text = b["text"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| b["base64"].as_str().map(|s| format!("(base64) {s}")))?;
    let mut shown: String = text.chars().take(SHOWN_BODY).collect();
    if shown.len() < text.len() || b["truncated"] == true {
        shown.push('…');
    }
    Some(shown)
}

/// `#12 POST /flat-2-model → 400`: the request, as every check names it.
fn request_name(e: &Value) -> String {
    let query = e["query"].as_str().map(|q| format!("?{q}")).unwrap_or_default();
    format!(
        "#{} {} {}{query} → {}",
        e["seq"],
        e["method"].as_str().unwrap_or("?"),
        e["path"].as_str().unwrap_or("?"),
        e["status"]
    )
}

/// The bodies of a flagged request, for its check's message.
fn bodies(e: &Value) -> String {
    let mut out = String::new();
    if let Some(b) = body_text(&e["request_body"]) {
        out.push_str(&format!("\nrequest body: {b}"));
    }
    if let Some(b) = body_text(&e["response_body"]) {
        out.push_str(&format!("\nresponse body: {b}"));
    }
    out
}

fn check(name: String, status: Status, message: String) -> CheckResult {
    CheckResult {
        name,
        status,
        message,
        duration_ms: 0,
    }
}

/// The verdict on `entries` (the journal's `requests`): one failed check
/// per broken rule of a request, one per expectation, and one passing
/// check counting the requests read (so a clean run is not empty).
pub fn judge(entries: &[Value], expectations: &[Expectation]) -> RunReport {
    let mut checks = Vec::new();
    let mut flagged = 0;
    for e in entries {
        let request = request_name(e);
        let violations = e["violations"].as_array().cloned().unwrap_or_default();
        for v in violations.iter().filter_map(Value::as_str) {
            // The journal writes `field.path: rule`; a rule about no one
            // field has no `: ` before its text.
            let (field, rule) = match v.split_once(": ") {
                Some((f, r)) if !f.contains(' ') => (f, r),
                _ => ("body", v),
            };
            checks.push(check(
                format!("{request} · contract · {field}"),
                Status::Failed,
                format!("{field}: {rule}{}", bodies(e)),
            ));
        }
        if e["ignored_retry_after"] == true {
            checks.push(check(
                format!("{request} · ignored Retry-After"),
                Status::Failed,
                format!(
                    "sent before the Retry-After of this caller's earlier 429 had passed: wait Retry-After seconds (or back off) before retrying{}",
                    bodies(e)
                ),
            ));
        }
        if !violations.is_empty() || e["ignored_retry_after"] == true {
            flagged += 1;
        }
    }
    checks.push(check(
        "requests".into(),
        if flagged == 0 { Status::Passed } else { Status::Failed },
        format!("{} requests read, {flagged} broke a rule", entries.len()),
    ));
    for x in expectations {
        let n = entries.iter().filter(|e| x.matches(e)).count();
        let (lo, hi) = x.bounds();
        let ok = n >= lo && hi.is_none_or(|h| n <= h);
        let wanted = match hi {
            Some(0) => "none".to_owned(),
            Some(h) if h == lo => format!("exactly {h}"),
            Some(h) if lo == 0 => format!("at most {h}"),
            Some(h) => format!("{lo} to {h}"),
            None => format!("at least {lo}"),
        };
        let mut message = if ok {
            String::new()
        } else {
            format!("expected {wanted} of the matching requests, found {n}")
        };
        if !ok && n > 0 {
            let named: Vec<String> = entries
                .iter()
                .filter(|e| x.matches(e))
                .take(5)
                .map(request_name)
                .collect();
            message.push_str(&format!(": {}", named.join(", ")));
        }
        checks.push(check(
            format!("expect · {}", x.title()),
            if ok { Status::Passed } else { Status::Failed },
            message,
        ));
    }
    RunReport {
        checks,
        outcomes: Vec::new(),
    }
}

/// The fake's control API, as the gate reads it.
#[derive(Debug)]
pub struct Fake {
    http: reqwest::Client,
    base: String,
    admin_token: Option<String>,
}

impl Fake {
    /// The fake at `base` (`http://127.0.0.1:8080`), with its `--admin-token` if set.
    pub fn new(base: &str, admin_token: Option<String>) -> Result<Self, RunError> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| RunError::Usage(e.to_string()))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            admin_token: admin_token.filter(|t| !t.is_empty()),
        })
    }

    async fn get(&self, path_and_query: &str) -> Result<Value, RunError> {
        self.call(reqwest::Method::GET, path_and_query, None).await
    }

    /// `POST path` with a JSON `body` to the control API: its JSON answer,
    /// or the error it names.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, RunError> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<Value, RunError> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path_and_query}", self.base));
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(t) = &self.admin_token {
            req = req.bearer_auth(t);
        }
        let res = req
            .send()
            .await
            .map_err(|e| RunError::Unreachable(format!("{}: {e}", self.base)))?;
        let status = res.status();
        let body: Value = res
            .json()
            .await
            .map_err(|e| RunError::Usage(format!("{method} {path_and_query}: not JSON: {e}")))?;
        if !status.is_success() {
            let detail = body["detail"][0]["message"].as_str().unwrap_or_default();
            let field = body["detail"][0]["field"].as_str().unwrap_or_default();
            return Err(RunError::Usage(format!(
                "{method} {path_and_query}: {status} {field} {detail} (is this the fake, with its control API open to you?)"
            )));
        }
        Ok(body)
    }

    /// The journal's requests of `sel`, oldest first.
    pub async fn journal(&self, sel: &Selection) -> Result<Vec<Value>, RunError> {
        let j = self.get(&format!("/__admin/journal?{}", sel.query())).await?;
        Ok(j["requests"].as_array().cloned().unwrap_or_default())
    }

    /// The HAR of `sel`: only the flagged requests (a violation or an
    /// ignored `Retry-After`) unless `all`.
    pub async fn har(&self, sel: &Selection, all: bool) -> Result<Value, RunError> {
        let mut har = self.get(&format!("/__admin/journal.har?{}", sel.query())).await?;
        if !all && let Some(entries) = har["log"]["entries"].as_array_mut() {
            entries.retain(|e| {
                e["_ignored_retry_after"] == true || e["_violations"].as_array().is_some_and(|v| !v.is_empty())
            });
        }
        Ok(har)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(seq: u64, method: &str, path: &str, status: u16) -> Value {
        json!({"seq": seq, "method": method, "path": path, "query": null, "status": status,
               "caller": "0123456789ab", "violations": [], "ignored_retry_after": false,
               "request_body": null, "response_body": null})
    }

    #[test]
    fn each_broken_rule_is_a_failed_check_naming_the_request_the_field_and_the_rule() {
        let mut bad = entry(3, "POST", "/flat-2-model", 400);
        bad["violations"] = json!([
            "images: \"x\" is not of type \"array\"",
            "Content-Type: must be application/json (x)"
        ]);
        bad["request_body"] = json!({"text": "{\"images\":\"x\"}", "truncated": false});
        let mut hasty = entry(4, "POST", "/flat-2-model", 429);
        hasty["ignored_retry_after"] = json!(true);
        let r = judge(&[entry(1, "GET", "/project", 200), bad, hasty], &[]);
        let failed: Vec<&str> = r
            .checks
            .iter()
            .filter(|c| c.status == Status::Failed)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            failed,
            [
                "#3 POST /flat-2-model → 400 · contract · images",
                "#3 POST /flat-2-model → 400 · contract · Content-Type",
                "#4 POST /flat-2-model → 429 · ignored Retry-After",
                "requests",
            ]
        );
        assert!(
            r.checks[0].message.contains("request body: {\"images\":\"x\"}"),
            "{}",
            r.checks[0].message
        );
        assert!(r.checks[0].message.contains("is not of type"));
    }

    #[test]
    fn a_clean_journal_passes_and_expectations_count_matches() {
        let entries = [
            entry(1, "POST", "/flat-2-model", 202),
            entry(2, "GET", "/jobs/job_1/status", 200),
            json!({"seq": 3, "method": "GET", "path": "/project", "status": 401, "caller": null, "violations": [], "ignored_retry_after": false}),
        ];
        let x = Expectations::parse(
            r#"{"expect": [
                {"method": "POST", "path": "/flat-2-model"},
                {"method": "GET", "path": "/jobs/{id}/status", "at_least": 2},
                {"name": "no request without auth", "authenticated": false, "at_most": 0}
            ]}"#,
        )
        .expect("parses");
        let r = judge(&entries[..2], &x.expect);
        assert_eq!(r.failed(), 1, "{:?}", r.checks);
        assert_eq!(r.checks[2].name, "expect · GET /jobs/{id}/status");
        assert_eq!(
            r.checks[2].message,
            "expected at least 2 of the matching requests, found 1: #2 GET /jobs/job_1/status → 200"
        );
        let r = judge(&entries, &x.expect);
        let auth = r
            .checks
            .iter()
            .find(|c| c.name == "expect · no request without auth")
            .expect("there");
        assert_eq!(auth.status, Status::Failed);
        assert!(auth.message.contains("#3 GET /project → 401"), "{}", auth.message);
        assert!(Expectations::parse(r#"{"expect": [{"at_least": 2, "at_most": 1}]}"#).is_err());
        assert!(Expectations::parse(r#"{"expect": [{"paht": "/x"}]}"#).is_err());
    }

    #[test]
    fn a_caller_is_the_first_12_hex_digits_of_the_tokens_sha256() {
        assert_eq!(
            caller_of("f2m_demo_token"),
            hex::encode(Sha256::digest(b"f2m_demo_token"))[..12]
        );
        let sel = Selection {
            caller: Some("abc".into()),
            after: Some(7),
            since: Some("2026-01-01T00:00:00+00:00".into()),
            ..Selection::default()
        };
        assert_eq!(
            sel.query(),
            "caller=abc&after=7&since=2026-01-01T00%3A00%3A00%2B00%3A00"
        );
    }
}
