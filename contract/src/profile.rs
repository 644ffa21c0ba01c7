//! Which contract a server is judged by.
//!
//! - [`Profile::Vendor`] (the default of `contract-tests run`) checks only
//!   what the vendor's documentation promises: the reference
//!   (`piktid-flat-2-model-api.txt`) and what the vendor's wider docs and
//!   public clients show (`vendor-facts.md`). Its response shapes are its
//!   own ([`vendor_shape`]), written from those pages, not the fake's
//!   stricter `schemas/`; wherever it tolerates more than the fake does, the
//!   tolerance is in [`TOLERANCES`] with the line that allows it.
//! - [`Profile::Strict`] adds what this fake promises on top: the exact
//!   schemas of `schemas/`, ID prefixes, `expires` on uploads, the exact
//!   statuses, `WWW-Authenticate` and the error body on a 401, 256 px
//!   thumbnails.

use std::sync::OnceLock;

use jsonschema::Validator;
use serde_json::{Value, json};

use crate::{Violation, pointer_to_path};

/// Which promises a server is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// What the vendor documents (the default).
    #[default]
    Vendor,
    /// The vendor's promises plus this fake's own (`schemas/`, exact
    /// statuses, ID prefixes, `expires`).
    Strict,
}

/// One allowance of the vendor profile beyond what the fake does, with the
/// documentation line that allows it.
#[derive(Debug, Clone, Copy)]
pub struct Tolerance {
    /// Short name, used in reports.
    pub id: &'static str,
    /// What the vendor profile accepts (and strict does not).
    pub allows: &'static str,
    /// The line of the reference or of `vendor-facts.md` that allows it.
    pub source: &'static str,
}

/// Every tolerance of the vendor profile (docs/contract-tests.md prints the
/// same table).
pub const TOLERANCES: &[Tolerance] = &[
    Tolerance {
        id: "project-create-200",
        allows: "POST /project answers 200 or 201 (strict: 201)",
        source: "vendor-facts.md: \"`POST /project`: 200 or 201 on create\"",
    },
    Tolerance {
        id: "project-conflict-without-id",
        allows: "a 409 of POST /project without `project_id`: the project is then found by name in GET /project?per_page=100",
        source: "vendor-facts.md: \"the client reads `project_id` from the 409 body if present, otherwise lists projects with `GET /project?per_page=100`\"",
    },
    Tolerance {
        id: "identity-upload-201",
        allows: "POST /identity/upload answers 200 or 201 (strict: 200)",
        source: "vendor-facts.md: \"`POST /identity/upload`: 200 or 201\"",
    },
    Tolerance {
        id: "upload-without-expires",
        allows: "POST /upload without `expires` (strict: required)",
        source: "reference lines 114-123: the upload response shows upload_url, download_url, project_id, project_name, file_id, filename, content_type and no expires",
    },
    Tolerance {
        id: "put-200-or-201",
        allows: "the pre-signed PUT answers 200 or 201",
        source: "vendor-facts.md: \"then `PUT` the bytes with the returned `content_type`, accepting 200 or 201\"",
    },
    Tolerance {
        id: "status-404-after-create",
        allows: "GET /jobs/{id}/status answers 404 on the first polls right after creation (retried)",
        source: "vendor-facts.md: \"a 404 right after creation is tolerated and retried\"",
    },
    Tolerance {
        id: "empty-error-bodies",
        allows: "401, 403, 404 and 429 answers with any body (strict: the error envelope, and `WWW-Authenticate` on a 401)",
        source: "vendor-facts.md: \"They only look at status codes for 401; the documentation shows 401/403/404/429 bodies as empty.\"",
    },
    Tolerance {
        id: "no-retry-after",
        allows: "a 429 without `Retry-After` (waited out with 1, 2, 4, 8, 16 s backoff capped at 60 s)",
        source: "vendor-facts.md: \"429 is retried with exponential backoff (1, 2, 4, 8, 16 s plus jitter, capped at 60 s). No `Retry-After` header is documented.\"",
    },
    Tolerance {
        id: "rate-limit-counts-every-request",
        allows: "a rate limit that counts refused job requests too (the harness paces every POST /flat-2-model)",
        source: "vendor-facts.md: \"rate-limited to 5 requests per minute per account (429)\": requests, not jobs",
    },
    Tolerance {
        id: "not-yours-403-or-404",
        allows: "another account's job, identity or download answers 403 or 404 (strict: 404)",
        source: "vendor-facts.md: \"the documentation shows 401/403/404/429 bodies as empty\": both statuses exist, neither is assigned",
    },
    Tolerance {
        id: "unknown-reference-400-or-404",
        allows: "a job naming an unknown identity, project or file answers 400 naming the field, or 404 (strict: 404)",
        source: "reference lines 547-549 name no status for a refused job request; vendor-facts.md \"Errors\" shows the 400 envelope with `field`",
    },
    Tolerance {
        id: "storage-refusals-any-4xx",
        allows: "a refused pre-signed PUT (wrong Content-Type, forged or expired signature, too large) answers a refusing 4xx: 400, 401, 403, 404, 405, 409, 410, 411, 412, 413, 415 or 422 (strict: 403, 403, 403, 400)",
        source: "reference line 19: \"The upload_url is only valid for a limited time\"; line 107-111: PUT with the returned Content-Type; no status is documented",
    },
    Tolerance {
        id: "zip-expired-403-404-410",
        allows: "an expired ZIP link answers 403, 404 or 410 (strict: 410)",
        source: "reference lines 484 and 511-512: \"a temporary download URL\" with `expires`; no status is documented",
    },
    Tolerance {
        id: "sse-crlf",
        allows: "SSE lines ending in CRLF (or CR)",
        source: "reference lines 337-343 read the stream with `iter_lines`, which splits on CRLF too (the SSE format allows CRLF, CR and LF)",
    },
    Tolerance {
        id: "vendor-shapes",
        allows: "responses are checked against the fields the vendor shows (vendor_shape), not the fake's exact schemas/ (strict: both)",
        source: "reference response examples (lines 47-54, 72-76, 114-123, 188-194, 409-422, 443-473, 509-513, 533-545) and vendor-facts.md \"Endpoints and shapes\"",
    },
    Tolerance {
        id: "id-prefixes",
        allows: "IDs of any form (strict: `job_`, `sku_`, `id_` prefixes)",
        source: "reference lines 49, 74, 120, 190 show the IDs elided (\"job_abc123...\", \"abc123...\"): examples, not a format",
    },
    Tolerance {
        id: "thumbnail-size",
        allows: "a thumbnail of any size smaller than the output, with the output's aspect ratio (strict: long side 256 px)",
        source: "reference line 454: \"thumbnail\" with no size documented",
    },
];

