//! Download links (ZIP tokens).

use serde::{Deserialize, Serialize};

use crate::domain::ids::{JobId, TenantId};
use crate::storage::records::DownloadGrant;

use super::{at, ms};

/// A ZIP download link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadRecord {
    owner: TenantId,
    jobs: Vec<JobId>,
    expires_at: i64,
}

impl From<&DownloadGrant> for DownloadRecord {
    fn from(g: &DownloadGrant) -> Self {
        Self {
            owner: g.owner.clone(),
            jobs: g.jobs.clone(),
            expires_at: ms(g.expires_at),
        }
    }
}

impl From<DownloadRecord> for DownloadGrant {
    fn from(r: DownloadRecord) -> Self {
        Self {
            owner: r.owner,
            jobs: r.jobs,
            expires_at: at(r.expires_at),
        }
    }
}
