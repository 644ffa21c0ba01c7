//! The bytes a client uploaded (a file's PUT, an identity image, and the
//! copies a job keeps of its inputs): held in memory, or left where a
//! `--data-dir` store keeps them and read each time they are asked for.
//!
//! Why: a restart on a data dir would otherwise load every byte ever
//! uploaded into memory (hundreds of MB at a few thousand files) although
//! most are never read again. After a restart the store hands out
//! [`BlobBytes::stored`] handles (a digest and the [`BlobSource`] to read it
//! from), so memory holds only what describes the bytes. What arrives while
//! running stays in memory, as it always did.
//!
//! The source is a trait so this module, at the foundation, names no store:
//! `persist` implements it.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

/// Where stored bytes are read from (the `--data-dir` database).
pub trait BlobSource: Send + Sync + fmt::Debug {
    /// The bytes stored under `digest` (hex SHA-256), `Ok(None)` when none
    /// are. Blocking: called off the async runtime.
    fn read(&self, digest: &str) -> Result<Option<Bytes>, String>;
}

/// Bytes that could not be read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobError(pub String);

impl fmt::Display for BlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BlobError {}

/// Uploaded bytes, in memory or in the store (see the module doc). Cloning
/// is cheap either way.
#[derive(Clone)]
pub struct BlobBytes(Repr);

#[derive(Clone)]
enum Repr {
    Resident(Bytes),
    Stored {
        digest: Arc<str>,
        source: Arc<dyn BlobSource>,
    },
}

impl fmt::Debug for BlobBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Resident(b) => write!(f, "BlobBytes::Resident({} bytes)", b.len()),
            Repr::Stored { digest, .. } => write!(f, "BlobBytes::Stored({digest})"),
        }
    }
}

impl From<Bytes> for BlobBytes {
    fn from(b: Bytes) -> Self {
        Self(Repr::Resident(b))
    }
}

impl BlobBytes {
    /// Bytes held in memory.
    pub fn resident(b: Bytes) -> Self {
        Self(Repr::Resident(b))
    }

    /// Bytes `source` holds under `digest` (hex SHA-256), read when asked for.
    pub fn stored(digest: &str, source: Arc<dyn BlobSource>) -> Self {
        Self(Repr::Stored {
            digest: Arc::from(digest),
            source,
        })
    }

    /// The bytes when they are in memory.
    pub fn in_memory(&self) -> Option<&Bytes> {
        match &self.0 {
            Repr::Resident(b) => Some(b),
            Repr::Stored { .. } => None,
        }
    }

    /// The digest they are stored under, when they are not in memory.
    pub fn stored_digest(&self) -> Option<&str> {
        match &self.0 {
            Repr::Resident(_) => None,
            Repr::Stored { digest, .. } => Some(digest),
        }
    }

    /// The SHA-256 of the bytes: computed for bytes in memory, read off the
    /// digest stored bytes are kept under (a hex SHA-256); `None` only for a
    /// malformed digest.
    pub fn sha256(&self) -> Option<[u8; 32]> {
        use sha2::Digest as _;
        match &self.0 {
            Repr::Resident(b) => Some(sha2::Sha256::digest(b).into()),
            Repr::Stored { digest, .. } => hex::decode(digest.as_bytes()).ok()?.try_into().ok(),
        }
    }

    /// How many bytes this holds in memory (0 for stored ones).
    pub fn resident_len(&self) -> usize {
        self.in_memory().map_or(0, Bytes::len)
    }

    /// The bytes; reads the store for stored ones, so this blocks: on the
    /// async runtime use [`BlobBytes::load`].
    pub fn read(&self) -> Result<Bytes, BlobError> {
        match &self.0 {
            Repr::Resident(b) => Ok(b.clone()),
            Repr::Stored { digest, source } => match source.read(digest) {
                Ok(Some(b)) => Ok(b),
                Ok(None) => Err(BlobError(format!("the stored bytes {digest} are missing"))),
                Err(e) => Err(BlobError(format!("the stored bytes {digest} cannot be read: {e}"))),
            },
        }
    }

    /// The bytes, read off the async runtime when they are stored.
    pub async fn load(&self) -> Result<Bytes, BlobError> {
        if let Some(b) = self.in_memory() {
            return Ok(b.clone());
        }
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.read())
            .await
            .map_err(|e| BlobError(format!("the read task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct One(&'static [u8]);

    impl BlobSource for One {
        fn read(&self, digest: &str) -> Result<Option<Bytes>, String> {
            Ok((digest == "d").then(|| Bytes::from_static(self.0)))
        }
    }

    #[tokio::test]
    async fn stored_bytes_are_read_from_their_source_and_hold_nothing_in_memory() {
        let source: Arc<dyn BlobSource> = Arc::new(One(b"abc"));
        let b = BlobBytes::stored("d", source.clone());
        assert_eq!(b.resident_len(), 0);
        assert_eq!(b.stored_digest(), Some("d"));
        assert_eq!(b.load().await.as_deref(), Ok(&b"abc"[..]));
        let missing = BlobBytes::stored("e", source).read().expect_err("no bytes under e");
        assert!(missing.0.contains("missing"), "{missing}");
        let r = BlobBytes::resident(Bytes::from_static(b"xy"));
        assert_eq!((r.resident_len(), r.stored_digest()), (2, None));
        assert_eq!(r.load().await.as_deref(), Ok(&b"xy"[..]));
    }
}
