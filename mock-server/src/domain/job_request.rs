//! `POST /flat-2-model`: the request parsed into domain types. After
//! [`parse`], code cannot hold an invalid request: an anchor index out of
//! range, half a custom size, eleven instructions. Every broken rule is
//! reported with its field path, all of them at once.

use serde_json::{Map, Value};

use crate::domain::ids::{FileId, IdentityCode, ProjectId};
use crate::error::{FieldError, Position};
use crate::storage::fixtures::SavedDesignValue;

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
/// Smallest custom side.
pub const MIN_CUSTOM_SIDE: u32 = 256;
/// Largest custom side.
pub const MAX_CUSTOM_SIDE: u32 = 7000;

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

/// A "Design Value": a descriptor in one of three shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DesignValue {
    /// A plain string.
    Text(String),
    /// An integer index of a saved Design Value, resolved.
    Saved {
        /// The index the request gave.
        index: i64,
        /// The saved text.
        text: String,
        /// The saved reference image, if any.
        image: Option<String>,
    },
    /// `{text, image}`.
    Object {
        /// The descriptor.
        text: String,
        /// A reference image UUID.
        image: Option<String>,
    },
}

impl DesignValue {
    /// The descriptor text whatever the shape.
    pub fn text(&self) -> &str {
        match self {
            Self::Text(t) | Self::Saved { text: t, .. } | Self::Object { text: t, .. } => t,
        }
    }
}

/// `camera`: a Design Value or `{framing, angle, lens, aperture}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Camera {
    /// A descriptor.
    Descriptor(DesignValue),
    /// The structured form; every sub-field optional.
    Structured {
        /// Framing (`full body`).
        framing: Option<String>,
        /// Angle (`eye level`).
        angle: Option<String>,
        /// Lens (`50mm`).
        lens: Option<String>,
        /// Aperture (`f/2.8`).
        aperture: Option<String>,
    },
}

/// `lighting`: a Design Value or `{direction, quality, complexity}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lighting {
    /// A descriptor.
    Descriptor(DesignValue),
    /// The structured form; every sub-field optional.
    Structured {
        /// Direction.
        direction: Option<String>,
        /// Quality.
        quality: Option<String>,
        /// Complexity.
        complexity: Option<String>,
    },
}

/// `options.size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Size {
    /// Long side 1024.
    K1,
    /// Long side 2048.
    K2,
    /// Long side 4096.
    K4,
}

impl Size {
    /// All sizes with their wire names.
    pub const ALL: [(Self, &'static str); 3] = [(Self::K1, "1K"), (Self::K2, "2K"), (Self::K4, "4K")];

    /// The long side in pixels.
    pub fn long_side(self) -> u32 {
        match self {
            Self::K1 => 1024,
            Self::K2 => 2048,
            Self::K4 => 4096,
        }
    }

    /// The wire name.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(s, _)| *s == self).map_or("1K", |(_, n)| n)
    }
}

/// `options.ar`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AspectRatio {
    /// 1:1.
    Square,
    /// 3:4 (portrait).
    R3x4,
    /// 4:3.
    R4x3,
    /// 9:16 (portrait).
    R9x16,
    /// 16:9.
    R16x9,
}

impl AspectRatio {
    /// All ratios with their wire names.
    pub const ALL: [(Self, &'static str); 5] = [
        (Self::Square, "1:1"),
        (Self::R3x4, "3:4"),
        (Self::R4x3, "4:3"),
        (Self::R9x16, "9:16"),
        (Self::R16x9, "16:9"),
    ];

    /// (width part, height part).
    pub fn parts(self) -> (u32, u32) {
        match self {
            Self::Square => (1, 1),
            Self::R3x4 => (3, 4),
            Self::R4x3 => (4, 3),
            Self::R9x16 => (9, 16),
            Self::R16x9 => (16, 9),
        }
    }

    /// The wire name.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(r, _)| *r == self).map_or("1:1", |(_, n)| n)
    }
}

