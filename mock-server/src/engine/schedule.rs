//! A job's whole future, decided at creation: the ordered list of events
//! (processing starts, each output starts and finishes with its engine and
//! outcome, the job ends, post-processing) on the injected clock. Durations
//! come from a seeded distribution times `--time-scale`, so the same seed
//! gives the same timeline. Pure: no I/O, no clock reads.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::clock::Instant;
use crate::domain::job_request::{Geometry, JobRequest, ModelChoice, Size};
use crate::engine::plan::FaultPlan;

/// An image engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    /// The default engine.
    NanoBananaPro,
    /// The alternative engine.
    Seedream,
}

impl Engine {
    /// The wire name (`model_used`).
    pub fn name(self) -> &'static str {
        match self {
            Self::NanoBananaPro => "nano_banana_pro",
            Self::Seedream => "seedream",
        }
    }
}

/// How one output ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// An image, by `model`; `fell_back` when `auto` had to use seedream.
    Completed {
        /// The engine that produced it.
        model: Engine,
        /// Whether the default engine refused first.
        fell_back: bool,
    },
    /// No image.
    Failed {
        /// The last engine tried.
        model: Engine,
        /// Why.
        message: String,
    },
}

/// What happens at an instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The job exists (`pending`): its first notification. An event like
    /// the others, so it waits while the job is held and a restart on
    /// `--data-dir` announces it if it had not been.
    Created,
    /// `pending → processing`.
    ProcessingStarted,
    /// An output begins generating.
    OutputStarted {
        /// Output index.
        output: u32,
    },
    /// An output is done.
    OutputFinished {
        /// Output index.
        output: u32,
        /// How it ended.
        outcome: Outcome,
    },
    /// The fault plan fails the whole job; unfinished outputs fail with it.
    JobFailed {
        /// The job's `error_message`.
        message: String,
    },
    /// The job is aborted (the control API, or the fault plan): it ends
    /// `aborted`; finished outputs keep their images, unfinished ones fail.
    JobAborted {
        /// The job's `error_message`: why.
        message: String,
    },
    /// Every output is done: the job completes (or fails when none succeeded).
    GenerationDone,
    /// `post_processing_status: processing`.
    PostProcessingStarted,
    /// Post-processing ends.
    PostProcessingFinished {
        /// `None` on success, else the error.
        error: Option<String>,
    },
}

/// An event and when it happens.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimedEvent {
    /// When.
    pub at: Instant,
    /// What.
    pub event: Event,
}

/// Fixed facts of one output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputSlot {
    /// Which instruction (`image_index`).
    pub instruction: usize,
    /// Which variation of it (`group_index`).
    pub variation: u32,
    /// Pixel width.
    pub width: u32,
    /// Pixel height.
    pub height: u32,
    /// A seeded score in 0.80–0.99 for a completed output.
    pub quality_score: f64,
    /// The seed the picture is drawn from.
    pub style_key: u64,
}

/// The timeline of a job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Schedule {
    /// Events in the order they apply (times never decrease).
    pub events: Vec<TimedEvent>,
    /// One slot per output.
    pub outputs: Vec<OutputSlot>,
}

/// The longest any scheduled span can be (ten years).
const MAX_SPAN: std::time::Duration = std::time::Duration::from_secs(10 * 365 * 86_400);
/// Seconds before a job starts processing.
const QUEUE_SECONDS: (f64, f64) = (0.2, 1.0);
/// Seconds one engine attempt takes at 1K.
const ATTEMPT_SECONDS: (f64, f64) = (3.0, 7.0);
/// Seconds post-processing takes.
const POST_SECONDS: (f64, f64) = (1.5, 3.0);

fn size_factor(g: Geometry) -> f64 {
    match g {
        Geometry::Table(Size::K1, _) => 1.0,
        Geometry::Table(Size::K2, _) => 1.4,
        Geometry::Table(Size::K4, _) => 2.0,
        Geometry::Custom(c) => (f64::from(c.width().max(c.height())) / 1024.0).clamp(1.0, 3.0),
    }
}

