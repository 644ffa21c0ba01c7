//! Bearer tokens, refresh tokens and logins. A token maps straight to its
//! tenant in a sharded map: the per-request lookup takes no global lock.
//! The maps are keyed by the token's digest, compared in constant time
//! ([`SecretDigest`]), and never hold the token itself.

use std::collections::HashMap;
use std::sync::Arc;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

use crate::clock::Instant;
use crate::domain::ids::TenantId;
use crate::domain::secret::SecretDigest;
use crate::storage::records::Tenant;

/// What kind of token a bearer value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantKind {
    /// A fixture account's static token, or a control API tenant's: never expires.
    Static,
    /// A token `--any-token` made a tenant of: never expires, but its
    /// tenant goes once idle for `--any-token-idle-ttl`.
    AnyToken,
    /// From `POST /auth/login` or `/auth/refresh`.
    Access,
    /// A long-lived token from `POST /auth/token`.
    ApiToken,
}

/// What a bearer token grants.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The tenant.
    pub tenant: Arc<Tenant>,
    /// Its kind.
    pub kind: GrantKind,
    /// Expiry; `None` never expires.
    pub expires_at: Option<Instant>,
}

/// Why authentication failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No such token.
    Unknown,
    /// The token expired.
    Expired,
}

/// All tokens of the server.
#[derive(Debug, Default)]
pub struct Tokens {
    bearer: DashMap<SecretDigest, Grant>,
    refresh: DashMap<SecretDigest, Grant>,
    logins: DashMap<String, Arc<Tenant>>,
}

impl Tokens {
    /// Forgets every token and login.
    pub fn clear(&self) {
        self.bearer.clear();
        self.refresh.clear();
        self.logins.clear();
    }

    /// Registers a bearer token.
    pub fn add_bearer(&self, token: impl AsRef<str>, grant: Grant) {
        self.bearer.insert(SecretDigest::of(token.as_ref()), grant);
    }

    /// Registers a refresh token.
    pub fn add_refresh(&self, token: impl AsRef<str>, grant: Grant) {
        self.refresh.insert(SecretDigest::of(token.as_ref()), grant);
    }

    /// What bearer `token` grants, if it exists.
    pub fn bearer_grant(&self, token: &str) -> Option<Grant> {
        self.bearer_grant_of(&SecretDigest::of(token))
    }

    /// What the bearer token with digest `key` grants (`--data-dir` stores it).
    pub fn bearer_grant_of(&self, key: &SecretDigest) -> Option<Grant> {
        self.bearer.get(key).map(|g| g.clone())
    }

    /// Registers a bearer token by its digest (as `--data-dir` keeps it).
    pub fn add_bearer_digest(&self, key: SecretDigest, grant: Grant) {
        self.bearer.insert(key, grant);
    }

    /// Registers a refresh token by its digest (as `--data-dir` keeps it).
    pub fn add_refresh_digest(&self, key: SecretDigest, grant: Grant) {
        self.refresh.insert(key, grant);
    }

    /// The tenant of the bearer token with digest `key`, expired or not:
    /// for listings that name a caller without holding its token.
    pub fn bearer_tenant(&self, key: &SecretDigest) -> Option<Arc<Tenant>> {
        self.bearer.get(key).map(|g| g.tenant.clone())
    }

    /// The digests of every bearer token of tenant `id` (a read-side scan:
    /// the journal's account filter and a tenant reset, never a request).
    pub fn bearers_of(&self, id: &TenantId) -> Vec<SecretDigest> {
        self.bearers_where(|t| t == id).into_values().next().unwrap_or_default()
    }

    /// The digests of every bearer token of each tenant `owned` picks, by
    /// tenant: one scan for a whole batch of tenants (the eviction of idle
    /// `--any-token` tenants), where a scan per tenant would cost the
    /// square of their number.
    pub fn bearers_where(&self, owned: impl Fn(&TenantId) -> bool) -> HashMap<TenantId, Vec<SecretDigest>> {
        let mut of: HashMap<TenantId, Vec<SecretDigest>> = HashMap::new();
        for g in self.bearer.iter().filter(|g| owned(g.tenant.id())) {
            of.entry(g.tenant.id().clone()).or_default().push(*g.key());
        }
        of
    }

    /// Forgets the bearer token with digest `key` if it still grants
    /// `tenant` (a token may have been made again for another since).
    pub fn remove_bearer_of(&self, key: &SecretDigest, tenant: &Arc<Tenant>) {
        self.bearer.remove_if(key, |_, g| Arc::ptr_eq(&g.tenant, tenant));
    }

    /// Makes bearer `token` grant `tenant` again unless it grants something
    /// already: a tenant taken back while another request of it succeeded.
    pub fn restore_bearer(&self, token: &str, grant: Grant) {
        self.bearer.entry(SecretDigest::of(token)).or_insert(grant);
    }

    /// The tenants `--any-token` made (a read-side scan: the eviction sweep).
    pub fn any_token_tenants(&self) -> Vec<Arc<Tenant>> {
        self.bearer
            .iter()
            .filter(|g| g.kind == GrantKind::AnyToken)
            .map(|g| g.tenant.clone())
            .collect()
    }