/// Something the harness checks whose accepted statuses differ by profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// `POST /project`, a new name.
    ProjectCreated,
    /// `POST /identity/upload`, a new image.
    IdentityUploaded,
    /// `POST /upload`.
    UploadPresigned,
    /// The pre-signed `PUT`.
    PutAccepted,
    /// `POST /flat-2-model`, accepted.
    JobCreated,
    /// Another account's object.
    NotYours,
    /// A job request naming an unknown identity, project or file.
    UnknownReference,
    /// A pre-signed PUT with a Content-Type other than the signed one.
    PutWrongType,
    /// A pre-signed PUT with an altered signature.
    PutForged,
    /// A pre-signed PUT after its URL expired.
    PutExpired,
    /// A pre-signed PUT larger than the server takes.
    PutTooLarge,
    /// An expired ZIP link.
    ZipExpired,
    /// A job request breaking a documented rule.
    RuleBroken,
}

impl Expect {
    /// Every case.
    pub const ALL: [Expect; 13] = [
        Expect::ProjectCreated,
        Expect::IdentityUploaded,
        Expect::UploadPresigned,
        Expect::PutAccepted,
        Expect::JobCreated,
        Expect::NotYours,
        Expect::UnknownReference,
        Expect::PutWrongType,
        Expect::PutForged,
        Expect::PutExpired,
        Expect::PutTooLarge,
        Expect::ZipExpired,
        Expect::RuleBroken,
    ];
}