/// Builds the timeline of a job created at `created_at`. `seed` is the
/// job's own seed (from `--seed` and the job id).
pub fn build(req: &JobRequest, plan: &FaultPlan, created_at: Instant, seed: u64, time_scale: f64) -> Schedule {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Saturates instead of panicking: no plan or scale can overflow a Duration.
    let scaled = |secs: f64| std::time::Duration::try_from_secs_f64((secs * time_scale).max(0.0)).unwrap_or(MAX_SPAN);
    let mut draw = |(lo, hi): (f64, f64)| rng.random_range(lo..hi);

    // Fixed facts of every output, in order of instructions then variations.
    let mut outputs = Vec::new();
    let mut attempt_secs = Vec::new();
    for (i, ins) in req.instructions.iter().enumerate() {
        let (width, height) = ins.geometry.pixels();
        for v in 0..ins.num_variations.get() {
            let quality = (draw((0.80, 0.99)) * 100.0).round() / 100.0;
            let style_key = style_key(seed, ins.seed, &ins.descriptor_texts(), i, v);
            outputs.push(OutputSlot {
                instruction: i,
                variation: v,
                width,
                height,
                quality_score: quality,
                style_key,
            });
            attempt_secs.push(draw(ATTEMPT_SECONDS) * size_factor(ins.geometry));
        }
    }
    let processing_at = created_at.plus(scaled(draw(QUEUE_SECONDS)));
    let post_secs = draw(POST_SECONDS);

    // Engines and outcomes.
    let primary = match req.options.model {
        ModelChoice::Seedream => Engine::Seedream,
        ModelChoice::Auto | ModelChoice::NanoBananaPro => Engine::NanoBananaPro,
    };
    let plan_outcome = |k: u32| -> (Outcome, u32) {
        if plan.fail_outputs.contains(&k) {
            return (
                Outcome::Failed {
                    model: primary,
                    message: format!("{} failed to generate this output", primary.name()),
                },
                1,
            );
        }
        let refused_all = plan.refuse_outputs_all_engines.contains(&k);
        if !(refused_all || plan.refuse_outputs.contains(&k)) {
            return (
                Outcome::Completed {
                    model: primary,
                    fell_back: false,
                },
                1,
            );
        }
        match req.options.model {
            ModelChoice::Auto if refused_all => (
                Outcome::Failed {
                    model: Engine::Seedream,
                    message: "content refused by nano_banana_pro and by the seedream fallback".into(),
                },
                2,
            ),
            ModelChoice::Auto => (
                Outcome::Completed {
                    model: Engine::Seedream,
                    fell_back: true,
                },
                2,
            ),
            _ => (
                Outcome::Failed {
                    model: primary,
                    message: format!("content refused by {}", primary.name()),
                },
                1,
            ),
        }
    };

    // Start and finish of each output; with use_anchor, the anchor's first
    // output completes before the others start.
    let total = outputs.len();
    let anchor = (req.options.use_anchor && total > 1)
        .then(|| {
            outputs
                .iter()
                .position(|o| o.instruction == req.options.anchor_index.get())
        })
        .flatten();
    let mut timings: Vec<(Instant, Instant, Outcome)> = Vec::with_capacity(total);
    for (k, secs) in attempt_secs.iter().enumerate() {
        let k32 = k as u32;
        let (outcome, attempts) = plan_outcome(k32);
        let duration = scaled(secs * f64::from(attempts) + plan.delay_of(k32));
        timings.push((processing_at, processing_at.plus(duration), outcome));
    }
    if let Some(a) = anchor {
        let anchor_done = timings[a].1;
        for (k, t) in timings.iter_mut().enumerate() {
            if k != a {
                let d = std::time::Duration::from_millis(u64::try_from(t.1.millis() - t.0.millis()).unwrap_or(0));
                *t = (anchor_done, anchor_done.plus(d), t.2.clone());
            }
        }
    }

    // The events, ordered by time. At equal times the anchor's events come
    // first, then starts before finishes, outputs in order: so even at
    // `--time-scale 0` the anchor completes before the others start and no
    // output finishes before it starts.
    let mut events = vec![
        TimedEvent {
            at: created_at,
            event: Event::Created,
        },
        TimedEvent {
            at: processing_at,
            event: Event::ProcessingStarted,
        },
    ];
    let mut by_time: Vec<((Instant, u8, u8, u32), Event)> = Vec::new();
    for (k, (start, finish, outcome)) in timings.into_iter().enumerate() {
        let phase = u8::from(anchor.is_some_and(|a| a != k));
        let k = k as u32;
        by_time.push(((start, phase, 0, k), Event::OutputStarted { output: k }));
        by_time.push(((finish, phase, 1, k), Event::OutputFinished { output: k, outcome }));
    }
    by_time.sort_by_key(|(key, _)| *key);
    // A job the plan fails or aborts ends at the first finish that brings
    // its progress to the threshold (0: as processing starts).
    let early_end = plan.early_end();
    let mut finished = 0usize;
    let mut any_success = false;
    let mut end = processing_at;
    let mut ended = false;
    if let Some((p, event)) = &early_end
        && *p == 0.0
    {
        events.push(TimedEvent {
            at: processing_at,
            event: event.clone(),
        });
        ended = true;
    }
    for ((at, ..), event) in by_time {
        if ended {
            break;
        }
        if let Event::OutputFinished { outcome, .. } = &event {
            finished += 1;
            any_success |= matches!(outcome, Outcome::Completed { .. });
        }
        let is_finish = matches!(event, Event::OutputFinished { .. });
        events.push(TimedEvent { at, event });
        end = at;
        if let (true, Some((p, event))) = (is_finish, &early_end)
            && total > 0
            && (finished as f64) * 100.0 / (total as f64) >= *p
        {
            events.push(TimedEvent {
                at,
                event: event.clone(),
            });
            ended = true;
        }
    }
    if !ended {
        events.push(TimedEvent {
            at: end,
            event: Event::GenerationDone,
        });
        if req.post_process && any_success {
            events.push(TimedEvent {
                at: end,
                event: Event::PostProcessingStarted,
            });
            events.push(TimedEvent {
                at: end.plus(scaled(post_secs)),
                event: Event::PostProcessingFinished {
                    error: plan.fail_post_processing.clone(),
                },
            });
        }
    }
    Schedule { events, outputs }
}

/// The seed of one output's picture: the instruction's seed when given
/// (so the same seed gives the same picture), else the job's; mixed with the
/// descriptors and the variation so that outputs differ.
fn style_key(job_seed: u64, instruction_seed: Option<i64>, texts: &[&str], instruction: usize, variation: u32) -> u64 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    match instruction_seed {
        Some(s) => h.update(s.to_le_bytes()),
        None => {
            h.update(job_seed.to_le_bytes());
            h.update((instruction as u64).to_le_bytes());
        }
    }
    for t in texts {
        h.update(t.as_bytes());
        h.update([0]);
    }
    h.update(variation.to_le_bytes());
    let d = h.finalize();
    u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}
