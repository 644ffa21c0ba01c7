//! The fixture accounts (`fixtures/accounts.json`): who can log in, with
//! which static token, policies and saved Design Values; and the gallery
//! (`fixtures/gallery.json`): stock identities every account can use.

use std::path::Path;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::clock::Instant;
use crate::domain::ids::{IdentityCode, PrefixedId, TenantId};
use crate::domain::image_probe::probe;
use crate::redact::Redacted;
use crate::storage::records::{Identity, Stock};

/// A saved Design Value that an instruction can reference by its integer
/// `index`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedDesignValue {
    /// The integer a request uses to reference it.
    pub index: i64,
    /// Which field it is meant for (`pose`, `background`, …); informative.
    #[serde(default)]
    pub category: Option<String>,
    /// The descriptor text.
    pub text: String,
    /// An optional reference image UUID.
    #[serde(default)]
    pub image: Option<String>,
}

/// One fixture account. `Debug` hides the password and the token.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountFixture {
    /// Login e-mail (HTTP Basic user name of `POST /auth/login`).
    pub email: String,
    /// Login password.
    pub password: String,
    /// A static API token that never expires.
    pub api_token: String,
    /// Display first name.
    #[serde(default)]
    pub name: String,
    /// Display last name.
    #[serde(default)]
    pub surname: String,
    /// Credits shown on the user object.
    #[serde(default)]
    pub credits: i64,
    /// Policies such as `OUTPUT_CUSTOM_DIMENSIONS`.
    #[serde(default)]
    pub policies: Vec<String>,
    /// Saved Design Values.
    #[serde(default)]
    pub design_values: Vec<SavedDesignValue>,
    /// The scenario every request with this account's static token runs under.
    #[serde(default)]
    pub scenario: Option<String>,
}

impl std::fmt::Debug for AccountFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Destructured so that a new field must be given a place here.
        let Self {
            email,
            password: _,
            api_token: _,
            name,
            surname,
            credits,
            policies,
            design_values,
            scenario,
        } = self;
        f.debug_struct("AccountFixture")
            .field("email", email)
            .field("password", &Redacted)
            .field("api_token", &Redacted)
            .field("name", name)
            .field("surname", surname)
            .field("credits", credits)
            .field("policies", policies)
            .field("design_values", design_values)
            .field("scenario", scenario)
            .finish()
    }
}

/// The file `accounts.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountsFile {
    /// The accounts.
    pub accounts: Vec<AccountFixture>,
}

impl AccountsFile {
    /// Reads and checks `DIR/accounts.json`: e-mails and tokens unique.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let path = dir.join("accounts.json");
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses and checks the file's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut seen = std::collections::HashSet::new();
        for a in &file.accounts {
            if !seen.insert(a.email.to_lowercase()) {
                return Err(format!("duplicate email {}", a.email));
            }
            if !seen.insert(format!("token:{}", a.api_token)) {
                return Err(format!("duplicate api_token of {}", a.email));
            }
            if !crate::domain::auth::is_token_shaped(&a.api_token) {
                return Err(format!(
                    "api_token of {} must be 1-512 visible ASCII characters",
                    a.email
                ));
            }
        }
        Ok(file)
    }
}

/// One stock identity of `gallery.json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GalleryFixture {
    /// Its `identity_code`, the same in every account (`PiktidPremium`).
    pub code: String,
    /// Display name.
    pub name: String,
    /// Groups it is listed under.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Its tier (`premium`, `standard`, …).
    pub tier: String,
    /// Shown as `created_by`.
    pub created_by: String,
    /// When it was added, RFC 3339: it places the identity in listings
    /// sorted by `created_at`.
    pub created_at: String,
    /// The image file, relative to the fixtures folder (JPEG, PNG or WebP).
    pub image: String,
}

/// The file `gallery.json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GalleryFile {
    /// The gallery's identities, in the order they were added.
    pub identities: Vec<GalleryFixture>,
}

/// The longest gallery code: it is a path segment of every URL naming it.
const MAX_GALLERY_CODE_LEN: usize = 64;

