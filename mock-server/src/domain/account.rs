//! An account: the unit of isolation, and what its policies and saved
//! Design Values allow. Storage keeps accounts (in their tenants); the
//! rules that read one live here.

use crate::domain::ids::TenantId;
use crate::domain::job_request::{ParseContext, SavedDesignValue};
use crate::redact::Redacted;

/// The policy that unlocks custom output `width`/`height`.
pub const POLICY_CUSTOM_DIMENSIONS: &str = "OUTPUT_CUSTOM_DIMENSIONS";

/// One account: the unit of isolation. `Debug` hides the password.
#[derive(Clone)]
pub struct Account {
    /// Tenant id.
    pub id: TenantId,
    /// Login e-mail; `None` for `--any-token` tenants, which cannot log in.
    pub email: Option<String>,
    /// Login password.
    pub password: Option<String>,
    /// First name.
    pub name: String,
    /// Last name.
    pub surname: String,
    /// Credits.
    pub credits: i64,
    /// Policies.
    pub policies: Vec<String>,
    /// Saved Design Values.
    pub design_values: Vec<SavedDesignValue>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Destructured so that a new field must be given a place here.
        let Self {
            id,
            email,
            password,
            name,
            surname,
            credits,
            policies,
            design_values,
        } = self;
        f.debug_struct("Account")
            .field("id", id)
            .field("email", email)
            .field("password", &password.as_ref().map(|_| Redacted))
            .field("name", name)
            .field("surname", surname)
            .field("credits", credits)
            .field("policies", policies)
            .field("design_values", design_values)
            .finish()
    }
}

impl Account {
    /// A fresh `--any-token` account: default policies (none), no saved
    /// Design Values, no login.
    pub fn anonymous(id: TenantId) -> Self {
        Self {
            id,
            email: None,
            password: None,
            name: String::new(),
            surname: String::new(),
            credits: 0,
            policies: Vec::new(),
            design_values: Vec::new(),
        }
    }

    /// Whether the account holds `policy`.
    pub fn has_policy(&self, policy: &str) -> bool {
        self.policies.iter().any(|p| p == policy)
    }

    /// What the account allows for the job request rules that depend on it
    /// (`POST /flat-2-model`, and a job parsed again from `--data-dir`).
    pub fn parse_context(&self) -> ParseContext<'_> {
        ParseContext {
            custom_dimensions_allowed: self.has_policy(POLICY_CUSTOM_DIMENSIONS),
            saved_design_values: &self.design_values,
            any_saved_index: false,
        }
    }

    /// The user name shown as `created_by` and in `user.username`.
    pub fn username(&self) -> String {
        self.email.clone().unwrap_or_else(|| self.id.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accounts_debug_does_not_show_its_password() {
        let mut a = Account::anonymous(TenantId::from_client("acct_1"));
        a.email = Some("demo@flat2model.test".into());
        a.password = Some("hunter2-secret".into());
        let shown = format!("{a:?}");
        assert!(!shown.contains("hunter2-secret"), "{shown}");
        assert!(
            shown.contains("[redacted]") && shown.contains("demo@flat2model.test"),
            "{shown}"
        );
    }
}
