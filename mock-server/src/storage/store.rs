//! The in-memory store: tenants, identities and files in sharded maps, and
//! the gallery. Every tenant-scoped read checks the owner, and another
//! tenant's object reads exactly like a missing one; the gallery's
//! identities read the same for every tenant.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;

use crate::clock::Instant;
use crate::domain::identity::Identity;
use crate::domain::ids::{FileId, IdentityCode, TenantId};
use crate::remove_where::remove_where;
use crate::storage::records::{StoredFile, Tenant};

/// All stored objects.
#[derive(Debug, Default)]
pub struct Store {
    tenants: DashMap<TenantId, Arc<Tenant>>,
    identities: DashMap<IdentityCode, Arc<Identity>>,
    files: DashMap<FileId, StoredFile>,
    seq: AtomicU64,
    /// The gallery, in `gallery.json`'s order: fixture data that no request
    /// changes, so it is set once and a reset keeps it. A handful of
    /// identities: a scan finds one as fast as a map would.
    gallery: Vec<Arc<Identity>>,
}

/// Why an identity was not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityInsert {
    /// The account already holds an identity with the same image bytes.
    Duplicate(IdentityCode),
}

impl Store {
    /// An empty store with the gallery `gallery`.
    pub fn with_gallery(gallery: Vec<Identity>) -> Self {
        Self {
            gallery: gallery.into_iter().map(Arc::new).collect(),
            ..Self::default()
        }
    }

    /// Forgets everything but the gallery.
    pub fn clear(&self) {
        self.tenants.clear();
        self.identities.clear();
        self.files.clear();
        self.seq.store(0, Ordering::Relaxed);
    }

    /// The next number of the store-wide upload order.
    pub fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// The next upload-order number, without taking it (kept by `--data-dir`).
    pub fn peek_seq(&self) -> u64 {
        self.seq.load(Ordering::Relaxed)
    }

    /// Continues the upload order from `seq` (a restart on `--data-dir`).
    pub fn restore_seq(&self, seq: u64) {
        self.seq.store(seq, Ordering::Relaxed);
    }

    /// Registers a tenant.
    pub fn add_tenant(&self, t: Arc<Tenant>) {
        self.tenants.insert(t.id().clone(), t);
    }

    /// Forgets tenant `id` (its data is the caller's to remove first).
    pub fn remove_tenant(&self, id: &TenantId) {
        self.tenants.remove(id);
    }

    /// The tenant `id`.
    pub fn tenant(&self, id: &TenantId) -> Option<Arc<Tenant>> {
        self.tenants.get(id).map(|t| t.value().clone())
    }

    /// Every tenant.
    pub fn tenants(&self) -> Vec<Arc<Tenant>> {
        self.tenants.iter().map(|t| t.value().clone()).collect()
    }

    /// How many tenants exist.
    pub fn tenant_count(&self) -> usize {
        self.tenants.len()
    }

    /// Stores an identity unless the tenant already has one with the same
    /// image bytes (SHA-256), which is what counts as a duplicate.
    pub fn insert_identity(
        &self,
        tenant: &Tenant,
        digest: [u8; 32],
        identity: Identity,
    ) -> Result<Arc<Identity>, IdentityInsert> {
        let mut data = tenant.data.lock();
        if let Some(existing) = data.identity_digests.get(&digest) {
            return Err(IdentityInsert::Duplicate(existing.clone()));
        }
        data.identity_digests.insert(digest, identity.code.clone());
        let identity = Arc::new(identity);
        self.identities.insert(identity.code.clone(), identity.clone());
        Ok(identity)
    }

    /// The identity `code` as `tenant` sees it: one of its own uploads, or
    /// one of the gallery's.
    pub fn identity(&self, tenant: &TenantId, code: &IdentityCode) -> Option<Arc<Identity>> {
        self.identities
            .get(code)
            .filter(|i| &i.owner == tenant)
            .map(|i| i.value().clone())
            .or_else(|| self.gallery_identity(code))
    }

    /// Any tenant's identity, or the gallery's (for signed,
    /// unauthenticated image links, and jobs read back from `--data-dir`).
    pub fn identity_any(&self, code: &IdentityCode) -> Option<Arc<Identity>> {
        self.identities
            .get(code)
            .map(|i| i.value().clone())
            .or_else(|| self.gallery_identity(code))
    }

    fn gallery_identity(&self, code: &IdentityCode) -> Option<Arc<Identity>> {
        self.gallery.iter().find(|i| &i.code == code).cloned()
    }

    /// The gallery's identities, in `gallery.json`'s order.
    pub fn gallery(&self) -> &[Arc<Identity>] {
        &self.gallery
    }

    /// The tenant's own identities (not the gallery's), in no particular order.
    pub fn identities_of(&self, tenant: &TenantId) -> Vec<Arc<Identity>> {
        self.identities
            .iter()
            .filter(|i| &i.owner == tenant)
            .map(|i| i.value().clone())
            .collect()
    }

    /// Removes every identity and file of the tenants `owned` picks (a
    /// reset of those tenants, in one pass); returns what went.
    pub fn remove_owned(&self, owned: impl Fn(&TenantId) -> bool) -> (Vec<IdentityCode>, Vec<FileId>) {
        let identities = remove_where(&self.identities, |i| owned(&i.owner));
        let files = remove_where(&self.files, |f| owned(&f.owner));
        (identities, files)
    }

    /// Stores a file record.
    pub fn insert_file(&self, f: StoredFile) {
        self.files.insert(f.id.clone(), f);
    }

    /// The tenant's file `id`.
    pub fn file(&self, tenant: &TenantId, id: &FileId) -> Option<StoredFile> {
        self.files
            .get(id)
            .filter(|f| &f.owner == tenant)
            .map(|f| f.value().clone())
    }

    /// Any tenant's file (for pre-signed, unauthenticated URLs).
    pub fn file_any(&self, id: &FileId) -> Option<StoredFile> {
        self.files.get(id).map(|f| f.value().clone())
    }

    /// How many files are stored.
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// Removes every file for which `expired(its POST /upload time)` holds,
    /// bytes and all; returns how many. Jobs keep their own copy of their
    /// inputs, so none breaks.
    pub fn evict_files(&self, expired: impl FnMut(Instant) -> bool) -> usize {
        self.evict_files_ids(expired).len()
    }

    /// [`Store::evict_files`], naming what went (so `--data-dir` deletes it too).
    pub fn evict_files_ids(&self, mut expired: impl FnMut(Instant) -> bool) -> Vec<FileId> {
        remove_where(&self.files, |f| expired(f.created_at))
    }

    /// How many bytes of uploaded files memory holds (bytes left in the
    /// data dir count nothing).
    pub fn resident_file_bytes(&self) -> usize {
        self.files
            .iter()
            .filter_map(|f| f.blob.as_ref().map(|b| b.bytes.resident_len()))
            .sum()
    }

    /// Runs `f` on the stored file `id`, if it exists.
    pub fn update_file<R>(&self, id: &FileId, f: impl FnOnce(&mut StoredFile) -> R) -> Option<R> {
        self.files.get_mut(id).map(|mut e| f(e.value_mut()))
    }
}
