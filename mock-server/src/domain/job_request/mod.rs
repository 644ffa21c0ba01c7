//! `POST /flat-2-model`: the request parsed into domain types. After
//! [`parse`], code cannot hold an invalid request: an anchor index out of
//! range, half a custom size, eleven instructions. Every broken rule is
//! reported with its field path, all of them at once.
//!
//! - `design_value`: the three shapes of a descriptor, `camera` and
//!   `lighting`;
//! - `geometry`: sizes, aspect ratios, formats and custom dimensions;
//! - `parse`: the walker over the JSON body.

mod design_value;
mod geometry;
mod parse;

use serde_json::Value;

pub use design_value::{Camera, DesignValue, Lighting, SavedDesignValue};
pub use geometry::{
    AspectRatio, CustomDimensions, Format, Geometry, MAX_CUSTOM_SIDE, MIN_CUSTOM_SIDE, Size, table_dimensions,
};
pub use parse::parse;

use crate::domain::ids::{FileId, IdentityCode, ProjectId};

/// Most input images of one job.
pub const MAX_IMAGES: usize = 10;
/// Most instructions of one job.
pub const MAX_INSTRUCTIONS: usize = 10;
/// Most variations of one instruction.
pub const MAX_VARIATIONS: u32 = 8;
/// Longest descriptor text, note, preset or category name.
pub const MAX_TEXT_LEN: usize = 2000;
/// Longest `prompt`.
pub const MAX_PROMPT_LEN: usize = 8000;
/// Most `category_names`.
pub const MAX_CATEGORIES: usize = 50;

/// What the account allows, for the rules that depend on it.
#[derive(Debug, Clone, Copy)]
pub struct ParseContext<'a> {
    /// The account holds `OUTPUT_CUSTOM_DIMENSIONS`.
    pub custom_dimensions_allowed: bool,
    /// The account's saved Design Values.
    pub saved_design_values: &'a [SavedDesignValue],
    /// Offline validation (no account known): accept any integer index.
    pub any_saved_index: bool,
}

impl ParseContext<'static> {
    /// The context of offline validation: every account-dependent rule
    /// passes (custom dimensions allowed, any saved index exists).
    pub fn offline() -> Self {
        Self {
            custom_dimensions_allowed: true,
            saved_design_values: &[],
            any_saved_index: true,
        }
    }
}

/// One instruction: produces `num_variations` outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// `pose`.
    pub pose: Option<DesignValue>,
    /// `expression`.
    pub expression: Option<DesignValue>,
    /// `mood`.
    pub mood: Option<DesignValue>,
    /// `background`.
    pub background: Option<DesignValue>,
    /// `style`.
    pub style: Option<DesignValue>,
    /// `color_palette`.
    pub color_palette: Option<DesignValue>,
    /// Deprecated `angle`.
    pub angle: Option<DesignValue>,
    /// `camera`.
    pub camera: Option<Camera>,
    /// `lighting`.
    pub lighting: Option<Lighting>,
    /// `prompt`.
    pub prompt: Option<String>,
    /// The effective seed: the instruction's `seed`, else `options.seed`.
    pub seed: Option<i64>,
    /// How many outputs it makes.
    pub num_variations: NumVariations,
    /// Metadata only.
    pub preset_name: Option<String>,
    /// Metadata only.
    pub category_names: Vec<String>,
    /// Output size.
    pub geometry: Geometry,
    /// Output format.
    pub format: Format,
}

impl Instruction {
    /// Every descriptor text of the instruction, in a fixed order: what the
    /// picture's look and the refusal triggers are derived from.
    pub fn descriptor_texts(&self) -> Vec<&str> {
        let mut out: Vec<&str> = [
            &self.pose,
            &self.expression,
            &self.mood,
            &self.background,
            &self.style,
            &self.color_palette,
            &self.angle,
        ]
        .into_iter()
        .flatten()
        .map(DesignValue::text)
        .collect();
        match &self.camera {
            Some(Camera::Descriptor(d)) => out.push(d.text()),
            Some(Camera::Structured {
                framing,
                angle,
                lens,
                aperture,
            }) => out.extend(
                [framing, angle, lens, aperture]
                    .into_iter()
                    .flatten()
                    .map(String::as_str),
            ),
            None => {}
        }
        match &self.lighting {
            Some(Lighting::Descriptor(d)) => out.push(d.text()),
            Some(Lighting::Structured {
                direction,
                quality,
                complexity,
            }) => out.extend(
                [direction, quality, complexity]
                    .into_iter()
                    .flatten()
                    .map(String::as_str),
            ),
            None => {}
        }
        if let Some(p) = &self.prompt {
            out.push(p);
        }
        out
    }
}

