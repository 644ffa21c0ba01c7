//! The tables of the `--data-dir` database and how their keys are made.
//! Every table maps a text key to a serde_json record ([`super::records`]),
//! except `blobs` (raw bytes keyed by their SHA-256) and `meta`.
//!
//! Keys that must come back in order are zero-padded numbers: notification
//! and delivery ids (20 digits), a project's or API token's position in its
//! account (`{tenant}/{position:010}`).

use redb::TableDefinition;

use crate::domain::ids::TenantId;

/// The version of the record layout. A data dir written by another version
/// is refused at start, never half-read.
///
/// 2: a kept request body reads differently (an instruction without `ar` is
/// 1:1, no longer 3:4; a top-level `use_alternative_method` counts), so a
/// job kept by version 1 would come back with other images than its
/// schedule and results describe.
///
/// 3: tokens are keyed by their SHA-256, never kept raw; a format-2 data
/// dir is upgraded in place at start ([`super::migrate`]).
pub const FORMAT_VERSION: u32 = 3;

/// The database file inside `--data-dir`.
pub const FILE_NAME: &str = "flat2model.redb";

/// A table of text keys and byte values.
pub type Table = TableDefinition<'static, &'static str, &'static [u8]>;

/// `format`, `seed` (checked at start) and `counters` (written by every commit).
pub const META: Table = TableDefinition::new("meta");
/// Tenant id → account.
pub const TENANTS: Table = TableDefinition::new("tenants");
/// Bearer token's SHA-256 (hex) → grant: the token itself is never stored.
pub const BEARER: Table = TableDefinition::new("bearer_tokens");
/// Refresh token's SHA-256 (hex) → grant.
pub const REFRESH: Table = TableDefinition::new("refresh_tokens");
/// `{tenant}/{position}` → project.
pub const PROJECTS: Table = TableDefinition::new("projects");
/// `{tenant}/{position}` → long-lived API token record.
pub const API_TOKENS: Table = TableDefinition::new("api_tokens");
/// Identity code → identity (its image in `blobs`).
pub const IDENTITIES: Table = TableDefinition::new("identities");
/// File id → file (its bytes, once PUT, in `blobs`).
pub const FILES: Table = TableDefinition::new("files");
/// Job id → what the job was made from (request body, inputs, plan, scenario).
pub const JOBS: Table = TableDefinition::new("jobs");
/// Job id → its schedule (as built, or as the control API changed it).
pub const JOB_SCHEDULES: Table = TableDefinition::new("job_schedules");
/// Job id → how many of its events are applied and announced.
pub const JOB_APPLIED: Table = TableDefinition::new("job_applied");
/// Job id → the digests of the blobs it holds (to collect unused blobs cheaply).
pub const JOB_BLOBS: Table = TableDefinition::new("job_blobs");
/// Notification id → notification.
pub const NOTIFICATIONS: Table = TableDefinition::new("notifications");
/// Tenant id → webhook registration.
pub const WEBHOOKS: Table = TableDefinition::new("webhooks");
/// Delivery id → webhook delivery with its attempts.
pub const DELIVERIES: Table = TableDefinition::new("webhook_deliveries");
/// ZIP link token → what it grants.
pub const DOWNLOADS: Table = TableDefinition::new("download_links");
/// Hex SHA-256 → bytes (identity images, uploaded files, job inputs), stored
/// once however many records name them.
pub const BLOBS: Table = TableDefinition::new("blobs");

/// Every table but `meta`: what a reset empties.
pub const DATA_TABLES: [Table; 16] = [
    TENANTS,
    BEARER,
    REFRESH,
    PROJECTS,
    API_TOKENS,
    IDENTITIES,
    FILES,
    JOBS,
    JOB_SCHEDULES,
    JOB_APPLIED,
    JOB_BLOBS,
    NOTIFICATIONS,
    WEBHOOKS,
    DELIVERIES,
    DOWNLOADS,
    BLOBS,
];

/// The key of a numbered record (notification, delivery): sorts numerically.
pub fn number_key(n: u64) -> String {
    format!("{n:020}")
}

/// The key of an account's `position`-th project or API token: sorts by
/// account, then position.
pub fn position_key(tenant: &TenantId, position: usize) -> String {
    format!("{tenant}/{position:010}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_like_the_numbers_they_hold() {
        assert!(number_key(9) < number_key(10));
        assert!(number_key(99_999) < number_key(100_000));
        let t = TenantId::from_client("acct_1");
        assert!(position_key(&t, 9) < position_key(&t, 10));
    }
}
