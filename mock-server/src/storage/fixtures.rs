//! The fixture accounts (`fixtures/accounts.json`): who can log in, with
//! which static token, policies and saved Design Values; and the gallery
//! (`fixtures/gallery.json`): stock identities every account can use.
//!
//! Every file of the repository's `fixtures/` is compiled in
//! ([`FIXTURE_FILES`], by `build.rs`), so a copied or installed binary
//! starts anywhere. `--fixtures DIR` is laid over them file by file
//! ([`FixtureSource`]): a file of DIR replaces the embedded file of the same
//! path (`accounts.json`, `gallery.json`, an image, `scenarios/NAME.json`);
//! every other embedded file stays.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::clock::Instant;
use crate::domain::account::Account;
use crate::domain::identity::{Identity, Stock};
use crate::domain::ids::{IdentityCode, PrefixedId, TenantId};
use crate::domain::image_probe::probe;
use crate::domain::job_request::SavedDesignValue;
use crate::redact::Redacted;

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

impl AccountFixture {
    /// The account this fixture describes, as tenant `id`.
    pub fn account(&self, id: TenantId) -> Account {
        Account {
            id,
            email: Some(self.email.clone()),
            password: Some(self.password.clone()),
            name: self.name.clone(),
            surname: self.surname.clone(),
            credits: self.credits,
            policies: self.policies.clone(),
            design_values: self.design_values.clone(),
        }
    }
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
    /// Reads and checks `accounts.json` (the folder's, else the embedded
    /// one): e-mails and tokens unique. Also says where it came from.
    pub fn load(src: &FixtureSource) -> Result<(Self, String), String> {
        let (bytes, from) = src
            .read("accounts.json")?
            .ok_or_else(|| "accounts.json: not found in the fixtures".to_owned())?;
        let text = std::str::from_utf8(&bytes).map_err(|e| format!("{from}: {e}"))?;
        let file = Self::parse(text).map_err(|e| format!("{from}: {e}"))?;
        Ok((file, from))
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

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/fixtures.rs"));
}
pub use embedded::FIXTURE_FILES;

/// A fixture file's bytes and where they came from (a path, or
/// `embedded fixtures/NAME`), for messages.
pub type FixtureFile = (Cow<'static, [u8]>, String);

/// Where the fake's fixtures come from: the embedded files, with a
/// `--fixtures DIR` laid over them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FixtureSource {
    dir: Option<PathBuf>,
}

impl FixtureSource {
    /// Only the embedded fixtures.
    pub fn embedded() -> Self {
        Self::default()
    }

    /// The embedded fixtures with the files of `dir` laid over them. A
    /// folder that does not exist is an error: a typo in `--fixtures` would
    /// otherwise start the fake on the embedded fixtures unnoticed.
    pub fn with_dir(dir: &Path) -> Result<Self, String> {
        if !dir.is_dir() {
            return Err(format!("--fixtures {}: no such folder", dir.display()));
        }
        Ok(Self {
            dir: Some(dir.to_path_buf()),
        })
    }

