//! Rules for a file a client wants to upload: its name and content type.

use crate::domain::rule::Violation;
use crate::domain::text::TextRule;

/// The longest filename accepted.
pub const MAX_FILENAME_LEN: usize = 255;

/// The image types the fake stores, by extension.
const TYPES: &[(&str, &str)] = &[
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("png", "image/png"),
    ("webp", "image/webp"),
];

/// A validated upload filename and the content type its extension implies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadName {
    filename: String,
    content_type: &'static str,
}

impl UploadName {
    /// Accepts 1–255 characters without control characters, ending in
    /// `.jpg`, `.jpeg`, `.png` or `.webp` (any case). The name is metadata
    /// only: it never becomes a path on disk.
    pub fn parse(filename: &str) -> Result<Self, Violation> {
        let bad = |m: &str| Violation::new("filename", m);
        TextRule::line(MAX_FILENAME_LEN)
            .check(filename)
            .map_err(|b| bad(&b.message()))?;
        let ext = filename
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        let content_type = TYPES
            .iter()
            .find(|(e, _)| *e == ext)
            .map(|(_, t)| *t)
            .ok_or_else(|| bad("unsupported file type: use .jpg, .jpeg, .png or .webp"))?;
        Ok(Self {
            filename: filename.to_owned(),
            content_type,
        })
    }

    /// The filename as the client gave it.
    pub fn filename(&self) -> &str {
        &self.filename
    }

    /// The MIME type the pre-signed PUT must carry.
    pub fn content_type(&self) -> &'static str {
        self.content_type
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_gives_content_type() {
        assert_eq!(
            UploadName::parse("sku-shirt.jpg").expect("ok").content_type(),
            "image/jpeg"
        );
        assert_eq!(UploadName::parse("A.JPEG").expect("ok").content_type(), "image/jpeg");
        assert_eq!(UploadName::parse("x.png").expect("ok").content_type(), "image/png");
        assert_eq!(UploadName::parse("x.webp").expect("ok").content_type(), "image/webp");
    }

    #[test]
    fn bad_names_name_the_field() {
        for bad in ["", "  ", "shirt.gif", "noext", "a\nb.jpg", &"x".repeat(300)] {
            let e = UploadName::parse(bad).expect_err(bad);
            assert_eq!(e.field.as_deref(), Some("filename"), "{bad:?}");
        }
    }
}
