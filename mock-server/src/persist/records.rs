//! How each kept object is written: a serde record per table, encoded as
//! JSON (readable with any redb tool, and the fake already depends on
//! serde_json). Records are their own types rather than the in-memory ones:
//! those hold `Arc`s, locks, caches and `&'static str`s, and several already
//! serialise differently for the control API (times as RFC 3339 text). Here
//! every time is integer milliseconds, so nothing is rounded or clamped.
//!
//! Bytes (images) are never inside a record: a record names them by the hex
//! SHA-256 of the `blobs` table ([`digest`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::clock::Instant;
use crate::domain::ids::{FileId, IdentityCode, JobId, ProjectId, TenantId, TokenId};
use crate::domain::image_probe::ProbeError;
use crate::engine::job::Job;
use crate::engine::plan::FaultPlan;
use crate::engine::schedule::{Event, OutputSlot, Schedule, TimedEvent};
use crate::events::log::Notification;
use crate::events::webhook::{Attempt, Delivery, DeliveryStatus, Registration};
use crate::scenarios::{Scenario, WebhookFault};
use crate::storage::fixtures::SavedDesignValue;
use crate::storage::records::{Account, ApiTokenRecord, Blob, DownloadGrant, Identity, Project, StoredFile};
use crate::storage::tokens::{Grant, GrantKind};

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

fn ms(t: Instant) -> i64 {
    t.millis()
}

fn at(ms: i64) -> Instant {
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

/// An identity; its image is the blob `image`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityRecord {
    code: IdentityCode,
    /// Owner.
    pub owner: TenantId,
    name: String,
    tag: Option<String>,
    original_filename: String,
    content_type: String,
    /// Digest of the image bytes.
    pub image: String,
    width: u32,
    height: u32,
    face_detected: bool,
    created_at: i64,
    seq: u64,
}

impl IdentityRecord {
    /// The record of `i`, whose bytes are stored under `image`.
    pub fn new(i: &Identity, image: String) -> Self {
        Self {
            code: i.code.clone(),
            owner: i.owner.clone(),
            name: i.name.clone(),
            tag: i.tag.clone(),
            original_filename: i.original_filename.clone(),
            content_type: i.content_type.to_owned(),
            image,
            width: i.width,
            height: i.height,
            face_detected: i.face_detected,
            created_at: ms(i.created_at),
            seq: i.seq,
        }
    }

    /// The identity, with its image `bytes`.
    pub fn identity(self, bytes: Bytes) -> Identity {
        Identity {
            code: self.code,
            owner: self.owner,
            name: self.name,
            tag: self.tag,
            original_filename: self.original_filename,
            content_type: intern(&self.content_type),
            bytes,
            width: self.width,
            height: self.height,
            face_detected: self.face_detected,
            created_at: at(self.created_at),
            seq: self.seq,
            // Only uploads are kept: the gallery is fixture data.
            stock: None,
        }
    }
}

/// Bytes that arrived through a pre-signed PUT; they are the blob `bytes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRecord {
    /// Digest of the bytes.
    pub bytes: String,
    etag: String,
    uploaded_at: i64,
    /// Why a job cannot use the bytes. Absent in records of builds that
    /// refused such bytes at the PUT: every blob they kept is usable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unusable: Option<String>,
}

/// A file announced by `POST /upload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    id: FileId,
    owner: TenantId,
    filename: String,
    content_type: String,
    project: Option<(ProjectId, String)>,
    created_at: i64,
    upload_expires_at: i64,
    /// The bytes, once PUT.
    pub blob: Option<BlobRecord>,
}

impl FileRecord {
    /// The record of `f`, whose bytes (if any) are stored under `digest`.
    pub fn new(f: &StoredFile, digest: Option<String>) -> Self {
        Self {
            id: f.id.clone(),
            owner: f.owner.clone(),
            filename: f.filename.clone(),
            content_type: f.content_type.to_owned(),
            project: f.project.clone(),
            created_at: ms(f.created_at),
            upload_expires_at: ms(f.upload_expires_at),
            blob: f.blob.as_ref().zip(digest).map(|(b, d)| BlobRecord {
                bytes: d,
                etag: b.etag.clone(),
                uploaded_at: ms(b.uploaded_at),
                unusable: b.unusable.as_ref().map(|e| e.0.clone()),
            }),
        }
    }

