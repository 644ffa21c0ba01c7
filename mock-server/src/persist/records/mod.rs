//! How each kept object is written: a serde record per table, encoded as
//! JSON (readable with any redb tool, and the fake already depends on
//! serde_json). Records are their own types rather than the in-memory ones:
//! those hold `Arc`s, locks, caches and `&'static str`s, and several already
//! serialise differently for the control API (times as RFC 3339 text). Here
//! every time is integer milliseconds, so nothing is rounded or clamped.
//!
//! Bytes (images) are never inside a record: a record names them by the hex
//! SHA-256 of the `blobs` table ([`digest`]).
//!
//! One module per kind of record: `accounts`, `files`, `jobs`,
//! `events`, `downloads`; the shared encoding is here.

mod accounts;
mod downloads;
mod events;
mod files;
mod jobs;

use std::collections::BTreeSet;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::Instant;

pub use accounts::{AccountRecord, ApiTokenEntry, GrantRecord, ProjectRecord};
pub use downloads::DownloadRecord;
pub use events::{DeliveryRecord, NotificationRecord, RegistrationRecord};
pub use files::{BlobRecord, FileRecord, IdentityRecord};
pub use jobs::{InputRecord, JobRecord, ScheduleRecord};

/// A record that could not be read back.
#[derive(Debug)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A record as stored.
pub fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    // Records hold strings, numbers, maps with string keys: serialising
    // them to JSON cannot fail.
    serde_json::to_vec(record).unwrap_or_default()
}

/// A stored record read back; `what` names it in the error.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, DecodeError> {
    serde_json::from_slice(bytes).map_err(|e| DecodeError(format!("{what}: {e}")))
}

/// The key of bytes in the `blobs` table: their hex SHA-256.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The one `&'static str` for a name read back (content types, notification
/// and event names, which the in-memory types hold as `&'static str`). The
/// few distinct values are made once each and kept.
pub fn intern(s: &str) -> &'static str {
    static NAMES: parking_lot::Mutex<BTreeSet<&'static str>> = parking_lot::Mutex::new(BTreeSet::new());
    let mut names = NAMES.lock();
    if let Some(known) = names.get(s) {
        return known;
    }
    let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

pub(super) fn ms(t: Instant) -> i64 {
    t.millis()
}

pub(super) fn at(ms: i64) -> Instant {
    Instant::from_millis(ms)
}

/// `meta/identity`: what the data dir was written by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaRecord {
    /// [`super::tables::FORMAT_VERSION`].
    pub format: u32,
    /// `--seed`.
    pub seed: u64,
}

/// `meta/counters`: every counter that hands out IDs or orders things, and
/// the clock, as of the last commit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// IDs and secrets handed out since the last reset.
    pub ids: u64,
    /// Resets so far (tokens, secrets and signing keys depend on it).
    pub epoch: u64,
    /// The last notification id.
    pub notifications: u64,
    /// The next upload-order number.
    pub uploads: u64,
    /// The next job creation-order number.
    pub jobs: u64,
    /// The last webhook delivery id.
    pub deliveries: u64,
    /// The clock, in ms since the epoch.
    pub clock_ms: i64,
}

/// `value` written and read back.
#[cfg(test)]
fn round_trip<T: Serialize + DeserializeOwned>(value: &T) -> T {
    decode(&encode(value), "test").expect("decodes")
}

/// The instant `ms` milliseconds after the epoch.
#[cfg(test)]
fn t(ms: i64) -> Instant {
    Instant::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::JobId;
    use crate::domain::ids::TenantId;
    use crate::storage::records::DownloadGrant;

    #[test]
    fn counters_download_links_and_meta_round_trip() {
        let c = Counters {
            ids: 1,
            epoch: 2,
            notifications: 3,
            uploads: 4,
            jobs: 5,
            deliveries: 6,
            clock_ms: -7,
        };
        assert_eq!(round_trip(&c), c);
        let g = DownloadGrant {
            owner: TenantId::from_client("acct_1"),
            jobs: vec![JobId::from_client("job_1"), JobId::from_client("job_2")],
            expires_at: t(9),
        };
        let back: DownloadGrant = round_trip(&DownloadRecord::from(&g)).into();
        assert_eq!(
            (back.owner, back.jobs, back.expires_at),
            (g.owner, g.jobs, g.expires_at)
        );
        let m = MetaRecord { format: 1, seed: 9 };
        assert_eq!(round_trip(&m), m);
        assert!(
            decode::<MetaRecord>(b"{\"format\":1}", "meta").is_err(),
            "a missing field is an error"
        );
    }

    #[test]
    fn names_read_back_are_interned_once() {
        let a = intern(&String::from("image/webp"));
        let b = intern("image/webp");
        assert!(std::ptr::eq(a, b));
    }
}
