//! The names a client gives: a project's name, an identity's name and tag,
//! an uploaded image's file name. Each is the shared [`TextRule`] with its
//! own length; the field each is refused under is its own.

use crate::domain::rule::Violation;
use crate::domain::text::{Broken, TextRule};
use crate::domain::upload::MAX_FILENAME_LEN;

/// The longest project name.
pub const MAX_PROJECT_NAME_LEN: usize = 200;
/// The longest identity `name` or `tag`.
pub const MAX_LABEL_LEN: usize = 200;

/// A project's name, checked as sent: at most 200 characters, no control
/// characters, not only whitespace (`common.json#/$defs/projectName`); the
/// project is named by the trimmed text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectName(String);

impl ProjectName {
    /// `raw` trimmed, refused under `project_name` when it breaks the rule.
    pub fn parse(raw: &str) -> Result<Self, Violation> {
        let bad = |b: Broken| Violation::new("project_name", b.message());
        TextRule::line(MAX_PROJECT_NAME_LEN)
            .or_empty()
            .check(raw)
            .map_err(bad)?;
        let name = raw.trim();
        if name.is_empty() {
            return Err(bad(Broken::Empty));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// An identity's `name` or `tag` (the form field `field`): at most 200
/// characters without control characters, then trimmed; empty is allowed.
pub fn identity_label(field: &str, value: &str) -> Result<String, Violation> {
    TextRule::line(MAX_LABEL_LEN)
        .or_empty()
        .check(value)
        .map_err(|b| Violation::new(field, b.message()))?;
    Ok(value.trim().to_owned())
}

/// An uploaded identity image's file name (refused under `image`), kept
/// verbatim as data; without one (or a blank one) the file is `identity`.
pub fn image_file_name(sent: Option<&str>) -> Result<String, Violation> {
    let Some(name) = sent.filter(|n| !n.trim().is_empty()) else {
        return Ok("identity".to_owned());
    };
    TextRule::line(MAX_FILENAME_LEN)
        .check(name)
        .map_err(|b| Violation::new("image", format!("the file name {}", b.message())))?;
    Ok(name.trim().to_owned())
}