/// `options.model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelChoice {
    /// The default engine with a fallback on refusal.
    Auto,
    /// Only nano_banana_pro.
    NanoBananaPro,
    /// Only seedream.
    Seedream,
}

impl ModelChoice {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::NanoBananaPro => "nano_banana_pro",
            Self::Seedream => "seedream",
        }
    }
}

/// `0 <= anchor_index < len(instructions)`; only [`AnchorIndex::new`]
/// makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnchorIndex(usize);

impl AnchorIndex {
    /// The first instruction, the anchor when the request names none.
    pub const FIRST: Self = Self(0);

    /// Index `i` of a request with `len` instructions, if it is one.
    pub fn new(i: i64, len: usize) -> Option<Self> {
        usize::try_from(i).ok().filter(|i| *i < len).map(Self)
    }

    /// The instruction index.
    pub fn get(self) -> usize {
        self.0
    }
}

/// How many outputs one instruction makes, 1 to [`MAX_VARIATIONS`]; only
/// [`NumVariations::new`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumVariations(u32);

impl NumVariations {
    /// One output: what an instruction without `num_variations` makes.
    pub const ONE: Self = Self(1);

    /// `n` variations, if `1 <= n <= MAX_VARIATIONS`; else the rule's
    /// message.
    pub fn new(n: i64) -> Result<Self, String> {
        u32::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_VARIATIONS).contains(n))
            .map(Self)
            .ok_or_else(|| format!("must be between 1 and {MAX_VARIATIONS}"))
    }

    /// The number of outputs.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// The request's top-level `options`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerationOptions {
    /// Engine choice (legacy `use_alternative_method: true` already mapped).
    pub model: ModelChoice,
    /// Generate the anchor first and align the rest to it.
    pub use_anchor: bool,
    /// Which instruction anchors.
    pub anchor_index: AnchorIndex,
    /// Bake the AI-generated mark into every output.
    pub add_ai_watermark: bool,
    /// Whether the request used the legacy flag (inside `options` or at
    /// the top level).
    pub legacy_alternative_method: bool,
}

/// One input image and its optional styling note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The uploaded file.
    pub file_id: FileId,
    /// Styling note.
    pub note: Option<String>,
}

/// A valid `POST /flat-2-model` request (account-dependent rules checked;
/// the existence of identity, project and files is checked by the handler).
#[derive(Debug, Clone, PartialEq)]
pub struct JobRequest {
    /// The model.
    pub identity_code: IdentityCode,
    /// The project: its `project_id` or its `project_key` (the handler
    /// looks up both).
    pub project_id: ProjectId,
    /// 1–10 inputs, all combined in every output.
    pub images: Vec<ImageRef>,
    /// 1–10 instructions.
    pub instructions: Vec<Instruction>,
    /// Generation options.
    pub options: GenerationOptions,
    /// Run post-processing after generation.
    pub post_process: bool,
    /// Accepted and kept, as the vendor does (default null).
    pub review_config: Option<Value>,
}

impl JobRequest {
    /// The sum of `num_variations`.
    pub fn total_outputs(&self) -> u32 {
        self.instructions.iter().map(|i| i.num_variations.get()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn num_variations_are_one_to_the_maximum_and_nothing_else() {
        let rule = Err(format!("must be between 1 and {MAX_VARIATIONS}"));
        assert_eq!(NumVariations::new(1).map(NumVariations::get), Ok(1));
        assert_eq!(
            NumVariations::new(MAX_VARIATIONS.into()).map(NumVariations::get),
            Ok(MAX_VARIATIONS)
        );
        for n in [0, -1, i64::from(MAX_VARIATIONS) + 1, i64::from(u32::MAX) + 1, i64::MIN] {
            assert_eq!(NumVariations::new(n), rule, "{n}");
        }
    }
}