    /// The file, with its `bytes` when they arrived.
    pub fn file(self, bytes: Option<Bytes>) -> StoredFile {
        StoredFile {
            id: self.id,
            owner: self.owner,
            filename: self.filename,
            content_type: intern(&self.content_type),
            project: self.project,
            created_at: at(self.created_at),
            upload_expires_at: at(self.upload_expires_at),
            blob: self.blob.zip(bytes).map(|(b, bytes)| Blob {
                bytes,
                etag: b.etag,
                uploaded_at: at(b.uploaded_at),
                unusable: b.unusable.map(ProbeError),
            }),
        }
    }
}

/// One input of a job; its bytes are the blob `bytes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRecord {
    /// The file.
    pub file_id: FileId,
    /// Its upload name.
    pub filename: String,
    /// Its note.
    pub note: Option<String>,
    /// Digest of its bytes.
    pub bytes: String,
}

/// What a job was made from: enough to build it again. The request is kept
/// as the JSON body it came as and parsed again on load (the parser is
/// pure: the same body and account give the same request).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// `job_…`.
    pub id: JobId,
    /// Owner.
    pub owner: TenantId,
    /// Creation order.
    pub seq: u64,
    created_at: i64,
    /// The request body as received.
    pub source: Value,
    /// The model.
    pub identity: IdentityCode,
    project: ProjectRecord,
    /// The inputs, in request order.
    pub inputs: Vec<InputRecord>,
    /// The fault plan.
    pub plan: FaultPlan,
    /// The scenario it was created under.
    pub scenario: Option<Scenario>,
}

impl JobRecord {
    /// The record of `job`, created from `source`, whose inputs are stored
    /// under `digests` (in order).
    pub fn new(job: &Job, source: Value, digests: Vec<String>) -> Self {
        Self {
            id: job.id.clone(),
            owner: job.owner.clone(),
            seq: job.seq,
            created_at: ms(job.created_at),
            source,
            identity: job.identity.code.clone(),
            project: ProjectRecord::new(&job.owner, &job.project),
            inputs: job
                .inputs
                .iter()
                .zip(digests)
                .map(|(i, d)| InputRecord {
                    file_id: i.file_id.clone(),
                    filename: i.filename.clone(),
                    note: i.note.clone(),
                    bytes: d,
                })
                .collect(),
            plan: job.plan.clone(),
            scenario: job.scenario.as_deref().cloned(),
        }
    }

    /// Creation time.
    pub fn created_at(&self) -> Instant {
        at(self.created_at)
    }

    /// The project.
    pub fn project(&self) -> Project {
        self.project.clone().project()
    }
}

/// One scheduled event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TimedRecord {
    at: i64,
    event: Event,
}

/// A job's schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleRecord {
    events: Vec<TimedRecord>,
    outputs: Vec<OutputSlot>,
}

impl From<&Schedule> for ScheduleRecord {
    fn from(s: &Schedule) -> Self {
        Self {
            events: s
                .events
                .iter()
                .map(|e| TimedRecord {
                    at: ms(e.at),
                    event: e.event.clone(),
                })
                .collect(),
            outputs: s.outputs.clone(),
        }
    }
}

impl From<ScheduleRecord> for Schedule {
    fn from(r: ScheduleRecord) -> Self {
        Self {
            events: r
                .events
                .into_iter()
                .map(|e| TimedEvent {
                    at: at(e.at),
                    event: e.event,
                })
                .collect(),
            outputs: r.outputs,
        }
    }
}

/// A notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationRecord {
    id: u64,
    /// Owner.
    pub owner: TenantId,
    name: String,
    timestamp: f64,
    data: Value,
    at: i64,
    published: i64,
}

