//! The drift report: where the upstream (the real API) parts from the
//! vendor's contract and from the fake, counted per kind, operation and
//! field. Rendered by [`crate::report`] (text and JUnit: one failed check a
//! drift, one passed check an operation seen without any) or as its own
//! JSON, which keeps the counts and field paths as fields.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::report::{CheckResult, Format, RunReport, Status, render};

/// What kind of difference a drift is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The client's request breaks its schema in `schemas/`.
    Request,
    /// An upstream status the vendor profile does not accept for the
    /// operation.
    Status,
    /// An upstream answer with another Content-Type than the operation's.
    ContentType,
    /// An upstream JSON answer breaking the vendor's shape.
    Response,
    /// An upstream SSE message: an unknown event name or a notification
    /// breaking the vendor's shape.
    Sse,
    /// A field of the upstream's answer that the fake beside did not give
    /// for the same request.
    FieldNotFaked,
    /// The fake beside answered the same request with another status.
    FakeStatus,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Request => "request",
            Kind::Status => "status",
            Kind::ContentType => "content-type",
            Kind::Response => "response",
            Kind::Sse => "sse",
            Kind::FieldNotFaked => "field-not-faked",
            Kind::FakeStatus => "fake-status",
        }
    }
}

/// One difference, before counting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// What kind.
    pub kind: Kind,
    /// `GET /jobs/{id}/status` (the operation's template, never a concrete
    /// ID, so one drift of every job counts once).
    pub operation: String,
    /// The field path (`results[].output.full_size`), `Content-Type`, `event`
    /// or `HTTP status`.
    pub field: String,
    /// What is wrong, in words.
    pub message: String,
}

/// A counted drift: the first one seen, and how often it happened.
#[derive(Debug, Clone, Serialize)]
pub struct Counted {
    /// The first occurrence.
    #[serde(flatten)]
    pub drift: Drift,
    /// How many exchanges showed it.
    pub count: u64,
}

/// Every drift of a session, counted, and the operations seen.
#[derive(Debug, Clone, Default)]
pub struct DriftLog {
    drifts: BTreeMap<(Kind, String, String), Counted>,
    /// Operation → exchanges seen.
    operations: BTreeMap<String, u64>,
    /// Exchanges the fake beside answered too.
    compared: u64,
    /// Exchanges the fake beside could not be asked (an ID it never saw, a
    /// stream, a body too large to copy), with the first reason.
    not_compared: BTreeMap<String, u64>,
}

impl DriftLog {
    /// Counts one exchange of `operation`.
    pub fn saw(&mut self, operation: &str) {
        *self.operations.entry(operation.to_owned()).or_default() += 1;
    }

    /// Adds drifts.
    pub fn add(&mut self, drifts: impl IntoIterator<Item = Drift>) {
        for d in drifts {
            let key = (d.kind, d.operation.clone(), d.field.clone());
            self.drifts
                .entry(key)
                .and_modify(|c| c.count += 1)
                .or_insert(Counted { drift: d, count: 1 });
        }
    }

    /// Counts an exchange the fake beside answered.
    pub fn compared(&mut self) {
        self.compared += 1;
    }

    /// Counts an exchange the fake beside was not asked, and why.
    pub fn not_compared(&mut self, why: &str) {
        *self.not_compared.entry(why.to_owned()).or_default() += 1;
    }

    /// The counted drifts, by kind, operation and field.
    pub fn drifts(&self) -> impl Iterator<Item = &Counted> {
        self.drifts.values()
    }

    /// How many distinct drifts.
    pub fn len(&self) -> usize {
        self.drifts.len()
    }

    /// Whether nothing drifted.
    pub fn is_empty(&self) -> bool {
        self.drifts.is_empty()
    }

    /// As a run report: a failed check per drift (`response GET
    /// /jobs/{id}/status progress`), a passed check per operation seen
    /// without one; notes say what the fake beside could not be asked.
    pub fn to_run_report(&self) -> RunReport {
        let mut checks = Vec::new();
        for (op, n) in &self.operations {
            if !self.drifts.values().any(|c| &c.drift.operation == op) {
                checks.push(CheckResult {
                    name: op.clone(),
                    status: Status::Passed,
                    message: format!("{n} exchange(s)"),
                    duration_ms: 0,
                });
            }
        }
        for Counted { drift: d, count } in self.drifts.values() {
            checks.push(CheckResult {
                name: format!("{} {} {}", d.kind.as_str(), d.operation, d.field),
                status: Status::Failed,
                message: format!("{} (x{count})", d.message),
                duration_ms: 0,
            });
        }
        let mut outcomes = vec![format!("{} exchange(s) compared with the fake", self.compared)];
        outcomes.extend(
            self.not_compared
                .iter()
                .map(|(why, n)| format!("{n} exchange(s) not compared with the fake: {why}")),
        );
        RunReport { checks, outcomes }
    }

    /// The report in `format`: JSON is its own document (`drifts` with
    /// kind, operation, field, message and count; `operations`;
    /// `compared`; `not_compared`), text and JUnit those of
    /// [`Self::to_run_report`].
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Json => serde_json::json!({
                "drifts": self.drifts.values().collect::<Vec<_>>(),
                "operations": self.operations,
                "compared": self.compared,
                "not_compared": self.not_compared,
                "total": self.drifts.values().map(|d| d.count).sum::<u64>(),
            })
            .to_string(),
            other => render(&self.to_run_report(), other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drift(kind: Kind, field: &str) -> Drift {
        Drift {
            kind,
            operation: "GET /jobs/{id}/status".into(),
            field: field.into(),
            message: format!("{field} is wrong"),
        }
    }

    #[test]
    fn drifts_are_counted_per_kind_operation_and_field() {
        let mut log = DriftLog::default();
        log.saw("GET /jobs/{id}/status");
        log.saw("POST /project");
        log.add([drift(Kind::Response, "progress"), drift(Kind::Response, "progress")]);
        log.add([drift(Kind::FieldNotFaked, "eta")]);
        assert_eq!(log.len(), 2);
        let v: serde_json::Value = serde_json::from_str(&log.render(Format::Json)).expect("json");
        assert_eq!(v["drifts"][0]["field"], "progress");
        assert_eq!(v["drifts"][0]["count"], 2);
        assert_eq!(v["drifts"][1]["kind"], "field-not-faked");
        assert_eq!(v["total"], 3);
        let text = log.render(Format::Text);
        assert!(text.contains("PASS POST /project"), "{text}");
        assert!(
            text.contains("FAIL response GET /jobs/{id}/status progress: progress is wrong (x2)"),
            "{text}"
        );
        assert!(text.ends_with("1 passed, 2 failed, 0 skipped\n"), "{text}");
        assert!(log.render(Format::Junit).contains("failures=\"2\""));
    }
}
