//! Every link the API hands out, and the paths they point at: a file's
//! pre-signed `PUT` (`upload_url`) and its bytes (`download_url`), an
//! identity's image (`link`), a result image (`full_size`, `thumbnail`) and
//! a ZIP (`download_url` of `POST /download`). The routes that serve them
//! are added with the templates below, so a link and its route cannot
//! drift apart; the storage links are signed ([`Signer`]), the ZIP link is
//! not (its token is the secret).

use std::borrow::Cow;
use std::time::Duration;

use crate::clock::Instant;
use crate::domain::ids::{FileId, IdentityCode};
use crate::engine::job::Job;
use crate::storage::presign::Signer;

/// The route of a file's pre-signed `PUT`.
pub const UPLOAD_ROUTE: &str = "/upload/{file_id}";
/// The route of a file's bytes.
pub const FILE_ROUTE: &str = "/blobs/files/{file_id}";
/// The route of an identity's image.
pub const IDENTITY_ROUTE: &str = "/blobs/identities/{code}";
/// The route of a result image (`{file}` is `full.{ext}` or
/// `thumbnail.{ext}`).
pub const RESULT_ROUTE: &str = "/blobs/results/{job_id}/{output}/{file}";
/// The route of a ZIP download.
pub const ZIP_ROUTE: &str = "/download/{token}";

/// Whether the matched route is a pre-signed storage URL, which answers as
/// S3 does.
pub fn is_storage_route(template: &str) -> bool {
    matches!(template, UPLOAD_ROUTE | FILE_ROUTE | IDENTITY_ROUTE | RESULT_ROUTE)
}

/// The path a file's pre-signed `PUT` goes to.
pub fn upload_path(id: &FileId) -> String {
    format!("/upload/{id}")
}

/// The path a file's bytes are read back from.
pub fn file_path(id: &FileId) -> String {
    format!("/blobs/files/{id}")
}

/// The path an identity's image is read back from.
pub fn identity_path(code: &IdentityCode) -> String {
    format!("/blobs/identities/{code}")
}

/// Which image of a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultKind {
    /// The output at its full size.
    Full,
    /// Its thumbnail.
    Thumbnail,
}

impl ResultKind {
    /// The name in the path (`full`, `thumbnail`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Thumbnail => "thumbnail",
        }
    }

    /// The kind a result path's file names (`full.png` is [`Self::Full`]).
    pub fn of_file(file: &str) -> Option<Self> {
        match file.split('.').next() {
            Some("full") => Some(Self::Full),
            Some("thumbnail") => Some(Self::Thumbnail),
            _ => None,
        }
    }
}

/// The path of output `k`'s image of `kind`, with the output's own format
/// as the extension.
pub fn result_path(job: &Job, k: usize, kind: ResultKind) -> String {
    let ext = job.output_name_of(k).map_or("jpg", |n| n.ext);
    format!("/blobs/results/{}/{k}/{}.{ext}", job.id, kind.name())
}

/// The path a result request named, from its route's parts as received
/// (what its signature is checked against).
pub fn received_result_path(job_id: &str, output: &str, file: &str) -> String {
    format!("/blobs/results/{job_id}/{output}/{file}")
}

/// The path of the ZIP behind download token `token`.
pub fn zip_path(token: &str) -> String {
    format!("/download/{token}")
}

/// Builds the absolute links of one moment: under the server's public base
/// URL, signed with its current key, download links valid for
/// `--download-url-ttl` from `now`.
#[derive(Debug, Clone)]
pub struct Links<'a> {
    signer: &'a Signer,
    /// `--public-url`, or the request's own base ([`crate::public_base`]).
    base: Cow<'a, str>,
    now: Instant,
    download_ttl: Duration,
}

impl<'a> Links<'a> {
    /// Links under `base` (no trailing slash) signed by `signer` at `now`.
    pub fn new(signer: &'a Signer, base: impl Into<Cow<'a, str>>, now: Instant, download_ttl: Duration) -> Self {
        Self {
            signer,
            base: base.into(),
            now,
            download_ttl,
        }
    }

    fn signed_get(&self, path: &str) -> String {
        self.signer
            .url(&self.base, "GET", path, "", self.now.plus(self.download_ttl))
    }

    /// A file's pre-signed `PUT` for `content_type`, valid until `expires`.
    pub fn upload(&self, id: &FileId, content_type: &str, expires: Instant) -> String {
        self.signer
            .url(&self.base, "PUT", &upload_path(id), content_type, expires)
    }

    /// A file's bytes.
    pub fn file(&self, id: &FileId) -> String {
        self.signed_get(&file_path(id))
    }

    /// An identity's image.
    pub fn identity(&self, code: &IdentityCode) -> String {
        self.signed_get(&identity_path(code))
    }

    /// Output `k`'s image of `kind`.
    pub fn result(&self, job: &Job, k: usize, kind: ResultKind) -> String {
        self.signed_get(&result_path(job, k, kind))
    }

    /// The ZIP behind `token` (unsigned: the token is the secret).
    pub fn zip(&self, token: &str) -> String {
        format!("{}{}", self.base, zip_path(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_path_names_its_kind_back() {
        for kind in [ResultKind::Full, ResultKind::Thumbnail] {
            assert_eq!(ResultKind::of_file(&format!("{}.png", kind.name())), Some(kind));
        }
        assert_eq!(ResultKind::of_file("other.png"), None);
    }

    #[test]
    fn signed_links_verify_on_the_paths_their_routes_serve() {
        let signer = Signer::from_seed(7);
        let now = Instant::from_millis(1_000_000);
        let links = Links::new(&signer, "http://fake", now, Duration::from_secs(60));
        let id = FileId::from_client("file_1");
        let url = links.file(&id);
        let (path, query) = url
            .strip_prefix("http://fake")
            .and_then(|u| u.split_once('?'))
            .expect("base, path and query");
        assert_eq!(path, FILE_ROUTE.replace("{file_id}", "file_1"));
        let q: crate::storage::presign::SignedQuery = serde_urlencoded::from_str(query).expect("query");
        assert!(signer.verify("GET", path, "", &q, now).is_ok());
        assert_eq!(
            links.zip("tok"),
            format!("http://fake{}", ZIP_ROUTE.replace("{token}", "tok"))
        );
    }
}
