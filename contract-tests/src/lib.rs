//! contract-tests: checks servers and client payloads against the committed
//! contract in `schemas/` — [`validate`] offline, [`suite`] against any base
//! URL, [`gate`] judging a client by the fake's journal, [`listen`] a webhook
//! receiver and `trigger`, [`replay`] a recorded session, [`report`] as
//! text, JSON or JUnit.

pub mod cassette;
pub mod cli;
pub mod gate;
pub mod listen;
pub mod proxy;
pub mod replay;
pub mod report;
pub mod suite;

use contract::Contract;
use serde_json::Value;

/// Validates `payload` against the schema `name`, returning one line per
/// violation as `field.path: message`. A job request is checked against the
/// documented rules a schema cannot state too ([`contract::rules`]), with
/// the field paths the server names.
pub fn validate(name: &str, payload: &Value) -> Result<(), Vec<String>> {
    let c = Contract::global();
    if !c.has_schema(name) {
        return Err(vec![format!(
            "no schema named {name} (contract-tests schemas lists them)"
        )]);
    }
    let mut lines: Vec<String> = match c.validate(name, payload) {
        Ok(()) => Vec::new(),
        Err(errs) => errs.iter().map(ToString::to_string).collect(),
    };
    if name == "job-create-request.json" {
        lines.extend(contract::rules::job_request(payload).iter().map(ToString::to_string));
    }
    if lines.is_empty() { Ok(()) } else { Err(lines) }
}

/// The names of the schemas, sorted.
pub fn schema_names() -> Vec<&'static str> {
    Contract::global().schema_names()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_violations_with_field_paths() {
        let errs = validate("upload-request.json", &json!({"filename": 3})).expect_err("invalid");
        assert!(errs[0].starts_with("filename: "), "{errs:?}");
        assert!(validate("upload-request.json", &json!({"filename": "a.png"})).is_ok());
        assert!(schema_names().contains(&"error.json"));
        assert!(validate("nope.json", &json!({})).is_err());
    }

    #[test]
    fn job_requests_are_checked_beyond_their_schema() {
        let body = json!({
            "identity_code": "id_1", "project_id": "p", "images": ["sku_1"],
            "instructions": [{}, {"options": {"width": 300, "height": 512}}]
        });
        let errs = validate("job-create-request.json", &body).expect_err("bad");
        assert!(
            errs.len() == 1 && errs[0].starts_with("instructions[1].options.width: "),
            "{errs:?}"
        );
        let body = json!({
            "identity_code": "id_1", "project_id": "p", "images": ["sku_1"],
            "instructions": [{}], "options": {"anchor_index": 1}
        });
        assert_eq!(
            validate("job-create-request.json", &body).expect_err("bad"),
            ["options.anchor_index: must satisfy 0 <= anchor_index < 1 (the number of instructions)"]
        );
    }
}
