//! The bodies of the fuzz targets, one module each: `run(data)` panics when
//! the input breaks a property. Two runners call them: cargo-fuzz's
//! libFuzzer binaries in `fuzz/` (`make fuzz`, coverage-guided, for as long
//! as asked), and the smoke test in `tests/smoke.rs` (part of `make test`),
//! which feeds each target its committed seeds and a fixed set of mutations
//! of them (`smoke`). The smoke shares the workspace's build, so `make test`
//! pays for no second, instrumented build of the server.

pub mod identity_upload;
pub mod image_probe;
pub mod job_request;
pub mod presigned_query;
pub mod scenario;
pub mod smoke;

/// A target's body: panics on a finding.
pub type Target = fn(&[u8]);

/// Every target, by the name its seeds and dictionary use in `fuzz/`.
pub const TARGETS: [(&str, Target); 5] = [
    ("job_request", job_request::run),
    ("identity_upload", identity_upload::run),
    ("image_probe", image_probe::run),
    ("presigned_query", presigned_query::run),
    ("scenario", scenario::run),
];
