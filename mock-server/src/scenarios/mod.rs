//! QA scenarios: named, declarative fault plans (`fixtures/scenarios/*.json`,
//! schema `schemas/scenario.json`). A scenario is chosen per request
//! (`X-Mock-Scenario: NAME`), per token (fixture account's `scenario`, or the
//! control API), or globally (control API), in that order of precedence.
//! Every decision a scenario makes is a pure function of the seed, the
//! caller and the call's number, so concurrent clients never race.

pub mod catalogue;
pub mod endpoint;

use serde::{Deserialize, Serialize};

use crate::engine::plan::FaultPlan;

/// The request header that picks a scenario for one request.
pub const SCENARIO_HEADER: &str = "x-mock-scenario";

/// A fault injected on an endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointFault {
    /// HTTP method (`POST`).
    pub method: String,
    /// Path template as in `openapi.yaml` (`/jobs/{id}/status`).
    pub path: String,
    /// Which calls (1-based, per caller) are hit; empty: every call.
    #[serde(default)]
    pub calls: Vec<u64>,
    /// Of those calls, the share hit (seeded); absent: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Answer this status instead (429, 500, 502, 503, …) in the error envelope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `Retry-After` seconds with the status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// Delay the answer by this many milliseconds (real time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
}

/// Webhook deliveries that fail on purpose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookFault {
    /// The first N attempts of every delivery fail without reaching the receiver.
    pub fail_attempts: u32,
    /// `status` (a simulated 5xx) or `timeout` (a simulated time-out).
    #[serde(default = "default_mode")]
    pub mode: WebhookFaultMode,
    /// The simulated status of `status` mode.
    #[serde(default = "default_status")]
    pub status: u16,
}

fn default_mode() -> WebhookFaultMode {
    WebhookFaultMode::Status
}

fn default_status() -> u16 {
    503
}

/// How a failing webhook attempt fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFaultMode {
    /// The receiver "answers" a 5xx.
    Status,
    /// The attempt "times out".
    Timeout,
}

/// A response that breaks the contract on purpose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractViolation {
    /// HTTP method.
    pub method: String,
    /// Path template.
    pub path: String,
    /// Remove this top-level field (dotted path for nested: `summary.failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_field: Option<String>,
    /// Set this field to a value of the wrong type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_field: Option<SetField>,
}

/// A field and the value it is given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetField {
    /// Dotted path.
    pub field: String,
    /// The value.
    pub value: serde_json::Value,
}

/// A named fault plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Unique name (the file name without `.json`).
    pub name: String,
    /// What it simulates.
    #[serde(default)]
    pub description: String,
    /// What a well-behaved client does about it.
    #[serde(default)]
    pub client_should: String,
    /// The fault plan of every job created under it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<FaultPlan>,
    /// Lifetime of upload URLs handed out under it (0: expired at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_url_ttl_seconds: Option<u64>,
    /// Endpoint faults.
    #[serde(default)]
    pub endpoints: Vec<EndpointFault>,
    /// Close the SSE stream after this many notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse_drop_after: Option<usize>,
    /// Webhook deliveries failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookFault>,
    /// Responses that break the contract.
    #[serde(default)]
    pub contract_violations: Vec<ContractViolation>,
}

impl Scenario {
    /// Parses and checks a scenario file's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let s: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        s.validate()?;
        Ok(s)
    }

    /// Checks names, numbers and that every path is a route of the API.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err("name: must be 1+ letters, digits, '-' or '_'".into());
        }
        if let Some(plan) = &self.job {
            plan.validate().map_err(|e| format!("job.{e}"))?;
        }
        let route = |method: &str, path: &str| -> Result<(), String> {
            if !["GET", "POST", "PUT", "DELETE"].contains(&method) {
                return Err("must be GET, POST, PUT or DELETE".into());
            }
            if !path.starts_with('/') {
                return Err("must start with /".into());
            }
            Ok(())
        };
        // A path that is no operation of the API would silently never fire.
        let operations = crate::contract::Contract::global().operations();
        let known = |method: &str, path: &str| operations.iter().any(|(m, t)| m == &method.to_uppercase() && t == path);
        for (i, f) in self.endpoints.iter().enumerate() {
            route(&f.method, "/").map_err(|m| format!("endpoints[{i}].method: {m}"))?;
            route("GET", &f.path).map_err(|m| format!("endpoints[{i}].path: {m}"))?;
            if !known(&f.method, &f.path) {
                return Err(format!(
                    "endpoints[{i}].path: {} {} is no operation of the API (see openapi.yaml)",
                    f.method, f.path
                ));
            }
            if f.probability
                .is_some_and(|p| !(p.is_finite() && (0.0..=1.0).contains(&p)))
            {
                return Err(format!("endpoints[{i}].probability: must be between 0 and 1"));
            }
            if f.status.is_some_and(|s| !(400..=599).contains(&s)) {
                return Err(format!("endpoints[{i}].status: must be a 4xx or 5xx status"));
            }
            if f.delay_ms.is_some_and(|d| d > 60_000) {
                return Err(format!("endpoints[{i}].delay_ms: must be at most 60000"));
            }
            if f.calls.contains(&0) {
                return Err(format!("endpoints[{i}].calls: calls count from 1"));
            }
        }
        for (i, v) in self.contract_violations.iter().enumerate() {
            route(&v.method, "/").map_err(|m| format!("contract_violations[{i}].method: {m}"))?;
            route("GET", &v.path).map_err(|m| format!("contract_violations[{i}].path: {m}"))?;
            if !known(&v.method, &v.path) {
                return Err(format!(
                    "contract_violations[{i}].path: {} {} is no operation of the API",
                    v.method, v.path
                ));
            }
        }
        if self.sse_drop_after == Some(0) {
            return Err("sse_drop_after: must be at least 1".into());
        }
        if self.webhook.as_ref().is_some_and(|w| !(100..=599).contains(&w.status)) {
            return Err("webhook.status: must be an HTTP status".into());
        }
        Ok(())
    }
}