impl Profile {
    /// The statuses accepted for `e` (the vendor profile's extra ones are in
    /// [`TOLERANCES`]).
    pub fn statuses(self, e: Expect) -> &'static [u16] {
        let strict = self == Profile::Strict;
        match e {
            Expect::ProjectCreated if strict => &[201],
            Expect::ProjectCreated => &[200, 201],
            Expect::IdentityUploaded if strict => &[200],
            Expect::IdentityUploaded => &[200, 201],
            Expect::UploadPresigned => &[200],
            Expect::PutAccepted if strict => &[200],
            Expect::PutAccepted => &[200, 201],
            Expect::JobCreated => &[202],
            Expect::NotYours | Expect::UnknownReference if strict => &[404],
            Expect::NotYours => &[403, 404],
            Expect::UnknownReference => &[400, 404],
            Expect::PutWrongType | Expect::PutForged | Expect::PutExpired if strict => &[403],
            Expect::PutTooLarge if strict => &[400],
            Expect::PutWrongType | Expect::PutForged | Expect::PutExpired | Expect::PutTooLarge => {
                &[400, 401, 403, 404, 405, 409, 410, 411, 412, 413, 415, 422]
            }
            Expect::ZipExpired if strict => &[410],
            Expect::ZipExpired => &[403, 404, 410],
            Expect::RuleBroken => &[400],
        }
    }

    /// Whether a 401/403/404/429 must carry the error envelope (and a 401
    /// `WWW-Authenticate`): only the fake promises it.
    pub fn error_bodies_everywhere(self) -> bool {
        self == Profile::Strict
    }

    /// The prefix an ID of `kind` (`job_id`, `file_id`, `identity_code`)
    /// must have, if any.
    pub fn id_prefix(self, kind: &str) -> Option<&'static str> {
        if self != Profile::Strict {
            return None;
        }
        match kind {
            "job_id" => Some("job_"),
            "file_id" => Some("sku_"),
            "identity_code" => Some("id_"),
            _ => None,
        }
    }

    /// The long side of a thumbnail, if the profile fixes it.
    pub fn thumbnail_long_side(self) -> Option<u32> {
        (self == Profile::Strict).then_some(256)
    }

    /// Whether `expires` is required on a `POST /upload` answer.
    pub fn upload_expires_required(self) -> bool {
        self == Profile::Strict
    }
}

/// The names of the vendor's response shapes.
pub const SHAPES: &[&str] = &[
    "project-create",
    "project-list",
    "identity-upload",
    "identity-conflict",
    "upload",
    "job-create",
    "job-status",
    "job-results",
    "download",
    "notification",
    "error",
    "webhook",
];

/// The vendor's shape `name`, as a JSON Schema: the fields the reference
/// and vendor-facts.md show, with their types, and nothing the fake adds.
fn shape(name: &str) -> Option<Value> {
    let s = json!({"type": "string", "minLength": 1});
    let int = json!({"type": "integer", "minimum": 0});
    let link = json!({"type": ["string", "null"]});
    let v = match name {
        // Reference lines 72-76.
        "project-create" => json!({"type": "object", "required": ["project_id", "project_name"],
            "properties": {"project_id": s, "project_name": {"type": "string"}}}),
        // vendor-facts.md "Projects".
        "project-list" => json!({"type": "object", "required": ["projects"],
            "properties": {"projects": {"type": "array", "items": {"type": "object",
                "required": ["project_text"], "properties": {"project_text": {"type": "string"}}}}}}),
        // Reference lines 47-54.
        "identity-upload" => json!({"type": "object", "required": ["identity_code"],
            "properties": {"identity_code": s, "name": {"type": ["string", "null"]},
                "face_detected": {"type": "boolean"}, "success": {"type": "boolean"}}}),
        // vendor-facts.md: "409 ... with `existing_identity_code` in the body".
        "identity-conflict" => json!({"type": "object", "required": ["existing_identity_code"],
            "properties": {"existing_identity_code": s}}),
        // Reference lines 114-123 (no `expires`).
        "upload" => json!({"type": "object", "required": ["upload_url", "download_url", "file_id", "content_type"],
            "properties": {"upload_url": s, "download_url": s, "file_id": s, "content_type": s,
                "filename": {"type": "string"}, "expires": {"type": "string"}}}),
        // Reference lines 188-194.
        "job-create" => json!({"type": "object", "required": ["job_id", "status", "total_outputs"],
            "properties": {"job_id": s, "status": {"type": "string"}, "total_outputs": {"type": "integer", "minimum": 1}}}),
        // Reference lines 533-545; vendor-facts.md: "`progress` must always be a number".
        "job-status" => {
            json!({"type": "object", "required": ["job_id", "status", "progress", "total_images", "processed_images"],
            "properties": {"job_id": s,
                "status": {"enum": ["pending", "processing", "completed", "failed", "aborted"]},
                "progress": {"type": "number", "minimum": 0, "maximum": 100},
                "total_images": int, "processed_images": int}})
        }
        // Reference lines 443-473 and 562-567.
        "job-results" => json!({"type": "object", "required": ["status", "results"],
            "properties": {"status": {"type": "string"}, "results": {"type": "array", "items": {"type": "object",
                "required": ["image_index", "group_index", "status"],
                "properties": {"image_index": int, "group_index": int,
                    "status": {"type": "string"}, "error_message": {"type": ["string", "null"]},
                    "output": {"type": ["object", "null"], "properties": {"full_size": link, "thumbnail": link}}}}}}}),
        // Reference lines 509-513.
        "download" => json!({"type": "object", "required": ["download_url", "expires"],
            "properties": {"download_url": s, "expires": {"type": "string", "format": "date-time"}}}),
        // Reference lines 409-422; vendor-facts.md "Notifications".
        "notification" => json!({"type": "object", "required": ["id", "name", "data", "timestamp"],
            "properties": {"id": {"type": "integer"}, "name": s, "data": {"type": "object"}, "timestamp": {"type": "number"}}}),
        // vendor-facts.md "Errors".
        "error" => json!({"type": "object", "required": ["error", "detail"],
            "properties": {"error": {"type": "string"}, "detail": {"type": "array", "items": {"type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": ["string", "null"]}, "message": {"type": "string"}, "position": {"type": "string"}}}}}}),
        // Reference lines 370-375; vendor-facts.md "Webhooks".
        "webhook" => json!({"type": "object", "required": ["url", "secret"],
            "properties": {"url": s, "secret": s}}),
        _ => return None,
    };
    Some(v)
}

