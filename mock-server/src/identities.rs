//! An account's identity upload once its form is read and its image
//! probed: the identity made by the domain's rules, kept unless the account
//! already holds the same image, and announced. The handler only parses
//! and answers; this is what an upload does.

use std::sync::Arc;

use serde_json::json;

use crate::domain::identity::{Identity, Upload};
use crate::durable::Dirty;
use crate::publish;
use crate::scenarios::WebhookFault;
use crate::state::AppState;
use crate::storage::records::Tenant;
use crate::storage::store::IdentityInsert;

/// Adds `tenant`'s identity made by `upload`, and publishes its
/// `identity_preprocessing` notification (its webhook under `fault`, the
/// caller's scenario). A duplicate (the same image bytes,
/// [`Identity::image_digest`]) takes its code and sequence number but is
/// not kept.
pub fn upload(
    state: &AppState,
    tenant: &Tenant,
    upload: Upload,
    fault: Option<WebhookFault>,
) -> Result<Arc<Identity>, IdentityInsert> {
    let identity = Identity::uploaded(
        state.ids.next(),
        tenant.id().clone(),
        upload,
        state.now(),
        state.store.next_seq(),
    );
    let stored = state.store.insert_identity(tenant, identity.image_digest(), identity)?;
    state.mark(Dirty::Identity(stored.code.clone()));
    publish::publish(
        state,
        tenant.id(),
        "identity_preprocessing",
        json!({ "identity_code": stored.code, "preprocessing_status": "completed", "error_message": null }),
        stored.created_at,
        fault,
    );
    Ok(stored)
}
