//! One tenant at a time, for a fake shared by parallel CI jobs: a fresh
//! tenant with its own token, its own settings (job rate limit, scenario),
//! and a reset that forgets its data, journal entries, scenario choice and
//! settings while every other tenant goes on untouched.

use std::collections::HashSet;
use std::sync::Arc;

use crate::domain::account::Account;
use crate::domain::ids::TenantId;
use crate::domain::secret::SecretDigest;
use crate::durable::{Dirty, Op};
use crate::events::publisher::Section;
use crate::remove_where::remove_where;
use crate::state::{AppState, Shared};
use crate::storage::records::{Tenant, TenantData, TenantSettings};
use crate::storage::tokens::{Grant, GrantKind};

/// Prefix of the tokens of tenants made by [`create`].
pub const TOKEN_PREFIX: &str = "f2m_t_";

/// A fresh tenant (no login, default policies, as `--any-token` makes) with
/// a static token and `settings`; returns the token and the tenant.
pub fn create(state: &AppState, settings: TenantSettings) -> (String, Arc<Tenant>) {
    let tenant = Arc::new(Tenant::new(Account::anonymous(state.ids.next())));
    let token = state.ids.secret(TOKEN_PREFIX);
    state.store.add_tenant(tenant.clone());
    state.tokens.add_bearer(
        &token,
        Grant {
            tenant: tenant.clone(),
            kind: GrantKind::Static,
            expires_at: None,
        },
    );
    state.mark(Dirty::Bearer(SecretDigest::of(&token)));
    apply(state, &tenant, settings);
    (token, tenant)
}

/// Sets `tenant`'s settings: its scenario becomes the choice of each of
/// its tokens (a token made later, by a login, has none of its own).
pub fn apply(state: &AppState, tenant: &Tenant, settings: TenantSettings) {
    for digest in state.tokens.bearers_of(tenant.id()) {
        state.scenarios.set_for_digest(digest, settings.scenario.clone());
    }
    tenant.data.lock().settings = settings;
    state.mark(Dirty::Tenant(tenant.id().clone()));
}

/// The callers of `tenant` as the journal names them ([`SecretDigest::caller_id`]).
pub fn callers(state: &AppState, tenant: &Tenant) -> HashSet<String> {
    state
        .tokens
        .bearers_of(tenant.id())
        .iter()
        .map(SecretDigest::caller_id)
        .collect()
}

/// Forgets everything `tenant` made — projects, identities, files, jobs
/// (running ones too), notifications, its webhook and deliveries, ZIP
/// links — with its journal entries, call counts, scenario choice and
/// settings. Its account, tokens and login stay, so the caller's token
/// works on (a fixture account gets its fixture scenario back). Nothing
/// of another tenant is touched. A request of this tenant still in flight
/// may land after the reset.
pub fn reset(state: &Shared, tenant: &Tenant) {
    let digests = state.tokens.bearers_of(tenant.id());
    let fixture_scenario = tenant.account.email.as_deref().and_then(|email| {
        state
            .fixtures
            .accounts
            .iter()
            .find(|f| f.email.eq_ignore_ascii_case(email))
            .and_then(|f| f.scenario.clone())
    });
    // In the publisher's section, as a sweep: no notification of a job
    // removed here is published after its removal is queued.
    let section = state.publisher.exclusive();
    let mut ops = forget_owned(state, &[(tenant, digests.as_slice())], &section);
    for d in &digests {
        state.scenarios.set_for_digest(*d, fixture_scenario.clone());
    }
    ops.push(Op::CollectBlobs);
    state.durable.submit(ops, None);
}

/// What [`reset`] forgets, for a batch of tenants each with the digests of
/// its bearer tokens, in one pass over each shared map whatever the size
/// of the batch; returns what `--data-dir` is to delete. Scenario choices
/// and the tenants' own records are the caller's. In the publisher's
/// `_section`, which the caller holds until it has submitted the ops.
pub fn forget_owned(state: &Shared, batch: &[(&Tenant, &[SecretDigest])], _section: &Section<'_>) -> Vec<Op> {
    let owners: HashSet<&TenantId> = batch.iter().map(|(t, _)| t.id()).collect();
    let owned = |id: &TenantId| owners.contains(id);
    let digests: HashSet<SecretDigest> = batch.iter().flat_map(|(_, d)| d.iter().copied()).collect();
    let callers: HashSet<String> = digests.iter().map(SecretDigest::caller_id).collect();
    let jobs = state.engine.remove_owned(owned);
    let (identities, files) = state.store.remove_owned(owned);
    let deliveries = state.webhooks.forget_accounts(owned);
    let links = remove_where(&state.downloads, |g| owned(&g.owner));
    state.journal.forget_callers(&callers);
    state.call_counters.forget(&digests);

    let mut ops: Vec<Op> = Vec::new();
    ops.extend(jobs.into_iter().map(Op::JobGone));
    for (tenant, _) in batch {
        let id = tenant.id();
        ops.extend(tenant.log.evict_ids(|_| true).into_iter().map(Op::NotificationGone));
        let projects = {
            let mut data = tenant.data.lock();
            let kept = TenantData {
                api_tokens: std::mem::take(&mut data.api_tokens),
                ..TenantData::default()
            };
            std::mem::replace(&mut *data, kept).projects.len()
        };
        ops.extend((0..projects).map(|p| Op::Dirty(Dirty::Project(id.clone(), p))));
        ops.push(Op::Dirty(Dirty::Registration(id.clone())));
        ops.push(Op::Dirty(Dirty::Tenant(id.clone())));
    }
    ops.extend(identities.into_iter().map(|c| Op::Dirty(Dirty::Identity(c))));
    ops.extend(files.into_iter().map(|f| Op::Dirty(Dirty::File(f))));
    ops.extend(deliveries.into_iter().map(|d| Op::Dirty(Dirty::Delivery(d))));
    ops.extend(links.into_iter().map(|l| Op::Dirty(Dirty::Download(l))));
    ops
}
