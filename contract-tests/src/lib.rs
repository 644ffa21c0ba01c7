//! contract-tests: checks servers and client payloads against the committed
//! contract in `schemas/`. This first cut validates payloads offline; the
//! end-to-end suite against a base URL comes with its own issue.

use mock_server::contract::Contract;
use serde_json::Value;

/// Validates `payload` against the schema `name`, returning one line per
/// violation in the server's own form (`field.path: message`).
pub fn validate(name: &str, payload: &Value) -> Result<(), Vec<String>> {
    Contract::global()
        .validate(name, payload)
        .map_err(|errs| errs.iter().map(ToString::to_string).collect())
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
    }
}
