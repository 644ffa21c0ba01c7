//! The fault plan of one job: which outputs are refused or fail, when the
//! whole job fails, which outputs are slow. A plan comes from documented
//! marker words in the request and from an injected plan (scenarios); the
//! schedule is built from it, so every failure is deterministic.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::domain::job_request::JobRequest;
use crate::engine::schedule::Event;

/// In an instruction's text (any descriptor or `prompt`): the first engine
/// tried refuses that instruction's outputs. In an image note: all outputs.
pub const MARKER_REFUSE: &str = "mock:refuse";
/// Every engine refuses.
pub const MARKER_REFUSE_ALL: &str = "mock:refuse-all";
/// The output fails with an engine error.
pub const MARKER_FAIL: &str = "mock:fail";
/// Post-processing fails.
pub const MARKER_FAIL_POST: &str = "mock:fail-post-processing";
/// The output takes 60 s longer (scaled by `--time-scale`).
pub const MARKER_SLOW: &str = "mock:slow";

/// What an aborted job's `error_message` says when nobody said why, and
/// what its outputs that had not finished say.
pub const JOB_ABORTED: &str = "job aborted";

/// The longest delay a plan may ask for (a year).
pub const MAX_DELAY_SECONDS: f64 = 31_536_000.0;
/// Output indexes run below this (10 instructions × 8 variations).
pub const MAX_OUTPUT_INDEX: u32 = 80;

/// Extra time for one output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputDelay {
    /// Output index (in order of instructions, then variations).
    pub output: u32,
    /// Extra seconds, before `--time-scale`.
    pub seconds: f64,
}

/// What goes wrong in one job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPlan {
    /// Outputs the first engine tried refuses: `auto` falls back to
    /// seedream, an explicit engine fails the output.
    #[serde(default)]
    pub refuse_outputs: BTreeSet<u32>,
    /// Outputs every engine refuses (fails even with `auto`).
    #[serde(default)]
    pub refuse_outputs_all_engines: BTreeSet<u32>,
    /// Outputs that fail with an engine error.
    #[serde(default)]
    pub fail_outputs: BTreeSet<u32>,
    /// Fail the whole job once its progress reaches this percentage
    /// (0 fails it as processing starts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_job_at_progress: Option<f64>,
    /// The job's `error_message` when it is failed by the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_job_message: Option<String>,
    /// Abort the whole job once its progress reaches this percentage (as
    /// `fail_job_at_progress`, ending `aborted`); not with it: a job ends once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_job_at_progress: Option<f64>,
    /// The job's `error_message` when it is aborted by the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_job_message: Option<String>,
    /// Slow outputs.
    #[serde(default)]
    pub delay_outputs: Vec<OutputDelay>,
    /// Post-processing fails with this message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_post_processing: Option<String>,
}

impl FaultPlan {
    /// The plan the request's marker words ask for.
    pub fn from_markers(req: &JobRequest) -> Self {
        let mut plan = Self::default();
        let has = |text: &str, marker: &str| {
            text.to_ascii_lowercase()
                .split(|c: char| c.is_whitespace() || c == ',')
                .any(|w| w == marker)
        };
        let notes: Vec<&str> = req.images.iter().filter_map(|i| i.note.as_deref()).collect();
        let mut k = 0u32;
        for ins in &req.instructions {
            let mut texts = ins.descriptor_texts();
            texts.extend(notes.iter().copied());
            let any = |m: &str| texts.iter().any(|t| has(t, m));
            for _ in 0..ins.num_variations.get() {
                if any(MARKER_REFUSE) {
                    plan.refuse_outputs.insert(k);
                }
                if any(MARKER_REFUSE_ALL) {
                    plan.refuse_outputs_all_engines.insert(k);
                }
                if any(MARKER_FAIL) {
                    plan.fail_outputs.insert(k);
                }
                if any(MARKER_SLOW) {
                    plan.delay_outputs.push(OutputDelay {
                        output: k,
                        seconds: 60.0,
                    });
                }
                if any(MARKER_FAIL_POST) {
                    plan.fail_post_processing = Some("post-processing failed".into());
                }
                k += 1;
            }
        }
        plan
    }

