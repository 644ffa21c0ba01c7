//! An identity (the model an outfit is put on): an account's upload, or a
//! gallery identity every account may use.

use bytes::Bytes;

use crate::clock::Instant;
use crate::domain::ids::{IdentityCode, TenantId};
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
    /// The image bytes as uploaded.
    pub bytes: Bytes,
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

impl Identity {
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
}
