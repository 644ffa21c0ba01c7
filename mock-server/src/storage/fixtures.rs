//! The fixture accounts (`fixtures/accounts.json`): who can log in, with
//! which static token, policies and saved Design Values.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// A saved Design Value that an instruction can reference by its integer
/// `index`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedDesignValue {
    /// The integer a request uses to reference it.
    pub index: i64,
    /// Which field it is meant for (`pose`, `background`, …); informative.
    #[serde(default)]
    pub category: Option<String>,
    /// The descriptor text.
    pub text: String,
    /// An optional reference image UUID.
    #[serde(default)]
    pub image: Option<String>,
}

/// One fixture account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountFixture {
    /// Login e-mail (HTTP Basic user name of `POST /auth/login`).
    pub email: String,
    /// Login password.
    pub password: String,
    /// A static API token that never expires.
    pub api_token: String,
    /// Display first name.
    #[serde(default)]
    pub name: String,
    /// Display last name.
    #[serde(default)]
    pub surname: String,
    /// Credits shown on the user object.
    #[serde(default)]
    pub credits: i64,
    /// Policies such as `OUTPUT_CUSTOM_DIMENSIONS`.
    #[serde(default)]
    pub policies: Vec<String>,
    /// Saved Design Values.
    #[serde(default)]
    pub design_values: Vec<SavedDesignValue>,
    /// The scenario every request with this account's static token runs under.
    #[serde(default)]
    pub scenario: Option<String>,
}

/// The file `accounts.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountsFile {
    /// The accounts.
    pub accounts: Vec<AccountFixture>,
}

impl AccountsFile {
    /// Reads and checks `DIR/accounts.json`: e-mails and tokens unique.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let path = dir.join("accounts.json");
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses and checks the file's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut seen = std::collections::HashSet::new();
        for a in &file.accounts {
            if !seen.insert(a.email.to_lowercase()) {
                return Err(format!("duplicate email {}", a.email));
            }
            if !seen.insert(format!("token:{}", a.api_token)) {
                return Err(format!("duplicate api_token of {}", a.email));
            }
            if !crate::domain::auth::is_token_shaped(&a.api_token) {
                return Err(format!(
                    "api_token of {} must be 1-512 visible ASCII characters",
                    a.email
                ));
            }
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_fixtures_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
        let f = AccountsFile::load(&dir).expect("fixtures/accounts.json is valid");
        assert!(
            f.accounts
                .iter()
                .any(|a| a.policies.iter().any(|p| p == "OUTPUT_CUSTOM_DIMENSIONS"))
        );
        assert!(f.accounts.len() >= 2, "tenancy tests need two accounts");
    }

    #[test]
    fn duplicates_and_unknown_fields_are_refused() {
        let a = r#"{"email":"a@x","password":"p","api_token":"t"}"#;
        assert!(AccountsFile::parse(&format!(r#"{{"accounts":[{a},{a}]}}"#)).is_err());
        assert!(
            AccountsFile::parse(r#"{"accounts":[{"email":"a","password":"p","api_token":"t","typo":1}]}"#).is_err()
        );
    }
}