    /// The folder laid over the embedded files, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The file at `rel` (`/`-separated, relative to the fixtures folder):
    /// the folder's if it has one, else the embedded one; with where it came
    /// from (for messages). `None` if neither has it.
    pub fn read(&self, rel: &str) -> Result<Option<FixtureFile>, String> {
        if let Some(dir) = &self.dir {
            let path = dir.join(rel);
            match std::fs::read(&path) {
                Ok(bytes) => return Ok(Some((Cow::Owned(bytes), path.display().to_string()))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
        }
        Ok(FIXTURE_FILES
            .iter()
            .find(|(name, _)| *name == rel)
            .map(|(name, bytes)| (Cow::Borrowed(*bytes), format!("embedded fixtures/{name}"))))
    }

    /// Whether the file at `rel` is the embedded one (the folder has none).
    pub fn is_embedded(&self, rel: &str) -> Result<bool, String> {
        Ok(matches!(self.read(rel)?, Some((Cow::Borrowed(_), _))))
    }

    /// The names of the `*.json` files directly in folder `rel` (no
    /// extension), embedded and the folder's together, sorted, each once.
    pub fn json_names(&self, rel: &str) -> Result<Vec<String>, String> {
        let prefix = format!("{rel}/");
        let mut names: std::collections::BTreeSet<String> = FIXTURE_FILES
            .iter()
            .filter_map(|(name, _)| name.strip_prefix(&prefix))
            .filter(|n| !n.contains('/'))
            .filter_map(|n| n.strip_suffix(".json"))
            .map(str::to_owned)
            .collect();
        if let Some(dir) = &self.dir {
            let path = dir.join(rel);
            match std::fs::read_dir(&path) {
                Ok(entries) => {
                    for e in entries {
                        let p = e.map_err(|e| format!("{}: {e}", path.display()))?.path();
                        if p.extension().is_some_and(|e| e == "json")
                            && p.is_file()
                            && let Some(stem) = p.file_stem().and_then(|s| s.to_str())
                        {
                            names.insert(stem.to_owned());
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
        }
        Ok(names.into_iter().collect())
    }

    /// Writes every embedded file under `dest` (made if missing), refusing to
    /// overwrite a file that is there: a folder to start one's own fixtures
    /// from, and the sample images of the README's walkthrough. Returns the
    /// number of files written.
    pub fn export_embedded(dest: &Path) -> Result<usize, String> {
        for (name, _) in FIXTURE_FILES {
            let path = dest.join(name);
            if path.exists() {
                return Err(format!("{}: already exists; nothing was written", path.display()));
            }
        }
        for (name, bytes) in FIXTURE_FILES {
            let path = dest.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
            }
            std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(FIXTURE_FILES.len())
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
    /// The gallery of `gallery.json` (the folder's, else the embedded one)
    /// with its images read and checked (each the folder's, else the
    /// embedded one): empty when neither has a `gallery.json`; an error
    /// naming the entry when one is invalid, so the fake does not start
    /// with half a gallery.
    pub fn load(src: &FixtureSource) -> Result<Vec<Identity>, String> {
        let Some((text, from)) = src.read("gallery.json")? else {
            return Ok(Vec::new());
        };
        let at = |e: String| format!("{from}: {e}");
        let text = std::str::from_utf8(&text).map_err(|e| at(e.to_string()))?;
        let file = Self::parse(text).map_err(at)?;
        let mut gallery = Vec::with_capacity(file.identities.len());
        for (seq, f) in (0u64..).zip(file.identities) {
            let (bytes, image) = src
                .read(&f.image)?
                .ok_or_else(|| at(format!("{}: {}: not found in the fixtures", f.code, f.image)))?;
            let bytes = bytes.into_owned();
            let info = probe(&bytes).map_err(|e| at(format!("{}: {image}: {e}", f.code)))?;
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
                bytes: Bytes::from(bytes).into(),
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
        let (f, from) = AccountsFile::load(&FixtureSource::embedded()).expect("fixtures/accounts.json is valid");
        assert_eq!(from, "embedded fixtures/accounts.json");
        assert!(
            f.accounts
                .iter()
                .any(|a| a.policies.iter().any(|p| p == "OUTPUT_CUSTOM_DIMENSIONS"))
        );
        assert!(f.accounts.len() >= 2, "tenancy tests need two accounts");
    }

    #[test]
    fn every_file_of_the_repositorys_fixtures_is_embedded_byte_for_byte() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
        for rel in [
            "accounts.json",
            "gallery.json",
            "images/sku-shirt.jpg",
            "scenarios/rate-limited.json",
        ] {
            let embedded = FIXTURE_FILES.iter().find(|(n, _)| *n == rel).map(|(_, b)| *b);
            assert_eq!(
                embedded,
                Some(std::fs::read(root.join(rel)).expect("read").as_slice()),
                "{rel}"
            );
        }
        let scenarios = std::fs::read_dir(root.join("scenarios")).expect("dir").count();
        let names = FixtureSource::embedded().json_names("scenarios").expect("names");
        assert_eq!(names.len(), scenarios);
    }

    /// A fresh, empty folder under the system's temporary folder.
    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("f2m-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    #[test]
    fn a_folders_files_replace_the_embedded_ones_of_the_same_path_and_the_rest_stay() {
        let dir = temp_dir("overlay");
        std::fs::write(
            dir.join("accounts.json"),
            r#"{"accounts":[{"email":"solo@x.test","password":"p","api_token":"solo_token"}]}"#,
        )
        .expect("write");
        std::fs::create_dir_all(dir.join("scenarios")).expect("dir");
        std::fs::write(dir.join("scenarios/mine.json"), "{}").expect("write");
        let src = FixtureSource::with_dir(&dir).expect("a folder");
        let (accounts, from) = AccountsFile::load(&src).expect("valid");
        assert_eq!(accounts.accounts.len(), 1);
        assert_eq!(from, dir.join("accounts.json").display().to_string());
        // No gallery.json in the folder: the embedded gallery stays.
        assert_eq!(
            GalleryFile::load(&src).map(|g| g.len()),
            GalleryFile::load(&FixtureSource::embedded()).map(|g| g.len())
        );
        let names = src.json_names("scenarios").expect("names");
        assert!(names.iter().any(|n| n == "mine") && names.iter().any(|n| n == "rate-limited"));
        // An empty gallery.json in the folder: no gallery.
        std::fs::write(dir.join("gallery.json"), r#"{"identities":[]}"#).expect("write");
        assert_eq!(GalleryFile::load(&src).map(|g| g.len()), Ok(0));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_fixtures_folder_is_refused() {
        let err = FixtureSource::with_dir(Path::new("/no/such/f2m/folder")).expect_err("refused");
        assert!(err.contains("no such folder"), "{err}");
    }

    #[test]
    fn the_embedded_files_export_to_a_folder_once() {
        let dir = temp_dir("export");
        let n = FixtureSource::export_embedded(&dir).expect("written");
        assert_eq!(n, FIXTURE_FILES.len());
        let src = FixtureSource::with_dir(&dir).expect("a folder");
        assert_eq!(
            src.read("images/sku-shirt.jpg").expect("read").map(|(_, from)| from),
            Some(dir.join("images/sku-shirt.jpg").display().to_string())
        );
        let again = FixtureSource::export_embedded(&dir).expect_err("refused");
        assert!(again.contains("already exists"), "{again}");
        let _ = std::fs::remove_dir_all(&dir);
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
        let gallery = GalleryFile::load(&FixtureSource::embedded()).expect("fixtures/gallery.json is valid");
        assert!((4..=6).contains(&gallery.len()), "{}", gallery.len());
        for code in ["PiktidPremium", "PiktidSummer"] {
            assert!(gallery.iter().any(|i| i.code.as_str() == code), "{code}");
        }
        for i in &gallery {
            assert!(i.face_detected, "{}: a portrait", i.code);
            assert!(i.bytes.resident_len() < 16 * 1024, "{}: a tiny image", i.code);
        }
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