    /// What the refresh token with digest `key` grants, if it is unspent
    /// (`--data-dir` stores it).
    pub fn refresh_grant_of(&self, key: &SecretDigest) -> Option<Grant> {
        self.refresh.get(key).map(|g| g.clone())
    }

    /// Makes `tenant` able to log in with its e-mail and password.
    pub fn add_login(&self, email: &str, tenant: Arc<Tenant>) {
        self.logins.insert(email.to_lowercase(), tenant);
    }

    /// The tenant of a bearer token at `now`. With `any_token`, an unknown
    /// token becomes its own fresh tenant, made once by `make` even when
    /// many requests race with it.
    pub fn authenticate(
        &self,
        token: &str,
        now: Instant,
        any_token: Option<&dyn Fn() -> Arc<Tenant>>,
    ) -> Result<Arc<Tenant>, AuthFailure> {
        let key = SecretDigest::of(token);
        if let Some(g) = self.bearer.get(&key) {
            if g.kind == GrantKind::AnyToken {
                g.tenant.activity.touch(now);
            }
            return match g.expires_at {
                Some(exp) if now >= exp => Err(AuthFailure::Expired),
                _ => Ok(g.tenant.clone()),
            };
        }
        let make = any_token.ok_or(AuthFailure::Unknown)?;
        match self.bearer.entry(key) {
            Entry::Occupied(e) => Ok(e.get().tenant.clone()),
            Entry::Vacant(v) => {
                let tenant = make();
                tenant.activity.provisional(now);
                v.insert(Grant {
                    tenant: tenant.clone(),
                    kind: GrantKind::AnyToken,
                    expires_at: None,
                });
                Ok(tenant)
            }
        }
    }

    /// Checks e-mail and password (constant-time on the password, whatever
    /// its length: digests are compared, not the bytes).
    pub fn login(&self, email: &str, password: &str) -> Option<Arc<Tenant>> {
        let tenant = self.logins.get(&email.to_lowercase())?.clone();
        let expected = tenant.account.password.as_deref()?;
        SecretDigest::of(expected).matches(password).then_some(tenant)
    }

    /// Consumes a refresh token: valid and unexpired gives its tenant, and
    /// the token cannot be used again (refresh tokens rotate).
    pub fn take_refresh(&self, token: &str, now: Instant) -> Result<Arc<Tenant>, AuthFailure> {
        let (_, g) = self
            .refresh
            .remove(&SecretDigest::of(token))
            .ok_or(AuthFailure::Unknown)?;
        match g.expires_at {
            Some(exp) if now >= exp => Err(AuthFailure::Expired),
            _ => Ok(g.tenant),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::account::Account;
    use crate::domain::ids::IdGen;

    fn tenant() -> Arc<Tenant> {
        Arc::new(Tenant::new(Account::anonymous(IdGen::new(0).next())))
    }

    fn grant(tenant: &Arc<Tenant>, expires_at: Option<Instant>) -> Grant {
        Grant {
            tenant: tenant.clone(),
            kind: GrantKind::Access,
            expires_at,
        }
    }

    #[test]
    fn a_bearer_token_is_found_by_its_digest_and_a_near_miss_is_not() {
        let t = Tokens::default();
        let owner = tenant();
        t.add_bearer("at_0123456789", grant(&owner, None));
        let now = Instant::from_millis(0);
        let found = t.authenticate("at_0123456789", now, None).expect("known");
        assert!(Arc::ptr_eq(&found, &owner));
        for wrong in ["at_0123456788", "at_012345678", "at_0123456789x", "AT_0123456789"] {
            assert_eq!(
                t.authenticate(wrong, now, None).err(),
                Some(AuthFailure::Unknown),
                "{wrong}"
            );
        }
    }

    #[test]
    fn an_expired_token_is_told_apart_from_an_unknown_one() {
        let t = Tokens::default();
        let exp = Instant::from_millis(10_000);
        t.add_bearer("at_x", grant(&tenant(), Some(exp)));
        assert!(t.authenticate("at_x", Instant::from_millis(9_999), None).is_ok());
        assert_eq!(t.authenticate("at_x", exp, None).err(), Some(AuthFailure::Expired));
    }

    #[test]
    fn a_refresh_token_is_taken_once() {
        let t = Tokens::default();
        t.add_refresh("rt_1", grant(&tenant(), None));
        let now = Instant::from_millis(0);
        assert_eq!(t.take_refresh("rt_2", now).err(), Some(AuthFailure::Unknown));
        assert!(t.take_refresh("rt_1", now).is_ok());
        assert_eq!(t.take_refresh("rt_1", now).err(), Some(AuthFailure::Unknown));
    }

    #[test]
    fn a_login_needs_the_exact_password() {
        let t = Tokens::default();
        let mut account = Account::anonymous(IdGen::new(1).next());
        account.password = Some("demo-password".into());
        t.add_login("demo@flat2model.test", Arc::new(Tenant::new(account)));
        assert!(t.login("Demo@flat2model.test", "demo-password").is_some());
        for wrong in ["demo-passwor", "demo-password!", "", "DEMO-PASSWORD"] {
            assert!(t.login("demo@flat2model.test", wrong).is_none(), "{wrong}");
        }
        assert!(t.login("nobody@flat2model.test", "demo-password").is_none());
    }
}
