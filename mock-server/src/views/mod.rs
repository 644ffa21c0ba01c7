//! Everything the API says about a job, as typed bodies: the status (shared
//! by `GET /jobs/{id}/status`, `/results` and the control API), the results,
//! and the notifications the engine's events cause. A renamed field is a
//! compile error here, and the tests check every body against `schemas/`.
//! Bodies borrow from the job and its state, and are serialised straight
//! from them.

pub mod notifications;
pub mod results;
pub mod status;

pub use notifications::{BatchEditOut, ImageResultOut, OutputLinks};
pub use results::{JobResultOut, JobResultsOut, SummaryOut, VersionsOut};
pub use status::{JobCreatedOut, JobProgressOut, JobStatusOut, ProcessingOptionsOut};