/// Checks `v` against the vendor's shape `name` ([`SHAPES`]); each
/// violation names its field.
pub fn vendor_shape(name: &str, v: &Value) -> Result<(), Vec<Violation>> {
    static COMPILED: OnceLock<Vec<(&'static str, Validator)>> = OnceLock::new();
    let compiled = COMPILED.get_or_init(|| {
        SHAPES
            .iter()
            .filter_map(|n| {
                let schema = shape(n)?;
                let v = jsonschema::options()
                    .should_validate_formats(true)
                    .build(&schema)
                    .ok()?;
                Some((*n, v))
            })
            .collect()
    });
    let Some((_, validator)) = compiled.iter().find(|(n, _)| *n == name) else {
        return Err(vec![Violation {
            field: None,
            message: format!("no vendor shape named {name}"),
        }]);
    };
    let errors: Vec<Violation> = validator
        .iter_errors(v)
        .map(|e| Violation {
            field: Some(pointer_to_path(e.instance_path().as_str())),
            message: e.to_string(),
        })
        .collect();
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// Output sizes by `size` and `ar`: the long side 1024/2048/4096, the short
/// side from the ratio rounded down to a multiple of 8 (the fake's README,
/// "Output sizes"; the reference names the values, lines 224-227).
pub fn table_size(size: &str, ar: &str) -> Option<(u32, u32)> {
    let long: u32 = match size {
        "1K" => 1024,
        "2K" => 2048,
        "4K" => 4096,
        _ => return None,
    };
    let (a, b): (u32, u32) = match ar {
        "1:1" => (1, 1),
        "3:4" => (3, 4),
        "4:3" => (4, 3),
        "9:16" => (9, 16),
        "16:9" => (16, 9),
        _ => return None,
    };
    let short = |num: u32, den: u32| long * num / den / 8 * 8;
    Some(if a >= b {
        (long, short(b, a))
    } else {
        (short(a, b), long)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_compiles_and_checks() {
        for name in SHAPES {
            assert!(shape(name).is_some(), "{name}");
        }
        assert!(
            vendor_shape(
                "upload",
                &json!({"upload_url": "u", "download_url": "d", "file_id": "f", "content_type": "image/jpeg"})
            )
            .is_ok()
        );
        let errs = vendor_shape(
            "job-status",
            &json!({"job_id": "j", "status": "completed", "progress": 1.5e3,
            "total_images": 1, "processed_images": 1}),
        )
        .expect_err("progress over 100");
        assert_eq!(errs[0].field.as_deref(), Some("progress"));
        assert!(vendor_shape("nope", &json!({})).is_err());
    }

    #[test]
    fn the_size_table_rounds_the_short_side_down_to_8() {
        assert_eq!(table_size("1K", "9:16"), Some((576, 1024)));
        assert_eq!(table_size("2K", "16:9"), Some((2048, 1152)));
        assert_eq!(table_size("4K", "3:4"), Some((3072, 4096)));
        assert_eq!(table_size("1K", "1:1"), Some((1024, 1024)));
        assert_eq!(table_size("8K", "1:1"), None);
    }

    #[test]
    fn strict_is_never_looser_than_vendor() {
        for e in Expect::ALL {
            let vendor = Profile::Vendor.statuses(e);
            for s in Profile::Strict.statuses(e) {
                assert!(vendor.contains(s), "{e:?}: strict allows {s}, vendor does not");
            }
        }
        assert!(TOLERANCES.iter().all(|t| !t.source.is_empty()));
    }
}
