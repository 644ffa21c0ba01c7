//! Accounts and what hangs off them: grants (tokens), projects, API tokens.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::domain::account::Account;
use crate::domain::ids::{ProjectId, TenantId, TokenId};
use crate::domain::job_request::SavedDesignValue;
use crate::domain::project::Project;
use crate::storage::records::ApiTokenRecord;
use crate::storage::tokens::{Grant, GrantKind};

use super::{DecodeError, at, ms};

/// A tenant's account. `Debug` hides the password.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountRecord {
    id: TenantId,
    email: Option<String>,
    password: Option<String>,
    name: String,
    surname: String,
    credits: i64,
    policies: Vec<String>,
    design_values: Vec<SavedDesignValue>,
    /// The tenant's own job rate limit (added later: absent in older data dirs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    job_rate_limit: Option<u32>,
    /// The tenant's scenario.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scenario: Option<String>,
}

impl AccountRecord {
    /// The record of tenant `t`: its account and its settings.
    pub fn of(t: &crate::storage::records::Tenant) -> Self {
        let settings = t.data.lock().settings.clone();
        Self {
            job_rate_limit: settings.job_rate_limit,
            scenario: settings.scenario,
            ..Self::from(&t.account)
        }
    }

    /// The tenant's settings it holds.
    pub fn settings(&self) -> crate::storage::records::TenantSettings {
        crate::storage::records::TenantSettings {
            job_rate_limit: self.job_rate_limit,
            scenario: self.scenario.clone(),
        }
    }
}

impl std::fmt::Debug for AccountRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The account it stores, shown as `Account` shows it: one place
        // decides what is hidden.
        std::fmt::Debug::fmt(&Account::from(self.clone()), f)
    }
}

impl From<&Account> for AccountRecord {
    fn from(a: &Account) -> Self {
        Self {
            id: a.id.clone(),
            email: a.email.clone(),
            password: a.password.clone(),
            name: a.name.clone(),
            surname: a.surname.clone(),
            credits: a.credits,
            policies: a.policies.clone(),
            design_values: a.design_values.clone(),
            job_rate_limit: None,
            scenario: None,
        }
    }
}

impl From<AccountRecord> for Account {
    fn from(r: AccountRecord) -> Self {
        Self {
            id: r.id,
            email: r.email,
            password: r.password,
            name: r.name,
            surname: r.surname,
            credits: r.credits,
            policies: r.policies,
            design_values: r.design_values,
        }
    }
}

/// What a bearer or refresh token grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    /// The tenant.
    pub tenant: TenantId,
    kind: String,
    expires_at: Option<i64>,
}

impl From<&Grant> for GrantRecord {
    fn from(g: &Grant) -> Self {
        let kind = match g.kind {
            GrantKind::Static => "static",
            GrantKind::AnyToken => "any_token",
            GrantKind::Access => "access",
            GrantKind::ApiToken => "api_token",
        };
        Self {
            tenant: g.tenant.id().clone(),
            kind: kind.to_owned(),
            expires_at: g.expires_at.map(ms),
        }
    }
}

impl GrantRecord {
    /// The grant, for `tenant` (the one this record names).
    pub fn grant(self, tenant: Arc<crate::storage::records::Tenant>) -> Result<Grant, DecodeError> {
        let kind = match self.kind.as_str() {
            "static" => GrantKind::Static,
            "any_token" => GrantKind::AnyToken,
            "access" => GrantKind::Access,
            "api_token" => GrantKind::ApiToken,
            other => return Err(DecodeError(format!("token: unknown kind {other:?}"))),
        };
        Ok(Grant {
            tenant,
            kind,
            expires_at: self.expires_at.map(at),
        })
    }
}

/// A project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRecord {
    /// Owner.
    pub tenant: TenantId,
    id: ProjectId,
    name: String,
    key: String,
    created_at: i64,
}