impl From<&Notification> for NotificationRecord {
    fn from(n: &Notification) -> Self {
        Self {
            id: n.id,
            owner: n.owner.clone(),
            name: n.name.to_owned(),
            timestamp: n.timestamp,
            data: n.data.clone(),
            at: ms(n.at),
            published: ms(n.published),
        }
    }
}

impl From<NotificationRecord> for Notification {
    fn from(r: NotificationRecord) -> Self {
        Self {
            id: r.id,
            name: intern(&r.name),
            timestamp: r.timestamp,
            data: r.data,
            owner: r.owner,
            at: at(r.at),
            published: at(r.published),
            wire_text: std::sync::OnceLock::new(),
        }
    }
}

/// A webhook registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationRecord {
    id: String,
    url: String,
    secret: String,
    is_active: bool,
    created_at: i64,
    updated_at: i64,
    last_response_status: Option<u16>,
    last_response_at: Option<i64>,
}

impl From<&Registration> for RegistrationRecord {
    fn from(r: &Registration) -> Self {
        Self {
            id: r.id.clone(),
            url: r.url.clone(),
            secret: r.secret.clone(),
            is_active: r.is_active,
            created_at: ms(r.created_at),
            updated_at: ms(r.updated_at),
            last_response_status: r.last_response_status,
            last_response_at: r.last_response_at.map(ms),
        }
    }
}

impl From<RegistrationRecord> for Registration {
    fn from(r: RegistrationRecord) -> Self {
        Self {
            id: r.id,
            url: r.url,
            secret: r.secret,
            is_active: r.is_active,
            created_at: at(r.created_at),
            updated_at: at(r.updated_at),
            last_response_status: r.last_response_status,
            last_response_at: r.last_response_at.map(at),
        }
    }
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct AttemptRecord {
    at: i64,
    status_code: Option<u16>,
    latency_ms: u64,
    error: Option<String>,
}

/// A webhook delivery and its attempts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    id: u64,
    account: TenantId,
    url: String,
    event: String,
    notification_id: u64,
    key: String,
    /// The exact body (JSON text).
    body: String,
    status: DeliveryStatus,
    attempts: Vec<AttemptRecord>,
    next_attempt_at: Option<i64>,
    created_at: i64,
    fault: Option<WebhookFault>,
}

impl From<&Delivery> for DeliveryRecord {
    fn from(d: &Delivery) -> Self {
        Self {
            id: d.id,
            account: d.account.clone(),
            url: d.url.clone(),
            event: d.event.to_owned(),
            notification_id: d.notification_id,
            key: d.key.clone(),
            body: String::from_utf8_lossy(&d.body).into_owned(),
            status: d.status,
            attempts: d
                .attempts
                .iter()
                .map(|a| AttemptRecord {
                    at: ms(a.at),
                    status_code: a.status_code,
                    latency_ms: a.latency_ms,
                    error: a.error.clone(),
                })
                .collect(),
            next_attempt_at: d.next_attempt_at.map(ms),
            created_at: ms(d.created_at),
            fault: d.fault.clone(),
        }
    }
}

impl DeliveryRecord {
    /// The delivery as the book holds it. One that was on the wire when
    /// the process ended is pending again, due at `now` (its attempt's
    /// outcome was never recorded): the receiver may see it twice, which
    /// `X-Webhook-Delivery` lets it notice.
    pub fn delivery(self, now: Instant) -> Delivery {
        let in_flight = self.status == DeliveryStatus::InFlight;
        Delivery {
            id: self.id,
            account: self.account,
            url: self.url,
            event: intern(&self.event),
            notification_id: self.notification_id,
            key: self.key,
            body: Bytes::from(self.body),
            status: if in_flight {
                DeliveryStatus::Pending
            } else {
                self.status
            },
            attempts: self
                .attempts
                .into_iter()
                .map(|a| Attempt {
                    at: at(a.at),
                    status_code: a.status_code,
                    latency_ms: a.latency_ms,
                    error: a.error,
                })
                .collect(),
            next_attempt_at: if in_flight {
                Some(now)
            } else {
                self.next_attempt_at.map(at)
            },
            created_at: at(self.created_at),
            fault: self.fault,
        }
    }
}

