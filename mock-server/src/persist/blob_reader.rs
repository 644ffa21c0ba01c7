//! Reads uploaded bytes back from the data dir when a request asks for
//! them: what [`BlobBytes::stored`](crate::blob_bytes::BlobBytes::stored)
//! handles made at start read through, so a restart keeps only the digests
//! in memory.
//!
//! It holds the database until [`BlobReader::close`]: the database's lock
//! goes with its last handle, and a clean shutdown must release it (a test,
//! or the next fake, opens the same data dir again).

use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;
use redb::Database;

use super::tables;
use crate::blob_bytes::BlobSource;

/// The reading end of the data dir's `blobs` table.
#[derive(Debug)]
pub struct BlobReader {
    /// `None` once closed. A read holds the lock for reading while it
    /// reads, so a close waits for the reads in flight and then drops the
    /// handle for certain.
    db: RwLock<Option<Arc<Database>>>,
}

impl BlobReader {
    pub(super) fn new(db: Arc<Database>) -> Self {
        Self {
            db: RwLock::new(Some(db)),
        }
    }

    /// Lets go of the database; later reads fail.
    pub(super) fn close(&self) {
        self.db.write().take();
    }
}

impl BlobSource for BlobReader {
    fn read(&self, digest: &str) -> Result<Option<Bytes>, String> {
        let db = self.db.read();
        let db = db.as_ref().ok_or("the data dir is closed")?;
        let txn = db.begin_read().map_err(|e| e.to_string())?;
        let t = match txn.open_table(tables::BLOBS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let value = t.get(digest).map_err(|e| e.to_string())?;
        Ok(value.map(|v| Bytes::copy_from_slice(v.value())))
    }
}