impl ProjectRecord {
    /// `tenant`'s project `p`.
    pub fn new(tenant: &TenantId, p: &Project) -> Self {
        Self {
            tenant: tenant.clone(),
            id: p.id.clone(),
            name: p.name.clone(),
            key: p.key.clone(),
            created_at: ms(p.created_at),
        }
    }

    /// The project.
    pub fn project(self) -> Project {
        Project {
            id: self.id,
            name: self.name,
            key: self.key,
            created_at: at(self.created_at),
        }
    }
}

/// A long-lived API token's listing entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenEntry {
    /// Owner.
    pub tenant: TenantId,
    id: TokenId,
    expires_at: i64,
}

impl ApiTokenEntry {
    /// `tenant`'s entry `t`.
    pub fn new(tenant: &TenantId, t: &ApiTokenRecord) -> Self {
        Self {
            tenant: tenant.clone(),
            id: t.id.clone(),
            expires_at: ms(t.expires_at),
        }
    }

    /// The entry.
    pub fn entry(self) -> ApiTokenRecord {
        ApiTokenRecord {
            id: self.id,
            expires_at: at(self.expires_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::records::{round_trip, t};

    use crate::storage::records::Tenant;

    #[test]
    fn times_keep_every_millisecond_even_outside_rfc_3339() {
        // The control API writes times as RFC 3339 and clamps them to
        // 1970 … 9999; the store must not.
        let p = Project {
            id: ProjectId::from_client("p1"),
            name: "shoes".into(),
            key: "prj_1".into(),
            created_at: t(-1),
        };
        let back = round_trip(&ProjectRecord::new(&TenantId::from_client("acct_1"), &p)).project();
        assert_eq!(back.created_at, t(-1));
        assert_eq!((back.id, back.name, back.key), (p.id, p.name, p.key));
        let far = t(i64::MAX / 2 + 7);
        let entry = ApiTokenRecord {
            id: TokenId::from_client("tok_1"),
            expires_at: far,
        };
        let back = round_trip(&ApiTokenEntry::new(&TenantId::from_client("acct_1"), &entry)).entry();
        assert_eq!((back.id, back.expires_at), (entry.id, far));
    }

    #[test]
    fn an_account_records_debug_does_not_show_its_password() {
        let mut account = Account::anonymous(TenantId::from_client("acct_1"));
        account.password = Some("pw-secret-3".into());
        let shown = format!("{:?}", AccountRecord::from(&account));
        assert!(
            !shown.contains("pw-secret-3") && shown.contains("[redacted]"),
            "{shown}"
        );
    }

    #[test]
    fn accounts_and_grants_round_trip() {
        let account = Account {
            id: TenantId::from_client("acct_1"),
            email: Some("a@b.test".into()),
            password: Some("pw".into()),
            name: "A".into(),
            surname: "B".into(),
            credits: 7,
            policies: vec!["OUTPUT_CUSTOM_DIMENSIONS".into()],
            design_values: vec![SavedDesignValue {
                index: 1,
                category: Some("pose".into()),
                text: "standing".into(),
                image: None,
            }],
        };
        let back: Account = round_trip(&AccountRecord::from(&account)).into();
        assert_eq!(AccountRecord::from(&back), AccountRecord::from(&account));
        assert_eq!(back.design_values, account.design_values);
        let tenant = Arc::new(Tenant::new(account));
        for (kind, expires_at) in [
            (GrantKind::Static, None),
            (GrantKind::AnyToken, None),
            (GrantKind::Access, Some(t(5))),
            (GrantKind::ApiToken, Some(t(6))),
        ] {
            let g = Grant {
                tenant: tenant.clone(),
                kind,
                expires_at,
            };
            let back = round_trip(&GrantRecord::from(&g)).grant(tenant.clone()).expect("grant");
            assert_eq!((back.kind, back.expires_at), (kind, expires_at));
        }
        let mut bad = GrantRecord::from(&Grant {
            tenant: tenant.clone(),
            kind: GrantKind::Static,
            expires_at: None,
        });
        bad.kind = "root".into();
        assert!(bad.grant(tenant).is_err(), "an unknown kind is an error, not a guess");
    }
}