/// The documented size table: the long side is 1024/2048/4096, the short
/// side follows the ratio, rounded down to a multiple of 8.
pub fn table_dimensions(size: Size, ar: AspectRatio) -> (u32, u32) {
    let long = size.long_side();
    let (w, h) = ar.parts();
    let short = |a: u32, b: u32| (long * a / b) / 8 * 8;
    if w >= h {
        (long, short(h, w))
    } else {
        (short(w, h), long)
    }
}

/// `options.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// JPEG.
    Jpg,
    /// PNG.
    Png,
}

impl Format {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Jpg => "jpg",
            Self::Png => "png",
        }
    }
}

/// Custom `width` × `height`: both 256–7000, multiples of 8, ratio within
/// 1:4 … 4:1. Only [`parse`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomDimensions {
    width: u32,
    height: u32,
}

impl CustomDimensions {
    /// Width in pixels.
    pub fn width(self) -> u32 {
        self.width
    }
    /// Height in pixels.
    pub fn height(self) -> u32 {
        self.height
    }
}

/// Where an output's pixel size comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Geometry {
    /// The size × aspect-ratio table.
    Table(Size, AspectRatio),
    /// Custom width × height (overrides size and ar).
    Custom(CustomDimensions),
}

impl Geometry {
    /// (width, height) in pixels.
    pub fn pixels(self) -> (u32, u32) {
        match self {
            Self::Table(s, ar) => table_dimensions(s, ar),
            Self::Custom(c) => (c.width, c.height),
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
    /// 1–8.
    pub num_variations: u32,
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

/// `0 <= anchor_index < len(instructions)`; only [`parse`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnchorIndex(usize);

impl AnchorIndex {
    /// The instruction index.
    pub fn get(self) -> usize {
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
        self.instructions.iter().map(|i| i.num_variations).sum()
    }
}

/// Collects every broken rule.
struct Errors(Vec<FieldError>);

impl Errors {
    fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message, Position::Body));
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// An integer, also written as an integral float (`2.0`), as JSON Schema
/// counts it.
fn as_int(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        let f = v.as_f64()?;
        // i64::MAX as f64 rounds up to 2^63, which is out of range.
        (f.fract() == 0.0 && f >= -(2f64.powi(63)) && f < 2f64.powi(63)).then_some(f as i64)
    })
}

/// A present, non-null member.
fn member<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn text(v: &Value, path: &str, max: usize, allow_empty: bool, e: &mut Errors) -> Option<String> {
    let Some(s) = v.as_str() else {
        e.add(path, "must be a string");
        return None;
    };
    if !allow_empty && s.trim().is_empty() {
        e.add(path, "must not be empty");
        return None;
    }
    if s.chars().count() > max {
        e.add(path, format!("must be at most {max} characters"));
        return None;
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        e.add(path, "must not contain control characters");
        return None;
    }
    Some(s.to_owned())
}

fn opt_text(obj: &Map<String, Value>, key: &str, parent: &str, max: usize, e: &mut Errors) -> Option<String> {
    member(obj, key).and_then(|v| text(v, &join(parent, key), max, true, e))
}

fn opt_bool(obj: &Map<String, Value>, key: &str, parent: &str, e: &mut Errors) -> Option<bool> {
    let v = member(obj, key)?;
    let b = v.as_bool();
    if b.is_none() {
        e.add(&join(parent, key), "must be a boolean");
    }
    b
}

fn opt_int(obj: &Map<String, Value>, key: &str, parent: &str, e: &mut Errors) -> Option<i64> {
    let v = member(obj, key)?;
    let n = as_int(v);
    if n.is_none() {
        e.add(&join(parent, key), "must be an integer");
    }
    n
}

fn required_id(obj: &Map<String, Value>, key: &str, e: &mut Errors) -> Option<String> {
    match member(obj, key) {
        None => {
            e.add(key, "is required");
            None
        }
        Some(v) => text(v, key, 200, false, e),
    }
}

