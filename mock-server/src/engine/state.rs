//! A job's observable state, built by applying its schedule's events in
//! order. Every read sees a state that some prefix of the events produced,
//! so `progress`, `processed_images`, statuses and `updated_at` always agree.

use serde::Serialize;

use crate::clock::Instant;
use crate::engine::plan::JOB_ABORTED;
use crate::engine::schedule::{Engine, Event, Outcome};

/// `status` of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Created, not yet processing.
    Pending,
    /// Outputs are being generated.
    Processing,
    /// Every output is done, at least one succeeded, and post-processing
    /// (when asked for) has ended.
    Completed,
    /// No output succeeded, or the job failed as a whole.
    Failed,
    /// Stopped before it was done (the control API, a fault plan);
    /// `error_message` says why.
    Aborted,
}

impl JobStatus {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Aborted => "aborted",
        }
    }

    /// Whether no further change of `status` can come.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Aborted)
    }
}

/// `post_processing_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PostStatus {
    /// Waiting for generation.
    Pending,
    /// Running.
    Processing,
    /// Done.
    Completed,
    /// Failed (`post_processing_error` says why).
    Failed,
    /// Not run because generation failed.
    Skipped,
}

impl PostStatus {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

/// `status` of one output (result).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputStatus {
    /// Not started.
    Pending,
    /// Generating.
    Processing,
    /// An image exists.
    Completed,
    /// No image; `error_message` says why.
    Failed,
}

impl OutputStatus {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }
}

/// One output's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputState {
    /// Status.
    pub status: OutputStatus,
    /// The engine that produced it (or last refused it).
    pub model_used: Option<Engine>,
    /// Whether `auto` fell back to seedream.
    pub fell_back: bool,
    /// Why it failed.
    pub error_message: Option<String>,
    /// When generation began.
    pub started_at: Option<Instant>,
    /// When it ended.
    pub finished_at: Option<Instant>,
}

/// A job's state after some prefix of its events.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobState {
    /// Job status.
    pub status: JobStatus,
    /// Per output.
    pub outputs: Vec<OutputState>,
    /// Finished outputs (completed or failed).
    pub processed: u32,
    /// `None` when post-processing was not asked for.
    pub post_processing_status: Option<PostStatus>,
    /// Why post-processing failed.
    pub post_processing_error: Option<String>,
    /// Why the job failed.
    pub error_message: Option<String>,
    /// Time of the last change.
    pub updated_at: Instant,
    /// How many schedule events are applied.
    pub applied: usize,
}

impl JobState {
    /// The state at creation.
    pub fn new(outputs: usize, post_process: bool, created_at: Instant) -> Self {
        let pending = OutputState {
            status: OutputStatus::Pending,
            model_used: None,
            fell_back: false,
            error_message: None,
            started_at: None,
            finished_at: None,
        };
        Self {
            status: JobStatus::Pending,
            outputs: vec![pending; outputs],
            processed: 0,
            post_processing_status: post_process.then_some(PostStatus::Pending),
            post_processing_error: None,
            error_message: None,
            updated_at: created_at,
            applied: 0,
        }
    }

    /// The total number of outputs.
    pub fn total(&self) -> u32 {
        self.outputs.len() as u32
    }

    /// Percentage of finished outputs, one decimal.
    pub fn progress(&self) -> f64 {
        if self.outputs.is_empty() {
            return 0.0;
        }
        (f64::from(self.processed) * 1000.0 / f64::from(self.total())).round() / 10.0
    }

    /// Applies one event that happens at `at`.
    pub fn apply(&mut self, at: Instant, event: &Event) {
        self.applied += 1;
        self.updated_at = at;
        match event {
            // Changes nothing: it announces the state the job was created in.
            Event::Created => {}
            Event::ProcessingStarted => {
                if self.status == JobStatus::Pending {
                    self.status = JobStatus::Processing;
                }
            }
            Event::OutputStarted { output } => {
                if let Some(o) = self.outputs.get_mut(*output as usize) {
                    o.status = OutputStatus::Processing;
                    o.started_at = Some(at);
                }
            }
            Event::OutputFinished { output, outcome } => {
                if let Some(o) = self.outputs.get_mut(*output as usize) {
                    if !matches!(o.status, OutputStatus::Completed | OutputStatus::Failed) {
                        self.processed += 1;
                    }
                    o.finished_at = Some(at);
                    o.started_at.get_or_insert(at);
                    match outcome {
                        Outcome::Completed { model, fell_back } => {
                            o.status = OutputStatus::Completed;
                            o.model_used = Some(*model);
                            o.fell_back = *fell_back;
                        }
                        Outcome::Failed { model, message } => {
                            o.status = OutputStatus::Failed;
                            o.model_used = Some(*model);
                            o.error_message = Some(message.clone());
                        }
                    }
                }
            }
            Event::JobFailed { message } => {
                self.fail_unfinished(at, &format!("job failed: {message}"));
                self.fail(message.clone());
            }
            Event::JobAborted { message } => {
                // Finished outputs keep their images. The others fail (the
                // result statuses stay the documented ones; the job's status
                // says it was aborted), and so does post-processing if it
                // had begun; if not, it is skipped.
                self.fail_unfinished(at, JOB_ABORTED);
                self.status = JobStatus::Aborted;
                self.error_message = Some(message.clone());
                match self.post_processing_status {
                    Some(PostStatus::Pending) => self.post_processing_status = Some(PostStatus::Skipped),
                    Some(PostStatus::Processing) => {
                        self.post_processing_status = Some(PostStatus::Failed);
                        self.post_processing_error = Some(JOB_ABORTED.into());
                    }
                    _ => {}
                }
            }
            Event::GenerationDone => {
                if self.outputs.iter().any(|o| o.status == OutputStatus::Completed) {
                    // With post-processing the job stays `processing` until it
                    // ends, so `completed` is announced exactly once, and final.
                    if self.post_processing_status.is_none() {
                        self.status = JobStatus::Completed;
                    }
                } else {
                    let first = self
                        .outputs
                        .iter()
                        .find_map(|o| o.error_message.clone())
                        .unwrap_or_default();
                    self.fail(format!("all {} outputs failed: {first}", self.outputs.len()));
                }
            }
            Event::PostProcessingStarted => self.post_processing_status = Some(PostStatus::Processing),
            Event::PostProcessingFinished { error } => {
                self.post_processing_status = Some(if error.is_some() {
                    PostStatus::Failed
                } else {
                    PostStatus::Completed
                });
                self.post_processing_error.clone_from(error);
                self.status = JobStatus::Completed;
            }
        }
    }

    /// Fails every output that had not finished, with `message`. They are
    /// not processed: `progress` stays where the job stopped.
    fn fail_unfinished(&mut self, at: Instant, message: &str) {
        for o in &mut self.outputs {
            if !matches!(o.status, OutputStatus::Completed | OutputStatus::Failed) {
                o.status = OutputStatus::Failed;
                o.error_message = Some(message.to_owned());
                o.finished_at = Some(at);
            }
        }
    }

    fn fail(&mut self, message: String) {
        self.status = JobStatus::Failed;
        self.error_message = Some(message);
        if self.post_processing_status.is_some() {
            self.post_processing_status = Some(PostStatus::Skipped);
        }
    }
}