/// A ZIP download link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadRecord {
    owner: TenantId,
    jobs: Vec<JobId>,
    expires_at: i64,
}

impl From<&DownloadGrant> for DownloadRecord {
    fn from(g: &DownloadGrant) -> Self {
        Self {
            owner: g.owner.clone(),
            jobs: g.jobs.clone(),
            expires_at: ms(g.expires_at),
        }
    }
}

impl From<DownloadRecord> for DownloadGrant {
    fn from(r: DownloadRecord) -> Self {
        Self {
            owner: r.owner,
            jobs: r.jobs,
            expires_at: at(r.expires_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::schedule::{Engine, Outcome};
    use crate::storage::records::Tenant;

    /// `value` written and read back.
    fn round_trip<T: Serialize + DeserializeOwned>(value: &T) -> T {
        decode(&encode(value), "test").expect("decodes")
    }

    fn t(ms: i64) -> Instant {
        Instant::from_millis(ms)
    }

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

    #[test]
    fn identities_and_files_round_trip_with_their_bytes_by_digest() {
        let bytes = Bytes::from_static(b"\x89PNG fake");
        let i = Identity {
            code: IdentityCode::from_client("id_1"),
            owner: TenantId::from_client("acct_1"),
            name: "Model".into(),
            tag: Some("t".into()),
            original_filename: "m.png".into(),
            content_type: "image/png",
            bytes: bytes.clone(),
            width: 3,
            height: 4,
            face_detected: true,
            created_at: t(10),
            seq: 2,
            stock: None,
        };
        let rec = round_trip(&IdentityRecord::new(&i, digest(&i.bytes)));
        assert_eq!(rec.image, digest(&bytes));
        let back = rec.identity(bytes.clone());
        assert_eq!(
            (back.code, back.content_type, back.bytes, back.seq, back.created_at),
            (i.code, "image/png", bytes.clone(), 2, t(10))
        );
        let f = StoredFile {
            id: FileId::from_client("sku_1"),
            owner: TenantId::from_client("acct_1"),
            filename: "a.png".into(),
            content_type: "image/png",
            project: Some((ProjectId::from_client("p"), "shoes".into())),
            created_at: t(1),
            upload_expires_at: t(2),
            blob: Some(Blob {
                bytes: bytes.clone(),
                etag: "\"e\"".into(),
                uploaded_at: t(3),
                unusable: Some(ProbeError("not a decodable JPEG, PNG or WebP image: text".into())),
            }),
        };
        let rec = round_trip(&FileRecord::new(&f, Some(digest(&bytes))));
        let back = rec.clone().file(Some(bytes.clone()));
        let blob = back.blob.as_ref().expect("bytes");
        assert_eq!(
            (blob.bytes.clone(), blob.etag.as_str(), blob.uploaded_at, &blob.unusable),
            (bytes.clone(), "\"e\"", t(3), &f.blob.as_ref().expect("bytes").unusable)
        );
        // A record written before the probe's verdict was kept: its bytes
        // passed the PUT's image check then, so they are usable.
        let mut older: Value = serde_json::from_slice(&encode(&rec)).expect("json");
        older["blob"].as_object_mut().expect("blob").remove("unusable");
        let older: FileRecord = decode(&encode(&older), "file").expect("an older record reads");
        assert_eq!(older.file(Some(bytes.clone())).blob.expect("bytes").unusable, None);
        assert_eq!((back.project, back.upload_expires_at), (f.project.clone(), t(2)));
        let announced = StoredFile { blob: None, ..f };
        assert!(round_trip(&FileRecord::new(&announced, None)).file(None).blob.is_none());
    }

    #[test]
    fn schedules_round_trip_exactly() {
        let s = Schedule {
            events: vec![
                TimedEvent {
                    at: t(50),
                    event: Event::Created,
                },
                TimedEvent {
                    at: t(100),
                    event: Event::ProcessingStarted,
                },
                TimedEvent {
                    at: t(200),
                    event: Event::OutputFinished {
                        output: 0,
                        outcome: Outcome::Completed {
                            model: Engine::Seedream,
                            fell_back: true,
                        },
                    },
                },
                TimedEvent {
                    at: t(300),
                    event: Event::PostProcessingFinished {
                        error: Some("boom".into()),
                    },
                },
                TimedEvent {
                    at: t(400),
                    event: Event::JobAborted {
                        message: "cancelled".into(),
                    },
                },
            ],
            outputs: vec![OutputSlot {
                instruction: 1,
                variation: 2,
                width: 768,
                height: 1024,
                // A float whose shortest text form is long: it must come back
                // bit for bit (results show it).
                quality_score: 0.1 + 0.7,
                style_key: u64::MAX - 3,
            }],
        };
        let back: Schedule = round_trip(&ScheduleRecord::from(&s)).into();
        assert_eq!(back, s);
        assert_eq!(back.outputs[0].quality_score.to_bits(), (0.1f64 + 0.7).to_bits());
    }

    #[test]
    fn notifications_and_deliveries_round_trip_and_one_in_flight_is_due_again() {
        let n = Notification {
            id: 42,
            name: "batch_edit",
            timestamp: 1_767_225_600.123,
            data: serde_json::json!({ "id_task": "job_1", "progress": 33.3 }),
            owner: TenantId::from_client("acct_1"),
            at: t(1_767_225_600_123),
            published: t(1_767_225_700_000),
            wire_text: std::sync::OnceLock::new(),
        };
        let back: Notification = round_trip(&NotificationRecord::from(&n)).into();
        assert_eq!(back, n);
        assert_eq!(back.wire_json(), n.wire_json(), "the same bytes on the wire");
        let d = Delivery {
            id: 7,
            account: TenantId::from_client("acct_1"),
            url: "http://127.0.0.1:1/hook".into(),
            event: "batch_edit",
            notification_id: 42,
            key: "job_1".into(),
            body: Bytes::from(n.wire_json().as_bytes().to_vec()),
            status: DeliveryStatus::InFlight,
            attempts: vec![Attempt {
                at: t(5),
                status_code: Some(503),
                latency_ms: 3,
                error: Some("HTTP 503".into()),
            }],
            next_attempt_at: None,
            created_at: t(4),
            fault: Some(WebhookFault {
                fail_attempts: 3,
                mode: crate::scenarios::WebhookFaultMode::Timeout,
                status: 503,
            }),
        };
        let now = t(99);
        let back = round_trip(&DeliveryRecord::from(&d)).delivery(now);
        assert_eq!(
            back.status,
            DeliveryStatus::Pending,
            "in flight at the crash: due again"
        );
        assert_eq!(back.next_attempt_at, Some(now));
        assert_eq!(
            (back.body, back.attempts, back.fault),
            (d.body.clone(), d.attempts.clone(), d.fault.clone())
        );
        let done = Delivery {
            status: DeliveryStatus::Delivered,
            ..d
        };
        let back = round_trip(&DeliveryRecord::from(&done)).delivery(now);
        assert_eq!((back.status, back.next_attempt_at), (DeliveryStatus::Delivered, None));
        let reg = Registration {
            id: "wh_1".into(),
            url: "http://x/hook".into(),
            secret: "whsec_1".into(),
            is_active: true,
            created_at: t(1),
            updated_at: t(2),
            last_response_status: Some(204),
            last_response_at: Some(t(3)),
        };
        let back: Registration = round_trip(&RegistrationRecord::from(&reg)).into();
        assert_eq!(RegistrationRecord::from(&back), RegistrationRecord::from(&reg));
    }

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