fn one_of<T: Copy>(v: &Value, path: &str, table: &[(T, &'static str)], e: &mut Errors) -> Option<T> {
    let found = v
        .as_str()
        .and_then(|s| table.iter().find(|(_, n)| *n == s))
        .map(|(t, _)| *t);
    if found.is_none() {
        let names: Vec<&str> = table.iter().map(|(_, n)| *n).collect();
        e.add(path, format!("must be one of {}", names.join(", ")));
    }
    found
}

fn design_value(v: &Value, path: &str, ctx: &ParseContext<'_>, e: &mut Errors) -> Option<DesignValue> {
    match v {
        Value::String(_) => text(v, path, MAX_TEXT_LEN, false, e).map(DesignValue::Text),
        Value::Number(_) => {
            let Some(index) = as_int(v) else {
                e.add(path, "a saved Design Value index must be an integer");
                return None;
            };
            if ctx.any_saved_index {
                return Some(DesignValue::Saved {
                    index,
                    text: format!("saved Design Value {index}"),
                    image: None,
                });
            }
            match ctx.saved_design_values.iter().find(|d| d.index == index) {
                Some(d) => Some(DesignValue::Saved {
                    index,
                    text: d.text.clone(),
                    image: d.image.clone(),
                }),
                None => {
                    e.add(
                        path,
                        format!("no saved Design Value with index {index} in this account"),
                    );
                    None
                }
            }
        }
        Value::Object(o) => {
            let text_path = join(path, "text");
            let t = match member(o, "text") {
                Some(t) => text(t, &text_path, MAX_TEXT_LEN, false, e),
                None => {
                    e.add(&text_path, "is required");
                    None
                }
            };
            let image = opt_text(o, "image", path, 200, e);
            Some(DesignValue::Object { text: t?, image })
        }
        _ => {
            e.add(
                path,
                "must be a string, an integer index of a saved Design Value, or {text, image}",
            );
            None
        }
    }
}

/// An object without `text` is the structured form with these sub-fields.
fn structured(o: &Map<String, Value>, path: &str, keys: [&str; 4], e: &mut Errors) -> [Option<String>; 4] {
    keys.map(|k| {
        if k.is_empty() {
            None
        } else {
            opt_text(o, k, path, MAX_TEXT_LEN, e)
        }
    })
}

fn camera(v: &Value, path: &str, ctx: &ParseContext<'_>, e: &mut Errors) -> Option<Camera> {
    match v {
        Value::Object(o) if !o.contains_key("text") => {
            let [framing, angle, lens, aperture] = structured(o, path, ["framing", "angle", "lens", "aperture"], e);
            Some(Camera::Structured {
                framing,
                angle,
                lens,
                aperture,
            })
        }
        _ => design_value(v, path, ctx, e).map(Camera::Descriptor),
    }
}

fn lighting(v: &Value, path: &str, ctx: &ParseContext<'_>, e: &mut Errors) -> Option<Lighting> {
    match v {
        Value::Object(o) if !o.contains_key("text") => {
            let [direction, quality, complexity, _] =
                structured(o, path, ["direction", "quality", "complexity", ""], e);
            Some(Lighting::Structured {
                direction,
                quality,
                complexity,
            })
        }
        _ => design_value(v, path, ctx, e).map(Lighting::Descriptor),
    }
}

fn custom_side(v: Option<&Value>, path: &str, e: &mut Errors) -> Option<u32> {
    let v = v?;
    let Some(n) = as_int(v) else {
        e.add(path, "must be an integer");
        return None;
    };
    if !(i64::from(MIN_CUSTOM_SIDE)..=i64::from(MAX_CUSTOM_SIDE)).contains(&n) {
        e.add(path, format!("must be between {MIN_CUSTOM_SIDE} and {MAX_CUSTOM_SIDE}"));
        return None;
    }
    if n % 8 != 0 {
        e.add(path, "must be a multiple of 8");
        return None;
    }
    u32::try_from(n).ok()
}

/// Custom `width` and `height`, both present: range, multiple of 8, the
/// account's policy, then the ratio.
fn custom_geometry(
    w: Option<&Value>,
    h: Option<&Value>,
    path: &str,
    ctx: &ParseContext<'_>,
    e: &mut Errors,
) -> Option<Geometry> {
    let wp = join(path, "width");
    let (w, h) = (custom_side(w, &wp, e), custom_side(h, &join(path, "height"), e));
    if !ctx.custom_dimensions_allowed {
        e.add(
            &wp,
            "custom width/height require the OUTPUT_CUSTOM_DIMENSIONS policy on the account",
        );
        return None;
    }
    let (w, h) = (w?, h?);
    if w > 4 * h || h > 4 * w {
        e.add(&wp, format!("width/height ratio {w}:{h} must be between 1:4 and 4:1"));
        return None;
    }
    Some(Geometry::Custom(CustomDimensions { width: w, height: h }))
}

/// `options` of one instruction: (geometry, format, options.seed).
fn output_options(
    v: Option<&Value>,
    path: &str,
    ctx: &ParseContext<'_>,
    e: &mut Errors,
) -> (Option<Geometry>, Option<Format>, Option<i64>) {
    let empty = Map::new();
    let o = match v {
        None => &empty,
        Some(Value::Object(o)) => o,
        Some(_) => {
            e.add(path, "must be an object");
            return (None, None, None);
        }
    };
    let size = member(o, "size").map_or(Some(Size::K1), |v| one_of(v, &join(path, "size"), &Size::ALL, e));
    // 1:1 when absent, as the vendor's client documents ("Output aspect
    // ratio (default: 1:1)").
    let ar = member(o, "ar").map_or(Some(AspectRatio::Square), |v| {
        one_of(v, &join(path, "ar"), &AspectRatio::ALL, e)
    });
    let format = member(o, "format").map_or(Some(Format::Jpg), |v| {
        one_of(
            v,
            &join(path, "format"),
            &[(Format::Jpg, "jpg"), (Format::Png, "png")],
            e,
        )
    });
    let seed = opt_int(o, "seed", path, e);
    let (wp, hp) = (join(path, "width"), join(path, "height"));
    let (w_raw, h_raw) = (member(o, "width"), member(o, "height"));
    let geometry = match (w_raw, h_raw) {
        (None, None) => size.zip(ar).map(|(s, a)| Geometry::Table(s, a)),
        (Some(_), None) => {
            e.add(&hp, "is required when width is set");
            None
        }
        (None, Some(_)) => {
            e.add(&wp, "is required when height is set");
            None
        }
        (Some(_), Some(_)) => custom_geometry(w_raw, h_raw, path, ctx, e),
    };
    (geometry, format, seed)
}

fn instruction(v: &Value, path: &str, ctx: &ParseContext<'_>, e: &mut Errors) -> Option<Instruction> {
    let Some(o) = v.as_object() else {
        e.add(path, "must be an object");
        return None;
    };
    let before = e.0.len();
    let dv = |key: &str, e: &mut Errors| member(o, key).and_then(|v| design_value(v, &join(path, key), ctx, e));
    let pose = dv("pose", e);
    let expression = dv("expression", e);
    let mood = dv("mood", e);
    let background = dv("background", e);
    let style = dv("style", e);
    let color_palette = dv("color_palette", e);
    let angle = dv("angle", e);
    let camera = member(o, "camera").and_then(|v| camera(v, &join(path, "camera"), ctx, e));
    let lighting = member(o, "lighting").and_then(|v| lighting(v, &join(path, "lighting"), ctx, e));
    let prompt = opt_text(o, "prompt", path, MAX_PROMPT_LEN, e);
    let seed = opt_int(o, "seed", path, e);
    let nv_path = join(path, "num_variations");
    let num_variations = match member(o, "num_variations") {
        None => Some(1),
        Some(v) => match as_int(v) {
            Some(n) if (1..=i64::from(MAX_VARIATIONS)).contains(&n) => u32::try_from(n).ok(),
            Some(_) => {
                e.add(&nv_path, format!("must be between 1 and {MAX_VARIATIONS}"));
                None
            }
            None => {
                e.add(&nv_path, "must be an integer");
                None
            }
        },
    };
    let preset_name = opt_text(o, "preset_name", path, MAX_TEXT_LEN, e);
    let cat_path = join(path, "category_names");
    let category_names = match member(o, "category_names") {
        None => Vec::new(),
        Some(Value::Array(items)) if items.len() <= MAX_CATEGORIES => items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| text(v, &format!("{cat_path}[{i}]"), MAX_TEXT_LEN, true, e))
            .collect(),
        Some(Value::Array(_)) => {
            e.add(&cat_path, format!("must have at most {MAX_CATEGORIES} items"));
            Vec::new()
        }
        Some(_) => {
            e.add(&cat_path, "must be an array of strings");
            Vec::new()
        }
    };
    let (geometry, format, options_seed) = output_options(member(o, "options"), &join(path, "options"), ctx, e);
    if e.0.len() > before {
        return None;
    }
    Some(Instruction {
        pose,
        expression,
        mood,
        background,
        style,
        color_palette,
        angle,
        camera,
        lighting,
        prompt,
        seed: seed.or(options_seed),
        num_variations: num_variations?,
        preset_name,
        category_names,
        geometry: geometry?,
        format: format?,
    })
}

fn images(v: Option<&Value>, e: &mut Errors) -> Vec<ImageRef> {
    let Some(v) = v else {
        e.add("images", "is required");
        return Vec::new();
    };
    let Some(items) = v.as_array() else {
        e.add("images", "must be an array of file IDs or {file_id, note} objects");
        return Vec::new();
    };
    if items.is_empty() || items.len() > MAX_IMAGES {
        e.add("images", format!("must have 1 to {MAX_IMAGES} items"));
        return Vec::new();
    }
    let mut out: Vec<ImageRef> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("images[{i}]");
        let parsed = match item {
            Value::String(_) => text(item, &path, 200, false, e).map(|id| ImageRef {
                file_id: FileId::from_client(&id),
                note: None,
            }),
            Value::Object(o) => {
                let id = match member(o, "file_id") {
                    Some(v) => text(v, &join(&path, "file_id"), 200, false, e),
                    None => {
                        e.add(&join(&path, "file_id"), "is required");
                        None
                    }
                };
                let note = opt_text(o, "note", &path, MAX_TEXT_LEN, e).filter(|n| !n.trim().is_empty());
                id.map(|id| ImageRef {
                    file_id: FileId::from_client(&id),
                    note,
                })
            }
            _ => {
                e.add(&path, "must be a file ID string or an object {file_id, note}");
                None
            }
        };
        if let Some(img) = parsed {
            if let Some(first) = out.iter().position(|o| o.file_id == img.file_id) {
                e.add(&path, format!("duplicate file ID (also images[{first}])"));
            } else {
                out.push(img);
            }
        }
    }
    out
}

