//! The fixture accounts (`fixtures/accounts.json`): who can log in, with
//! which static token, policies and saved Design Values.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::redact::Redacted;

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

/// One fixture account. `Debug` hides the password and the token.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
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

impl std::fmt::Debug for AccountFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Destructured so that a new field must be given a place here.
        let Self {
            email,
            password: _,
            api_token: _,
            name,
            surname,
            credits,
            policies,
            design_values,
            scenario,
        } = self;
        f.debug_struct("AccountFixture")
            .field("email", email)
            .field("password", &Redacted)
            .field("api_token", &Redacted)
            .field("name", name)
            .field("surname", surname)
            .field("credits", credits)
            .field("policies", policies)
            .field("design_values", design_values)
            .field("scenario", scenario)
            .finish()
    }
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
    fn a_fixtures_debug_does_not_show_its_password_or_token() {
        let f = AccountsFile::parse(
            r#"{"accounts":[{"email":"a@x.test","password":"pw-secret-1","api_token":"f2m_secret_2"}]}"#,
        )
        .expect("valid");
        let shown = format!("{f:?}");
        assert!(
            !shown.contains("pw-secret-1") && !shown.contains("f2m_secret_2"),
            "{shown}"
        );
        assert!(shown.contains("a@x.test") && shown.contains("[redacted]"), "{shown}");
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
