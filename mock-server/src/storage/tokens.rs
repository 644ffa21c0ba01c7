//! Bearer tokens, refresh tokens and logins. A token maps straight to its
//! tenant in a sharded map: the per-request lookup takes no global lock.

use std::sync::Arc;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use subtle::ConstantTimeEq;

use crate::clock::Instant;
use crate::storage::records::Tenant;

/// What kind of token a bearer value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantKind {
    /// A fixture account's static token, or an `--any-token` token: never expires.
    Static,
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
    bearer: DashMap<String, Grant>,
    refresh: DashMap<String, Grant>,
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
    pub fn add_bearer(&self, token: String, grant: Grant) {
        self.bearer.insert(token, grant);
    }

    /// Registers a refresh token.
    pub fn add_refresh(&self, token: String, grant: Grant) {
        self.refresh.insert(token, grant);
    }

    /// What bearer `token` grants, if it exists (`--data-dir` stores it).
    pub fn bearer_grant(&self, token: &str) -> Option<Grant> {
        self.bearer.get(token).map(|g| g.clone())
    }

    /// What refresh `token` grants, if it is unspent (`--data-dir` stores it).
    pub fn refresh_grant(&self, token: &str) -> Option<Grant> {
        self.refresh.get(token).map(|g| g.clone())
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
        if let Some(g) = self.bearer.get(token) {
            return match g.expires_at {
                Some(exp) if now >= exp => Err(AuthFailure::Expired),
                _ => Ok(g.tenant.clone()),
            };
        }
        let make = any_token.ok_or(AuthFailure::Unknown)?;
        match self.bearer.entry(token.to_owned()) {
            Entry::Occupied(e) => Ok(e.get().tenant.clone()),
            Entry::Vacant(v) => {
                let tenant = make();
                v.insert(Grant {
                    tenant: tenant.clone(),
                    kind: GrantKind::Static,
                    expires_at: None,
                });
                Ok(tenant)
            }
        }
    }

    /// Checks e-mail and password (constant-time on the password).
    pub fn login(&self, email: &str, password: &str) -> Option<Arc<Tenant>> {
        let tenant = self.logins.get(&email.to_lowercase())?.clone();
        let expected = tenant.account.password.as_deref()?;
        bool::from(expected.as_bytes().ct_eq(password.as_bytes())).then_some(tenant)
    }

    /// Consumes a refresh token: valid and unexpired gives its tenant, and
    /// the token cannot be used again (refresh tokens rotate).
    pub fn take_refresh(&self, token: &str, now: Instant) -> Result<Arc<Tenant>, AuthFailure> {
        let (_, g) = self.refresh.remove(token).ok_or(AuthFailure::Unknown)?;
        match g.expires_at {
            Some(exp) if now >= exp => Err(AuthFailure::Expired),
            _ => Ok(g.tenant),
        }
    }
}
