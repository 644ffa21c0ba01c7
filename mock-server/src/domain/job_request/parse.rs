//! The walker over a `POST /flat-2-model` body. The vendor accepts mixed
//! shapes (a string, an index or an object for one field), and every broken
//! rule must come back at once, each with its path: so the body is walked
//! as a `serde_json::Value`, not deserialised.

use serde_json::{Map, Value};

use super::{
    AnchorIndex, AspectRatio, Camera, CustomDimensions, DesignValue, Format, GenerationOptions, Geometry, ImageRef,
    Instruction, JobRequest, Lighting, MAX_CATEGORIES, MAX_IMAGES, MAX_INSTRUCTIONS, MAX_PROMPT_LEN, MAX_TEXT_LEN,
    ModelChoice, NumVariations, ParseContext, Size,
};
use crate::domain::ids::{FileId, IdentityCode, ProjectId};
use crate::domain::rule::{Violation, join_path};
use crate::domain::text::TextRule;

/// Collects every broken rule.
struct Errors(Vec<Violation>);

impl Errors {
    fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(Violation::new(field, message));
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
    let rule = TextRule {
        max,
        empty: allow_empty,
        lines: true,
    };
    match rule.check(s) {
        Ok(()) => Some(s.to_owned()),
        Err(broken) => {
            e.add(path, broken.message());
            None
        }
    }
}

fn opt_text(obj: &Map<String, Value>, key: &str, parent: &str, max: usize, e: &mut Errors) -> Option<String> {
    member(obj, key).and_then(|v| text(v, &join_path(parent, key), max, true, e))
}

fn opt_bool(obj: &Map<String, Value>, key: &str, parent: &str, e: &mut Errors) -> Option<bool> {
    let v = member(obj, key)?;
    let b = v.as_bool();
    if b.is_none() {
        e.add(&join_path(parent, key), "must be a boolean");
    }
    b
}

fn opt_int(obj: &Map<String, Value>, key: &str, parent: &str, e: &mut Errors) -> Option<i64> {
    let v = member(obj, key)?;
    let n = as_int(v);
    if n.is_none() {
        e.add(&join_path(parent, key), "must be an integer");
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
            let text_path = join_path(path, "text");
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
    CustomDimensions::side(n).map_err(|rule| e.add(path, rule)).ok()
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
    let wp = join_path(path, "width");
    let (w, h) = (custom_side(w, &wp, e), custom_side(h, &join_path(path, "height"), e));
    if !ctx.custom_dimensions_allowed {
        e.add(
            &wp,
            "custom width/height require the OUTPUT_CUSTOM_DIMENSIONS policy on the account",
        );
        return None;
    }
    CustomDimensions::new(w?, h?)
        .map(Geometry::Custom)
        .map_err(|rule| e.add(&wp, rule))
        .ok()
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
    let size = member(o, "size").map_or(Some(Size::K1), |v| one_of(v, &join_path(path, "size"), &Size::ALL, e));
    // 1:1 when absent, as the vendor's client documents ("Output aspect
    // ratio (default: 1:1)").
    let ar = member(o, "ar").map_or(Some(AspectRatio::Square), |v| {
        one_of(v, &join_path(path, "ar"), &AspectRatio::ALL, e)
    });
    let format = member(o, "format").map_or(Some(Format::Jpg), |v| {
        one_of(
            v,
            &join_path(path, "format"),
            &[(Format::Jpg, "jpg"), (Format::Png, "png")],
            e,
        )
    });
    let seed = opt_int(o, "seed", path, e);
    let (wp, hp) = (join_path(path, "width"), join_path(path, "height"));
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
    let dv = |key: &str, e: &mut Errors| member(o, key).and_then(|v| design_value(v, &join_path(path, key), ctx, e));
    let pose = dv("pose", e);
    let expression = dv("expression", e);
    let mood = dv("mood", e);
    let background = dv("background", e);
    let style = dv("style", e);
    let color_palette = dv("color_palette", e);
    let angle = dv("angle", e);
    let camera = member(o, "camera").and_then(|v| camera(v, &join_path(path, "camera"), ctx, e));
    let lighting = member(o, "lighting").and_then(|v| lighting(v, &join_path(path, "lighting"), ctx, e));
    let prompt = opt_text(o, "prompt", path, MAX_PROMPT_LEN, e);
    let seed = opt_int(o, "seed", path, e);
    let nv_path = join_path(path, "num_variations");
    let num_variations = match member(o, "num_variations") {
        None => Some(NumVariations::ONE),
        Some(v) => match as_int(v).map(NumVariations::new) {
            Some(Ok(n)) => Some(n),
            Some(Err(rule)) => {
                e.add(&nv_path, rule);
                None
            }
            None => {
                e.add(&nv_path, "must be an integer");
                None
            }
        },
    };
    let preset_name = opt_text(o, "preset_name", path, MAX_TEXT_LEN, e);
    let cat_path = join_path(path, "category_names");
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
    let (geometry, format, options_seed) = output_options(member(o, "options"), &join_path(path, "options"), ctx, e);
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
                    Some(v) => text(v, &join_path(&path, "file_id"), 200, false, e),
                    None => {
                        e.add(&join_path(&path, "file_id"), "is required");
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
        None => Some(AnchorIndex::FIRST),
        Some(n) => {
            let index = AnchorIndex::new(n, instruction_count);
            // Without instructions, their absence is the error reported.
            if index.is_none() && instruction_count > 0 {
                e.add(
                    "options.anchor_index",
                    format!("must satisfy 0 <= anchor_index < {instruction_count} (the number of instructions)"),
                );
            }
            index
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
pub fn parse(body: &Value, ctx: &ParseContext<'_>) -> Result<JobRequest, Vec<Violation>> {
    let mut e = Errors(Vec::new());
    let Some(o) = body.as_object() else {
        return Err(vec![Violation::general("the body must be a JSON object")]);
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
        assert_eq!(req.instructions[0].num_variations, NumVariations::ONE);
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