/// The request's top-level `options`. `top_level_legacy` is
/// `use_alternative_method` given beside `options` rather than inside: older
/// clients send it there, and it means the same.
fn generation_options(
    v: Option<&Value>,
    top_level_legacy: Option<bool>,
    instruction_count: usize,
    e: &mut Errors,
) -> Option<GenerationOptions> {
    let empty = Map::new();
    let o = match v {
        None => &empty,
        Some(Value::Object(o)) => o,
        Some(_) => {
            e.add("options", "must be an object");
            return None;
        }
    };
    let table = [
        (ModelChoice::Auto, "auto"),
        (ModelChoice::NanoBananaPro, "nano_banana_pro"),
        (ModelChoice::Seedream, "seedream"),
    ];
    let explicit = member(o, "model").map(|v| one_of(v, "options.model", &table, e));
    let inner_legacy = opt_bool(o, "use_alternative_method", "options", e);
    // Set in either place: each place that says true is named in a conflict.
    let legacy_fields: Vec<&str> = [
        (inner_legacy, "options.use_alternative_method"),
        (top_level_legacy, "use_alternative_method"),
    ]
    .into_iter()
    .filter(|(set, _)| *set == Some(true))
    .map(|(_, field)| field)
    .collect();
    let legacy = !legacy_fields.is_empty();
    let model = match (explicit, legacy) {
        (Some(None), _) => None,
        (None, false) => Some(ModelChoice::Auto),
        (Some(Some(m)), false) => Some(m),
        (None | Some(Some(ModelChoice::Auto | ModelChoice::Seedream)), true) => Some(ModelChoice::Seedream),
        (Some(Some(m)), true) => {
            for field in legacy_fields {
                e.add(
                    field,
                    format!(
                        "means model \"seedream\" and conflicts with options.model \"{}\"",
                        m.name()
                    ),
                );
            }
            None
        }
    };
    let use_anchor = opt_bool(o, "use_anchor", "options", e).unwrap_or(true);
    let anchor_index = match opt_int(o, "anchor_index", "options", e) {
        None => Some(AnchorIndex(0)),
        Some(n) if n >= 0 && (n as u64) < instruction_count as u64 => Some(AnchorIndex(n as usize)),
        Some(_) if instruction_count == 0 => None,
        Some(_) => {
            e.add(
                "options.anchor_index",
                format!("must satisfy 0 <= anchor_index < {instruction_count} (the number of instructions)"),
            );
            None
        }
    };
    let add_ai_watermark = opt_bool(o, "add_ai_watermark", "options", e).unwrap_or(false);
    Some(GenerationOptions {
        model: model?,
        use_anchor,
        anchor_index: anchor_index?,
        add_ai_watermark,
        legacy_alternative_method: legacy,
    })
}