    /// This plan with `other` laid over it (sets unite; `other`'s single
    /// values win).
    pub fn merged(mut self, other: &FaultPlan) -> Self {
        self.refuse_outputs.extend(&other.refuse_outputs);
        self.refuse_outputs_all_engines
            .extend(&other.refuse_outputs_all_engines);
        self.fail_outputs.extend(&other.fail_outputs);
        self.delay_outputs.extend(other.delay_outputs.iter().cloned());
        // How the job ends early is one choice: a later plan's replaces it.
        if other.fail_job_at_progress.is_some() || other.abort_job_at_progress.is_some() {
            self.fail_job_at_progress = other.fail_job_at_progress;
            self.fail_job_message.clone_from(&other.fail_job_message);
            self.abort_job_at_progress = other.abort_job_at_progress;
            self.abort_job_message.clone_from(&other.abort_job_message);
        }
        if other.fail_post_processing.is_some() {
            self.fail_post_processing.clone_from(&other.fail_post_processing);
        }
        self
    }

    /// Checks the numbers: progress 0–100, delays finite and at most a year,
    /// output indexes below 80 (10 instructions × 8 variations). The error
    /// names the field (`delay_outputs[0].seconds: …`).
    pub fn validate(&self) -> Result<(), String> {
        for (name, at) in [
            ("fail_job_at_progress", self.fail_job_at_progress),
            ("abort_job_at_progress", self.abort_job_at_progress),
        ] {
            if let Some(p) = at
                && !(p.is_finite() && (0.0..=100.0).contains(&p))
            {
                return Err(format!("{name}: must be between 0 and 100"));
            }
        }
        if self.fail_job_at_progress.is_some() && self.abort_job_at_progress.is_some() {
            return Err("abort_job_at_progress: not together with fail_job_at_progress (a job ends once)".into());
        }
        for (name, set) in [
            ("refuse_outputs", &self.refuse_outputs),
            ("refuse_outputs_all_engines", &self.refuse_outputs_all_engines),
            ("fail_outputs", &self.fail_outputs),
        ] {
            if set.iter().any(|k| *k >= MAX_OUTPUT_INDEX) {
                return Err(format!("{name}: output indexes must be below {MAX_OUTPUT_INDEX}"));
            }
        }
        for (i, d) in self.delay_outputs.iter().enumerate() {
            if !(d.seconds.is_finite() && (0.0..=MAX_DELAY_SECONDS).contains(&d.seconds)) {
                return Err(format!(
                    "delay_outputs[{i}].seconds: must be between 0 and {MAX_DELAY_SECONDS}"
                ));
            }
            if d.output >= MAX_OUTPUT_INDEX {
                return Err(format!("delay_outputs[{i}].output: must be below {MAX_OUTPUT_INDEX}"));
            }
        }
        Ok(())
    }

    /// Whether, and how, the plan ends the job before it is done: the
    /// progress it ends at (0–100) and the event that ends it.
    pub fn early_end(&self) -> Option<(f64, Event)> {
        if let Some(p) = self.abort_job_at_progress {
            let message = self.abort_job_message.clone().unwrap_or_else(|| JOB_ABORTED.into());
            return Some((p.clamp(0.0, 100.0), Event::JobAborted { message }));
        }
        let p = self.fail_job_at_progress?;
        let message = self
            .fail_job_message
            .clone()
            .unwrap_or_else(|| "generation failed: internal engine error".into());
        Some((p.clamp(0.0, 100.0), Event::JobFailed { message }))
    }

    /// Extra seconds for output `k`.
    pub fn delay_of(&self, k: u32) -> f64 {
        self.delay_outputs
            .iter()
            .filter(|d| d.output == k)
            .map(|d| d.seconds.max(0.0))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_plan_replaces_how_the_job_ends_early() {
        let abort = FaultPlan {
            abort_job_at_progress: Some(50.0),
            abort_job_message: Some("stopped".into()),
            ..FaultPlan::default()
        };
        let fail = FaultPlan {
            fail_job_at_progress: Some(25.0),
            ..FaultPlan::default()
        };
        assert_eq!(
            abort.early_end(),
            Some((
                50.0,
                Event::JobAborted {
                    message: "stopped".into()
                }
            ))
        );
        for (earlier, later) in [(&abort, &fail), (&fail, &abort)] {
            let merged = earlier.clone().merged(later);
            assert_eq!(merged.validate(), Ok(()));
            assert_eq!(merged.early_end(), later.early_end());
        }
        // A plan that says nothing of it keeps the earlier choice.
        assert_eq!(abort.clone().merged(&FaultPlan::default()), abort);
        let both = FaultPlan {
            abort_job_at_progress: Some(10.0),
            ..fail
        };
        assert!(both.validate().is_err_and(|e| e.starts_with("abort_job_at_progress:")));
    }
}
