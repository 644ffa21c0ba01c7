//! Identities, blobs and uploaded files; bytes by digest.

use serde::{Deserialize, Serialize};

use crate::blob_bytes::BlobBytes;
use crate::domain::identity::Identity;
use crate::domain::ids::{FileId, IdentityCode, ProjectId, TenantId};
use crate::domain::image_probe::ProbeError;
use crate::storage::records::{Blob, StoredFile};

use super::{at, intern, ms};

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
    pub fn identity(self, bytes: BlobBytes) -> Identity {
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
    pub fn file(self, bytes: Option<BlobBytes>) -> StoredFile {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::records::digest;
    use bytes::Bytes;
    use serde_json::Value;

    use crate::persist::records::{decode, encode, round_trip, t};

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
            bytes: bytes.clone().into(),
            width: 3,
            height: 4,
            face_detected: true,
            created_at: t(10),
            seq: 2,
            stock: None,
        };
        let rec = round_trip(&IdentityRecord::new(&i, digest(&bytes)));
        assert_eq!(rec.image, digest(&bytes));
        let back = rec.identity(bytes.clone().into());
        assert_eq!(
            (
                back.code,
                back.content_type,
                back.bytes.in_memory().cloned(),
                back.seq,
                back.created_at
            ),
            (i.code, "image/png", Some(bytes.clone()), 2, t(10))
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
                bytes: bytes.clone().into(),
                etag: "\"e\"".into(),
                uploaded_at: t(3),
                unusable: Some(ProbeError("not a decodable JPEG, PNG or WebP image: text".into())),
            }),
        };
        let rec = round_trip(&FileRecord::new(&f, Some(digest(&bytes))));
        let back = rec.clone().file(Some(bytes.clone().into()));
        let blob = back.blob.as_ref().expect("bytes");
        assert_eq!(
            (
                blob.bytes.in_memory().cloned(),
                blob.etag.as_str(),
                blob.uploaded_at,
                &blob.unusable
            ),
            (
                Some(bytes.clone()),
                "\"e\"",
                t(3),
                &f.blob.as_ref().expect("bytes").unusable
            )
        );
        // A record written before the probe's verdict was kept: its bytes
        // passed the PUT's image check then, so they are usable.
        let mut older: Value = serde_json::from_slice(&encode(&rec)).expect("json");
        older["blob"].as_object_mut().expect("blob").remove("unusable");
        let older: FileRecord = decode(&encode(&older), "file").expect("an older record reads");
        assert_eq!(older.file(Some(bytes.into())).blob.expect("bytes").unusable, None);
        assert_eq!((back.project, back.upload_expires_at), (f.project.clone(), t(2)));
        let announced = StoredFile { blob: None, ..f };
        assert!(round_trip(&FileRecord::new(&announced, None)).file(None).blob.is_none());
    }
}
