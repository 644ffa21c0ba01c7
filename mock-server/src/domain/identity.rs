//! An identity (the model an outfit is put on): an account's upload, or a
//! gallery identity every account may use.

use bytes::Bytes;

use crate::blob_bytes::BlobBytes;
use crate::clock::Instant;
use crate::domain::ids::{IdentityCode, TenantId};
use crate::domain::image_probe::ImageInfo;
use crate::domain::names::MAX_LABEL_LEN;

/// An uploaded identity (the model).
#[derive(Debug, Clone)]
pub struct Identity {
    /// `id_…`.
    pub code: IdentityCode,
    /// Owner.
    pub owner: TenantId,
    /// Display name.
    pub name: String,
    /// Optional tag.
    pub tag: Option<String>,
    /// The multipart file name.
    pub original_filename: String,
    /// Detected MIME type.
    pub content_type: &'static str,
    /// The image bytes as uploaded (in memory, or read from the data dir).
    pub bytes: BlobBytes,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The deterministic face-detection result.
    pub face_detected: bool,
    /// Upload time.
    pub created_at: Instant,
    /// Position in upload order (in the gallery: in `gallery.json`), to
    /// break ties between equal times.
    pub seq: u64,
    /// `Some` for a gallery identity (fixture data every account can use,
    /// public and locked); `None` for an account's own upload.
    pub stock: Option<Stock>,
}

/// What an account uploads to make an identity: the form's fields, each
/// already checked ([`crate::domain::names`]), and what the probe read of
/// the image.
#[derive(Debug)]
pub struct Upload {
    /// The image part's file name.
    pub filename: String,
    /// The `name` field, if sent (empty counts as not sent).
    pub name: Option<String>,
    /// The `tag` field, if sent (empty counts as not sent).
    pub tag: Option<String>,
    /// The image bytes.
    pub image: Bytes,
    /// What the probe read of them.
    pub info: ImageInfo,
}

/// What makes two uploads of one account the same identity: the SHA-256 of
/// their image bytes.
pub type ImageDigest = [u8; 32];

impl Identity {
    /// The identity `owner` made by `upload`, as `code`, at `created_at`,
    /// `seq`-th in upload order. Without a name it is named after its file
    /// ([`Identity::name_from_file`]); an upload is the account's own, not
    /// the gallery's.
    pub fn uploaded(code: IdentityCode, owner: TenantId, upload: Upload, created_at: Instant, seq: u64) -> Self {
        let name = upload.name.filter(|n| !n.is_empty());
        Self {
            code,
            owner,
            name: name.unwrap_or_else(|| Self::name_from_file(&upload.filename)),
            tag: upload.tag.filter(|t| !t.is_empty()),
            original_filename: upload.filename,
            content_type: upload.info.content_type(),
            bytes: upload.image.into(),
            width: upload.info.width,
            height: upload.info.height,
            face_detected: upload.info.face_detected,
            created_at,
            seq,
            stock: None,
        }
    }

    /// The digest its duplicates share ([`ImageDigest`]).
    pub fn image_digest(&self) -> ImageDigest {
        // A stored image's key is its SHA-256 already: never malformed
        // unless the data dir is damaged, which its load refuses.
        self.bytes.sha256().unwrap_or_default()
    }

    /// The name of an identity uploaded without one: its file name
    /// without the extension, cut to the longest name allowed, since a
    /// file name may be longer than a name may be.
    pub fn name_from_file(filename: &str) -> String {
        filename
            .rsplit_once('.')
            .map_or(filename, |(stem, _)| stem)
            .chars()
            .take(MAX_LABEL_LEN)
            .collect()
    }
}

/// What a gallery identity shows beyond an uploaded one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stock {
    /// Shown as `created_by`.
    pub created_by: String,
    /// Shown as `tier`.
    pub tier: String,
    /// Shown as `groups`.
    pub groups: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unnamed_identity_is_named_after_its_files_stem_within_the_name_limit() {
        assert_eq!(Identity::name_from_file("model.a.jpg"), "model.a");
        assert_eq!(Identity::name_from_file("model"), "model");
        let long = format!("{}.png", "é".repeat(MAX_LABEL_LEN + 5));
        assert_eq!(Identity::name_from_file(&long).chars().count(), MAX_LABEL_LEN);
    }

    fn upload(name: Option<&str>, tag: Option<&str>, image: &'static [u8]) -> Upload {
        Upload {
            filename: "portrait.v2.png".into(),
            name: name.map(Into::into),
            tag: tag.map(Into::into),
            image: Bytes::from_static(image),
            info: ImageInfo {
                format: image::ImageFormat::Png,
                width: 300,
                height: 400,
                face_detected: true,
            },
        }
    }

    fn uploaded(u: Upload) -> Identity {
        let owner = TenantId::from_client("acc_1");
        Identity::uploaded(IdentityCode::from_client("id_1"), owner, u, Instant::from_millis(5), 3)
    }

    #[test]
    fn an_upload_without_a_name_or_tag_is_named_after_its_file_and_untagged() {
        for (name, tag) in [(None, None), (Some(""), Some(""))] {
            let i = uploaded(upload(name, tag, b"a"));
            assert_eq!((i.name.as_str(), i.tag), ("portrait.v2", None));
        }
        let i = uploaded(upload(Some("Ada"), Some("studio"), b"a"));
        assert_eq!((i.name.as_str(), i.tag.as_deref()), ("Ada", Some("studio")));
        assert_eq!((i.content_type, i.width, i.height, i.seq), ("image/png", 300, 400, 3));
        assert_eq!(i.original_filename, "portrait.v2.png");
        assert!(i.face_detected && i.stock.is_none());
    }

    #[test]
    fn uploads_are_duplicates_when_their_image_bytes_are_the_same() {
        let a = uploaded(upload(Some("A"), None, b"same bytes"));
        let b = uploaded(upload(Some("B"), Some("t"), b"same bytes"));
        let c = uploaded(upload(Some("A"), None, b"other bytes"));
        assert_eq!(a.image_digest(), b.image_digest());
        assert_ne!(a.image_digest(), c.image_digest());
    }
}
