//! The tenants `--any-token` makes of unknown bearer tokens. One is kept
//! once a request of it succeeds; if the request that made it fails
//! (401, 400, 404, …) it is taken back, so a refused request creates and
//! persists nothing. Kept ones go, with everything they own, once idle for
//! `--any-token-idle-ttl`: a fake shared for weeks by CI jobs that each
//! bring a fresh token does not grow with them. Tenants made through
//! `POST /__admin/tenants`, and fixture accounts, are not theirs and stay.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::clock::Instant;
use crate::domain::ids::TenantId;
use crate::domain::secret::SecretDigest;
use crate::durable::{Dirty, Op};
use crate::state::{AppState, Shared};
use crate::storage::records::Tenant;
use crate::storage::tokens::{Grant, GrantKind};

/// An `--any-token` tenant no request has succeeded for yet, as a request
/// used it.
#[derive(Debug)]
struct Unconfirmed {
    tenant: Arc<Tenant>,
    token: String,
    /// This request made it: only the maker takes it back.
    made: bool,
}

/// The request's slot for the unconfirmed tenant it used, filled by the
/// authenticating extractor and settled by [`settle`] once the response
/// status is known. Installed only with `--any-token`.
#[derive(Debug, Clone, Default)]
pub struct Unsettled(Arc<OnceLock<Unconfirmed>>);

impl Unsettled {
    /// Notes that the request authenticated as `tenant` with `token`, which
    /// is not confirmed yet (`made`: by this very request).
    pub fn note(&self, tenant: &Arc<Tenant>, token: &str, made: bool) {
        let _ = self.0.set(Unconfirmed {
            tenant: tenant.clone(),
            token: token.to_owned(),
            made,
        });
    }
}

/// Middleware (only with `--any-token`; inside the wait for durability, so
/// a response waits for what settling queued): confirms the tenant a
/// successful request used, takes back the one a failed request made.
pub async fn settle(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let slot = Unsettled::default();
    req.extensions_mut().insert(slot.clone());
    let res = next.run(req).await;
    if let Some(u) = slot.0.get() {
        if res.status().as_u16() < 400 {
            confirm(&state, u);
        } else if u.made {
            take_back(&state, u);
        }
    }
    res
}

/// Keeps `u`'s tenant; if its maker failed and took it back meanwhile, it
/// is made again, holding what this request did.
fn confirm(state: &Shared, u: &Unconfirmed) {
    if !u.tenant.activity.confirm() || state.store.tenant(u.tenant.id()).is_some() {
        return;
    }
    state.store.add_tenant(u.tenant.clone());
    state.tokens.restore_bearer(
        &u.token,
        Grant {
            tenant: u.tenant.clone(),
            kind: GrantKind::AnyToken,
            expires_at: None,
        },
    );
    state.durable.mark(Dirty::Tenant(u.tenant.id().clone()));
    state.durable.mark(Dirty::Bearer(SecretDigest::of(&u.token)));
}

/// Forgets the tenant the failed request made, unless a request of it
/// succeeded meanwhile. It was marked when made (so a concurrent request's
/// changes queue after it); marked again, the store removes it.
fn take_back(state: &Shared, u: &Unconfirmed) {
    if u.tenant.activity.is_confirmed() {
        return;
    }
    state.tokens.remove_bearer_of(&SecretDigest::of(&u.token), &u.tenant);
    state.store.remove_tenant(u.tenant.id());
    state.durable.mark(Dirty::Tenant(u.tenant.id().clone()));
    state.durable.mark(Dirty::Bearer(SecretDigest::of(&u.token)));
}

/// How many idle tenants one step of [`evict_idle`] removes in the
/// publisher's exclusive section, which is let go between steps so job
/// events and new jobs go on while a large crowd of tenants leaves.
pub const EVICTION_BATCH: usize = 1_000;

/// Removes every `--any-token` tenant idle for `--any-token-idle-ttl` at
/// `now`, with all it owns ([`crate::tenancy::forget_owned`]) and its
/// tokens; returns how many went. One scan of the tokens finds them and
/// their tokens, then each batch of [`EVICTION_BATCH`] costs one pass over
/// each shared map: linear in the tenants, where a reset per tenant costs
/// their square. The eviction sweep's, never a request's.
pub fn evict_idle(state: &Shared, now: Instant) -> usize {
    let ttl = state.settings.any_token_idle_ttl;
    let idle_at = |t: &Tenant| now >= t.activity.last_used(now).plus(ttl);
    let idle: Vec<Arc<Tenant>> = state
        .tokens
        .any_token_tenants()
        .into_iter()
        .filter(|t| idle_at(t))
        .collect();
    if idle.is_empty() {
        return 0;
    }
    let ids: HashSet<&TenantId> = idle.iter().map(|t| t.id()).collect();
    let mut tokens = state.tokens.bearers_where(|id| ids.contains(id));
    let mut gone = 0;
    for batch in idle.chunks(EVICTION_BATCH) {
        let section = state.publisher.exclusive();
        // Looked at again in the section: a request since the scan keeps it.
        let leaving: Vec<(&Arc<Tenant>, Vec<SecretDigest>)> = batch
            .iter()
            .filter(|t| idle_at(t))
            .map(|t| (t, tokens.remove(t.id()).unwrap_or_default()))
            .collect();
        let members: Vec<(&Tenant, &[SecretDigest])> = leaving.iter().map(|(t, d)| (&***t, d.as_slice())).collect();
        let mut ops = crate::tenancy::forget_owned(state, &members, &section);
        for (tenant, digests) in &leaving {
            for d in digests {
                state.tokens.remove_bearer_of(d, tenant);
                state.scenarios.set_for_digest(*d, None);
                ops.push(Op::Dirty(Dirty::Bearer(*d)));
            }
            state.store.remove_tenant(tenant.id());
        }
        ops.push(Op::CollectBlobs);
        state.durable.submit(ops, None);
        gone += leaving.len();
    }
    gone
}
