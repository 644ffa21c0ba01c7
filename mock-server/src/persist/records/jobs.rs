//! Jobs: their inputs, the request they came from, and their schedule.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::Instant;
use crate::domain::ids::{FileId, IdentityCode, JobId, TenantId};
use crate::domain::project::Project;
use crate::engine::job::Job;
use crate::engine::plan::FaultPlan;
use crate::engine::schedule::{Event, OutputSlot, Schedule, TimedEvent};
use crate::scenarios::Scenario;

use super::{ProjectRecord, at, ms};

/// One input of a job; its bytes are the blob `bytes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRecord {
    /// The file.
    pub file_id: FileId,
    /// Its upload name.
    pub filename: String,
    /// Its note.
    pub note: Option<String>,
    /// Digest of its bytes.
    pub bytes: String,
}

/// What a job was made from: enough to build it again. The request is kept
/// as the JSON body it came as and parsed again on load (the parser is
/// pure: the same body and account give the same request).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// `job_…`.
    pub id: JobId,
    /// Owner.
    pub owner: TenantId,
    /// Creation order.
    pub seq: u64,
    created_at: i64,
    /// The request body as received.
    pub source: Value,
    /// The model.
    pub identity: IdentityCode,
    project: ProjectRecord,
    /// The inputs, in request order.
    pub inputs: Vec<InputRecord>,
    /// The fault plan.
    pub plan: FaultPlan,
    /// The scenario it was created under.
    pub scenario: Option<Scenario>,
    /// The base URL of its creating request, when URLs follow the request:
    /// its events keep using it after a restart. Absent in stores written
    /// before it was kept (their jobs use the bound address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_base: Option<String>,
}

impl JobRecord {
    /// The record of `job`, created from `source`, whose inputs are stored
    /// under `digests` (in order).
    pub fn new(job: &Job, source: Value, digests: Vec<String>) -> Self {
        Self {
            id: job.id.clone(),
            owner: job.owner.clone(),
            seq: job.seq,
            created_at: ms(job.created_at),
            source,
            identity: job.identity.code.clone(),
            project: ProjectRecord::new(&job.owner, &job.project),
            inputs: job
                .inputs
                .iter()
                .zip(digests)
                .map(|(i, d)| InputRecord {
                    file_id: i.file_id.clone(),
                    filename: i.filename.clone(),
                    note: i.note.clone(),
                    bytes: d,
                })
                .collect(),
            plan: job.plan.clone(),
            scenario: job.scenario.as_deref().cloned(),
            public_base: job.public_base.as_deref().map(str::to_owned),
        }
    }

    /// Creation time.
    pub fn created_at(&self) -> Instant {
        at(self.created_at)
    }

    /// The project.
    pub fn project(&self) -> Project {
        self.project.clone().project()
    }
}

/// One scheduled event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TimedRecord {
    at: i64,
    event: Event,
}

/// A job's schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleRecord {
    events: Vec<TimedRecord>,
    outputs: Vec<OutputSlot>,
}

impl From<&Schedule> for ScheduleRecord {
    fn from(s: &Schedule) -> Self {
        Self {
            events: s
                .events
                .iter()
                .map(|e| TimedRecord {
                    at: ms(e.at),
                    event: e.event.clone(),
                })
                .collect(),
            outputs: s.outputs.clone(),
        }
    }
}

impl From<ScheduleRecord> for Schedule {
    fn from(r: ScheduleRecord) -> Self {
        Self {
            events: r
                .events
                .into_iter()
                .map(|e| TimedEvent {
                    at: at(e.at),
                    event: e.event,
                })
                .collect(),
            outputs: r.outputs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::schedule::{Engine, Outcome};
    use crate::persist::records::{round_trip, t};

    #[test]
    fn schedules_round_trip_exactly() {
        let s = Schedule {
            events: vec![
                TimedEvent {
                    at: t(50),
                    event: Event::Created,
                },
                TimedEvent {
                    at: t(100),
                    event: Event::ProcessingStarted,
                },
                TimedEvent {
                    at: t(200),
                    event: Event::OutputFinished {
                        output: 0,
                        outcome: Outcome::Completed {
                            model: Engine::Seedream,
                            fell_back: true,
                        },
                    },
                },
                TimedEvent {
                    at: t(300),
                    event: Event::PostProcessingFinished {
                        error: Some("boom".into()),
                    },
                },
                TimedEvent {
                    at: t(400),
                    event: Event::JobAborted {
                        message: "cancelled".into(),
                    },
                },
            ],
            outputs: vec![OutputSlot {
                instruction: 1,
                variation: 2,
                width: 768,
                height: 1024,
                // A float whose shortest text form is long: it must come back
                // bit for bit (results show it).
                quality_score: 0.1 + 0.7,
                style_key: u64::MAX - 3,
            }],
        };
        let back: Schedule = round_trip(&ScheduleRecord::from(&s)).into();
        assert_eq!(back, s);
        assert_eq!(back.outputs[0].quality_score.to_bits(), (0.1f64 + 0.7).to_bits());
    }
}
