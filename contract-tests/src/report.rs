//! Check results and their reports: text, JSON, JUnit XML.

use serde::Serialize;

/// One named check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// Dotted name (`job.status`, `rules.width_without_height`).
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// Why it failed (or what it saw).
    pub message: String,
    /// How long it took.
    pub duration_ms: u64,
}

/// The report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line a check and a closing `N passed, M failed`.
    Text,
    /// `{checks: [...], passed, failed}`.
    Json,
    /// JUnit XML, one `testcase` a check.
    Junit,
}

/// Renders `results` in `format`.
pub fn render(results: &[CheckResult], format: Format) -> String {
    let passed = results.iter().filter(|r| r.passed).count();
    let failed = results.len() - passed;
    match format {
        Format::Text => {
            let mut out = String::new();
            for r in results {
                if r.passed {
                    out.push_str(&format!("PASS {}\n", r.name));
                } else {
                    out.push_str(&format!("FAIL {}: {}\n", r.name, r.message));
                }
            }
            out.push_str(&format!("{passed} passed, {failed} failed\n"));
            out
        }
        Format::Json => serde_json::json!({ "checks": results, "passed": passed, "failed": failed }).to_string(),
        Format::Junit => {
            let mut out = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"contract-tests\" tests=\"{}\" failures=\"{failed}\">\n",
                results.len()
            );
            for r in results {
                let time = r.duration_ms as f64 / 1000.0;
                out.push_str(&format!(
                    "  <testcase classname=\"contract\" name=\"{}\" time=\"{time:.3}\"",
                    xml(&r.name)
                ));
                if r.passed {
                    out.push_str("/>\n");
                } else {
                    out.push_str(&format!(
                        ">\n    <failure message=\"{}\"/>\n  </testcase>\n",
                        xml(&r.message)
                    ));
                }
            }
            out.push_str("</testsuite>\n");
            out
        }
    }
}

fn xml(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\n' => "&#10;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results() -> Vec<CheckResult> {
        vec![
            CheckResult {
                name: "a.ok".into(),
                passed: true,
                message: String::new(),
                duration_ms: 5,
            },
            CheckResult {
                name: "b.bad".into(),
                passed: false,
                message: "x: <wrong> & \"so\"".into(),
                duration_ms: 1,
            },
        ]
    }

    #[test]
    fn text_closes_with_the_counts() {
        let t = render(&results(), Format::Text);
        assert!(t.ends_with("1 passed, 1 failed\n"));
        assert!(t.contains("FAIL b.bad: x: <wrong>"));
    }

    #[test]
    fn junit_escapes_and_counts() {
        let x = render(&results(), Format::Junit);
        assert!(x.contains("tests=\"2\" failures=\"1\""));
        assert!(x.contains("message=\"x: &lt;wrong&gt; &amp; &quot;so&quot;\""));
        assert!(x.contains("name=\"a.ok\""));
    }

    #[test]
    fn json_lists_every_check() {
        let v: serde_json::Value = serde_json::from_str(&render(&results(), Format::Json)).expect("json");
        assert_eq!(v["checks"].as_array().expect("a").len(), 2);
        assert_eq!(v["failed"], 1);
    }
}