impl GalleryFile {
    /// The gallery of `DIR/gallery.json` with its images read and checked:
    /// empty when the folder has no `gallery.json`; an error naming the
    /// entry when one is invalid, so the fake does not start with half a
    /// gallery.
    pub fn load(dir: &Path) -> Result<Vec<Identity>, String> {
        let path = dir.join("gallery.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let at = |e: String| format!("{}: {e}", path.display());
        let file = Self::parse(&text).map_err(at)?;
        let mut gallery = Vec::with_capacity(file.identities.len());
        for (seq, f) in (0u64..).zip(file.identities) {
            let image = dir.join(&f.image);
            let bytes = std::fs::read(&image).map_err(|e| at(format!("{}: {}: {e}", f.code, image.display())))?;
            let info = probe(&bytes).map_err(|e| at(format!("{}: {}: {e}", f.code, image.display())))?;
            let created_at = Instant::parse_rfc3339(&f.created_at)
                .ok_or_else(|| at(format!("{}: created_at must be an RFC 3339 time", f.code)))?;
            let original_filename = Path::new(&f.image)
                .file_name()
                .map_or_else(|| f.image.clone(), |n| n.to_string_lossy().into_owned());
            gallery.push(Identity {
                code: IdentityCode::from_client(&f.code),
                owner: TenantId::from_client(GALLERY_OWNER),
                name: f.name,
                tag: None,
                original_filename,
                content_type: info.content_type(),
                bytes: Bytes::from(bytes),
                width: info.width,
                height: info.height,
                face_detected: info.face_detected,
                created_at,
                seq,
                stock: Some(Stock {
                    created_by: f.created_by,
                    tier: f.tier,
                    groups: f.groups,
                }),
            });
        }
        Ok(gallery)
    }

    /// Parses and checks the file's text: codes unique, usable in a URL
    /// path and unlike an uploaded identity's; names and labels non-empty
    /// without control characters.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut seen = std::collections::HashSet::new();
        for f in &file.identities {
            let code_ok = (1..=MAX_GALLERY_CODE_LEN).contains(&f.code.len())
                && f.code
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !code_ok {
                return Err(format!(
                    "code {:?}: 1-{MAX_GALLERY_CODE_LEN} letters, digits, '_' or '-'",
                    f.code
                ));
            }
            // An uploaded identity's code is `id_` and hex: a gallery code
            // of that shape could one day be handed out to an upload too.
            if f.code.starts_with(IdentityCode::PREFIX) {
                return Err(format!(
                    "code {:?}: must not start with {:?}",
                    f.code,
                    IdentityCode::PREFIX
                ));
            }
            if !seen.insert(f.code.clone()) {
                return Err(format!("duplicate code {}", f.code));
            }
            for (field, value) in [("name", &f.name), ("tier", &f.tier), ("created_by", &f.created_by)]
                .into_iter()
                .chain(f.groups.iter().map(|g| ("groups", g)))
            {
                if value.trim().is_empty() || value.chars().any(char::is_control) {
                    return Err(format!(
                        "{}: {field} must be non-empty text without control characters",
                        f.code
                    ));
                }
            }
        }
        Ok(file)
    }
}

/// The owner of the gallery's identities: no tenant (tenant ids are
/// `acct_` and hex), so no account's own lookups find them as its uploads.
const GALLERY_OWNER: &str = "gallery";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_fixtures_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
        let f = AccountsFile::load(&dir).expect("fixtures/accounts.json is valid");
        assert!(
            f.accounts
                .iter()
                .any(|a| a.policies.iter().any(|p| p == "OUTPUT_CUSTOM_DIMENSIONS"))
        );
        assert!(f.accounts.len() >= 2, "tenancy tests need two accounts");
    }

    #[test]
    fn a_fixtures_debug_does_not_show_its_password_or_token() {
        let f = AccountsFile::parse(
            r#"{"accounts":[{"email":"a@x.test","password":"pw-secret-1","api_token":"f2m_secret_2"}]}"#,
        )
        .expect("valid");
        let shown = format!("{f:?}");
        assert!(
            !shown.contains("pw-secret-1") && !shown.contains("f2m_secret_2"),
            "{shown}"
        );
        assert!(shown.contains("a@x.test") && shown.contains("[redacted]"), "{shown}");
    }

    #[test]
    fn duplicates_and_unknown_fields_are_refused() {
        let a = r#"{"email":"a@x","password":"p","api_token":"t"}"#;
        assert!(AccountsFile::parse(&format!(r#"{{"accounts":[{a},{a}]}}"#)).is_err());
        assert!(
            AccountsFile::parse(r#"{"accounts":[{"email":"a","password":"p","api_token":"t","typo":1}]}"#).is_err()
        );
    }

    #[test]
    fn the_shipped_gallery_loads_with_the_vendors_example_codes() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
        let gallery = GalleryFile::load(&dir).expect("fixtures/gallery.json is valid");
        assert!((4..=6).contains(&gallery.len()), "{}", gallery.len());
        for code in ["PiktidPremium", "PiktidSummer"] {
            assert!(gallery.iter().any(|i| i.code.as_str() == code), "{code}");
        }
        for i in &gallery {
            assert!(i.face_detected, "{}: a portrait", i.code);
            assert!(i.bytes.len() < 16 * 1024, "{}: a tiny image", i.code);
        }
    }

    #[test]
    fn a_folder_without_a_gallery_has_none() {
        let dir = std::env::temp_dir().join(format!("f2m-no-gallery-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        assert_eq!(GalleryFile::load(&dir).map(|g| g.len()), Ok(0));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_gallery_entries_are_refused() {
        let entry = |code: &str, extra: &str| {
            format!(
                r#"{{"code":"{code}","name":"N","tier":"t","created_by":"piktid","created_at":"2025-01-01T00:00:00Z","image":"x.jpg"{extra}}}"#
            )
        };
        let file = |entries: &[String]| format!(r#"{{"identities":[{}]}}"#, entries.join(","));
        assert!(GalleryFile::parse(&file(&[entry("PiktidPremium", "")])).is_ok());
        for (case, text) in [
            ("twice", file(&[entry("A", ""), entry("A", "")])),
            ("an uploaded code's shape", file(&[entry("id_0123", "")])),
            ("a slash", file(&[entry("a/b", "")])),
            ("empty", file(&[entry("", "")])),
            ("an empty group", file(&[entry("A", r#","groups":[""]"#)])),
            ("an unknown field", file(&[entry("A", r#","typo":1"#)])),
        ] {
            assert!(GalleryFile::parse(&text).is_err(), "{case}");
        }
    }
}