/// Parses a `POST /flat-2-model` body. Unknown fields are ignored (the
/// vendor's clients send extras); every broken rule comes back, each with
/// its field path.
pub fn parse(body: &Value, ctx: &ParseContext<'_>) -> Result<JobRequest, Vec<FieldError>> {
    let mut e = Errors(Vec::new());
    let Some(o) = body.as_object() else {
        return Err(vec![FieldError {
            field: None,
            message: "the body must be a JSON object".into(),
            position: Position::Body,
        }]);
    };
    let identity_code = required_id(o, "identity_code", &mut e);
    let project_id = required_id(o, "project_id", &mut e);
    let images = images(member(o, "images"), &mut e);
    let mut instructions = Vec::new();
    let mut instruction_count = 0;
    match member(o, "instructions") {
        None => e.add("instructions", "is required"),
        Some(Value::Array(items)) if items.is_empty() || items.len() > MAX_INSTRUCTIONS => {
            e.add("instructions", format!("must have 1 to {MAX_INSTRUCTIONS} items"))
        }
        Some(Value::Array(items)) => {
            instruction_count = items.len();
            for (i, item) in items.iter().enumerate() {
                if let Some(ins) = instruction(item, &format!("instructions[{i}]"), ctx, &mut e) {
                    instructions.push(ins);
                }
            }
        }
        Some(_) => e.add("instructions", "must be an array of instruction objects"),
    }
    let top_level_legacy = opt_bool(o, "use_alternative_method", "", &mut e);
    let options = generation_options(member(o, "options"), top_level_legacy, instruction_count, &mut e);
    let post_process = opt_bool(o, "post_process", "", &mut e).unwrap_or(false);
    let review_config = member(o, "review_config").cloned();
    match (identity_code, project_id, options) {
        (Some(identity_code), Some(project_id), Some(options)) if e.0.is_empty() => Ok(JobRequest {
            identity_code: IdentityCode::from_client(&identity_code),
            project_id: ProjectId::from_client(&project_id),
            images,
            instructions,
            options,
            post_process,
            review_config,
        }),
        _ => Err(e.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(custom: bool) -> ParseContext<'static> {
        ParseContext {
            custom_dimensions_allowed: custom,
            saved_design_values: &[],
            any_saved_index: false,
        }
    }

    fn base(instructions: Value) -> Value {
        json!({"identity_code": "id_1", "project_id": "p", "images": ["sku_1"], "instructions": instructions})
    }

    #[test]
    fn the_size_table_keeps_the_long_side_and_multiples_of_8() {
        assert_eq!(table_dimensions(Size::K2, AspectRatio::R9x16), (1152, 2048));
        assert_eq!(table_dimensions(Size::K2, AspectRatio::R3x4), (1536, 2048));
        assert_eq!(table_dimensions(Size::K1, AspectRatio::R16x9), (1024, 576));
        assert_eq!(table_dimensions(Size::K4, AspectRatio::Square), (4096, 4096));
        for (s, _) in Size::ALL {
            for (ar, _) in AspectRatio::ALL {
                let (w, h) = table_dimensions(s, ar);
                assert_eq!((w % 8, h % 8), (0, 0));
                assert_eq!(w.max(h), s.long_side());
            }
        }
    }

    #[test]
    fn defaults_apply_and_instruction_seed_wins() {
        let req = parse(
            &base(json!([{"seed": 3, "options": {"seed": 9}}, {"options": {"seed": 9}}])),
            &ctx(false),
        )
        .expect("valid");
        assert_eq!(req.instructions[0].seed, Some(3));
        assert_eq!(req.instructions[1].seed, Some(9));
        assert_eq!(
            req.instructions[0].geometry,
            Geometry::Table(Size::K1, AspectRatio::Square)
        );
        assert_eq!(req.instructions[0].format, Format::Jpg);
        assert_eq!(req.options.model, ModelChoice::Auto);
        assert!(req.options.use_anchor);
        assert_eq!(req.total_outputs(), 2);
    }

    #[test]
    fn the_legacy_flag_counts_at_the_top_level_too() {
        let mut body = base(json!([{}]));
        body["use_alternative_method"] = json!(true);
        let req = parse(&body, &ctx(false)).expect("valid");
        assert_eq!(req.options.model, ModelChoice::Seedream);
        assert!(req.options.legacy_alternative_method);

        body["options"] = json!({"model": "nano_banana_pro", "use_alternative_method": true});
        let fields: Vec<Option<String>> = parse(&body, &ctx(false))
            .expect_err("conflict")
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                Some("options.use_alternative_method".to_owned()),
                Some("use_alternative_method".to_owned())
            ]
        );
    }

    #[test]
    fn nulls_count_as_absent() {
        let mut body = base(json!([{"pose": null, "num_variations": null, "options": null}]));
        body["options"] = json!({"model": null, "anchor_index": null});
        body["post_process"] = Value::Null;
        let req = parse(&body, &ctx(false)).expect("valid");
        assert_eq!(req.instructions[0].num_variations, 1);
    }

    #[test]
    fn the_ratio_bounds_are_inclusive() {
        let ok =
            parse(&base(json!([{"options": {"width": 2048, "height": 512}}])), &ctx(true)).expect("4:1 is allowed");
        assert_eq!(ok.instructions[0].geometry.pixels(), (2048, 512));
        assert!(parse(&base(json!([{"options": {"width": 2056, "height": 512}}])), &ctx(true)).is_err());
    }

    #[test]
    fn a_non_object_body_is_refused() {
        let e = parse(&json!([1]), &ctx(false)).expect_err("array");
        assert_eq!(e[0].field, None);
    }
}
