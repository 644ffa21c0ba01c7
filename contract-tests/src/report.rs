//! Check results and their reports: text, JSON, JUnit XML (written with
//! `quick-junit`). Every check of [`crate::suite::CHECKS`] appears in every
//! report, as passed, failed or skipped with its reason, so the count is
//! the same run to run.

use std::time::Duration;

use serde::Serialize;

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The server did what the contract says.
    Passed,
    /// It did not: a contract failure (exit code 1).
    Failed,
    /// Not run, with the reason (a missing capability, flag or an earlier
    /// step it depends on).
    Skipped,
}

/// One named check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// Dotted name (`job.status`, `rules.width_without_height`).
    pub name: String,
    /// How it ended.
    pub status: Status,
    /// Why it failed or was skipped (empty when it passed).
    pub message: String,
    /// How long it took.
    pub duration_ms: u64,
}

impl CheckResult {
    /// Whether it passed.
    pub fn passed(&self) -> bool {
        self.status == Status::Passed
    }
}

/// A whole run: every check, and outcomes worth reporting that are not
/// failures (an output the engine refused, a webhook that could not be
/// restored exactly).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    /// Every check, in order.
    pub checks: Vec<CheckResult>,
    /// Notes: legitimate outcomes, not failures.
    pub outcomes: Vec<String>,
}

impl RunReport {
    fn count(&self, s: Status) -> usize {
        self.checks.iter().filter(|c| c.status == s).count()
    }

    /// The failed checks.
    pub fn failed(&self) -> usize {
        self.count(Status::Failed)
    }
}

/// The report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line a check and a closing `N passed, M failed, K skipped`.
    Text,
    /// `{checks: [...], outcomes, passed, failed, skipped}`.
    Json,
    /// JUnit XML, one `testcase` a check, `<skipped>` for skipped ones.
    Junit,
}

/// Renders `report` in `format`.
pub fn render(report: &RunReport, format: Format) -> String {
    let (passed, failed, skipped) = (
        report.count(Status::Passed),
        report.count(Status::Failed),
        report.count(Status::Skipped),
    );
    match format {
        Format::Text => {
            let mut out = String::new();
            for r in &report.checks {
                match r.status {
                    Status::Passed => out.push_str(&format!("PASS {}\n", r.name)),
                    Status::Failed => out.push_str(&format!("FAIL {}: {}\n", r.name, r.message)),
                    Status::Skipped => out.push_str(&format!("SKIP {}: {}\n", r.name, r.message)),
                }
            }
            for o in &report.outcomes {
                out.push_str(&format!("NOTE {o}\n"));
            }
            out.push_str(&format!("{passed} passed, {failed} failed, {skipped} skipped\n"));
            out
        }
        Format::Json => serde_json::json!({
            "checks": report.checks, "outcomes": report.outcomes,
            "passed": passed, "failed": failed, "skipped": skipped
        })
        .to_string(),
        Format::Junit => junit(report),
    }
}

fn junit(report: &RunReport) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut suite = TestSuite::new("contract-tests");
    for r in &report.checks {
        let status = match r.status {
            Status::Passed => TestCaseStatus::success(),
            Status::Failed => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(r.message.as_str());
                s
            }
            Status::Skipped => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(r.message.as_str());
                s
            }
        };
        let mut case = TestCase::new(r.name.as_str(), status);
        case.set_classname("contract");
        case.set_time(Duration::from_millis(r.duration_ms));
        suite.add_test_case(case);
    }
    if !report.outcomes.is_empty() {
        suite.set_system_out(report.outcomes.join("\n"));
    }
    let mut out = Report::new("contract-tests");
    out.add_test_suite(suite);
    // Serialising into memory only fails on an I/O error of the writer.
    out.to_string().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> RunReport {
        let r = |name: &str, status, message: &str| CheckResult {
            name: name.into(),
            status,
            message: message.into(),
            duration_ms: 5,
        };
        RunReport {
            checks: vec![
                r("a.ok", Status::Passed, ""),
                r("b.bad", Status::Failed, "x: <wrong> & \"so\""),
                r("c.skip", Status::Skipped, "needs --other-token"),
            ],
            outcomes: vec!["output 1 refused".into()],
        }
    }

    #[test]
    fn text_closes_with_the_counts() {
        let t = render(&report(), Format::Text);
        assert!(t.ends_with("1 passed, 1 failed, 1 skipped\n"), "{t}");
        assert!(t.contains("FAIL b.bad: x: <wrong>"));
        assert!(t.contains("SKIP c.skip: needs --other-token"));
        assert!(t.contains("NOTE output 1 refused"));
    }

    #[test]
    fn junit_escapes_counts_and_skips() {
        let x = render(&report(), Format::Junit);
        assert!(x.contains("tests=\"3\""), "{x}");
        assert!(x.contains("failures=\"1\""), "{x}");
        assert!(x.contains("skipped=\"1\""), "{x}");
        assert!(x.contains("x: &lt;wrong&gt; &amp; &quot;so&quot;"), "{x}");
        assert!(x.contains("<skipped message=\"needs --other-token\""), "{x}");
        assert!(x.contains("name=\"a.ok\""));
    }

    #[test]
    fn json_lists_every_check() {
        let v: serde_json::Value = serde_json::from_str(&render(&report(), Format::Json)).expect("json");
        assert_eq!(v["checks"].as_array().expect("a").len(), 3);
        assert_eq!(v["failed"], 1);
        assert_eq!(v["skipped"], 1);
        assert_eq!(v["checks"][2]["status"], "skipped");
    }
}
